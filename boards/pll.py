"""A clock above the board's oscillator: the PLL's settings and the clock domain it drives.

:func:`ice40_pll` is the one place that knows how the iCE40 ``SB_PLL40`` in its simple feedback
mode divides and multiplies (the rules of IceStorm's ``icepll`` and Lattice's *iCE40 sysCLOCK PLL
Design and Usage Guide*): the reference divided by ``DIVR + 1`` (the phase detector, 10 to
133 MHz), multiplied by ``DIVF + 1`` (the VCO, 533 to 1066 MHz), divided by ``2**DIVQ``
(``DIVQ`` 1 to 6; the output, 16 to 275 MHz), with the loop filter chosen by the phase detector's
frequency. :func:`ecp5_pll` is the same for the ECP5 ``EHXPLLL`` with its output fed back
(the rules of Project Trellis' ``ecppll``): the reference divided by ``CLKI_DIV`` (1 to 128;
the phase detector, 3.125 to 400 MHz), multiplied by ``CLKFB_DIV`` (1 to 80) into the output
(3.125 to 400 MHz), which is the VCO (400 to 800 MHz) divided by ``CLKOP_DIV`` (1 to 128).
:func:`board_pll` decides whether a build uses one: only on a board whose clock pin feeds a PLL
(:attr:`~lwc.boards.Board.pll`), and only for a target above the oscillator; every other build
keeps the oscillator, as before. :class:`PllClock` drives the ``sync`` domain of a
board top (:class:`~lwc.hw.top.UartNetworkTop`'s ``clock``) from the PLL.
"""

from dataclasses import asdict, dataclass, fields

from amaranth.hdl import (
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
)
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer

from lwc.errors import UsageError

__all__ = ["Pll", "Ecp5Pll", "ice40_pll", "ecp5_pll", "board_pll", "PllClock"]

_PFD_MHZ = (10.0, 133.0)
_VCO_MHZ = (533.0, 1066.0)
_OUT_MHZ = (16.0, 275.0)
_DIVR = range(16)
_DIVF = range(128)
_DIVQ = range(1, 7)
# Loop filter setting by phase detector frequency: the highest bound the frequency is under.
_FILTER_RANGES = ((17.0, 1), (26.0, 2), (44.0, 3), (66.0, 4), (101.0, 5))
# How long the design is held in reset after the PLL locks: the block RAMs read as zeroes for
# about 3 us after configuration (see Amaranth's iCE40 platform, which waits the same 15 us).
_RESET_SECONDS = 15e-6


@dataclass(frozen=True)
class Pll:
    """Settings of an iCE40 ``SB_PLL40`` in simple feedback mode, and the frequencies they give.

    Attributes
    ----------
    ref_mhz : float
        Reference clock (the board's oscillator).
    divr, divf, divq : int
        The divider settings: the output is ``ref_mhz / (divr + 1) * (divf + 1) / 2**divq``.
    primitive : str
        The cell that instantiates it (``SB_PLL40_PAD``: the reference is the PLL's own pin).
    """

    ref_mhz: float
    divr: int
    divf: int
    divq: int
    primitive: str = "SB_PLL40_PAD"

    @property
    def pfd_mhz(self):
        """Phase detector frequency."""
        return self.ref_mhz / (self.divr + 1)

    @property
    def vco_mhz(self):
        return self.pfd_mhz * (self.divf + 1)

    @property
    def mhz(self):
        """Output frequency."""
        return self.vco_mhz / 2 ** self.divq

    @property
    def filter_range(self):
        """The loop filter setting for the phase detector frequency (as ``icepll`` chooses)."""
        return next((r for bound, r in _FILTER_RANGES if self.pfd_mhz < bound), 6)

    def to_dict(self):
        """The ``"pll"`` entry of the build report: settings and frequencies."""
        return {**asdict(self), "filter_range": self.filter_range,
                "pfd_mhz": self.pfd_mhz, "vco_mhz": self.vco_mhz, "mhz": self.mhz}

    def text(self):
        """One line: the output and how it is made."""
        return (f"{self.mhz:g} MHz from the PLL ({self.primitive}: {self.ref_mhz:g} MHz / "
                f"{self.divr + 1} x {self.divf + 1} / {2 ** self.divq})")

    def report_line(self):
        """The build report's line: the output, how it is made, the cell's settings."""
        return (f"{self.mhz:g} MHz = {self.ref_mhz:g} MHz / {self.divr + 1} x {self.divf + 1} / "
                f"{2 ** self.divq} ({self.primitive}, DIVR {self.divr} DIVF {self.divf} DIVQ "
                f"{self.divq} FILTER_RANGE {self.filter_range})")

    def cell(self, platform, clk, lock):
        """The PLL cell, its reference the platform's clock pin, driving ``clk`` and ``lock``."""
        pin = platform.request(platform.default_clk, dir="-")
        return Instance(
            self.primitive,
            p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
            p_DIVR=self.divr, p_DIVF=self.divf, p_DIVQ=self.divq, p_FILTER_RANGE=self.filter_range,
            i_PACKAGEPIN=pin.io, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clk, o_LOCK=lock)


