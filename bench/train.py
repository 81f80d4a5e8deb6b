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

Two studies (``docs/benchmarks.md``, "Training: dropout partitions, paths"), one command each:

``--study dropout`` — MNIST 784-256-10, ``ste``, 10 epochs, for every ``--partitions`` P: no
    dropout, ``--dropout P`` in partitions and plain (``--dropout-mode plain``, rate 1/P), over
    ``--seeds``; test accuracy mean, standard deviation, range, and the random numbers drawn per
    epoch::

        python bench/train.py --study dropout --data-dir ../shared/data/mnist \
            --seeds 0,1,2,3,4 --partitions 2,4,8

``--study paths`` — 784-300-300-10 on MNIST at 1x, 4x and 16x the width (``--widths``) with the
    same 24,000 weights (:data:`PATH_WIDTHS`): ``--method paths`` (uniform; ``magnitude`` at 1x),
    and ``ste`` (dense latent weights cut to the same count) where ``--dense-widths`` says: test
    accuracy, training time (wall and CPU seconds), and the CPU time and memory of one training
    step (a mini-batch of 64 on random binary inputs: peak resident memory above the process's
    before the model was made)::

        python bench/train.py --study paths --data-dir ../shared/data/mnist
"""

import argparse
import dataclasses
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


# --- studies -------------------------------------------------------------------------------------

#: ``--study paths``: the fan-ins (hidden, hidden, output) of 784-300w-300w-10 for width factor
#: ``w``, all with 24,000 weights (every last hidden neuron read by 4, 1, 1 outputs; the rest
#: split evenly between the hidden layers).
PATH_WIDTHS = {1: (38, 38, 120), 2: (18, 18, 240), 4: (9, 9, 240), 16: (2, 2, 480)}
PATH_BASE = 300


#: Inputs of the study datasets.
INPUTS = {"mnist": 784, "fashion-mnist": 784, "digits": 64}


def path_sizes(width):
    """``(hidden, fan_in, weights)`` of the paths study at ``width``."""
    hidden = (PATH_BASE * width,) * 2
    fan_in = PATH_WIDTHS[width]
    return hidden, fan_in, sum(k * n for k, n in zip(fan_in, (*hidden, 10)))


def dense_size(width, inputs=784):
    """The weights of the dense net of the paths study at ``width``."""
    sizes = (inputs, *path_sizes(width)[0], 10)
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def same_count_sparsity(width, inputs=784):
    """``(sparsity, output_sparsity)`` of ``ste`` with the paths study's weights at ``width``: the
    hidden layers' share of zeros over both, the output layer's apart."""
    hidden, fan_in, _ = path_sizes(width)
    sizes = (inputs, *hidden, 10)
    dense = sum(a * b for a, b in zip(sizes[:2], sizes[1:3]))
    kept = sum(k * n for k, n in zip(fan_in[:2], sizes[1:3]))
    return 1 - kept / dense, 1 - fan_in[2] / hidden[-1]


def _status_kb(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak():
    """Set the process's peak resident memory (VmHWM) to its current one (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def step_cost(config, inputs=784):
    """``(ms per step, MB)``: :func:`measure_steps` of ``config`` in a fresh process (so the
    memory of earlier rows, kept by the allocator, does not hide this one's)."""
    import subprocess

    fields = {k: list(v) if isinstance(v, tuple) else v
              for k, v in dataclasses.asdict(config).items()}
    # Blocks of 64 KiB and more from mmap, returned when freed: the warm-up's memory goes back
    # to the system before the measured run (glibc's default threshold grows and keeps it).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--step-cost",
                          json.dumps({"config": fields, "inputs": inputs})],
                         check=True, capture_output=True, text=True, env=env).stdout
    ms, mb = json.loads(out.splitlines()[-1])
    return ms, mb


def measure_steps(config, inputs=784, outputs=10, batch=64, steps=30):
    """``(ms per step, MB)`` of training steps of ``config``'s model on random binary inputs: the
    mean time of ``steps`` steps after 5, and the peak resident memory above the process's
    before the model was built (after a warm-up run of the same)."""
    import torch

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    x = (torch.rand(batch, inputs, generator=gen) < 0.2).float()
    y = torch.randint(0, outputs, (batch,), generator=gen)
    return [_steps(config, x, y, steps, warm_up=True), _steps(config, x, y, steps)][1]


