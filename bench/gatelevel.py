"""Gate level on a test set: the ``synth_ice40`` netlist of a net, compiled as ``lwc compile``
plans it for a board, simulated with Yosys's iCE40 cell models (``SB_SPRAM256KA`` for a table in
SPRAM, booted from the flash model serving ``weights.bin``), every answer compared with the golden
model; prints the report and the rate, and what the whole test set would take at that rate.

It is :func:`lwc.sim.gatelevel.simulate` (what ``lwc demo`` runs on the whole test set) on the
first ``--images`` of the test set, split over ``--processes`` simulator processes. Example (the
``lwc demo mnist-spram`` net)::

    python bench/gatelevel.py build/mnist-spram/net.pt --weights spram --images 1000 \\
        --processes 2 --data-dir ../shared/data/mnist
"""

import argparse
import functools
import time

from lwc.boards.plan import plan_architecture
from lwc.boards.registry import get_board
from lwc.boards.toolchain import tool_path, toolchain_env
from lwc.compiler import netfile
from lwc.compiler.driver import compile_design
from lwc.sim import cocotb_sim, gatelevel


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("net", help="net.pt")
    parser.add_argument("--board", default="icebreaker")
    parser.add_argument("--architecture", default="auto")
    parser.add_argument("--weights", default=None, choices=("bram", "spram"))
    parser.add_argument("--images", type=int, default=None, help="the first N of the test set "
                        "(default: all)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--build-dir", default="build/bench/gatelevel")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    net = netfile.load(args.net)
    design = compile_design(net, planner=functools.partial(
        plan_architecture, board=get_board(args.board), architecture=args.architecture,
        weights=args.weights))
    x, _ = cocotb_sim.test_set(net, data_dir=args.data_dir)
    total = len(x)
    x = x[:args.images]
    env = toolchain_env()
    started = time.monotonic()
    report = gatelevel.simulate(design, x, yosys=tool_path("yosys", env), env=env,
                                build_dir=args.build_dir, simulator=args.simulator,
                                seed=args.seed, processes=args.processes)
    wall = time.monotonic() - started
    print(report.format())
    # Each process boots once (a table in SPRAM), then streams its share: the whole set's time
    # from the simulated cycles per second of one process and the cycles per image, boot apart.
    boots = args.processes * (report.boot_cycles or 0)
    per_second = report.cycles / (args.processes * report.stream_seconds)
    per_image = (report.cycles - boots) / report.vectors
    whole = (total * per_image + boots) / (args.processes * per_second)
    print(f"{report.vectors - report.mismatches}/{report.vectors} identical; {wall:.0f} s in all, "
          f"{report.stream_seconds:.0f} s simulating ({report.vectors / report.stream_seconds:.2f} "
          f"images/s over {args.processes} process(es), boot included); {per_second:,.0f} "
          f"cycles/s a process, {per_image:,.0f} cycles an image: the whole test set "
          f"({total:,} images) would take about {whole / 60:.0f} min")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
