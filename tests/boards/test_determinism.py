"""The same ``net.pt`` and options give byte-identical Verilog and an identical bitstream."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lwc.compile import compile_net
from lwc.compiler import golden, ir, netfile


def tiny_net():
    """6 inputs x 2 bits -> 4 step -> 3 classes: a few hundred logic cells with the UART top."""
    w0 = np.array([[1, -1, 0, 0, 1, 0], [0, 1, 1, 0, 0, -1], [1, 0, 0, -1, 0, 0],
                   [0, 0, -1, 1, 1, 1]])
    w1 = np.array([[1, -1, 0, 1], [0, 1, 1, 0], [-1, 0, 1, 1]])
    return ir.from_dense(ir.InputSpec(6, 2), [(w0, ir.Activation("step"), [1, 0, 1, 2]),
                                              (w1, ir.Activation("linear"), [0, -1, 1])],
                         ["a", "b", "c"], {"dataset": "tiny"})


def test_net_depends_on_its_input():
    x = np.random.default_rng(0).integers(0, 4, size=(64, 6))
    assert len(set(golden.predict(tiny_net(), x))) == 3


@pytest.mark.subprocess
def test_verilog_is_identical_across_processes(tmp_path):
    """Two ``lwc compile --target verilog`` runs, with different hash seeds and output
    directories, write the same bytes."""
    netfile.save(tiny_net(), tmp_path / "net.pt")
    texts = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"v{hash_seed}"
        proc = subprocess.run(
            [sys.executable, "-m", "lwc", "compile", str(tmp_path / "net.pt"), "--target",
             "verilog", "-o", str(out)],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert proc.returncode == 0, proc.stderr
        texts.append(((out / "net.v").read_bytes(), (out / "report.json").read_bytes()))
    assert texts[0] == texts[1]
    assert b"module lwc_net" in texts[0][0]


@pytest.mark.yosys
@pytest.mark.slow
def test_bitstream_is_identical(tmp_path):
    """Two icestick builds with the same seed: identical net.v, bitstream and placement, and
    the seed recorded in report.json."""
    net = tiny_net()
    builds = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = compile_net(net, out, board="icestick", seed=7, progress=lambda line: None)
        assert result.build.seed == 7
        report = json.loads((out / "report.json").read_text())
        assert report["seed"] == 7 and report["network"]["inputs"] == 6
        builds.append(out)
    a, b = builds
    for product in ("net.v", "top.bin", "top.asc"):
        assert (a / product).read_bytes() == (b / product).read_bytes(), product
    assert len((a / "top.bin").read_bytes()) > 30_000
    # The board build's net.v is the one a Verilog-only compile writes.
    compile_net(net, tmp_path / "v", target="verilog", progress=lambda line: None)
    assert (tmp_path / "v" / "net.v").read_bytes() == (a / "net.v").read_bytes()
