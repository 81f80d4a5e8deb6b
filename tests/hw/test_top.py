"""UartNetworkTop, byte by byte on its pins, against the golden model.

The network inside is the real one (``lwc.compiler.lower.lower``). Frames are built here from
``docs/uart.md`` (not with the host code), driven onto ``rx`` by the bit-level reference model, and
everything that comes out of ``tx`` is compared with the exact expected byte stream, so a response
that should not exist fails the test as surely as a wrong one.
"""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.icestick import ICEStickPlatform

from lwc.compiler.architecture import Streaming
from lwc.compiler.driver import compile_design
from lwc.compiler.golden import evaluate
from lwc.compiler.lower import lower, plan
from lwc.compiler.passes import compile_network
from lwc.hw.spram_table import LoadFault
from lwc.hw.top import (
    REQUEST_STATUS,
    RESPONSE_STATUS,
    STATUS_FAULT,
    STATUS_LOADING,
    STATUS_READY,
    UartNetworkTop,
    check_network,
    crc8,
    status_text,
    uart_timing,
)
from lwc.sim.spi_flash_model import FlashModel, amaranth_flash
from lwc.sim.uart_board import uart_recv, uart_send
from lwc.weights_image import ICEBREAKER_OFFSET

DIVISOR = 4
TIMEOUT_BITS = 40
BAUD = 1_000_000


def _top(network, *, timeout_bits=TIMEOUT_BITS):
    return UartNetworkTop(network, clk_freq=BAUD * DIVISOR, baud=BAUD,
                          timeout=timeout_bits / BAUD)


def _elaborated(top):
    """``top``, elaborated (with the network inside it) as a build would."""
    Fragment.get(top, None)
    return top


class _Facts:
    """The network contract that :class:`UartNetworkTop` checks, read from a plan: what a network
    of that plan would answer, without making one."""

    def __init__(self, design, **lies):
        self.plan, self._lies = design, lies

    def __getattr__(self, name):
        return self._lies[name] if name in self._lies else getattr(self.plan, name)


def _request(vector, *, scores=False, tag=0, length=None, crc_delta=0):
    """A request frame per docs/uart.md; ``length`` and ``crc_delta`` make wrong ones."""
    length = len(vector) if length is None else length
    frame = bytes([0xA6 if scores else 0xA5, length & 0xFF, length >> 8, tag,
                   *(int(v) for v in vector)])
    return frame + bytes([(crc8(frame) + crc_delta) & 0xFF])


def _response(tag, label, scores=None, score_bytes=1):
    if scores is None:
        frame = bytes([0x5A, tag, label])
    else:
        frame = bytes([0x5B, tag, label, score_bytes]) + b"".join(
            int(s).to_bytes(score_bytes, "little", signed=True) for s in scores)
    return frame + bytes([crc8(frame)])


def _expected(top, net, vectors, tags, scores):
    trace = evaluate(net, np.asarray(vectors))
    return b"".join(
        _response(tag, int(trace.predictions[k]),
                  tuple(trace.scores[k]) if want else None, top.score_bytes)
        for k, (tag, want) in enumerate(zip(tags, scores)))


def _run(top, script, *, flash=None, limit=True):
    """Send ``script`` (a list of ``(bytes, idle bit times after)``) to ``top.rx``; return every
    byte that came out of ``top.tx`` once the top is idle again. ``flash``: a testbench serving
    the top's flash pins, in the background; ``limit=False``: no watchdog."""
    received = []

    async def drive(ctx):
        for data, gap in script:
            await uart_send(ctx, top.rx, data, DIVISOR)
            for _ in range(gap * DIVISOR):
                await ctx.tick()
        for _ in range(4 * DIVISOR):
            await ctx.tick()
        while ctx.get(top.busy):
            await ctx.tick()
        for _ in range(20 * DIVISOR):
            await ctx.tick()

    async def monitor(ctx):
        while True:
            byte, stop_ok = await uart_recv(ctx, top.tx, DIVISOR)
            assert stop_ok
            received.append(byte)

    _simulate(top, drive, monitor, background=() if flash is None else (flash,),
              limit=sum(len(d) * 10 + g for d, g in script) * 3 + 2000 if limit else None)
    return bytes(received)


