"""The boards lwc builds for, by name."""

from lwc.errors import UsageError

from .hx8k import HX8K
from .icebreaker import ICEBREAKER
from .icestick import ICESTICK
from .orangecrab import ORANGECRAB
from .ulx3s import ULX3S

__all__ = ["BOARDS", "DEFAULT_BOARD", "DEFAULT_BOARDS", "get_board"]

#: Board name -> :class:`~lwc.boards.Board`.
BOARDS = {board.name: board for board in (ICEBREAKER, ICESTICK, HX8K, ULX3S, ORANGECRAB)}

#: The board ``--target ice40`` builds for.
DEFAULT_BOARD = "icebreaker"

#: Family name -> the board its ``--target`` builds for when no ``--board`` is given.
DEFAULT_BOARDS = {"ice40": DEFAULT_BOARD, "ecp5": "ulx3s"}


def get_board(name):
    """The :class:`~lwc.boards.Board` called ``name``.

    Raises
    ------
    UsageError
        No board has that name.
    """
    try:
        return BOARDS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown board {name!r} (choose from: {', '.join(BOARDS)})") from None
