"""Tabular data: CSV files and class balancing (NumPy only).

A CSV file becomes a matrix of *raw features* and a vector of class indices by :func:`read_csv`.
The encoding is a pure function of the file and the options, so the same file always gives the
same features (this is what lets ``lwc sim`` rebuild a net's test set from its provenance):

* the file is a regular file (not a device, FIFO or directory) of UTF-8 text within
  :data:`LIMITS`, read once (its SHA-256 is taken on the way);
* the first row with text is the header; the delimiter is the one of ``, ; TAB |`` that it holds
  most often (``,`` when it holds none); blank rows are skipped;
* cells that are empty or read ``?``, ``NA``, ``N/A``, ``NaN``, ``null`` or ``None`` (any case) are
  *missing* (:data:`MISSING`); every other cell is stripped of surrounding blanks;
* a column whose values are all numbers (finite floats, at most ``LIMITS["magnitude"]`` in
  magnitude) is *continuous* (missing cells take the column's median), unless it has exactly two
  distinct values: then it is *binary*, encoded 0 for the smaller value and 1 for the larger
  (missing cells take the more frequent one);
* a column of which more than half the present cells are numbers, but not all, is refused: the
  other cells (``abc``, ``1.2.3``, ``inf``) are mistakes, and the error names the first by line
  and column (declaring the column ``categorical`` accepts it as categories);
* any other column, and any column named in ``categorical``, is *categorical*: its distinct values
  (missing is a value of its own, ``(missing)``) sorted (numerically when all are numbers); two
  values make a binary feature (0 for the first, 1 for the second), more make one 0/1 feature per
  value (one-hot), at most :data:`MAX_CATEGORIES`;
* a column with a single value (or only missing cells) carries no information and is dropped;
* the classes are the distinct label values, sorted (numerically when all are numbers);
* labels, categories and column names hold no control, format or separator characters
  (:func:`unicodedata.category` ``Cc``, ``Cf``, ``Zl``, ``Zp``, ``Cs``: terminal escapes, newlines,
  bidirectional controls), and a label at most ``LIMITS["label"]`` characters (what a ``net.pt``
  class name may hold).

Every error a user can cause is a :class:`~lwc.errors.DataError` of one line that starts with the
file name; an error about a cell names its line (the file line its row ends on, 1-based) and its
column. Each column's entry in :attr:`Table.columns` counts its ``missing`` cells, which
:func:`lwc.data.data_summary` reports as imputed.

The network's integer inputs are made from these raw features by a quantizer fitted on the
training split (:func:`lwc.train.inputs.fit_input_spec`).

:func:`balance` resamples a training split: ``oversample`` repeats random samples of every class
until each class has as many as the largest, ``smote`` adds synthetic samples instead (SMOTE: a
random point on the segment between a sample and one of its ``k`` nearest neighbours of the same
class, with binary and one-hot groups copied from one of the two), ``undersample`` keeps a random
subset of every class as large as the smallest. Only the training split is ever resampled.
"""

import codecs
import csv
import io
import math
import os
import re
import unicodedata
from array import array
from dataclasses import dataclass

import numpy as np

from lwc.errors import DataError

from ._files import open_regular

__all__ = ["MAX_CATEGORIES", "BALANCE_METHODS", "MISSING", "MISSING_NAME", "LIMITS", "Table",
           "read_csv", "file_sha256", "column_names", "balance", "class_counts"]

