"""Training: :class:`TrainConfig` in, a proven integer :class:`~lwc.compiler.ir.Network` out.

:func:`train` loads and splits the dataset, fits the input quantizer (tabular data: on the
training split), balances the training split if asked, quantizes everything with the net's input
spec (the golden model's :func:`~lwc.compiler.golden.quantize`, so training sees exactly the
integers the hardware will), trains a :class:`~lwc.train.model.TernaryMLP` with the chosen method
(:mod:`lwc.train.methods`), keeps the selectable epoch with the best validation metric (the test
set is never used for a decision), exports and proves it. :func:`train_to_file` also writes
``net.pt``, ``train_report.json`` and PNG plots.
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
from lwc import data as _data
from lwc.compiler import golden, netfile
from lwc.data import tabular as _tabular
from lwc.errors import UsageError

from . import inputs as _inputs
from .export import export, layer_zero_fractions, network_summary, total_zero_fraction
from .methods import DROPNEURON_DEFAULT, METHODS, group_lasso, make_regimen, snapshot_state
from .metrics import classification_metrics
from .model import TernaryMLP

__all__ = ["TrainConfig", "TrainResult", "train", "train_to_file", "shift_images", "report",
           "REPORT_NAME", "PLOT_NAMES", "SELECT_METRICS"]

REPORT_NAME = "train_report.json"
PLOT_NAMES = {
    "curve": "train_curve.png",
    "receptive_fields": "receptive_fields.png",
    "sparsity": "sparsity.png",
    "unused_inputs": "unused_inputs.png",
}
#: Validation metrics that decisions (rounding, model selection) can use.
SELECT_METRICS = ("accuracy", "f1", "g_mean")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (with the machine, for bit-reproducibility).

    A field given as ``None`` takes its default (so argparse options left out can be passed
    straight through). The defaults are tuned for ``digits``: one hidden layer of 256, 80% zero
    weights, about 97% test accuracy of the integer net in a few seconds on one core.

    Parameters
    ----------
    method : str
        ``lwn`` (default), ``ste``, ``dropneuron``, ``prune``, ``distribution`` or ``sample``;
        see :mod:`lwc.train.methods`.
    dataset : str, optional
        One of :data:`lwc.data.DATASETS`; by default ``csv`` when ``csv`` is given, else
        ``digits``.
    data_dir : str, optional
        Directory of the IDX files (MNIST-style datasets).
    csv, label : str, optional
        A CSV file and the name of its class column (``dataset="csv"``).
    categorical, ignore : tuple of str
        CSV columns forced categorical, and CSV columns left out.
    balance : str
        ``none``, ``oversample``, ``smote`` or ``undersample``: how the training split is
        resampled so every class has as many samples (:func:`lwc.data.tabular.balance`).
    quantizer, clip : str, float
        Input quantizer of tabular data: ``affine`` (standardised, clipped at ``+-clip``
        standard deviations, equal steps) or ``quantile`` (training-split quantiles).
    select : str
        Validation metric for decisions: ``accuracy``, ``f1`` (macro) or ``g_mean``.
    hidden : tuple of int
        Hidden layer sizes (at least one layer).
    sparsity : float
        Target share of zero weights in every layer (the output layer: see
        ``output_sparsity``), in ``[0, 1)``. ``ste``/``dropneuron``: the
        exact share (quantile cut); ``lwn``: the share of each layer's weights that round to 0
        (exact, as each layer is rescaled to it while discretizing); ``distribution``: the
        prior's probability of 0 (and the initial one); ``prune``: not used (``prune_quality``
        and ``prune_rounds`` decide); ``sample``: at least this share of each layer's weights
        is 0 (the samples per neuron are chosen so), unless ``samples`` is given.
    output_sparsity : float, optional
        ``sparsity`` of the output layer; ``None``: ``sparsity``. The output layer is small (its
        fan-in is the last hidden layer's width) and every class reads it, so a denser one costs
        few weights and buys accuracy (MNIST 784-256-10, ``ste``: 96.60% with 90% zeros in both
        layers, 97.55% with 92% in the hidden layer and 50% in the output layer).
    balanced : bool
        ``ste``/``dropneuron``: cut every neuron's weights at their own ``sparsity`` quantile, so
        every neuron of a layer keeps the same number of inputs; without it one cut per layer
        lets neurons with only small weights die (at 97.75% zeros in a 784-256 layer, 68 of 256).
    augment : int
        Image data: every training sample is shifted by a random whole number of pixels, up to
        ``augment`` in each direction (rows and columns independently; zero, the background,
        fills in). The samples of validation and test are never shifted.
    epochs, batch_size, lr : int, int, float
        Adam with a cosine learning-rate decay to 0 over ``epochs``.
    seed : int
        Seeds torch, NumPy and (unless ``split_seed`` is given) the data split.
    input_bits : int, optional
        Bits per input feature (1..8); ``None``: the dataset's default.
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ...
    test_fraction : float, optional
        See :func:`lwc.data.load_dataset`; ``None``: the dataset's default.
    val_fraction : float
        Share of the non-test samples held out for decisions.
    split_seed : int, optional
        Seed of the data split; ``None``: ``seed``.
    threads : int
        CPU threads torch may use during the run (restored afterwards). 1 is fastest for
        digits-size layers (more threads mostly spin) and keeps results identical on machines
        with different core counts; raise it for MNIST-size layers.
    ste_window : float
        The binary step passes gradients where the batch-normalised sum is within this window;
        2..3 helps nets of 4 and more hidden layers.
    dropneuron : float, optional
        Group-lasso strength (DropNeuron) added to any method; ``None``: 0, or
        :data:`~lwc.train.methods.DROPNEURON_DEFAULT` for ``method="dropneuron"``.
    finetune : float
        Share of the epochs that ``lwn`` and ``distribution`` spend tuning only the thresholds
        of the final ternary net.
    lwn_float, lwn_noise, lwn_pull, lwn_radius, lwn_round_at, lwn_tolerance : float
        ``lwn`` (:mod:`lwc.train.methods`): share of epochs of float pre-training; share of the
        free weights rounded (straight-through) in each forward pass while discretizing; largest
        share of the distance to the nearest discrete value closed per epoch; largest black-hole
        radius (the discrete values are 1 apart); share of free weights at which all are
        rounded; largest drop of the validation metric a rounding may cause and be kept.
    prune_quality, prune_rounds : float, int
        ``prune``: weights below ``prune_quality`` times their layer's standard deviation (at the
        first round) are pruned, ``prune_rounds`` times.
    sample_penalty : float
        ``sample``: strength of the Hoyer sparsity regulariser during real-valued training.
    samples : int, optional
        ``sample``: samples per neuron (on average, for the output layer), which sets the
        sparsity instead of ``sparsity``; fewer are taken where a weight would exceed 127.
    distribution_prior : float
        ``distribution``: strength of the pull of every weight's distribution towards the prior
        ``P(0) = sparsity``, ``P(-1) = P(+1) = (1 - sparsity) / 2`` (mean KL divergence).
    sparsity_ramp : float
        ``ste``/``dropneuron``: share of the epochs over which sparsity ramps up from half the
        target to the target; the best epoch is chosen among those at the full target.
    recalibrate : bool
        After every epoch, set batch-norm statistics to the exact training-set statistics of the
        sums (with earlier layers as exported) before validating; the thresholds then fit the
        network as exported rather than a moving average of mini-batches.
    """

    method: str = "lwn"
    dataset: str | None = None
    data_dir: str | None = None
    csv: str | None = None
    label: str | None = None
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    balance: str = "none"
    quantizer: str = "affine"
    clip: float = 2.5
    select: str = "accuracy"
    hidden: tuple[int, ...] = (256,)
    sparsity: float = 0.8
    output_sparsity: float | None = None
    balanced: bool = False
    augment: int = 0
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
    ste_window: float = 1.0
    dropneuron: float | None = None
    finetune: float = 0.15
    lwn_float: float = 0.1
    lwn_noise: float = 1.0
    lwn_pull: float = 0.5
    lwn_radius: float = 0.2
    lwn_round_at: float = 0.02
    lwn_tolerance: float = 0.01
    prune_quality: float = 1.2
    prune_rounds: int = 3
    distribution_prior: float = 0.6
    samples: int | None = None
    sample_penalty: float = 8.0
    sparsity_ramp: float = 0.3
    recalibrate: bool = True

    def __post_init__(self):
        # Accept what argparse gives: None for "not given" (the default; only fields whose
        # default is not None), lists and paths (stored as what JSON and provenance can hold).
        if self.dataset is None:
            object.__setattr__(self, "dataset", "digits" if self.csv is None else "csv")
        for f in fields(self):
            if getattr(self, f.name) is None and f.default is not None:
                object.__setattr__(self, f.name, f.default)
        for name in ("hidden", "categorical", "ignore"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
            else:
                object.__setattr__(self, name, value)
        for name in ("data_dir", "csv"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, os.fspath(value))

    def check(self):
        """Raise :class:`~lwc.errors.UsageError` for an out-of-range option."""
        def bad(name, must):
            raise UsageError(f"{name} must be {must}, not {getattr(self, name)!r}")

        def share(name, lo_open=False, hi_open=False):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (
                (0 < v if lo_open else 0 <= v) and (v < 1 if hi_open else v <= 1))
            if not ok:
                bad(name, f"in {'(' if lo_open else '['}0, 1{')' if hi_open else ']'}")

        if self.method not in METHODS:
            bad("method", "one of " + ", ".join(METHODS))
        if self.dataset not in _data.DATASETS:
            bad("dataset", "one of " + ", ".join(_data.DATASETS))
        if (self.dataset == "csv") != (self.csv is not None):
            raise UsageError("a CSV file (csv=, --csv FILE) goes with dataset 'csv' and only "
                             "with it" if self.csv is not None else
                             "dataset 'csv' needs a CSV file (csv=, --csv FILE)")
        if self.csv is not None and not self.label:
            raise UsageError("a CSV file needs its label column (label=, --label COLUMN)")
        if self.balance not in _tabular.BALANCE_METHODS:
            bad("balance", "one of " + ", ".join(_tabular.BALANCE_METHODS))
        if self.quantizer not in _inputs.QUANTIZERS:
            bad("quantizer", "one of " + ", ".join(_inputs.QUANTIZERS))
        if not (isinstance(self.clip, (int, float)) and 0 < self.clip < math.inf):
            bad("clip", "a positive number")
        if self.select not in SELECT_METRICS:
            bad("select", "one of " + ", ".join(SELECT_METRICS))
        if not self.hidden or not all(isinstance(h, int) and h >= 1 for h in self.hidden):
            bad("hidden", "one or more positive layer sizes")
        share("sparsity", hi_open=True)
        if self.output_sparsity is not None:
            share("output_sparsity", hi_open=True)
        if not (isinstance(self.augment, int) and not isinstance(self.augment, bool)
                and 0 <= self.augment <= 8):
            bad("augment", "an integer 0..8 (pixels)")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            bad("epochs", "a positive integer")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            bad("batch_size", "a positive integer")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "a positive number")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            bad("seed", "a non-negative integer")
        if self.input_bits is not None and not (
                isinstance(self.input_bits, int) and 1 <= self.input_bits <= 8):
            bad("input_bits", "an integer 1..8")
        if not (isinstance(self.threads, int) and self.threads >= 1):
            bad("threads", "a positive integer")
        if not (self.ste_window > 0 and math.isfinite(self.ste_window)):
            bad("ste_window", "a positive number")
        if self.dropneuron is not None and not (
                self.dropneuron >= 0 and math.isfinite(self.dropneuron)):
            bad("dropneuron", "a non-negative number")
        for name in ("finetune", "lwn_float", "lwn_noise", "lwn_pull", "lwn_round_at",
                     "lwn_tolerance", "sparsity_ramp"):
            share(name, hi_open=name in ("finetune", "lwn_pull"))
        if not 0 < self.lwn_radius <= 0.5:
            bad("lwn_radius", "in (0, 0.5]")
        if not (self.prune_quality > 0 and math.isfinite(self.prune_quality)):
            bad("prune_quality", "a positive number")
        if not (isinstance(self.prune_rounds, int) and self.prune_rounds >= 1):
            bad("prune_rounds", "a positive integer")
        if not (self.distribution_prior >= 0 and math.isfinite(self.distribution_prior)):
            bad("distribution_prior", "a non-negative number")
        if self.samples is not None and not (
                isinstance(self.samples, int) and not isinstance(self.samples, bool)
                and self.samples >= 1):
            bad("samples", "a positive integer")
        if not (self.sample_penalty >= 0 and math.isfinite(self.sample_penalty)):
            bad("sample_penalty", "a non-negative number")
        if self.balanced and self.method not in ("ste", "dropneuron"):
            raise UsageError(f"balanced is an option of methods 'ste' and 'dropneuron', not "
                             f"{self.method!r}")
        if self.samples is not None and self.method != "sample":
            raise UsageError(f"samples is an option of method 'sample', not {self.method!r}")
        return self

    def layer_sparsity(self):
        """The target share of zero weights of every layer, hidden layers then output."""
        out = self.sparsity if self.output_sparsity is None else self.output_sparsity
        return (float(self.sparsity),) * len(self.hidden) + (float(out),)

    @property
    def group_lasso(self):
        """The group-lasso strength this run uses."""
        if self.dropneuron is not None:
            return float(self.dropneuron)
        return DROPNEURON_DEFAULT if self.method == "dropneuron" else 0.0


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    ``net`` is the proven integer network (provenance filled in); ``test_accuracy`` its accuracy
    on the test set by the golden model, ``test_metrics`` the same predictions'
    :func:`~lwc.train.metrics.classification_metrics` (``f1``, ``g_mean``, per class);
    ``zero_fraction`` the share of zero weights over all layers; ``summary`` the
    :func:`~lwc.train.export.network_summary` of the net; ``seconds`` the wall time of the whole
    run, ``train_seconds`` that of the epochs; ``history`` one dict per epoch (``epoch``,
    ``loss``, ``train_error``, ``val_accuracy``, ``val_f1``, ``val_g_mean``, ``zero_fraction``,
    ``not_discrete``, ``seconds`` since training started, and the method's own entries).
    ``val_accuracy`` (``val_metrics``) and ``best_epoch`` describe the epoch kept; ``model`` is
    that :class:`~lwc.train.model.TernaryMLP` on the CPU in eval mode; ``dataset`` the
    :class:`~lwc.data.Dataset` used (its training split before balancing);
    ``class_counts`` the training split's samples per class before and after balancing;
    ``device`` where it ran.
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
    test_metrics: dict = field(default_factory=dict)
    val_metrics: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    class_counts: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    device: str = "cpu"


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


# Rows per chunk of the evaluation passes (whole splits at once where they fit: every chunk
# recomputes the ternary weights).
_EVAL_CHUNK = 1 << 16


def _predict(model, x, batch=_EVAL_CHUNK):
    """Eval-mode predictions of ``model`` on tensor ``x`` (as a NumPy array)."""
    model.eval()
    preds = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            preds.append(model(x[start:start + batch]).argmax(dim=1))
    model.train()
    return torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)


