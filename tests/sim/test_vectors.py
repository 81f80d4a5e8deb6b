"""What ``lwc sim`` and ``lwc run`` read as input vectors (lwc.sim.vectors): a ``.npy`` file held to
its header and a size limit, regular files only, and a CSV net's test set only from a CSV the user
confirms (issue 16). Refusals are one line, with nothing built."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from contextlib import contextmanager

import numpy as np
import pytest

from lwc.cli import main
from lwc.compiler import golden, ir, netfile
from lwc.data import load_dataset
from lwc.errors import DataError, UsageError
from lwc.sim import vectors

from helpers import corpus_module, random_network

FEATURES = 3


def write_csv(path, n=80, seed=0):
    rng = np.random.default_rng(seed)
    rows = ["a,b,c,label"]
    for k in range(n):
        label = "yes" if k % 3 == 0 else "no"
        a, b, c = rng.normal(size=3) + (1.0 if label == "yes" else 0.0)
        rows.append(f"{a:.4f},{b:.4f},{c:.4f},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


def csv_net(folder, csv, **provenance):
    """A net "trained" on ``csv`` (its provenance is what training records), saved in
    ``folder/net.pt``; ``provenance`` overrides entries."""
    ds = load_dataset("csv", seed=3, csv_path=csv, csv_label="label")
    assert ds.x_test.shape[1] == FEATURES
    q = ir.AffineQuantizer((2.0,), (4.0,))
    net = random_network(np.random.default_rng(0), inputs=FEATURES, hidden=(4,), outputs=2,
                         bits=3, quantizer=q)
    net = net.with_meta(**{**ds.provenance(), **provenance})
    folder.mkdir(parents=True, exist_ok=True)
    netfile.save(net, folder / "net.pt")
    return netfile.load(folder / "net.pt"), folder / "net.pt"


@contextmanager
def deadline(seconds=20):
    """Fail (instead of hanging the run) if the block blocks, as a read of a FIFO would."""
    def expire(*_):
        raise TimeoutError("blocked")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def sim_refuses(argv, capsys, tmp_path, start):
    build = tmp_path / "build-refused"
    with deadline():
        assert main([*argv, "--build-dir", str(build)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"lwc: error: {start}"), lines[0]
    assert not build.exists()
    return lines[0]


HINT = "name the CSV with --csv FILE, or give --npy FILE or --vectors N instead of the test set"


# --- the CSV a net's provenance names -------------------------------------------------------------

def test_a_csv_in_the_nets_folder_with_its_hash_is_read(tmp_path):
    (tmp_path / "run").mkdir()
    csv = write_csv(tmp_path / "run" / "t.csv")
    net, path = csv_net(tmp_path / "run", csv)
    assert net.meta("csv_sha256") and net.meta("csv_path") == str(csv)
    x, y = vectors.test_set(net, net_path=path)
    ds = load_dataset("csv", seed=3, csv_path=csv, csv_label="label")
    assert np.array_equal(x, golden.quantize(net.input, ds.x_test)) and np.array_equal(y, ds.y_test)
    # a relative provenance path is taken from the net's folder, not the working directory
    net, path = csv_net(tmp_path / "run", csv, csv_path="t.csv")
    assert np.array_equal(vectors.test_set(net, net_path=path)[0], x)


def test_an_explicit_csv_is_read_wherever_it_is(tmp_path):
    (tmp_path / "data").mkdir()
    csv = write_csv(tmp_path / "data" / "t.csv")
    net, path = csv_net(tmp_path / "run", csv)
    with pytest.raises(DataError, match="lies outside the net's folder"):
        vectors.test_set(net, net_path=path)
    x, _ = vectors.test_set(net, csv=csv, net_path=path)
    assert x.shape[1] == FEATURES and len(x) > 0
    csv.write_text(csv.read_text().replace("yes", "YES", 1))
    with pytest.raises(DataError) as err:
        vectors.test_set(net, csv=csv, net_path=path)
    assert str(err.value) == (f"{csv}: not the CSV the net was trained on (its SHA-256 is not the "
                              "one the net records)")


def refusal(net_path, recorded, why):
    return (f"{net_path}: the test set is rebuilt from the training CSV {recorded}, which {why}; "
            f"{HINT}")


@pytest.mark.parametrize("recorded", ["/etc/passwd", "/dev/zero", "../elsewhere.csv"])
def test_a_provenance_path_outside_the_nets_folder_is_not_read(tmp_path, capsys, recorded):
    """/etc/passwd would reveal a system file's structure (its line and field counts), /dev/zero
    would be read forever: neither is opened."""
    csv = write_csv(tmp_path / "t.csv")
    net, path = csv_net(tmp_path / "run", csv, csv_path=recorded)
    line = sim_refuses(["sim", str(path)], capsys, tmp_path, f"{path}: ")
    assert line == "lwc: error: " + refusal(path, recorded, "lies outside the net's folder (lwc "
                                            "reads a recorded CSV only there, with the SHA-256 "
                                            "recorded at training)")
    assert "field" not in line and "line" not in line.split("CSV")[1]


def test_a_link_in_the_nets_folder_to_outside_is_not_followed(tmp_path, capsys):
    net, path = csv_net(tmp_path / "run", write_csv(tmp_path / "t.csv"), csv_path="zero.csv")
    os.symlink("/dev/zero", tmp_path / "run" / "zero.csv")
    line = sim_refuses(["sim", str(path)], capsys, tmp_path, f"{path}: ")
    assert "zero.csv, which lies outside the net's folder" in line


def test_a_fifo_in_the_nets_folder_does_not_block(tmp_path, capsys):
    net, path = csv_net(tmp_path / "run", write_csv(tmp_path / "t.csv"), csv_path="pipe.csv")
    os.mkfifo(tmp_path / "run" / "pipe.csv")
    line = sim_refuses(["sim", str(path)], capsys, tmp_path, f"{path}: ")
    assert line.endswith(refusal(path, "pipe.csv", "is not a readable regular file"))


def test_a_moved_csv_is_refused_with_the_hint(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    csv = write_csv(tmp_path / "run" / "t.csv")
    net, path = csv_net(tmp_path / "run", csv)
    csv.rename(tmp_path / "moved.csv")
    line = sim_refuses(["sim", str(path)], capsys, tmp_path, f"{path}: ")
    assert line == "lwc: error: " + refusal(path, csv, "is not there (moved or deleted)")
    # --csv names it where it went
    assert vectors.test_set(net, csv=tmp_path / "moved.csv", net_path=path)[0].shape[1] == FEATURES


def test_a_changed_csv_is_refused_before_it_is_parsed(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    csv = write_csv(tmp_path / "run" / "t.csv")
    net, path = csv_net(tmp_path / "run", csv)
    csv.write_text("root:x:0:0:root:/root:/bin/bash\n")
    line = sim_refuses(["sim", str(path)], capsys, tmp_path, f"{path}: ")
    assert line == "lwc: error: " + refusal(
        path, csv, "changed since training (its SHA-256 is not the one recorded)")


def test_no_recorded_hash_or_no_net_folder_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    csv = write_csv(tmp_path / "run" / "t.csv")
    net, path = csv_net(tmp_path / "run", csv)
    unhashed = net.with_meta(csv_sha256=None)
    with pytest.raises(DataError, match="which has no SHA-256 recorded in the net"):
        vectors.test_set(unhashed, net_path=path)
    with pytest.raises(DataError, match="which lwc reads only from the net's own folder"):
        vectors.test_set(net)


def test_csv_options_are_checked(tmp_path, capsys):
    net, path = csv_net(tmp_path / "run", write_csv(tmp_path / "t.csv"))
    os.mkfifo(tmp_path / "fifo.csv")
    line = sim_refuses(["sim", str(path), "--csv", str(tmp_path / "fifo.csv")], capsys, tmp_path,
                       f"{tmp_path / 'fifo.csv'}: cannot read the CSV (it is a FIFO")
    assert line.endswith("not a regular file)")
    sim_refuses(["sim", str(path), "--csv", "/dev/zero"], capsys, tmp_path,
                "/dev/zero: cannot read the CSV (it is a FIFO, device or socket")
    digits = random_network(np.random.default_rng(1), inputs=4).with_meta(dataset="digits",
                                                                          split_seed=0)
    with pytest.raises(UsageError, match="this net was trained on 'digits'"):
        vectors.test_set(digits, csv=tmp_path / "t.csv")


PROVENANCE = sorted(corpus_module().PROVENANCE_CASES)


@pytest.fixture(scope="module")
def provenance_corpus(tmp_path_factory):
    made = corpus_module().make_provenance_netfiles(tmp_path_factory.mktemp("provenance"))
    return {bad.name: bad for bad in made}


@pytest.mark.parametrize("name", PROVENANCE)
def test_the_provenance_corpus_is_refused_by_sim_and_run(provenance_corpus, name, tmp_path,
                                                         capsys):
    """Each net of the generated provenance corpus loads (inspect shows it), but lwc sim and lwc
    run refuse to read the CSV it names, in one line with the hint, building nothing."""
    bad = provenance_corpus[name]
    assert main(["inspect", str(bad.path)]) == 0
    capsys.readouterr()
    for argv in (["sim", str(bad.path)], ["run", str(bad.path), "--port", "/dev/null"]):
        build = ["--build-dir", str(tmp_path / "b")] if argv[0] == "sim" else []
        with deadline():
            assert main([*argv, *build]) == 1
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert captured.out == "" and len(lines) == 1 and "Traceback" not in captured.err
        assert lines[0].startswith(f"lwc: error: {bad.path}: the test set is rebuilt from the "
                                   "training CSV ")
        assert bad.expect in lines[0] and lines[0].endswith(HINT)
    assert not (tmp_path / "b").exists()


def test_the_provenance_corpus_kinds():
    kinds = ("etc_passwd", "dev_zero", "link", "fifo", "moved", "changed", "no_hash")
    assert all(any(kind in name for name in PROVENANCE) for kind in kinds)


# --- .npy files -----------------------------------------------------------------------------------

@pytest.fixture
def small_net(tmp_path):
    net = random_network(np.random.default_rng(0), inputs=3, hidden=(2,), outputs=2, bits=2)
    netfile.save(net, tmp_path / "net.pt")
    return net, tmp_path / "net.pt"


def header_only(path, shape, descr="<i8", version=(1, 0)):
    with open(path, "wb") as f:
        header = {"descr": descr, "fortran_order": False, "shape": shape}
        if version == (1, 0):
            np.lib.format.write_array_header_1_0(f, header)
        else:
            np.lib.format.write_array_header_2_0(f, header)
    return path


def npy_cases(tmp_path):
    """``(name, path, the refusal after "{path}: ")``."""
    plain = "cannot read a .npy array: it is not a plain .npy array"
    limit = vectors.NPY_LIMIT
    text = tmp_path / "text.npy"
    text.write_text("a,b,c\n1,2,3\n")
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[1, "a", None]], dtype=object), allow_pickle=True)
    structured = tmp_path / "structured.npy"
    np.save(structured, np.zeros(2, dtype=[("a", "<i8"), ("b", "<i8"), ("c", "<i8")]))
    damaged = tmp_path / "damaged.npy"
    damaged.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<i8', \n")
    v3 = tmp_path / "v3.npy"
    v3.write_bytes(b"\x93NUMPY\x03\x00" + bytes(8))
    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)
    return [
        ("text", text, f"{plain} (no .npy header)"),
        ("objects", objects, f"{plain} (it holds Python objects, which lwc does not unpickle)"),
        ("structured", structured, f"{plain} (a structured array of dtype"),
        ("damaged_header", damaged, f"{plain} (its header is damaged)"),
        ("version_3", v3, f"{plain} (format version 3.0; lwc reads 1.0 and 2.0)"),
        ("claims_1_tib", header_only(tmp_path / "tib.npy", (1 << 37, 1)),
         "its header claims a (137438953472, 1) int64 array (1099511627776 bytes), more than "
         f"the {limit} bytes lwc reads"),
        ("claims_just_over_the_limit",
         header_only(tmp_path / "over.npy", (limit // 24 + 1, 3), version=(2, 0)),
         f"its header claims a ({limit // 24 + 1}, 3) int64 array ({(limit // 24 + 1) * 24} "
         f"bytes), more than the {limit} bytes lwc reads"),
        ("claims_more_than_it_holds", header_only(tmp_path / "short.npy", (1000, 3)),
         "its header claims a (1000, 3) int64 array (24000 bytes), but the file holds 0 bytes"),
        ("fifo", fifo, "cannot read a .npy array (it is a FIFO, device or socket, not a regular "
                       "file)"),
        ("dev_zero", "/dev/zero", "cannot read a .npy array (it is a FIFO, device or socket, "
                                  "not a regular file)"),
        ("directory", tmp_path, "cannot read a .npy array (it is a directory, not a regular "
                                "file)"),
        ("missing", tmp_path / "missing.npy",
         "cannot read a .npy array (No such file or directory)"),
    ]


def test_npy_files_refused_with_one_line(small_net, tmp_path, capsys):
    _, path = small_net
    for name, npy, problem in npy_cases(tmp_path):
        line = sim_refuses(["sim", str(path), "--npy", str(npy)], capsys, tmp_path, f"{npy}: ")
        assert line.startswith(f"lwc: error: {npy}: {problem}"), (name, line)


def test_npy_raw_features_are_quantized_by_the_one_function(tmp_path):
    q = ir.AffineQuantizer((1.0,), (4.0,))
    net = random_network(np.random.default_rng(0), inputs=3, hidden=(2,), bits=3, quantizer=q)
    raw = np.array([[-2.5, -0.5, 2.5], [-9.0, 0.49999999999999994, 3.5]], dtype=np.float64)
    for dtype in (np.float64, np.float32):
        np.save(tmp_path / "raw.npy", raw.astype(dtype))
        x = vectors.load_vectors(tmp_path / "raw.npy", net)
        assert x.tolist() == golden.quantize(net.input, raw.astype(dtype)).tolist()
    assert vectors.load_vectors(tmp_path / "raw.npy", net).tolist() == [[1, 3, 6], [0, 4, 7]]


def test_npy_non_finite_raw_features_follow_the_one_definition(tmp_path):
    """NaN and infinities in raw features are what docs/semantics.md says (NaN 0, +inf the top
    code, -inf 0; a zero-scale feature its constant), not a refusal of lwc sim's own."""
    q = ir.AffineQuantizer((1.0, 1.0, 0.0), (4.0, 4.0, 5.5))
    net = random_network(np.random.default_rng(0), inputs=3, hidden=(2,), bits=3, quantizer=q)
    np.save(tmp_path / "raw.npy", np.array([[np.nan, np.inf, np.inf], [-np.inf, 1.0, np.nan]]))
    assert vectors.load_vectors(tmp_path / "raw.npy", net).tolist() == [[0, 7, 5], [0, 5, 5]]


