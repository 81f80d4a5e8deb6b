"""Program a built bitstream onto a board with the board's programmer (``iceprog``,
``openFPGALoader``, ``dfu-util``), and the weights image of a design whose weight table is in
SPRAM (``weights.bin``) at its flash offset."""

import os
import shutil
import subprocess
from pathlib import Path

from lwc import weights_image
from lwc.errors import ToolchainError, UsageError
from lwc.outdir import MANIFEST, read_manifest

from .board import Board
from .registry import get_board

__all__ = ["flash", "check_bitstream", "check_weights", "bitstream_device", "build_board",
           "WEIGHTS_FILE"]

#: The weights image ``lwc compile --weights spram`` writes beside the bitstream.
WEIGHTS_FILE = "weights.bin"

# Every iCE40 bitstream carries this synchronisation word near its start (after an optional
# comment block); icepack writes it at byte 4.
_ICE40_SYNC = bytes.fromhex("7eaa997e")
# Every ECP5 bitstream carries this preamble after its comment block; ecppack writes it near
# byte 30.
_ECP5_PREAMBLE = bytes.fromhex("ffffbdb3")
_SYNC = {"ice40": ("iCE40", _ICE40_SYNC, "sync word"), "ecp5": ("ECP5", _ECP5_PREAMBLE,
                                                               "preamble")}

# What iceprog (FTDI) and openFPGALoader print when no board answers on USB.
_NO_BOARD = ("Can't find iCE FTDI USB device", "unable to open ftdi device", "No cable",
             "cable not found", "no device found")

_TIMEOUT_S = 300

# An iCE40 bitstream sets the configuration memory's bank width (command 0x62, 16 bits, minus
# one) before its data; the width tells the die. Values read from icepack's output for each
# board's device.
_ICE40_WIDTHS = {0x014B: ("iCE40HX1K", "iCE40LP1K"), 0x02B3: ("iCE40UP5K", "iCE40UP3K"),
                 0x0367: ("iCE40HX8K", "iCE40LP8K", "iCE40HX4K", "iCE40LP4K")}
# An ECP5 bitstream checks the device's JTAG IDCODE (command 0xE2, three zero bytes, the code).
_ECP5_IDCODES = {0x21111043: ("LFE5U-12F",), 0x41111043: ("LFE5U-25F",),
                 0x41112043: ("LFE5U-45F",), 0x41113043: ("LFE5U-85F",),
                 0x01111043: ("LFE5UM-25F",), 0x01112043: ("LFE5UM-45F",),
                 0x01113043: ("LFE5UM-85F",), 0x81111043: ("LFE5UM5G-25F",),
                 0x81112043: ("LFE5UM5G-45F",), 0x81113043: ("LFE5UM5G-85F",)}


def check_bitstream(path, family="ice40"):
    """Refuse a missing, empty or foreign bitstream file (``family``: ``ice40`` or ``ecp5``).

    Raises
    ------
    UsageError
        One line saying what is wrong with ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no bitstream; run the build first")
    title, marker, what = _SYNC[family]
    head = path.read_bytes()[:1024]
    if marker not in head:
        raise UsageError(f"{path}: not an {title} bitstream (no {what}); rebuild it")


def bitstream_device(path, family="ice40"):
    """The devices the bitstream at ``path`` is for, as read from its header (a tuple of names
    as Amaranth spells them, ``("iCE40UP5K", "iCE40UP3K")``: one die), or ``None`` when the
    header does not say (an unknown die, or a header this reader does not follow)."""
    head = Path(path).read_bytes()[:4096]
    if family == "ice40":
        at = head.find(_ICE40_SYNC)
        if at < 0:
            return None
        k = at + len(_ICE40_SYNC)
        while k < len(head):
            opcode, size = head[k] >> 4, head[k] & 0xF
            payload = head[k + 1:k + 1 + size]
            if len(payload) < size:
                return None
            if opcode == 6 and size == 2:
                return _ICE40_WIDTHS.get(int.from_bytes(payload, "big"))
            if opcode == 0 and payload in (b"\x01", b"\x03"):  # data follows: no width given
                return None
            k += 1 + size
        return None
    at = head.find(b"\xe2\x00\x00\x00", head.find(_ECP5_PREAMBLE) + 1)
    if at < 0 or head.find(_ECP5_PREAMBLE) < 0 or at + 8 > len(head):
        return None
    return _ECP5_IDCODES.get(int.from_bytes(head[at + 4:at + 8], "big"))


def build_board(out_dir, board=None):
    """The :class:`Board` to program the build in ``out_dir`` onto: the one its
    ``lwc-build.json`` records. ``board`` (a Board or name), when given, must be that board;
    without a manifest it is taken as given.

    Raises
    ------
    UsageError
        One line: no board recorded or given, the build is not for a board, ``board`` differs
        from the recorded one (boards are compared, not only families), or the recorded device
        is not ``board``'s.
    """
    if board is not None and not isinstance(board, Board):
        board = get_board(board)
    out = Path(out_dir)
    data = read_manifest(out) if (out / MANIFEST).is_file() else None
    if data is None:
        if board is not None:
            return board
        if not out.is_dir():
            raise UsageError(f"{out}: no such build directory; build with 'lwc compile' first")
        raise UsageError(f"{out}: no {MANIFEST} says which board this was built for; pass "
                         f"--board")
    recorded = data.get("board")
    if not isinstance(recorded, str):
        target = data.get("target")
        raise UsageError(f"{out}: a build for {target or 'no board'}, not for a board: nothing "
                         f"to flash")
    built_for = get_board(recorded)
    if board is not None and board.name != built_for.name:
        raise UsageError(f"{out}: built for the {built_for.name} ({built_for.part}), not the "
                         f"{board.name} ({board.part}); leave --board out, or rebuild with "
                         f"--board {board.name}")
    device = data.get("device")
    if isinstance(device, str) and device != built_for.part:
        raise UsageError(f"{out}: built for the device {device}, but the {built_for.name} has "
                         f"{built_for.part}; rebuild it")
    return built_for


def check_weights(out_dir):
    """The weights image of the build in ``out_dir`` (the path of :data:`WEIGHTS_FILE`) and its
    flash offset, or ``None`` for a build whose weights are in the bitstream. The image must
    check (magic, length the manifest records, CRC-32): a damaged one is refused before anything
    is programmed, as the board would refuse it at boot.

    Raises
    ------
    UsageError
        The manifest names a weights image that is missing or does not check.
    """
    out = Path(out_dir)
    data = read_manifest(out) if (out / MANIFEST).is_file() else None
    recorded = data.get("weights") if isinstance(data, dict) else None
    path = out / WEIGHTS_FILE
    if not isinstance(recorded, dict):
        return None
    if not path.is_file():
        raise UsageError(f"{path}: missing; this build keeps its weights in SPRAM, loaded from "
                         f"flash: rebuild it")
    length = recorded.get("bytes")
    overhead = weights_image.HEADER_BYTES + weights_image.TRAILER_BYTES
    expected = length - overhead if isinstance(length, int) and length >= overhead else None
    try:
        weights_image.parse_weights_image(path.read_bytes(), expected_length=expected)
    except ValueError as error:
        raise UsageError(f"{path}: {error}; rebuild it") from None
    return path, recorded.get("offset", weights_image.ICEBREAKER_OFFSET)


def _offset_arg(offset):
    """iceprog's ``-o`` argument for ``offset`` bytes: ``1M``, ``64k`` or a byte count."""
    for unit, size in (("M", 1 << 20), ("k", 1 << 10)):
        if offset % size == 0:
            return f"{offset // size}{unit}"
    return str(offset)


