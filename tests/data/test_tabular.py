"""CSV encoding, per-feature quantizers, class balancing and the metrics for imbalanced data."""

import numpy as np
import pytest

from lwc import data
from lwc.compiler import golden
from lwc.compiler.ir import AffineQuantizer, ThresholdQuantizer
from lwc.data import tabular
from lwc.errors import DataError
from lwc.train.inputs import fit_input_spec, input_spec, make_input_spec
from lwc.train.metrics import classification_metrics, confusion_matrix


def write_csv(path, n=120, seed=0, minority=0.2):
    """A CSV with continuous, binary (text and numeric), categorical and id columns, some missing
    cells, and an imbalanced label (``minority`` of the rows are ``yes``)."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < minority, "yes", "no")
    y[:3], y[3:6] = "yes", "no"  # both classes, whatever the draw
    rows = ["id,age,income,smoker,flag,color,outcome"]
    for k in range(n):
        pos = y[k] == "yes"
        age = f"{rng.normal(50 if pos else 35, 8):.2f}" if k % 17 else ""  # some missing
        income = f"{rng.lognormal(3, 1):.3f}"
        smoker = ("true" if rng.random() < (0.7 if pos else 0.2) else "false") if k % 23 else "?"
        flag = str(int(rng.random() < 0.5))
        color = ["red", "green", "blue"][rng.integers(0, 3)]
        rows.append(f"{k},{age},{income},{smoker},{flag},{color},{y[k]}")
    path.write_text("\n".join(rows) + "\n")
    return y


def test_csv_encoding(tmp_path):
    path = tmp_path / "t.csv"
    y = write_csv(path)
    table = tabular.read_csv(path, "outcome", ignore="id")
    assert table.classes == ("no", "yes")
    assert np.array_equal(table.y, (y == "yes").astype(np.int64))
    # smoker has missing cells: a third value, so it is categorical (one-hot), not binary.
    assert table.feature_names == ("age", "income", "smoker=(missing)", "smoker=false",
                                   "smoker=true", "flag", "color=blue", "color=green",
                                   "color=red")
    assert table.feature_kinds == ("continuous", "continuous") + ("binary",) * 7
    assert table.feature_groups == (1, 2, 3, 3, 3, 4, 5, 5, 5)
    x = table.x
    assert np.all(x[:, 2:5].sum(axis=1) == 1) and np.all(x[:, 6:9].sum(axis=1) == 1)
    assert set(np.unique(x[:, 5])) == {0.0, 1.0}
    kinds = {c["name"]: c["kind"] for c in table.columns}
    assert kinds == {"id": "ignored", "age": "continuous", "income": "continuous",
                     "smoker": "categorical", "flag": "binary", "color": "categorical",
                     "outcome": "label"}
    # Missing ages take the median of the others.
    median = [c for c in table.columns if c["name"] == "age"][0]["median"]
    assert x[0, 0] == median and x[17, 0] == median
    # Forcing a numeric column categorical, and the same file twice: the same encoding.
    forced = tabular.read_csv(path, "outcome", ignore=["id"], categorical=["flag"])
    assert forced.feature_kinds[5] == "binary" and np.array_equal(forced.x, x)
    assert np.array_equal(tabular.read_csv(path, "outcome", ignore="id").x, x)


def test_semicolon_quotes_and_numeric_classes(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('a;"b c";class\n1.5;"x";10\n2;"y;z";2\n3;"x";2\n4;"y;z";10\n5;"x";2\n'
                    '6;"y;z";10\n')
    table = tabular.read_csv(path, "class")
    assert table.classes == ("2", "10")  # numeric classes sort as numbers
    assert table.feature_names == ("a", "b c") and table.feature_kinds == ("continuous",
                                                                           "binary")
    assert table.x[:, 0].tolist() == [1.5, 2, 3, 4, 5, 6]
    assert table.x[:, 1].tolist() == [0, 1, 0, 1, 0, 1]  # "x" < "y;z"


@pytest.mark.parametrize("text, label, options, message", [
    (None, "y", {}, "no such file"),
    ("", "y", {}, "empty file"),
    ("a,b,y\n", "y", {}, "no data rows after the header"),
    ("a,b,y\n1,2,0\n1,2\n", "y", {}, "line 3 has 2 fields, the header has 3"),
    ("a,b\n1,2\n", "y", {}, "label column 'y' is not in the header (columns: a, b)"),
    ("a,a,y\n1,2,0\n", "y", {}, "column name 'a' appears twice"),
    ("a,y\n1,0\n2,0\n3,0\n", "y", {}, "holds only one class ('0')"),
    ("a,y\n1,0\n2,0\n3,0\n4,1\n", "y", {}, "class '1' has only 1 row(s)"),
    ("a,y\n1,0\n2,\n", "y", {}, "line 3: missing label in column 'y'"),
    ("a,y\n1,0\n", "y", {"ignore": "b"}, "ignore column 'b' is not in the header"),
    ("a,y\n1,0\n", "y", {"ignore": "y"}, "cannot also be ignored"),
    ("a,b,y\n1,1,0\n1,1,0\n1,1,0\n1,1,1\n1,1,1\n1,1,1\n", "y", {}, "no feature column left"),
    ("a,y\n" + "".join(f"v{k},{k % 2}\n" for k in range(70)), "y", {},
     "has 70 distinct values, more than 64 categories; leave it out with --ignore a"),
    (b"a,y\n\xff,0\n", "y", {}, "not UTF-8 text"),
])
def test_bad_csv_is_one_line_naming_the_file(tmp_path, text, label, options, message):
    path = tmp_path / "bad.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(DataError) as info:
        tabular.read_csv(path, label, **options)
    line = str(info.value)
    assert line.startswith(f"{path}: ") and "\n" not in line
    assert message in line, line


def test_csv_dataset_split_and_provenance(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, n=200)
    ds = data.load_dataset("csv", seed=3, csv_path=path, csv_label="outcome", csv_ignore="id")
    assert ds.tabular and ds.image_shape is None and ds.x_train.dtype == np.float64
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 200
    prov = ds.provenance()
    assert prov["csv_path"] == str(path) and prov["csv_ignore"] == "id"
    assert len(prov["csv_sha256"]) == 64
    again = data.load_dataset(**data.dataset_options(prov))
    assert np.array_equal(again.x_test, ds.x_test) and np.array_equal(again.y_test, ds.y_test)
    path.write_text(path.read_text().replace("red", "RED", 1))
    with pytest.raises(DataError, match="the file changed since the net was trained"):
        data.load_dataset(**data.dataset_options(prov))
    with pytest.raises(DataError, match="needs a CSV file and its label column"):
        data.load_dataset("csv", seed=0)


def test_breast_cancer():
    ds = data.load_dataset("breast-cancer", seed=0)
    assert ds.classes == ("malignant", "benign") and ds.feature_count == 30
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 569
    assert ds.test_fraction == 0.25
    spec = input_spec(ds, 3)
    assert spec.bits == 3 and isinstance(spec.quantizer, AffineQuantizer)
    with pytest.raises(DataError, match="no fixed input spec"):
        make_input_spec("breast-cancer", 4)


def test_affine_quantizer_standardises_and_clips():
    x = np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 1.0], [6.0, 0.0]])
    spec = fit_input_spec(x, ("continuous", "binary"), 2, "affine", clip=1.0)
    mean, std = 3.0, np.sqrt(5.0)
    q = golden.quantize(spec, np.array([[mean - 2 * std, 1], [mean - 0.01, 0], [mean, 1],
                                        [mean + std - 0.01, 0], [mean + 9 * std, 1]]))
    # [mean - std, mean + std] in 4 equal steps, clamped outside; binary 0 / 3.
    assert q[:, 0].tolist() == [0, 1, 2, 3, 3]
    assert q[:, 1].tolist() == [3, 0, 3, 0, 3]
    one_bit = fit_input_spec(x, ("continuous", "binary"), 1)
    assert golden.quantize(one_bit, np.array([[2.99, 0], [3.0, 1]])).tolist() == [[0, 0], [1, 1]]


def test_quantile_quantizer_and_constant_feature():
    x = np.stack([np.arange(100.0), np.full(100, 7.0)], axis=1)
    spec = fit_input_spec(x, ("continuous", "continuous"), 2, "quantile")
    assert isinstance(spec.quantizer, ThresholdQuantizer)
    q = golden.quantize(spec, x)
    assert np.bincount(q[:, 0]).tolist() == [25, 25, 25, 25]
    assert set(q[:, 1]) == {0}
    with pytest.raises(DataError, match="quantizer must be one of affine, quantile"):
        fit_input_spec(x, ("continuous",) * 2, 2, "log")


@pytest.mark.parametrize("method, expect", [
    ("none", [80, 20]), ("oversample", [80, 80]), ("smote", [80, 80]), ("undersample", [20, 20]),
])
def test_balance_changes_class_counts_as_documented(method, expect):
    rng = np.random.default_rng(0)
    y = np.array([0] * 80 + [1] * 20)
    x = np.column_stack([rng.normal(size=100), y + 10.0 * np.arange(100),
                         (np.arange(100) % 3 == 0), (np.arange(100) % 3 != 0)]).astype(float)
    kinds = ("continuous", "continuous", "binary", "binary")
    bx, by = tabular.balance(x, y, method, np.random.default_rng(1), kinds=kinds,
                             groups=(0, 1, 2, 2))
    assert tabular.class_counts(by, 2) == expect
    original = {tuple(row) for row in x}
    if method in ("oversample", "undersample"):
        assert all(tuple(row) in original for row in bx)  # repetitions or a subset
    if method == "smote":
        synthetic = bx[[tuple(row) not in original for row in bx]]
        assert len(synthetic) > 0
        # Interpolated within the minority class; the one-hot group stays one-hot.
        minority = x[y == 1]
        assert np.all(synthetic[:, 1] >= minority[:, 1].min())
        assert np.all(synthetic[:, 1] <= minority[:, 1].max())
        assert np.all(synthetic[:, 2] + synthetic[:, 3] == 1)
    with pytest.raises(DataError, match="balance must be one of none, oversample"):
        tabular.balance(x, y, "double", rng)


def test_metrics_on_a_hand_example():
    #            true: 0 0 0 0 1 1 2 2 2 2
    #       predicted: 0 0 1 2 1 0 2 2 2 1
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 1, 2, 1, 0, 2, 2, 2, 1]
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[2, 1, 1], [1, 1, 0], [0, 1, 3]]
    m = classification_metrics(y_true, y_pred, 3)
    assert m["accuracy"] == pytest.approx(0.6)
    # precision 2/3, 1/3, 3/4; recall 2/4, 1/2, 3/4
    assert m["precision"] == pytest.approx([2 / 3, 1 / 3, 3 / 4])
    assert m["recall"] == pytest.approx([1 / 2, 1 / 2, 3 / 4])
    f1 = [2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2), 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2), 0.75]
    assert m["f1_per_class"] == pytest.approx(f1)
    assert m["f1"] == pytest.approx(np.mean(f1))
    assert m["g_mean"] == pytest.approx((0.5 * 0.5 * 0.75) ** (1 / 3))
    assert m["support"] == [4, 2, 4]
    # Two classes: G-mean is sqrt(sensitivity * specificity); a class never found gives 0.
    binary = classification_metrics([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1], 2)
    assert binary["g_mean"] == pytest.approx(np.sqrt(0.75 * 0.5))
    assert classification_metrics([0, 0, 1], [0, 0, 0], 2)["g_mean"] == 0.0


# --- column types, missing cells and the limits (issues 15 and 16) ---------------------------

def _column_csv(path, values, label_every=2):
    path.write_text("v,y\n" + "".join(f"{v},{'ab'[k % label_every]}\n"
                                      for k, v in enumerate(values)))
    return path


def test_a_word_in_a_numeric_column_is_named_not_encoded(tmp_path):
    """An integer column 0..9 with one typo was one-hot encoded as 11 categories."""
    values = [str(k % 10) for k in range(100)]
    values[41] = "abc"
    path = _column_csv(tmp_path / "t.csv", values)
    with pytest.raises(DataError) as info:
        tabular.read_csv(path, "y")
    assert str(info.value) == (
        f"{path}: line 43: 'abc' in column 'v' is not a number, though 99 of its 100 cells are "
        "numbers; fix it, leave it empty (missing), or declare the column --categorical v")
    # Declared categorical, the same column is 11 categories, as asked.
    table = tabular.read_csv(path, "y", categorical="v")
    assert len(table.feature_names) == 11 and "v=abc" in table.feature_names


def test_a_typo_in_a_float_column_is_named_not_too_many_categories(tmp_path):
    values = [f"{k * 0.37:.2f}" for k in range(600)]
    values[300] = "1.2.3"
    path = _column_csv(tmp_path / "t.csv", values)
    with pytest.raises(DataError, match=r"line 302: '1\.2\.3' in column 'v' is not a number, "
                       "though 599 of its 600 cells are numbers"):
        tabular.read_csv(path, "y")


@pytest.mark.parametrize("cell, problem", [
    ("inf", "'inf' in column 'v' is not a finite number"),
    ("-inf", "'-inf' in column 'v' is not a finite number"),
    ("Infinity", "'Infinity' in column 'v' is not a finite number"),
    ("1e999", "'1e999' in column 'v' is not a finite number"),
    ("-nan", "'-nan' in column 'v' is not a finite number"),
    ("1.5\x00", r"column 'v' holds the control character '\x00' in '1.5\x00'"),
    ("1e200", "column 'v' holds '1e200', larger in magnitude than the 1e+100 a feature may hold"),
])
def test_non_finite_nul_and_huge_numbers_name_the_cell(tmp_path, cell, problem):
    """These were refused as "more than 64 categories", or (1e200) trained into a net that
    lwc inspect refused."""
    values = [f"{k * 0.5}" for k in range(90)]
    values[7] = cell
    path = _column_csv(tmp_path / "t.csv", values)
    with pytest.raises(DataError) as info:
        tabular.read_csv(path, "y")
    assert str(info.value).startswith(f"{path}: line 9: ") and problem in str(info.value)


def test_numbers_in_a_minority_leave_a_column_categorical(tmp_path):
    values = ["small", "large", "1", "medium"] * 10
    table = tabular.read_csv(_column_csv(tmp_path / "t.csv", values), "y")
    assert table.feature_names == ("v=1", "v=large", "v=medium", "v=small")


def test_missing_spellings_are_imputed_and_counted(tmp_path):
    spellings = sorted(tabular.MISSING)
    assert set(spellings) == {"", "?", "na", "n/a", "nan", "null", "none"}
    values = [str(k) for k in range(60)]
    for k, text in enumerate(spellings + ["NA", "NaN", "NULL", "None", "N/A"]):
        values[5 * k] = text
    path = tmp_path / "t.csv"
    colors = ["red", "blue", "?", "NA"] * 15
    path.write_text("v,c,flag,y\n" + "".join(
        f"{v},{c},{'' if k == 3 else k % 3 == 0},{'ab'[k % 2]}\n"
        for k, (v, c) in enumerate(zip(values, colors))))
    table = tabular.read_csv(path, "y")
    info = {c["name"]: c for c in table.columns}
    assert info["v"]["missing"] == 12 and info["v"]["kind"] == "continuous"
    assert np.sum(table.x[:, 0] == info["v"]["median"]) >= 12
    assert info["c"]["missing"] == 30 and info["c"]["values"] == ["(missing)", "blue", "red"]
    assert info["flag"]["missing"] == 1 and info["flag"]["values"] == ["(missing)", "False",
                                                                       "True"]
    assert "missing" not in info["y"]


def test_control_characters_and_long_labels_are_refused_at_load(tmp_path):
    """Such labels were refused only when net.pt was saved, after training."""
    from lwc.compiler import netfile

    assert tabular.LIMITS["label"] == netfile.LIMITS["class_name"]
    for label, problem in (("a\x1b[1mb", r"holds the control character '\x1b'"),
                           ("a\u2066b", r"holds the control character '\u2066'"),
                           ("x" * 257, "has 257 characters, more than 256")):
        path = tmp_path / "t.csv"
        path.write_text("v,y\n" + "".join(f"{k},{label if k % 2 else 'b'}\n" for k in range(9)))
        with pytest.raises(DataError) as info:
            tabular.read_csv(path, "y")
        assert f"{path}: line 3: the label in column 'y' " in str(info.value)
        assert problem in str(info.value)


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "symlink"])
def test_only_regular_files_are_read(tmp_path, kind):
    import os

    path = tmp_path / "t.csv"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer
    elif kind == "directory":
        path.mkdir()
    else:
        path = "/dev/zero" if kind == "device" else path
        if kind == "symlink":
            path.symlink_to("/dev/urandom")
    what = {"fifo": "a FIFO", "directory": "a directory"}.get(kind, "a character device")
    with pytest.raises(DataError, match=f"^{path}: is {what}, not a CSV file"):
        tabular.read_csv(path, "y")
    with pytest.raises(DataError, match=f"is {what}"):
        data.load_dataset("csv", seed=0, csv_path=path, csv_label="y")


def test_the_limits(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + "".join(f"{k},{k % 7},{k % 5}\n" for k in range(40)))
    assert len(tabular.read_csv(path, "y").y) == 40
    size = path.stat().st_size
    for key, value, message in (
            ("bytes", size - 1, f"is {size} bytes, more than the {size - 1} bytes a CSV file "
                                "may have"),
            ("cells", 119, "more than 119 cells (data rows times 3 columns) by line 41"),
            ("columns", 2, "the header has 3 columns, more than 2"),
            ("classes", 4, "line 6: column 'y' holds more than 4 distinct labels"),
            ("row", 5, "line 1: a row of more than 5 characters"),
            ("magnitude", 30, "line 33: column 'a' holds '31', larger in magnitude than the 30")):
        with monkeypatch.context() as m:
            m.setitem(tabular.LIMITS, key, value)
            with pytest.raises(DataError) as info:
                tabular.read_csv(path, "y")
        assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    # Encoded features count against the cells too (one-hot columns multiply them).
    monkeypatch.setitem(tabular.LIMITS, "cells", 40 * 8 - 1)
    assert len(tabular.read_csv(path, "y").feature_names) == 2
    with pytest.raises(DataError, match="40 rows of 8 features after encoding, more than 319"):
        tabular.read_csv(path, "y", categorical="b")


def test_a_file_that_grows_while_read_is_refused(tmp_path):
    from lwc.data._files import open_regular

    path = tmp_path / "t.csv"
    path.write_bytes(b"x" * 10)
    with open_regular(path, "CSV file", 12) as f:
        path.write_bytes(b"x" * 100)
        with pytest.raises(DataError, match="grew past 12 bytes while it was read; a CSV file "
                           "may be at most 12 bytes"):
            f.read(100)


def test_a_refused_path_says_why_as_values(tmp_path):
    """lwc.data.open_regular, the one rule for opening a named file (lwc.sim words its own
    messages from these values)."""
    import stat

    with pytest.raises(data.FileRefused) as info:
        data.open_regular(tmp_path, "CSV file", 10)
    assert stat.S_ISDIR(info.value.mode) and info.value.strerror is None
    with pytest.raises(data.FileRefused) as info:
        data.open_regular(tmp_path / "missing.csv", "CSV file", 10)
    assert info.value.mode is None and info.value.strerror == "No such file or directory"
    (tmp_path / "t.csv").write_bytes(b"x" * 11)
    with pytest.raises(DataError) as info:
        data.open_regular(tmp_path / "t.csv", "CSV file", 10)
    assert not isinstance(info.value, data.FileRefused)
    with data.open_regular(tmp_path / "t.csv", "CSV file", 11) as f:
        assert f.size == 11 and f.read(20) == b"x" * 11 and f.count == 11


def test_the_digest_is_of_the_bytes_read(tmp_path):
    import hashlib

    path = tmp_path / "t.csv"
    write_csv(path)
    table = tabular.read_csv(path, "outcome")
    assert table.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert tabular.file_sha256(path) == table.sha256


def test_data_summary_says_what_was_imputed_and_dropped(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, n=200)
    path.write_text(path.read_text().replace("\n", ",7\n").replace("outcome,7", "outcome,k", 1))
    ds = data.load_dataset("csv", seed=0, csv_path=path, csv_label="outcome", csv_ignore="id")
    counts = tabular.class_counts(ds.y_train, 2)
    s = data.data_summary(ds, [max(counts)] * 2, "oversample")
    assert s["rows"] == 200 and s["train"] + s["validation"] + s["test"] == 200
    assert s["features"] == 9 and s["columns"] == {"continuous": 2, "binary": 1,
                                                   "categorical": 2}
    assert s["class_counts"] == {"train": counts, "balanced": [max(counts)] * 2}
    assert s["dropped"] == [{"column": "id", "why": "ignored"},
                            {"column": "k", "why": "a single value"}]
    age = [c for c in ds.info["columns"] if c["name"] == "age"][0]
    assert s["imputed"] == [
        {"column": "age", "cells": 12, "value": age["median"], "how": "median"},
        {"column": "smoker", "cells": 9, "value": "(missing)", "how": "category"}]
    lines = data.summary_lines(s)
    assert lines[0] == (f"data: t.csv: 200 rows ({s['train']} training, {s['validation']} "
                        f"validation, {s['test']} test), 9 features from 5 columns "
                        "(2 continuous, 1 binary, 2 categorical)")
    assert lines[1] == (f"data: training rows per class: no {counts[0]}, yes {counts[1]}; after "
                        f"balancing (oversample): no {max(counts)}, yes {max(counts)}")
    assert lines[2] == (f"data: imputed missing cells: age: 12 cells set to the median "
                        f"{age['median']:g}; smoker: 9 cells set to the category '(missing)'")
    assert lines[3] == "data: dropped columns: id (ignored); k (a single value)"
    digits = data.summary_lines(data.data_summary(data.load_dataset("digits", seed=0)))
    assert len(digits) == 2 and digits[0].startswith("data: digits: 1,797 rows (")


def test_a_quantizer_that_would_not_be_finite_is_refused_by_name():
    x = np.array([[0.0, 1.0], [1e200, 2.0], [-1e200, 3.0], [5.0, 4.0]])
    with pytest.raises(DataError, match="input feature 'tiny' cannot be quantized"):
        fit_input_spec(x, ("continuous", "continuous"), 4, names=("tiny", "ok"))
    with pytest.raises(DataError, match="input feature 0 cannot be quantized"):
        fit_input_spec(np.where(x > 1e100, np.inf, x), ("continuous",) * 2, 4, "quantile")


def test_the_readme_states_the_limits_of_the_code():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (text,) = re.findall(r"<!-- csv-limits -->(.*?)<!-- /csv-limits -->", readme, re.S)
    text = " ".join(text.split())
    lim = tabular.LIMITS
    assert (f"of at most {lim['bytes'] >> 20} MiB, with at most {lim['columns']} columns, "
            f"{lim['row']} characters per row, {lim['cells']} cells") in text
    assert (f"{lim['classes']} classes, and numbers at most {lim['magnitude']:g} in "
            "magnitude") in text
    assert f"at most {data.IDX_MAX_BYTES >> 20} MiB whose header claims at most " \
           f"{data.IDX_MAX_BYTES >> 20} MiB" in text
    assert f"labels are at most {lim['label']} characters" in " ".join(readme.split())
