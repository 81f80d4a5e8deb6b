"""Lattice iCE40-HX8K Breakout Board (ICE40HX8K-B-EVN): iCE40HX8K-CT256, 12 MHz, FT2232H.

The amaranth-boards platform programs the configuration SRAM (``iceprog -S``), not the flash: the
design is lost at power-off, and the board's jumpers must be set for SRAM programming.
"""

from amaranth_boards.ice40_hx8k_b_evn import ICE40HX8KBEVNPlatform

from .board import Board, Capacity

__all__ = ["HX8K"]

HX8K = Board(
    name="hx8k",
    title="Lattice iCE40-HX8K Breakout Board",
    platform=ICE40HX8KBEVNPlatform,
    clock_mhz=12.0,
    capacity=Capacity(logic_cells=7680, block_rams=32),
    programmer="iceprog",
    program_args=("-S",),
    uart=True,
)
