"""The weights image: how a weight table is stored in SPI flash for the boot loader, once.

A leaf module (standard library only) that the writer (``lwc compile`` writing ``weights.bin``)
and the hardware (:class:`lwc.hw.spram_table.SpramTable`, which checks an image as it loads it)
both import, so the two cannot disagree. ``docs/spram.md`` describes the format for people.

An image is, byte for byte::

    offset        size  field
    0             4     MAGIC, b"LWCW"
    4             4     payload length in bytes, little-endian
    8             n     the payload (the weight table, in the order it is loaded)
    8 + n         4     CRC-32 of bytes [0, 8 + n), little-endian

The CRC is the one of zlib, Ethernet and PNG (polynomial 0x04C11DB7, reflected, initial value and
final XOR 0xFFFFFFFF). Appended little-endian, it makes the CRC of the whole image equal the
constant :data:`CRC_RESIDUE`, which is what the hardware checks after the last byte.
"""

import struct
import zlib

__all__ = ["MAGIC", "HEADER_BYTES", "TRAILER_BYTES", "MAX_PAYLOAD", "CRC_RESIDUE",
           "ICEBREAKER_OFFSET", "image_bytes", "header", "weights_image", "parse_weights_image"]

#: The first four bytes of every image (a new format gets a new magic).
MAGIC = b"LWCW"
#: Bytes before the payload: the magic and the length.
HEADER_BYTES = 8
#: Bytes after the payload: the CRC-32.
TRAILER_BYTES = 4
#: The longest payload the length field and a 24-bit flash address can describe.
MAX_PAYLOAD = (1 << 24) - HEADER_BYTES - TRAILER_BYTES
#: zlib.crc32 of any image (the CRC-32 residue after its own little-endian CRC, final XOR kept).
CRC_RESIDUE = 0x2144DF1C
#: Flash offset of the image on the iCEBreaker: 1 MiB, after the bitstream (104,090 bytes for the
#: UP5K) with room for the iCE40 multi-boot images and a 64 KiB erase-block boundary.
ICEBREAKER_OFFSET = 1 << 20


def _check_payload_length(length):
    if not 0 <= length <= MAX_PAYLOAD:
        raise ValueError(f"payload length must be between 0 and {MAX_PAYLOAD}, not {length!r}")


def image_bytes(payload_length):
    """Bytes in the image of a payload of ``payload_length`` bytes (what the loader reads)."""
    _check_payload_length(payload_length)
    return HEADER_BYTES + payload_length + TRAILER_BYTES


def header(payload_length):
    """The eight header bytes of an image of a ``payload_length``-byte payload."""
    _check_payload_length(payload_length)
    return MAGIC + struct.pack("<I", payload_length)


def weights_image(payload):
    """The image (header, ``payload``, CRC-32) of ``payload`` (bytes-like).

    Raises
    ------
    ValueError
        ``payload`` is longer than :data:`MAX_PAYLOAD`.
    """
    payload = bytes(payload)
    body = header(len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def parse_weights_image(image, *, expected_length=None):
    """The payload of ``image``, or :class:`ValueError` (one line naming the fault) when its magic,
    length (or ``expected_length``, when given) or CRC is wrong, or it is cut short.

    Bytes after the image (the rest of a flash sector) are ignored, as the hardware ignores them.
    """
    image = bytes(image)
    if len(image) < HEADER_BYTES + TRAILER_BYTES:
        raise ValueError(f"weights image is {len(image)} bytes, shorter than a header and CRC")
    if image[:4] != MAGIC:
        raise ValueError(f"weights image magic must be {MAGIC!r}, not {image[:4]!r}")
    (length,) = struct.unpack("<I", image[4:8])
    if expected_length is not None and length != expected_length:
        raise ValueError(f"weights image length must be {expected_length}, not {length}")
    end = HEADER_BYTES + length
    if len(image) < end + TRAILER_BYTES:
        raise ValueError(f"weights image is cut short: {len(image)} of {end + TRAILER_BYTES} "
                         f"bytes")
    if zlib.crc32(image[:end + TRAILER_BYTES]) != CRC_RESIDUE:
        raise ValueError("weights image CRC-32 does not match its contents")
    return image[HEADER_BYTES:end]
