"""The ``lwc`` command as a user meets it: outputs, exit codes, one-line errors."""


import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lwc.cli import main
from lwc.compiler import golden, netfile
from lwc.compiler.lower import lower
from lwc.compiler.passes import compile_network
from lwc.demo import RECIPES
from lwc.hw.spram_table import boot_cycles
from lwc.hw.streaming import WAKE_CLOCK

from helpers import transcripts_module


@pytest.fixture
def net_path(tmp_path, make_network, rng):
    for _ in range(100):
        net = make_network(rng, inputs=6, hidden=(5,), outputs=3, bits=3, density=0.6)
        x = rng.integers(0, 8, size=(32, 6))
        if len(set(golden.predict(net, x))) > 1:  # a net whose answer depends on its input
            break
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    return path


def run_cli(*args):
    """Run ``lwc`` in a fresh interpreter, as a user does: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "lwc", *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, out, err, text):
    assert code == 1
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lwc: error: ") and text in lines[0], err


@pytest.mark.subprocess
def test_version_and_help():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("lwc ")
    code, out, _ = run_cli("--help")
    for command in ("demo", "train", "inspect", "sim", "compile", "flash", "run"):
        assert command in out


@pytest.mark.subprocess
def test_inspect(net_path):
    code, out, err = run_cli("inspect", net_path, "--ir")
    assert code == 0, err
    assert "nonzero" in out and "bits/weight" in out and "layer 0 " in out
    assert "dataset          random" in out


@pytest.mark.subprocess
@pytest.mark.parametrize("args,text", [
    (("inspect", "missing.pt"), "missing.pt: no such file"),
    (("compile", "missing.pt", "--target", "verilog"), "missing.pt: no such file"),
    (("sim", "missing.pt"), "missing.pt: no such file"),
])
def test_missing_file_is_one_line(tmp_path, args, text):
    code, out, err = run_cli(*[tmp_path / a if a.endswith(".pt") else a for a in args])
    assert_one_line_error(code, out, err, text)


@pytest.mark.subprocess
def test_bad_arguments_exit_2(net_path):
    for args in (("train", "--epochs", "-3"), ("train", "--hidden", "a,b"),
                 ("compile", net_path, "--target", "gates"), ("compile", net_path, "--fmax", "-1"),
                 ("sim", net_path, "--simulator", "modelsim")):
        code, _, err = run_cli(*args)
        assert code == 2 and "Traceback" not in err, args


@pytest.mark.subprocess
def test_unknown_board_and_verilog_with_board(net_path, tmp_path):
    code, out, err = run_cli("compile", net_path, "--board", "nope", "-o", tmp_path / "o")
    assert_one_line_error(code, out, err, "unknown board 'nope' (choose from: icebreaker")
    code, out, err = run_cli("compile", net_path, "--target", "verilog", "--board", "icestick",
                             "-o", tmp_path / "o")
    assert_one_line_error(code, out, err, "--board needs a board target")


@pytest.mark.subprocess
def test_compile_verilog_only(net_path, tmp_path):
    out_dir = tmp_path / "v"
    code, out, err = run_cli("compile", net_path, "--target", "verilog", "-o", out_dir)
    assert code == 0, err
    text = (out_dir / "net.v").read_text()
    assert "module lwc_net" in text and "i__payload" in text
    assert sorted(p.name for p in out_dir.iterdir()) == ["lwc-build.json", "net.v", "report.json"]
    assert "latency" in out


@pytest.mark.subprocess
def test_sim_rejects_bad_vector_file(net_path, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 5), dtype=np.int64))
    code, out, err = run_cli("sim", net_path, "--npy", bad)
    assert_one_line_error(code, out, err, f"{bad}: vectors must have shape (n >= 1, 6)")


@pytest.mark.subprocess
def test_sim_without_dataset_needs_vectors(net_path):
    code, out, err = run_cli("sim", net_path)
    assert_one_line_error(code, out, err, "does not record its dataset")


@pytest.mark.subprocess
@pytest.mark.icarus
def test_sim_icarus_random_vectors(net_path, tmp_path):
    code, out, err = run_cli("sim", net_path, "--vectors", "40", "--simulator", "icarus",
                             "--build-dir", tmp_path / "b")
    assert code == 0, out + err
    assert "0 mismatches" in out and "vectors/s" in out


@pytest.mark.subprocess
@pytest.mark.icarus
def test_sim_register_every(net_path, tmp_path):
    """``--register-every`` simulates the pipelining 'lwc compile' builds with it: the latency the
    testbench measures is that design's, longer than one register per layer."""
    latencies = []
    for every in ([], ["--register-every", "1"]):
        code, out, err = run_cli("sim", net_path, "--vectors", "24", "--simulator", "icarus",
                                 "--build-dir", tmp_path / f"b{len(every)}", *every)
        assert code == 0, out + err
        assert "0 mismatches" in out
        latencies.append(int(re.search(r"latency (\d+) cycles", out).group(1)))
    assert latencies[1] > latencies[0]


