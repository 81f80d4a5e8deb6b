import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lwc import semantics
from lwc.compiler import golden, ir, netfile
from lwc.errors import NetFileError, UsageError


@pytest.fixture
def net(make_network, rng):
    return make_network(rng, inputs=10, hidden=(6, 5), outputs=3, bits=3,
                        quantizer=ir.AffineQuantizer((0.5,), (0.25,)))


def write(path, data):
    torch.save(data, path)
    return path


def test_round_trip_is_exact(net, tmp_path, rng):
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    back = netfile.load(path)
    assert back == net
    x = rng.integers(0, 8, size=(50, 10))
    assert (golden.evaluate(back, x).scores == golden.evaluate(net, x).scores).all()


def test_round_trip_threshold_quantizer(make_network, rng, tmp_path):
    q = ir.ThresholdQuantizer(((0.1, 0.5, 0.9),))
    net = make_network(rng, inputs=4, hidden=(3,), bits=2, quantizer=q)
    netfile.save(net, tmp_path / "n.pt")
    assert netfile.load(tmp_path / "n.pt").input.quantizer == q


def test_zero_scale_round_trips_as_a_constant_input(make_network, rng, tmp_path):
    """A column constant on the training split gets scale +0.0: the file keeps it, and the feature
    becomes the constant clamp(floor(offset)) whatever its value (NaN and infinities too)."""
    q = ir.AffineQuantizer((0.5, 0.0, 0.0, 1.0), (0.25, 0.0, 2.5, 0.0))
    net = make_network(rng, inputs=4, hidden=(3,), bits=2, quantizer=q)
    netfile.save(net, tmp_path / "n.pt")
    back = netfile.load(tmp_path / "n.pt")
    assert back.input.quantizer == q
    x = np.array([[1.0, np.nan, np.inf, 2.0], [1.0, -np.inf, -7.0, 2.0]])
    assert golden.quantize(back.input, x).tolist() == [[0, 0, 2, 2], [0, 0, 2, 2]]


@pytest.mark.parametrize("scale,shown", [((1.0, -0.5), "scale[1] is -0.5"),
                                         ((-0.0,), "scale[0] is -0.0")])
def test_negative_scales_are_refused_at_load_and_save(net, tmp_path, scale, shown):
    message = f"input quantizer {shown}; an affine scale must be positive, or +0.0 for a constant"
    data = netfile.to_dict(net)
    data["input"]["count"] = 2
    data["input"]["quantizer"]["scale"] = torch.tensor(scale, dtype=torch.float64)
    data["layers"][0]["weight"] = data["layers"][0]["weight"][:, :2].clone()
    path = write(tmp_path / "neg.pt", data)
    with pytest.raises(NetFileError) as err:
        netfile.load(path)
    assert str(err.value).startswith(f"{path}: {message}")
    wide = scale if len(scale) == 1 else scale + (1.0,) * (10 - len(scale))
    bad = dataclasses.replace(net, input=ir.InputSpec(10, 3, ir.AffineQuantizer(wide, (0.0,))))
    with pytest.raises(UsageError) as err:
        netfile.save(bad, tmp_path / "n.pt")
    assert str(err.value).startswith(f"net.pt cannot hold {message}")
    assert not (tmp_path / "n.pt").exists()


def test_save_refuses_a_quantizer_fitted_to_overflowing_features(net, tmp_path):
    """A CSV column near 1e200 has an infinite standard deviation: its fitted offset is NaN."""
    bad = dataclasses.replace(net, input=ir.InputSpec(
        10, 3, ir.AffineQuantizer((0.5,) * 10, (0.0,) * 7 + (float("nan"), 0.0, 0.0))))
    with pytest.raises(UsageError, match=r"^net.pt cannot hold input quantizer offset\[7\] is "
                                         r"nan, not a finite number$"):
        netfile.save(bad, tmp_path / "n.pt")
    assert list(tmp_path.iterdir()) == []


def test_save_after_passes_keeps_function(make_network, rng, tmp_path):
    from lwc.compiler import passes

    net = make_network(rng, inputs=16, hidden=(8,), density=0.1)
    compiled = passes.run(net)
    netfile.save(compiled, tmp_path / "n.pt")
    back = netfile.load(tmp_path / "n.pt")
    x = rng.integers(0, 16, size=(100, 16))
    assert (golden.evaluate(back, x).scores == golden.evaluate(net, x).scores).all()


