"""Dataset loading and splitting: deterministic, stratified, and clear errors for bad files."""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from lwc import data
from lwc.compiler import golden
from lwc.compiler.ir import AffineQuantizer, ThresholdQuantizer
from lwc.errors import DataError
from lwc.train.inputs import input_spec, make_input_spec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL_MNIST = os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")


def _idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                    *array.shape)
    return header + array.tobytes()


def _write(path, raw, compress=True):
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(raw)


def _fake_mnist(directory, n_train=100, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        images_name, labels_name = data.IDX_FILES[split]
        _write(directory / images_name, _idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        _write(directory / labels_name, _idx_bytes(np.arange(n) % 10))


def test_digits_split_is_deterministic_stratified_and_disjoint():
    a = data.load_dataset("digits", seed=3)
    b = data.load_dataset("digits", seed=3)
    c = data.load_dataset("digits", seed=4)
    assert a.test_fraction == 0.25
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_test, c.y_test)
    n = len(a.y_train) + len(a.y_val) + len(a.y_test)
    assert n == 1797
    assert abs(len(a.y_test) - 0.25 * n) <= 10
    # Stratified: every class's share of the test set matches its share overall within one sample.
    _, counts = np.unique(np.concatenate([a.y_train, a.y_val, a.y_test]), return_counts=True)
    _, test_counts = np.unique(a.y_test, return_counts=True)
    assert np.all(np.abs(test_counts - 0.25 * counts) <= 1)
    assert a.x_train.dtype == np.float32 and a.x_train.max() == 16.0
    assert a.x_train.shape[1] == a.feature_count == 64


def test_test_set_depends_only_on_seed_and_test_fraction():
    a = data.load_dataset("digits", seed=5, test_fraction=0.2, val_fraction=0.1)
    b = data.load_dataset("digits", seed=5, test_fraction=0.2, val_fraction=0.3)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_test, b.y_test)
    assert len(b.y_val) > len(a.y_val)


def test_input_specs():
    spec = make_input_spec("digits", 4)
    assert spec.count == 64 and spec.bits == 4
    assert spec.quantizer == AffineQuantizer(scale=(15 / 16,), offset=(0.5,))
    q = golden.quantize(spec, np.array([[0.0] * 63 + [16.0], [8.0] * 64]))
    assert q[0, 0] == 0 and q[0, -1] == 15 and q[1, 0] == 8
    assert make_input_spec("digits", None) == spec
    mnist = make_input_spec("mnist", None)
    assert mnist.count == 784 and mnist.bits == 1
    assert mnist.quantizer == ThresholdQuantizer(((128.0,),))
    assert make_input_spec("fashion-mnist", 2).quantizer == ThresholdQuantizer(
        ((64.0, 128.0, 192.0),))
    with pytest.raises(DataError, match="input bits must be an integer 1..8, not 0"):
        make_input_spec("digits", 0)
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        make_input_spec("cifar", 1)


def test_bad_arguments():
    with pytest.raises(DataError, match="test_fraction must be a number between 0 and 1"):
        data.load_dataset("digits", seed=0, test_fraction=1.5)
    with pytest.raises(DataError, match="split seed must be a non-negative integer"):
        data.load_dataset("digits", seed=-1)
    with pytest.raises(DataError, match="needs a data directory"):
        data.load_dataset("mnist", seed=0)


def test_fake_mnist_loads_with_official_and_pooled_splits(tmp_path):
    _fake_mnist(tmp_path)
    ds = data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    assert ds.test_fraction is None
    assert len(ds.y_test) == 20 and len(ds.y_train) + len(ds.y_val) == 100
    assert np.bincount(ds.y_val).tolist() == [1] * 10
    assert ds.x_train.shape[1] == 784 and ds.image_shape == (28, 28)
    pooled = data.load_dataset("fashion-mnist", seed=0, test_fraction=0.5, data_dir=tmp_path)
    assert len(pooled.y_test) == 60
    assert pooled.classes[0] == "T-shirt/top"


def test_missing_data_file_is_named(tmp_path):
    _fake_mnist(tmp_path)
    os.unlink(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError) as info:
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    message = str(info.value)
    assert message == f"{tmp_path / 't10k-labels-idx1-ubyte.gz'}: no such file"
    assert "\n" not in message
    with pytest.raises(DataError, match="no such file"):
        data.load_dataset("mnist", seed=0, data_dir=tmp_path / "nowhere")


