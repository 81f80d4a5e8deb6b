"""The ``lwc`` command against hostile files and out-of-range options: exit code, one stderr line,
no traceback, and nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lwc.cli import main
from lwc.compiler import netfile

from helpers import corpus_module

CASES = sorted(corpus_module().CASES)


def one_error_line(err, start):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(start), lines[0]
    return lines[0]


def listing(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


@pytest.mark.parametrize("name", CASES)
def test_inspect_and_compile_refuse_bad_file(corpus, name, tmp_path, capsys):
    bad = corpus[name]
    assert main(["inspect", str(bad.path)]) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err, f"lwc: error: {bad.path}: ")
    assert bad.expect in line and captured.out == ""

    out = tmp_path / "out"
    assert main(["compile", str(bad.path), "--target", "verilog", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert one_error_line(captured.err, f"lwc: error: {bad.path}: ") == line
    assert not out.exists()
    if bad.canary is not None:
        assert not bad.canary.exists(), "the pickle ran code"


@pytest.mark.subprocess
def test_real_process_refuses_code_and_huge_shapes(corpus, tmp_path):
    """The same through ``python -m lwc``: the pickles that run code, a 40 GB shape, a fifo."""
    for name in ("evil_os_system", "huge_view_200000x60000", "fifo"):
        bad, out = corpus[name], tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "lwc", "compile", str(bad.path),
                               "--target", "verilog", "-o", str(out)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert bad.expect in one_error_line(proc.stderr, f"lwc: error: {bad.path}: ")
        assert not out.exists()
        assert bad.canary is None or not bad.canary.exists()


def test_error_naming_a_path_with_a_newline_stays_one_line(tmp_path, capsys):
    path = tmp_path / "two\nlines.pt"
    assert main(["inspect", str(path)]) == 1
    line = one_error_line(capsys.readouterr().err, "lwc: error: ")
    assert line.endswith("two\\nlines.pt: no such file")


# --- options out of range ------------------------------------------------------------------

@pytest.fixture
def nets(tmp_path, make_network, rng):
    net = make_network(rng, inputs=6, hidden=(5,), outputs=3, bits=3)
    wide = make_network(rng, inputs=6, hidden=(5,), outputs=3, bits=12)
    netfile.save(net, tmp_path / "net.pt")
    netfile.save(wide, tmp_path / "wide.pt")
    return tmp_path


ARGPARSE = [  # exit 2 with argparse's usage line and one error line
    (["compile", "net.pt", "--fmax", "-5"], "argument --fmax: must be positive, not -5"),
    (["compile", "net.pt", "--fmax", "0"], "argument --fmax: must be positive, not 0"),
    (["compile", "net.pt", "--fmax", "nan"], "argument --fmax: must be positive, not nan"),
    (["compile", "net.pt", "--fmax", "1e9"], "argument --fmax: must be at most 1000, not 1e9"),
    (["compile", "net.pt", "--seed", "-1"],
     "argument --seed: must be an integer from 0 to 2**31-1, not -1"),
    (["compile", "net.pt", "--seed", str(2**31)], "argument --seed: must be an integer from 0"),
    (["compile", "net.pt", "--baud", "0"], "argument --baud: must be positive, not 0"),
    (["compile", "net.pt", "--register-every", "0"], "argument --register-every: must be"),
    (["compile", "net.pt", "--target", "gates"], "argument --target: invalid choice: 'gates'"),
    (["sim", "net.pt", "--vectors", "0"], "argument --vectors: must be positive, not 0"),
    (["sim", "net.pt", "--seed", "-3"], "argument --seed: must be an integer from 0"),
    (["sim", "net.pt", "--register-every", "0"], "argument --register-every: must be"),
    (["train", "--input-bits", "0"], "argument --input-bits: must be positive, not 0"),
    (["train", "--sparsity", "1.5"], "argument --sparsity: must be in [0, 1), not 1.5"),
    (["train", "--hidden", "0"], "argument --hidden: must be positive sizes like 64,32"),
    (["train", "--seed", "-1"], "argument --seed: must be an integer from 0"),
    (["train", "--threads", "100000"], "argument --threads: must be at most 256, not 100000"),
    (["train", "--epochs", "0"], "argument --epochs: must be positive, not 0"),
    (["run", "net.pt", "--port", "/dev/null", "--baud", "0"], "argument --baud: must be"),
    (["demo", "digits", "--board", "nope"], "argument --board: invalid choice: 'nope'"),
]


@pytest.mark.parametrize("argv,message", ARGPARSE, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_argparse_refusals(nets, argv, message, capsys, monkeypatch):
    monkeypatch.chdir(nets)
    before = listing(nets)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"lwc {argv[0]}: error: {message}")
    assert listing(nets) == before


LIBRARY = [  # exit 1 with one "lwc: error:" line
    (["compile", "net.pt", "--board", "nope", "-o", "o"], "unknown board 'nope'"),
    (["compile", "net.pt", "--baud", "100000000", "-o", "o"],
     "cannot build the icebreaker UART top: clk_freq / baud must be at least 4 cycles per bit"),
    (["compile", "net.pt", "--board", "icestick", "--baud", "1", "-o", "o"],
     "cannot build the icestick UART top: timeout must be at least 20 bit times"),
    (["compile", "wide.pt", "-o", "o"],
     "cannot build the icebreaker UART top: the UART front end sends one byte per input "
     "feature; input_bits must be at most 8, not 12"),
    (["compile", "net.pt", "--target", "verilog", "--board", "icestick", "-o", "o"],
     "--board needs a board target"),
    (["train", "--dataset", "mnist", "--data-dir", "/nope", "-o", "t/net.pt"],
     "/nope/train-images-idx3-ubyte.gz: no such file"),
    (["train", "--dataset", "mnist", "--data-dir", "{empty}", "-o", "t/net.pt"],
     "train-images-idx3-ubyte.gz: no such file"),
    (["train", "--dataset", "mnist", "-o", "t/net.pt"], "needs a data directory (--data-dir)"),
    (["train", "--dataset", "cifar", "-o", "t/net.pt"], "'cifar'"),
    (["train", "--input-bits", "99", "-o", "t/net.pt"], "99"),
    (["train", "--device", "tpu", "-o", "t/net.pt"], "'tpu'"),
    (["demo", "cifar", "-o", "d"], "'cifar'"),
    (["sim", "net.pt", "--npy", "/nope.npy"], "/nope.npy: cannot read a .npy array"),
    (["run", "net.pt", "--port", "/dev/nonexistent-tty", "--npy", "/nope.npy"], "/nope.npy"),
    (["flash", "nope-dir", "--board", "nope"], "unknown board 'nope'"),
    (["flash", "nope-dir", "--board", "icestick"], "nope-dir/top.bin: no bitstream"),
]


@pytest.mark.parametrize("argv,message", LIBRARY, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_library_refusals_write_nothing(nets, argv, message, capsys, monkeypatch):
    monkeypatch.chdir(nets)
    (nets / "empty").mkdir()
    argv = [str(nets / "empty") if a == "{empty}" else a for a in argv]
    before = listing(nets)
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert message in one_error_line(captured.err, "lwc: error: ")
    assert listing(nets) == before


@pytest.mark.subprocess
def test_compile_refusal_in_a_fresh_process(nets):
    """No Amaranth warning about the abandoned design follows the error line."""
    proc = subprocess.run([sys.executable, "-m", "lwc", "compile", "wide.pt", "-o", "o"],
                          cwd=nets, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "default"})
    assert proc.returncode == 1
    one_error_line(proc.stderr, "lwc: error: cannot build the icebreaker UART top")
    assert not (nets / "o").exists()


def test_vectors_file_that_is_not_numbers(nets, capsys):
    bad = nets / "x.npy"
    np.save(bad, np.array(["a", "b"]))
    assert main(["sim", str(nets / "net.pt"), "--npy", str(bad)]) == 1
    assert str(bad) in one_error_line(capsys.readouterr().err, "lwc: error: ")
