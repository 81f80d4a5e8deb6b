"""``lwc run``: classify vectors on a board over its serial port and check every answer.

:func:`run_vectors` sends each vector as a request frame (``docs/uart.md``), matches the responses
to requests by their tag, and compares the board's classes (and scores, when asked) with the golden
model and with the labels when given.
"""

import os
import time
from dataclasses import dataclass

import numpy as np
import serial

from lwc.compiler.golden import evaluate
from lwc.errors import DataError, LwcError, UsageError

from ..hw.top import STATUS_LOADING, STATUS_READY, status_text
from .uart_host import ResponseParser, Status, encode_request, encode_status_request

__all__ = ["BoardError", "Mismatch", "RunReport", "run_vectors"]

# Longest a read blocks before timeouts are checked again.
_POLL_S = 0.01


class BoardError(LwcError):
    """A serial port cannot be opened, or the board on it does not answer."""

    def __init__(self, port, problem):
        self.port = str(port)
        self.problem = problem
        super().__init__(f"{self.port}: {problem}")


@dataclass(frozen=True)
class Mismatch:
    """A vector whose board answer differs from the golden model's.

    ``board_label`` is ``None`` when the board never answered; the ``*_scores`` are ``None`` when
    scores were not asked for.
    """

    index: int
    board_label: int | None
    golden_label: int
    board_scores: tuple[int, ...] | None = None
    golden_scores: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_vectors` found.

    ``predictions`` holds the board's class per vector (``-1`` where it never answered),
    ``golden`` the golden model's; ``scores`` the board's scores ``(count, n_classes)`` when asked
    for (rows of unanswered vectors are 0). ``seconds`` is the wall time from the first request to
    the last response.
    """

    port: str
    predictions: np.ndarray
    golden: np.ndarray
    labels: np.ndarray | None
    scores: np.ndarray | None
    mismatches: tuple[Mismatch, ...]
    seconds: float
    retries: int = 0
    discarded_bytes: int = 0
    baud: int = 0

    @property
    def count(self):
        """Number of vectors sent."""
        return len(self.golden)

    @property
    def answered(self):
        """Number of vectors the board answered."""
        return int((self.predictions >= 0).sum())

    @property
    def disagreements(self):
        """Number of vectors whose answer (class, and scores when asked) differs from the golden
        model's, unanswered ones included."""
        return len(self.mismatches)

    @property
    def agreement(self):
        """Fraction of vectors answered exactly as the golden model answers them."""
        return 1.0 - self.disagreements / self.count if self.count else 1.0

    @property
    def accuracy(self):
        """Fraction of the board's classes equal to the labels; ``None`` without labels."""
        if self.labels is None:
            return None
        return float((self.predictions == self.labels).mean()) if self.count else 1.0

    @property
    def golden_accuracy(self):
        """Fraction of the golden model's classes equal to the labels; ``None`` without labels."""
        if self.labels is None:
            return None
        return float((self.golden == self.labels).mean()) if self.count else 1.0

    @property
    def vectors_per_s(self):
        """Answered vectors per second of wall time."""
        return self.answered / self.seconds if self.seconds > 0 else float("inf")

    def summary(self):
        """A few lines for a person: agreement, accuracy, speed, and the first mismatches."""
        lines = [
            f"{self.port}: {self.answered}/{self.count} vectors answered in {self.seconds:.2f} s "
            f"({self.vectors_per_s:.1f} vectors/s)",
            f"agreement with the golden model: {self.count - self.disagreements}/{self.count} "
            f"({100 * self.agreement:.2f} %)",
        ]
        if self.labels is not None:
            lines.append(f"accuracy: board {100 * self.accuracy:.2f} %, golden model "
                         f"{100 * self.golden_accuracy:.2f} %")
        if self.retries or self.discarded_bytes:
            lines.append(f"link: {self.retries} requests resent, {self.discarded_bytes} stray "
                         f"bytes discarded")
        for m in self.mismatches[:10]:
            board = "no answer" if m.board_label is None else f"class {m.board_label}"
            lines.append(f"  vector {m.index}: board {board}, golden class {m.golden_label}"
                         + ("" if m.board_scores is None else
                            f" (scores {list(m.board_scores)} vs {list(m.golden_scores)})"))
        if len(self.mismatches) > 10:
            lines.append(f"  ... and {len(self.mismatches) - 10} more")
        return "\n".join(lines)


def _open(port, baud):
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=_POLL_S)
    except (serial.SerialException, OSError, ValueError) as error:
        errno = error.args[0] if error.args and isinstance(error.args[0], int) else None
        reason = os.strerror(errno) if errno is not None else str(error)
        raise BoardError(port, f"cannot open serial port: {reason}") from None


def run_vectors(port, net, vectors, *, baud=115200, timeout=1.0, scores=False, labels=None,
                window=8, retries=2):
    """Classify ``vectors`` on the board at ``port`` and compare with the golden model.

    Parameters
    ----------
    port : str
        A serial port path or pyserial URL (``/dev/ttyUSB1``, ``/dev/pts/3``, ``loop://``).
    net : Network
        The network the board was built from (any pass level; the golden model is evaluated on it).
    vectors : array_like of int, shape (count, net.input.count)
        Integer input vectors, every value in ``0 .. net.input.max_value``.
    baud : int
        Line rate the board was built for.
    timeout : float
        Seconds the board may take to answer the oldest request in flight, counted from when
        it was sent or from the board's previous answer, whichever is later, before that
        request is resent (see :func:`_exchange`).
    scores : bool
        Ask for the scores too, and compare them with the golden model's.
    labels : array_like of int or None
        Expected classes, for :attr:`RunReport.accuracy`.
    window : int
        Requests in flight at once (class-only requests; requests with scores go one at a time,
        since a scored response can take longer to send than a request).
    retries : int
        Times a request that got no answer is resent before the vector counts as unanswered.

    Returns
    -------
    RunReport

    Raises
    ------
    DataError
        ``vectors`` or ``labels`` do not fit ``net``.
    UsageError
        An argument is out of range, or ``net`` has inputs wider than 8 bits.
    BoardError
        ``port`` cannot be opened, or the board answers none of the first requests.
    """
    x = np.asarray(vectors)
    count = net.input.count
    if x.ndim != 2 or x.shape[1] != count:
        raise DataError(f"vectors must have shape (n, {count}), not {x.shape}")
    if x.size and (not np.issubdtype(x.dtype, np.integer) or x.min() < 0
                   or x.max() > net.input.max_value):
        raise DataError(f"vectors must hold integers in 0..{net.input.max_value}")
    x = x.astype(np.int64)
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64)
        if labels.shape != (len(x),):
            raise DataError(f"labels must have shape ({len(x)},), not {labels.shape}")
    if net.input.bits > 8:
        raise UsageError(f"the UART protocol sends one byte per feature; this network has "
                         f"{net.input.bits}-bit inputs")
    if not timeout > 0:
        raise UsageError(f"timeout must be positive, not {timeout!r}")
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 128:
        raise UsageError(f"window must be an integer in 1..128, not {window!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise UsageError(f"retries must be a non-negative integer, not {retries!r}")
    n_classes = net.output_count
    if scores:
        window = 1

    link = _open(port, baud)
    try:
        answers, seconds, resent, discarded = _exchange(link, port, x, n_classes, scores=scores,
                                                        timeout=timeout, window=window,
                                                        retries=retries)
    finally:
        link.close()

    trace = evaluate(net, x)
    golden = np.asarray(trace.predictions, dtype=np.int64)
    predictions = np.full(len(x), -1, dtype=np.int64)
    board_scores = np.zeros((len(x), n_classes), dtype=np.int64) if scores else None
    mismatches = []
    for k in range(len(x)):
        answer = answers.get(k)
        golden_scores = tuple(int(s) for s in trace.scores[k]) if scores else None
        answer_scores = None if answer is None or not scores else answer.scores
        if answer is not None:
            predictions[k] = answer.label
            if answer_scores is not None:
                board_scores[k] = answer_scores
        if answer is None or answer.label != golden[k] or answer_scores != golden_scores:
            mismatches.append(Mismatch(
                index=k,
                board_label=None if answer is None else answer.label,
                golden_label=int(golden[k]),
                board_scores=answer_scores,
                golden_scores=golden_scores))
    return RunReport(port=str(port), predictions=predictions, golden=golden, labels=labels,
                     scores=board_scores, mismatches=tuple(mismatches), seconds=seconds,
                     retries=resent, discarded_bytes=discarded, baud=baud)


def _ask_status(link, parser, timeout):
    """The board's status byte (a status request, ``docs/uart.md``), or ``None`` when it does
    not answer one of three, each given ``timeout`` seconds; a board still loading its weights
    is asked again until it has loaded them, or failed to, or the three have passed."""
    parser.reset()
    deadline = time.monotonic() + 3 * timeout
    status = None
    while time.monotonic() < deadline:
        link.write(encode_status_request())
        asked = time.monotonic()
        while time.monotonic() < min(deadline, asked + timeout):
            found = [r for r in parser.feed(link.read(max(1, link.in_waiting)))
                     if isinstance(r, Status)]
            if found:
                status = found[-1].status
                break
        if status is not None and status != STATUS_LOADING:
            return status
    return status


def _exchange(link, port, x, n_classes, *, scores, timeout, window, retries):
    """Send every vector, collect the answers; return ``({index: Response}, seconds, resent,
    discarded bytes)``.

    The board answers its requests one at a time, in the order they arrived, so with ``window``
    requests in flight the last one waits for all the others: the time a request is given is
    counted from when the board could start on it. Only the oldest request in flight can time
    out, ``timeout`` seconds after it was sent or after the board's last answer, whichever is
    later; a request that a later one's answer overtook was lost on the way, and is resent at
    once. So a slow link or a slow (simulated) board is waited for, and a clean run resends
    nothing.

    Tags are handed out round robin, skipping those in flight, and a resent request keeps its tag,
    so a late answer to the first send still lands on the right vector.
    """
    parser = ResponseParser(n_classes)
    link.reset_input_buffer()
    answers = {}
    outstanding = {}  # tag -> [index, sent at, sends], oldest send first
    queue = list(range(len(x)))[::-1]  # pop() takes the lowest index
    next_tag = failed = resent = 0
    start = progress = time.monotonic()

    def send(index, tag, sends):
        link.write(encode_request(x[index], scores=scores, tag=tag))
        outstanding[tag] = [index, time.monotonic(), sends]

    def give_up_or_resend(tag):
        nonlocal failed, resent
        index, _, sends = outstanding.pop(tag)
        if sends <= retries:
            resent += 1
            send(index, tag, sends + 1)
            return
        failed += 1
        if not answers and failed >= min(3, len(x)):
            # A board that loads its weights from flash says why it does not answer.
            status = _ask_status(link, parser, timeout)
            if status is not None and status != STATUS_READY:
                raise BoardError(port, f"the board answers no requests: {status_text(status)} "
                                       f"(status 0x{status:02X}; write weights.bin with 'lwc "
                                       f"flash' and reset the board)")
            sent = f"{retries + 1} times" if retries else "once"
            raise BoardError(port, f"no answer to {failed} requests, each sent {sent} (is the "
                                   f"board programmed with this network, at {link.baudrate} "
                                   f"baud?)")

    while queue or outstanding:
        while queue and len(outstanding) < window:
            while next_tag in outstanding:
                next_tag = (next_tag + 1) & 0xFF
            send(queue.pop(), next_tag, 1)
            next_tag = (next_tag + 1) & 0xFF
        for response in parser.feed(link.read(max(1, link.in_waiting))):
            if isinstance(response, Status) or response.tag not in outstanding:
                continue  # a late second answer to a resent request
            order = list(outstanding)
            overtaken = order[:order.index(response.tag)]
            answers[outstanding.pop(response.tag)[0]] = response
            progress = time.monotonic()
            for tag in overtaken:  # sent before the answered one, so lost on the way
                give_up_or_resend(tag)
        if outstanding:
            oldest = next(iter(outstanding))
            if time.monotonic() >= max(outstanding[oldest][1], progress) + timeout:
                # A partial or damaged frame may sit in the parser; what follows is a fresh
                # start.
                parser.reset()
                give_up_or_resend(oldest)
    return answers, time.monotonic() - start, resent, parser.discarded
