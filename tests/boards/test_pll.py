import json

import pytest
from amaranth import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io

from lwc.boards import BOARDS, build, get_board
from lwc.boards.pll import Ecp5Pll, Pll, PllClock, board_pll, ecp5_pll, ice40_pll, report_line
from lwc.errors import UsageError

# icepll -i 12 -o F (IceStorm), simple feedback: what it prints for F.
ICEPLL = [
    (48, (0, 63, 4, 1), 48.0),
    (60, (0, 79, 4, 1), 60.0),
    (96, (0, 63, 3, 1), 96.0),
    (30, (0, 79, 5, 1), 30.0),
    (36.75, (0, 48, 4, 1), 36.75),
]


@pytest.mark.parametrize(("mhz", "settings", "achieved"), ICEPLL)
def test_ice40_pll_agrees_with_icepll(mhz, settings, achieved):
    pll = ice40_pll(12.0, mhz)
    assert (pll.divr, pll.divf, pll.divq, pll.filter_range) == settings
    assert pll.mhz == achieved


@pytest.mark.parametrize("mhz", [16.2, 20, 33.3, 48, 50, 64.1, 100, 133, 200, 275, 1000])
def test_ice40_pll_is_the_closest_at_or_below(mhz):
    pll = ice40_pll(12.0, mhz)
    assert pll.mhz <= mhz
    assert 10 <= pll.pfd_mhz <= 133 and 533 <= pll.vco_mhz <= 1066 and 16 <= pll.mhz <= 275
    assert 0 <= pll.divr < 16 and 0 <= pll.divf < 128 and 1 <= pll.divq <= 6
    # No setting in range gives an output closer to the request from below.
    better = [ref for ref in (Pll(12.0, r, f, q) for r in range(16) for f in range(128)
                              for q in range(1, 7))
              if 10 <= ref.pfd_mhz <= 133 and 533 <= ref.vco_mhz <= 1066
              and 16 <= ref.mhz <= 275 and pll.mhz < ref.mhz <= mhz]
    assert better == []


def test_ice40_pll_other_references_and_filter_ranges():
    pll = ice40_pll(48.0, 100)  # icepll -i 48 -o 100
    assert (pll.divr, pll.divf, pll.divq, pll.filter_range, pll.mhz) == (2, 49, 3, 1, 100.0)
    pll = ice40_pll(48.0, 60)  # icepll -i 48 -o 60: the phase detector at 48 MHz
    assert (pll.divr, pll.divf, pll.divq, pll.filter_range) == (0, 19, 4, 4)
    assert ice40_pll(96.0, 16).filter_range == 3  # icepll -i 96 -o 16: 32 MHz
    assert ice40_pll(48.0, 150).filter_range == 2  # 24 MHz


def test_ice40_pll_refuses_what_it_cannot_make():
    with pytest.raises(UsageError, match=r"^the iCE40 PLL cannot make 16 MHz or less from 12 "
                                         r"MHz$"):
        ice40_pll(12.0, 16)
    assert ice40_pll(12.0, 16.125).mhz == 16.125  # the least it makes from 12 MHz
    with pytest.raises(UsageError):
        ice40_pll(5.0, 100)  # a reference under the phase detector's 10 MHz


def test_pll_report_entry_and_text():
    pll = ice40_pll(12.0, 50)
    assert pll.mhz == 49.5
    entry = pll.to_dict()
    assert json.loads(json.dumps(entry)) == entry
    assert entry == {"ref_mhz": 12.0, "divr": 0, "divf": 65, "divq": 4,
                     "primitive": "SB_PLL40_PAD", "filter_range": 1, "pfd_mhz": 12.0,
                     "vco_mhz": 792.0, "mhz": 49.5}
    assert pll.text() == "49.5 MHz from the PLL (SB_PLL40_PAD: 12 MHz / 1 x 66 / 16)"


def test_board_pll_only_above_the_oscillator_on_a_pll_board():
    icebreaker = get_board("icebreaker")
    assert icebreaker.pll == "SB_PLL40_PAD"
    assert board_pll(icebreaker, None) is None
    assert board_pll(icebreaker, 12) is None and board_pll(icebreaker, 10) is None
    # Between the oscillator and the PLL's least output the oscillator is the closest below.
    assert board_pll(icebreaker, 16) is None
    assert board_pll(icebreaker, 48) == ice40_pll(12.0, 48)
    ulx3s = get_board("ulx3s")
    assert ulx3s.pll == "EHXPLLL"
    assert board_pll(ulx3s, 25) is None and board_pll(ulx3s, 100) == ecp5_pll(25.0, 100)
    # The ECP5 PLL's closest output at or below 26 MHz is the oscillator's 25: no PLL.
    assert board_pll(ulx3s, 26) is None
    for name, board in BOARDS.items():
        if name not in ("icebreaker", "ulx3s"):
            assert board.pll is None and board_pll(board, 48) is None, name


