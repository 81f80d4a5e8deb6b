"""Radiona ULX3S, 85F variant: ECP5 LFE5U-85F-6BG381C, 25 MHz oscillator, FT231X for UART and JTAG.

Programmed over JTAG by ``openFPGALoader -b ulx3s -m`` (configuration SRAM), as amaranth-boards
does. A clock target above the oscillator (``--fmax``) runs the design from the ECP5 PLL,
``EHXPLLL`` (:mod:`lwc.boards.pll`).
"""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from .board import Board, Capacity
from .family import ECP5

__all__ = ["ULX3S"]

ULX3S = Board(
    name="ulx3s",
    title="Radiona ULX3S (85F)",
    platform=ULX3S_85F_Platform,
    clock_mhz=25.0,
    capacity=Capacity(logic_cells=83640, block_rams=208, dsp=156, carries=41820),
    programmer="openFPGALoader",
    program_args=("-b", "ulx3s", "-m"),
    uart=True,
    family=ECP5,
    pll="EHXPLLL",
)
