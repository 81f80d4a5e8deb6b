"""Lattice iCEstick: iCE40HX1K-TQ144, 12 MHz oscillator, FTDI FT2232H for flash and UART."""

from amaranth_boards.icestick import ICEStickPlatform

from .board import Board, Capacity

__all__ = ["ICESTICK"]

ICESTICK = Board(
    name="icestick",
    title="Lattice iCEstick",
    platform=ICEStickPlatform,
    clock_mhz=12.0,
    capacity=Capacity(logic_cells=1280, block_rams=16),
    programmer="iceprog",
    uart=True,
)
