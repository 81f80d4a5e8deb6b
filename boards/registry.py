"""The boards lwc builds for, by name."""

from lwc.errors import UsageError

from .hx8k import HX8K
from .icebreaker import ICEBREAKER
from .icestick import ICESTICK

__all__ = ["BOARDS", "DEFAULT_BOARD", "get_board"]

#: Board name -> :class:`~lwc.boards.Board`.
BOARDS = {board.name: board for board in (ICEBREAKER, ICESTICK, HX8K)}

#: The board ``--target ice40`` builds for.
DEFAULT_BOARD = "icebreaker"


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
