# amaranth: UnusedElaboratable=no
"""SpiFlashReader against the W25Q128JV model (``lwc.sim.spi_flash_model``) in amaranth.sim."""

import random

import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from lwc.hw.spi_flash import CMD_READ_DATA, CMD_RELEASE_POWER_DOWN, SpiFlashReader
from lwc.sim.spi_flash_model import FlashModel, amaranth_flash
from lwc.sim.streams import stream_check_source, stream_get_all

CLK = 12e6


def _read(dut, model, offset, length, *, rng=None, p=0.0, limit=200_000):
    """Run one read; return ``(bytes, cycles from start until busy fell)``."""
    got, cycles = [], []

    async def host(ctx):
        ctx.set(dut.offset, offset)
        ctx.set(dut.length, length)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        count = 1
        while True:
            *_, busy = await ctx.tick().sample(dut.busy)
            if not busy:
                break
            count += 1
        cycles.append(count)

    async def consumer(ctx):
        got.extend(await stream_get_all(ctx, dut.o, length, rng=rng, p=p))

    async def checker(ctx):
        await stream_check_source(ctx, dut.o)

    async def watchdog(ctx):
        for _ in range(limit):
            await ctx.tick()
        raise AssertionError(f"read not done within {limit} cycles")

    sim = Simulator(dut)
    sim.add_clock(1 / CLK)
    sim.add_testbench(host)
    sim.add_testbench(consumer)
    for tb in (checker, watchdog, amaranth_flash(model, dut, 1 / CLK)):
        sim.add_testbench(tb, background=True)
    sim.run()
    return bytes(got), cycles[0]


@pytest.mark.parametrize("divisor", [2, 4, 6])
def test_reads_at_offset_in_exact_cycles(divisor):
    image = random.Random(divisor).randbytes(300)
    model = FlashModel(image, offset=0x10_0000)
    dut = SpiFlashReader(clk_freq=CLK, divisor=divisor)
    got, cycles = _read(dut, model, 0x10_0000 + 7, 50)
    assert got == image[7:57]
    assert cycles == dut.read_cycles(50)
    assert model.commands == [CMD_RELEASE_POWER_DOWN, CMD_READ_DATA]
    assert model.violations == []
    assert not model.powered_down


def test_back_pressure_loses_nothing():
    image = bytes(range(256)) * 2
    model = FlashModel(image, offset=0xFFF00)  # crosses a 64 KiB block boundary
    dut = SpiFlashReader(clk_freq=CLK, divisor=2)
    got, cycles = _read(dut, model, 0xFFF00 + 3, 200, rng=random.Random(5), p=0.97)
    assert got == image[3:203]
    assert cycles > dut.read_cycles(200)  # it had to wait
    assert model.violations == []


def test_reads_erased_flash_beyond_the_image_and_wraps_at_the_end():
    model = FlashModel(b"\x12\x34", offset=(1 << 24) - 2)
    dut = SpiFlashReader(clk_freq=CLK, divisor=2)
    got, _ = _read(dut, model, (1 << 24) - 3, 4)
    assert got == b"\xff\x12\x34\xff"


def test_length_zero_wakes_the_part_and_reads_nothing():
    model = FlashModel(b"\x00", offset=0)
    dut = SpiFlashReader(clk_freq=CLK, divisor=2)
    got, cycles = _read(dut, model, 0, 0)
    assert got == b"" and cycles == dut.read_cycles(0)
    assert model.commands == [CMD_RELEASE_POWER_DOWN, CMD_READ_DATA]


def test_wake_time_covers_tres1():
    for clk, cycles in ((12e6, 36), (48e6, 144), (1e6, 3), (10e6, 30), (7e6, 21)):
        dut = SpiFlashReader(clk_freq=clk)
        Fragment.get(dut, None)  # elaborated, so it counts as used
        assert dut.wake_cycles == cycles
        assert dut.wake_cycles / clk >= 3e-6 > (dut.wake_cycles - 1) / clk


def test_model_refuses_a_read_sooner_than_tres1():
    # The model checks tRES1: a part needing 10 us ignores this reader's 3 us wait and its read
    # returns the floating line, so the wait in the reader is not untested slack.
    model = FlashModel(b"\x5a" * 8, offset=0, t_res1=10e-6)
    dut = SpiFlashReader(clk_freq=CLK, divisor=2)
    got, _ = _read(dut, model, 0, 4)
    assert got == b"\xff" * 4
    assert model.commands == [CMD_RELEASE_POWER_DOWN]
    assert len(model.violations) == 1 and "before tRES1" in model.violations[0]


def test_model_ignores_a_read_without_the_wake_up():
    model = FlashModel(b"\x5a" * 8, offset=0)
    dut = SpiFlashReader(clk_freq=CLK, divisor=2)

    async def host(ctx):  # drive the pins by hand: 0x03 to a sleeping part
        for k, bit in enumerate(f"{CMD_READ_DATA:08b}" + "0" * 24 + "0" * 8):
            model.update(k * 2e-6, 0, 0, int(bit))
            model.update(k * 2e-6 + 1e-6, 0, 1, int(bit))
        model.update(1e-3, 1, 0, 0)
        await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1 / CLK)
    sim.add_testbench(host)
    sim.run()
    assert model.commands == [] and model.served == 0


@pytest.mark.parametrize("divisor", [0, 1, 3, 2.0, True])
def test_divisor_must_be_even(divisor):
    with pytest.raises(ValueError, match=r"^divisor must be an even integer of at least 2, not "):
        SpiFlashReader(clk_freq=CLK, divisor=divisor)


def test_clk_freq_must_be_positive():
    with pytest.raises(ValueError, match=r"^clk_freq must be a positive number, not 0$"):
        SpiFlashReader(clk_freq=0)
