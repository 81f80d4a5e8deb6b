"""Tabular data: CSV files and class balancing (NumPy only).

A CSV file becomes a matrix of *raw features* and a vector of class indices by :func:`read_csv`.
The encoding is a pure function of the file and the options, so the same file always gives the
same features (this is what lets ``lwc sim`` rebuild a net's test set from its provenance):

* the first row is the header; the delimiter is the one of ``, ; TAB |`` that the header holds
  most often (``,`` when it holds none);
* cells that are empty or read ``?``, ``NA``, ``N/A``, ``NaN``, ``null`` or ``None`` (any case) are
  *missing*;
* a column whose values are all numbers (finite floats) is *continuous* (missing cells take the
  column's median), unless it has exactly two distinct values: then it is *binary*, encoded 0 for
  the smaller value and 1 for the larger (missing cells take the more frequent one);
* any other column, and any column named in ``categorical``, is *categorical*: its distinct values
  (missing is a value of its own, ``(missing)``) sorted (numerically when all are numbers); two
  values make a binary feature (0 for the first, 1 for the second), more make one 0/1 feature per
  value (one-hot), at most :data:`MAX_CATEGORIES`;
* a column with a single value (or only missing cells) carries no information and is dropped;
* the classes are the distinct label values, sorted (numerically when all are numbers).

Every error a user can cause is a :class:`~lwc.errors.DataError` of one line that starts with the
file name.

The network's integer inputs are made from these raw features by a quantizer fitted on the
training split (:func:`lwc.train.inputs.fit_input_spec`).

:func:`balance` resamples a training split: ``oversample`` repeats random samples of every class
until each class has as many as the largest, ``smote`` adds synthetic samples instead (SMOTE: a
random point on the segment between a sample and one of its ``k`` nearest neighbours of the same
class, with binary and one-hot groups copied from one of the two), ``undersample`` keeps a random
subset of every class as large as the smallest. Only the training split is ever resampled.
"""

import csv
import hashlib
import io
import math
import os
from dataclasses import dataclass

import numpy as np

from lwc.errors import DataError

__all__ = ["MAX_CATEGORIES", "BALANCE_METHODS", "MISSING", "Table", "read_csv", "file_sha256",
           "column_names", "balance", "class_counts"]

#: Most distinct values a categorical column may have (one input feature each).
MAX_CATEGORIES = 64
#: What :func:`balance` can do to a training split.
BALANCE_METHODS = ("none", "oversample", "smote", "undersample")
#: Cell texts (lower case, stripped) that mean "missing".
MISSING = frozenset({"", "?", "na", "n/a", "nan", "null", "none"})
_MISSING_NAME = "(missing)"
_DELIMITERS = ",;\t|"
# The fewest rows of a class that still leave one for training after validation and test.
_MIN_CLASS_ROWS = 3


@dataclass(frozen=True, eq=False)
class Table:
    """Encoded tabular data.

    ``x`` is ``float64`` ``(rows, features)``, ``y`` ``int64`` class indices. ``feature_kinds[k]``
    is ``"continuous"`` or ``"binary"`` (one-hot features are binary); features with the same
    ``feature_groups[k]`` come from one column (a one-hot group). ``columns`` describes every
    column of the file (``name``, ``kind``: ``continuous``, ``binary``, ``categorical``,
    ``constant``, ``ignored`` or ``label``, and what the encoding needs: ``values``, ``median``).
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_kinds: tuple[str, ...]
    feature_groups: tuple[int, ...]
    columns: tuple[dict, ...]


def file_sha256(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def column_names(value):
    """A tuple of column names from ``None``, ``"a,b"`` or a sequence of names."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _sorted_values(values):
    """Distinct values sorted numerically when all are numbers, else as text."""
    values = sorted(set(values))
    if all(_number(v) is not None for v in values):
        return sorted(values, key=lambda v: (_number(v), v))
    return values


def _read_rows(path):
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a CSV file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise DataError(f"{path}: empty file, expected a header row and data rows")
    header_line = text.splitlines()[0]
    counts = [header_line.count(d) for d in _DELIMITERS]
    delimiter = _DELIMITERS[int(np.argmax(counts))] if max(counts) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # line_num after a row is the line the row ended on (quoted cells may span lines).
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: {exc}") from None
    return rows