def _simulate(top, drive, monitor, *, limit, background=()):
    """Run ``drive`` to its end with ``monitor`` and ``background`` in the background; fail
    after ``limit`` bit times (a hang is a bug; ``None``: no limit)."""
    async def watchdog(ctx):
        await ctx.delay(limit / BAUD)
        raise AssertionError(f"testbench still running after {limit} bit times")

    sim = Simulator(top)
    sim.add_clock(1 / (BAUD * DIVISOR))
    sim.add_testbench(drive)
    sim.add_testbench(monitor, background=True)
    for testbench in background:
        sim.add_testbench(testbench, background=True)
    if limit is not None:
        sim.add_testbench(watchdog, background=True)
    sim.run()


def _lively(make_network, rng, **kwargs):
    """The first network drawn whose answers vary with its input, so a garbled or misrouted
    vector shows (most small random networks are nearly constant)."""
    for _ in range(100):
        net = make_network(rng, **kwargs)
        x = rng.integers(0, net.input.max_value + 1, size=(32, net.input.count))
        trace = evaluate(net, x)
        if len(set(trace.predictions)) >= 2 and len({tuple(r) for r in trace.scores}) >= 12:
            return net
    raise AssertionError("no network with varied answers drawn")


@pytest.fixture
def small(rng, make_network):
    net = _lively(make_network, rng, inputs=6, hidden=(6,), outputs=3, bits=4, density=0.6,
                  kinds=("clip",))
    return net, lower(compile_network(net))


def _good(net, rng, n):
    return rng.integers(0, net.input.max_value + 1, size=(n, net.input.count))


def test_crc8_is_crc8_smbus():
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0


def test_frames_match_golden_back_to_back(small, rng, make_vectors):
    """Every adversarial vector, with and without scores, at full line rate."""
    net, network = small
    top = _top(network)
    vectors = make_vectors(net, rng, n_random=16)
    tags = [(37 * k + 5) & 0xFF for k in range(len(vectors))]
    scores = [k % 3 == 1 for k in range(len(vectors))]
    assert len(set(evaluate(net, vectors).predictions)) > 1
    script = [(b"".join(_request(v, scores=s, tag=t) for v, s, t in zip(vectors, scores, tags)), 0)]
    assert _run(top, script) == _expected(top, net, vectors, tags, scores)


def test_multibyte_scores_are_sign_extended(rng, make_network, make_vectors):
    net = make_network(rng, inputs=8, hidden=(), outputs=3, bits=8, density=0.8)
    network = lower(compile_network(net))
    top = _top(network)
    assert network.score_width > 8 and top.score_bytes == 2
    vectors = make_vectors(net, rng, n_random=4)
    trace = evaluate(net, vectors)
    assert trace.scores.min() < -128 or trace.scores.max() > 127  # exercises both bytes
    tags = list(range(len(vectors)))
    script = [(b"".join(_request(v, scores=True, tag=t) for v, t in zip(vectors, tags)), 0)]
    assert _run(top, script) == _expected(top, net, vectors, tags, [True] * len(vectors))


def test_garbage_before_a_frame(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 4)
    noise = bytes(rng.integers(0, 256, 60).tolist())
    no_start = bytes(b for b in noise if b not in (0xA5, 0xA6))
    script = [
        (no_start, 0), (_request(v[0], tag=1), 0),  # no gap needed without a start byte
        (no_start + b"\xa5", 0), (_request(v[1], tag=2), 0),  # a stray start byte
        (b"\xa6\xa5\xa6", 0), (_request(v[2], tag=3, scores=True), 0),
        (noise, TIMEOUT_BITS + 10), (_request(v[3], tag=4), 0),  # anything, then silence
    ]
    assert _run(top, script) == _expected(top, net, v, [1, 2, 3, 4], [False, False, True, False])


def test_wrong_length_is_rejected(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 4)
    count = net.input.count
    script = [
        (_request(v[0][:-1], tag=9), 0),  # one feature short, consistent length and CRC
        (_request(v[0], tag=9, length=count + 256), 0),  # high length byte wrong
        (_request([*v[0], 0], tag=9), 0),  # one feature too many
        (_request(v[1], tag=1), 0),
        (_request(v[2], tag=9, length=count - 1), 0),  # length disagrees with the data
        (_request(v[3], tag=2, scores=True), 0),
    ]
    for data, _ in script:
        assert not set(data[1:]) & {0xA5, 0xA6}  # no accidental start bytes inside
    assert _run(top, script) == _expected(top, net, v[[1, 3]], [1, 2], [False, True])


