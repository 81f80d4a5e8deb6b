"""Datasets for training and for regenerating a trained net's test set.

NumPy only (scikit-learn is imported when ``digits`` or ``breast-cancer`` is loaded): :mod:`lwc.sim`
uses it to rebuild exactly the test set a ``net.pt`` was measured on, from what its provenance
records (:func:`dataset_options` turns the provenance into :func:`load_dataset`'s arguments).

Datasets:

``digits``
    scikit-learn's 8x8 handwritten digits (1,797 images, pixel values 0..16), bundled with
    scikit-learn. The test set is a stratified ``test_fraction`` of all images (0.25 by default).
``mnist``, ``fashion-mnist``
    28x28 images, pixel values 0..255, read from the original gzipped IDX files
    (``train-images-idx3-ubyte.gz`` and the three others) in ``data_dir``; nothing is ever
    downloaded. With ``test_fraction=None`` (the default) the test set is the official 10,000
    test images; with a number, the 70,000 images are pooled and split like ``digits``.
``breast-cancer``
    scikit-learn's bundled Wisconsin diagnostic breast-cancer data: 569 samples, 30 continuous
    features, classes ``malignant`` (212) and ``benign`` (357); split like ``digits``.
``csv``
    Any CSV file with a header row (``csv_path``, the class in column ``csv_label``), encoded by
    :func:`lwc.data.tabular.read_csv` (continuous, binary and one-hot categorical features);
    split like ``digits``. ``csv_sha256``, when given, must match the file's bytes.

The features are raw (pixel values, encoded CSV columns); the network's input quantizer is made by
:mod:`lwc.train.inputs` (fixed for images, fitted on the training split for tabular data) and
stored in ``net.pt``.

The validation set is a stratified ``val_fraction`` of what is left after the test set is taken
out, so the test set depends only on ``seed`` and ``test_fraction``. Training decisions (model
selection, tuning) use the validation set, never the test set.
"""

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from lwc.errors import DataError

from . import tabular
from ._files import open_regular

__all__ = [
    "DATASETS",
    "IMAGE_DATASETS",
    "TABULAR_DATASETS",
    "IMAGE_SHAPE",
    "PIXEL_MAX",
    "dataset_options",
    "IDX_FILES",
    "IDX_MAX_BYTES",
    "Dataset",
    "load_dataset",
    "default_test_fraction",
    "default_input_bits",
    "data_summary",
    "summary_lines",
    "read_idx",
    "stratified_split",
]

#: Dataset names :func:`load_dataset` knows.
DATASETS = ("digits", "mnist", "fashion-mnist", "breast-cancer", "csv")
#: Datasets of images (a fixed quantizer, receptive-field plots).
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist")
#: Datasets of feature vectors (a per-feature quantizer fitted on the training split).
TABULAR_DATASETS = ("breast-cancer", "csv")

#: The four original IDX files of an MNIST-style dataset, as (images, labels) per official split.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

