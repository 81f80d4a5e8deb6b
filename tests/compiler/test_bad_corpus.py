"""Every file of the hostile and malformed ``net.pt`` corpus is refused with one line naming it."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from lwc.compiler import golden, ir, netfile
from lwc.errors import NetFileError

from helpers import corpus_module

CORPUS_SCRIPT = corpus_module().__file__
CASES = sorted(corpus_module().CASES)


def test_corpus_size(corpus):
    assert len(corpus) >= 30
    assert sum(name.startswith("evil_") for name in corpus) >= 4


@pytest.mark.parametrize("name", CASES)
def test_refused_with_one_line(corpus, name):
    bad = corpus[name]
    with pytest.raises(NetFileError) as info:
        netfile.load(bad.path)
    text = str(info.value)
    assert text.startswith(f"{bad.path}: ")
    assert "\n" not in text and len(text) < len(str(bad.path)) + 200, text
    assert bad.expect in text, text
    assert info.value.path == str(bad.path)
    if bad.canary is not None:
        assert not bad.canary.exists(), "the pickle ran code"


@pytest.mark.subprocess
def test_the_corpus_script_writes_and_counts(tmp_path):
    out = subprocess.run([sys.executable, str(CORPUS_SCRIPT), str(tmp_path / "c")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count = len(CASES)
    lines = out.stdout.splitlines()
    assert f"{count} bad net.pt files in {tmp_path / 'c'}" in lines
    provenance = len(corpus_module().make_provenance_netfiles(tmp_path / "p"))
    assert lines[-1] == (f"{provenance} net.pt files whose provenance names a CSV lwc sim "
                         "must not read")
    names = {p.name for p in (tmp_path / "c").iterdir()} - {"provenance"}
    assert len(names) == count - 1 and "missing_file.pt" not in names
    assert not any(name.startswith("canary") for name in names)


@pytest.mark.subprocess
def test_huge_shapes_refused_before_allocating(corpus, tmp_path):
    """Tiny files describing 40 GB of weights or thresholds: peak memory hardly moves."""
    huge = [corpus[n].path for n in ("huge_view_200000x60000", "huge_view_60000x60000",
                                     "view_over_one_byte", "huge_thresholds_view",
                                     "input_count_huge")]
    assert all(path.stat().st_size < 20_000 for path in huge)
    code = textwrap.dedent("""
        import resource, sys
        from lwc.compiler import netfile
        from lwc.errors import NetFileError

        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        netfile.load(sys.argv[1])  # warm up: torch.load's own imports and buffers
        base = peak_mb()
        for path in sys.argv[2:]:
            try:
                netfile.load(path)
            except NetFileError as exc:
                print(exc.problem)
        print(peak_mb() - base)
    """)
    good = tmp_path / "good.pt"
    netfile.save(corpus_module()._valid_net(), good)
    out = subprocess.run([sys.executable, "-c", code, str(good), *map(str, huge)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *problems, growth = out.stdout.splitlines()
    assert len(problems) == len(huge)
    assert float(growth) < 64, f"peak memory grew by {growth} MB"


def test_parameter_tensors_are_read_as_data(tmp_path, make_network, rng):
    """nn.Parameter tensors (as a hand-written export might hold) load like plain tensors."""
    net = make_network(rng, inputs=8, hidden=(5,), outputs=3, bits=3,
                       quantizer=ir.AffineQuantizer((0.5,), (0.25,)))
    data = netfile.to_dict(net)
    quant = data["input"]["quantizer"]
    quant["scale"] = torch.nn.Parameter(quant["scale"])  # float: requires grad
    for layer in data["layers"]:
        layer["weight"] = torch.nn.Parameter(layer["weight"], requires_grad=False)
    torch.save(data, tmp_path / "p.pt")
    back = netfile.load(tmp_path / "p.pt")
    assert back == net
    x = rng.integers(0, 8, size=(40, 8))
    assert (golden.evaluate(back, x).scores == golden.evaluate(net, x).scores).all()


def test_limits_leave_room_for_real_nets(tmp_path, make_network, rng):
    """A net at the nonzero-weight scale of MNIST (784 inputs, 256 hidden, dense) still loads."""
    net = make_network(rng, inputs=784, hidden=(256,), outputs=10, bits=4, density=1.0,
                       kinds=("step",))
    netfile.save(net, tmp_path / "big.pt")
    back = netfile.load(tmp_path / "big.pt")
    assert back == net
    assert sum(len(n.inputs) for n in back.layers[0].neurons) > 0.6 * 784 * 256
    x = rng.integers(0, 16, size=(5, 784))
    assert (golden.predict(back, x) == golden.predict(net, x)).all()
    assert np.array_equal(ir.dense_weights(back, 0), ir.dense_weights(net, 0))


# --- the bound on the unpickled object graph -------------------------------------------------

def nested(depth):
    """A list nested so that, with its innermost string, it is ``depth`` objects deep."""
    x = "lol"
    for _ in range(depth - 1):
        x = [x]
    return x


def shared(levels, width):
    """Lists of ``width`` references to the level below; expanded, 1 + width * (size below)."""
    x, size = ["lol"], 2
    for _ in range(levels):
        x, size = [x] * width, 1 + width * size
    return x, size


def test_the_object_count_counts_every_shared_reference(tmp_path, monkeypatch):
    import pickle

    obj, size = shared(3, 5)
    blob = pickle.dumps(obj, protocol=2)
    assert len(blob) < 100 and size == 1 + 5 * (1 + 5 * (1 + 5 * 2))
    monkeypatch.setitem(netfile.LIMITS, "objects", size)
    netfile._check_pickle("p", blob)
    monkeypatch.setitem(netfile.LIMITS, "objects", size - 1)
    with pytest.raises(NetFileError, match=f"describes more than {size - 1} objects"):
        netfile._check_pickle("p", blob)


def test_the_depth_bound_is_exact():
    import pickle

    most = netfile.LIMITS["depth"]
    netfile._check_pickle("p", pickle.dumps(nested(most), protocol=2))
    with pytest.raises(NetFileError, match=f"nests objects more than {most} deep"):
        netfile._check_pickle("p", pickle.dumps(nested(most + 1), protocol=2))


def test_dict_keys_and_call_arguments_count_too(monkeypatch):
    """Unpickling hashes every key and visits every call's arguments, even of objects the
    result does not keep: they count against the bound as well as the result."""
    import pickle

    key = ("lol",) * 40
    blob = pickle.dumps({key: 1}, protocol=2)
    monkeypatch.setitem(netfile.LIMITS, "objects", 60)  # the dict alone expands to 83
    with pytest.raises(NetFileError, match="describes more than 60 objects"):
        netfile._check_pickle("p", blob)


@pytest.mark.subprocess
def test_bombs_are_small_files_refused_before_unpickling(corpus, tmp_path):
    """A few hundred bytes that expand to 10**12 objects, or nest 100,000 deep: peak memory
    hardly moves while all are refused."""
    names = [n for n in CASES if n.startswith(("laughs_", "deep_", "self_containing"))]
    paths = [corpus[n].path for n in names]
    assert all(path.stat().st_size < 500_000 for path in paths)
    assert sum(path.stat().st_size < 5_000 for path in paths) >= 5
    code = textwrap.dedent("""
        import resource, sys
        from lwc.compiler import netfile
        from lwc.errors import NetFileError

        netfile.load(sys.argv[1])
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for path in sys.argv[2:]:
            try:
                netfile.load(path)
            except NetFileError as exc:
                print(exc.problem)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base)
    """)
    good = tmp_path / "good.pt"
    netfile.save(corpus_module()._valid_net(), good)
    out = subprocess.run([sys.executable, "-c", code, str(good), *map(str, paths)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *problems, growth = out.stdout.splitlines()
    assert len(problems) == len(paths) and all(p.startswith("refused: ") for p in problems)
    assert float(growth) < 64, f"peak memory grew by {growth} MB"