def _recalibrate(model, x, batch=_EVAL_CHUNK):
    """Set every batch norm's running statistics to the exact mean and (unbiased) variance of its
    sums over ``x``, layer by layer, with the earlier layers in eval mode (as exported)."""
    model.eval()
    with torch.no_grad():
        a = x
        for layer in model.hidden:
            total = torch.zeros(layer.bn.num_features, dtype=torch.float64, device=x.device)
            square = torch.zeros_like(total)
            sums = []
            for start in range(0, len(a), batch):
                s = layer.linear(a[start:start + batch])
                sums.append(s)
                s = s.double()
                total += s.sum(dim=0)
                square += (s * s).sum(dim=0)
            n = len(a)
            mean = total / n
            var = (square - n * mean * mean).clamp_min(0) / max(n - 1, 1)
            layer.bn.running_mean.copy_(mean.float())
            layer.bn.running_var.copy_(var.float())
            # The step of the sums just computed (what layer(a) computes, without the sums again).
            a = torch.cat([layer.step(s) for s in sums]) if sums else a[:0]
    model.train()


def shift_images(x, shape, max_shift, generator):
    """Each row of ``x`` (flattened ``shape`` images) shifted by its own random whole number of
    pixels in ``[-max_shift, max_shift]`` along rows and along columns, zero filling in.

    ``generator`` is the :class:`torch.Generator` (on ``x``'s device) the shifts are drawn from.
    """
    rows, cols = shape
    n = len(x)
    pad = max_shift
    images = torch.nn.functional.pad(x.view(n, rows, cols), (pad, pad, pad, pad))
    shifts = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=x.device)
    r = torch.arange(rows, device=x.device)[None, :] + shifts[0][:, None]
    c = torch.arange(cols, device=x.device)[None, :] + shifts[1][:, None]
    b = torch.arange(n, device=x.device)[:, None, None]
    return images[b, r[:, :, None], c[:, None, :]].reshape(n, rows * cols)


