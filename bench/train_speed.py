"""Training speed: seconds per epoch, total time and test accuracy of ``lwc train`` per method and
device, beside a minimal straight-through trainer (``bench/reference_trainer.py``) on the same
configuration, in the same run (timings on a shared machine only compare within one run).

The configuration is the ``lwc demo mnist`` recipe (:data:`lwc.demo.RECIPES`: ``ste``,
784-512-10, 98.85% zeros in the hidden layer, 80% in the output layer, 2-bit pixels, 1-pixel
shifts, lr 0.03, 60 epochs), with any option overridden::

    python bench/train_speed.py --data-dir ../shared/data/mnist              # the recipe, CPU
    python bench/train_speed.py --data-dir DIR --seeds 0,1,2 --no-reference  # seeds 0-2
    python bench/train_speed.py --data-dir DIR --profile 20 --epochs 2       # top operators
    python bench/train_speed.py --data-dir DIR --devices cpu,cuda --methods all --epochs 5
    python bench/train_speed.py --data-dir DIR --devices cuda --concurrent 8 --epochs 3
    python bench/train_speed.py --data-dir DIR --precisions fp32,bf16 --epochs 3 --lr 0.01 \
        --augment 0                                         # issue 14's comparison, both

``--concurrent N`` starts N trainings at once (separate processes, same device) and reports the
mean of their seconds per epoch (the row's ``runs`` column says N). ``--no-reference`` leaves
the reference out; it runs for ``ste`` only (the method it implements). ``--json FILE`` also
writes every row.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from lwc.demo import RECIPES
from lwc.train import TrainConfig, train
from lwc.train.methods import METHODS

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = [("method", "{}", 12), ("seed", "{}", 4), ("device", "{}", 6), ("precision", "{}", 9),
           ("batch", "{}", 5), ("epochs", "{}", 6),
           ("runs", "{}", 4), ("s/epoch", "{:.2f}", 7), ("total s", "{:.1f}", 7),
           ("cpu s", "{:.1f}", 6), ("test acc", "{:.2%}", 8), ("ref s/ep", "{:.2f}", 8),
           ("ref tot", "{:.1f}", 7), ("ref cpu", "{:.1f}", 7), ("ref acc", "{:.2%}", 7),
           ("ratio", "{:.2f}", 5), ("cpu ratio", "{:.2f}", 9)]


def config_options(args, method, device, precision="fp32", seed=0):
    options = dict(RECIPES["mnist"]["train"])
    options.update(method=method, dataset="mnist", data_dir=args.data_dir, device=device,
                   seed=seed, threads=args.threads, precision=precision)
    for name in ("epochs", "batch_size", "lr", "augment"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def run_lwc(options):
    start, cpu = time.perf_counter(), time.process_time()
    result = train(TrainConfig(**options))
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "train_seconds": result.train_seconds,
            "s_per_epoch": result.train_seconds / options["epochs"],
            "test_accuracy": result.test_accuracy, "device": result.device}


def run_reference(options):
    sys.path.insert(0, HERE)
    import reference_trainer

    start, cpu = time.perf_counter(), time.process_time()
    accuracy, seconds, per_epoch = reference_trainer.train(
        options["data_dir"], hidden=tuple(options["hidden"]), sparsity=options["sparsity"],
        output_sparsity=options["output_sparsity"], input_bits=options["input_bits"],
        augment=options["augment"], epochs=options["epochs"], lr=options["lr"],
        batch_size=options.get("batch_size", 64), seed=options["seed"],
        device=options["device"], threads=options["threads"])
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "train_seconds": seconds, "s_per_epoch": per_epoch, "test_accuracy": accuracy}


def run_many(options, which, count):
    """``count`` runs at once in their own processes; the mean of their figures."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", which,
                               json.dumps(options)], stdout=subprocess.PIPE, text=True)
             for _ in range(count)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a concurrent {which} run failed")
    keys = ("seconds", "cpu_seconds", "train_seconds", "s_per_epoch", "test_accuracy")
    mean = {k: sum(o[k] for o in outs) / count for k in keys}
    return {**outs[0], **mean}


