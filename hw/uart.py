"""8N1 UART receiver and transmitter with :mod:`amaranth.lib.stream` byte interfaces.

A character is a start bit (0), eight data bits least significant first, and a stop bit (1); every
bit lasts ``divisor`` clock cycles. The line idles high. Neither side has flow control: the
receiver holds one byte until it is taken, and drops a byte that completes while the previous one
is still waiting (it pulses ``overrun``).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "check_divisor"]


def check_divisor(divisor):
    """``divisor`` (clock cycles per bit of :class:`UartRx` and :class:`UartTx`), or
    :class:`ValueError` unless it is an integer of at least 4."""
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
        raise ValueError(f"divisor must be an integer of at least 4, not {divisor!r}")
    return divisor


class UartRx(wiring.Component):
    """8N1 receiver.

    The ``rx`` pin goes through a two-flip-flop synchronizer. A falling edge starts a character;
    the line is sampled in the middle of each bit (``divisor // 2`` cycles after the edge, then
    every ``divisor`` cycles). A start bit that is high again at its middle is a glitch and is
    ignored, so low pulses shorter than about ``divisor // 2`` cycles never make a byte. A low stop
    bit is a framing error: the byte is discarded, ``error`` pulses, and the receiver waits for the
    line to go high (a break) before looking for the next start bit.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4 (``round(clk_freq / baud)``).

    Members
    -------
    rx : In(1)
        The serial input pin (asynchronous; idles high).
    o : Out(stream.Signature(8))
        Received bytes. ``valid`` stays high until the byte is taken.
    error : Out(1)
        Pulses for one cycle when a character has a low stop bit.
    overrun : Out(1)
        Pulses for one cycle when a byte is dropped because the previous one was not yet taken.
    busy : Out(1)
        High from a detected start edge until the stop bit has been sampled.
    """

    def __init__(self, divisor):
        self._divisor = check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "error": Out(1),
            "overrun": Out(1),
            "busy": Out(1),
        })

    @property
    def divisor(self):
        """Clock cycles per bit."""
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        divisor = self._divisor

        rx = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(divisor))
        bit_index = Signal(range(8))
        shift = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM(name="uart_rx"):
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(_count_down(timer))
                with m.Elif(rx):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(divisor - 1), bit_index.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(_count_down(timer))
                with m.Else():
                    m.d.sync += [
                        timer.eq(divisor - 1),
                        shift.eq(Cat(shift[1:], rx)),
                        bit_index.eq(bit_index + 1),
                    ]
                    with m.If(bit_index == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(_count_down(timer))
                with m.Elif(rx):
                    # Back to IDLE in the middle of the stop bit, so a transmitter whose clock is a
                    # little fast still has its next start edge seen.
                    with m.If(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 transmitter.

    A byte offered on ``i`` is taken when the transmitter is idle, or in the last cycle of the
    previous stop bit, so bytes offered back to back go out with no idle time between characters
    (``10 * divisor`` cycles each). ``tx`` comes straight from a flip-flop and idles high.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial output pin.
    busy : Out(1)
        High while a character is on the line.
    """

    def __init__(self, divisor):
        self._divisor = check_divisor(divisor)
        super().__init__({
            "i": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    @property
    def divisor(self):
        """Clock cycles per bit."""
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        divisor = self._divisor

        shift = Signal(10, init=(1 << 10) - 1)  # stop, data[7:0], start; bit 0 is on the line
        timer = Signal(range(divisor))
        # ``timer == 0``, as a register set with ``timer``: the ready's logic (which reaches the
        # response's registers) then starts from one flip-flop.
        timer_zero = Signal(init=1)
        bits_left = Signal(range(11))

        m.d.comb += [
            self.tx.eq(shift[0]),
            self.busy.eq(bits_left != 0),
            self.i.ready.eq((bits_left == 0) | ((bits_left == 1) & timer_zero)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                shift.eq(Cat(0, self.i.payload, 1)),
                bits_left.eq(10),
                timer.eq(divisor - 1),
                timer_zero.eq(0),
            ]
        with m.Elif(bits_left != 0):
            with m.If(~timer_zero):
                m.d.sync += [timer.eq(_count_down(timer)), timer_zero.eq(timer == 1)]
            with m.Else():
                m.d.sync += [
                    shift.eq(Cat(shift[1:], 1)),
                    bits_left.eq(bits_left - 1),
                    timer.eq(divisor - 1),
                    timer_zero.eq(0),
                ]
        return m


def _count_down(timer):
    """``timer - 1`` for a ``timer`` that is not 0, in LUTs rather than a carry chain: bit ``k``
    flips when every bit below it is 0. At the UP5K's 48 MHz nextpnr split the transmitter's
    9-bit carry chain into four pieces (a LUT and a route between each), 20.4 ns from the
    timer's low bit to its high bit: the design's critical path."""
    return Cat(~timer[0], *(timer[k] ^ ~timer[:k].any() for k in range(1, len(timer))))