class _Run:
    """What a regimen may ask of the loop at the end of an epoch: the epoch's training error,
    validation of the current net (exact ternary, or with still-continuous weights), and
    snapshots of model and optimizer to roll back to."""

    def __init__(self, config, model, optimizer, x_train, x_val, y_val, n_classes):
        self.config = config
        self.model = model
        self.optimizer = optimizer
        self.x_train = x_train
        self.x_val = x_val
        self.y_val = y_val
        self.n_classes = n_classes
        self.train_error = 1.0

    def metrics(self, continuous=False):
        model = self.model
        model.set_continuous_eval(continuous)
        try:
            if self.config.recalibrate:
                _recalibrate(model, self.x_train)
            preds = _predict(model, self.x_val)
        finally:
            model.set_continuous_eval(False)
        return classification_metrics(self.y_val, preds, self.n_classes)

    def evaluate(self, continuous=False):
        """The validation metric chosen by ``config.select``."""
        return self.metrics(continuous)[self.config.select]

    def snapshot(self):
        return snapshot_state(self.model, self.optimizer)

    def restore(self, snapshot):
        self.model.load_state_dict(snapshot[0])
        self.optimizer.load_state_dict(snapshot[1])


def train(config, *, progress=None):
    """Train, export and prove one network as ``config`` says.

    ``progress``, if given, is called with one line of text per epoch (like :func:`print`).
    Returns a :class:`TrainResult`. Raises :class:`~lwc.errors.DataError` for missing or bad
    data, :class:`~lwc.errors.UsageError` for bad options, and
    :class:`~lwc.train.export.ExportMismatchError` if the export cannot be proven.
    """
    config.check()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(config, progress)
    finally:
        torch.set_num_threads(threads)


