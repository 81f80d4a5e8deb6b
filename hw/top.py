"""A network behind a UART: request frames in, one inference each, response frames out.

The frame format is specified in ``docs/uart.md``; the constants and :func:`crc8` below are its one
definition, shared with the host side (:mod:`lwc.boards.uart_host`).
"""

from amaranth.hdl import Array, Cat, ClockDomain, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import io, memory, wiring
from amaranth.lib.wiring import In, Out

from .plan import StreamingPlan
from .spram_table import LoadFault
from .streaming import FLASH_SIGNATURE
from .uart import UartRx, UartTx

__all__ = [
    "REQUEST_START",
    "REQUEST_START_SCORES",
    "RESPONSE_START",
    "RESPONSE_START_SCORES",
    "REQUEST_STATUS",
    "RESPONSE_STATUS",
    "STATUS_READY",
    "STATUS_LOADING",
    "STATUS_FAULT",
    "status_text",
    "CRC8_POLY",
    "crc8",
    "check_front_end",
    "UartNetworkTop",
    "check_network",
    "uart_timing",
]

#: First byte of a request that asks for the predicted class only.
REQUEST_START = 0xA5
#: First byte of a request that asks for the class and all scores.
REQUEST_START_SCORES = 0xA6
#: First byte of a response that carries the class only.
RESPONSE_START = 0x5A
#: First byte of a response that carries the class and all scores.
RESPONSE_START_SCORES = 0x5B
#: First byte of a status request (``A7``, then its CRC-8): is the board ready to classify?
REQUEST_STATUS = 0xA7
#: First byte of a status response: ``5C``, the status byte, CRC-8.
RESPONSE_STATUS = 0x5C
#: Status: the network takes requests (its weights are in the bitstream, or loaded and checked).
STATUS_READY = 0x00
#: Status: the weight table is still being loaded from flash.
STATUS_LOADING = 0x01
#: Status: the weight table failed to load; the low bits are the
#: :class:`~lwc.hw.spram_table.LoadFault` (``0x81`` MAGIC, ``0x82`` LENGTH, ``0x83`` CRC). The board
#: answers no classification request until it is reset with a good image in flash.
STATUS_FAULT = 0x80
#: CRC-8 generator x^8 + x^2 + x + 1 (CRC-8/SMBUS: initial value 0, not reflected, no final xor).
CRC8_POLY = 0x07

_MAX_INPUTS = 0xFFFF
_MAX_CLASSES = 256
_MAX_SCORE_BYTES = 8
_MIN_TIMEOUT_BITS = 20
_BAUD_TOLERANCE = 0.02


def crc8(data, crc=0):
    """CRC-8/SMBUS of the bytes ``data``, continuing from ``crc``.

    ``crc8(b"123456789") == 0xF4`` (the catalogue check value).
    """
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC8_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def status_text(status):
    """What a status byte means, in words (for the host's messages)."""
    if status == STATUS_READY:
        return "ready"
    if status == STATUS_LOADING:
        return "still loading its weights from flash"
    if status & STATUS_FAULT and (status & ~STATUS_FAULT) in {f.value for f in LoadFault} - {0}:
        fault = LoadFault(status & ~STATUS_FAULT)
        why = {LoadFault.MAGIC: "no weights image in flash (wrong magic: erased, or not written)",
               LoadFault.LENGTH: "the weights image in flash is for another design (wrong "
                                 "length)",
               LoadFault.CRC: "the weights image in flash is damaged or cut short (CRC-32 "
                              "mismatch)"}[fault]
        return f"weights failed to load: {why}"
    return f"unknown status 0x{status:02X}"


def _crc8_next(crc, byte):
    """The CRC-8 after ``byte``, as combinational logic: one XOR of a few bits per output bit.

    A byte step of this CRC is linear over GF(2) in ``crc ^ byte``, so each output bit is the XOR of
    the input bits whose unit vectors set it.
    """
    value = crc ^ byte
    bits = []
    for j in range(8):
        taps = [value[i] for i in range(8) if (crc8([1 << i]) >> j) & 1]
        bit = taps[0]
        for tap in taps[1:]:
            bit = bit ^ tap
        bits.append(bit)
    return Cat(*bits)