_ECP5_PFD_MHZ = (3.125, 400.0)
_ECP5_VCO_MHZ = (400.0, 800.0)
_ECP5_OUT_MHZ = (3.125, 400.0)
_CLKI_DIV = range(1, 129)
_CLKFB_DIV = range(1, 81)
_CLKOP_DIV = range(1, 129)


@dataclass(frozen=True)
class Ecp5Pll:
    """Settings of an ECP5 ``EHXPLLL`` whose output ``CLKOP`` is also its feedback, and the
    frequencies they give: the output is ``ref_mhz / clki_div * clkfb_div``, the VCO the output
    times ``clkop_div``."""

    ref_mhz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int
    primitive: str = "EHXPLLL"

    @property
    def pfd_mhz(self):
        """Phase detector frequency."""
        return self.ref_mhz / self.clki_div

    @property
    def mhz(self):
        """Output frequency."""
        return self.pfd_mhz * self.clkfb_div

    @property
    def vco_mhz(self):
        return self.mhz * self.clkop_div

    @property
    def cphase(self):
        """``CLKOP_CPHASE`` as ``ecppll`` sets it for no phase shift."""
        return (self.clkop_div - 1) // 2

    def to_dict(self):
        """The ``"pll"`` entry of the build report: settings and frequencies."""
        return {**asdict(self), "pfd_mhz": self.pfd_mhz, "vco_mhz": self.vco_mhz,
                "mhz": self.mhz}

    def text(self):
        """One line: the output and how it is made."""
        return (f"{self.mhz:g} MHz from the PLL ({self.primitive}: {self.ref_mhz:g} MHz / "
                f"{self.clki_div} x {self.clkfb_div})")

    def report_line(self):
        """The build report's line: the output, how it is made, the cell's settings."""
        return (f"{self.mhz:g} MHz = {self.ref_mhz:g} MHz / {self.clki_div} x {self.clkfb_div} "
                f"({self.primitive}, CLKI_DIV {self.clki_div} CLKFB_DIV {self.clkfb_div} "
                f"CLKOP_DIV {self.clkop_div}, VCO {self.vco_mhz:g} MHz)")

    def cell(self, platform, clk, lock):
        """The PLL cell (as ``ecppll`` writes it) behind an input buffer on the platform's clock
        pin, driving ``clk`` and ``lock``."""
        m = Module()
        m.submodules.clk_buffer = pin = io.Buffer(
            "i", platform.request(platform.default_clk, dir="-"))
        m.submodules.cell = Instance(
            self.primitive,
            a_FREQUENCY_PIN_CLKI=f"{self.ref_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{self.mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=self.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=self.clkop_div,
            p_CLKOP_CPHASE=self.cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=self.clkfb_div,
            i_RST=0, i_STDBY=0, i_CLKI=pin.i, o_CLKOP=clk, i_CLKFB=clk,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=lock)
        return m


def _ecp5_closest(ref_mhz, mhz, primitive="EHXPLLL"):
    best = None
    for clki_div in _CLKI_DIV:
        pfd = ref_mhz / clki_div
        if not _ECP5_PFD_MHZ[0] <= pfd <= _ECP5_PFD_MHZ[1]:
            continue
        for clkfb_div in _CLKFB_DIV:
            out = pfd * clkfb_div
            if not _ECP5_OUT_MHZ[0] <= out <= min(_ECP5_OUT_MHZ[1], mhz * (1 + 1e-12)):
                continue
            if best is not None and out <= best.mhz:
                continue
            # The VCO nearest the middle of its range, as ecppll prefers.
            divs = [d for d in _CLKOP_DIV if _ECP5_VCO_MHZ[0] <= out * d <= _ECP5_VCO_MHZ[1]]
            if divs:
                middle = sum(_ECP5_VCO_MHZ) / 2
                clkop_div = min(divs, key=lambda d: abs(out * d - middle))
                best = Ecp5Pll(ref_mhz, clki_div, clkfb_div, clkop_div, primitive)
    return best


def ecp5_pll(ref_mhz, mhz, primitive="EHXPLLL"):
    """The :class:`Ecp5Pll` whose output is the closest to ``mhz`` without exceeding it, made
    from ``ref_mhz`` (see the module text); of equal outputs, the lowest ``CLKI_DIV``, then
    ``CLKFB_DIV``, with the VCO nearest the middle of its range.

    Raises
    ------
    UsageError
        No output within the PLL's ranges is at or below ``mhz``.
    """
    best = _ecp5_closest(ref_mhz, mhz, primitive)
    if best is None:
        raise UsageError(f"the ECP5 PLL cannot make {mhz:g} MHz or less from {ref_mhz:g} MHz")
    return best