def _quantize(spec, x):
    """:func:`lwc.compiler.golden.quantize` of ``x``; features that are all bytes (pixels) are
    looked up in its table of the 256 byte values (the same integers, without its per-element
    float64 comparisons, which took seconds on MNIST)."""
    x = np.asarray(x)
    if x.size < 1 << 16 or not np.array_equal(x, np.clip(np.round(x), 0, 255)):
        return golden.quantize(spec, x)
    table = golden.quantize(spec, np.repeat(np.arange(256.0)[:, None], spec.count, axis=1))
    index = x.astype(np.uint8)
    if (table == table[:, :1]).all():
        return table[:, 0][index]
    return np.take_along_axis(table, index.astype(np.intp), axis=0)


def _adam_options(device):
    """The fused Adam kernel where this torch has one for ``device`` (one pass over each
    parameter instead of several; the same update up to float rounding)."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return {}
    return {"fused": True}


def _load(config, split_seed):
    return _data.load_dataset(
        config.dataset, seed=split_seed, test_fraction=config.test_fraction,
        val_fraction=config.val_fraction, data_dir=config.data_dir, csv_path=config.csv,
        csv_label=config.label, csv_categorical=config.categorical or None,
        csv_ignore=config.ignore or None)


def _train(config, progress):
    start = time.perf_counter()
    seed = config.seed
    split_seed = seed if config.split_seed is None else config.split_seed
    torch.manual_seed(seed)
    np_rng = np.random.default_rng(seed)
    device = _device(config.device)

    ds = _load(config, split_seed)
    spec = _inputs.input_spec(ds, config.input_bits, config.quantizer, config.clip)
    n_classes = len(ds.classes)
    x_bal, y_bal = _tabular.balance(ds.x_train, ds.y_train, config.balance,
                                    np.random.default_rng([seed, 0xBA1]),
                                    kinds=ds.feature_kinds, groups=ds.feature_groups)
    counts = {"before": _tabular.class_counts(ds.y_train, n_classes),
              "after": _tabular.class_counts(y_bal, n_classes)}

    def tensor(x):
        return torch.from_numpy(_quantize(spec, x).astype(np.float32)).to(device)

    x_train, x_val = tensor(x_bal), tensor(ds.x_val)
    y_train = torch.from_numpy(y_bal).to(device)
    # The evaluation passes (validation, recalibration) on the CPU take the inputs as int8 where
    # they fit: exact and faster (TernaryWeights.forward).
    int8 = device.type == "cpu" and hasattr(torch, "_int_mm") and spec.max_value <= 127
    x_train_eval, x_val_eval = ((x_train.to(torch.int8), x_val.to(torch.int8)) if int8
                                else (x_train, x_val))

    n = len(x_train)
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    regimen = make_regimen(config, config.epochs, steps_per_epoch)
    model = TernaryMLP(spec.count, config.hidden, n_classes, regimen.sparsity(0),
                       weights=regimen.weights, ste_window=config.ste_window,
                       balanced=config.balanced).to(device)
    opt = torch.optim.Adam(regimen.param_groups(model, config.lr), **_adam_options(device))
    total_steps = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    loss_fn = torch.nn.CrossEntropyLoss()
    lasso = config.group_lasso
    run = _Run(config, model, opt, x_train_eval, x_val_eval, ds.y_val, n_classes)

    augment = bool(config.augment and ds.image_shape)
    if config.augment and not augment:
        raise UsageError(f"augment shifts images; dataset {config.dataset!r} has none")
    shift_rng = torch.Generator(device=device).manual_seed(seed ^ 0x5A1F7) if augment else None
    history = []
    best = (-1.0, -1, None, None)  # (val metric, epoch, state, val metrics)
    train_start = time.perf_counter()
    for epoch in range(config.epochs):
        regimen.begin_epoch(model, epoch)
        model.train()
        order = torch.from_numpy(np_rng.permutation(n)).to(device)
        # Summed on the device: no host synchronisation per step.
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        for b in range(steps_per_epoch):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            xb, yb = x_train[idx], y_train[idx]
            if augment:
                xb = shift_images(xb, ds.image_shape, config.augment, shift_rng)
            logits = regimen.logits(model, xb)
            loss = loss_fn(logits, yb)
            if lasso:
                loss = loss + lasso * group_lasso(model)
            loss = loss + regimen.penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            regimen.after_step(model)
            total_loss += loss.detach() * len(idx)
            correct += (logits.detach().argmax(dim=1) == yb).sum()
            seen += len(idx)
        total_loss = float(total_loss)
        run.train_error = 1.0 - int(correct) / max(seen, 1)
        extra, note = regimen.end_epoch(model, epoch, run)
        val = run.metrics(continuous=regimen.continuous(epoch))
        entry = {
            "epoch": epoch + 1,
            "loss": total_loss / max(seen, 1),
            "train_error": run.train_error,
            "train_accuracy": 1.0 - run.train_error,
            "val_accuracy": val["accuracy"],
            "val_f1": val["f1"],
            "val_g_mean": val["g_mean"],
            "zero_fraction": model.zero_fraction(),
            "not_discrete": 1.0 - model.discrete_fraction(),
            "sparsity_target": regimen.sparsity(epoch)[0],
            "selectable": regimen.selectable(epoch),
            "seconds": time.perf_counter() - train_start,
            **extra,
        }
        if note:
            entry["note"] = note
        history.append(entry)
        score = val[config.select]
        if regimen.selectable(epoch) and score >= best[0]:
            best = (score, epoch + 1, copy.deepcopy(model.state_dict()), val)
        if progress is not None:
            what = "" if config.select == "accuracy" else f" {config.select} {score:6.2%}"
            progress(f"epoch {epoch + 1:3d}/{config.epochs}  loss {entry['loss']:.4f}  "
                     f"val {val['accuracy']:7.2%}{what}  zeros {entry['zero_fraction']:6.1%}  "
                     f"not discrete {entry['not_discrete']:6.1%}  {entry['seconds']:6.1f}s"
                     + (f"  {note}" if note else ""))
    train_seconds = time.perf_counter() - train_start
    assert best[2] is not None, "the last epoch of every method is selectable"

    model.load_state_dict(best[2])
    if regimen.weights == "quantile":
        model.set_sparsity(config.layer_sparsity())
    if config.recalibrate:
        _recalibrate(model, x_train_eval)
    provenance = {
        **ds.provenance(),
        "method": config.method,
        "input_bits": spec.bits,
        "seed": seed,
        "hidden": ",".join(str(h) for h in config.hidden),
        "sparsity_target": config.sparsity,
        **({"output_sparsity": config.output_sparsity}
           if config.output_sparsity is not None else {}),
        **({"augment": config.augment} if config.augment else {}),
        **({"balanced": True} if config.balanced else {}),
        "dropneuron": lasso,
        "balance": config.balance,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "threads": config.threads,
        **({"samples": ",".join(str(int(linear.drawn_samples))
                                for linear in model.ternary_layers())}
           if regimen.weights == "sampled" else {}),
        "best_epoch": best[1],
        "val_accuracy": best[3]["accuracy"],
        "select": config.select,
        "train_seconds": round(train_seconds, 3),
        "device": device.type,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "lwc_version": lwc.__version__,
        "torch_version": str(torch.__version__),  # a str subclass that weights-only load refuses
    }
    if ds.tabular:
        provenance.update(quantizer=config.quantizer, clip=config.clip)
    net, test_accuracy = export(model, spec, ds.classes, ds.x_test, ds.y_test,
                                provenance=provenance)
    test_metrics = classification_metrics(
        ds.y_test, golden.predict(net, golden.quantize(spec, ds.x_test)), n_classes)
    assert test_metrics["accuracy"] == test_accuracy
    zero_fraction = total_zero_fraction(net)
    net = net.with_meta(zero_fraction=zero_fraction, test_f1=test_metrics["f1"],
                        test_g_mean=test_metrics["g_mean"])
    return TrainResult(
        net=net,
        test_accuracy=test_accuracy,
        zero_fraction=zero_fraction,
        seconds=time.perf_counter() - start,
        history=tuple(history),
        val_accuracy=best[3]["accuracy"],
        best_epoch=best[1],
        model=model.cpu().eval(),
        dataset=ds,
        test_metrics=test_metrics,
        val_metrics=best[3],
        summary=network_summary(net),
        class_counts=counts,
        train_seconds=train_seconds,
        device=device.type,
    )


def train_to_file(config, out_path, *, plots=True, progress=None):
    """:func:`train`, then write ``net.pt`` to ``out_path`` and, next to it, ``train_report.json``
    and (with ``plots``) the PNG plots named in :data:`PLOT_NAMES` that apply to the data.

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
    with open(os.path.join(directory, REPORT_NAME), "w") as f:
        json.dump(report(config, result, written), f, indent=2)
        f.write("\n")
    return result


def report(config, result, files=None):
    """The ``train_report.json`` dictionary of a run."""
    ds = result.dataset
    out = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "test_accuracy": result.test_accuracy,
        "test_f1": result.test_metrics.get("f1"),
        "test_g_mean": result.test_metrics.get("g_mean"),
        "test_metrics": result.test_metrics,
        "val_accuracy": result.val_accuracy,
        "val_metrics": result.val_metrics,
        "best_epoch": result.best_epoch,
        "zero_fraction": result.zero_fraction,
        "layer_zero_fractions": layer_zero_fractions(result.net),
        "summary": result.summary,
        "classes": list(result.net.classes),
        "class_counts": result.class_counts,
        "seconds": result.seconds,
        "train_seconds": result.train_seconds,
        "device": result.device,
        "provenance": dict(result.net.provenance),
        "history": list(result.history),
        "files": dict(files or {}),
    }
    if ds is not None and ds.tabular:
        out["features"] = [{"name": n, "kind": k} for n, k in zip(ds.feature_names,
                                                                 ds.feature_kinds)]
        if "columns" in ds.info:
            out["columns"] = list(ds.info["columns"])
    return out