def check_front_end(*, input_count, input_bits, n_classes, score_width, clk_freq=None,
                    baud=115200, timeout=10e-3):
    """Refuse (``ValueError``, the message :class:`UartNetworkTop` gives) a network of these
    facts, or a line rate and timeout, that the front end cannot serve; the timing is checked
    only when ``clk_freq`` (Hz) is known. Nothing is built: a caller can check before it lowers
    a network for the front end."""
    if input_bits > 8:
        raise ValueError(f"the UART front end sends one byte per input feature; input_bits "
                         f"must be at most 8, not {input_bits}")
    if not 1 <= input_count <= _MAX_INPUTS:
        raise ValueError(f"the UART front end supports 1 to {_MAX_INPUTS} inputs, not "
                         f"{input_count}")
    if n_classes > _MAX_CLASSES:
        raise ValueError(f"the UART front end sends the class in one byte; n_classes must be "
                         f"at most {_MAX_CLASSES}, not {n_classes}")
    if score_width > 8 * _MAX_SCORE_BYTES:
        raise ValueError(f"score_width must be at most {8 * _MAX_SCORE_BYTES}, not "
                         f"{score_width}")
    if not baud > 0:
        raise ValueError(f"baud must be positive, not {baud!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    if clk_freq is not None:
        uart_timing(clk_freq, baud=baud, timeout=timeout)


def check_network(network, *, baud=115200, timeout=10e-3):
    """:class:`TypeError` or :class:`ValueError` unless a :class:`UartNetworkTop` can be built
    around ``network`` at ``baud`` with ``timeout`` (checked before one is made)."""
    for name in ("plan", "input_count", "input_bits", "n_classes", "score_width",
                 "label_width"):
        if not hasattr(network, name):
            raise TypeError(f"network must have the lwc network contract (no {name!r}), "
                            f"not {network!r}")
    check_front_end(input_count=network.input_count, input_bits=network.input_bits,
                    n_classes=network.n_classes, score_width=network.score_width,
                    baud=baud, timeout=timeout)
    # A streaming network takes its vector over several transfers, from a memory.
    if isinstance(network.plan, StreamingPlan) and network.transfers_per_vector != \
            -(-network.input_count // network.features_per_cycle):
        raise ValueError(f"transfers_per_vector {network.transfers_per_vector} does not match "
                         f"{network.input_count} inputs at {network.features_per_cycle} per "
                         f"transfer")


def uart_timing(clk_freq, *, baud, timeout):
    """``(divisor, timeout_cycles)`` of a :class:`UartNetworkTop` clocked at ``clk_freq``, or
    :class:`ValueError` when the clock cannot make ``baud`` or ``timeout`` is under 20 bit
    times."""
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(f"clk_freq / baud must be at least 4 cycles per bit, not "
                         f"{clk_freq:g} / {baud:g}")
    error = abs(clk_freq / divisor - baud) / baud
    if error > _BAUD_TOLERANCE:
        raise ValueError(f"baud {baud:g} cannot be made from a {clk_freq:g} Hz clock "
                         f"within 2 % (nearest is {clk_freq / divisor:.0f})")
    timeout_cycles = round(timeout * clk_freq)
    if timeout_cycles < _MIN_TIMEOUT_BITS * divisor:
        raise ValueError(f"timeout must be at least {_MIN_TIMEOUT_BITS} bit times "
                         f"({_MIN_TIMEOUT_BITS / baud:g} s at {baud:g} baud), not "
                         f"{timeout:g}")
    return divisor, timeout_cycles


class UartNetworkTop(wiring.Component):
    """A network component behind an 8N1 UART, answering one request frame with one response.

    Request (host to board): ``A5`` or ``A6`` (``A6`` asks for the scores too), the input count as
    16 bits little-endian, a tag byte echoed in the response, one byte per input feature, and a
    CRC-8 of all bytes before it. Response: ``5A`` (``5B`` with scores), the tag, the predicted
    class, with scores one byte giving the bytes per score then every score sign-extended to that
    many bytes little-endian, and a CRC-8 of all bytes before it. A frame with a wrong start byte,
    wrong length, out-of-range feature, bad CRC, framing error, or a gap of more than ``timeout``
    between two of its bytes gets no response; the parser goes back to hunting for a start byte.
    A request that arrives while a previous input vector still waits for the network is dropped
    (no response). A status request (``A7`` and its CRC-8) is answered with ``5C``, a status
    byte (:data:`STATUS_READY`, :data:`STATUS_LOADING`, or :data:`STATUS_FAULT` with the
    :class:`~lwc.hw.spram_table.LoadFault`) and a CRC-8. See ``docs/uart.md``.

    A streaming network whose weight table is in SPRAM loads it from flash after reset and takes
    no vector before the load has checked (none at all after a bad one): the top wires its
    ``flash`` pins to the board's SPI flash (``spi_flash_1x``) and lights LED 0 (red on the
    iCEBreaker) when the load fails.

    Parameters
    ----------
    network : TernaryNetwork or StreamingNetwork
        A network component (with the :class:`~lwc.hw.network.NetworkContract`), e.g. the
        result of
        :func:`lwc.compiler.lower.lower`. ``input_bits`` must be at most 8. A streaming network
        (a :class:`~lwc.hw.plan.StreamingPlan`), which takes its input vector over several
        transfers, gets the checked frame from a memory (block RAM), one transfer of
        ``features_per_cycle`` features per cycle; a parallel network gets the whole vector in
        one transfer from a shift register.
    clk_freq : float or None
        Clock frequency in Hz. ``None`` takes the platform's default clock at elaboration.
    baud : int
        Line rate in bits per second; ``clk_freq / baud`` must be within 2 % of an integer of at
        least 4.
    timeout : float
        Seconds of silence inside a frame after which the partial frame is dropped; at least 20 bit
        times.
    clock : Elaboratable or None
        What drives the ``sync`` domain's clock and reset (a PLL, :class:`lwc.boards.pll.
        PllClock`), elaborated as the submodule ``clock``; the top then defines the domain, and
        ``clk_freq`` must be that clock's frequency. ``None`` leaves the domain to the platform
        (its default clock) or the simulator.

    Members
    -------
    rx : In(1)
        Serial input (used when elaborated without a platform; idles high).
    tx : Out(1)
        Serial output (also driven when elaborated with a platform).
    busy : Out(1)
        High while a frame is being received, an inference is waiting or running, a response is
        being sent, or the weight table is loading.
    flash : Out(FLASH_SIGNATURE)
        Only for a network with its weight table in SPRAM: the SPI flash pins (used when
        elaborated without a platform; with one, the board's flash is driven).
    load_error : Out(1)
        Only for such a network: high once the table failed to load (also on LED 0 with a
        platform).
    """

    def __init__(self, network, *, clk_freq=None, baud=115200, timeout=10e-3, clock=None):
        check_network(network, baud=baud, timeout=timeout)
        if clock is not None and clk_freq is None:
            raise ValueError("clk_freq must be given with a clock")
        self._clock = clock
        # A streaming network takes its vector over several transfers, from a memory.
        self._chunked = isinstance(network.plan, StreamingPlan)
        self._network = network
        self._baud = baud
        self._timeout = timeout
        self._clk_freq = clk_freq
        self._timing = None if clk_freq is None else self._derive_timing(clk_freq)
        # A network that loads its weight table from flash at boot (``flash`` and ``boot``).
        self._booting = self._chunked and network.plan.weights == "spram"
        members = {"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)}
        if self._booting:
            members.update(flash=Out(FLASH_SIGNATURE), load_error=Out(1))
        super().__init__(members)

    def _derive_timing(self, clk_freq):
        return uart_timing(clk_freq, baud=self._baud, timeout=self._timeout)

    def _require_timing(self):
        if self._timing is None:
            raise ValueError("clk_freq is not known until elaboration on a platform; pass "
                             "clk_freq= to read the timing properties")
        return self._timing

    @property
    def network(self):
        """The network component inside."""
        return self._network

    @property
    def clk_freq(self):
        """Clock frequency in Hz (``None`` until known)."""
        return self._clk_freq

    @property
    def baud(self):
        """Requested line rate in bits per second."""
        return self._baud

    @property
    def divisor(self):
        """Clock cycles per bit."""
        return self._require_timing()[0]

    @property
    def timeout_cycles(self):
        """Cycles of silence inside a frame after which the partial frame is dropped."""
        return self._require_timing()[1]

    @property
    def score_bytes(self):
        """Bytes per score in a scored response (``ceil(score_width / 8)``, at least 1)."""
        return max(1, -(-self._network.score_width // 8))

    @property
    def request_bytes(self):
        """Bytes in a request frame: start, 2 length bytes, tag, ``input_count`` features, CRC."""
        return 5 + self._network.input_count

    @property
    def response_bytes(self):
        """Bytes in a class-only response: start, tag, class, CRC."""
        return 4

    @property
    def scored_response_bytes(self):
        """Bytes in a scored response: start, tag, class, bytes per score, scores, CRC."""
        return 5 + self._network.n_classes * self.score_bytes

    def elaborate(self, platform):
        m = Module()
        if self._timing is None:
            if platform is None:
                raise ValueError("clk_freq must be given when elaborating without a platform")
            self._clk_freq = platform.default_clk_frequency
            self._timing = self._derive_timing(self._clk_freq)
        divisor, timeout_cycles = self._timing

        net = self._network
        count, bits = net.input_count, net.input_bits
        n_classes, score_bytes = net.n_classes, self.score_bytes

        if self._clock is not None:
            m.domains.sync = ClockDomain("sync")
            m.submodules.clock = self._clock
        m.submodules.network = net
        m.submodules.uart_rx = uart_rx = UartRx(divisor)
        m.submodules.uart_tx = uart_tx = UartTx(divisor)

        if platform is not None:
            pins = platform.request("uart", 0, dir="-")
            m.submodules.rx_buffer = rx_buffer = io.Buffer("i", pins.rx)
            m.submodules.tx_buffer = tx_buffer = io.Buffer("o", pins.tx)
            m.d.comb += [uart_rx.rx.eq(rx_buffer.i), tx_buffer.o.eq(uart_tx.tx)]
        else:
            m.d.comb += uart_rx.rx.eq(self.rx)
        m.d.comb += self.tx.eq(uart_tx.tx)

        # --- Boot: the network's weight table from the board's flash ----------------------------
        if self._booting:
            m.d.comb += [
                self.flash.sck.eq(net.flash.sck), self.flash.cs_n.eq(net.flash.cs_n),
                self.flash.copi.eq(net.flash.copi), self.load_error.eq(net.boot.error),
            ]
            if platform is not None:
                flash = platform.request("spi_flash_1x", 0, dir="-")
                m.submodules.flash_cs = cs = io.Buffer("o", flash.cs)  # inverted: cs is cs_n
                m.submodules.flash_clk = sck = io.Buffer("o", flash.clk)
                m.submodules.flash_copi = copi = io.Buffer("o", flash.copi)
                m.submodules.flash_cipo = cipo = io.Buffer("i", flash.cipo)
                m.submodules.led_error = led = io.Buffer("o", platform.request("led", 0, dir="-"))
                m.d.comb += [cs.o.eq(~net.flash.cs_n), sck.o.eq(net.flash.sck),
                             copi.o.eq(net.flash.copi), net.flash.cipo.eq(cipo.i),
                             led.o.eq(net.boot.error)]
            else:
                m.d.comb += net.flash.cipo.eq(self.flash.cipo)
            status = Mux(net.boot.error, STATUS_FAULT | net.boot.fault.as_value(),
                         Mux(net.boot.ready, STATUS_READY, STATUS_LOADING))
            loading = ~net.boot.ready & ~net.boot.error
        else:
            status = Const(STATUS_READY, 8)
            loading = Const(0)

        # --- Request parser --------------------------------------------------------------------
        # The receiver's byte, valid and error are registered before the parser reads them: at a
        # PLL's clock the receiver's state logic and the parser do not fit one cycle together.
        # Every one of them is one cycle later, so their order is kept.
        byte = Signal(8, name="rx_byte")
        got = Signal(name="rx_got")
        rx_error = Signal(name="rx_error")
        m.d.sync += [byte.eq(uart_rx.o.payload), got.eq(uart_rx.o.valid),
                     rx_error.eq(uart_rx.error)]
        m.d.comb += uart_rx.o.ready.eq(1)

        # The byte's comparisons with the constants of the frame format are registered with it
        # (the parser's state logic then starts from one flag, not an 8-bit comparison).
        flags = {}

        def byte_is(value):
            if value not in flags:
                flags[value] = Signal(name=f"rx_byte_is_{value:02x}")
                m.d.sync += flags[value].eq(uart_rx.o.payload == value)
            return flags[value]

        # Every constant is made here, before the parser's If/Elif chains add statements.
        for value in (REQUEST_START, REQUEST_START_SCORES, REQUEST_STATUS,
                      crc8([REQUEST_STATUS]), count & 0xFF, count >> 8):
            byte_is(value)
        # A start byte got, as one flag registered with the byte.
        got_start = Signal(name="rx_got_start")
        m.d.sync += got_start.eq(uart_rx.o.valid & ((uart_rx.o.payload == REQUEST_START)
                                                     | (uart_rx.o.payload == REQUEST_START_SCORES)))
        req_crc = Signal(8)
        # So is its comparison with the request's CRC (which only changes when a byte is got,
        # a byte time before the CRC byte can arrive).
        crc_match = Signal(name="rx_byte_is_crc")
        m.d.sync += crc_match.eq(uart_rx.o.payload == req_crc)
        req_crc_next = _crc8_next(req_crc, byte)
        req_tag = Signal(8)
        req_scores = Signal()
        req_left = Signal(range(max(count, 2)))
        req_bad = Signal()  # a feature byte above 2**bits - 1
        req_drop = Signal()  # a feature byte arrived while the previous vector still waited
        if self._chunked:
            # The checked frame waits in a memory (block RAM) of one word per transfer; features
            # are gathered into ``frame_word`` until a word is full (or the frame ends) and written.
            per, words = net.features_per_cycle, net.transfers_per_vector
            m.submodules.frame = frame = memory.Memory(
                shape=unsigned(per * bits), depth=words, init=[])
            frame_wr = frame.write_port()
            frame_rd = frame.read_port(transparent_for=())
            frame_word = Signal(per * bits)
            frame_fill = Signal(range(per))  # features already in ``frame_word``
            frame_addr = Signal(range(words))  # the word being gathered
            play_addr = Signal(range(words))  # the word on offer to the network
        else:
            features = Signal(count * bits)
            # A feature is shifted in one cycle after its byte, by registers: the shift enable
            # reaches every bit of the vector (thousands of flip-flops on MNIST), and the
            # parser's state logic in front of that fan-out missed 100 MHz on the ECP5.
            shift = Signal(name="feature_shift")
            shift_in = Signal(bits, name="feature_in")
            m.d.sync += shift.eq(0)
            with m.If(shift):
                # Feature 0 arrives first and ends up in the lowest bits.
                m.d.sync += features.eq(Cat(features[bits:], shift_in))
        silence = Signal(range(timeout_cycles + 1))

        vec_valid = Signal()  # ``features`` holds a checked vector for the network
        vec_tag = Signal(8)
        vec_scores = Signal()

        def start_frame():
            return [
                req_scores.eq(byte_is(REQUEST_START_SCORES)),
                # Only a start byte starts a frame, so the CRC after it is one of two constants.
                req_crc.eq(Mux(byte_is(REQUEST_START_SCORES), crc8([REQUEST_START_SCORES]),
                               crc8([REQUEST_START]))),
                req_bad.eq(0),
                req_drop.eq(0),
            ]

        # ``silence == timeout_cycles``, as a register set with ``silence`` (the wide comparison
        # is off the parser's state logic).
        timed_out = Signal(name="rx_timed_out")
        with m.If(got):
            m.d.sync += [silence.eq(0), timed_out.eq(0)]
        with m.Else():
            m.d.sync += [silence.eq(silence + 1), timed_out.eq(silence == timeout_cycles - 1)]

        # A truncated frame (silence) or a framing error abandons the frame, in every state.
        abandon = rx_error | timed_out

        status_pending = Signal(name="status_pending")  # a status request waits for its answer

        def expect(value, then, actions):
            """A header state: the byte ``value`` moves on to ``then``, doing ``actions``. A
            start byte instead starts a new frame, so garbage that ends in a start byte does not
            swallow the frame after it; any other byte, or an abandoned frame, hunts again."""
            if value in (REQUEST_START, REQUEST_START_SCORES):
                with m.If(got & byte_is(value)):
                    m.d.sync += actions
                    m.next = then
                with m.Elif(got_start):
                    m.d.sync += start_frame()
                    m.next = "LEN_LO"
            else:
                # The two tests cannot both pass; testing the start first keeps ``byte_is(value)``
                # out of the enables of the frame's registers (the parser's critical path).
                with m.If(got_start):
                    m.d.sync += start_frame()
                    m.next = "LEN_LO"
                with m.Elif(got & byte_is(value)):
                    m.d.sync += actions
                    m.next = then
            with m.Elif(got):
                m.next = "HUNT"
            with m.If(abandon):
                m.next = "HUNT"

        with m.FSM(name="uart_req") as req_fsm:
            with m.State("HUNT"):
                with m.If(got_start):
                    m.d.sync += start_frame()
                    m.next = "LEN_LO"
                with m.Elif(got & byte_is(REQUEST_STATUS)):
                    m.next = "STATUS"
            with m.State("STATUS"):
                expect(crc8([REQUEST_STATUS]), "HUNT", status_pending.eq(1))
            with m.State("LEN_LO"):
                expect(count & 0xFF, "LEN_HI", req_crc.eq(req_crc_next))
            with m.State("LEN_HI"):
                expect(count >> 8, "TAG", req_crc.eq(req_crc_next))
            with m.State("TAG"):
                with m.If(got):
                    m.d.sync += [req_tag.eq(byte), req_crc.eq(req_crc_next), req_left.eq(count - 1)]
                    if self._chunked:
                        m.d.sync += [frame_word.eq(0), frame_fill.eq(0), frame_addr.eq(0)]
                    m.next = "DATA"
                with m.If(abandon):
                    m.next = "HUNT"
            with m.State("DATA"):
                with m.If(got):
                    m.d.sync += [req_crc.eq(req_crc_next), req_left.eq(req_left - 1)]
                    with m.If(vec_valid):
                        m.d.sync += req_drop.eq(1)
                    with m.Else():
                        if self._chunked:
                            gathered = frame_word | (byte[:bits] << (frame_fill * bits))
                            with m.If((frame_fill == per - 1) | (req_left == 0)):
                                m.d.comb += [frame_wr.en.eq(1), frame_wr.addr.eq(frame_addr),
                                             frame_wr.data.eq(gathered)]
                                m.d.sync += [frame_word.eq(0), frame_fill.eq(0),
                                             frame_addr.eq(frame_addr + 1)]
                            with m.Else():
                                m.d.sync += [frame_word.eq(gathered),
                                             frame_fill.eq(frame_fill + 1)]
                        else:
                            m.d.sync += [shift.eq(1), shift_in.eq(byte[:bits])]
                    if bits < 8:
                        with m.If(byte[bits:] != 0):
                            m.d.sync += req_bad.eq(1)
                    with m.If(req_left == 0):
                        m.next = "CHECK"
                with m.If(abandon):
                    m.next = "HUNT"
            with m.State("CHECK"):
                with m.If(got):
                    with m.If(crc_match & ~req_bad & ~req_drop):
                        m.d.sync += [
                            vec_valid.eq(1),
                            vec_tag.eq(req_tag),
                            vec_scores.eq(req_scores),
                        ]
                    m.next = "HUNT"
                with m.If(abandon):
                    m.next = "HUNT"

        # --- Network: one inference in flight, so the tag and flag need one register each --------
        # The network's output is taken into the response registers as soon as no response is
        # being sent, so its ready is a register's output: the UART transmitter's timing never
        # reaches into the network's pipeline enables (the critical path at a PLL's clock).
        in_flight = Signal()
        flight_tag = Signal(8)
        flight_scores = Signal()
        m.d.comb += net.i.valid.eq(vec_valid & ~in_flight)
        if self._chunked:
            # The read port shows the word at ``play_addr`` one cycle after the address: the
            # address moves on in the cycle a transfer is taken, so the next word is there in
            # time. The frame was written at least a byte time before ``vec_valid`` rose.
            taken = net.i.valid & net.i.ready
            last = play_addr == words - 1
            next_addr = Mux(last, 0, play_addr + 1)
            m.d.comb += [
                frame_rd.addr.eq(Mux(taken, next_addr, play_addr)),
                net.i.payload.eq(frame_rd.data),
            ]
            with m.If(taken):
                m.d.sync += play_addr.eq(next_addr)
            in_accept = taken & last  # the whole vector has been taken
        else:
            m.d.comb += net.i.payload.eq(features)
            in_accept = net.i.valid & net.i.ready
        sending = Signal()
        m.d.comb += net.o.ready.eq(~sending)
        out_accept = net.o.valid & net.o.ready
        with m.If(in_accept):
            m.d.sync += [
                vec_valid.eq(0),
                flight_tag.eq(vec_tag),
                flight_scores.eq(vec_scores),
            ]
        if self._booting:
            # After a failed load the network takes nothing: a checked vector is dropped
            # unanswered, so the board is not busy for ever.
            with m.If(net.boot.error):
                m.d.sync += vec_valid.eq(0)
        with m.If(in_accept & ~out_accept):
            m.d.sync += in_flight.eq(1)
        with m.Elif(out_accept & ~in_accept):
            m.d.sync += in_flight.eq(0)
        # A zero-latency network has its output valid before its input is accepted; then the
        # vector, with its tag, is still waiting in ``features``.
        out_tag = Signal(8, name="resp_tag")
        out_scores = Signal(name="resp_with_scores")
        out_payload = Signal(net.o.payload.shape(), name="resp_payload")
        with m.If(out_accept):
            m.d.sync += [out_tag.eq(Mux(in_flight, flight_tag, vec_tag)),
                         out_scores.eq(Mux(in_flight, flight_scores, vec_scores)),
                         out_payload.eq(net.o.payload)]

        # --- Response serializer ---------------------------------------------------------------
        # A status response (5C, status, CRC) is sent when no network output waits: the
        # status is taken into ``out_tag``'s place, the second byte.
        out_status = Signal(name="resp_status")
        status_go = status_pending & ~sending & ~net.o.valid
        with m.If(status_go):
            m.d.sync += [status_pending.eq(0), out_status.eq(1), out_tag.eq(status)]
        with m.Elif(out_accept):
            m.d.sync += out_status.eq(0)
        label = Signal(8)
        m.d.comb += label.eq(out_payload.label)
        resp_bytes = [
            Mux(out_status, Const(RESPONSE_STATUS, 8),
                Mux(out_scores, Const(RESPONSE_START_SCORES, 8), Const(RESPONSE_START, 8))),
            out_tag,
            label,
            Const(score_bytes, 8),
        ]
        for k in range(n_classes):
            wide = Signal(signed(8 * score_bytes), name=f"resp_score{k}")
            m.d.comb += wide.eq(out_payload.scores[k])
            resp_bytes += [wide[8 * b:8 * (b + 1)] for b in range(score_bytes)]

        resp_index = Signal(range(len(resp_bytes)))  # the payload byte being sent
        resp_at_crc = Signal()  # every payload byte is sent; the CRC byte is on offer
        resp_crc = Signal(8)
        resp_byte = Array(resp_bytes)[resp_index]
        resp_last = Mux(out_status, 1, Mux(out_scores, len(resp_bytes) - 1, 2))

        # The byte on offer to the transmitter is a register, filled the cycle after the last one
        # was taken (a character later than needed): the byte multiplexer and the CRC are then
        # apart from the transmitter's ready.
        tx_byte = Signal(8, name="resp_tx_byte")
        tx_full = Signal(name="resp_tx_full")
        with m.If(out_accept | status_go):
            m.d.sync += [sending.eq(1), resp_index.eq(0), resp_at_crc.eq(0), resp_crc.eq(0)]
        with m.If(sending & ~tx_full):
            m.d.sync += [tx_byte.eq(Mux(resp_at_crc, resp_crc, resp_byte)), tx_full.eq(1)]
        m.d.comb += [
            uart_tx.i.valid.eq(tx_full),
            uart_tx.i.payload.eq(tx_byte),
        ]
        with m.If(uart_tx.i.valid & uart_tx.i.ready):
            m.d.sync += tx_full.eq(0)
            with m.If(resp_at_crc):
                m.d.sync += sending.eq(0)
            with m.Else():
                m.d.sync += [
                    resp_crc.eq(_crc8_next(resp_crc, tx_byte)),
                    resp_index.eq(resp_index + 1),
                    resp_at_crc.eq(resp_index == resp_last),
                ]

        m.d.comb += self.busy.eq(
            ~req_fsm.ongoing("HUNT") | uart_rx.busy | got | vec_valid | in_flight | sending
            | uart_tx.busy | status_pending | loading)
        return m