def flash(out_dir, board=None, *, name="top", progress=print):
    """Program ``<out_dir>/<name>.bin`` (``.bit`` on ECP5) onto ``board`` with its programmer,
    and then, for a build whose weight table is in SPRAM, its :data:`WEIGHTS_FILE` at the
    offset the build records (``iceprog -o 1M weights.bin``; see ``docs/spram.md``).

    The board is the one the build's ``lwc-build.json`` records (:func:`build_board`); a
    ``board`` given must be that one, and is needed only for a directory without the manifest.
    The bitstream's header must name the board's device where it says one
    (:func:`bitstream_device`). The programmer is ``board.programmer`` (``iceprog``), or the
    executable named by the environment variable ``board.programmer_env`` (``ICEPROG``), as
    amaranth-boards does. The bitstream and the programmer are checked before anything is run.

    Parameters
    ----------
    out_dir : path
        A build directory written by :func:`lwc.boards.build`.
    board : Board or str or None
        The board; ``None``: the one the build records.
    name : str
        Stem of the bitstream file.
    progress : callable
        Called with one line of text before and after programming.

    Raises
    ------
    UsageError
        Unknown board name, a board other than the build's, or the bitstream is missing or
        not one for the board's family or device.
    ToolchainError
        The programmer is not installed, no board is attached, or programming failed; one line
        saying which.
    """
    board = build_board(out_dir, board)
    bitstream = Path(out_dir) / f"{name}{board.family.bitstream_suffix}"
    check_bitstream(bitstream, board.family.name)
    weights = check_weights(out_dir)
    devices = bitstream_device(bitstream, board.family.name)
    if devices is not None and board.device not in devices:
        raise UsageError(f"{bitstream}: a bitstream for the {devices[0]}, not the "
                         f"{board.name}'s {board.device}; rebuild it with --board {board.name}")
    chosen = os.environ.get(board.programmer_env) or board.programmer
    program = shutil.which(chosen)
    if program is None:
        raise ToolchainError(
            f"{chosen} not found: install it (for example the fpga-icestorm package) or set "
            f"{board.programmer_env} to its path; it programs the {board.name}")
    if weights is not None and board.programmer != "iceprog":
        raise UsageError(f"{weights[0]}: writing a weights image to the flash needs iceprog; "
                         f"the {board.name} is programmed with {board.programmer}")
    argv = [program, *board.program_args, str(bitstream)]
    progress(f"programming {board.name} ({board.part}) with {chosen} ...")
    _program(argv, board, chosen)
    progress(f"programmed {bitstream}")
    if weights is not None:
        path, offset = weights
        progress(f"writing {path} at flash offset 0x{offset:X} with {chosen} ...")
        _program([program, *board.program_args, "-o", _offset_arg(offset), str(path)], board,
                 chosen)
        progress(f"wrote {path} at 0x{offset:X}")


def _program(argv, board, chosen):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{chosen} did not finish in {_TIMEOUT_S} s") from None
    except OSError as err:
        raise ToolchainError(f"{chosen} could not be started: {err.strerror}") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        if any(marker.lower() in output.lower() for marker in _NO_BOARD):
            raise ToolchainError(f"no {board.name} attached: {chosen} found no programmer on "
                                 f"USB (check the cable and permissions)")
        last = output.splitlines()[-1] if output else "no output"
        raise ToolchainError(f"{chosen} failed (exit {done.returncode}): {last}")
