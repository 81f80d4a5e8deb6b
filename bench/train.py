"""Training methods compared: one table of what each method's exported integer net gives.

For every dataset and method it trains (:func:`lwc.train.train`, the same path as ``lwc train``),
then reports the exported net's test accuracy (the golden model on the whole test set), macro F1
and G-mean, nonzero weights, zero fraction, bits/weight (entropy of the weight values), largest
weight magnitude, hidden neurons and inputs the compiler drops, the mean fan-in of the neurons
left, the training time and where it ran. The whole table (``docs/benchmarks.md``, "Training";
MNIST and Fashion-MNIST from ``DATA_ROOT/mnist`` and ``DATA_ROOT/fashion-mnist``)::

    python bench/train.py --datasets mnist,fashion-mnist,digits,breast-cancer \
        --data-root ../shared/data

Deep nets (``docs/benchmarks.md``, "Deep nets"): the presets ``deep8`` and ``deep16`` train
MNIST with 8 and 16 hidden layers of 256 and the triangle-shaped straight-through gradient;
``deep8-box`` and ``deep16-box`` are the same with the default box of half-width 1::

    python bench/train.py --datasets deep8,deep16,deep8-box,deep16-box --methods ste \
        --data-dir ../shared/data/mnist

Parts: ``--datasets digits,breast-cancer`` (no data files needed), ``--methods sample,lwn``;
``--quick`` trains a quarter of the epochs (a smoke run, not the figures). One MNIST-style
dataset from elsewhere: ``--datasets mnist --data-dir DIR``. Deeper nets: ``--hidden
64,64,64,64 --ste-window 2``. ``--seeds 0,1,2`` averages over seeds (the table then shows means).
``--json FILE`` also writes every run's numbers.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from lwc.compiler import netfile
from lwc.train import TrainConfig, train
from lwc.train.methods import METHODS

# Per dataset: the hidden layers and epochs of the comparison (small enough for a laptop CPU), and
# the group-lasso strength of ``dropneuron`` where the library default (tuned on digits) is too
# strong: on MNIST, 784-256-10 for 10 epochs, 5e-5 gave 89.6% and 1e-5 95.3%.
PRESETS = {
    "digits": {"hidden": (256,), "epochs": 40},
    "breast-cancer": {"hidden": (32,), "epochs": 40},
    "mnist": {"hidden": (256,), "epochs": 10, "dropneuron": 1e-5},
    "fashion-mnist": {"hidden": (256,), "epochs": 10, "dropneuron": 1e-5},
}
# Deep nets (issue 19): presets on MNIST with their own training options; "-box" keeps the
# default straight-through gradient (a box of half-width 1), for the comparison.
_DEEP = {"dataset": "mnist", "epochs": 15, "options": {
    "input_bits": 2, "sparsity": 0.8, "output_sparsity": 0.5, "ste_shape": "triangle",
    "ste_window": 3.0}}
for _depth in (8, 16):
    PRESETS[f"deep{_depth}"] = {**_DEEP, "hidden": (256,) * _depth}
    PRESETS[f"deep{_depth}-box"] = {
        **_DEEP, "hidden": (256,) * _depth,
        "options": {**_DEEP["options"], "ste_shape": "box", "ste_window": 1.0}}
COLUMNS = [
    ("dataset", "{}", 13), ("method", "{}", 12), ("test acc", "{:.2%}", 8), ("F1", "{:.2%}", 7),
    ("G-mean", "{:.2%}", 7), ("nonzero", "{:.0f}", 7), ("zero", "{:.1%}", 6),
    ("bits/w", "{:.3f}", 6), ("max|w|", "{:.0f}", 6), ("drop n", "{:.0f}", 6),
    ("drop in", "{:.0f}", 7),
    ("fan-in", "{:.1f}", 6), ("train s", "{:.1f}", 7), ("device", "{}", 6),
]


def dataset_of(name):
    """The dataset a row of ``--datasets`` trains on (a preset may name its own)."""
    return PRESETS.get(name, {}).get("dataset", name)


def data_dir(dataset, args):
    """Where the IDX files of ``dataset`` are (``None`` for bundled data)."""
    dataset = dataset_of(dataset)
    if dataset not in ("mnist", "fashion-mnist"):
        return None
    if args.data_dir:
        return args.data_dir
    if args.data_root:
        return os.path.join(args.data_root, dataset)
    return None


def make_config(dataset, method, seed, args):
    """The :class:`TrainConfig` of one row: the dataset's preset, then the command line."""
    preset = PRESETS[dataset]
    epochs = args.epochs or preset["epochs"]
    if args.quick:
        epochs = max(2, epochs // 4)
    options = dict(preset.get("options", {}))
    for name in ("sparsity", "ste_window"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return TrainConfig(
        dataset=dataset_of(dataset), method=method, seed=seed, data_dir=data_dir(dataset, args),
        hidden=args.hidden or preset["hidden"], epochs=epochs,
        threads=args.threads, device=args.device,
        dropneuron=preset.get("dropneuron") if method == "dropneuron" else None,
        **options,
    )


def run(dataset, method, seed, args):
    config = make_config(dataset, method, seed, args)
    start = time.perf_counter()
    result = train(config)
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        netfile.save(result.net, os.path.join(args.save, f"{dataset}-{method}-{seed}.pt"))
    s = result.summary
    return {
        "dataset": dataset, "method": method, "seed": seed,
        "test acc": result.test_accuracy, "F1": result.test_metrics["f1"],
        "G-mean": result.test_metrics["g_mean"], "nonzero": s["nonzero"],
        "zero": s["zero_fraction"], "bits/w": s["bits_per_weight"],
        "max|w|": max((abs(w) for layer in result.net.layers for n in layer.neurons
                       for w in n.weights), default=0),
        "drop n": s["dropped_neurons"], "drop in": s["dropped_inputs"], "fan-in": s["mean_fan_in"],
        "train s": result.train_seconds, "device": result.device,
        "wall s": time.perf_counter() - start, "hidden": list(config.hidden),
        "epochs": config.epochs, "val acc": result.val_accuracy,
    }


def table(rows):
    header = " ".join(f"{name:>{width}}" for name, _, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = []
        for name, fmt, width in COLUMNS:
            cells.append(f"{fmt.format(row[name]):>{width}}")
        lines.append(" ".join(cells))
    return "\n".join(lines)


def mean_rows(rows):
    """One row per (dataset, method): the mean of numbers over seeds."""
    out = []
    for key in dict.fromkeys((r["dataset"], r["method"]) for r in rows):
        group = [r for r in rows if (r["dataset"], r["method"]) == key]
        merged = dict(group[0])
        for name in merged:
            if isinstance(merged[name], (int, float)) and name != "seed":
                merged[name] = float(np.mean([r[name] for r in group]))
        out.append(merged)
    return out


def make_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="digits,breast-cancer")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--data-root", default=None,
                        help="folder holding mnist/ and fashion-mnist/ with the IDX files")
    parser.add_argument("--data-dir", default=None,
                        help="the IDX files of the one MNIST-style dataset selected")
    parser.add_argument("--quick", action="store_true",
                        help="a quarter of the epochs: a smoke run, not the figures")
    parser.add_argument("--hidden", default=None,
                        type=lambda text: tuple(int(h) for h in text.split(",")),
                        help="hidden sizes for every dataset, e.g. 64 or 64,64")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--sparsity", type=float, default=None)
    parser.add_argument("--ste-window", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write every run to this file")
    parser.add_argument("--save", default=None, metavar="DIR",
                        help="also write every run's net to DIR/DATASET-METHOD-SEED.pt")
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",")
    if args.data_dir and len({dataset_of(d) for d in datasets} & {"mnist", "fashion-mnist"}) > 1:
        parser.error("--data-dir holds one dataset's files; use --data-root for both MNIST sets")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for dataset in datasets:
        for method in args.methods.split(","):
            for seed in seeds:
                row = run(dataset, method, seed, args)
                rows.append(row)
                print(f"{dataset} {method} seed {seed}: test {row['test acc']:.2%}, "
                      f"{row['train s']:.1f} s", file=sys.stderr, flush=True)
    print(f"python bench/train.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"seeds {','.join(map(str, seeds))} (means over seeds), threads {args.threads}")
    print(table(mean_rows(rows)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