# ecppll -i REF -o F (Project Trellis): CLKI_DIV, CLKFB_DIV, CLKOP_DIV, CLKOP_CPHASE.
ECPPLL = [
    (25, 100, (1, 4, 6, 2), 100.0),
    (12, 16, (3, 4, 37, 18), 16.0),
]


@pytest.mark.parametrize(("ref", "mhz", "settings", "achieved"), ECPPLL)
def test_ecp5_pll_agrees_with_ecppll(ref, mhz, settings, achieved):
    pll = ecp5_pll(float(ref), mhz)
    assert (pll.clki_div, pll.clkfb_div, pll.clkop_div, pll.cphase) == settings
    assert pll.mhz == pytest.approx(achieved)


@pytest.mark.parametrize("mhz", [30, 48, 66.6, 100, 124.1, 200, 400, 1000])
def test_ecp5_pll_is_the_closest_at_or_below(mhz):
    pll = ecp5_pll(25.0, mhz)
    assert pll.mhz <= mhz * (1 + 1e-12)
    assert 3.125 <= pll.pfd_mhz <= 400 and 400 <= pll.vco_mhz <= 800 and pll.mhz <= 400
    better = [ref for ref in (Ecp5Pll(25.0, i, f, o) for i in range(1, 129)
                              for f in range(1, 81) for o in range(1, 129))
              if 3.125 <= ref.pfd_mhz <= 400 and 400 <= ref.vco_mhz <= 800
              and 3.125 <= ref.mhz <= 400 and pll.mhz * (1 + 1e-9) < ref.mhz <= mhz]
    assert better == []


def test_ecp5_pll_report_and_refusal():
    pll = ecp5_pll(25.0, 100)
    entry = pll.to_dict()
    assert json.loads(json.dumps(entry)) == entry
    assert entry["primitive"] == "EHXPLLL" and entry["vco_mhz"] == 600.0
    assert report_line(entry) == ("100 MHz = 25 MHz / 1 x 4 (EHXPLLL, CLKI_DIV 1 CLKFB_DIV 4 "
                                  "CLKOP_DIV 6, VCO 600 MHz)")
    assert report_line(ice40_pll(12.0, 60).to_dict()).startswith("60 MHz = 12 MHz / 1 x 80 / 16")
    with pytest.raises(UsageError, match="the ECP5 PLL cannot make 2 MHz or less"):
        ecp5_pll(25.0, 2)


class Counter(Elaboratable):
    """A counter whose top bit drives LED 0, its ``sync`` domain driven by ``clock``."""

    def __init__(self, clock):
        self.clock = clock

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.submodules.clock = self.clock
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        counter = Signal(24)
        m.d.sync += counter.eq(counter + 1)
        m.d.comb += led.o.eq(counter[-1])
        return m