_CLASSES = {
    "digits": tuple(str(k) for k in range(10)),
    "mnist": tuple(str(k) for k in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}
#: ``(rows, columns)`` of every image dataset.
IMAGE_SHAPE = {"digits": (8, 8), "mnist": (28, 28), "fashion-mnist": (28, 28)}
_DEFAULT_BITS = {"digits": 4, "mnist": 1, "fashion-mnist": 1, "breast-cancer": 4, "csv": 4}
_DEFAULT_TEST_FRACTION = {"digits": 0.25, "mnist": None, "fashion-mnist": None,
                          "breast-cancer": 0.25, "csv": 0.25}
# Provenance keys that, with dataset, split_seed and test_fraction, rebuild a CSV dataset.
_CSV_KEYS = ("csv_path", "csv_label", "csv_categorical", "csv_ignore", "csv_sha256")
#: Largest raw pixel value of every image dataset.
PIXEL_MAX = {"digits": 16.0, "mnist": 255.0, "fashion-mnist": 255.0}
#: The most bytes an IDX file may hold, gzipped or not, and the most data its header may claim
#: (MNIST's largest file holds 47,040,000 bytes of images).
IDX_MAX_BYTES = 1 << 27


def _check_name(name):
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def default_test_fraction(name):
    """The ``test_fraction`` used when none is given (``None``: the official test split)."""
    _check_name(name)
    return _DEFAULT_TEST_FRACTION[name]


def default_input_bits(name):
    """The input width (bits per feature) used when none is given."""
    _check_name(name)
    return _DEFAULT_BITS[name]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset split three ways: raw features ``(n, count)`` and ``int64`` class indices ``(n,)``.

    Image features are pixel values as ``float32`` (exact: small integers); tabular features are
    ``float64`` as encoded from the file (:mod:`lwc.data.tabular`). ``seed``, ``test_fraction``
    and ``val_fraction`` are what :func:`load_dataset` was called with; with ``options`` (the
    dataset's own provenance entries, e.g. the CSV path) they regenerate the same split.
    ``image_shape`` is ``(rows, columns)`` for images, ``None`` for tabular data;
    ``feature_names``, ``feature_kinds`` (``"continuous"`` / ``"binary"``) and
    ``feature_groups`` (one-hot groups) describe tabular features.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    image_shape: tuple[int, int] | None
    seed: int
    test_fraction: float | None
    val_fraction: float
    info: dict = field(default_factory=dict)
    feature_names: tuple[str, ...] | None = None
    feature_kinds: tuple[str, ...] | None = None
    feature_groups: tuple[int, ...] | None = None
    options: dict = field(default_factory=dict)

    @property
    def feature_count(self):
        return self.x_train.shape[1]

    @property
    def tabular(self):
        return self.name in TABULAR_DATASETS

    def provenance(self):
        """What a net's provenance must record to rebuild this split (see
        :func:`dataset_options`)."""
        return {"dataset": self.name, "split_seed": self.seed,
                "test_fraction": self.test_fraction, "val_fraction": self.val_fraction,
                **self.options}


def dataset_options(source):
    """:func:`load_dataset`'s keyword arguments (``name`` included) from a net's provenance.

    ``source`` is a :class:`~lwc.compiler.ir.Network` or a provenance mapping. Use as
    ``load_dataset(**dataset_options(net), data_dir=...)``. Raises
    :class:`~lwc.errors.DataError` when the provenance does not name a dataset and split.
    """
    meta = dict(source.provenance) if hasattr(source, "provenance") else dict(source)
    if meta.get("dataset") is None or meta.get("split_seed") is None:
        raise DataError("the net does not record its dataset and split")
    options = {"name": meta["dataset"], "seed": meta["split_seed"],
               "test_fraction": meta.get("test_fraction")}
    if meta.get("val_fraction") is not None:
        options["val_fraction"] = meta["val_fraction"]
    options.update({key: meta[key] for key in _CSV_KEYS if meta.get(key) is not None})
    return options


def stratified_split(y, fraction, rng):
    """Indices ``(keep, taken)`` with ``round(fraction * n_c)`` of each class ``c`` taken.

    Both index arrays are sorted; the draw depends only on ``y``, ``fraction`` and ``rng``.
    """
    y = np.asarray(y)
    taken = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n_take = int(round(fraction * len(members)))
        taken.append(rng.permutation(members)[:n_take])
    taken = np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(y)), taken)
    return keep, taken


def _check_fraction(name, value, allow_none):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise DataError(f"{name} must be a number between 0 and 1 (exclusive), not {value!r}")


