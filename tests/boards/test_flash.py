"""Flashing paths that need no board: every programmer here is missing or a fake script."""

import pytest

from lwc.boards import check_bitstream, flash
from lwc.errors import ToolchainError, UsageError

BITSTREAM = b"\xff\x00\x00\xff\x7e\xaa\x99\x7e" + bytes(1000)


@pytest.fixture
def built(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "top.bin").write_bytes(BITSTREAM)
    return out


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """An otherwise empty PATH directory; ``ICEPROG`` is unset."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.delenv("ICEPROG", raising=False)
    return path


def _iceprog(directory, body):
    script = directory / "iceprog"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def test_no_bitstream(tmp_path, fake_bin):
    with pytest.raises(UsageError) as err:
        flash(tmp_path, "icebreaker")
    assert str(err.value) == f"{tmp_path / 'top.bin'}: no bitstream; run the build first"


def test_not_a_bitstream(built, fake_bin):
    (built / "top.bin").write_bytes(b"top.asc by mistake\n" * 10)
    with pytest.raises(UsageError) as err:
        flash(built, "icestick")
    assert str(err.value) == (f"{built / 'top.bin'}: not an iCE40 bitstream (no sync word); "
                              f"rebuild it")


def test_check_bitstream_accepts_icepack_output(built):
    check_bitstream(built / "top.bin")


def test_programmer_not_installed(built, fake_bin):
    lines = []
    with pytest.raises(ToolchainError) as err:
        flash(built, "icebreaker", progress=lines.append)
    assert str(err.value) == ("iceprog not found: install it (for example the fpga-icestorm "
                              "package) or set ICEPROG to its path; it programs the icebreaker")
    assert lines == []
    assert (built / "top.bin").read_bytes() == BITSTREAM


def test_programmer_named_by_iceprog_variable_not_found(built, fake_bin, monkeypatch):
    monkeypatch.setenv("ICEPROG", "/opt/icestorm/bin/iceprog")
    with pytest.raises(ToolchainError, match=r"^/opt/icestorm/bin/iceprog not found: "):
        flash(built, "icestick")


def test_no_board_attached(built, fake_bin):
    _iceprog(fake_bin, "echo 'init..'; echo \"Can't find iCE FTDI USB device (vendor_id 0x0403, "
                       "device_id 0x6010 or 0x6014).\" >&2; echo 'ABORT.' >&2; exit 2")
    with pytest.raises(ToolchainError) as err:
        flash(built, "icebreaker", progress=lambda line: None)
    assert str(err.value) == ("no icebreaker attached: iceprog found no programmer on USB "
                              "(check the cable and permissions)")
    assert (built / "top.bin").read_bytes() == BITSTREAM


def test_programmer_failure(built, fake_bin):
    _iceprog(fake_bin, "echo 'flash ID: 0xFF 0xFF'; echo 'verify failed' >&2; exit 1")
    with pytest.raises(ToolchainError) as err:
        flash(built, "icestick", progress=lambda line: None)
    assert str(err.value) == "iceprog failed (exit 1): verify failed"


@pytest.mark.parametrize(("board", "args"), [("icebreaker", []), ("hx8k", ["-S"])])
def test_programmer_command(built, fake_bin, tmp_path, board, args):
    record = tmp_path / "argv"
    _iceprog(fake_bin, f"printf '%s\\n' \"$@\" > '{record}'")
    lines = []
    flash(built, board, progress=lines.append)
    assert record.read_text().splitlines() == [*args, str(built / "top.bin")]
    assert lines[-1] == f"programmed {built / 'top.bin'}"


def test_unknown_board(built):
    with pytest.raises(UsageError, match=r"^unknown board 'tinyfpga'"):
        flash(built, "tinyfpga")