def profile(args):
    """The operators of one lwc training run by self CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    method = "ste" if args.methods == "all" else args.methods.split(",")[0]
    options = config_options(args, method, resolve(args.devices.split(",")[0]),
                             args.precisions.split(",")[0], int(args.seeds.split(",")[0]))
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        result = run_lwc(options)
    print(f"{method}: {result['seconds']:.1f} s, {result['s_per_epoch']:.2f} s/epoch, "
          f"test accuracy {result['test_accuracy']:.2%} (under the profiler)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile))


def resolve(device):
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    p.add_argument("--methods", default="ste",
                   help=f"comma-separated, or all ({', '.join(METHODS)})")
    p.add_argument("--devices", default="cpu", help="comma-separated: cpu, cuda, auto")
    p.add_argument("--precisions", default="fp32",
                   help="comma-separated lwc train --precision values (fp32, bf16); the "
                        "reference (float32) runs once per device")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's (60)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    p.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    p.add_argument("--augment", type=int, default=None, help="default: the recipe's (1)")
    p.add_argument("--seeds", default="0", help="comma-separated: one row per seed")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--concurrent", type=int, default=1, metavar="N",
                   help="N trainings at once on the device (their mean per row)")
    p.add_argument("--no-reference", action="store_true", help="leave the reference trainer out")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every row here")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="instead: one lwc run of the first method, device and precision under "
                        "torch.profiler, and its N operators of most self CPU time")
    args = p.parse_args(argv)
    if args.profile:
        return profile(args)
    methods = METHODS if args.methods == "all" else tuple(args.methods.split(","))
    rows = []
    print("  ".join(f"{name:>{width}}" for name, _, width in COLUMNS), flush=True)
    for device, method, seed in [(resolve(d), m, int(s)) for d in args.devices.split(",")
                                 for m in methods for s in args.seeds.split(",")]:
        ref = None
        for precision in args.precisions.split(","):
            options = config_options(args, method, device, precision, seed)
            options.setdefault("batch_size", TrainConfig().batch_size)
            many = args.concurrent > 1
            ours = run_many(options, "lwc", args.concurrent) if many else run_lwc(options)
            row = {"method": method, "seed": seed, "device": device, "precision": precision,
                   "batch": options["batch_size"], "epochs": options["epochs"],
                   "runs": args.concurrent, **ours}
            if method == "ste" and not args.no_reference:
                if ref is None:
                    ref = (run_many(options, "reference", args.concurrent) if many
                           else run_reference(options))
                row["reference"] = ref
                row["ratio"] = ours["seconds"] / ref["seconds"]
                row["cpu_ratio"] = ours["cpu_seconds"] / ref["cpu_seconds"]
            rows.append(row)
            r = row.get("reference", {})
            values = [method, seed, device, precision, row["batch"], row["epochs"], row["runs"],
                      ours["s_per_epoch"], ours["seconds"], ours["cpu_seconds"],
                      ours["test_accuracy"], r.get("s_per_epoch"), r.get("seconds"),
                      r.get("cpu_seconds"), r.get("test_accuracy"), row.get("ratio"),
                      row.get("cpu_ratio")]
            print("  ".join((fmt.format(v) if v is not None else "-").rjust(width)
                            for (_, fmt, width), v in zip(COLUMNS, values)), flush=True)
    print("total s: wall time of the whole run (load, train, evaluate; lwc also validates every "
          "epoch, exports and proves the net); cpu s: its process CPU time; ratio: lwc's total "
          "over the reference's; cpu ratio: the same of cpu s (the reference runs once per "
          "method and device, with the first precision's options)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        which, options = sys.argv[2], json.loads(sys.argv[3])
        print(json.dumps(run_lwc(options) if which == "lwc" else run_reference(options)))
    else:
        main()
