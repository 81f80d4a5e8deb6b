"""The boot loader of a weight table in SPRAM: its boot time and its cost on the iCE40 UP5K.

Boot time is :attr:`lwc.hw.spram_table.SpramTable.boot_cycles` (proven equal to the simulated
boot by ``tests/hw/test_spram_table.py``, across two SPRAM blocks by the slow test
``tests/sim/test_cocotb_spram_boot.py::test_rtl_boot_across_two_spram_blocks``, and for 79 kB
MNIST tables by the 10,000-image proofs of docs/benchmarks.md); the cost is what
``synth_ice40`` makes of the loader alone (SPI flash reader, image check, SPRAM write port), run
with the Yosys that :mod:`lwc.boards.toolchain` selects. Example::

    python bench/spram_loader.py --bytes 57500 --clk-mhz 12 --width 16

``--pnr DIR`` also places and routes the loader for the iCEBreaker (:func:`lwc.boards.build.build`,
timing target ``--pnr-mhz``), wired to the board's flash pins (``spi_flash_1x``), ``ready`` and
``error`` on the green and red LEDs, and its read port walked by a counter whose words are folded
into the red LED, so that nothing is optimized away; it prints the build report.
"""

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from amaranth.hdl import Elaboratable, Module, Signal

from lwc.boards.build import build
from lwc.boards.toolchain import tool_path, toolchain_env
from lwc.hw.spram_table import SpramTable
from lwc.sim.spram_boot import TOPLEVEL, table_verilog


class LoaderOnBoard(Elaboratable):
    """``table`` on the iCEBreaker's flash pins and LEDs (see the module docstring)."""

    def __init__(self, table):
        self.table = table

    def elaborate(self, platform):
        m = Module()
        m.submodules.table = table = self.table
        flash = platform.request("spi_flash_1x", 0)
        green, red = platform.request("led_g", 0), platform.request("led_r", 0)
        address = Signal.like(table.addr)
        folded = Signal()
        with m.If(table.ready):
            m.d.sync += [address.eq(address + 1), folded.eq(folded ^ table.data.xor())]
        m.d.comb += [
            flash.cs.o.eq(~table.cs_n),  # the resource's cs is active low already
            flash.clk.o.eq(table.sck),
            flash.copi.o.eq(table.copi),
            table.cipo.eq(flash.cipo.i),
            table.addr.eq(address),
            green.o.eq(table.ready),
            red.o.eq(table.error | folded),
        ]
        return m


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=57_500, help="table size (460 kbit)")
    parser.add_argument("--clk-mhz", type=float, nargs="+", default=[12.0, 48.0])
    parser.add_argument("--width", type=int, default=16, choices=(16, 32, 64))
    parser.add_argument("--divisor", type=int, default=2)
    parser.add_argument("--pnr", metavar="DIR", help="also place and route on the iCEBreaker")
    parser.add_argument("--pnr-mhz", type=float, default=48.0)
    args = parser.parse_args()

    env = toolchain_env()
    for mhz in args.clk_mhz:
        table = SpramTable(args.bytes, clk_freq=mhz * 1e6, width=args.width,
                           divisor=args.divisor, spram=True)
        print(f"{args.bytes} bytes ({args.bytes * 8 / 1000:.0f} kbit) at {mhz:g} MHz, SCK "
              f"{mhz / args.divisor:g} MHz: boot {table.boot_cycles} cycles = "
              f"{table.boot_cycles / (mhz * 1e3):.1f} ms; {table.spram_blocks} SPRAM blocks")
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "table.v").write_text(table_verilog(table))
            subprocess.run(
                [tool_path("yosys", env), "-q", "-p",
                 f"read_verilog table.v; synth_ice40 -top {TOPLEVEL}; tee -o stat.txt stat"],
                cwd=tmp, env=env, capture_output=True, text=True, check=True)
            stat = Path(tmp, "stat.txt").read_text()
        cells = {name: int(count) for count, name in re.findall(r"(\d+)\s+(SB_\w+)", stat)}
        flops = sum(count for name, count in cells.items() if name.startswith("SB_DFF"))
        print(f"  synth_ice40 of the loader: {cells.get('SB_LUT4', 0)} SB_LUT4, {flops} "
              f"flip-flops, {cells.get('SB_CARRY', 0)} SB_CARRY, "
              f"{cells.get('SB_RAM40_4K', 0)} SB_RAM40_4K, {cells.get('SB_SPRAM256KA', 0)} "
              f"SB_SPRAM256KA")
    if args.pnr:
        table = SpramTable(args.bytes, clk_freq=12e6, width=args.width, divisor=args.divisor)
        report = build(LoaderOnBoard(table), "icebreaker", args.pnr, name="loader",
                       clock_mhz=args.pnr_mhz, progress=lambda line: None)
        print(report.table())


if __name__ == "__main__":
    main()
