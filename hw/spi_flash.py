"""A reader of SPI NOR flash: wake the part, then stream ``length`` bytes from ``offset``.

Written for the flash on the iCEBreaker (schematic v1.0e, U5): a Winbond W25Q128JV (128 Mbit,
16 MiB, 3.3 V; W25Q128JVSIM), on the iCE40's configuration pins, which it also boots from. The
commands and limits used are those of its datasheet, common to the 25-series parts of other
makers:

* Release Power-down (``0xAB``), then ``/CS`` high for tRES1 = 3 us before the next command: the
  part may have been put in power-down (``0xB9``, as ``iceprog`` leaves it) and then ignores
  everything else.
* Read Data (``0x03``) with a 24-bit address, most significant byte and bit first, then data
  for as long as ``/CS`` stays low (the address wraps at the end of the part). ``0x03`` needs no
  dummy cycles and is specified up to 50 MHz SCK (fR), above any SCK this reader makes on an
  iCE40 (half the system clock at most).
* SPI mode 0: SCK idles low; the part samples COPI on SCK's rising edge and shifts CIPO out on
  its falling edge; SCK may stop low between any two bits (how this reader waits for a consumer).
"""

import math

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CMD_RELEASE_POWER_DOWN", "CMD_READ_DATA", "T_RES1", "SpiFlashReader", "wake_cycles",
           "read_cycles"]

#: Release Power-down (W25Q128JV: "Release Power-down / Device ID", ABh).
CMD_RELEASE_POWER_DOWN = 0xAB
#: Read Data (03h): 24-bit address, no dummy cycles.
CMD_READ_DATA = 0x03
#: Seconds from ``/CS`` high after ``0xAB`` until the part accepts commands (tRES1, maximum).
T_RES1 = 3e-6


def wake_cycles(clk_freq):
    """Cycles ``/CS`` stays high between ``0xAB`` and ``0x03`` at ``clk_freq`` Hz: tRES1."""
    return max(1, math.ceil(T_RES1 * clk_freq - 1e-6))


def read_cycles(length, *, clk_freq, divisor):
    """Cycles of a :class:`SpiFlashReader` read of ``length`` bytes, from the ``start`` cycle
    until ``busy`` falls (see :meth:`SpiFlashReader.read_cycles`): a fact of the parameters, so
    it is known without building a reader."""
    # The start cycle, 0xAB (8 bits), /CS high (wake), 0x03 and the address (32 bits), data.
    return 1 + 8 * divisor + wake_cycles(clk_freq) + (32 + 8 * length) * divisor


