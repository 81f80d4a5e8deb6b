"""The fronts of finished sweeps as Markdown tables (``docs/benchmarks.md``, "Fronts"), and the
smallest placed design of each board at given accuracies::

    lwc sweep examples/sweep_mnist.toml -o build/sweep-mnist --place --prove
    python bench/fronts.py build/sweep-mnist --goals 96,97,98

For each sweep folder (``lwc sweep -o DIR``) and each board, the rows of the front (the sweep's
own :func:`lwc.sweep.front_rows`, over the figures its spec's ``front`` names) with
the options that vary, the test accuracy, nonzero weights and weight-bits
(:func:`lwc.compiler.stats.weight_bits` of the compiled net, after the passes that drop dead
neurons and inputs), the estimate, the placed figures of the whole design as ``lwc compile
--board`` builds it, UART top included (LUT4, logic cells, block RAM, Fmax and images/s at
Fmax), the estimated images/s at the target clock, and the cocotb proof (vectors equal to the
golden model, of all). ``--goals`` then
names, per board, the smallest placed and proven front point (fewest LUT4) at or above each
accuracy, with its LUT4 per nonzero weight-bit. Nothing is run: the figures are the sweep's
(``results.json``, and each point's ``placed.json`` and ``proof.json``, so a sweep still placing
and proving can be looked at).

``--plot PNG`` draws the sweep's plot (as ``pareto.png``) with, under ``--previous CSV``, an
earlier front beside the new one; ``--save-front CSV`` keeps this front for such a comparison
(:func:`lwc.pareto.front_csv`: board, accuracy, estimated and placed figures)::

    python bench/fronts.py build/sweep-mnist-tables --plot docs/img/front-mnist-tables.png \
        --previous docs/fronts/mnist-2026-12-05.csv
"""

import argparse
import json
import sys
from pathlib import Path

from lwc import pareto
from lwc.compiler import netfile, passes
from lwc.compiler.stats import weight_bits
from lwc.sweep import DEFAULT_FRONT, front_rows
from lwc.sweep._run import _option_text, _write_atomic, board_of, with_extras, write_plot
from lwc.sweep._spec import FRONT_FIGURES

# Options never shown as columns: paths, and what every row of a front shares by construction.
_HIDDEN = ("data_dir", "csv", "board")


def load_rows(out_dir):
    out_dir = Path(out_dir)
    try:
        result = json.loads((out_dir / "results.json").read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"{out_dir}: not a finished sweep ({exc})")
    rows = [with_extras(row, out_dir) for row in result["rows"]]
    bits = {}
    for row in rows:
        if row.get("net") and row["net"] not in bits:
            bits[row["net"]] = weight_bits(passes.run(netfile.load(str(out_dir / row["net"]))))
        row["weight_bits"] = bits.get(row.get("net"))
    return result["name"], rows, tuple(result.get("front", DEFAULT_FRONT))