def load_dataset(name, *, seed, test_fraction=None, val_fraction=0.1, data_dir=None,
                 csv_path=None, csv_label=None, csv_categorical=None, csv_ignore=None,
                 csv_sha256=None):
    """Load dataset ``name`` and split it deterministically (stratified) from ``seed``.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    seed : int
        Split seed; the same ``seed`` and ``test_fraction`` always give the same test set.
    test_fraction : float or None
        Share of all samples held out for testing. ``None``: the dataset's default
        (:func:`default_test_fraction`): 0.25, or the official test split for MNIST-style data.
        :attr:`Dataset.test_fraction` holds the value used.
    val_fraction : float
        Share of the remaining samples held out for validation.
    data_dir : str or os.PathLike, optional
        Directory with the four gzipped IDX files (MNIST-style data only).
    csv_path, csv_label : str, optional
        The CSV file and its class column (``csv`` only, both required).
    csv_categorical, csv_ignore : str or sequence of str, optional
        Columns forced categorical, and columns left out (``"a,b"`` or a list).
    csv_sha256 : str, optional
        Refuse the file unless its SHA-256 is this (a net records the file it was trained on).

    Raises
    ------
    lwc.errors.DataError
        Unknown name, bad fractions, or a data file that is missing, not a regular file (a
        device, FIFO or directory), over its size limit (``tabular.LIMITS``,
        :data:`IDX_MAX_BYTES`) or malformed (the message names the file, and the line and column
        of a bad CSV cell).
    """
    _check_name(name)
    if test_fraction is None:
        test_fraction = _DEFAULT_TEST_FRACTION[name]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"split seed must be a non-negative integer, not {seed!r}")
    _check_fraction("test_fraction", test_fraction, allow_none=True)
    _check_fraction("val_fraction", val_fraction, allow_none=False)
    rng = np.random.default_rng([int(seed), 0x6C7763])

    extra = {}
    options = {}
    official = None
    if name == "digits":
        x, y = _load_digits()
        classes, source = _CLASSES[name], "sklearn.datasets.load_digits"
    elif name == "breast-cancer":
        x, y, classes, names = _load_breast_cancer()
        source = "sklearn.datasets.load_breast_cancer"
        extra = {"feature_names": names, "feature_kinds": ("continuous",) * len(names),
                 "feature_groups": tuple(range(len(names)))}
    elif name == "csv":
        if csv_path is None or csv_label is None:
            raise DataError("dataset 'csv' needs a CSV file and its label column "
                            "(--csv FILE --label COLUMN)")
        path = os.path.abspath(os.fspath(csv_path))
        table = tabular.read_csv(path, csv_label, categorical=csv_categorical,
                                 ignore=csv_ignore)
        digest = table.sha256
        if csv_sha256 is not None and digest != csv_sha256:
            raise DataError(f"{path}: the file changed since the net was trained (its SHA-256 "
                            f"is {digest[:16]}..., the net records {str(csv_sha256)[:16]}...)")
        x, y, classes, source = table.x, table.y, table.classes, path
        extra = {"feature_names": table.feature_names, "feature_kinds": table.feature_kinds,
                 "feature_groups": table.feature_groups}
        options = {"csv_path": path, "csv_label": str(csv_label),
                   "csv_categorical": ",".join(tabular.column_names(csv_categorical)) or None,
                   "csv_ignore": ",".join(tabular.column_names(csv_ignore)) or None,
                   "csv_sha256": digest}
        options = {k: v for k, v in options.items() if v is not None}
        extra["info_columns"] = table.columns
    else:
        if data_dir is None:
            raise DataError(f"dataset {name!r} needs a data directory (--data-dir) holding "
                            + ", ".join(IDX_FILES["train"] + IDX_FILES["test"]))
        x_tr, y_tr = _load_idx_pair(os.fspath(data_dir), *IDX_FILES["train"])
        x_te, y_te = _load_idx_pair(os.fspath(data_dir), *IDX_FILES["test"])
        x, y = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
        official = np.arange(len(y_tr), len(y))
        classes, source = _CLASSES[name], os.path.abspath(os.fspath(data_dir))
    if test_fraction is None:
        test_idx = official
        rest = np.arange(official[0])
    else:
        rest, test_idx = stratified_split(y, test_fraction, rng)
    keep, val = stratified_split(y[rest], val_fraction, rng)
    train_idx, val_idx = rest[keep], rest[val]
    # Shuffle the training order once, so mini-batches never see one class at a time.
    train_idx = rng.permutation(train_idx)
    # Images: float32 holds every pixel value (0..255) exactly at half the memory of float64.
    # Tabular features stay float64, the precision the quantizer computes in.
    dtype = np.float64 if name in TABULAR_DATASETS else np.float32
    info = {"source": source}
    if "info_columns" in extra:
        info["columns"] = extra.pop("info_columns")
    return Dataset(
        name=name,
        x_train=x[train_idx].astype(dtype), y_train=y[train_idx],
        x_val=x[val_idx].astype(dtype), y_val=y[val_idx],
        x_test=x[test_idx].astype(dtype), y_test=y[test_idx],
        classes=tuple(classes),
        image_shape=IMAGE_SHAPE.get(name),
        seed=int(seed),
        test_fraction=None if test_fraction is None else float(test_fraction),
        val_fraction=float(val_fraction),
        info=info,
        options=options,
        **extra,
    )