def test_save_is_atomic(net, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        netfile.save(net, tmp_path / "net.pt")
    assert list(tmp_path.iterdir()) == []


def corrupt(net, tmp_path, mutate):
    data = netfile.to_dict(net)
    mutate(data)
    return write(tmp_path / "bad.pt", data)


BAD = {
    "wrong version": (lambda d: d.update(version=3),
                      "unsupported format version 3 (this lwc reads versions 1, 2)"),
    "wrong format": (lambda d: d.update(format="other"), "not a net.pt file (format is 'other'"),
    "weight value 2 in version 1": (
        lambda d: (d.update(version=1), d["layers"][0]["weight"].__setitem__((0, 0), 2)),
        "layer 0 weight[0, 0] is 2, not in {-1, 0, +1} (format version 1)",
    ),
    "weight value -128": (
        lambda d: d["layers"][1]["weight"].__setitem__((1, 2), -128),
        "layer 1 weight[1, 2] is -128, not in -127..+127",
    ),
    "weight dtype": (
        lambda d: d["layers"][1].update(weight=d["layers"][1]["weight"].float()),
        "layer 1 weight must be int8, not float32",
    ),
    "nan scale": (
        lambda d: d["input"]["quantizer"]["scale"].fill_(float("nan")),
        "scale holds NaN or infinite values",
    ),
    "shapes do not chain": (
        lambda d: d["layers"][1].update(weight=torch.zeros(5, 7, dtype=torch.int8)),
        "layer 1 weight has 7 inputs but the previous layer gives 6 (shapes do not chain)",
    ),
    "float threshold": (
        lambda d: d["layers"][0]["activation"].update(
            **{k: v.double() for k, v in d["layers"][0]["activation"].items()
               if isinstance(v, torch.Tensor)}),
        "must be an integer tensor, not float64",
    ),
    "no layers": (lambda d: d.update(layers=[]), "network has no layers"),
    "hidden linear": (
        lambda d: d["layers"][0].update(activation={"kind": "linear", "bias": torch.zeros(6,
                                                    dtype=torch.int64)}),
        "layer 0 (hidden layer) activation must be one of step, ternary, clip, not 'linear'",
    ),
    "class count": (lambda d: d["output"].update(classes=["a"]),
                    "output classes must be 3 strings"),
    "absurd input count": (lambda d: d["input"].update(count=10**9),
                           f"input count must be 1..{netfile.LIMITS['inputs']}, not 1000000000"),
    "missing input": (lambda d: d.pop("input"), "file has no 'input'"),
    "bits zero": (lambda d: d["input"].update(bits=0), "input bits must be 1..16, not 0"),
    "top level list": (None, "not a net.pt file (top level is list, not dict)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_give_one_line_naming_file(case, net, tmp_path):
    mutate, message = BAD[case]
    path = (write(tmp_path / "bad.pt", [1, 2]) if mutate is None
            else corrupt(net, tmp_path, mutate))
    with pytest.raises(NetFileError) as info:
        netfile.load(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text


def test_missing_empty_directory_and_garbage(tmp_path):
    cases = {
        tmp_path / "missing.pt": "no such file",
        tmp_path: "is a directory",
    }
    (tmp_path / "empty.pt").write_bytes(b"")
    cases[tmp_path / "empty.pt"] = "empty file"
    (tmp_path / "text.pt").write_text("hello")
    cases[tmp_path / "text.pt"] = "not a net.pt file (not a torch.save archive)"
    for path, message in cases.items():
        with pytest.raises(NetFileError, match=re.escape(message)):
            netfile.load(path)


def test_truncated_archive(net, tmp_path):
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(NetFileError) as info:
        netfile.load(path)
    assert str(info.value).startswith(f"{path}: ")


class Evil:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (open, (self.canary, "w"))


def test_pickled_code_is_refused_and_never_runs(net, tmp_path):
    canary = tmp_path / "canary"
    data = netfile.to_dict(net)
    data["provenance"]["evil"] = Evil(str(canary))
    path = write(tmp_path / "evil.pt", data)
    with pytest.raises(NetFileError, match="refused: it holds pickled Python objects"):
        netfile.load(path)
    assert not canary.exists()


def test_ternary_lo_must_be_below_hi(make_network, rng, tmp_path):
    net = make_network(rng, kinds=("ternary",))
    data = netfile.to_dict(net)
    act = data["layers"][0]["activation"]
    act["hi"] = act["lo"].clone()
    path = write(tmp_path / "t.pt", data)
    with pytest.raises(NetFileError, match="ternary lo must be below hi"):
        netfile.load(path)


def test_dense_weights_match_file(net):
    data = netfile.to_dict(net)
    for li in range(len(net.layers)):
        assert np.array_equal(data["layers"][li]["weight"].numpy(),
                              ir.dense_weights(net, li, full_inputs=True))


def test_provenance_must_be_plain_types(net, tmp_path):
    class Version(str):
        pass

    with pytest.raises(ValueError, match="provenance 'v' must be str, int, float, bool or None"):
        netfile.save(net.with_meta(v=Version("2.13")), tmp_path / "n.pt")
    assert not (tmp_path / "n.pt").exists()


def integer_weight_net(rng):
    """A net with weights of every magnitude a file can hold (up to 127)."""
    w0 = rng.choice([-127, -3, -2, -1, 0, 0, 1, 2, 5, 127], size=(6, 10))
    w1 = rng.choice([-4, -1, 0, 1, 3], size=(3, 6))
    return ir.from_dense(ir.InputSpec(10, 2), [
        (w0, ir.Activation("step"), rng.integers(-20, 20, 6)),
        (w1, ir.Activation("linear"), rng.integers(-3, 4, 3)),
    ], ["a", "b", "c"], {"method": "sample"})


def test_integer_weights_round_trip(rng, tmp_path):
    net = integer_weight_net(rng)
    ir.verify(net)
    netfile.save(net, tmp_path / "n.pt")
    assert netfile.to_dict(net)["version"] == netfile.VERSION == 2
    back = netfile.load(tmp_path / "n.pt")
    assert back == net
    assert max(abs(w) for n in back.layers[0].neurons for w in n.weights) == 127
    x = rng.integers(0, 4, size=(50, 10))
    assert (golden.evaluate(back, x).scores == golden.evaluate(net, x).scores).all()


def test_version_1_files_still_load(net, tmp_path):
    """A file as lwc wrote it before integer weights: the same layout, version 1."""
    data = netfile.to_dict(net)
    data["version"] = 1
    path = write(tmp_path / "v1.pt", data)
    assert netfile.load(path) == net


def test_save_refuses_weights_beyond_127(net, tmp_path):
    layer = net.layers[0]
    neuron = layer.neurons[0]
    big = neuron.__class__(inputs=(0,), weights=(128,), params=neuron.params, origin=0)
    bad = net.__class__(net.input, (layer.__class__(layer.activation, (big,) + layer.neurons[1:]),
                                    *net.layers[1:]), net.classes, net.input_map)
    with pytest.raises(ValueError, match=r"weights in -127..\+127, not 128 \(layer 0\)"):
        netfile.save(bad, tmp_path / "n.pt")
    assert not (tmp_path / "n.pt").exists()


# --- the format document and the string rules ------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "netfile.md"


def doc_limits():
    """The limits table of docs/netfile.md: ``{name: value}``."""
    text = DOC.read_text()
    table = text[text.index("<!-- limits:"):]
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \|", table, re.M)
    return {name: int(value) for name, value in rows}


def test_the_format_doc_lists_exactly_the_limits_of_the_code():
    assert doc_limits() == netfile.LIMITS


def test_the_format_doc_states_the_forbidden_characters_of_the_code():
    text = DOC.read_text()
    assert f"`[{netfile.FORBIDDEN_CHARACTERS}]`" in text.split("<!-- forbidden -->")[1]


def test_the_format_doc_names_every_key_the_reader_reads(net):
    text = DOC.read_text()
    data = netfile.to_dict(net)
    keys = set(data) | set(data["input"]) | set(data["output"]) | {"kind", "scale", "offset",
                                                                    "thresholds", "weight",
                                                                    "activation"}
    keys |= {name for params in ir.ACTIVATION_KINDS.values() for name in params}
    keys |= set(semantics.SETTINGS)
    assert not {k for k in keys if f'"{k}"' not in text and f"`{k}`" not in text}


@pytest.mark.parametrize("classes,provenance,message", [
    (("a", "b\x1b[0m", "c"), {}, r"output class 1: it holds the control character '\\x1b'"),
    (("a", "b", "c" * 257), {}, "output class 2: it is a string of 257 characters, more than 256"),
    (("a", "b", "c"), {"note": "x\ny"}, r"provenance 'note': it holds the control character"),
    (("a", "b", "c"), {"k\u202e": 1}, r"provenance key 'k\\u202e': it holds the control"),
    (("a", "b", "c"), {"path": "p" * 4097}, "provenance 'path': it is a string of 4097"),
    (("a", "b", "c"), {f"k{i}": i for i in range(257)}, "257 provenance entries, more than 256"),
])
def test_save_refuses_what_load_would_refuse(net, tmp_path, classes, provenance, message):
    bad = dataclasses.replace(net, classes=classes, provenance=tuple(provenance.items()))
    with pytest.raises(UsageError, match=message):
        netfile.save(bad, tmp_path / "n.pt")
    assert list(tmp_path.iterdir()) == []


def test_printable_unicode_names_and_long_paths_load(net, tmp_path):
    """Spaces, accents, CJK, emoji with joiners, and a path of the longest allowed length."""
    named = dataclasses.replace(
        net, classes=("Iris setosa", "café ☕", "猫 👩‍💻"),
        provenance=(("csv", "/" + "d" * (netfile.LIMITS["string"] - 1)), ("note", "ok")))
    netfile.save(named, tmp_path / "n.pt")
    assert netfile.load(tmp_path / "n.pt") == named


def test_the_pickle_bound_leaves_room_for_many_classes(make_network, rng, tmp_path):
    """A last layer of 4096 neurons with class names of the longest allowed length loads: the
    object and pickle bounds are far above what a valid net needs."""
    n = 4096
    net = make_network(rng, inputs=8, hidden=(4,), outputs=n, bits=2, density=0.5)
    names = tuple(f"{k:0{netfile.LIMITS['class_name']}d}" for k in range(n))
    net = dataclasses.replace(net, classes=names)
    netfile.save(net, tmp_path / "n.pt")
    assert netfile.load(tmp_path / "n.pt").classes == names


def test_a_reader_written_from_the_doc_alone_reads_a_saved_net(make_network, rng, tmp_path):
    """docs/netfile.md is enough to read a net.pt without torch: a zip of stored records, a
    protocol-2 pickle whose tensors are _rebuild_tensor_v2 of persistent storages, little-endian
    data records. This reader follows the doc and nothing else, and finds the net's numbers."""
    import collections
    import io
    import pickle
    import zipfile

    types = {"DoubleStorage": "<f8", "FloatStorage": "<f4", "LongStorage": "<i8",
             "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1"}
    q = ir.AffineQuantizer(tuple(float(v) for v in rng.uniform(0, 3, 5)) + (0.0,),
                           tuple(float(v) for v in rng.uniform(-2, 2, 6)))
    net = make_network(rng, inputs=6, hidden=(4, 3), outputs=2, bits=3, quantizer=q,
                       kinds=("clip", "ternary"))
    netfile.save(net, tmp_path / "net.pt")
    with zipfile.ZipFile(tmp_path / "net.pt") as z:
        infos = z.infolist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        (pkl,) = [i.filename for i in infos if i.filename.endswith("/data.pkl")]
        folder = pkl.split("/")[0]
        assert z.read(f"{folder}/byteorder") == b"little"

        def rebuild(storage, offset, size, stride, requires_grad, hooks):
            assert requires_grad is False and hooks == collections.OrderedDict()
            item = storage.itemsize
            return np.lib.stride_tricks.as_strided(
                storage[offset:], shape=size, strides=[s * item for s in stride]).copy()

        class Reader(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                    return rebuild
                if (module, name) == ("collections", "OrderedDict"):
                    return collections.OrderedDict
                assert module == "torch" and name in types, (module, name)
                return name

            def persistent_load(self, pid):
                tag, kind, key, device, numel = pid
                assert tag == "storage" and device == "cpu"
                data = np.frombuffer(z.read(f"{folder}/data/{key}"), dtype=types[kind])
                return data[:numel]

        blob = z.read(pkl)
        assert blob[:2] == b"\x80\x02"  # protocol 2
        data = Reader(io.BytesIO(blob)).load()
    assert data["format"] == "lwc-net" and data["version"] == 2
    assert data["input"] == {"count": 6, "bits": 3, "quantizer": {
        "kind": "affine", "scale": pytest.approx(np.array(q.scale)),
        "offset": pytest.approx(np.array(q.offset))}}
    assert data["input"]["quantizer"]["scale"].dtype == np.float64
    assert tuple(data["input"]["quantizer"]["scale"]) == q.scale  # exact, not approximately
    for li, layer in enumerate(data["layers"]):
        assert layer["weight"].dtype == np.int8
        assert np.array_equal(layer["weight"], ir.dense_weights(net, li, full_inputs=True))
        act = net.layers[li].activation
        assert layer["activation"]["kind"] == act.kind
        for k, name in enumerate(ir.ACTIVATION_KINDS[act.kind]):
            assert layer["activation"][name].tolist() == [n.params[k] for n in
                                                          net.layers[li].neurons]
        if act.kind == "clip":
            assert (layer["activation"]["shift"], layer["activation"]["bits"]) == (act.shift,
                                                                                   act.bits)
    assert data["output"] == {"classes": list(net.classes)}


def test_save_writes_only_what_load_reads_back(net, tmp_path, monkeypatch):
    """Every writer of net.pt (training, export, benchmarks) goes through save, which reads its
    dictionary back first: a net the reader refuses is never written."""
    def refuse(data, path="<memory>"):
        raise NetFileError(path, "layer 0 holds something the reader refuses")

    monkeypatch.setattr(netfile, "from_dict", refuse)
    with pytest.raises(NetFileError, match="the reader refuses"):
        netfile.save(net, tmp_path / "net.pt")
    assert list(tmp_path.iterdir()) == []
