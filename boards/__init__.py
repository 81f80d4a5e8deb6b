"""FPGA targets on amaranth-boards platforms: synthesis, place-and-route, reports, flashing.

:func:`build` turns an Amaranth design into a bitstream and a :class:`BuildReport` for one of
:data:`BOARDS`; :func:`flash` programs it. The tools (YoWASP Yosys and nextpnr by default) are
chosen in :mod:`lwc.boards.toolchain` only.
"""

from .board import Board, Capacity
from .build import BuildReport, Usage, build, check_fit, synth_estimate
from .family import ECP5, FAMILIES, ICE40, Family
from .flash import check_bitstream, flash
from .registry import BOARDS, DEFAULT_BOARD, DEFAULT_BOARDS, get_board
from .toolchain import tool_versions, toolchain_env, use_toolchain

__all__ = [
    "Board",
    "Capacity",
    "BOARDS",
    "DEFAULT_BOARD",
    "DEFAULT_BOARDS",
    "Family",
    "FAMILIES",
    "ICE40",
    "ECP5",
    "get_board",
    "build",
    "BuildReport",
    "Usage",
    "check_fit",
    "synth_estimate",
    "flash",
    "check_bitstream",
    "toolchain_env",
    "use_toolchain",
    "tool_versions",
]
