"""The weights image format (lwc/weights_image.py): writer, reader and the constants the hardware
checks against."""

import ast
import struct
import sys
import zlib
from pathlib import Path

import pytest

from lwc import weights_image as wi


def test_layout_of_an_image():
    image = wi.weights_image(b"\x01\x02\x03")
    assert image[:4] == b"LWCW" == wi.MAGIC
    assert image[4:8] == struct.pack("<I", 3) and image[:8] == wi.header(3)
    assert image[8:11] == b"\x01\x02\x03"
    assert image[11:] == struct.pack("<I", zlib.crc32(image[:11]))
    assert len(image) == wi.image_bytes(3) == 3 + wi.HEADER_BYTES + wi.TRAILER_BYTES


@pytest.mark.parametrize("payload", [b"", b"\x00", bytes(range(256)) * 3, b"\xff" * 1000])
def test_round_trip_and_residue(payload):
    image = wi.weights_image(payload)
    assert zlib.crc32(image) == wi.CRC_RESIDUE
    assert wi.parse_weights_image(image) == payload
    assert wi.parse_weights_image(image + b"\xff" * 100, expected_length=len(payload)) == payload


def test_every_single_bit_flip_is_caught():
    image = wi.weights_image(bytes(range(40)))
    for index in range(len(image)):
        for bit in range(8):
            bad = bytearray(image)
            bad[index] ^= 1 << bit
            with pytest.raises(ValueError):
                wi.parse_weights_image(bytes(bad) + b"\xff" * 8, expected_length=40)


def test_reader_errors_are_one_line():
    image = wi.weights_image(b"abcd")
    cases = {
        b"LW": "weights image is 2 bytes, shorter than a header and CRC",
        b"XXXX" + image[4:]: "weights image magic must be b'LWCW', not b'XXXX'",
        image[:-2]: "weights image is cut short: 14 of 16 bytes",
        image[:-1] + b"\x00": "weights image CRC-32 does not match its contents",
    }
    for bad, message in cases.items():
        with pytest.raises(ValueError) as err:
            wi.parse_weights_image(bad)
        assert str(err.value) == message
    with pytest.raises(ValueError, match=r"^weights image length must be 5, not 4$"):
        wi.parse_weights_image(image, expected_length=5)


def test_payload_length_limit():
    with pytest.raises(ValueError, match=r"^payload length must be between 0 and 16777204, not "
                                         r"16777205$"):
        wi.image_bytes(wi.MAX_PAYLOAD + 1)
    assert wi.image_bytes(wi.MAX_PAYLOAD) == 1 << 24


def test_icebreaker_offset_is_past_the_bitstream_and_block_aligned():
    up5k_bitstream = 104_090  # bytes of an iCE40UP5K bitstream (icepack)
    assert wi.ICEBREAKER_OFFSET >= up5k_bitstream and wi.ICEBREAKER_OFFSET % 65536 == 0


def test_imports_only_the_standard_library():
    # A leaf like lwc/semantics.py: the hardware (amaranth only) and the writer both import it.
    tree = ast.parse((Path(wi.__file__)).read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert all(n.split(".")[0] in sys.stdlib_module_names for n in names), names