@pytest.mark.icarus
def test_sim_fmax_simulates_the_design_compile_builds(tmp_path, make_network, rng, capsys):
    """``lwc sim --board B --fmax F`` simulates the design 'lwc compile --fmax F' builds first
    (:func:`lwc.compile.clock_design`: the PLL's clock, the lane registers and pipelining chosen
    for it), here split over two processes: the latency the testbench measures is that design's,
    longer than the one without a target."""
    import functools

    from lwc.boards.plan import plan_architecture
    from lwc.boards.registry import get_board
    from lwc.compile import clock_design
    from lwc.compiler.driver import compile_design

    net = make_network(rng, inputs=16, hidden=(12,), outputs=3, bits=2, density=0.5)
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    board = get_board("icebreaker")
    design = compile_design(net, planner=functools.partial(
        plan_architecture, board=board, architecture="streaming", lanes=2,
        progress=lambda line: None))
    clocked, pipelining, pll = clock_design(design, board, 48, progress=lambda line: None)
    assert pll is not None and clocked.architecture.lane_registers  # the target changes it
    latencies = []
    for fmax in ([], ["--fmax", "48"]):
        code = main(["sim", str(path), "--vectors", "30", "--simulator", "icarus", "--board",
                     "icebreaker", "--architecture", "streaming", "--lanes", "2",
                     "--processes", "2", "--build-dir", str(tmp_path / f"b{len(fmax)}"), *fmax])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "0 mismatches" in out and "in 2 processes" in out
        latencies.append(int(re.search(r"latency (\d+) cycles", out).group(1)))
    assert latencies == [design.hardware.latency, clocked.hardware.latency]
    assert latencies[1] > latencies[0]