def test_bad_checksum_is_rejected(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 3)
    script = [
        (_request(v[0], tag=7, crc_delta=1), 0),
        (_request(v[1], tag=1), 0),  # right after: the bad frame was consumed by its length
        (_request(v[2], tag=8, scores=True, crc_delta=0x80), 0),
        (_request(v[2], tag=2, scores=True), 0),
    ]
    assert _run(top, script) == _expected(top, net, v[1:], [1, 2], [False, True])


def test_out_of_range_feature_is_rejected(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 2)
    bad = v[0].copy()
    bad[2] = net.input.max_value + 1
    script = [(_request(bad, tag=7), 0), (_request(v[1], tag=1), 0)]
    assert _run(top, script) == _expected(top, net, v[1:], [1], [False])


def test_truncated_frame_then_good_frame(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 3)
    script = [
        (_request(v[0], tag=7)[:6], TIMEOUT_BITS + 10),  # truncated, then silence
        (_request(v[1], tag=1), 0),
        # Truncated and followed at once by a frame: the two are parsed as one bad frame and
        # nothing comes back; after the timeout the next frame is answered.
        (_request(v[0], tag=8)[:6], 0),
        (_request(v[0], tag=9), TIMEOUT_BITS + 10),
        (_request(v[2], tag=2, scores=True), 0),
    ]
    assert _run(top, script) == _expected(top, net, v[1:], [1, 2], [False, True])


def test_silence_shorter_than_timeout_is_not_a_truncation(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 1)
    frame = _request(v[0], tag=3)
    script = [(frame[k:k + 1], TIMEOUT_BITS - 12) for k in range(len(frame))]
    assert _run(top, script) == _expected(top, net, v, [3], [False])


def test_framing_error_abandons_the_frame(small, rng):
    net, network = small
    top = _top(network)
    v = _good(net, rng, 2)
    received = []

    async def drive(ctx):
        await uart_send(ctx, top.rx, _request(v[0], tag=7)[:-1], DIVISOR)
        for bit in (0, 1, 0, 1, 0, 1, 0, 1, 0, 0):  # the CRC slot: a character with a low stop bit
            ctx.set(top.rx, bit)
            for _ in range(DIVISOR):
                await ctx.tick()
        ctx.set(top.rx, 1)
        for _ in range(2 * DIVISOR):
            await ctx.tick()
        await uart_send(ctx, top.rx, _request(v[1], tag=1), DIVISOR)
        while ctx.get(top.busy):
            await ctx.tick()
        for _ in range(20 * DIVISOR):
            await ctx.tick()

    async def monitor(ctx):
        while True:
            received.append((await uart_recv(ctx, top.tx, DIVISOR))[0])

    _simulate(top, drive, monitor, limit=2000)
    assert bytes(received) == _expected(top, net, v[1:], [1], [False])


def test_requests_faster_than_responses_are_dropped_cleanly(rng, make_network):
    """Scored responses longer than requests, sent back to back: the board answers what it can,
    each answer correct and in order, drops the rest without a trace, and recovers."""
    net = make_network(rng, inputs=2, hidden=(), outputs=6, bits=4, density=0.9)
    network = lower(compile_network(net))
    top = _top(network)
    assert top.scored_response_bytes > top.request_bytes
    v = _good(net, rng, 13)
    trace = evaluate(net, v)
    assert len({tuple(row) for row in trace.scores}) == 13  # a misrouted answer would show
    burst = b"".join(_request(v[k], tag=k, scores=True) for k in range(12))
    settle = 3 * top.scored_response_bytes * 10
    received = _run(top, [(burst, settle), (_request(v[12], tag=12), 0)])
    answers = {k: _response(k, int(trace.predictions[k]), tuple(trace.scores[k]))
               for k in range(12)}
    answered = []
    rest = received
    while rest[:1] == b"\x5b":
        frame = rest[:top.scored_response_bytes]
        assert frame == answers[frame[1]]
        answered.append(frame[1])
        rest = rest[top.scored_response_bytes:]
    assert rest == _response(12, int(trace.predictions[12]))
    assert answered == sorted(answered) and 3 <= len(answered) < 12