def _closest(ref_mhz, mhz, primitive):
    best = None
    for divr in _DIVR:
        pfd = ref_mhz / (divr + 1)
        if not _PFD_MHZ[0] <= pfd <= _PFD_MHZ[1]:
            continue
        for divf in _DIVF:
            vco = pfd * (divf + 1)
            if not _VCO_MHZ[0] <= vco <= _VCO_MHZ[1]:
                continue
            for divq in _DIVQ:
                out = vco / 2 ** divq
                # A hair of tolerance: 12 / 1 * 64 / 16 must count as 48 at a 48 MHz request.
                if _OUT_MHZ[0] <= out <= _OUT_MHZ[1] and out <= mhz * (1 + 1e-12) and (
                        best is None or out > best.mhz):
                    best = Pll(ref_mhz, divr, divf, divq, primitive)
    return best


def ice40_pll(ref_mhz, mhz, primitive="SB_PLL40_PAD"):
    """The :class:`Pll` whose output is the closest to ``mhz`` without exceeding it, made from
    ``ref_mhz``.

    Every setting within the PLL's ranges (see the module text) is tried; of equal outputs, the
    one with the lowest ``divr``, then ``divf``, then ``divq`` is kept.

    Raises
    ------
    UsageError
        ``ref_mhz`` is outside the phase detector's range, or no output is at or below ``mhz``
        (from 12 MHz, the least it makes is 16.125 MHz).
    """
    best = _closest(ref_mhz, mhz, primitive)
    if best is None:
        raise UsageError(f"the iCE40 PLL cannot make {mhz:g} MHz or less from {ref_mhz:g} MHz")
    return best


def report_line(entry):
    """The build report's line of the PLL whose :meth:`~Pll.to_dict` is ``entry``."""
    cls = Ecp5Pll if entry["primitive"] == Ecp5Pll.primitive else Pll
    return cls(**{f.name: entry[f.name] for f in fields(cls)}).report_line()


def board_pll(board, clock_mhz):
    """The :class:`Pll` a build of ``board`` for ``clock_mhz`` (MHz, or ``None`` for the board
    clock) runs from, or ``None`` when it runs from the oscillator: the board has no PLL on its
    clock pin (:attr:`~lwc.boards.Board.pll`), or the target is not above the oscillator, or the
    PLL makes nothing between the oscillator and the target (the oscillator is then the closest
    clock at or below it)."""
    if board.pll is None or clock_mhz is None or clock_mhz <= board.clock_mhz:
        return None
    closest = _ecp5_closest if board.pll == Ecp5Pll.primitive else _closest
    pll = closest(board.clock_mhz, clock_mhz, board.pll)
    return pll if pll is not None and pll.mhz > board.clock_mhz else None


class PllClock(Elaboratable):
    """The PLL ``pll`` (:class:`Pll` or :class:`Ecp5Pll`), fed from the platform's default clock
    pin, driving the clock and reset of the ``sync`` domain that the design around it defines
    (the ``clock`` of :class:`~lwc.hw.top.UartNetworkTop`).

    The domain is held in reset until the PLL has locked and then for 15 us more (as Amaranth's
    own iCE40 power-on reset waits for the block RAMs), and its clock is constrained to the
    PLL's output frequency, so that nextpnr judges the design's timing at that clock. Elaborated
    without a platform (a simulation) it is empty: the simulator drives the domain's clock and
    reset.
    """

    def __init__(self, pll):
        self.pll = pll

    def elaborate(self, platform):
        m = Module()
        if platform is None:
            return m
        pll = self.pll
        hz = pll.mhz * 1e6
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        clk = Signal(name="clk")
        lock = Signal(name="lock")
        m.submodules.pll = pll.cell(platform, clk, lock)
        platform.add_clock_constraint(clk, hz)
        m.d.comb += [ClockSignal("sync").eq(clk), ClockSignal("por").eq(clk)]
        locked = Signal(name="locked")
        m.submodules.lock_sync = FFSynchronizer(lock, locked, o_domain="por")
        delay = int(_RESET_SECONDS * hz)
        timer = Signal(range(delay + 1), name="reset_timer")
        ready = Signal(name="ready")
        with m.If(~locked):
            m.d.por += [timer.eq(0), ready.eq(0)]
        with m.Elif(timer == delay):
            m.d.por += ready.eq(1)
        with m.Else():
            m.d.por += timer.eq(timer + 1)
        m.d.comb += ResetSignal("sync").eq(~ready)
        return m