def test_the_npy_limit_is_on_data_not_on_honest_files(small_net, tmp_path):
    net, _ = small_net
    x = np.random.default_rng(0).integers(0, 4, size=(50_000, 3)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert np.array_equal(vectors.load_vectors(tmp_path / "x.npy", net), x)


def test_npy_layouts_read_through_the_one_file_rule(small_net, tmp_path):
    """Fortran order, big-endian and format 2.0 arrays read as NumPy writes them, through
    lwc.data.open_regular; a file larger than the limit and a header is refused unread."""
    net, _ = small_net
    x = np.random.default_rng(0).integers(0, 4, size=(7, 3))
    for name, array, version in (("fortran", np.asfortranarray(x), (1, 0)),
                                 ("big_endian", x.astype(">i4"), (1, 0)),
                                 ("version_2", x.astype(np.uint8), (2, 0))):
        with open(tmp_path / f"{name}.npy", "wb") as f:
            np.lib.format.write_array(f, array, version=version)
        assert vectors.load_vectors(tmp_path / f"{name}.npy", net).tolist() == x.tolist(), name
    big = tmp_path / "big.npy"
    np.save(big, x)
    with open(big, "r+b") as f:
        f.truncate(vectors.NPY_LIMIT + (1 << 17))  # sparse: takes no disk
    with pytest.raises(DataError, match=f"^{big}: is {vectors.NPY_LIMIT + (1 << 17)} bytes, more "
                       "than the"):
        vectors.load_vectors(big, net)


MEASURE = textwrap.dedent("""
    import contextlib, io, json, resource, sys
    from lwc.cli import main

    results = {}
    for argv in json.loads(sys.argv[1]):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(argv)
        results[" ".join(argv)] = [rc, err.getvalue(), out.getvalue()]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak, "results": results}))
""")


@pytest.mark.subprocess
def test_hostile_inputs_in_bounded_memory(tmp_path):
    """Provenance naming /dev/zero or /etc/passwd, a link to /dev/zero, FIFOs and devices as --npy
    or --csv, a header claiming a terabyte, and the whole provenance corpus: each command refuses
    in one line, in one process capped at 3 GiB of address space whose peak resident memory stays
    under 1 GB."""
    csv = write_csv(tmp_path / "t.csv")
    _, zero = csv_net(tmp_path / "zero", csv, csv_path="/dev/zero")
    _, passwd = csv_net(tmp_path / "passwd", csv, csv_path="/etc/passwd")
    _, linked = csv_net(tmp_path / "linked", csv, csv_path="z.csv")
    os.symlink("/dev/zero", tmp_path / "linked" / "z.csv")
    os.mkfifo(tmp_path / "fifo")
    tib = header_only(tmp_path / "tib.npy", (1 << 37, 1))
    build = str(tmp_path / "build")
    argvs = [["sim", str(zero), "--build-dir", build], ["sim", str(passwd), "--build-dir", build],
             ["sim", str(linked), "--build-dir", build]]
    for extra in (["--npy", str(tmp_path / "fifo")], ["--npy", "/dev/zero"], ["--npy", str(tib)],
                  ["--csv", "/dev/zero"], ["--csv", str(tmp_path / "fifo")]):
        argvs.append(["sim", str(zero), *extra, "--build-dir", build])
    argvs.append(["run", str(zero), "--port", "/dev/null"])
    for bad in corpus_module().make_provenance_netfiles(tmp_path / "corpus"):
        argvs.append(["sim", str(bad.path), "--build-dir", build])

    def cap():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(argvs)], capture_output=True,
                          text=True, timeout=300, preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert len(report["results"]) == len(argvs)
    for key, (rc, err, out) in report["results"].items():
        assert rc == 1 and out == "" and "Traceback" not in err, (key, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("lwc: error: "), (key, err)
    assert not os.path.exists(build)
    assert report["peak"] < 1e9, f"peak resident memory {report['peak'] / 1e6:.0f} MB"
