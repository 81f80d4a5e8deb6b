"""A simulated board: :class:`~lwc.hw.top.UartNetworkTop` in ``amaranth.sim`` behind a pty.

:class:`SimulatedBoard` opens a pty pair, runs the top in a background thread and moves bytes
between the pty and the top's ``rx``/``tx`` pins bit by bit, so host code that talks to a serial
port (:func:`lwc.boards.run.run_vectors`) can be tested with no board attached::

    with SimulatedBoard(lower(compile_network(net))) as board:
        report = run_vectors(board.port, net, vectors)

Simulated time only advances while the board has something to do (bytes to receive, a frame in
progress, an inference or a response); an idle board waits for the host without simulating idle
cycles. The pty's baud rate setting is irrelevant.

The bit-level helpers :func:`uart_send` and :func:`uart_recv` (``async``, for ``amaranth.sim``
testbenches) are shared with the UART tests.
"""

import collections
import os
import select
import threading
import tty

from amaranth.sim import Simulator

from lwc.hw.top import UartNetworkTop

from .spi_flash_model import amaranth_flash

__all__ = ["uart_send", "uart_recv", "SimulatedBoard"]


# Plain ``await ctx.tick()`` only: ``tick().repeat()`` and ``tick().until()`` hold an async
# generator that cannot be closed when a background testbench is abandoned at the end of a run.
async def _ticks(ctx, count):
    for _ in range(count):
        await ctx.tick()


async def uart_send(ctx, pin, data, divisor, *, gap=0):
    """Drive the bytes ``data`` onto ``pin`` as 8N1 characters of ``divisor`` cycles per bit,
    followed each by ``gap`` idle bit times."""
    for byte in data:
        for bit in (0, *((byte >> k) & 1 for k in range(8)), 1):
            ctx.set(pin, bit)
            await _ticks(ctx, divisor)
        await _ticks(ctx, gap * divisor)


async def uart_recv(ctx, pin, divisor):
    """Wait for one 8N1 character on ``pin`` and return ``(byte, stop_bit_ok)``.

    The line is sampled in the middle of each bit; a start bit that is high again at its middle is
    ignored as a glitch.
    """
    while True:
        if ctx.get(pin):
            await ctx.negedge(pin)  # no polling while the line is idle
        await _ticks(ctx, divisor // 2)
        if ctx.get(pin) == 0:
            break
    byte = 0
    for k in range(8):
        await _ticks(ctx, divisor)
        byte |= ctx.get(pin) << k
    await _ticks(ctx, divisor)
    return byte, bool(ctx.get(pin))


class SimulatedBoard:
    """A :class:`~lwc.hw.top.UartNetworkTop` around ``network``, simulated behind a pty.

    Use as a context manager; :attr:`port` is the path to open with pyserial while it runs.

    Parameters
    ----------
    network : wiring.Component
        A component with the lwc network contract (e.g. from :func:`lwc.compiler.lower.lower`).
    divisor : int
        Simulated clock cycles per bit (at least 4); small keeps the simulation fast.
    timeout_bits : int
        The top's inter-byte timeout in bit times (at least 20).
    corrupt_in, corrupt_out : collection of int
        Fault injection: positions (counted from 0 over the board's life) of the bytes from the
        host, and of the bytes to the host, that get bit 4 flipped on the way.
    flash : FlashModel or None
        For a network whose weight table is in SPRAM: the board's SPI flash
        (:class:`lwc.sim.spi_flash_model.FlashModel`), read from reset on.
    """

    #: The simulated line rate; only ``divisor`` and ``timeout_bits`` matter to the simulation.
    BAUD = 1_000_000

    def __init__(self, network, *, divisor=4, timeout_bits=64, corrupt_in=(), corrupt_out=(),
                 flash=None):
        self.top = UartNetworkTop(network, clk_freq=self.BAUD * divisor, baud=self.BAUD,
                                  timeout=timeout_bits / self.BAUD)
        self._divisor = divisor
        self._master = self._slave = None
        self._thread = None
        self._stop = threading.Event()
        self._error = None
        self._corrupt_in = frozenset(corrupt_in)
        self._corrupt_out = frozenset(corrupt_out)
        self._flash = flash
        self.bytes_in = self.bytes_out = 0
        self.cycles = 0

    @property
    def port(self):
        """Path of the pty's terminal end (``/dev/pts/N``)."""
        assert self._slave is not None, "the board is not running"
        return os.ttyname(self._slave)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def start(self):
        """Open the pty and start simulating in a background thread."""
        assert self._thread is None, "the board is already running"
        self._master, self._slave = os.openpty()
        # Raw mode: no echo and no newline translation, whatever the host does with the port.
        tty.setraw(self._slave)
        self._thread = threading.Thread(target=self._run, name="lwc-sim-board", daemon=True)
        self._thread.start()

    def close(self):
        """Stop the simulation, close the pty, and re-raise any error the simulation had."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self):
        try:
            sim = Simulator(self.top)
            sim.add_clock(1 / (self.BAUD * self._divisor))
            sim.add_testbench(self._drive)
            sim.add_testbench(self._monitor, background=True)
            if self._flash is not None:
                sim.add_testbench(amaranth_flash(self._flash, self.top.flash,
                                                 1 / (self.BAUD * self._divisor)),
                                  background=True)
            sim.run()
        except BaseException as error:  # re-raised in the host thread by close()
            self._error = error

    def _read_host(self, wait):
        ready, _, _ = select.select([self._master], [], [], wait)
        return os.read(self._master, 4096) if ready else b""

    async def _drive(self, ctx):
        top, divisor = self.top, self._divisor
        inbox = collections.deque()
        quiet = 0  # cycles the board has been idle since the last byte sent
        while not self._stop.is_set():
            if inbox:
                byte = inbox.popleft() ^ (0x10 if self.bytes_in in self._corrupt_in else 0)
                self.bytes_in += 1
                await uart_send(ctx, top.rx, [byte], divisor)
                self.cycles += 10 * divisor
                quiet = 0
                continue
            data = self._read_host(0)
            if data:
                inbox.extend(data)
            elif ctx.get(top.busy) or quiet < 4 * divisor:
                # Let the board finish what it is doing (the receiver sees the last stop bit a
                # couple of cycles late, hence the quiet margin).
                await _ticks(ctx, divisor)
                self.cycles += divisor
                quiet = 0 if ctx.get(top.busy) else quiet + divisor
            else:
                inbox.extend(self._read_host(0.02))

    async def _monitor(self, ctx):
        while True:
            byte, stop_ok = await uart_recv(ctx, self.top.tx, self._divisor)
            if stop_ok:
                byte ^= 0x10 if self.bytes_out in self._corrupt_out else 0
                self.bytes_out += 1
                os.write(self._master, bytes([byte]))
