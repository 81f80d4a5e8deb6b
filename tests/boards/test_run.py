"""``run_vectors`` and the host protocol, against a simulated board behind a pseudo-terminal."""

import os
import select
import time
import tty

import numpy as np
import pytest

from lwc.boards.run import BoardError, run_vectors
from lwc.boards.uart_host import Response, ResponseParser, encode_request, encode_response
from lwc.compiler.golden import evaluate
from lwc.compiler.lower import lower
from lwc.compiler.passes import compile_network
from lwc.errors import DataError, LwcError, UsageError
from lwc.sim.uart_board import SimulatedBoard


def _lively(make_network, rng, **kwargs):
    """The first network drawn whose class varies with its input (most small random networks
    are nearly constant, and would hide a wrong answer)."""
    for _ in range(100):
        net = make_network(rng, **kwargs)
        x = rng.integers(0, net.input.max_value + 1, size=(32, net.input.count))
        if len(set(evaluate(net, x).predictions)) >= 2:
            return net
    raise AssertionError("no network with varied answers drawn")


@pytest.fixture
def net(rng, make_network):
    return _lively(make_network, rng, inputs=5, hidden=(6,), outputs=3, bits=4, density=0.6,
                   kinds=("clip",))


def test_run_vectors_on_simulated_board(net, rng, make_vectors):
    vectors = make_vectors(net, rng, n_random=6)
    labels = evaluate(net, vectors).predictions.copy()
    labels[:3] = (labels[:3] + 1) % 3  # three wrong labels: accuracy must see them
    with SimulatedBoard(lower(compile_network(net))) as board:
        report = run_vectors(board.port, net, vectors, labels=labels, timeout=5.0)
        scored = run_vectors(board.port, net, vectors[:4], scores=True, timeout=5.0)
    assert report.count == len(vectors) and report.answered == len(vectors)
    assert report.disagreements == 0 and report.mismatches == () and report.agreement == 1.0
    np.testing.assert_array_equal(report.predictions, evaluate(net, vectors).predictions)
    assert report.accuracy == pytest.approx(1 - 3 / len(vectors))
    assert report.vectors_per_s > 0
    assert "agreement with the golden model: 15/15" in report.summary()
    assert scored.disagreements == 0
    np.testing.assert_array_equal(scored.scores, evaluate(net, vectors[:4]).scores)


def test_board_answering_wrongly_is_reported(net, rng, make_network):
    """A board built from a different network of the same shape: the disagreements show."""
    other = _lively(make_network, rng, inputs=5, hidden=(6,), outputs=3, bits=4, density=0.6,
                    kinds=("clip",))
    vectors = rng.integers(0, 16, size=(8, 5))
    expected = evaluate(net, vectors).predictions != evaluate(other, vectors).predictions
    assert expected.any()
    with SimulatedBoard(lower(compile_network(other))) as board:
        report = run_vectors(board.port, net, vectors, timeout=5.0)
    assert [m.index for m in report.mismatches] == list(np.flatnonzero(expected))
    assert report.answered == 8


def test_link_errors_are_retried(net, rng):
    """Damaged requests get no answer and are resent; a damaged answer is skipped by the parser
    and its request resent; every vector still ends up answered correctly."""
    vectors = rng.integers(0, 16, size=(10, 5))
    request = 5 + 5  # bytes per request
    with SimulatedBoard(lower(compile_network(net)), corrupt_in={3, 2 * request + 7},
                        corrupt_out={4 * 5 + 2}) as board:
        report = run_vectors(board.port, net, vectors, timeout=1.0, window=2)
    assert report.disagreements == 0 and report.answered == 10
    assert report.retries >= 3


def test_missing_port_is_one_line_error(net, tmp_path):
    port = tmp_path / "ttyUSB9"
    with pytest.raises(BoardError) as info:
        run_vectors(str(port), net, np.zeros((2, 5), dtype=int))
    assert isinstance(info.value, LwcError)
    assert str(info.value) == f"{port}: cannot open serial port: No such file or directory"
    assert list(tmp_path.iterdir()) == []


def test_silent_port_is_one_line_error(net):
    """``loop://`` echoes requests back: no valid response ever arrives."""
    with pytest.raises(BoardError,
                       match=r"^loop://: no answer to 3 requests, each sent once \(is the board"):
        run_vectors("loop://", net, np.zeros((4, 5), dtype=int), timeout=0.05, retries=0)


def test_bad_arguments(net):
    with pytest.raises(DataError, match=r"^vectors must have shape \(n, 5\), not \(2, 4\)$"):
        run_vectors("loop://", net, np.zeros((2, 4), dtype=int))
    with pytest.raises(DataError, match=r"^vectors must hold integers in 0\.\.15$"):
        run_vectors("loop://", net, np.full((2, 5), 16))
    with pytest.raises(DataError, match=r"^labels must have shape \(2,\), not \(3,\)$"):
        run_vectors("loop://", net, np.zeros((2, 5), dtype=int), labels=[0, 1, 2])
    with pytest.raises(UsageError, match=r"^window must be an integer in 1\.\.128, not 0$"):
        run_vectors("loop://", net, np.zeros((2, 5), dtype=int), window=0)


def test_encode_request_layout():
    frame = encode_request([1, 2, 255], scores=True, tag=0x42)
    assert frame[:-1] == bytes.fromhex("a6 03 00 42 01 02 ff")
    assert frame[-1] == 0x99  # CRC-8/SMBUS of the bytes before it (docs/uart.md example)
    assert encode_request([7] * 300)[:4] == bytes.fromhex("a5 2c 01 00")
    with pytest.raises(UsageError, match=r"^request features must be in 0\.\.255, not 256$"):
        encode_request([256])