@pytest.mark.parametrize("corruption, message", [
    ("not_gzip", "cannot be read as gzipped IDX data"),
    ("bad_magic", "not an unsigned-byte IDX file"),
    ("truncated", "truncated, 1000 of 78400 data bytes"),
    ("trailing", "trailing bytes after 78400 data bytes"),
    ("short_header", "truncated IDX header"),
    ("cut_gzip", "cannot be read as gzipped IDX data"),
])
def test_corrupted_images_file(tmp_path, corruption, message):
    _fake_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    if corruption == "not_gzip":
        _write(path, raw, compress=False)
    elif corruption == "bad_magic":
        _write(path, b"\x00\x00\x0d\x03" + raw[4:])
    elif corruption == "truncated":
        _write(path, raw[:16 + 1000])
    elif corruption == "trailing":
        _write(path, raw + b"\x00")
    elif corruption == "short_header":
        _write(path, raw[:10])
    elif corruption == "cut_gzip":
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError) as info:
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_inconsistent_label_files(tmp_path):
    _fake_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    _write(labels, _idx_bytes(np.arange(99) % 10))
    with pytest.raises(DataError, match="99 labels for 100 images"):
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    _write(labels, _idx_bytes(np.full(100, 10)))
    with pytest.raises(DataError, match="label 10 is not a class 0..9"):
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    _write(images, _idx_bytes(np.zeros((100, 8, 8))))
    with pytest.raises(DataError, match="expected 28x28 images, not shape"):
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)


@pytest.mark.skipif(not os.path.isdir(REAL_MNIST), reason=f"no MNIST data at {REAL_MNIST}")
def test_real_mnist():
    ds = data.load_dataset("mnist", seed=0, data_dir=REAL_MNIST)
    assert len(ds.y_test) == 10000 and len(ds.y_train) + len(ds.y_val) == 60000
    assert abs(len(ds.y_val) - 6000) <= 10
    assert ds.x_test.shape == (10000, 784) and ds.x_train.max() == 255.0
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                               1009]
    q = golden.quantize(input_spec(ds), ds.x_test[:100])
    assert set(np.unique(q)) == {0, 1}


@pytest.mark.subprocess
def test_data_package_imports_numpy_only():
    code = ("import sys, lwc.data; "
            "bad = [m for m in ('torch', 'lwc.compiler', 'lwc.train', 'amaranth') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_idx_with_a_count_of_zero_is_one_line(tmp_path):
    """It was a ValueError traceback (cannot reshape array of size 0) in lwc train."""
    _fake_mnist(tmp_path)
    images, labels = (tmp_path / name for name in data.IDX_FILES["train"])
    _write(images, _idx_bytes(np.zeros((0, 28, 28))))
    _write(labels, _idx_bytes(np.zeros(0)))
    with pytest.raises(DataError) as info:
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    assert str(info.value) == f"{images}: holds no data (its header claims dimensions 0x28x28)"
    with pytest.raises(DataError, match=f"^{labels}: holds no data"):
        data.read_idx(labels)


def test_idx_headers_are_checked_before_any_data_is_read(tmp_path, monkeypatch):
    from lwc.data import datasets

    _fake_mnist(tmp_path)
    labels = tmp_path / data.IDX_FILES["train"][1]
    _write(labels, _idx_bytes(np.arange(99) % 10))

    def read(*args):
        raise AssertionError("data read before the headers agree")

    monkeypatch.setattr(datasets, "_read_idx_data", read)
    with pytest.raises(DataError, match="99 labels for 100 images"):
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    _write(labels, _idx_bytes(np.arange(100) % 10))
    _write(tmp_path / data.IDX_FILES["train"][0], _idx_bytes(np.zeros((100, 28, 28))))
    monkeypatch.setattr(datasets, "IDX_MAX_BYTES", 78399)
    with pytest.raises(DataError, match="claims 78400 bytes of data, more than the 78399"):
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "too_large"])
def test_idx_files_must_be_regular_and_within_the_limit(tmp_path, kind, monkeypatch):
    from lwc.data import datasets

    _fake_mnist(tmp_path)
    path = tmp_path / data.IDX_FILES["train"][0]
    if kind != "too_large":
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        monkeypatch.setattr(datasets, "IDX_MAX_BYTES", path.stat().st_size - 1)
    expect = {"fifo": "is a FIFO, not an IDX file", "device": "is a character device, not an "
              "IDX file", "directory": "is a directory, not an IDX file",
              "too_large": "bytes, more than the"}[kind]
    with pytest.raises(DataError) as info:
        data.load_dataset("mnist", seed=0, data_dir=tmp_path)
    assert str(info.value).startswith(f"{path}: ") and expect in str(info.value)