def test_properties(small):
    _, network = small
    top = _elaborated(_top(network))
    assert top.divisor == DIVISOR
    assert top.timeout_cycles == TIMEOUT_BITS * DIVISOR
    assert top.request_bytes == 5 + network.input_count
    assert top.response_bytes == 4
    assert top.score_bytes == 1
    assert top.scored_response_bytes == 5 + network.n_classes
    assert top.network is network
    top = _elaborated(UartNetworkTop(network, clk_freq=12e6, baud=115200))
    assert top.divisor == 104 and top.timeout_cycles == 120_000


@pytest.mark.parametrize("platform_cls, rx_pin, tx_pin", [
    (ICEBreakerPlatform, "6", "9"),
    (ICEStickPlatform, "9", "8"),
])
def test_platform_supplies_clock_and_pins(small, platform_cls, rx_pin, tx_pin):
    _, network = small
    top = UartNetworkTop(network, baud=115200)
    with pytest.raises(ValueError, match=r"^clk_freq is not known until elaboration"):
        _ = top.divisor
    plan = platform_cls().prepare(top, name="top")
    assert top.clk_freq == 12e6 and top.divisor == 104
    pcf = plan.files["top.pcf"]
    assert f"set_io uart_0__rx__io {rx_pin}\n" in pcf
    assert f"set_io uart_0__tx__io {tx_pin}\n" in pcf


def test_construction_errors(rng, make_network):
    """What a UartNetworkTop is built around and clocked at is checked before one is made (the
    constructor calls :func:`check_network`, and :func:`uart_timing` where ``clk_freq`` is
    known)."""
    with pytest.raises(ValueError, match=r"^the UART front end sends one byte per input feature; "
                                         r"input_bits must be at most 8, not 9$"):
        check_network(_Facts(plan(compile_network(make_network(rng, inputs=4, hidden=(3,),
                                                               outputs=2, bits=9)))),
                      baud=1e6)
    with pytest.raises(ValueError, match=r"^clk_freq / baud must be at least 4 cycles per bit"):
        uart_timing(3e6, baud=1e6, timeout=10e-3)
    with pytest.raises(ValueError, match=r"^baud 115200 cannot be made from a 1e\+06 Hz clock"):
        uart_timing(1e6, baud=115200, timeout=10e-3)
    with pytest.raises(ValueError, match=r"^timeout must be at least 20 bit times"):
        uart_timing(4e6, baud=1e6, timeout=10e-6)
    with pytest.raises(TypeError, match=r"^network must have the lwc network contract"):
        check_network(object(), baud=1e6)


@pytest.mark.parametrize("features, lanes", [(1, 1), (3, 2), (8, 1)])
def test_streaming_network_behind_the_uart(rng, make_network, make_vectors, features, lanes):
    """A network that takes its vector over several transfers gets the checked frame from the
    top's frame memory, ``features`` per transfer (the last one partial when the count is not a
    multiple), back to back and with a bad frame in between that must not disturb the next."""
    net = _lively(make_network, rng, inputs=10, hidden=(5,), outputs=3, bits=4, density=0.6,
                  kinds=("step", "clip"))
    network = lower(compile_network(net), Streaming(features, lanes))
    top = _top(network)
    vectors = make_vectors(net, rng, n_random=6)
    tags = [(11 * k + 3) & 0xFF for k in range(len(vectors))]
    scores = [k % 2 == 0 for k in range(len(vectors))]
    frames = [_request(v, scores=s, tag=t) for v, s, t in zip(vectors, scores, tags)]
    bad = _request(vectors[0], tag=99, crc_delta=1)
    script = [(frames[0], 0), (bad, 0)] + [(f, 0) for f in frames[1:]]
    assert _run(top, script) == _expected(top, net, vectors, tags, scores)


def test_streaming_transfer_count_must_match(rng, make_network):
    net = make_network(rng, inputs=10, hidden=(4,), outputs=3, bits=4)
    design = plan(compile_network(net), Streaming(3))
    lying = _Facts(design, transfers_per_vector=5)

    with pytest.raises(ValueError, match="transfers_per_vector 5 does not match 10 inputs"):
        check_network(lying, baud=BAUD)


# --- status requests and a weight table loaded from flash at boot ----------------------------

_STATUS_REQUEST = bytes([REQUEST_STATUS, crc8([REQUEST_STATUS])])


def _status(status):
    return bytes([RESPONSE_STATUS, status, crc8([RESPONSE_STATUS, status])])


