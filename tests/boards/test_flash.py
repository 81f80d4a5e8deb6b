"""Flashing paths that need no board: every programmer here is missing or a fake script."""

import json

import pytest

from lwc.boards import check_bitstream, flash
from lwc.boards.flash import bitstream_device, build_board
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


# --- the board and device of the build (issue 15, point 2) --------------------------------------

# The first bytes of icepack's output for each device (read from real builds): the sync word,
# then commands, among them the bank width (0x62) that tells the die.
HEADERS = {
    "iCE40UP5K": "ff0000ff7eaa997e510001059200206202b3820000720150110001010000",
    "iCE40HX1K": "ff0000ff7eaa997e5100010592002062014b720090820000110001010000",
    "iCE40HX8K": "ff0000ff7eaa997e51000105920020620367720110820000110001010000",
}


def _build(out, board, device, *, header=None, target="ice40"):
    """A build directory as 'lwc compile' leaves it: the bitstream and lwc-build.json."""
    from lwc.outdir import MANIFEST

    out.mkdir(exist_ok=True)
    data = {"format": "lwc-build", "target": target, "board": board, "device": device,
            "files": ["top.bin"], "complete": True, "error": None}
    (out / MANIFEST).write_text(json.dumps(data))
    (out / "top.bin").write_bytes(bytes.fromhex(HEADERS[header]) + bytes(200) if header
                                  else BITSTREAM)
    return out


# The start of ecppack's output for the orangecrab (LFE5U-25F): a comment, the preamble, and
# the IDCODE check (0xE2, three zero bytes, 0x41111043).
ECP5_HEADER = ("ff00506172743a204c464535552d3235462d3843534642474132383500"
               "ffffffbdb3ffffffff3b000000e2000000411110432200000040000038460000000200")


def test_ecp5_bitstream_device_from_the_idcode(tmp_path):
    path = tmp_path / "top.bit"
    path.write_bytes(bytes.fromhex(ECP5_HEADER) + bytes(100))
    assert bitstream_device(path, "ecp5") == ("LFE5U-25F",)
    built = _build(tmp_path / "b", "ulx3s", "LFE5U-85F-BG381")
    (built / "top.bit").write_bytes(path.read_bytes())
    with pytest.raises(UsageError) as err:
        flash(built)
    assert str(err.value) == (f"{built / 'top.bit'}: a bitstream for the LFE5U-25F, not the "
                              f"ulx3s's LFE5U-85F; rebuild it with --board ulx3s")


@pytest.mark.parametrize("header", sorted(HEADERS))
def test_bitstream_device_from_the_header(tmp_path, header):
    path = tmp_path / "top.bin"
    path.write_bytes(bytes.fromhex(HEADERS[header]) + bytes(100))
    assert header in bitstream_device(path)
    assert bitstream_device(tmp_path / "top.bin", "ecp5") is None
    path.write_bytes(BITSTREAM)
    assert bitstream_device(path) is None  # no width command: nothing said, nothing refused


def test_flash_takes_the_board_from_the_build(tmp_path, fake_bin):
    built = _build(tmp_path / "imb-hx8k", "hx8k", "iCE40HX8K-CT256", header="iCE40HX8K")
    record = tmp_path / "argv"
    _iceprog(fake_bin, f"printf '%s\\n' \"$@\" > '{record}'")
    lines = []
    flash(built, progress=lines.append)
    assert lines[0] == "programming hx8k (iCE40HX8K-CT256) with iceprog ..."
    assert record.read_text().splitlines() == ["-S", str(built / "top.bin")]
    flash(built, "hx8k", progress=lines.append)  # the same board, named: accepted
    assert build_board(built).name == "hx8k"


@pytest.mark.parametrize("other", ["icebreaker", "icestick"])
def test_flash_refuses_another_board_than_the_build(tmp_path, fake_bin, other):
    """Another board of the same family (icestick, iCE40 like the hx8k) is refused too."""
    built = _build(tmp_path / "b", "hx8k", "iCE40HX8K-CT256", header="iCE40HX8K")
    lines = []
    with pytest.raises(UsageError) as err:
        flash(built, other, progress=lines.append)
    part = {"icebreaker": "iCE40UP5K-SG48", "icestick": "iCE40HX1K-TQ144"}[other]
    assert str(err.value) == (f"{built}: built for the hx8k (iCE40HX8K-CT256), not the {other} "
                              f"({part}); leave --board out, or rebuild with --board {other}")
    assert lines == []