def read_csv(path, label, *, categorical=None, ignore=None):
    """Read and encode a CSV file (see the module docstring for the rules).

    Parameters
    ----------
    path : str or os.PathLike
    label : str
        Name of the column holding the class.
    categorical : str or sequence of str, optional
        Columns to treat as categorical even when they hold numbers (``"a,b"`` or a list).
    ignore : str or sequence of str, optional
        Columns to leave out (identifiers, leaks).

    Returns
    -------
    Table

    Raises
    ------
    lwc.errors.DataError
        One line naming the file: missing or unreadable file, no header or data, rows with a
        different number of fields than the header, unknown column names, an empty label, fewer
        than two classes or a class with fewer than three rows, too many categories, no feature
        left.
    """
    path = os.fspath(path)
    label = str(label) if label is not None else None
    if not label:
        raise DataError(f"{path}: no label column given (--label COLUMN)")
    rows = _read_rows(path)
    header = [name.strip() for name in rows[0][1]]
    for k, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {k + 1} of the header has no name")
        if header.index(name) != k:
            raise DataError(f"{path}: column name {name!r} appears twice in the header")
    data = rows[1:]
    if not data:
        raise DataError(f"{path}: no data rows after the header")
    for line, row in data:
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} fields, the header has "
                            f"{len(header)}")
    categorical, ignore = column_names(categorical), column_names(ignore)
    for option, names in (("label", (label,)), ("categorical", categorical), ("ignore", ignore)):
        for name in names:
            if name not in header:
                shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
                raise DataError(f"{path}: {option} column {name!r} is not in the header "
                                f"(columns: {shown})")
    if label in ignore or label in categorical:
        raise DataError(f"{path}: the label column {label!r} cannot also be ignored or a feature")

    cells = list(zip(*(row for _, row in data)))  # column-major, stripped below
    li = header.index(label)
    labels = [v.strip() for v in cells[li]]
    for (line, _), value in zip(data, labels):
        if value.lower() in MISSING:
            raise DataError(f"{path}: line {line}: missing label in column {label!r}")
    classes = tuple(_sorted_values(labels))
    if len(classes) < 2:
        raise DataError(f"{path}: column {label!r} holds only one class ({classes[0]!r}); "
                        "need at least two")
    index = {c: k for k, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < _MIN_CLASS_ROWS:
        c = classes[int(np.argmin(counts))]
        raise DataError(f"{path}: class {c!r} has only {int(counts.min())} row(s); every class "
                        f"needs at least {_MIN_CLASS_ROWS} (training, validation, test)")

    features, names, kinds, groups, columns = [], [], [], [], []
    for ci, name in enumerate(header):
        if ci == li:
            columns.append({"name": name, "kind": "label", "values": list(classes)})
            continue
        if name in ignore:
            columns.append({"name": name, "kind": "ignored"})
            continue
        col = _encode_column(path, name, [v.strip() for v in cells[ci]], name in categorical)
        columns.append(col.pop("info"))
        group = len(columns) - 1
        for fname, fkind, values in zip(col["names"], col["kinds"], col["values"]):
            features.append(values)
            names.append(fname)
            kinds.append(fkind)
            groups.append(group)
    if not features:
        raise DataError(f"{path}: no feature column left (all are the label, ignored, or hold "
                        "a single value)")
    return Table(
        x=np.stack(features, axis=1).astype(np.float64), y=y, classes=classes,
        feature_names=tuple(names), feature_kinds=tuple(kinds), feature_groups=tuple(groups),
        columns=tuple(columns),
    )


def _encode_column(path, name, values, force_categorical):
    missing = np.array([v.lower() in MISSING for v in values])
    present = [v for v, m in zip(values, missing) if not m]
    numbers = [_number(v) for v in present]
    numeric = bool(present) and all(n is not None for n in numbers) and not force_categorical
    if numeric:
        distinct = sorted(set(numbers))
        if len(distinct) == 1:
            return _constant(name)
        x = np.full(len(values), np.nan)
        x[~missing] = numbers
        if len(distinct) == 2:
            lo, hi = distinct
            n_hi = int(np.sum(x == hi))
            fill = hi if n_hi > len(present) - n_hi else lo
            x = np.where(missing, fill, x)
            return {"names": [name], "kinds": ["binary"], "values": [(x == hi).astype(float)],
                    "info": {"name": name, "kind": "binary", "values": [lo, hi],
                             "missing_as": fill}}
        median = float(np.median(x[~missing]))
        x = np.where(missing, median, x)
        return {"names": [name], "kinds": ["continuous"], "values": [x],
                "info": {"name": name, "kind": "continuous", "median": median}}
    texts = [(_MISSING_NAME if m else v) for v, m in zip(values, missing)]
    categories = _sorted_values(texts)
    if len(categories) == 1:
        return _constant(name)
    if len(categories) > MAX_CATEGORIES:
        raise DataError(f"{path}: column {name!r} has {len(categories)} distinct values, more "
                        f"than {MAX_CATEGORIES} categories; leave it out with --ignore {name}")
    codes = np.array([categories.index(t) for t in texts])
    info = {"name": name, "kind": "categorical", "values": categories}
    if len(categories) == 2:
        info["kind"] = "binary"
        return {"names": [name], "kinds": ["binary"], "values": [(codes == 1).astype(float)],
                "info": info}
    return {"names": [f"{name}={c}" for c in categories], "kinds": ["binary"] * len(categories),
            "values": [(codes == k).astype(float) for k in range(len(categories))], "info": info}


def _constant(name):
    return {"names": [], "kinds": [], "values": [],
            "info": {"name": name, "kind": "constant"}}


def class_counts(y, n_classes):
    """Samples per class, as a list of ints."""
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).tolist()