def _count(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def front_table(rows):
    """One board's front as Markdown."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r["options"]) if k not in _HIDDEN
            and len({json.dumps(r["options"].get(k)) for r in rows}) > 1]
    head = [*keys, "accuracy", "nonzero", "weight-bits", "LC est.", "LUT4", "LC", "BRAM",
            "Fmax MHz", "images/s est.", "images/s at Fmax", "cocotb"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        proof = ("—" if r.get("proved") is None else
                 f"{r['proof_vectors'] - r['proof_mismatches']:,}/{r['proof_vectors']:,}")
        if r.get("place_error"):
            placed = ["failed"] + [""] * 3 + [_count(r.get("images_per_s")), ""]
        else:
            placed = [_count(r.get("placed_lut4")), _count(r.get("placed_lc")),
                      _count(r.get("placed_bram")), _count(r.get("placed_fmax_mhz"), 1),
                      _count(r.get("images_per_s")), _count(r.get("placed_images_per_s"))]
        lines.append("| " + " | ".join([
            *(_option_text(r["options"].get(k)) for k in keys), f"{100 * r['accuracy']:.2f}%",
            _count(r.get("nonzero_weights")), _count(r.get("weight_bits")),
            _count(r.get("lc_estimate")), *placed, proof]) + " |")
    return "\n".join(lines)


def smallest(rows, goal):
    """The placed, proven row with the fewest LUT4 at ``goal`` accuracy (a fraction) or more."""
    ok = [r for r in rows if r["accuracy"] >= goal and r.get("placed_lut4") is not None
          and r.get("proved") is True]
    return min(ok, key=lambda r: (r["placed_lut4"], -r["accuracy"]), default=None)


def _front(text):
    names = tuple(n for n in text.split(",") if n)
    unknown = [n for n in names if n not in FRONT_FIGURES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown figure {unknown[0] if unknown else text!r}; "
                                         f"known: {', '.join(FRONT_FIGURES)}")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", metavar="DIR", help="lwc sweep output folders")
    parser.add_argument("--goals", default="", help="accuracies in percent, comma-separated")
    parser.add_argument("--front", type=_front, default=None, metavar="FIGURES",
                        help="the figures the front weighs, comma-separated, instead of the "
                        f"sweep spec's ({', '.join(FRONT_FIGURES)}); e.g. accuracy,images_per_s")
    parser.add_argument("--plot", metavar="PNG", help="draw the sweep's fronts to this file "
                        "(one sweep folder only)")
    parser.add_argument("--previous", metavar="CSV", help="with --plot: an earlier front "
                        "(--save-front's file) drawn dashed beside the new one")
    parser.add_argument("--previous-label", default="earlier front", metavar="TEXT",
                        help="its legend entry (default %(default)r)")
    parser.add_argument("--save-front", metavar="CSV", help="write the front's points to this "
                        "file (one sweep folder only)")
    args = parser.parse_args(argv)
    if (args.plot or args.save_front) and len(args.sweeps) != 1:
        parser.error("--plot and --save-front take one sweep folder")
    if args.previous and not args.plot:
        parser.error("--previous needs --plot")
    try:
        previous = pareto.load_front(args.previous) if args.previous else ()
    except ValueError as exc:
        sys.exit(str(exc))
    goals = [float(g) for g in args.goals.split(",") if g]
    for out_dir in args.sweeps:
        name, rows, figures = load_rows(out_dir)
        figures = args.front or figures
        front = front_rows(rows, figures)
        if args.save_front:
            _write_atomic(args.save_front, pareto.front_csv(front, group=board_of))
        if args.plot:
            dataset = json.loads((Path(out_dir) / "results.json").read_text()).get("dataset")
            write_plot(args.plot, rows, name,
                       tuple(p for p in pareto.PEERS if p.dataset == dataset),
                       previous=previous, previous_label=args.previous_label)
        for board in dict.fromkeys(board_of(r) for r in rows):
            on = [r for r in front if board_of(r) == board]
            points = sum(board_of(r) == board for r in rows)
            print(f"\n{name}, {board}: {len(on)} of {points} points on the front of "
                  f"{', '.join(figures)}\n")
            print(front_table(on))
            for goal in goals:
                best = smallest(on, goal / 100)
                if best is None:
                    print(f"\nsmallest at >= {goal:g}%: none placed and proven on the front")
                    continue
                # Streaming keeps the first layer's weights in block RAM: LUT4 per weight-bit
                # is a datapath's cost only where every weight is logic.
                per_bit = (f": {best['placed_lut4'] / best['weight_bits']:.2f} LUT4 per "
                           f"weight-bit" if best["datapath"] == "parallel" else "")
                print(f"\nsmallest at >= {goal:g}%: {100 * best['accuracy']:.2f}%, "
                      f"{best['placed_lut4']:,} LUT4, {best['placed_lc']:,} logic cells, "
                      f"{best['nonzero_weights']:,} nonzero weights, {best['weight_bits']:,} "
                      f"weight-bits{per_bit} ({best['datapath']}, point {best['hash'][:8]})")


if __name__ == "__main__":
    main()