def test_response_parser_resynchronises():
    parser = ResponseParser(3)
    good = [encode_response(1, 2), encode_response(2, 0, (-300, 5, 70000), score_bytes=3),
            encode_response(3, 1)]
    damaged = bytearray(good[1])
    damaged[5] ^= 0x10
    stream = (b"\x00\x5a\x5b\x5b\x01" + good[0] + bytes(damaged) + b"\x5a\x01" + good[1]
              + good[2])
    responses = []
    for k in range(0, len(stream), 3):  # arbitrary chunking
        responses += parser.feed(stream[k:k + 3])
    assert responses == [Response(1, 2), Response(2, 0, (-300, 5, 70000)), Response(3, 1)]
    assert parser.feed(encode_response(4, 3)) == []  # class out of range: not a response


class SlowBoard:
    """A board behind a pty that answers one request at a time, in order, ``delay`` seconds
    each: what docs/uart.md's simulated board is to the host, at a few vectors per second."""

    def __init__(self, net, delay):
        import threading

        self.net, self.delay = net, delay
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        os.close(self.master)
        os.close(self.slave)

    def _serve(self):
        size = 5 + self.net.input.count
        buffer = b""
        while not self.stop.is_set():
            if select.select([self.master], [], [], 0.01)[0]:
                buffer += os.read(self.master, 4096)
            while len(buffer) >= size:
                frame, buffer = buffer[:size], buffer[size:]
                time.sleep(self.delay)
                label = int(evaluate(self.net, np.array([list(frame[4:-1])])).predictions[0])
                os.write(self.master, encode_response(frame[3], label))


def test_slow_board_gets_no_resends(net, rng):
    """Issue 15: at 5 vectors/s, 8 requests in flight and 1 s per request, the last ones timed
    out while the board was busy with the first (141 of 150 resent, 80 stray bytes). The time
    counts from the board's last answer, so a clean run resends nothing."""
    vectors = rng.integers(0, 16, size=(12, 5))
    with SlowBoard(net, delay=0.1) as board:
        report = run_vectors(board.port, net, vectors, timeout=0.5, window=8)
    assert report.answered == 12 and report.disagreements == 0
    assert (report.retries, report.discarded_bytes) == (0, 0)
    assert "link:" not in report.summary()


def test_overtaken_request_is_resent_at_once(net, rng):
    """A request whose answer never comes while a later one's does was lost: resent without
    waiting for the timeout."""
    vectors = rng.integers(0, 16, size=(6, 5))
    request = 5 + 5
    start = time.monotonic()
    with SimulatedBoard(lower(compile_network(net)), corrupt_in={request + 6}) as board:
        report = run_vectors(board.port, net, vectors, timeout=30.0, window=4)
    assert report.answered == 6 and report.disagreements == 0 and report.retries == 1
    assert time.monotonic() - start < 30


def test_uart_md_serves_a_net_on_the_simulated_board(net, tmp_path):
    """docs/uart.md's recipe for the simulated board, run as written, with `lwc run` on it."""
    import re
    from pathlib import Path

    from lwc.cli import main
    from lwc.compiler import netfile

    text = (Path(__file__).parents[2] / "docs" / "uart.md").read_text()
    section = text[text.index("## Testing without a board"):]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    said, status = [], []

    def run_it(prompt):
        command = said[-1].split()
        assert command[:2] == ["lwc", "run"] and command[3] == "--port"
        status.append(main([*command[1:], "--vectors", "3"]))

    exec(code.replace("build/digits/net.pt", str(path)), {"print": said.append, "input": run_it})
    assert status == [0]


# --- a board whose weight table loads from flash at boot (issue 20) ------------------------------

def _spram_board(net, image=None, cut_after=None):
    from lwc.compiler.architecture import Streaming
    from lwc.compiler.driver import compile_design
    from lwc.sim.spi_flash_model import FlashModel
    from lwc.weights_image import ICEBREAKER_OFFSET

    design = compile_design(net, Streaming(2, 2, "spram"))
    image = design.weights_image() if image is None else image(design.weights_image())
    cut = None if cut_after is None else cut_after(image)
    return SimulatedBoard(design.lower(),
                          flash=FlashModel(image, ICEBREAKER_OFFSET, cut_after=cut))


def test_run_vectors_on_a_board_that_boots_from_flash(net, rng, make_vectors):
    vectors = make_vectors(net, rng, n_random=4)
    with _spram_board(net) as board:
        report = run_vectors(board.port, net, vectors, timeout=5.0)
    assert report.answered == len(vectors) and report.disagreements == 0


def _flip(image):
    image = bytearray(image)
    image[len(image) // 2] ^= 0x08
    return bytes(image)


@pytest.mark.parametrize("damage", ["flipped", "cut short"])
def test_failed_weight_load_is_reported(net, rng, damage):
    """The board never answers; lwc run asks its status and says why, in one line."""
    vectors = rng.integers(0, 16, size=(3, 5))
    board = (_spram_board(net, image=_flip) if damage == "flipped" else
             _spram_board(net, cut_after=lambda image: len(image) // 2))
    with board, pytest.raises(BoardError) as err:
        port = board.port
        run_vectors(port, net, vectors, timeout=0.5, retries=0)
    assert str(err.value) == (
        f"{port}: the board answers no requests: weights failed to load: the weights "
        f"image in flash is damaged or cut short (CRC-32 mismatch) (status 0x83; write "
        f"weights.bin with 'lwc flash' and reset the board)")
