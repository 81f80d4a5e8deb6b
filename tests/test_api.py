"""The Python API (lwc.api, issue 15 item 6): load or convert, compile once, predict on the golden
model, predict_hw in cocotb, write Verilog, build for a board; the options and errors are the
``lwc`` command's. The README's example (examples/api_digits.py) runs end to end."""

import json
import re
import runpy
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import lwc
from lwc import cli
from lwc.api import BuildResult, CompiledModel, HardwareMismatchError, Model, _mismatch_line
from lwc.compile import compile_net
from lwc.compiler import golden, netfile
from lwc.compiler.stats import nonzero_count
from lwc.data import dataset_options, load_dataset
from lwc.errors import DataError, LwcError, NetFileError, ToolchainError, UsageError
from lwc.outdir import MANIFEST, default_dir
from lwc.sim.cocotb_sim import SimReport

from helpers import TESTS

ROOT = TESTS.parent
EXAMPLE = ROOT / "examples" / "api_digits.py"


@pytest.fixture(scope="module")
def model(digits_net_path):
    return lwc.load(digits_net_path)


@pytest.fixture(scope="module")
def design(model):
    return model.compile(progress=None)


@pytest.mark.subprocess
def test_import_lwc_imports_nothing_heavy():
    """``import lwc`` and ``import lwc.api`` stay free of torch and the hardware stack; the API's
    names are there when used."""
    code = ("import sys, lwc, lwc.api; lwc.load, lwc.Model, lwc.CompiledModel; "
            "print(sorted(m for m in ('torch', 'amaranth', 'cocotb', 'lwc.hw', 'lwc.boards') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    assert set(lwc.__all__) <= set(dir(lwc))
    from lwc.boards.flash import flash

    assert lwc.flash is flash and lwc.load is lwc.api.load
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        lwc.__getattr__("no_such_name")


def test_load_refuses_what_netfile_refuses(tmp_path):
    with pytest.raises(NetFileError, match=re.escape(f"{tmp_path / 'none.pt'}: no such file")):
        lwc.load(tmp_path / "none.pt")


def test_convert_takes_a_network_or_a_train_result(digits_run, model):
    result, path, _ = digits_run
    assert lwc.convert(result).net == model.net == netfile.load(path)
    assert lwc.convert(model.net) == Model(model.net)
    assert lwc.convert(model.net).default_dir("sim") == Path(default_dir("net", model.net, "sim"))
    assert model.default_dir("icebreaker") == Path(default_dir(path, model.net, "icebreaker"))
    with pytest.raises(UsageError, match=r"^convert needs a Network or a TrainResult, not str$"):
        lwc.convert("net.pt")


def test_the_objects_say_what_they_are_in_one_line(make_network, rng):
    model = lwc.convert(make_network(rng, inputs=12, hidden=(8,), outputs=3, bits=4))
    weights = nonzero_count(model.net)
    text = f"<Model in memory: 12 inputs x 4 bit -> 8-3, {weights} nonzero weights>"
    assert repr(model) == text
    assert repr(model.compile(board="icestick", progress=None)) == (
        f"<CompiledModel (parallel: every layer in logic, 1 inference per cycle; planned for the "
        f"icestick) of {text}>")


def test_convert_refuses_an_invalid_network(make_network, rng):
    net = make_network(rng, inputs=12)
    with pytest.raises(UsageError, match=r"^not a valid network: layer 0 neuron \d+: inputs "
                                         r"must be strictly increasing indices below 11$"):
        lwc.convert(replace(net, input_map=net.input_map[:-1]))


def test_predict_is_the_golden_model_on_raw_and_quantized_features(model, design):
    x_int, y = model.test_data()
    data = load_dataset(**dataset_options(model.net))
    raw = data.x_test
    assert raw.dtype.kind == "f" and np.array_equal(y, data.y_test)
    want = golden.evaluate(model.net, x_int)
    labels, scores = design.predict(raw, scores=True)
    assert np.array_equal(labels, want.predictions)
    assert np.array_equal(scores, want.scores)
    assert np.array_equal(design.predict(x_int), want.predictions)
    assert np.array_equal(model.quantize(raw), x_int)
    assert np.mean(labels == y) == model.net.meta("test_accuracy")
    assert model.summary().startswith(f"{model.path}\ninputs   64 x ")


def test_predict_refuses_bad_vectors_as_lwc_sim_does(model):
    with pytest.raises(DataError, match=r"^vectors must have shape \(n >= 1, 64\), not \(64,\)$"):
        model.predict(np.zeros(64, dtype=np.int64))
    with pytest.raises(DataError, match=r"^vectors must be integers or raw float features, "
                                        r"not dtype <U1$"):
        model.predict(np.full((1, 64), "a"))
    with pytest.raises(DataError, match=r"^vector elements must be in 0\.\.15"):
        model.predict(np.full((1, 64), 99))


def test_test_data_is_lwc_sims_test_set(make_network, rng, tmp_path, capsys):
    """A CSV net's test set is rebuilt only from its confirmed CSV: the API says what
    ``lwc sim`` says."""
    net = make_network(rng).with_meta(dataset="csv", split_seed=0, csv_path="data.csv",
                                      csv_label="y", csv_sha256="0" * 64)
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    assert cli.main(["sim", str(path)]) == 1
    with pytest.raises(DataError) as api:
        lwc.load(path).test_data()
    assert "is not there (moved or deleted)" in str(api.value)
    assert capsys.readouterr().err == f"lwc: error: {api.value}\n"


def test_compile_is_the_compile_commands_design(model, design, tmp_path):
    assert isinstance(design, CompiledModel) and design.model is model
    assert design.board is None and design.architecture == "parallel"
    written = compile_net(model.net, tmp_path / "cli", target="verilog", progress=lambda _: None)
    assert design.facts == written.facts
    assert design.verilog() == written.verilog
    path = design.write_verilog(tmp_path / "api", progress=None)
    assert path == tmp_path / "api" / "net.v" and path.read_text() == written.verilog
    planned = model.compile(board="icestick", register_every=2, share=False, progress=None)
    assert planned.board.name == "icestick" and planned.design.register_every == 2
    streaming = model.compile("streaming", lanes=2, progress=None)
    assert streaming.architecture == "streaming" and streaming.facts.lanes == 2


@pytest.mark.parametrize("options", [
    {"architecture": "fast"},
    {"board": "nope"},
    {"architecture": "parallel", "lanes": 2},
    {"architecture": "streaming", "features_per_cycle": 0},
    {"register_every": 0},
    {"register_every": "2"},
])
def test_compile_errors_are_the_compile_commands(model, tmp_path, options):
    with pytest.raises(UsageError) as cli:
        compile_net(model.net, tmp_path / "out", progress=lambda _: None, **options)
    with pytest.raises(UsageError) as api:
        model.compile(progress=None, **options)
    assert str(api.value) == str(cli.value)
    assert "\n" not in str(api.value)


def test_write_verilog_goes_where_lwc_compile_writes(model, design, tmp_path, monkeypatch,
                                                      make_network, rng):
    monkeypatch.chdir(tmp_path)
    path = design.write_verilog(progress=None)
    assert path == model.default_dir("verilog") / "net.v" and path.is_file()
    manifest = json.loads((path.parent / MANIFEST).read_text())
    assert manifest["net"]["source"] == model.path
    # Another net's build is not replaced without force, as lwc compile says.
    other = make_network(rng, inputs=64, bits=4)
    with pytest.raises(UsageError) as cli:
        compile_net(other, path.parent, target="verilog", progress=lambda _: None)
    with pytest.raises(UsageError) as api:
        lwc.convert(other).compile(progress=None).write_verilog(path.parent, progress=None)
    assert str(api.value) == str(cli.value)


def test_build_and_write_refuse_what_lwc_compile_refuses(design, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(UsageError) as cli:
        compile_net(design.model.net, foreign, target="verilog", progress=lambda _: None)
    with pytest.raises(UsageError) as api:
        design.write_verilog(foreign, progress=None)
    assert str(api.value) == str(cli.value)
    for options in ({"seed": -1}, {"clock_mhz": 0}, {"board": "nope"}):
        with pytest.raises(UsageError) as cli:
            compile_net(design.model.net, tmp_path / "b", progress=lambda _: None, **options)
        with pytest.raises(UsageError) as api:
            design.build(out_dir=tmp_path / "b", progress=None, **options)
        assert str(api.value) == str(cli.value)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "b").exists()


@pytest.mark.yosys
def test_write_asic_is_the_asic_target(make_network, rng, tmp_path):
    net = make_network(rng, inputs=6, hidden=(4,), outputs=3, bits=2)
    cli = compile_net(net, tmp_path / "cli", target="asic", progress=lambda _: None)
    report = lwc.convert(net).compile(progress=None).write_asic(tmp_path / "api", progress=None)
    assert report.gates == cli.asic.gates and report.logic_depth == cli.asic.logic_depth
    assert report.netlist == str(tmp_path / "api" / "netlist.v")


@pytest.mark.icarus
def test_predict_hw_is_the_simulated_hardware(model, design, tmp_path):
    x = load_dataset(**dataset_options(model.net)).x_test[:12]  # raw features
    labels, scores = design.predict_hw(x, scores=True, simulator="icarus",
                                       build_dir=tmp_path, progress=None)
    want_labels, want_scores = design.predict(x, scores=True)
    assert np.array_equal(labels, want_labels) and np.array_equal(scores, want_scores)
    report = design.simulate(x, simulator="icarus", build_dir=tmp_path, seed=3, progress=None)
    assert report.ok and report.build_reused and report.vectors == 12
    assert np.array_equal(report.labels, want_labels)


@pytest.mark.icarus
def test_predict_hw_of_a_streaming_design(make_network, rng, tmp_path):
    model = lwc.convert(make_network(rng, inputs=12, hidden=(8,), outputs=3, bits=3))
    design = model.compile("streaming", features_per_cycle=4, lanes=2, progress=None)
    x = rng.integers(0, 8, size=(10, 12))
    got = design.predict_hw(x, scores=True, simulator="icarus", build_dir=tmp_path,
                            progress=None)
    want = golden.evaluate(model.net, x)
    assert np.array_equal(got[0], want.predictions) and np.array_equal(got[1], want.scores)


def _report(**changes):
    base = dict(simulator="icarus", vectors=8, received=8, mismatches=0, first_mismatch=None,
                build_seconds=0.0, run_seconds=0.0, stream_seconds=0.0, cycles=20, latency=3,
                measured_latency=3, protocol_errors=0, build_dir=Path("b/icarus"))
    return SimReport(**{**base, **changes})


def test_a_hardware_mismatch_is_one_line():
    from lwc.sim.cocotb_sim import Mismatch

    first = Mismatch(index=5, inputs=(1, 2), golden_sums=(), golden_label=3, golden_scores=(),
                     hardware_label=None, hardware_scores=None)
    line = _mismatch_line(_report(mismatches=2, first_mismatch=first, received=7,
                                  measured_latency=4))
    assert line == ("the icarus simulation in b/icarus differs from the golden model: 2 of 8 "
                    "vectors differ (first: vector 5, golden label 3, hardware no output); only "
                    "7 of 8 outputs came out; latency 4 cycles, expected 3")
    assert issubclass(HardwareMismatchError, LwcError)
    assert _report().ok


def _python_block(readme):
    (block,) = re.findall(r"<!-- example examples/api_digits\.py -->\n```python\n(.*?)```\n"
                          r"<!-- /example -->", readme, re.S)
    return block


def test_the_readme_shows_the_example():
    code = EXAMPLE.read_text()
    body = code[code.index('"""', 3) + 3:].lstrip("\n")
    assert _python_block((ROOT / "README.md").read_text()) == body


@pytest.mark.train
@pytest.mark.verilator
@pytest.mark.yosys
@pytest.mark.slow
def test_the_example_runs_end_to_end(tmp_path, monkeypatch, capsys):
    """examples/api_digits.py as a user runs it: trains, compiles, predicts, checks the hardware
    in Verilator, builds the iCEBreaker bitstream; its figures are report.json's."""
    monkeypatch.chdir(tmp_path)
    names = runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    built = names["built"]
    assert isinstance(built, BuildResult)
    assert built.board == "icebreaker" and built.timing_met is True
    assert built.bitstream == tmp_path / "build" / "api" / "icebreaker" / "top.bin"
    assert built.bitstream.stat().st_size > 0
    assert built.logic_cells.used == built.report.logic_cells.used > 0
    assert built.fmax_mhz == built.report.fmax_mhz >= 12
    assert np.mean(names["labels"] == names["y"]) > 0.9
    assert built.table() in out
    assert f"{built.logic_cells.used} logic cells" in out
    # flash is lwc flash's: the bitstream is checked, then the programmer looked for.
    monkeypatch.setenv("ICEPROG", "no-such-iceprog")
    with pytest.raises(ToolchainError, match=r"^no-such-iceprog not found: install it"):
        built.flash(progress=None)
