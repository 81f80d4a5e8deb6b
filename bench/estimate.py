"""The resource estimator (``lwc.boards.estimate``) against nextpnr, net by net.

For each benchmark net and datapath, ``lwc compile`` builds the board design (network + UART front
end) and the table compares the estimate that ``--architecture auto`` decides with against
nextpnr's placed logic cells and block RAMs. Builds are cached in ``build/bench/estimate`` by the
net, the options and the source of ``lwc.hw``, so a rerun only rebuilds what changed::

    nice -n 10 python bench/estimate.py
    nice -n 10 python bench/estimate.py --nets digits-demo,mnist

MNIST nets are trained here on first use (``--data-dir``, default ``../shared/data/mnist``).
"""

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lwc.boards.plan import plan_architecture
from lwc.boards.registry import get_board
from lwc.compile import write_design
from lwc.compiler import ir, netfile, passes
from lwc.compiler.driver import compile_design

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "bench" / "estimate"


def _random(seed, sizes, bits, density):
    rng = np.random.default_rng(seed)
    input_bits = bits
    layers = []
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([-1, 0, 1], size=(n_out, n_in), p=[density / 2, 1 - density, density / 2])
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-3, 4, n_out)))
        else:
            mid = (np.abs(w).sum(axis=1) * ((1 << bits) - 1)) // 4
            layers.append((w, ir.Activation("step"), mid))
        bits = 1
    return ir.from_dense(ir.InputSpec(sizes[0], input_bits, None), layers,
                         tuple(str(k) for k in range(sizes[-1])), (("dataset", "random"),))


def _trained(name, **config):
    from lwc.train import TrainConfig, train_to_file

    path = ROOT / "build" / "bench" / f"{name}.pt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        train_to_file(TrainConfig(**config, threads=1), str(path), progress=lambda *_: None)
    return netfile.load(str(path))


def _mnist(data_dir, name, **config):
    return _trained(name, dataset="mnist", data_dir=data_dir, **config)


#: name -> (description, net factory(data_dir), board, [(architecture, lanes)])
NETS = {
    "digits-demo": ("digits 64-64-10, 4 bit (demo)",
                    lambda d: _trained("digits-demo", hidden=(64,), sparsity=0.87),
                    "icebreaker", [("parallel", None), ("streaming", 1), ("streaming", 4)]),
    "rand-1b": ("random 128-32-10, 1 bit, 15%", lambda d: _random(0, (128, 32, 10), 1, 0.15),
                "icebreaker", [("parallel", None), ("streaming", 2)]),
    "rand-4b": ("random 48-48-10, 4 bit, 15%", lambda d: _random(1, (48, 48, 10), 4, 0.15),
                "icebreaker", [("parallel", None)]),
    "rand-2b": ("random 96-40-10, 2 bit, 12%", lambda d: _random(2, (96, 40, 10), 2, 0.12),
                "icebreaker", [("parallel", None), ("streaming", 1)]),
    "digits": ("digits 64-256-10, 4 bit (default training)",
               lambda d: _trained("digits"), "icebreaker", [("streaming", 1), ("streaming", 4)]),
    "mnist": ("MNIST 784-256-10, 2 bit, 90% zeros (ste)",
              lambda d: _mnist(d, "mnist-ste-256", method="ste", hidden=(256,), sparsity=0.9,
                               input_bits=2, epochs=30),
              "icebreaker", [("streaming", 1)]),
}


def _source_hash():
    h = hashlib.sha256()
    for path in sorted((ROOT / "hw").glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _net_hash(net):
    return hashlib.sha256(ir.dump(net).encode()).hexdigest()[:16]


def measure(name, data_dir, *, progress=print):
    """Rows ``{net, architecture, lanes, estimate, nextpnr...}`` of one benchmark net."""
    description, factory, board_name, choices = NETS[name]
    net = factory(data_dir)
    compiled = passes.run(net)
    board = get_board(board_name)
    rows = []
    for architecture, lanes in choices:
        plan = plan_architecture(compiled, board, architecture, lanes=lanes,
                                 progress=lambda *_: None)
        estimate = plan.estimate
        if estimate is None:  # an explicit parallel plan is not estimated: do it here
            from lwc.boards.estimate import estimate_parallel
            estimate = estimate_parallel(compiled)
        key = f"{name}-{architecture}-{lanes}-{_net_hash(net)}-{_source_hash()}"
        cached = CACHE / f"{key}.json"
        if cached.exists():
            placed = json.loads(cached.read_text())
        else:
            progress(f"{name} {architecture} lanes={lanes}: building for {board_name}")
            start = time.monotonic()
            design = compile_design(net, plan.architecture)
            result = write_design(design, CACHE / key, board=board_name, seed=1,
                                  progress=lambda *_: None, force=True)
            placed = {"logic_cells": result.build.logic_cells.used,
                      "lut4": result.build.lut4.used,
                      "block_rams": result.build.block_ram.used,
                      "fmax_mhz": result.build.fmax_mhz, "seconds": time.monotonic() - start}
            cached.write_text(json.dumps(placed))
        rows.append({"net": name, "description": description, "architecture": architecture,
                     "lanes": estimate.lanes or "-", "estimate": estimate.logic_cells,
                     "estimate_bram": estimate.block_rams, **placed})
    return rows


def format_table(rows):
    lines = ["| net | datapath | estimated LC | nextpnr LC | error | est. BRAM | BRAM |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        error = 100.0 * (r["estimate"] - r["logic_cells"]) / r["logic_cells"]
        datapath = r["architecture"] + (f", {r['lanes']} lane(s)" if r["lanes"] != "-" else "")
        lines.append(f"| {r['description']} | {datapath} | {r['estimate']} | {r['logic_cells']}"
                     f" | {error:+.1f}% | {r['estimate_bram']} | {r['block_rams']} |")
    worst = max(abs(r["estimate"] - r["logic_cells"]) / r["logic_cells"] for r in rows)
    lines.append(f"\nlargest error: {100 * worst:.1f}% of nextpnr's logic cells")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=",".join(NETS), help="comma-separated net names")
    parser.add_argument("--data-dir", default=os.path.join(ROOT.parent, "shared", "data", "mnist"))
    args = parser.parse_args()
    names = [n for n in args.nets.split(",") if n]
    unknown = [n for n in names if n not in NETS]
    if unknown:
        sys.exit(f"unknown net(s): {', '.join(unknown)} (choose from {', '.join(NETS)})")
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        rows += measure(name, args.data_dir, progress=lambda line: print(line, file=sys.stderr))
    print(format_table(rows))
    (CACHE / "rows.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
