"""Training: :class:`TrainConfig` in, a proven integer :class:`~lwc.compiler.ir.Network` out.

:func:`train` loads and splits the dataset, quantizes it with the net's input spec (the golden
model's :func:`~lwc.compiler.golden.quantize`, so training sees exactly the integers the hardware
will), trains a :class:`~lwc.train.model.TernaryMLP`, keeps the epoch with the best validation
accuracy (the test set is never used for a decision), exports and proves it. :func:`train_to_file`
also writes ``net.pt``, ``train_report.json`` and PNG plots.
"""

import copy
import datetime
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

import lwc
from lwc.compiler import golden, netfile
from lwc.errors import UsageError

from . import data as _data
from .export import export, layer_zero_fractions, total_zero_fraction
from .model import TernaryMLP

__all__ = ["TrainConfig", "TrainResult", "train", "train_to_file", "REPORT_NAME", "PLOT_NAMES"]

REPORT_NAME = "train_report.json"
PLOT_NAMES = {
    "curve": "train_curve.png",
    "receptive_fields": "receptive_fields.png",
    "sparsity": "sparsity.png",
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (with the machine, for bit-reproducibility).

    A field given as ``None`` takes its default (so argparse options left out can be passed
    straight through). The defaults are tuned for ``digits``: one hidden layer of 256, 80% zero
    weights, about 97% test accuracy of the integer net in a few seconds on one core.

    Parameters
    ----------
    dataset : str
        One of :data:`lwc.train.data.DATASETS`.
    data_dir : str, optional
        Directory of the IDX files (MNIST-style datasets).
    hidden : tuple of int
        Hidden layer sizes (at least one layer).
    sparsity : float
        Target share of zero weights in every layer, in ``[0, 1)``.
    epochs, batch_size, lr : int, int, float
        Adam with a cosine learning-rate decay to 0 over ``epochs``.
    seed : int
        Seeds torch, NumPy and (unless ``split_seed`` is given) the data split.
    input_bits : int, optional
        Bits per input feature; ``None``: the dataset's default.
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ...
    test_fraction : float, optional
        See :func:`lwc.train.data.load_dataset`; ``None``: the dataset's default.
    val_fraction : float
        Share of the non-test samples held out for model selection.
    split_seed : int, optional
        Seed of the data split; ``None``: ``seed``.
    threads : int
        CPU threads torch may use during the run (restored afterwards). 1 is fastest for
        digits-size layers (more threads mostly spin) and keeps results identical on machines
        with different core counts; raise it for MNIST-size layers.
    sparsity_ramp : float
        Share of the epochs over which sparsity ramps up from half the target to the target;
        the best epoch is chosen among those at the full target.
    recalibrate : bool
        After every epoch, set batch-norm statistics to the exact training-set statistics of the
        sums (with earlier layers as exported) before validating; the thresholds then fit the
        network as exported rather than a moving average of mini-batches.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    hidden: tuple[int, ...] = (256,)
    sparsity: float = 0.8
    epochs: int = 40
    batch_size: int = 64
    lr: float = 0.01
    seed: int = 0
    input_bits: int | None = None
    device: str = "auto"
    test_fraction: float | None = None
    val_fraction: float = 0.1
    split_seed: int | None = None
    threads: int = 1
    sparsity_ramp: float = 0.3
    recalibrate: bool = True

    def __post_init__(self):
        # Accept what argparse gives: None for "not given" (the default; only fields whose
        # default is not None), lists and paths (stored as what JSON and provenance can hold).
        for f in fields(self):
            if getattr(self, f.name) is None and f.default is not None:
                object.__setattr__(self, f.name, f.default)
        if not isinstance(self.hidden, tuple):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))

    def check(self):
        """Raise :class:`~lwc.errors.UsageError` for an out-of-range option."""
        def bad(name, must):
            raise UsageError(f"{name} must be {must}, not {getattr(self, name)!r}")

        if self.dataset not in _data.DATASETS:
            bad("dataset", "one of " + ", ".join(_data.DATASETS))
        if not self.hidden or not all(isinstance(h, int) and h >= 1 for h in self.hidden):
            bad("hidden", "one or more positive layer sizes")
        if not 0 <= self.sparsity < 1:
            bad("sparsity", "in [0, 1)")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            bad("epochs", "a positive integer")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            bad("batch_size", "a positive integer")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "a positive number")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            bad("seed", "a non-negative integer")
        if not (isinstance(self.threads, int) and self.threads >= 1):
            bad("threads", "a positive integer")
        if not 0 <= self.sparsity_ramp <= 1:
            bad("sparsity_ramp", "in [0, 1]")
        return self


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    ``net`` is the proven integer network (provenance filled in); ``test_accuracy`` its accuracy
    on the test set by the golden model; ``zero_fraction`` the share of zero weights over all
    layers; ``seconds`` the wall time of the whole run; ``history`` one dict per epoch (``epoch``,
    ``loss``, ``train_accuracy``, ``val_accuracy``, ``zero_fraction``, ``sparsity_target``,
    ``seconds`` since training started). ``val_accuracy`` and ``best_epoch`` describe the epoch
    kept; ``model`` is that :class:`~lwc.train.model.TernaryMLP` on the CPU in eval mode;
    ``dataset`` the :class:`~lwc.train.data.Dataset` used.
    """

    net: object
    test_accuracy: float
    zero_fraction: float
    seconds: float
    history: tuple[dict, ...]
    val_accuracy: float = 0.0
    best_epoch: int = 0
    model: object = field(default=None, repr=False, compare=False)
    dataset: object = field(default=None, repr=False, compare=False)


def _device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UsageError(f"device must be 'auto', 'cpu', 'cuda' or similar, not {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} is not available on this machine")
    return dev


def _accuracy(model, x, y, batch=8192):
    """Eval-mode (exact integer semantics) accuracy of ``model`` on tensors ``x``, ``y``."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            pred = model(x[start:start + batch]).argmax(dim=1)
            correct += int((pred == y[start:start + batch]).sum())
    model.train()
    return correct / max(len(x), 1)


