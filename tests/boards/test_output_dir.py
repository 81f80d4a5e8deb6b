"""``compile_net`` output directories: a manifest of what lwc wrote, no mixing with an earlier
build or with files lwc did not write, and no bitstream left by a failed build."""

import json

import numpy as np
import pytest
from amaranth.hdl import Fragment

import lwc.boards.compile as compile_module
from lwc.boards import check_bitstream
from lwc.cli import main
from lwc.compile import MANIFEST, compile_net
from lwc.compiler import ir, netfile
from lwc.errors import BuildError, UsageError

ICE40_SYNC = bytes.fromhex("7eaa997e")
BITSTREAM = b"\xff\x00\x00\xff" + ICE40_SYNC + bytes(100)


@pytest.fixture
def net(make_network, rng):
    return make_network(rng, inputs=6, hidden=(4,), outputs=3, bits=3)


class FakeReport:
    fmax_mhz = None
    timing_met = None
    critical_path = []

    def __init__(self, seed):
        self.seed = seed

    def to_dict(self):
        return {"seed": self.seed}

    def table(self):
        return "fake build"


def fake_build(fail=None):
    """Stands in for :func:`lwc.boards.build.build`: writes what a real one writes, then
    succeeds with a bitstream or raises ``fail`` (the real one never leaves a bitstream then)."""
    def build(top, board, out_dir, *, name, clock_mhz, seed, progress):
        Fragment.get(top, None)  # elaborated, as the real build does first
        for suffix in ("il", "ys", "pcf", "rpt"):
            (out_dir / f"{name}.{suffix}").write_text(f"{suffix}\n")
        if fail is not None:
            raise fail
        (out_dir / f"{name}.bin").write_bytes(BITSTREAM)
        return FakeReport(seed)
    return build


def manifest(out):
    return json.loads((out / MANIFEST).read_text())


def names(out):
    return sorted(p.name for p in out.iterdir())


def compile_quietly(net, out, **kwargs):
    return compile_net(net, out, progress=lambda line: None, **kwargs)


def test_manifest_lists_what_was_written(net, tmp_path):
    out = tmp_path / "v"
    compile_quietly(net, out, target="verilog")
    assert names(out) == ["lwc-build.json", "net.v", "report.json"]
    data = manifest(out)
    assert data["format"] == "lwc-build" and data["target"] == "verilog"
    assert data["complete"] is True and data["error"] is None
    assert data["files"] == ["net.v", "report.json"]


def test_recompiling_replaces_the_earlier_build(net, tmp_path, monkeypatch):
    out = tmp_path / "b"
    monkeypatch.setattr(compile_module, "build", fake_build())
    compile_quietly(net, out, board="icestick", seed=4)
    assert "top.bin" in manifest(out)["files"]
    # A Verilog-only build into the same directory: nothing of the board build survives.
    compile_quietly(net, out, target="verilog")
    assert names(out) == ["lwc-build.json", "net.v", "report.json"]
    assert manifest(out)["files"] == ["net.v", "report.json"]


def test_failed_build_leaves_no_bitstream_of_the_earlier_one(net, tmp_path, monkeypatch):
    out = tmp_path / "b"
    monkeypatch.setattr(compile_module, "build", fake_build())
    compile_quietly(net, out, board="icestick")
    check_bitstream(out / "top.bin")
    monkeypatch.setattr(compile_module, "build", fake_build(BuildError("does not fit")))
    with pytest.raises(BuildError):
        compile_quietly(net, out, board="icestick")
    assert not (out / "top.bin").exists() and not (out / "report.json").exists()
    data = manifest(out)
    assert data["complete"] is False and data["error"] == "does not fit"
    assert data["files"] == ["net.v", "top.il", "top.pcf", "top.rpt", "top.ys"]
    # The failed build's files are lwc's own: the next build needs no --force.
    compile_quietly(net, out, target="verilog")
    assert names(out) == ["lwc-build.json", "net.v", "report.json"]