def test_flash_refuses_a_bitstream_for_another_device(tmp_path, fake_bin):
    built = _build(tmp_path / "b", "icestick", "iCE40HX1K-TQ144", header="iCE40UP5K")
    with pytest.raises(UsageError) as err:
        flash(built, progress=lambda line: None)
    assert str(err.value) == (f"{built / 'top.bin'}: a bitstream for the iCE40UP5K, not the "
                              f"icestick's iCE40HX1K; rebuild it with --board icestick")
    # Without a manifest the board given is taken, and the header still checked.
    (built / "lwc-build.json").unlink()
    with pytest.raises(UsageError, match="a bitstream for the iCE40UP5K, not the icestick's"):
        flash(built, "icestick", progress=lambda line: None)


def test_flash_refuses_a_recorded_device_that_is_not_the_boards(tmp_path, fake_bin):
    built = _build(tmp_path / "b", "icebreaker", "iCE40HX8K-CT256")
    with pytest.raises(UsageError) as err:
        flash(built)
    assert str(err.value) == (f"{built}: built for the device iCE40HX8K-CT256, but the "
                              f"icebreaker has iCE40UP5K-SG48; rebuild it")


def test_flash_needs_a_board_without_manifest(tmp_path, built):
    with pytest.raises(UsageError) as err:
        flash(built)
    assert str(err.value) == (f"{built}: no lwc-build.json says which board this was built "
                              f"for; pass --board")
    with pytest.raises(UsageError, match="no such build directory"):
        flash(tmp_path / "nope")


def test_flash_refuses_a_build_without_board(tmp_path):
    built = _build(tmp_path / "v", None, None, target="verilog")
    with pytest.raises(UsageError) as err:
        flash(built, "icebreaker")
    assert str(err.value) == f"{built}: a build for verilog, not for a board: nothing to flash"


def test_cli_flash_reads_the_board_from_the_build(tmp_path, fake_bin, capsys):
    from lwc.cli import main

    built = _build(tmp_path / "b", "hx8k", "iCE40HX8K-CT256", header="iCE40HX8K")
    _iceprog(fake_bin, "true")
    assert main(["flash", str(built)]) == 0
    assert capsys.readouterr().out.startswith("programming hx8k (iCE40HX8K-CT256)")
    assert main(["flash", str(built), "--board", "icestick"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "built for the hx8k" in err


# --- a build whose weight table is in SPRAM: weights.bin at 1 MiB (issue 20) --------------------

def _spram_build(tmp_path, image):
    from lwc import weights_image as wi
    from lwc.outdir import MANIFEST

    built = _build(tmp_path / "b", "icebreaker", "iCE40UP5K-SG48", header="iCE40UP5K")
    data = json.loads((built / MANIFEST).read_text())
    good = wi.weights_image(bytes(range(200)))
    data["weights"] = {"file": "weights.bin", "offset": wi.ICEBREAKER_OFFSET, "bytes": len(good)}
    data["files"].append("weights.bin")
    (built / MANIFEST).write_text(json.dumps(data))
    if image is not None:
        (built / "weights.bin").write_bytes(good if image == "good" else image)
    return built


def test_flash_writes_the_bitstream_then_the_weights(tmp_path, fake_bin):
    record = tmp_path / "argv"
    _iceprog(fake_bin, f"printf '%s\\n' \"$@\" '--' >> '{record}'")
    built = _spram_build(tmp_path, "good")
    lines = []
    flash(built, progress=lines.append)
    assert record.read_text().split("--\n") == [
        f"{built / 'top.bin'}\n", f"-o\n1M\n{built / 'weights.bin'}\n", ""]
    assert lines[-2:] == [f"writing {built / 'weights.bin'} at flash offset 0x100000 with "
                          f"iceprog ...", f"wrote {built / 'weights.bin'} at 0x100000"]


@pytest.mark.parametrize("image, message", [
    (None, "missing; this build keeps its weights in SPRAM, loaded from flash: rebuild it"),
    (b"LWCW" + bytes(20), "weights image length must be"),
    ("flipped", "weights image CRC-32 does not match its contents; rebuild it"),
])
def test_flash_refuses_a_bad_weights_image_before_programming(tmp_path, fake_bin, image,
                                                               message):
    from lwc import weights_image as wi

    record = tmp_path / "argv"
    _iceprog(fake_bin, f"printf '%s\\n' \"$@\" >> '{record}'")
    if image == "flipped":
        image = bytearray(wi.weights_image(bytes(range(200))))
        image[100] ^= 1
        image = bytes(image)
    built = _spram_build(tmp_path, image)
    with pytest.raises(UsageError) as err:
        flash(built, progress=lambda line: None)
    assert str(err.value).startswith(f"{built / 'weights.bin'}: ")
    assert message in str(err.value)
    assert not record.exists()  # nothing was programmed