def test_status_of_a_bitstream_network(small, rng):
    """A network whose weights are in the bitstream is always ready; a status request between
    two requests is answered in its turn, and a damaged one not at all."""
    net, network = small
    top = _top(network)
    x = _good(net, rng, 2)
    bad_status = bytes([REQUEST_STATUS, crc8([REQUEST_STATUS]) ^ 1])
    script = [(_request(x[0], tag=1), 0), (_STATUS_REQUEST, 0), (bad_status, 0),
              (_request(x[1], tag=2), 0)]
    out = _run(top, script)
    want = _expected(top, net, x, [1, 2], [False, False])
    assert out == want[:4] + _status(STATUS_READY) + want[4:]


def _spram_design(rng, make_network):
    net = _lively(make_network, rng, inputs=10, hidden=(5,), outputs=3, bits=4, density=0.6,
                  kinds=("step", "clip"))
    return net, compile_design(net, Streaming(3, 2, "spram"))


def _run_booting(top, image, script, *, cut_after=None):
    """:func:`_run` with the top's flash pins served by the flash model holding ``image``."""
    model = FlashModel(image, ICEBREAKER_OFFSET, cut_after=cut_after)
    received = _run(top, script, flash=amaranth_flash(model, top.flash, 1 / (BAUD * DIVISOR)),
                    limit=False)
    assert model.violations == []
    return received


def test_spram_network_boots_then_answers(rng, make_network):
    """Asked at once, the board is loading; a request sent during the load waits for it and is
    answered right; then the board is ready."""
    net, design = _spram_design(rng, make_network)
    top = _top(design.lower())
    x = _good(net, rng, 2)
    script = [(_STATUS_REQUEST, 0), (_request(x[0], tag=5), 0), (_request(x[1], tag=6), 400),
              (_STATUS_REQUEST, 0)]
    out = _run_booting(top, design.weights_image(), script)
    answers = _expected(top, net, x, [5, 6], [False, False])
    # The second request came while the first vector still waited for the load: dropped.
    assert out == _status(STATUS_LOADING) + answers[:4] + _status(STATUS_READY)


@pytest.mark.parametrize("damage", ["flipped weight byte", "cut short"])
def test_spram_network_reports_a_failed_load(rng, make_network, damage):
    """A bad image: no request is ever answered, the status says why, the error output (LED 0
    on a board) is high."""
    net, design = _spram_design(rng, make_network)
    top = _top(design.lower())
    image, cut_after = bytearray(design.weights_image()), None
    if damage == "cut short":
        cut_after = len(image) // 2
    else:
        image[8 + len(image) // 3] ^= 0x40
    x = _good(net, rng, 2)
    fault = STATUS_FAULT | LoadFault.CRC.value
    script = [(_request(x[0], tag=5), 3000), (_STATUS_REQUEST, 0), (_request(x[1], tag=6), 200)]
    assert _run_booting(top, bytes(image), script, cut_after=cut_after) == _status(fault)
    assert status_text(fault) == ("weights failed to load: the weights image in flash is "
                                  "damaged or cut short (CRC-32 mismatch)")


def test_spram_top_on_the_icebreaker(rng, make_network):
    """On the iCEBreaker the table is SPRAM, read from the flash's pins; LED 0 shows a failed
    load."""
    _, design = _spram_design(rng, make_network)
    top = UartNetworkTop(design.lower(), baud=115200)
    prepared = ICEBreakerPlatform().prepare(top, name="top")
    pcf = prepared.files["top.pcf"]
    for pin, port in (("16", "cs"), ("15", "clk"), ("14", "copi"), ("17", "cipo")):
        assert f"set_io spi_flash_1x_0__{port}__io {pin}\n" in pcf
    assert "set_io led_0__io 11\n" in pcf
    assert "SB_SPRAM256KA" in prepared.files["top.il"]


def test_length_byte_equal_to_a_start_byte(rng, make_network):
    """A net of 0xA5 = 165 inputs: its length's low byte is the start byte, which the header
    state takes as the length (the parser tests its expected byte first there); requests of
    both kinds are answered as the golden model says."""
    net = make_network(rng, inputs=0xA5, hidden=(4,), outputs=3, bits=1, density=0.3,
                       kinds=("step",))
    top = _top(lower(compile_network(net)))
    assert _request([0] * 0xA5)[:2] == b"\xa5\xa5"
    v = _good(net, rng, 2)
    script = [(_request(v[0], tag=7) + _request(v[1], tag=8, scores=True), 0)]
    assert _run(top, script) == _expected(top, net, v, [7, 8], [False, True])