def balance(x, y, method, rng, *, kinds=None, groups=None, k_neighbors=5):
    """Resample a training split ``(x, y)`` so every class has the same number of samples.

    ``method`` is one of :data:`BALANCE_METHODS` (see the module docstring); ``rng`` a NumPy
    ``Generator``. ``kinds`` and ``groups`` (per feature, as in :class:`Table`) tell ``smote``
    which features to interpolate (``"continuous"``) and which groups to copy whole; without
    them every feature is interpolated. Returns ``(x, y)``, shuffled; ``none`` returns the input
    unchanged.
    """
    if method not in BALANCE_METHODS:
        raise DataError(f"balance must be one of {', '.join(BALANCE_METHODS)}, not {method!r}")
    if method == "none":
        return x, y
    y = np.asarray(y)
    present = np.unique(y)
    members = {c: np.flatnonzero(y == c) for c in present}
    sizes = {c: len(m) for c, m in members.items()}
    if method == "undersample":
        target = min(sizes.values())
        keep = np.concatenate([rng.permutation(members[c])[:target] for c in present])
        keep = rng.permutation(keep)
        return x[keep], y[keep]
    target = max(sizes.values())
    if method == "oversample":
        extra = [rng.choice(members[c], target - sizes[c], replace=True) for c in present]
        order = rng.permutation(np.concatenate([np.arange(len(y)), *extra]))
        return x[order], y[order]
    new_x, new_y = [x], [y]
    for c in present:
        need = target - sizes[c]
        if need:
            new_x.append(_smote(x[members[c]], need, rng, kinds, groups, k_neighbors))
            new_y.append(np.full(need, c, dtype=y.dtype))
    x_all, y_all = np.concatenate(new_x), np.concatenate(new_y)
    order = rng.permutation(len(y_all))
    return x_all[order], y_all[order]


def _smote(x, need, rng, kinds, groups, k_neighbors):
    """``need`` synthetic samples from the rows of one class ``x``."""
    x = np.asarray(x, dtype=np.float64)
    n, f = x.shape
    if n == 1:
        return np.repeat(x, need, axis=0).astype(x.dtype)
    cont = np.ones(f, dtype=bool) if kinds is None else np.array(
        [k == "continuous" for k in kinds])
    # Neighbours by distance on standardised features, so no unit dominates.
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    k = min(k_neighbors, n - 1)
    neighbors = np.empty((n, k), dtype=np.int64)
    sq = (z * z).sum(axis=1)
    for start in range(0, n, 1024):
        block = z[start:start + 1024]
        d = sq[start:start + 1024, None] - 2 * block @ z.T + sq[None, :]
        d[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        neighbors[start:start + len(block)] = np.argsort(d, axis=1, kind="stable")[:, :k]
    base = rng.integers(0, n, need)
    other = neighbors[base, rng.integers(0, k, need)]
    u = rng.random(need)[:, None]
    out = x[base] + u * (x[other] - x[base])
    if not cont.all():
        group_ids = np.arange(f) if groups is None else np.asarray(groups)
        for g in np.unique(group_ids[~cont]):
            cols = np.flatnonzero((group_ids == g) & ~cont)
            take_other = rng.random(need) < 0.5
            out[:, cols] = np.where(take_other[:, None], x[other][:, cols], x[base][:, cols])
    return out.astype(x.dtype)
