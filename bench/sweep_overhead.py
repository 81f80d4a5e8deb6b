"""Ray's overhead in ``lwc sweep``: the same N digits points run serially in this process
(``--no-ray``), on a local Ray with one CPU (the same one-at-a-time order: what is added is
Ray's start, its workers' imports and the task traffic), and on a local Ray with every core, in
one run (timings on a shared machine only compare within one run)::

    python bench/sweep_overhead.py                          # 6 points, 10 epochs, hidden 64
    python bench/sweep_overhead.py --points 30 --epochs 40  # issue 17's goal: <= 10 min, <= 10%

Each backend writes into its own fresh folder, so nothing is cached; every time includes
starting and stopping Ray. The points are ``ste`` digits nets differing in seed and sparsity;
all three runs must agree on every point's accuracy and estimate (checked). ``--json FILE`` also
writes the rows.
"""

import argparse
import json
import os
import sys
import tempfile
import time

from lwc.sweep import parse_spec, run_sweep


def spec(points, epochs, hidden):
    sparsities = (0.7, 0.8, 0.9)
    return parse_spec({
        "name": "overhead", "dataset": "digits",
        "fixed": {"method": "ste", "epochs": epochs, "hidden": hidden, "board": "icebreaker"},
        "points": [{"seed": k // len(sparsities), "sparsity": sparsities[k % len(sparsities)]}
                   for k in range(points)],
    })


def timed(sweep_spec, out, **options):
    start = time.monotonic()
    result = run_sweep(sweep_spec, out, progress=None, **options)
    seconds = time.monotonic() - start
    assert result.cached == 0 and len(result.rows) == len(sweep_spec.points)
    return seconds, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    sweep_spec = spec(args.points, args.epochs, args.hidden)
    cores = os.cpu_count() or 1
    runs = [("serial, in this process", {"backend": "serial"}),
            ("ray, 1 CPU", {"backend": "ray", "num_cpus": 1}),
            (f"ray, {cores} CPUs", {"backend": "ray", "num_cpus": cores})]
    rows, reference = [], None
    with tempfile.TemporaryDirectory(prefix="lwc-sweep-bench-") as tmp:
        for k, (name, options) in enumerate(runs):
            seconds, result = timed(sweep_spec, os.path.join(tmp, str(k)), **options)
            figures = [(r["hash"], r.get("accuracy"), r.get("lc_estimate")) for r in result.rows]
            if reference is None:
                reference = figures
            assert figures == reference, f"{name} computed other figures than the serial run"
            train = sum(r.get("train_seconds") or 0 for r in result.rows)  # a net per point
            rows.append({"backend": name, "points": len(result.rows), "seconds": seconds,
                         "train_seconds": train, "failed": result.failed})
    serial = rows[0]["seconds"]
    print(f"{args.points} digits points (ste, hidden {args.hidden}, {args.epochs} epochs), "
          f"{cores} cores")
    print(f"{'backend':<24} {'points':>6} {'wall s':>8} {'sum of trainings s':>18} "
          f"{'vs serial':>9}")
    for row in rows:
        row["ratio"] = row["seconds"] / serial
        print(f"{row['backend']:<24} {row['points']:>6} {row['seconds']:>8.1f} "
              f"{row['train_seconds']:>18.1f} {row['ratio']:>9.2f}")
    print(f"Ray's overhead on 1 CPU: {100 * (rows[1]['ratio'] - 1):+.0f}% of the serial run")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