def _recalibrate(model, x, batch=8192):
    """Set every batch norm's running statistics to the exact mean and (unbiased) variance of its
    sums over ``x``, layer by layer, with the earlier layers in eval mode (as exported)."""
    model.eval()
    with torch.no_grad():
        a = x
        for layer in model.hidden:
            total = torch.zeros(layer.bn.num_features, dtype=torch.float64, device=x.device)
            square = torch.zeros_like(total)
            outs = []
            for start in range(0, len(a), batch):
                s = layer.linear(a[start:start + batch]).double()
                total += s.sum(dim=0)
                square += (s * s).sum(dim=0)
            n = len(a)
            mean = total / n
            var = (square - n * mean * mean).clamp_min(0) / max(n - 1, 1)
            layer.bn.running_mean.copy_(mean.float())
            layer.bn.running_var.copy_(var.float())
            for start in range(0, len(a), batch):
                outs.append(layer(a[start:start + batch]))
            a = torch.cat(outs)
    model.train()


def _sparsity_at(config, epoch):
    """Target sparsity during ``epoch`` (0-based): ramps from half to full, then holds."""
    # The last epoch is always at the full target, so there is an epoch to choose.
    ramp_epochs = min(int(round(config.sparsity_ramp * config.epochs)), config.epochs - 1)
    if ramp_epochs <= 0 or epoch >= ramp_epochs:
        return config.sparsity
    return config.sparsity * (0.5 + 0.5 * epoch / ramp_epochs)


def train(config, *, progress=None):
    """Train, export and prove one network as ``config`` says.

    ``progress``, if given, is called with one line of text per epoch (like :func:`print`).
    Returns a :class:`TrainResult`. Raises :class:`~lwc.errors.DataError` for missing data,
    :class:`~lwc.errors.UsageError` for bad options, and
    :class:`~lwc.train.export.ExportMismatchError` if the export cannot be proven.
    """
    config.check()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(config, progress)
    finally:
        torch.set_num_threads(threads)