def _load_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.data), np.asarray(bunch.target, dtype=np.int64)


def _load_breast_cancer():
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return (np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64),
            tuple(str(c) for c in bunch.target_names), tuple(str(f) for f in bunch.feature_names))


def _open_idx(path):
    """Open the IDX file ``path`` and read its header: ``(file, raw reader, dims)``.

    The claimed size is checked before any data is read: a header may not claim more than
    :data:`IDX_MAX_BYTES` bytes, nor a dimension of 0 (an empty file of items)."""
    raw = open_regular(path, "IDX file", IDX_MAX_BYTES)
    f = gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw
    try:
        header = _read_exactly(path, f, 4)
        if len(header) < 4:
            raise DataError(f"{path}: truncated IDX header ({len(header)} of 4 bytes)")
        zero, kind, ndim = struct.unpack(">HBB", header)
        if zero != 0 or kind != 0x08 or not 1 <= ndim <= 4:
            raise DataError(f"{path}: not an unsigned-byte IDX file (magic "
                            f"0x{int.from_bytes(header, 'big'):08x})")
        dims_raw = _read_exactly(path, f, 4 * ndim)
        if len(dims_raw) < 4 * ndim:
            raise DataError(f"{path}: truncated IDX header")
        dims = struct.unpack(f">{ndim}I", dims_raw)
        if 0 in dims:
            raise DataError(f"{path}: holds no data (its header claims dimensions "
                            f"{'x'.join(map(str, dims))})")
        size = math.prod(dims)
        if size > IDX_MAX_BYTES:
            raise DataError(f"{path}: IDX header claims {size} bytes of data, more than the "
                            f"{IDX_MAX_BYTES} an IDX file may hold")
    except BaseException:
        raw.close()
        raise
    return f, raw, dims


