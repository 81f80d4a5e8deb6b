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
import functools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

import lwc
from lwc import data as _data
from lwc.compiler import golden, netfile
from lwc.data import tabular as _tabular
from lwc.errors import DataError, NetFileError, UsageError

from . import dropout as _dropout
from . import inputs as _inputs
from .config import SELECT_METRICS, TrainConfig
from .encoding import make_encoder
from .export import export, layer_zero_fractions, network_summary, total_zero_fraction
from .methods import group_lasso, make_regimen, snapshot_state
from .metrics import classification_metrics
from .model import TernaryMLP, csr_quietly, int_mm

__all__ = ["TrainConfig", "TrainResult", "train", "train_to_file", "shift_images", "report",
           "REPORT_NAME", "PLOT_NAMES", "SELECT_METRICS"]

REPORT_NAME = "train_report.json"
PLOT_NAMES = {
    "curve": "train_curve.png",
    "receptive_fields": "receptive_fields.png",
    "sparsity": "sparsity.png",
    "unused_inputs": "unused_inputs.png",
}


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
    ``data`` the :func:`~lwc.data.data_summary` of the data read; ``device`` where it ran.
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
    data: dict = field(default_factory=dict)


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


def _chunk(model, batch):
    """Rows per evaluation chunk: ``batch``, fewer where an encoder widens every row (its bits
    of a chunk stay near 2**24 values)."""
    if model.encoder is None:
        return batch
    return max(1, min(batch, (1 << 24) // max(model.encoder.outputs, 1)))


def _predict(model, x, batch=_EVAL_CHUNK):
    """Eval-mode predictions of ``model`` on tensor ``x`` (as a NumPy array)."""
    batch = _chunk(model, batch)
    model.eval()
    preds = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            preds.append(model(x[start:start + batch]).argmax(dim=1))
    model.train()
    return torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)


def _recalibrate(model, x, batch=_EVAL_CHUNK, moments=None):
    """Set every batch norm's running statistics to the exact mean and (unbiased) variance of its
    sums over ``x``, layer by layer, with the earlier layers in eval mode (as exported).

    ``moments``, the :class:`_InputMoments` of ``x``, gives a single hidden layer's sums'
    statistics without a pass over ``x`` where that is cheaper and exact (not with an encoder:
    its bits are what the first layer reads)."""
    batch = _chunk(model, batch)
    if model.encoder is not None:
        moments = None
    model.eval()
    with torch.no_grad():
        a = x
        for i, layer in enumerate(model.hidden):
            n = len(a)
            sums = []
            found = (moments.column_sums(layer.linear)
                     if moments is not None and len(model.hidden) == 1 else None)
            if found is not None:
                total, square = found
            else:
                total = torch.zeros(layer.bn.num_features, dtype=torch.float64, device=x.device)
                square = torch.zeros_like(total)
                for start in range(0, n, batch):
                    chunk = a[start:start + batch]
                    s = layer.linear(model.encode(chunk) if i == 0 else chunk)
                    sums.append(s)
                    _add_column_sums(s, total, square)
            mean = total / n
            var = (square - n * mean * mean).clamp_min(0) / max(n - 1, 1)
            layer.bn.running_mean.copy_(mean.float())
            layer.bn.running_var.copy_(var.float())
            if i + 1 < len(model.hidden):
                # The step of the sums just computed (what layer(a) computes, without the sums
                # again).
                a = torch.cat([layer.step(s) for s in sums]) if sums else a[:0]
    model.train()


class _InputMoments:
    """The column sums ``c`` and the Gram matrix ``G = x.t() @ x`` of the fixed integer inputs
    ``x`` (on the CPU; float64, exact), computed once: a layer's integer sums ``s = x @ W.t()``
    over all of ``x`` then have column sums ``W @ c`` and column sums of squares
    ``diag(W G W.t())``, exact while every such sum stays below ``2**53``. With ``W`` as a sparse
    matrix that costs ``nnz(W) * in_features`` products instead of a pass of ``rows *
    in_features * out_features`` (MNIST's recipe: 3.6 M against 28 M int8 products per epoch,
    at its final sparsity)."""

    def __init__(self, x):
        self.x = x
        self.rows = len(x)

    @functools.cached_property
    def top(self):
        """The largest ``|x|`` (computed when first needed, not when training starts)."""
        return float(self.x.abs().max()) if self.rows else 0.0

    @functools.cached_property
    def gram_and_sums(self):
        """``(G, c)``, float64."""
        x = self.x
        n_in = x.shape[1]
        if x.dtype == torch.int8:
            # int8 products summed in int32, in chunks that cannot overflow; NumPy's int8
            # column sums take a tenth of torch's.
            chunk = max(1, (2 ** 31 - 1) // max(int(self.top) ** 2, 1))
            gram = torch.zeros(n_in, n_in, dtype=torch.int64)
            for start in range(0, self.rows, chunk):
                part = x[start:start + chunk]
                gram += int_mm(part.t(), part)
            sums = torch.from_numpy(x.numpy().sum(axis=0, dtype=np.int64))
        else:
            gram = torch.zeros(n_in, n_in, dtype=torch.float64)
            sums = torch.zeros(n_in, dtype=torch.float64)
            for start in range(0, self.rows, _EVAL_CHUNK):
                part = x[start:start + _EVAL_CHUNK].double()
                gram += part.t() @ part
                sums += part.sum(dim=0)
        return gram.double(), sums.double()

    def column_sums(self, linear):
        """``(total, square)`` of ``linear``'s eval-mode sums over the inputs, float64; ``None``
        where the weights are not integers (continuous evaluation), a pass is cheaper, or a sum
        could reach ``2**53``."""
        if linear.continuous_eval and not linear.fixed:
            return None
        w = linear.ternary_weight().detach().double()
        nonzero = int(torch.count_nonzero(w))
        if nonzero * w.shape[1] > self.rows * w.shape[0] or self.rows == 0:
            return None
        if self.rows * (self.top * float(w.abs().sum(dim=1).max())) ** 2 >= 2 ** 53:
            return None
        gram, sums = self.gram_and_sums
        total = w @ sums
        with csr_quietly():
            square = (torch.sparse.mm(w.to_sparse_csr(), gram) * w).sum(dim=1)
        return total, square


def _add_column_sums(s, total, square):
    """Add the column sums of the integer-valued float32 ``s`` and of its squares to the float64
    ``total`` and ``square``, exactly: as float32 products with a row of ones over as many rows
    as keep every partial sum below 2**24 (then exact in any order; several times faster than
    summing a float64 copy), else through float64."""
    top = max(-float(s.min()), float(s.max())) if len(s) else 0.0
    rows = int(2 ** 24 // max(top * top, 1.0))
    if s.dtype != torch.float32 or rows < 1:
        s = s.double()
        total += s.sum(dim=0)
        square += (s * s).sum(dim=0)
        return
    for start in range(0, len(s), rows):
        part = s[start:start + rows]
        ones = torch.ones(1, len(part), dtype=s.dtype, device=s.device)
        total += (ones @ part)[0].double()
        square += (ones @ (part * part))[0].double()


def shift_images(x, shape, max_shift, generator):
    """Each row of ``x`` (flattened ``shape`` images) shifted by its own random whole number of
    pixels in ``[-max_shift, max_shift]`` along rows and along columns, zero filling in.

    ``generator`` is the :class:`torch.Generator` (on ``x``'s device) the shifts are drawn from.
    Every image's windows of the zero-padded image are a view (``unfold``); one index picks each
    image's window: no per-batch host synchronisation, and no index as large as the batch.
    """
    rows, cols = shape
    n, pad = len(x), max_shift
    shifts = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=x.device)
    padded = torch.nn.functional.pad(x.view(n, rows, cols), (pad, pad, pad, pad))
    windows = padded.unfold(1, rows, 1).unfold(2, cols, 1)  # (n, 2p+1, 2p+1, rows, cols)
    return windows[torch.arange(n, device=x.device), shifts[0], shifts[1]].reshape(n, -1)


class _Run:
    """What a regimen may ask of the loop at the end of an epoch: the epoch's training error,
    validation of the current net (exact ternary, or with still-continuous weights), and
    snapshots of model and optimizer to roll back to."""

    def __init__(self, config, model, optimizer, x_train, x_val, y_val, n_classes):
        self.config = config
        self.model = model
        self.optimizer = optimizer
        self.x_train = x_train
        # On a GPU a pass over the split takes milliseconds: the moments are for the CPU.
        # (Not with an encoder: the first layer reads its bits, not x_train.)
        self.moments = (_InputMoments(x_train)
                        if x_train.device.type == "cpu" and model.encoder is None else None)
        self.x_val = x_val
        self.y_val = y_val
        self.n_classes = n_classes
        self.train_error = 1.0

    def metrics(self, continuous=False):
        model = self.model
        model.set_continuous_eval(continuous)
        try:
            if self.config.recalibrate:
                _recalibrate(model, self.x_train, moments=self.moments)
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


def train(config, *, progress=None, on_data=None, data=None):
    """Train, export and prove one network as ``config`` says.

    ``progress``, if given, is called with one line of text per epoch (like :func:`print`);
    ``on_data`` with each line of the data summary (:func:`lwc.data.summary_lines`: rows,
    features, class counts before and after balancing, what was imputed or dropped), before the
    first epoch. ``data`` is ``config.load_data()`` when the caller has read it already
    (:meth:`TrainConfig.load_data`); otherwise it is read here.
    Returns a :class:`TrainResult`. Raises :class:`~lwc.errors.DataError` for missing or bad
    data, :class:`~lwc.errors.UsageError` for bad options, and
    :class:`~lwc.train.export.ExportMismatchError` if the export cannot be proven.
    """
    config.check()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    # Denormal floats flushed to zero: Adam's moments of weights that never get a gradient (the
    # inputs of MNIST's always-blank border pixels) decay into them within a few epochs, and
    # arithmetic on them is many times slower on the CPU (epochs of the recipe grew from 1.2 to
    # 1.5 s). Values below 1.2e-38 move no weight. Restored afterwards, as the threads are.
    denormal = torch.set_flush_denormal(True)
    try:
        return _train(config, progress, on_data, data)
    finally:
        torch.set_num_threads(threads)
        if denormal:
            torch.set_flush_denormal(False)


def _quantize(spec, x, dtype=np.int64):
    """:func:`lwc.compiler.golden.quantize` of ``x`` as ``dtype``; features that are all bytes
    (pixels) are looked up in its table of the 256 byte values (the same integers, without its
    per-element float64 comparisons, which took seconds on MNIST, nor an int64 copy)."""
    x = np.asarray(x)
    if x.size < 1 << 16 or spec.quantizer is None:  # none: a check, not a table
        return golden.quantize(spec, x).astype(dtype, copy=False)
    with np.errstate(invalid="ignore"):  # NaN, inf and out-of-range values fail the check
        index = x.astype(np.uint8)
    if not np.array_equal(index, x):  # not all whole numbers 0..255
        return golden.quantize(spec, x).astype(dtype, copy=False)
    table = golden.quantize(spec, np.repeat(np.arange(256.0)[:, None], spec.count, axis=1))
    table = table.astype(dtype)
    if (table == table[:, :1]).all():
        return table[:, 0][index]
    return np.take_along_axis(table, index.astype(np.intp), axis=0)


def _adam_options(device):
    """Adam's options on ``device``: the fused kernel where it has one (one pass over all
    parameters instead of several per parameter: launches bound small-batch steps on a GPU,
    passes over the 401k latent weights of MNIST's first layer on the CPU; half the time of
    the default there). Its float rounding differs a little from the default's, and a quantile
    cut turns that into a different net of the same quality (on digits ``ste`` gave 97.78,
    97.78, 98.00% for seeds 0-2 fused, 98.22, 97.33, 98.44% not)."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return {}
    return {"fused": True}


def _train(config, progress, on_data=None, data=None):
    start = time.perf_counter()
    seed = config.seed
    torch.manual_seed(seed)
    np_rng = np.random.default_rng(seed)
    device = _device(config.device)

    ds = config.load_data() if data is None else data
    levels = config.encoding_levels
    spec = (_inputs.input_spec(ds, config.input_bits, config.quantizer, config.clip)
            if levels is None else _inputs.raw_input_spec(ds.name))
    n_classes = len(ds.classes)
    x_bal, y_bal = _tabular.balance(ds.x_train, ds.y_train, config.balance,
                                    np.random.default_rng([seed, 0xBA1]),
                                    kinds=ds.feature_kinds, groups=ds.feature_groups)
    counts = {"before": _tabular.class_counts(ds.y_train, n_classes),
              "after": _tabular.class_counts(y_bal, n_classes)}
    data_summary = _data.data_summary(ds, counts["after"], config.balance)
    for line in _data.summary_lines(data_summary) if on_data is not None else ():
        on_data(line)

    def tensor(x):
        return torch.from_numpy(_quantize(spec, x, np.float32)).to(device)

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
    grid = 1 << max(0, spec.bits - (config.cut_bits or spec.bits))
    encoder = (None if levels is None else
               make_encoder(config.input_encoding, _quantize(spec, x_bal), levels,
                            int(_data.PIXEL_MAX[ds.name]), grid))
    model = TernaryMLP(spec.count if encoder is None else encoder.outputs, config.hidden,
                       n_classes, regimen.sparsity(0), weights=regimen.weights,
                       ste_window=config.ste_window, balanced=config.balanced,
                       max_fan_in=config.layer_fan_in(), ste_shape=config.ste_shape,
                       encoder=encoder).to(device)
    regimen.prepare(model, x_train, y_train)
    drops = (_dropout.attach(model, config.dropout, config.dropout_mode, seed, device)
             if config.dropout else [])
    opt = torch.optim.Adam(regimen.param_groups(model, config.lr),
                           **_adam_options(device))
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
    # bf16: the forward pass (and so its backward) multiplies in bfloat16; the inputs and
    # ternary weights are exact in it, the sums are accumulated in float32 and rounded to 8
    # significant bits (exact up to 256); batch norm, the loss, the penalties, the latent
    # weights and the optimizer stay float32, and no evaluation pass runs under it.
    bf16 = config.precision == "bf16"
    history = []
    best = (-1.0, -1, None, None)  # (val metric, epoch, state, val metrics)
    train_start = time.perf_counter()
    for epoch in range(config.epochs):
        drawn = _dropout.drawn(drops)
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
            xb, yb = x_train.index_select(0, idx), y_train.index_select(0, idx)
            if augment:
                xb = shift_images(xb, ds.image_shape, config.augment, shift_rng)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = regimen.logits(model, xb).float()
            loss = loss_fn(logits, yb)
            if lasso:
                loss = loss + lasso * group_lasso(model)
            extra = regimen.penalty(model)
            if torch.is_tensor(extra) or extra:  # none: no autograd node
                loss = loss + extra
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
            **({"dropout_random": _dropout.drawn(drops) - drawn} if drops else {}),
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
        _recalibrate(model, x_train_eval, moments=run.moments)
    provenance = {
        **ds.provenance(),
        "method": config.method,
        "input_bits": spec.bits,
        **({"input_encoding": config.input_encoding, "levels": levels}
           if levels is not None else {}),
        **({"cut_bits": config.cut_bits} if config.cut_bits is not None else {}),
        "seed": seed,
        "hidden": ",".join(str(h) for h in config.hidden),
        "sparsity_target": config.sparsity,
        **({"output_sparsity": config.output_sparsity}
           if config.output_sparsity is not None else {}),
        **({"augment": config.augment} if config.augment else {}),
        **({"balanced": True} if config.balanced else {}),
        **({"max_fan_in": ",".join(map(str, config.max_fan_in))} if config.max_fan_in else {}),
        **({"dropout": config.dropout, "dropout_mode": config.dropout_mode}
           if config.dropout else {}),
        **({"fan_in": ",".join(map(str, regimen.fan_in)),
            "path_sampling": config.path_sampling} if config.method == "paths" else {}),
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
    # The test set quantized once (the byte table where it applies: golden.quantize's integers)
    # and evaluated once: the proof's golden predictions give the metrics too.
    x_test = _quantize(spec, ds.x_test)
    net, test_accuracy, test_preds = export(model, spec, ds.classes, ds.x_test, ds.y_test,
                                            provenance=provenance, predictions=True,
                                            x_int=x_test)
    test_metrics = classification_metrics(ds.y_test, test_preds, n_classes)
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
        data=data_summary,
    )


def train_to_file(config, out_path, *, plots=True, progress=None, on_data=None, data=None):
    """:func:`train`, then write ``net.pt`` to ``out_path`` and, next to it, ``train_report.json``
    and (with ``plots``) the PNG plots named in :data:`PLOT_NAMES` that apply to the data.

    ``out_path`` is checked before training (:func:`lwc.outdir.net_file`: a directory gets
    ``net.pt`` inside it); its directory is created if needed. Nothing is written if training or
    the export proof fails, or if the net would not load (:func:`lwc.compiler.netfile.from_dict`).
    ``progress``, ``on_data`` and ``data`` are :func:`train`'s. Returns the :class:`TrainResult`.
    """
    from lwc.outdir import net_file

    out_path = net_file(out_path)
    directory = os.path.dirname(os.path.abspath(out_path))
    result = train(config, progress=progress, on_data=on_data, data=data)
    try:
        data = netfile.encode(result.net, out_path)
    except NetFileError as exc:
        raise DataError(f"the trained net would not load, so it is not written: "
                        f"{exc.problem}") from None
    os.makedirs(directory, exist_ok=True)
    netfile.write(data, out_path)
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
        "data": dict(result.data),
    }
    if ds is not None and ds.tabular:
        out["features"] = [{"name": n, "kind": k} for n, k in zip(ds.feature_names,
                                                                 ds.feature_kinds)]
        if "columns" in ds.info:
            out["columns"] = list(ds.info["columns"])
    return out
