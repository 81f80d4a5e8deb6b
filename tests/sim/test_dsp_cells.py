# amaranth: UnusedElaboratable=no
"""Accumulators as SB_MAC16 blocks, run on Yosys's iCE40 cell model (``cells_sim.v``) in Icarus,
cycle for cycle against the logic version and the plain-Python reference (tests/helpers.py):
reset, loads of the initial value, additions and subtractions at the extremes of the range, and
holds."""

import subprocess

import pytest
from amaranth.back import verilog

from lwc.hw.dsp import Accumulators
from lwc.sim import gatelevel

from helpers import accumulator_reference, accumulator_stimuli

RESET_CYCLES = 2


def _bench(count, width, cycles):
    """A testbench driving both versions with ``cycles`` after a reset, printing each cycle's
    values of both as ``dsp logic`` pairs."""
    ports = ["load", "init", "en", "sub", "operand"]
    lines = ["`timescale 1ns/1ps", "module bench;", "reg clk = 0, rst = 1;"]
    for k in range(count):
        lines += [f"reg a{k}_load = 0, a{k}_en = 0, a{k}_sub = 0;",
                  f"reg signed [{width - 1}:0] a{k}_init = 0, a{k}_operand = 0;",
                  f"wire signed [{width - 1}:0] d{k}, l{k};"]
    for module, out in (("acc_dsp", "d"), ("acc_logic", "l")):
        conns = [".clk(clk)", ".rst(rst)"]
        conns += [f".acc__{k}__{p}(a{k}_{p})" for k in range(count) for p in ports]
        conns += [f".acc__{k}__value({out}{k})" for k in range(count)]
        lines.append(f"{module} {module}_i ({', '.join(conns)});")
    shown = " ".join("%0d %0d" for _ in range(count))
    values = ", ".join(f"d{k}, l{k}" for k in range(count))
    lines += ["always #5 clk = ~clk;", "initial begin",
              f"  repeat ({RESET_CYCLES}) @(negedge clk);", "  rst = 0;"]
    for cycle in cycles:
        for k, (load, init, en, sub, operand) in enumerate(cycle):
            lines.append(f"  a{k}_load = {int(load)}; a{k}_en = {int(en)}; a{k}_sub = {int(sub)};"
                         f" a{k}_init = {init}; a{k}_operand = {operand};")
        lines += ["  @(negedge clk);", f'  $display("{shown}", {values});']
    lines += ["  $finish;", "end", "endmodule"]
    return "\n".join(lines) + "\n"


@pytest.mark.icarus
@pytest.mark.yosys
@pytest.mark.parametrize("count,width", [(3, 12), (2, 16), (1, 1), (2, 24), (1, 32)])
def test_sb_mac16_blocks_match_the_logic_cycle_for_cycle(tmp_path, yosys, count, width):
    cycles = accumulator_stimuli(count, width, 200, seed=width + count)
    sources = []
    for name, dsp in (("acc_dsp", True), ("acc_logic", False)):
        path = tmp_path / f"{name}.v"
        path.write_text(verilog.convert(Accumulators(count, width, dsp=dsp), name=name,
                                        emit_src=False))
        sources.append(path)
    assert "SB_MAC16" in sources[0].read_text() and "SB_MAC16" not in sources[1].read_text()
    bench = tmp_path / "bench.v"
    bench.write_text(_bench(count, width, cycles))
    models = gatelevel.cell_models(tmp_path, "zero", yosys[0])
    binary = tmp_path / "bench.vvp"
    subprocess.run(["iverilog", "-g2012", *gatelevel.build_args("icarus"), "-o", str(binary),
                    "-s", "bench", str(bench), *map(str, sources), str(models)],
                   check=True, capture_output=True, text=True)
    done = subprocess.run(["vvp", "-n", str(binary)], check=True, capture_output=True, text=True)
    rows = [[int(v) for v in line.split()] for line in done.stdout.splitlines()
            if line and line[0] in "-0123456789"]
    want = accumulator_reference(width, cycles)
    assert [row[0::2] for row in rows] == want  # the blocks
    assert [row[1::2] for row in rows] == want  # the logic