def _read_exactly(path, f, size):
    """Up to ``size`` bytes of ``f`` (fewer only at its end); gzip and read errors in one line."""
    chunks, got = [], 0
    try:
        while got < size:
            chunk = f.read(size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot be read as gzipped IDX data ({exc})") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_idx_data(path, f, dims):
    size = math.prod(dims)
    data = _read_exactly(path, f, size + 1)
    if len(data) < size:
        raise DataError(f"{path}: truncated, {len(data)} of {size} data bytes")
    if len(data) > size:
        raise DataError(f"{path}: trailing bytes after {size} data bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def read_idx(path):
    """Read one IDX file (gzipped when ``path`` ends in ``.gz``) of unsigned bytes.

    Returns a ``uint8`` array shaped by the header's dimensions. Raises
    :class:`~lwc.errors.DataError` naming ``path`` when it is missing, not a regular file, larger
    than :data:`IDX_MAX_BYTES`, not gzip, truncated, followed by stray bytes, or its header is not
    an unsigned-byte IDX header, claims a dimension of 0 or more than :data:`IDX_MAX_BYTES` of
    data.
    """
    path = os.fspath(path)
    f, raw, dims = _open_idx(path)
    with raw:
        return _read_idx_data(path, f, dims)


def _load_idx_pair(data_dir, images_name, labels_name):
    """The images and labels of one official split; both headers are checked (shapes, counts)
    before either file's data is read."""
    images_path = os.path.join(data_dir, images_name)
    labels_path = os.path.join(data_dir, labels_name)
    fi, raw_i, dims_i = _open_idx(images_path)
    with raw_i:
        fl, raw_l, dims_l = _open_idx(labels_path)
        with raw_l:
            if len(dims_i) != 3 or dims_i[1:] != (28, 28):
                raise DataError(f"{images_path}: expected 28x28 images, not shape {dims_i}")
            if len(dims_l) != 1:
                raise DataError(f"{labels_path}: expected a 1-dimensional label file, not "
                                f"shape {dims_l}")
            if dims_l[0] != dims_i[0]:
                raise DataError(f"{labels_path}: {dims_l[0]} labels for {dims_i[0]} images in "
                                f"{images_name}")
            images = _read_idx_data(images_path, fi, dims_i)
            labels = _read_idx_data(labels_path, fl, dims_l)
    if labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} is not a class 0..9")
    return images.reshape(len(images), 28 * 28), labels.astype(np.int64)


def _shown(text, most=60):
    """``text`` for one line of a terminal: control characters escaped, cut to ``most``."""
    text = str(text)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= most else text[:most] + "..."


def data_summary(dataset, balanced_counts=None, balance="none"):
    """What training reads, as a dictionary (``train_report.json``'s ``data``).

    ``rows`` in all and per split (``train``, ``validation``, ``test``), ``features`` after
    encoding, ``classes`` and ``class_counts``: ``train`` (before balancing) and ``balanced``
    (``balanced_counts``, after ``balance``). Tabular data adds ``columns`` (how many became each
    kind of feature), ``dropped`` (ignored columns, and those with a single value) and
    ``imputed`` (per column with missing cells: ``cells``, what they became, ``value``, and how
    that was chosen, ``how``).
    """
    ds = dataset
    n_classes = len(ds.classes)
    train_counts = tabular.class_counts(ds.y_train, n_classes)
    out = {
        "dataset": ds.name,
        "source": ds.info.get("source"),
        "rows": len(ds.y_train) + len(ds.y_val) + len(ds.y_test),
        "train": len(ds.y_train), "validation": len(ds.y_val), "test": len(ds.y_test),
        "features": ds.feature_count,
        "classes": list(ds.classes),
        "class_counts": {"train": train_counts,
                         "balanced": list(balanced_counts or train_counts)},
        "balance": balance,
    }
    columns = ds.info.get("columns")
    if columns is None:
        return out
    kinds = {k: 0 for k in ("continuous", "binary", "categorical")}
    dropped, imputed = [], []
    for c in columns:
        kind = c["kind"]
        if kind in ("ignored", "constant"):
            dropped.append({"column": c["name"],
                            "why": "ignored" if kind == "ignored" else "a single value"})
        elif kind != "label":
            kinds[kind] += 1
        if c.get("missing") and kind in ("continuous", "binary", "categorical"):
            if kind == "continuous":
                value, how = c["median"], "median"
            elif "missing_as" in c:
                value, how = c["missing_as"], "more frequent value"
            else:
                value, how = tabular.MISSING_NAME, "category"
            imputed.append({"column": c["name"], "cells": c["missing"], "value": value,
                            "how": how})
    out.update(columns=kinds, dropped=dropped, imputed=imputed)
    return out


def summary_lines(summary):
    """The few lines of text :func:`data_summary` says, each starting ``data: ``."""
    s = summary
    source = s["source"]
    name = s["dataset"] if s["dataset"] != "csv" else _shown(os.path.basename(source or "csv"))
    lines = [f"data: {name}: {s['rows']:,} rows ({s['train']:,} training, {s['validation']:,} "
             f"validation, {s['test']:,} test), {s['features']:,} features"
             + (f" from {sum(s['columns'].values())} columns ("
                + ", ".join(f"{n} {k}" for k, n in s["columns"].items() if n) + ")"
                if s.get("columns") else "")]
    classes, counts = s["classes"], s["class_counts"]

    def per_class(values):
        shown = [f"{_shown(c, 24)} {v:,}" for c, v in zip(classes, values)]
        return ", ".join(shown[:12]) + (f", ... ({len(shown)} classes)" if len(shown) > 12
                                         else "")

    line = f"data: training rows per class: {per_class(counts['train'])}"
    if s["balance"] != "none":
        line += f"; after balancing ({s['balance']}): {per_class(counts['balanced'])}"
    lines.append(line)
    if s.get("imputed"):
        lines.append("data: imputed missing cells: " + _some(
            f"{_shown(i['column'], 30)}: {i['cells']:,} cell{'s' if i['cells'] > 1 else ''} set "
            f"to the {i['how']} "
            + (repr(_shown(i["value"], 20)) if i["how"] == "category" else f"{i['value']:g}")
            for i in s["imputed"]))
    if s.get("dropped"):
        lines.append("data: dropped columns: " + _some(
            f"{_shown(d['column'], 30)} ({d['why']})" for d in s["dropped"]))
    return lines


def _some(items, most=8):
    items = list(items)
    more = f"; ... ({len(items)} columns)" if len(items) > most else ""
    return "; ".join(items[:most]) + more
