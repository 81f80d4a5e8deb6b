"""UartRx / UartTx against a bit-level reference model (``lwc.sim.uart_board.uart_send/recv``).

Background testbenches use plain ``await ctx.tick()`` only: the stream helpers' ``until`` cannot be
abandoned when the simulation ends.
"""

import random

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from lwc.hw.uart import UartRx, UartTx, check_divisor
from lwc.sim.streams import stream_get_all, stream_put_all
from lwc.sim.uart_board import uart_recv, uart_send


def _run(dut, *testbenches, background=(), limit=50_000):
    """Simulate until the ``testbenches`` finish; fail after ``limit`` cycles (a hang is a bug)."""
    async def watchdog(ctx):
        await ctx.delay(limit * 1e-6)
        raise AssertionError(f"testbenches still running after {limit} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in (*background, watchdog):
        sim.add_testbench(tb, background=True)
    sim.run()


class _Loopback(wiring.Component):
    """UartTx's pin wired to UartRx's pin."""

    def __init__(self, divisor):
        self.tx = UartTx(divisor)
        self.rx = UartRx(divisor)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx = self.tx
        m.submodules.rx = self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


def _pulse_counter(signal, counter):
    """A background testbench adding to ``counter[0]`` the clock edges at which the one-bit
    ``signal`` is high. It sleeps until ``signal`` rises (most cycles it is low), so it costs the
    simulation nothing then."""
    async def testbench(ctx):
        while True:
            if not ctx.get(signal):
                await ctx.posedge(signal)
            _, _, value = await ctx.tick().sample(signal)
            counter[0] += value
    return testbench


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_loopback_all_bytes_back_to_back(divisor):
    dut = _Loopback(divisor)
    data = list(range(256)) + [0x00, 0xFF, 0x55, 0xAA]
    received = []

    async def put(ctx):
        await stream_put_all(ctx, dut.tx.i, data)

    async def get(ctx):
        received.extend(await stream_get_all(ctx, dut.rx.o, len(data)))

    errors = [0]
    _run(dut, put, get,
         background=[_pulse_counter(dut.rx.error, errors), _pulse_counter(dut.rx.overrun, errors)])
    assert received == data
    assert errors == [0]


@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_waveform_is_exact(divisor):
    """Every bit lasts exactly ``divisor`` cycles and back-to-back characters have no gap."""
    dut = UartTx(divisor)
    data = [0x00, 0xFF, 0xA5, 0x3C]
    line = []

    async def put(ctx):
        await stream_put_all(ctx, dut.i, data)
        for _ in range(12 * divisor):
            await ctx.tick()

    async def record(ctx):
        while True:
            _, _, value = await ctx.tick().sample(dut.tx)
            line.append(value)

    _run(dut, put, background=[record])
    start = line.index(0)
    assert all(line[:start])
    expected = []
    for byte in data:
        for bit in (0, *((byte >> k) & 1 for k in range(8)), 1):
            expected += [bit] * divisor
    assert line[start:start + len(expected)] == expected
    assert all(line[start + len(expected):])


@pytest.mark.parametrize("divisor", [4, 6, 13])
def test_rx_from_reference_model(divisor):
    dut = UartRx(divisor)
    data = list(range(256))
    rng = random.Random(divisor)
    received = []

    async def drive(ctx):
        await uart_send(ctx, dut.rx, data[:128], divisor)  # back to back
        for byte in data[128:]:
            await uart_send(ctx, dut.rx, [byte], divisor, gap=rng.randrange(3))

    async def get(ctx):
        received.extend(await stream_get_all(ctx, dut.o, len(data)))

    _run(dut, drive, get)
    assert received == data


@pytest.mark.parametrize("sender_divisor", [31, 33])
def test_rx_tolerates_baud_mismatch(sender_divisor):
    dut = UartRx(32)
    data = [0x00, 0xFF, 0x5A, 0xC3, 0x81]
    received = []

    async def drive(ctx):
        await uart_send(ctx, dut.rx, data, sender_divisor)

    async def get(ctx):
        received.extend(await stream_get_all(ctx, dut.o, len(data)))

    _run(dut, drive, get)
    assert received == data


def test_tx_to_reference_model():
    divisor = 5
    dut = UartTx(divisor)
    data = [0x00, 0xFF, 0x01, 0x80, 0x5A, 0xA5]
    received = []

    async def put(ctx):
        await stream_put_all(ctx, dut.i, data)

    async def get(ctx):
        for _ in data:
            received.append(await uart_recv(ctx, dut.tx, divisor))

    _run(dut, put, get)
    assert received == [(byte, True) for byte in data]


def test_framing_error():
    """A low stop bit drops the byte and pulses ``error`` once; after the line goes high again the
    next byte is received."""
    divisor = 4
    dut = UartRx(divisor)
    errors = [0]
    received = []

    async def drive(ctx):
        # 0x55 with its stop bit low, then the line held low (a break) for 3 character times.
        for bit in (0, 1, 0, 1, 0, 1, 0, 1, 0, 0):
            ctx.set(dut.rx, bit)
            for _ in range(divisor):
                await ctx.tick()
        for _ in range(30 * divisor):
            await ctx.tick()
        ctx.set(dut.rx, 1)
        for _ in range(2 * divisor):
            await ctx.tick()
        await uart_send(ctx, dut.rx, [0x3C], divisor)
        for _ in range(4 * divisor):
            await ctx.tick()

    async def get(ctx):
        received.extend(await stream_get_all(ctx, dut.o, 1))

    _run(dut, drive, get, background=[_pulse_counter(dut.error, errors)])
    assert received == [0x3C]
    assert errors == [1]


def test_glitch_is_not_a_start_bit():
    divisor = 8
    dut = UartRx(divisor)
    received = []

    async def drive(ctx):
        for width in (1, 2, 3):  # shorter than divisor // 2
            ctx.set(dut.rx, 0)
            for _ in range(width):
                await ctx.tick()
            ctx.set(dut.rx, 1)
            for _ in range(12 * divisor):
                await ctx.tick()
        await uart_send(ctx, dut.rx, [0x96], divisor)
        for _ in range(4 * divisor):
            await ctx.tick()

    async def get(ctx):
        ctx.set(dut.o.ready, 1)
        while True:
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                received.append(payload)

    _run(dut, drive, background=[get])
    assert received == [0x96]


def test_overrun_keeps_the_first_byte():
    divisor = 4
    dut = UartRx(divisor)
    overruns = [0]

    async def drive(ctx):
        await uart_send(ctx, dut.rx, [0x11, 0x22], divisor)
        for _ in range(4 * divisor):
            await ctx.tick()
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == 0x11
        received = await stream_get_all(ctx, dut.o, 1)
        assert received == [0x11]
        assert not ctx.get(dut.o.valid)

    _run(dut, drive, background=[_pulse_counter(dut.overrun, overruns)])
    assert overruns == [1]


@pytest.mark.parametrize("divisor", [3, 0, 4.0, True])
def test_divisor_is_checked(divisor):
    """UartRx and UartTx take their divisor through :func:`check_divisor`, before one is made."""
    with pytest.raises(ValueError, match=r"^divisor must be an integer of at least 4, not "):
        check_divisor(divisor)


def _elaborated(component):
    Fragment.get(component, None)
    return component


def test_properties():
    assert _elaborated(UartRx(9)).divisor == 9
    assert _elaborated(UartTx(10)).divisor == 10


@pytest.mark.parametrize("width", [1, 2, 5, 9])
def test_count_down_without_a_carry_chain(width):
    """The timers' ``timer - 1`` in LUTs (no ``-`` that synthesis would map to a carry chain):
    every nonzero value of every width steps to the one below."""
    from amaranth.hdl import Signal

    from lwc.hw.uart import _count_down

    m = Module()
    value, result = Signal(width), Signal(width)
    m.d.comb += result.eq(_count_down(value))
    got = {}

    async def testbench(ctx):
        for v in range(1, 1 << width):
            ctx.set(value, v)
            got[v] = ctx.get(result)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert got == {v: v - 1 for v in range(1, 1 << width)}
