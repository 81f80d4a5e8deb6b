"""The second hostile corpus (issue 16) against every command that reads a ``net.pt``: one line,
no traceback, no control character, nothing written, and bounded memory."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lwc.cli import main
from lwc.compiler import netfile

from helpers import corpus_module

CORPUS_SCRIPT = Path(corpus_module().__file__)
FORBIDDEN = re.compile(f"[{netfile.FORBIDDEN_CHARACTERS}]")
CASES = sorted(corpus_module().CASES)
SECOND = sorted(corpus_module().SECOND_CASES)


def one_clean_line(err, start):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(start), lines[0]
    assert not FORBIDDEN.search(lines[0].replace("\n", "")), repr(lines[0])
    return lines[0]


@pytest.mark.parametrize("name", CASES)
def test_sim_refuses_bad_file(corpus, name, tmp_path, capsys):
    bad = corpus[name]
    build = tmp_path / "build"
    assert main(["sim", str(bad.path), "--vectors", "4", "--build-dir", str(build)]) == 1
    captured = capsys.readouterr()
    line = one_clean_line(captured.err, f"lwc: error: {bad.path}: ")
    assert bad.expect in line and captured.out == ""
    assert not build.exists()
    if bad.canary is not None:
        assert not bad.canary.exists(), "the pickle ran code"


def test_second_corpus_kinds():
    """Every kind of issue 16's second corpus that a net.pt can carry is in it."""
    kinds = ("laughs_", "deep_", "class_name_", "provenance_", "duplicate_", "dense_inputs")
    assert all(any(name.startswith(kind) for name in SECOND) for kind in kinds)
    assert len(SECOND) >= 30


MEASURE = textwrap.dedent("""
    import contextlib, io, json, resource, sys
    sys.path.insert(0, sys.argv[1])
    import make_bad_netfiles as corpus
    from lwc.cli import main

    out_dir, names = sys.argv[2], sys.argv[3:]
    made = {bad.name: bad for bad in corpus.make_bad_netfiles(out_dir)}
    results = {}
    for name in names:
        path = str(made[name].path)
        for argv in (["inspect", path],
                     ["compile", path, "--target", "verilog", "-o", out_dir + "/o"],
                     ["sim", path, "--vectors", "4", "--build-dir", out_dir + "/b"]):
            err, out = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                rc = main(argv)
            results[name + " " + argv[0]] = [rc, err.getvalue(), out.getvalue()]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak, "results": results}))
""")


@pytest.mark.subprocess
def test_second_corpus_in_bounded_memory(tmp_path):
    """inspect, compile and sim on every file of the second corpus, in one fresh process capped at
    3 GiB of address space: each refuses with its one line, and the peak resident memory of the
    whole run (torch included) stays under 1 GB."""
    def cap():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run([sys.executable, "-c", MEASURE, str(CORPUS_SCRIPT.parent),
                           str(tmp_path / "c"), *SECOND],
                          capture_output=True, text=True, timeout=600, preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    expect = corpus_module().SECOND_CASES
    for key, (rc, err, out) in report["results"].items():
        name = key.split()[0]
        assert rc == 1 and out == "", (key, out)
        assert expect[name][1] in one_clean_line(err, "lwc: error: "), key
    assert len(report["results"]) == 3 * len(SECOND)
    assert not (tmp_path / "c" / "o").exists() and not (tmp_path / "c" / "b").exists()
    assert report["peak"] < 1e9, f"peak resident memory {report['peak'] / 1e6:.0f} MB"


def test_sim_refuses_npy_claiming_a_terabyte(tmp_path, capsys, make_network, rng):
    """A 128-byte .npy whose header claims 1 TiB: refused from the header, nothing allocated."""
    net = make_network(rng, inputs=1, hidden=(2,), outputs=2, bits=2)
    netfile.save(net, tmp_path / "net.pt")
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<i8", "fortran_order": False, "shape": (1 << 37, 1)})
    assert huge.stat().st_size < 200
    build = tmp_path / "build"
    assert main(["sim", str(tmp_path / "net.pt"), "--npy", str(huge),
                 "--build-dir", str(build)]) == 1
    line = one_clean_line(capsys.readouterr().err, f"lwc: error: {huge}: ")
    assert "claims a (137438953472, 1) int64 array (1099511627776 bytes)" in line
    assert not build.exists()


def test_sim_still_reads_a_short_honest_npy(tmp_path, make_network, rng):
    """The header check passes a file that holds what it claims (the array is then checked)."""
    from lwc.sim.cocotb_sim import load_vectors

    net = make_network(rng, inputs=3, hidden=(2,), outputs=2, bits=2)
    np.save(tmp_path / "x.npy", np.array([[0, 1, 2], [3, 0, 1]]))
    assert load_vectors(tmp_path / "x.npy", net).tolist() == [[0, 1, 2], [3, 0, 1]]