@pytest.mark.parametrize("args, message", [
    (["--fmax", "48"], "--fmax needs --board"),
    (["--waves", "--processes", "2"], "--waves records one simulation"),
])
def test_sim_option_errors(net_path, args, message, capsys):
    assert main(["sim", str(net_path), "--vectors", "4", *args]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_run_against_simulated_board(net_path, tmp_path, capsys):
    from lwc.sim.uart_board import SimulatedBoard

    net = netfile.load(net_path)
    x = np.random.default_rng(5).integers(0, 8, size=(6, 6))
    np.save(tmp_path / "x.npy", x)
    with SimulatedBoard(lower(compile_network(net))) as board:
        code = main(["run", str(net_path), "--port", board.port, "--npy", str(tmp_path / "x.npy"),
                     "--timeout", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "agreement with the golden model: 6/6" in out


@pytest.mark.subprocess
def test_run_missing_port(net_path):
    code, out, err = run_cli("run", net_path, "--port", "/dev/nonexistent-tty", "--vectors", "2")
    assert_one_line_error(code, out, err, "/dev/nonexistent-tty")


@pytest.mark.subprocess
@pytest.mark.train
def test_train_small(tmp_path):
    out = tmp_path / "n.pt"
    code, stdout, err = run_cli("train", "--epochs", "2", "--hidden", "16", "-o", out,
                                "--no-plots")
    assert code == 0, err
    assert "epoch   2/2" in stdout or "epoch 2/2" in stdout
    net = netfile.load(out)
    assert net.meta("dataset") == "digits" and net.layers[0].size == 16


# The demo's simulator: Icarus where installed (its builds are quicker), else Verilator.
DEMO_SIMULATOR = "icarus" if shutil.which("iverilog") else "verilator"


@pytest.mark.subprocess
@pytest.mark.train
@getattr(pytest.mark, DEMO_SIMULATOR)
@pytest.mark.yosys
@pytest.mark.slow
def test_demo_digits_end_to_end(tmp_path):
    """README command 1: train, cocotb proof on the whole test set, iCEBreaker bitstream."""
    code, out, err = run_cli("demo", "digits", "-o", tmp_path / "d", "--simulator",
                             DEMO_SIMULATOR)
    assert code == 0, out[-3000:] + err
    assert "0 mismatches: hardware equals the golden model on all 450 vectors" in out
    assert (tmp_path / "d" / "icebreaker" / "top.bin").stat().st_size > 0
    # The summary's Fmax row, as "Fmax  20.9 MHz (clock 12 MHz, met)"; "NOT met" must fail.
    assert re.search(r"^Fmax +[\d.]+ MHz \(clock 12 MHz, met\)$", out, re.MULTILINE), out[-3000:]
    # README.md's transcript of the demo (docs/transcripts.py) has the summary's rows.
    readme = transcripts_module()
    summary = out[out.index("== summary"):].rstrip("\n").split("\n")
    assert readme.labels(summary) == readme.labels(readme.readme_transcripts()["demo"][2:])


@pytest.mark.subprocess
@pytest.mark.train
@pytest.mark.verilator
@pytest.mark.yosys
@pytest.mark.slow
def test_demo_with_the_weights_in_spram(tmp_path):
    """``--weights spram`` (the mnist-spram recipe's choice), on a small digits net the demo
    trains (16 hidden neurons: a short boot and build): the proof boots the table from the flash
    model, the build writes weights.bin and places SPRAM, and the summary's boot row is the load
    the simulation saw, which is the loader's rule."""
    code, out, err = run_cli("demo", "digits", "-o", tmp_path / "d", "--hidden", "16",
                             "--weights", "spram")
    assert code == 0, out[-3000:] + err
    assert "0 mismatches: hardware equals the golden model on all 450 vectors" in out
    assert (tmp_path / "d" / "icebreaker" / "weights.bin").stat().st_size > 0
    assert re.search(r"^SPRAM +[1-4] / 4$", out, re.MULTILINE), out[-3000:]
    boot = re.search(r"^boot +([\d.]+) ms \(([\d,]+) cycles: ([\d,]+)-byte table read from "
                     r"flash and checked\)$", out, re.MULTILINE)
    assert boot, out[-3000:]
    ms, cycles, table = float(boot[1]), int(boot[2].replace(",", "")), int(boot[3].replace(",", ""))
    assert cycles == boot_cycles(table, clk_freq=WAKE_CLOCK)
    clock_mhz = float(re.search(r"^Fmax +[\d.]+ MHz \(clock ([\d.]+) MHz", out, re.MULTILINE)[1])
    assert ms == round(cycles / (clock_mhz * 1e3), 1)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_demo_recipes_are_valid_training_configs(name):
    """Every demo recipe is a training run :class:`lwc.train.TrainConfig` accepts (the MNIST one
    runs for 13 minutes, so CI checks its options rather than running it)."""
    from lwc.train import TrainConfig

    dataset = RECIPES[name]["dataset"]
    config = TrainConfig(dataset=dataset, **RECIPES[name]["train"]).check()
    assert config.dataset == dataset
    assert RECIPES[name]["weights"] in ("bram", "spram")
    if name == "mnist-spram":  # the MNIST sweep's 98.40% point (examples/sweep_mnist.toml)
        assert config.layer_sparsity() == (0.95, 0.8)
        assert (config.method, config.hidden, config.input_bits, config.augment, config.epochs,
                config.lr, RECIPES[name]["weights"]) == ("ste", (512,), 2, 1, 30, 0.03, "spram")
    if name == "mnist":  # the documented net: docs/benchmarks.md, "MNIST on the iCEBreaker"
        assert config.layer_sparsity() == (0.9885, 0.8)
        assert (config.method, config.hidden, config.input_bits, config.augment, config.epochs,
                config.lr) == ("ste", (512,), 2, 1, 60, 0.03)