#: Most distinct values a categorical column may have (one input feature each).
MAX_CATEGORIES = 64
#: What :func:`balance` can do to a training split.
BALANCE_METHODS = ("none", "oversample", "smote", "undersample")
#: Cell texts (lower case, stripped) that mean "missing".
MISSING = frozenset({"", "?", "na", "n/a", "nan", "null", "none"})
#: What a CSV file may hold, checked as it is read, before memory is spent on more: ``bytes``
#: the file's size; ``row`` characters in one row (a quoted cell may span lines); ``columns`` in
#: the header; ``cells`` data rows times header columns, and data rows times encoded features;
#: ``classes`` distinct labels; ``label`` characters in one label (a ``net.pt`` class name holds
#: no more); ``magnitude`` the largest absolute value of a number in a feature column (the
#: quantizer squares deviations in float64; far larger values overflow it).
LIMITS = {"bytes": 1 << 28, "row": 1 << 20, "columns": 1 << 14, "cells": 1 << 25,
          "classes": 1 << 10, "label": 256, "magnitude": 1e100}
#: What a missing cell of a categorical column becomes: a category of its own.
MISSING_NAME = "(missing)"
_DELIMITERS = ",;\t|"
# The fewest rows of a class that still leave one for training after validation and test.
_MIN_CLASS_ROWS = 3
# Distinct texts remembered per feature column: beyond this it cannot be categorical.
_DISTINCT = 4 * MAX_CATEGORIES
# Unicode categories a label, category or column name may not hold: controls (ESC starts
# terminal escapes, a newline forges output lines), format characters (bidirectional controls
# reorder what a terminal shows), line and paragraph separators, lone surrogates.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Where a line read up to "\n" ends early: after a "\r" that no "\n" follows.
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


@dataclass(frozen=True, eq=False)
class Table:
    """Encoded tabular data.

    ``x`` is ``float64`` ``(rows, features)``, ``y`` ``int64`` class indices. ``feature_kinds[k]``
    is ``"continuous"`` or ``"binary"`` (one-hot features are binary); features with the same
    ``feature_groups[k]`` come from one column (a one-hot group). ``columns`` describes every
    column of the file (``name``, ``kind``: ``continuous``, ``binary``, ``categorical``,
    ``constant``, ``ignored`` or ``label``, and what the encoding needs: ``values``, ``median``,
    ``missing_as``; ``missing``: how many cells were missing, when any were). ``sha256`` is the
    digest of the bytes read.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_kinds: tuple[str, ...]
    feature_groups: tuple[int, ...]
    columns: tuple[dict, ...]
    sha256: str = ""


def file_sha256(path):
    """Hex SHA-256 of a file's bytes (a regular file within :data:`LIMITS`)."""
    with open_regular(path, "CSV file", LIMITS["bytes"]) as f:
        while f.read(1 << 20):
            pass
        return f.sha256.hexdigest()


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


def _show(text, most=40):
    """``text`` quoted with its control characters escaped, cut to ``most`` characters."""
    shown = repr(text[:most])
    return shown + ("..." if len(text) > most else "")


def _control(text):
    """The first character of ``text`` that a label or category may not hold, or None."""
    if text.isprintable():
        return None
    for ch in text:
        if unicodedata.category(ch) in _CONTROL_CATEGORIES:
            return ch
    return None


class _Lines:
    """The lines of a CSV file for :func:`csv.reader`, decoded from UTF-8 line by line (so a bad
    byte is reported on its line) and bounded: a row may not exceed ``LIMITS["row"]``
    characters (the caller resets :attr:`row` after each row)."""

    def __init__(self, path, f):
        self.path, self.f = path, f
        self.line = 0  # lines handed out
        self.row = 0  # characters of the row being read
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.pending = []

    def __iter__(self):
        return self

    def _read(self):
        budget = LIMITS["row"] - self.row
        raw = self.f.readline(4 * budget + 4)  # UTF-8: at most 4 bytes a character
        try:
            text = self.decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.path}: line {self.line + 1} is not UTF-8 text "
                            f"({exc.reason})") from None
        # As a file opened with newline="" reads: a lone \r ends a line too (the csv module's rule).
        if "\r" in text:
            return [part for part in _LONE_CR.split(text) if part]
        return [text] if text else []

    def __next__(self):
        while not self.pending:
            self.pending = self._read()
            if not self.pending:
                raise StopIteration
        line = self.pending.pop(0)
        self.line += 1
        self.row += len(line)
        if self.row > LIMITS["row"]:
            raise DataError(f"{self.path}: line {self.line}: a row of more than "
                            f"{LIMITS['row']} characters")
        return line


