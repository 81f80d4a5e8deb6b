# amaranth: UnusedElaboratable=no
"""Accumulators: the logic version in amaranth.sim against a plain-Python reference, and the
mapping to SB_MAC16 blocks on the UltraPlus only (the blocks themselves are proven on Yosys's cell
model in tests/sim/test_dsp_cells.py)."""

import pytest
from amaranth.hdl import Fragment, Instance
from amaranth.sim import Simulator
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.icestick import ICEStickPlatform

from lwc.hw.dsp import Accumulators
from lwc.hw.plan import dsp_blocks

from helpers import accumulator_reference, accumulator_stimuli


@pytest.mark.parametrize("count,width", [(1, 1), (3, 12), (2, 16), (1, 20), (2, 32)])
def test_logic_accumulators_match_the_reference(count, width):
    cycles = accumulator_stimuli(count, width, 300, seed=width)
    dut = Accumulators(count, width, dsp=False)
    got = []

    async def bench(ctx):
        for cycle in cycles:
            for a, (load, init, en, sub, operand) in zip(dut.acc, cycle):
                ctx.set(a.load, load)
                ctx.set(a.init, init)
                ctx.set(a.en, en)
                ctx.set(a.sub, sub)
                ctx.set(a.operand, operand)
            await ctx.tick()
            got.append([ctx.get(a.value) for a in dut.acc])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == accumulator_reference(width, cycles)


def _instances(fragment):
    found = [fragment.type] if isinstance(fragment, Instance) else []
    for sub, _, _ in getattr(fragment, "subfragments", []):
        found.extend(_instances(sub))
    return found


def test_blocks_on_the_ultraplus_only():
    assert _instances(Fragment.get(Accumulators(3, 12), ICEBreakerPlatform())) == ["SB_MAC16"] * 2
    assert _instances(Fragment.get(Accumulators(3, 12), ICEStickPlatform())) == []
    assert _instances(Fragment.get(Accumulators(3, 12), None)) == []
    assert _instances(Fragment.get(Accumulators(3, 20, dsp=True), None)) == ["SB_MAC16"] * 3
    assert _instances(Fragment.get(Accumulators(3, 20, dsp=False), ICEBreakerPlatform())) == []


def test_two_halves_to_a_block_up_to_16_bits():
    assert [dsp_blocks(n, 16) for n in (1, 2, 3, 8)] == [1, 1, 2, 4]
    assert [dsp_blocks(n, 17) for n in (1, 2, 3)] == [1, 2, 3]
    assert Accumulators(5, 9).dsp_blocks == 3


def test_arguments_are_checked():
    with pytest.raises(ValueError, match=r"^count must be a positive integer, not 0$"):
        Accumulators(0, 8)
    with pytest.raises(ValueError, match=r"^width must be an integer from 1 to 32, not 33$"):
        Accumulators(1, 33)
    with pytest.raises(ValueError, match=r"^dsp must be None, True or False, not 'yes'$"):
        Accumulators(1, 8, dsp="yes")
