"""1BitSquared iCEBreaker: iCE40UP5K-SG48, 12 MHz oscillator, FTDI FT2232H for flash and UART.

The oscillator drives pin 35 (IOT_46b_G0), the UP5K's PLL input pad, so a faster clock comes from
``SB_PLL40_PAD`` (:mod:`lwc.boards.pll`).
"""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from .board import Board, Capacity

__all__ = ["ICEBREAKER"]

ICEBREAKER = Board(
    name="icebreaker",
    title="1BitSquared iCEBreaker",
    platform=ICEBreakerPlatform,
    clock_mhz=12.0,
    capacity=Capacity(logic_cells=5280, block_rams=30, spram=4, dsp=8),
    programmer="iceprog",
    uart=True,
    pll="SB_PLL40_PAD",
)