def test_build_takes_its_target_from_the_pll(tmp_path):
    with pytest.raises(UsageError, match=r"^clock must be the PLL's 48 MHz, not 50$"):
        pll = ice40_pll(12.0, 48)
        clock = PllClock(pll)
        top = Counter(clock)
        # Refused before elaboration: the designs are never used.
        clock._MustUse__silence = top._MustUse__silence = True
        build(top, "icebreaker", tmp_path, clock_mhz=50, pll=pll, progress=lambda line: None)
    assert not any(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.yosys
@pytest.mark.slow
def test_pll_build_meets_its_frequency(tmp_path):
    pll = ice40_pll(12.0, 60)
    lines = []
    report = build(Counter(PllClock(pll)), "icebreaker", tmp_path, pll=pll,
                   progress=lines.append)
    assert report.clock_mhz == 60.0 and report.pll == pll.to_dict()
    assert report.cells.get("SB_PLL40_PAD") == 1
    # The PLL's output is constrained to its frequency, the oscillator's pin to its own.
    pcf = (tmp_path / "top.pcf").read_text()
    assert "set_frequency clk12_0__io 12.0" in pcf and "60.0" in pcf
    assert report.clock_net == "clk"
    assert report.clocks["clk"]["constraint"] == pytest.approx(60.0, rel=1e-3)
    assert report.fmax_mhz >= 60 and report.timing_met
    assert "PLL: 60 MHz = 12 MHz / 1 x 80 / 16" in report.table()
    assert json.loads((tmp_path / "report.json").read_text())["pll"]["mhz"] == 60.0


@pytest.mark.yosys
@pytest.mark.slow
def test_ecp5_pll_build_meets_its_frequency(tmp_path):
    pll = ecp5_pll(25.0, 100)
    report = build(Counter(PllClock(pll)), "ulx3s", tmp_path, pll=pll,
                   progress=lambda line: None)
    assert report.clock_mhz == 100.0 and report.pll == pll.to_dict()
    assert report.cells.get("EHXPLLL") == 1
    lpf = (tmp_path / "top.lpf").read_text()
    assert 'FREQUENCY NET "clk" 100000000' in lpf
    # nextpnr-ecp5 names the clock by its global network.
    assert report.clock_net == "$glbnet$clk"
    assert report.clocks["$glbnet$clk"]["constraint"] == pytest.approx(100.0, rel=1e-3)
    assert "ignoring clock constraint" not in (tmp_path / "top.nextpnr.log").read_text()
    assert report.fmax_mhz >= 100 and report.timing_met
    assert "PLL: 100 MHz = 25 MHz / 1 x 4 (EHXPLLL" in report.table()


@pytest.mark.yosys
@pytest.mark.slow
def test_compile_runs_from_the_pll_above_the_oscillator(tmp_path, rng, make_network):
    from lwc.compile import compile_net
    from lwc.hw.top import uart_timing
    from lwc.outdir import read_manifest

    net = make_network(rng, inputs=8, hidden=(8,), outputs=3, bits=2, density=0.5,
                       kinds=("clip",))
    lines = []
    result = compile_net(net, tmp_path / "pll", board="icebreaker", clock_mhz=31,
                         progress=lines.append)
    report = json.loads((tmp_path / "pll" / "report.json").read_text())
    assert report["pll"]["mhz"] == 30.75 and report["clock_mhz"] == 30.75
    assert report["clock_net"] == "clk"
    assert report["clocks"]["clk"]["constraint"] == pytest.approx(30.75, rel=1e-3)
    assert report["timing_met"] and report["fmax_mhz"] >= 30.75
    assert report["pipelining"]["target_mhz"] == 30.75
    assert report["critical_path"]  # named as without the PLL (network.*, uart_*), not top.*
    assert not any(name.startswith("top.") for name in report["critical_path"])
    assert read_manifest(tmp_path / "pll")["pll"] == ice40_pll(12.0, 31).to_dict()
    assert "clock: 30.75 MHz from the PLL (SB_PLL40_PAD: 12 MHz / 1 x 82 / 32)" in lines
    assert "PLL: 30.75 MHz" in result.table()
    # The UART divides the PLL's clock, not the oscillator's: 267 cycles a bit.
    assert uart_timing(30.75e6, baud=115200, timeout=10e-3)[0] == 267
    top = (tmp_path / "pll" / "top.il").read_text()
    assert "SB_PLL40_PAD" in top and "266" in top

    # No --fmax, or one the oscillator meets: no PLL, as before.
    compile_net(net, tmp_path / "osc", board="icebreaker", progress=lambda line: None)
    report = json.loads((tmp_path / "osc" / "report.json").read_text())
    assert report["pll"] is None and report["clock_net"] == "cd_sync.clk"
    assert "pll" not in read_manifest(tmp_path / "osc")
    assert "SB_PLL40_PAD" not in (tmp_path / "osc" / "top.il").read_text()
    assert (tmp_path / "osc" / "net.v").read_text() == (tmp_path / "pll" / "net.v").read_text()


@pytest.mark.yosys
@pytest.mark.slow
def test_compile_meets_48_mhz_from_the_pll(tmp_path, rng, make_network):
    """The whole board design (UART front end and network) meets the issue's 48 MHz."""
    from lwc.compile import compile_net

    net = make_network(rng, inputs=8, hidden=(8,), outputs=3, bits=2, density=0.5,
                       kinds=("clip",))
    result = compile_net(net, tmp_path, board="icebreaker", clock_mhz=48,
                         progress=lambda line: None)
    assert result.build.pll["mhz"] == 48.0 and result.build.clock_mhz == 48.0
    assert result.build.timing_met and result.build.fmax_mhz >= 48