def _train(config, progress):
    start = time.perf_counter()
    seed = config.seed
    split_seed = seed if config.split_seed is None else config.split_seed
    torch.manual_seed(seed)
    np_rng = np.random.default_rng(seed)
    device = _device(config.device)

    ds = _data.load_dataset(config.dataset, seed=split_seed, test_fraction=config.test_fraction,
                            val_fraction=config.val_fraction, data_dir=config.data_dir)
    spec = ds.input_spec(config.input_bits)

    def tensor(x):
        return torch.from_numpy(golden.quantize(spec, x).astype(np.float32)).to(device)

    x_train, x_val = tensor(ds.x_train), tensor(ds.x_val)
    y_train = torch.from_numpy(ds.y_train).to(device)
    y_val = torch.from_numpy(ds.y_val).to(device)

    model = TernaryMLP(spec.count, config.hidden, len(ds.classes), config.sparsity).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = len(x_train)
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    loss_fn = torch.nn.CrossEntropyLoss()

    history = []
    best = (-1.0, -1, None)  # (val accuracy, epoch, state)
    train_start = time.perf_counter()
    for epoch in range(config.epochs):
        model.set_sparsity([_sparsity_at(config, epoch)] * len(model.ternary_layers()))
        model.train()
        order = torch.from_numpy(np_rng.permutation(n)).to(device)
        total_loss = 0.0
        correct = 0
        for b in range(steps_per_epoch):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            logits = model(x_train[idx])
            loss = loss_fn(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(dim=1) == y_train[idx]).sum())
        if config.recalibrate:
            _recalibrate(model, x_train)
        val_acc = _accuracy(model, x_val, y_val)
        zeros = model.zero_fraction()
        entry = {
            "epoch": epoch + 1,
            "loss": total_loss / n,
            "train_accuracy": correct / n,
            "val_accuracy": val_acc,
            "zero_fraction": zeros,
            "sparsity_target": _sparsity_at(config, epoch),
            "seconds": time.perf_counter() - train_start,
        }
        history.append(entry)
        at_target = entry["sparsity_target"] >= config.sparsity
        if at_target and val_acc >= best[0]:
            best = (val_acc, epoch + 1, copy.deepcopy(model.state_dict()))
        if progress is not None:
            progress(f"epoch {epoch + 1:3d}/{config.epochs}  loss {entry['loss']:.4f}  "
                     f"val {val_acc:7.2%}  zeros {zeros:6.1%}  {entry['seconds']:6.1f}s")
    train_seconds = time.perf_counter() - train_start

    model.load_state_dict(best[2])
    model.set_sparsity([config.sparsity] * len(model.ternary_layers()))
    provenance = {
        "dataset": config.dataset,
        "split_seed": split_seed,
        "test_fraction": ds.test_fraction,
        "val_fraction": ds.val_fraction,
        "input_bits": spec.bits,
        "seed": seed,
        "hidden": ",".join(str(h) for h in config.hidden),
        "sparsity_target": config.sparsity,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "threads": config.threads,
        "best_epoch": best[1],
        "val_accuracy": best[0],
        "train_seconds": round(train_seconds, 3),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "lwc_version": lwc.__version__,
        "torch_version": str(torch.__version__),  # a str subclass that weights-only load refuses
    }
    net, test_accuracy = export(model, spec, ds.classes, ds.x_test, ds.y_test,
                                provenance=provenance)
    zero_fraction = total_zero_fraction(net)
    net = net.with_meta(zero_fraction=zero_fraction)
    return TrainResult(
        net=net,
        test_accuracy=test_accuracy,
        zero_fraction=zero_fraction,
        seconds=time.perf_counter() - start,
        history=tuple(history),
        val_accuracy=best[0],
        best_epoch=best[1],
        model=model.cpu().eval(),
        dataset=ds,
    )


def train_to_file(config, out_path, *, plots=True, progress=None):
    """:func:`train`, then write ``net.pt`` to ``out_path`` and, next to it, ``train_report.json``
    and (with ``plots``) the PNG plots named in :data:`PLOT_NAMES`.

    The directory of ``out_path`` is created if needed. Nothing is written if training or the
    export proof fails. Returns the :class:`TrainResult`.
    """
    out_path = os.fspath(out_path)
    directory = os.path.dirname(os.path.abspath(out_path))
    result = train(config, progress=progress)
    os.makedirs(directory, exist_ok=True)
    netfile.save(result.net, out_path)
    written = {"net": os.path.basename(out_path)}
    if plots:
        from . import plots as _plots

        written.update(_plots.write_all(result, directory, PLOT_NAMES))
    report = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "test_accuracy": result.test_accuracy,
        "val_accuracy": result.val_accuracy,
        "best_epoch": result.best_epoch,
        "zero_fraction": result.zero_fraction,
        "layer_zero_fractions": layer_zero_fractions(result.net),
        "seconds": result.seconds,
        "provenance": dict(result.net.provenance),
        "history": list(result.history),
        "files": written,
    }
    with open(os.path.join(directory, REPORT_NAME), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return result