def test_interrupted_build_is_recorded(net, tmp_path, monkeypatch):
    out = tmp_path / "b"
    monkeypatch.setattr(compile_module, "build", fake_build(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        compile_quietly(net, out, board="icestick")
    data = manifest(out)
    assert data["complete"] is False and data["error"] == "interrupted"
    assert "top.il" in data["files"]


def test_foreign_files_refuse_the_directory(net, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "net.v").write_text("my own verilog")
    with pytest.raises(UsageError) as info:
        compile_quietly(net, out, target="verilog")
    assert str(info.value) == (
        f"{out}: output directory has no lwc manifest (net.v, notes.txt); choose an empty or "
        "new directory, or pass --force to build next to them")
    assert names(out) == ["net.v", "notes.txt"]
    assert (out / "net.v").read_text() == "my own verilog"


def test_force_builds_next_to_foreign_files(net, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    compile_quietly(net, out, target="verilog", force=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert manifest(out)["files"] == ["net.v", "report.json"]
    # Files added to an lwc directory later are not lwc's either.
    (out / "later.txt").write_text("x")
    with pytest.raises(UsageError, match=r"did not write \(later.txt, notes.txt\)"):
        compile_quietly(net, out, target="verilog")
    compile_quietly(net, out, target="verilog", force=True)
    assert names(out) == ["later.txt", "lwc-build.json", "net.v", "notes.txt", "report.json"]


def lists(files):
    return json.dumps({"format": "lwc-build", "files": files})


@pytest.mark.parametrize("text", [lists(["../victim"]), lists(["/tmp"]), lists([".."]),
                                  lists("net.v"), lists([3]), "[]", "{", "\x00"])
def test_doctored_manifest_is_not_trusted(net, tmp_path, text):
    out = tmp_path / "b"
    out.mkdir()
    (out / MANIFEST).write_text(text)
    with pytest.raises(UsageError, match="has no lwc manifest \\(lwc-build.json\\)"):
        compile_quietly(net, out, target="verilog")
    assert names(out) == [MANIFEST]


def test_doctored_manifest_deletes_nothing_outside(net, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "b"
    out.mkdir()
    (out / MANIFEST).write_text(lists(["../victim", str(victim)]))
    compile_quietly(net, out, target="verilog", force=True)
    assert victim.read_text() == "keep"
    assert manifest(out)["files"] == ["net.v", "report.json"]


def test_output_path_that_is_a_file(net, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="f: not a directory; choose another output directory"):
        compile_quietly(net, tmp_path / "f", target="verilog")


def test_bad_options_write_nothing(net, tmp_path):
    out = tmp_path / "o"
    for kwargs in ({"seed": -1}, {"clock_mhz": float("nan")}, {"baud": 10**8},
                   {"board": "nope"}):
        with pytest.raises(UsageError):
            compile_quietly(net, out, **kwargs)
        assert not out.exists(), kwargs


def test_cli_force(net, tmp_path, capsys):
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    argv = ["compile", str(path), "--target", "verilog", "-o", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lwc: error: {out}: output directory has no lwc manifest (keep.txt); choose "
                   "an empty or new directory, or pass --force to build next to them"]
    assert names(out) == ["keep.txt"]
    assert main([*argv, "--force"]) == 0
    assert names(out) == ["keep.txt", "lwc-build.json", "net.v", "report.json"]


@pytest.mark.yosys
@pytest.mark.slow
def test_fit_failure_removes_the_earlier_bitstream(tmp_path):
    """A net too big for the icestick (1600 input flip-flops alone), built over an earlier
    build: the fit check refuses it before place-and-route and no bitstream remains."""
    n_in, n_hidden = 200, 100
    w0 = np.zeros((n_hidden, n_in), dtype=np.int64)
    w0[np.arange(n_hidden), 2 * np.arange(n_hidden)] = 1
    w0[np.arange(n_hidden), 2 * np.arange(n_hidden) + 1] = -1
    w1 = np.zeros((2, n_hidden), dtype=np.int64)
    w1[0, : n_hidden // 2] = 1
    w1[1, n_hidden // 2:] = 1
    big = ir.from_dense(ir.InputSpec(n_in, 8), [
        (w0, ir.Activation("step"), np.arange(n_hidden) % 7),
        (w1, ir.Activation("linear"), [0, 1]),
    ], ["a", "b"])
    out = tmp_path / "b"
    out.mkdir()
    # What an earlier successful lwc build left: a valid-looking bitstream and its report.
    (out / "top.bin").write_bytes(BITSTREAM)
    (out / "report.json").write_text("{}")
    (out / MANIFEST).write_text(json.dumps({"format": "lwc-build", "complete": True,
                                            "files": ["top.bin", "report.json"]}))
    # force: past the estimate's refusal (lwc.boards.plan.check_estimate), to synthesis's.
    with pytest.raises(BuildError, match="design does not fit the icestick"):
        compile_quietly(big, out, board="icestick", architecture="parallel", force=True)
    assert not (out / "top.bin").exists() and not (out / "top.bin.tmp").exists()
    assert not (out / "report.json").exists()
    with pytest.raises(UsageError, match="no bitstream"):
        check_bitstream(out / "top.bin")
    for product in out.iterdir():  # nothing else there passes for a bitstream either
        if product.is_file():
            assert ICE40_SYNC not in product.read_bytes()[:1024], product
    data = manifest(out)
    assert data["complete"] is False and "does not fit" in data["error"]
    assert "net.v" in data["files"] and "top.bin" not in data["files"]