def _steps(config, x, y, steps, warm_up=False):
    """Build ``config``'s model and time ``steps`` training steps on ``x``, ``y``; the warm-up
    (the same, first) loads what the first products load (libraries' buffers)."""
    import gc

    import torch

    from lwc.train.loop import _adam_options
    from lwc.train.methods import make_regimen
    from lwc.train.model import TernaryMLP

    gc.collect()
    _reset_peak()
    before = _status_kb("VmRSS")
    inputs, outputs = x.shape[1], 10
    regimen = make_regimen(config, config.epochs, 1)
    model = TernaryMLP(inputs, config.hidden, outputs, regimen.sparsity(0),
                       weights=regimen.weights, ste_window=config.ste_window)
    if config.method == "paths":
        from lwc.train.paths import connect

        connect(model, config, x, y)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, **_adam_options(x.device))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2 if warm_up else 5):
        step()
    # CPU time of the (one-thread) process: on a machine shared with other jobs, wall time
    # measures the others too.
    start = time.process_time()
    for _ in range(1 if warm_up else steps):
        step()
    ms = (time.process_time() - start) / (1 if warm_up else steps) * 1e3
    return ms, (_status_kb("VmHWM") - before) / 1024


def dropout_rows(args):
    """The runs of ``--study dropout``: ``(P, mode, seed)`` for no dropout (P 0) and every P in
    both modes."""
    seeds = [int(s) for s in args.seeds.split(",")]
    partitions = [int(p) for p in args.partitions.split(",")]
    modes = args.modes.split(",")
    runs = [(0, "none", seed) for seed in seeds] if "none" in modes else []
    for p in partitions:
        runs += [(p, mode, seed) for mode in ("partition", "plain") if mode in modes
                 for seed in seeds]
    return runs


def study_method(args, default):
    """The method of a study: ``default`` unless ``--methods`` names one."""
    return default if args.methods == ",".join(METHODS) else args.methods.split(",")[0]


def dropout_config(p, mode, seed, args):
    """The :class:`TrainConfig` of one run of ``--study dropout`` (P 0: no dropout)."""
    config = make_config(args.dataset, study_method(args, "ste"), seed, args)
    if p:
        config = dataclasses.replace(config, dropout=p, dropout_mode=mode)
    return config


def dropout_study(args):
    rows = []
    for p, mode, seed in dropout_rows(args):
        config = dropout_config(p, mode, seed, args)
        result = train(config)
        drawn = [e.get("dropout_random", 0) for e in result.history]
        rows.append({"P": p, "mode": mode, "seed": seed, "test acc": result.test_accuracy,
                     "random/epoch": float(np.mean(drawn)), "train s": result.train_seconds,
                     "method": config.method, "epochs": config.epochs,
                     "hidden": list(config.hidden)})
        print(f"P {p} {mode} seed {seed}: test {result.test_accuracy:.2%}, "
              f"{rows[-1]['random/epoch']:.0f} random numbers per epoch, "
              f"{result.train_seconds:.1f} s", file=sys.stderr, flush=True)
    return rows, dropout_table(rows)


def dropout_table(rows):
    """The table of ``--study dropout``: one line per (P, mode) over seeds."""
    lines = ["    P      t      mode  seeds     mean       sd   min..max        random/epoch "
             " train s", "-" * 88]
    for key in dict.fromkeys((r["P"], r["mode"]) for r in rows):
        group = [r for r in rows if (r["P"], r["mode"]) == key]
        acc = np.array([r["test acc"] for r in group])
        sd = float(acc.std(ddof=1)) if len(acc) > 1 else 0.0
        t = f"1/{key[0]}" if key[0] else "0"
        lines.append(f"{key[0]:5d} {t:>6} {key[1]:>9} {len(acc):6d} {acc.mean():8.2%} "
                     f"{sd:8.4f} {acc.min():.2%}..{acc.max():.2%} "
                     f"{np.mean([r['random/epoch'] for r in group]):16,.0f} "
                     f"{np.mean([r['train s'] for r in group]):8.1f}")
    return "\n".join(lines)


def paths_study(args):
    widths = [int(w) for w in args.widths.split(",")]
    dense_widths = {int(w) for w in args.dense_widths.split(",") if w}
    step_only = {int(w) for w in args.dense_step_widths.split(",") if w}
    kinds = args.path_runs.split(",")
    runs = [(w, "paths", "uniform") for w in widths if "uniform" in kinds]
    runs += [(w, "paths", "magnitude") for w in widths if w == 1 and "magnitude" in kinds]
    runs += [(w, "ste", "") for w in widths if w in dense_widths | step_only and "ste" in kinds]
    rows = []
    seed = int(args.seeds.split(",")[0])
    inputs = INPUTS[args.dataset]
    for width, method, how in runs:
        hidden, fan_in, weights = path_sizes(width)
        base = make_config(args.dataset, method, seed, args)
        if method == "paths":
            config = dataclasses.replace(base, hidden=hidden, fan_in=fan_in, path_sampling=how)
        else:
            sparsity, out = same_count_sparsity(width, inputs)
            config = dataclasses.replace(base, hidden=hidden, sparsity=sparsity,
                                         output_sparsity=out)
        ms, mb = step_cost(config, inputs)
        row = {"width": width, "hidden": "-".join(map(str, hidden)),
               "method": method + (f" {how}" if how else ""),
               "fan-in": ",".join(map(str, fan_in)) if method == "paths" else "-",
               "weights": weights, "dense": dense_size(width, inputs),
               "step ms": ms, "step MB": mb, "test acc": None, "nonzero": None,
               "train s": None, "cpu s": None, "epochs": config.epochs}
        if method == "paths" or width in dense_widths:
            cpu = time.process_time()
            result = train(config)
            row.update({"test acc": result.test_accuracy, "nonzero": result.summary["nonzero"],
                        "train s": result.train_seconds, "cpu s": time.process_time() - cpu})
        rows.append(row)
        print(f"{row['hidden']} {row['method']}: step {ms:.1f} ms {mb:.0f} MB, test "
              f"{row['test acc']}, {row['train s']} s", file=sys.stderr, flush=True)
    return rows, paths_table(rows)