class _Column:
    """One feature column as it is read: its numbers (NaN where missing or not a number), and
    the code of each cell's text while it has at most ``_DISTINCT`` distinct texts."""

    def __init__(self, name, forced):
        self.name, self.forced = name, forced
        self.values = array("d")
        self.codes = array("i")
        self.texts = {}  # text -> code, in order of first appearance
        self.missing = self.numbers = 0
        self.bad = None  # (line, text, problem) of the first cell that is no finite number
        self.big = None  # (line, text) of the first number beyond LIMITS["magnitude"]

    def add(self, path, text, line):
        if len(text) <= 4 and text.lower() in MISSING:
            self.missing += 1
            self.values.append(math.nan)
            text = MISSING_NAME
        else:
            try:
                value = float(text)
            except ValueError:
                value = None
            if value is not None and math.isfinite(value):
                self.numbers += 1
                if self.big is None and abs(value) > LIMITS["magnitude"]:
                    self.big = (line, text)
            elif self.bad is None:
                self.bad = (line, text, "is not a number" if value is None
                            else "is not a finite number")
            self.values.append(value if value is not None else math.nan)
        if self.codes is None:
            return
        code = self.texts.get(text)
        if code is None:
            if len(self.texts) == _DISTINCT:
                self.codes = None
                return
            bad = _control(text)
            if bad is not None:
                raise DataError(f"{path}: line {line}: column {self.name!r} holds the control "
                                f"character {bad!r} in {_show(text)}")
            code = self.texts[text] = len(self.texts)
        self.codes.append(code)


def _header(path, row):
    header = [name.strip() for name in row]
    if len(header) > LIMITS["columns"]:
        raise DataError(f"{path}: the header has {len(header)} columns, more than "
                        f"{LIMITS['columns']}")
    seen = set()
    for k, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {k + 1} of the header has no name")
        bad = _control(name)
        if bad is not None:
            raise DataError(f"{path}: column {k + 1} of the header holds the control character "
                            f"{bad!r} in {_show(name)}")
        if name in seen:
            raise DataError(f"{path}: column name {_show(name)} appears twice in the header")
        seen.add(name)
    return header


def _check_options(path, header, label, categorical, ignore):
    for option, names in (("label", (label,)), ("categorical", categorical), ("ignore", ignore)):
        for name in names:
            if name not in header:
                shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
                raise DataError(f"{path}: {option} column {_show(name)} is not in the header "
                                f"(columns: {shown})")
    if label in ignore or label in categorical:
        raise DataError(f"{path}: the label column {label!r} cannot also be ignored or a feature")


def _read_columns(path, label, categorical, ignore):
    """Read the file once: ``(header, data rows, labels (texts, codes), feature columns,
    sha256)``; every check that needs only the cells is made here, as the cells are read."""
    with open_regular(path, "CSV file", LIMITS["bytes"]) as raw:
        lines = _Lines(path, io.BufferedReader(raw, 1 << 16))
        # The delimiter is the one the first line with text holds most often.
        first = next(lines, None)
        while first is not None and not first.strip():
            lines.row = 0
            first = next(lines, None)
        if first is None:
            raise DataError(f"{path}: empty file, expected a header row and data rows")
        counts = [first.count(d) for d in _DELIMITERS]
        delimiter = _DELIMITERS[int(np.argmax(counts))] if max(counts) else ","
        lines.pending.insert(0, first)  # handed out again, to the reader
        lines.line -= 1
        lines.row = 0
        reader = csv.reader(lines, delimiter=delimiter)
        header = used = label_col = None
        rows = 0
        try:
            for row in reader:
                # The line the row ended on (quoted cells may span lines).
                line = lines.line
                lines.row = 0
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = _header(path, row)
                    _check_options(path, header, label, categorical, ignore)
                    li = header.index(label)
                    label_col = ({}, array("i"))
                    used = [(ci, _Column(name, name in categorical))
                            for ci, name in enumerate(header) if ci != li and name not in ignore]
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}: line {line} has {len(row)} fields, the header has "
                                    f"{len(header)}")
                rows += 1
                if rows * len(header) > LIMITS["cells"]:
                    raise DataError(f"{path}: more than {LIMITS['cells']} cells (data rows times "
                                    f"{len(header)} columns) by line {line}")
                _add_label(path, label, label_col, row[li].strip(), line)
                for ci, column in used:
                    column.add(path, row[ci].strip(), line)
        except csv.Error as exc:
            raise DataError(f"{path}: line {lines.line}: {exc}") from None
        digest = raw.sha256.hexdigest()
    if header is None:
        raise DataError(f"{path}: empty file, expected a header row and data rows")
    if not rows:
        raise DataError(f"{path}: no data rows after the header")
    return header, rows, label_col, [column for _, column in used], digest


