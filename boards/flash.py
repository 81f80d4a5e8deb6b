"""Program a built bitstream onto a board with the board's programmer (``iceprog``,
``openFPGALoader``, ``dfu-util``)."""

import os
import shutil
import subprocess
from pathlib import Path

from lwc.errors import ToolchainError, UsageError

from .board import Board
from .registry import get_board

__all__ = ["flash", "check_bitstream"]

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


def flash(out_dir, board, *, name="top", progress=print):
    """Program ``<out_dir>/<name>.bin`` (``.bit`` on ECP5) onto ``board`` with its programmer.

    The programmer is ``board.programmer`` (``iceprog``), or the executable named by the
    environment variable ``board.programmer_env`` (``ICEPROG``), as amaranth-boards does. The
    bitstream and the programmer are checked before anything is run.

    Parameters
    ----------
    out_dir : path
        A build directory written by :func:`lwc.boards.build`.
    board : Board or str
    name : str
        Stem of the bitstream file.
    progress : callable
        Called with one line of text before and after programming.

    Raises
    ------
    UsageError
        Unknown board name, or the bitstream is missing or not one for the board's family.
    ToolchainError
        The programmer is not installed, no board is attached, or programming failed; one line
        saying which.
    """
    if not isinstance(board, Board):
        board = get_board(board)
    bitstream = Path(out_dir) / f"{name}{board.family.bitstream_suffix}"
    check_bitstream(bitstream, board.family.name)
    chosen = os.environ.get(board.programmer_env) or board.programmer
    program = shutil.which(chosen)
    if program is None:
        raise ToolchainError(
            f"{chosen} not found: install it (for example the fpga-icestorm package) or set "
            f"{board.programmer_env} to its path; it programs the {board.name}")
    argv = [program, *board.program_args, str(bitstream)]
    progress(f"programming {board.name} ({board.part}) with {chosen} ...")
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
    progress(f"programmed {bitstream}")