class SpiFlashReader(wiring.Component):
    """Reads ``length`` bytes from ``offset`` of a W25Q128JV-like SPI flash into a byte stream.

    A ``start`` pulse while idle latches ``offset`` and ``length`` and runs one read:
    Release Power-down (``0xAB``), ``/CS`` high for :attr:`wake_cycles`, then Read Data (``0x03``)
    at ``offset`` and ``length`` data bytes, then ``/CS`` high again. SCK runs at
    ``clk_freq / divisor``; a byte is sampled bit by bit at the clock edge that raises SCK (half
    an SCK period after the part changed CIPO). Before each data byte, SCK waits low while the
    previous byte is still on ``o`` untaken, so a slow consumer loses nothing; with a consumer that
    takes each byte within ``8 * divisor`` cycles the read takes exactly
    :meth:`read_cycles` cycles.

    Parameters
    ----------
    clk_freq : int or float
        Clock frequency in Hz (sets :attr:`wake_cycles`).
    divisor : int
        Clock cycles per SCK period, even and at least 2.
    length_width : int
        Width of ``length`` in bits (24 covers the whole part).

    Members
    -------
    start : In(1)
        Starts a read when high while ``busy`` is low.
    offset : In(24)
        Flash byte address of the first byte, latched at ``start``.
    length : In(length_width)
        Bytes to read, latched at ``start``; 0 wakes the part and reads nothing.
    o : Out(stream.Signature(8))
        The bytes read, in address order.
    busy : Out(1)
        High from the cycle after ``start`` until ``/CS`` is high again after the last byte.
    sck, cs_n, copi : Out(1)
        The SPI pins to the flash (``cs_n`` idles high; SCK idles low).
    cipo : In(1)
        The flash's data output.
    """

    def __init__(self, *, clk_freq, divisor=2, length_width=24):
        if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 2 \
                or divisor % 2:
            raise ValueError(f"divisor must be an even integer of at least 2, not {divisor!r}")
        if not isinstance(clk_freq, int | float) or isinstance(clk_freq, bool) or clk_freq <= 0:
            raise ValueError(f"clk_freq must be a positive number, not {clk_freq!r}")
        if not isinstance(length_width, int) or not 1 <= length_width <= 32:
            raise ValueError(f"length_width must be an integer from 1 to 32, not {length_width!r}")
        self._clk_freq = clk_freq
        self._divisor = divisor
        self._wake_cycles = wake_cycles(clk_freq)
        super().__init__({
            "start": In(1),
            "offset": In(24),
            "length": In(length_width),
            "o": Out(stream.Signature(8)),
            "busy": Out(1),
            "sck": Out(1),
            "cs_n": Out(1, init=1),
            "copi": Out(1),
            "cipo": In(1),
        })

    @property
    def divisor(self):
        """Clock cycles per SCK period."""
        return self._divisor

    @property
    def clk_freq(self):
        """Clock frequency in Hz."""
        return self._clk_freq

    @property
    def wake_cycles(self):
        """Cycles ``/CS`` stays high between ``0xAB`` and ``0x03`` (at least tRES1)."""
        return self._wake_cycles

    def read_cycles(self, length):
        """Cycles from the ``start`` cycle until ``busy`` falls, for a read of ``length`` bytes
        whose bytes are all taken within ``8 * divisor`` cycles of being offered."""
        return read_cycles(length, clk_freq=self._clk_freq, divisor=self._divisor)

    def elaborate(self, platform):
        m = Module()
        half = self._divisor // 2

        # Apart, so that with divisor 2 the SCK phases need no counter at all.
        timer = Signal(range(half), name="spi_timer")
        wake = Signal(range(self._wake_cycles), name="spi_wake_timer")
        # Both commands wait here from `start` on: 0xAB, then 0x03 and the address. Bit 39 is
        # on COPI; the next command is in place once one has been shifted out.
        shift = Signal(40, name="spi_shift_out")
        received = Signal(8, name="spi_shift_in")
        bits = Signal(range(33), name="spi_bits")  # bits left in the command or data byte
        remaining = Signal.like(self.length, name="spi_remaining")
        # `remaining == 0`, registered: a wide zero test off the path from SCK to the state.
        last = Signal(name="spi_last")

        m.d.comb += self.copi.eq(shift[-1])
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        def select(count):
            m.d.sync += [self.cs_n.eq(0), bits.eq(count), timer.eq(half - 1)]

        def shift_bits(last_bit_done, data=False):
            """One bit per SCK period: SCK low for `half` cycles, then high for `half` cycles;
            CIPO is sampled at the edge that raises SCK, COPI moves on at the edge that lowers
            it. `last_bit_done` runs at the edge that lowers SCK after the last bit."""
            with m.If(~self.sck):
                with m.If(data & (bits == 8) & self.o.valid & ~self.o.ready):
                    pass  # a data byte starts only when `o` is free for it
                with m.Elif(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    byte = Cat(self.cipo, received[:7])
                    m.d.sync += [self.sck.eq(1), received.eq(byte), timer.eq(half - 1)]
                    if data:
                        with m.If(bits == 1):
                            m.d.sync += [self.o.payload.eq(byte), self.o.valid.eq(1),
                                         remaining.eq(remaining - 1), last.eq(remaining == 1)]
            with m.Else():
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [self.sck.eq(0), shift.eq(shift << 1), bits.eq(bits - 1),
                                 timer.eq(half - 1)]
                    with m.If(bits == 1):
                        last_bit_done()

        def end_read():
            m.d.sync += self.cs_n.eq(1)
            m.next = "IDLE"

        with m.FSM(name="spi_flash"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        remaining.eq(self.length),
                        last.eq(self.length == 0),
                        shift.eq(Cat(self.offset, Const(CMD_READ_DATA, 8),
                                     Const(CMD_RELEASE_POWER_DOWN, 8))),
                    ]
                    select(8)
                    m.next = "WAKE"

            with m.State("WAKE"):
                m.d.comb += self.busy.eq(1)

                def woken():
                    m.d.sync += [self.cs_n.eq(1), wake.eq(self._wake_cycles - 1)]
                    m.next = "RES"
                shift_bits(woken)

            with m.State("RES"):  # /CS high for tRES1
                m.d.comb += self.busy.eq(1)
                with m.If(wake != 0):
                    m.d.sync += wake.eq(wake - 1)
                with m.Else():
                    select(32)
                    m.next = "COMMAND"

            with m.State("COMMAND"):
                m.d.comb += self.busy.eq(1)

                def addressed():
                    with m.If(last):
                        end_read()
                    with m.Else():
                        m.d.sync += bits.eq(8)
                        m.next = "DATA"
                shift_bits(addressed)

            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)

                def byte_done():
                    with m.If(last):
                        end_read()
                    with m.Else():
                        m.d.sync += bits.eq(8)
                shift_bits(byte_done, data=True)
        return m
