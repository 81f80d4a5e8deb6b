"""Host side of the UART frame protocol (``docs/uart.md``): encode requests, parse responses.

The byte values and the CRC come from :mod:`lwc.hw.top`, the one definition the gateware uses too.
"""

from dataclasses import dataclass

from lwc.errors import UsageError
from lwc.hw.top import (
    REQUEST_START,
    REQUEST_START_SCORES,
    REQUEST_STATUS,
    RESPONSE_START,
    RESPONSE_START_SCORES,
    RESPONSE_STATUS,
    crc8,
)

__all__ = ["encode_request", "encode_response", "encode_status_request", "Response", "Status",
           "ResponseParser"]

_MAX_SCORE_BYTES = 8


def encode_request(vector, *, scores=False, tag=0):
    """The request frame asking the board to classify ``vector``.

    Parameters
    ----------
    vector : sequence of int
        One integer in ``0..255`` per input feature (all ``input.count`` of them, in order).
    scores : bool
        Ask for the scores as well as the class.
    tag : int
        ``0..255``, echoed in the response so answers can be matched to requests.

    Returns
    -------
    bytes
        ``A5|A6, count_lo, count_hi, tag, x0 .. x(count-1), crc8``.
    """
    values = [int(v) for v in vector]
    if not 1 <= len(values) <= 0xFFFF:
        raise UsageError(f"a request carries 1 to 65535 features, not {len(values)}")
    if any(not 0 <= v <= 0xFF for v in values):
        bad = next(v for v in values if not 0 <= v <= 0xFF)
        raise UsageError(f"request features must be in 0..255, not {bad}")
    if not 0 <= tag <= 0xFF:
        raise UsageError(f"tag must be in 0..255, not {tag!r}")
    start = REQUEST_START_SCORES if scores else REQUEST_START
    frame = bytes([start, len(values) & 0xFF, len(values) >> 8, tag, *values])
    return frame + bytes([crc8(frame)])


def encode_response(tag, label, scores=None, *, score_bytes=1):
    """The response frame a board sends for ``label`` (and ``scores`` when not ``None``).

    The reference encoder for tests: ``5A, tag, label, crc8`` or ``5B, tag, label, score_bytes,
    scores (each sign-extended to score_bytes, little-endian), crc8``.
    """
    if scores is None:
        frame = bytes([RESPONSE_START, tag, label])
    else:
        frame = bytes([RESPONSE_START_SCORES, tag, label, score_bytes]) + b"".join(
            int(s).to_bytes(score_bytes, "little", signed=True) for s in scores)
    return frame + bytes([crc8(frame)])


def encode_status_request():
    """The status request frame: ``A7, crc8``."""
    return bytes([REQUEST_STATUS, crc8([REQUEST_STATUS])])


@dataclass(frozen=True)
class Status:
    """One decoded status response: the board's ``status`` byte (see
    :func:`lwc.hw.top.status_text`)."""

    status: int


@dataclass(frozen=True)
class Response:
    """One decoded response: the request's ``tag``, the predicted ``label``, and the ``scores``
    (a tuple of ints, class 0 first) or ``None`` when they were not asked for."""

    tag: int
    label: int
    scores: tuple[int, ...] | None = None


class ResponseParser:
    """Turns the byte stream from a board into :class:`Response` s, resynchronising on errors.

    Bytes are buffered; at each position that holds a response start byte the parser tries to
    decode a whole frame. A frame whose CRC, class or bytes-per-score field is wrong is not a
    response: the parser drops its first byte and looks for the next start byte, so a start byte
    value inside garbage or inside a damaged frame never hides the good frame after it. Bytes
    dropped this way are counted in :attr:`discarded`.

    Parameters
    ----------
    n_classes : int
        The network's number of classes (how many scores a scored response carries).
    """

    def __init__(self, n_classes):
        if not 1 <= n_classes <= 256:
            raise UsageError(f"n_classes must be in 1..256, not {n_classes!r}")
        self._n_classes = n_classes
        self._buffer = bytearray()
        self.discarded = 0

    def feed(self, data):
        """Add the bytes ``data``; return the list of responses completed by them, in order."""
        self._buffer += data
        responses = []
        while True:
            result = self._parse_one()
            if result is None:
                return responses
            responses.append(result)

    def reset(self):
        """Drop every buffered byte (counted in :attr:`discarded`), e.g. after a timeout."""
        self._skip(len(self._buffer))

    def _skip(self, count):
        del self._buffer[:count]
        self.discarded += count

    def _parse_one(self):
        buf = self._buffer
        while buf:
            start = next((k for k, b in enumerate(buf)
                          if b in (RESPONSE_START, RESPONSE_START_SCORES, RESPONSE_STATUS)), None)
            if start is None:
                self._skip(len(buf))
                return None
            self._skip(start)
            if buf[0] == RESPONSE_STATUS:
                if len(buf) < 3:
                    return None
                if crc8(buf[:2]) != buf[2]:
                    self._skip(1)
                    continue
                status = buf[1]
                del buf[:3]
                return Status(status)
            if buf[0] == RESPONSE_START:
                size = 4
            else:
                if len(buf) < 4:
                    return None
                score_bytes = buf[3]
                if not 1 <= score_bytes <= _MAX_SCORE_BYTES:
                    self._skip(1)
                    continue
                size = 5 + self._n_classes * score_bytes
            if len(buf) < size:
                return None
            frame = bytes(buf[:size])
            if crc8(frame[:-1]) != frame[-1] or frame[2] >= self._n_classes:
                self._skip(1)
                continue
            del buf[:size]
            if frame[0] == RESPONSE_START:
                return Response(tag=frame[1], label=frame[2])
            scores = tuple(
                int.from_bytes(frame[4 + k * score_bytes: 4 + (k + 1) * score_bytes], "little",
                               signed=True)
                for k in range(self._n_classes))
            return Response(tag=frame[1], label=frame[2], scores=scores)
        return None