def _add_label(path, label, label_col, text, line):
    texts, codes = label_col
    code = texts.get(text)
    if code is None:
        if text.lower() in MISSING:
            raise DataError(f"{path}: line {line}: missing label in column {label!r}")
        bad = _control(text)
        if bad is not None:
            raise DataError(f"{path}: line {line}: the label in column {label!r} holds the "
                            f"control character {bad!r} in {_show(text)}")
        if len(text) > LIMITS["label"]:
            raise DataError(f"{path}: line {line}: the label in column {label!r} has "
                            f"{len(text)} characters, more than {LIMITS['label']}")
        if len(texts) == LIMITS["classes"]:
            raise DataError(f"{path}: line {line}: column {label!r} holds more than "
                            f"{LIMITS['classes']} distinct labels; is it the class column?")
        code = texts[text] = len(texts)
    codes.append(code)


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
        One line naming the file: missing, unreadable, special (a device, FIFO or directory) or
        too large a file, no header or data, rows with a different number of fields than the
        header, unknown column names, an empty label, fewer than two classes or a class with
        fewer than three rows, a cell that breaks its column's type (with its line), a control
        character in a label, category or column name, a number beyond
        ``LIMITS["magnitude"]``, too many categories, no feature left, or a limit of
        :data:`LIMITS` exceeded.
    """
    path = os.fspath(path)
    label = str(label) if label is not None else None
    if not label:
        raise DataError(f"{path}: no label column given (--label COLUMN)")
    categorical, ignore = column_names(categorical), column_names(ignore)
    header, rows, (label_texts, label_codes), used, digest = _read_columns(
        path, label, categorical, ignore)

    classes = tuple(_sorted_values(label_texts))
    if len(classes) < 2:
        raise DataError(f"{path}: column {label!r} holds only one class ({classes[0]!r}); "
                        "need at least two")
    order = np.array([classes.index(t) for t in label_texts], dtype=np.int64)
    y = order[np.frombuffer(label_codes, dtype=np.int32)]
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < _MIN_CLASS_ROWS:
        c = classes[int(np.argmin(counts))]
        raise DataError(f"{path}: class {c!r} has only {int(counts.min())} row(s); every class "
                        f"needs at least {_MIN_CLASS_ROWS} (training, validation, test)")

    encoded = {column.name: _encode_column(path, column, rows) for column in used}
    n_features = sum(len(e["names"]) for e in encoded.values())
    if not n_features:
        raise DataError(f"{path}: no feature column left (all are the label, ignored, or hold "
                        "a single value)")
    if rows * n_features > LIMITS["cells"]:
        raise DataError(f"{path}: {rows} rows of {n_features} features after encoding, more "
                        f"than {LIMITS['cells']} values")
    x = np.empty((rows, n_features), dtype=np.float64)
    names, kinds, groups, columns = [], [], [], []
    for name in header:
        if name == label:
            columns.append({"name": name, "kind": "label", "values": list(classes)})
            continue
        if name not in encoded:
            columns.append({"name": name, "kind": "ignored"})
            continue
        col = encoded[name]
        columns.append(col["info"])
        group = len(columns) - 1
        for fname, fkind, values in zip(col["names"], col["kinds"], col["values"]):
            x[:, len(names)] = values
            names.append(fname)
            kinds.append(fkind)
            groups.append(group)
    return Table(x=x, y=y, classes=classes, feature_names=tuple(names),
                 feature_kinds=tuple(kinds), feature_groups=tuple(groups),
                 columns=tuple(columns), sha256=digest)


def _encode_column(path, column, rows):
    """The features of one column: a dict of ``names``, ``kinds``, ``values`` (one array per
    feature) and ``info`` (its entry of :attr:`Table.columns`)."""
    name, present = column.name, rows - column.missing
    numeric = present > 0 and column.numbers == present and not column.forced
    if not numeric and not column.forced and column.numbers * 2 > present:
        # Mostly numbers: the cells that are not are mistakes, not categories.
        line, text, problem = column.bad
        raise DataError(f"{path}: line {line}: {_show(text)} in column {name!r} {problem}, "
                        f"though {column.numbers} of its {present} cells are numbers; fix it, "
                        f"leave it empty (missing), or declare the column --categorical {name}")
    info = {"name": name}
    if column.missing:
        info["missing"] = column.missing
    if numeric:
        if column.big is not None:
            line, text = column.big
            raise DataError(f"{path}: line {line}: column {name!r} holds {_show(text)}, larger "
                            f"in magnitude than the {LIMITS['magnitude']:g} a feature may hold; "
                            f"rescale the column or leave it out with --ignore {name}")
        x = np.frombuffer(column.values, dtype=np.float64)
        missing = np.isnan(x)
        distinct = np.unique(x[~missing])
        if len(distinct) == 1:
            return _constant(info)
        if len(distinct) == 2:
            lo, hi = (float(v) for v in distinct)
            n_hi = int(np.sum(x == hi))
            fill = hi if n_hi > present - n_hi else lo
            x = np.where(missing, fill, x)
            info.update(kind="binary", values=[lo, hi], missing_as=fill)
            return {"names": [name], "kinds": ["binary"], "values": [(x == hi).astype(float)],
                    "info": info}
        median = float(np.median(x[~missing]))
        info.update(kind="continuous", median=median)
        return {"names": [name], "kinds": ["continuous"], "values": [np.where(missing, median, x)],
                "info": info}
    if column.codes is None:
        raise DataError(f"{path}: column {name!r} has more than {_DISTINCT} distinct values, "
                        f"more than {MAX_CATEGORIES} categories; leave it out with --ignore "
                        f"{name}")
    texts = list(column.texts)
    categories = _sorted_values(texts)
    if len(categories) == 1:
        return _constant(info)
    if len(categories) > MAX_CATEGORIES:
        raise DataError(f"{path}: column {name!r} has {len(categories)} distinct values, more "
                        f"than {MAX_CATEGORIES} categories; leave it out with --ignore {name}")
    rank = {c: k for k, c in enumerate(categories)}
    codes = np.array([rank[t] for t in texts])[np.frombuffer(column.codes, dtype=np.int32)]
    info.update(kind="categorical", values=categories)
    if len(categories) == 2:
        info["kind"] = "binary"
        return {"names": [name], "kinds": ["binary"], "values": [(codes == 1).astype(float)],
                "info": info}
    return {"names": [f"{name}={c}" for c in categories], "kinds": ["binary"] * len(categories),
            "values": [(codes == k).astype(float) for k in range(len(categories))], "info": info}


def _constant(info):
    info["kind"] = "constant"
    return {"names": [], "kinds": [], "values": [], "info": info}


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