def paths_table(rows):
    """The table of ``--study paths``."""
    lines = ["width        hidden            method   fan-in  weights      dense  test acc "
             "nonzero epochs  train s    cpu s cpu s/ep  step ms  step MB", "-" * 132]
    for r in rows:
        acc = f"{r['test acc']:.2%}" if r["test acc"] is not None else "-"
        nonzero = f"{r['nonzero']:,}" if r["nonzero"] is not None else "-"
        train_s = f"{r['train s']:.1f}" if r["train s"] is not None else "-"
        cpu_s = f"{r['cpu s']:.1f}" if r["cpu s"] is not None else "-"
        per_epoch = f"{r['cpu s'] / r['epochs']:.1f}" if r["cpu s"] is not None else "-"
        epochs = r["epochs"] if r["test acc"] is not None else "-"
        lines.append(f"{r['width']:4d}x {r['hidden']:>13} {r['method']:>17} {r['fan-in']:>8} "
                     f"{r['weights']:8,} {r['dense']:10,} {acc:>9} {nonzero:>7} {epochs:>6} "
                     f"{train_s:>8} {cpu_s:>8} {per_epoch:>8} {r['step ms']:8.1f} "
                     f"{r['step MB']:8.1f}")
    return "\n".join(lines)


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
    parser.add_argument("--study", choices=("dropout", "paths"), default=None,
                        help="dropout: partitions against plain dropout over seeds; paths: "
                        "--method paths at 1x/4x/16x the width with the same weights, beside "
                        "ste (MNIST, from --data-dir or --data-root)")
    parser.add_argument("--dataset", default="mnist", choices=sorted(INPUTS),
                        help="the dataset of a --study")
    parser.add_argument("--partitions", default="2,4,8",
                        help="--study dropout: the numbers of partitions P (drop rate 1/P)")
    parser.add_argument("--modes", default="none,partition,plain",
                        help="--study dropout: which of no dropout, partitions, plain to run")
    parser.add_argument("--merge", default=None, metavar="A.json,B.json",
                        help="--study: print the table of the runs in these --json files (parts "
                        "of one study run side by side)")
    parser.add_argument("--path-runs", default="uniform,magnitude,ste",
                        help="--study paths: which rows to run")
    parser.add_argument("--widths", default="1,4,16",
                        help="--study paths: width factors of 784-300-300-10 (1, 2, 4, 16)")
    parser.add_argument("--dense-widths", default="1,4",
                        help="--study paths: widths at which ste trains at the same weights")
    parser.add_argument("--dense-step-widths", default="16",
                        help="--study paths: widths at which ste's training step alone is "
                        "timed (a dense 16x net takes minutes an epoch)")
    parser.add_argument("--save", default=None, metavar="DIR",
                        help="also write every run's net to DIR/DATASET-METHOD-SEED.pt")
    return parser


def main(argv=None):
    argv_list = sys.argv[1:] if argv is None else list(argv)
    if argv_list[:1] == ["--step-cost"]:
        job = json.loads(argv_list[1])
        config = TrainConfig(**job["config"])
        print(json.dumps(measure_steps(config, job["inputs"])))
        return 0
    parser = make_parser()
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",")
    if args.data_dir and len({dataset_of(d) for d in datasets} & {"mnist", "fashion-mnist"}) > 1:
        parser.error("--data-dir holds one dataset's files; use --data-root for both MNIST sets")
    if args.study and args.merge:
        rows = []
        for name in args.merge.split(","):
            with open(name) as f:
                rows += json.load(f)
        if args.study == "dropout":
            rows.sort(key=lambda r: (r["P"], ["none", "partition", "plain"].index(r["mode"]),
                                     r["seed"]))
        print((dropout_table if args.study == "dropout" else paths_table)(rows))
        return 0
    if args.study:
        rows, text = (dropout_study if args.study == "dropout" else paths_study)(args)
        print(f"python bench/train.py {' '.join(argv if argv is not None else sys.argv[1:])}")
        print(f"threads {args.threads}, epochs {rows[0].get('epochs', '')}")
        print(text)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
        return 0
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
