"""What lwc knows about a board: its Amaranth platform, device capacity, clock and programmer."""

from dataclasses import dataclass

from .family import ICE40, Family

__all__ = ["Capacity", "Board"]


@dataclass(frozen=True)
class Capacity:
    """Resources of a device, from the Lattice data sheets (and nextpnr's chip database).

    On iCE40 each logic cell holds one LUT4, one flip-flop and one carry, so those three share
    one count. On ECP5 a logic cell is one LUT4 with its flip-flop (nextpnr's ``TRELLIS_COMB``);
    a carry cell (``CCU2C``, two bits) takes two of them, so ``carries`` is half the count.
    """

    logic_cells: int
    block_rams: int
    spram: int = 0
    dsp: int = 0
    carries: int | None = None

    @property
    def lut4(self):
        return self.logic_cells

    @property
    def ff(self):
        return self.logic_cells

    @property
    def carry(self):
        return self.logic_cells if self.carries is None else self.carries


@dataclass(frozen=True)
class Board:
    """A board lwc builds for.

    Attributes
    ----------
    name : str
        Short name used on the command line (``icebreaker``).
    title : str
        What the board is called by its maker.
    platform : type
        The amaranth-boards platform class; :meth:`make_platform` instantiates it.
    clock_mhz : float
        Frequency of the platform's default clock (the on-board oscillator).
    capacity : Capacity
    programmer : str
        The programming tool the platform's ``toolchain_program`` runs; the environment variable
        :attr:`programmer_env` overrides its path, as in amaranth-boards.
    program_args : tuple of str
        Arguments before the bitstream path.
    uart : bool
        Whether the platform has a ``uart`` resource (a USB serial bridge on the board).
    family : Family
        The FPGA family, which chooses the tools and the cell types (:mod:`lwc.boards.family`).
    pll : str or None
        The PLL cell the clock pin feeds directly (``SB_PLL40_PAD``), when a clock target above
        the oscillator is to be made by it (:mod:`lwc.boards.pll`); ``None`` keeps the oscillator.
    """

    name: str
    title: str
    platform: type
    clock_mhz: float
    capacity: Capacity
    programmer: str = "iceprog"
    program_args: tuple = ()
    uart: bool = True
    family: Family = ICE40
    pll: str | None = None

    @property
    def device(self):
        """Device name, as Amaranth spells it (``iCE40UP5K``)."""
        return self.platform.device

    @property
    def package(self):
        return self.platform.package

    @property
    def part(self):
        """Device and package (``iCE40UP5K-SG48``)."""
        return f"{self.device}-{self.package}"

    @property
    def programmer_env(self):
        """Environment variable that names the programmer executable (``ICEPROG``)."""
        return self.programmer.upper().replace("-", "_")

    def make_platform(self):
        """A fresh platform instance (one per build: Amaranth platforms are single-use)."""
        return self.platform()
