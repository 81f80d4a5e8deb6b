"""The input vectors of ``lwc sim`` and ``lwc run``: a ``.npy`` file, random vectors, or the net's
own test set rebuilt from its provenance.

Everything here reads files a user names, or that a ``net.pt`` names, so every read is bounded
before it starts: only regular files are opened, through :func:`lwc.data.open_regular` (a FIFO or
a device would block or never end), a ``.npy`` header's claim is held to :data:`NPY_LIMIT` and to
the file's size before anything is allocated, and the training CSV that a net's provenance names
is read only when the user confirms it (:func:`test_set`). Raw float features become integers
through :func:`lwc.compiler.golden.quantize`, the one definition of input quantization.
"""

import math
import os
import stat
import tokenize
from contextlib import contextmanager

import numpy as np

from lwc.compiler import golden
from lwc.data import FileRefused, dataset_options, load_dataset, open_regular, tabular
from lwc.errors import DataError, UsageError

__all__ = ["NPY_LIMIT", "adversarial_vectors", "check_vectors", "load_vectors", "random_vectors",
           "test_set"]

#: The most array data, in bytes, that a ``.npy`` file of vectors may hold (1 GiB: a million
#: vectors of 128 int64 features). A header that claims more is refused before anything is
#: allocated.
NPY_LIMIT = 1 << 30
#: The most bytes a ``.npy`` file may hold besides its array: its magic and header (NumPy reads a
#: header of at most 10,000 bytes).
_NPY_HEADER_LIMIT = 1 << 16

_CSV_HINT = ("name the CSV with --csv FILE, or give --npy FILE or --vectors N instead of the test "
             "set")


def check_vectors(net, x, where=None):
    """``x`` as ``int64`` ``(n, input.count)`` in range, or :class:`DataError` naming ``where``.

    A float array is raw features when the net has a quantizer, quantized by
    :func:`lwc.compiler.golden.quantize` whatever their values (NaN and infinities included, as
    docs/semantics.md defines them); an integer array is the integer inputs themselves.
    """
    count, top = net.input.count, net.input.max_value
    at = "" if where is None else f"{where}: "
    if x.ndim != 2 or x.shape[1] != count or x.shape[0] == 0:
        raise DataError(f"{at}vectors must have shape (n >= 1, {count}), not {x.shape}")
    if x.dtype.kind == "f" and net.input.quantizer is not None:
        try:
            return golden.quantize(net.input, x)
        except DataError as err:
            raise DataError(f"{at}{err}") from None
    if x.dtype.kind not in "iub":
        quantizer = "" if net.input.quantizer is None else " or raw float features"
        raise DataError(f"{at}vectors must be integers{quantizer}, not dtype {x.dtype}")
    if x.min() < 0 or x.max() > top:
        raise DataError(f"{at}vector elements must be in 0..{top} ({net.input.bits}-bit "
                        f"inputs), found {int(x.min())}..{int(x.max())}")
    return x.astype(np.int64)


@contextmanager
def _refusing(path, cannot):
    """Word :func:`lwc.data.open_regular`'s refusal of ``path`` (missing, unreadable, not a regular
    file) as ``"{path}: {cannot} (...)"``; its other refusals pass unchanged."""
    try:
        yield
    except FileRefused as err:
        if err.mode is None:
            why = err.strerror
        else:
            kind = "a directory" if stat.S_ISDIR(err.mode) else "a FIFO, device or socket"
            why = f"it is {kind}, not a regular file"
        raise DataError(f"{path}: {cannot} ({why})") from None


def load_vectors(path, net):
    """Input vectors for ``net`` from a ``.npy`` file.

    The array must be ``(n, net.input.count)`` integers in ``0 .. 2**input.bits - 1``; when the
    network has a quantizer, a float array holds raw features and is quantized. The file must be a
    regular file holding a plain ``.npy`` array (numbers, not Python objects) of at most
    :data:`NPY_LIMIT` bytes, as its header claims and its size confirms (the file may hold at most
    that and 64 KiB of header).

    Raises
    ------
    DataError
        The file is missing, not a regular file, not a plain ``.npy`` array, or larger than the
        limit, or its array has the wrong shape, type, or range.
    """
    path = os.fspath(path)
    with _refusing(path, "cannot read a .npy array"):
        f = open_regular(path, ".npy file", NPY_LIMIT + _NPY_HEADER_LIMIT)
    with f:
        x = _read_npy(path, f)
    return check_vectors(net, x, path)


def _fill(f, view):
    """Read ``f`` into ``view`` until it is full or the file ends; the bytes read."""
    done = 0
    while done < len(view):
        n = f.readinto(view[done:done + (1 << 20)])
        if not n:
            break
        done += n
    return done


def _read_npy(path, f):
    """The array of the ``.npy`` file open as ``f`` (an :func:`lwc.data.open_regular` reader),
    read once from the start, its header checked before the array is allocated."""
    from numpy.lib import format as npy

    def refuse(why):
        raise DataError(f"{path}: cannot read a .npy array: it is not a plain .npy array ({why})")

    magic = bytearray(npy.MAGIC_LEN)
    got = _fill(f, memoryview(magic))
    if magic.startswith(b"PK\x03\x04"):
        raise DataError(f"{path}: expected a .npy array, not an .npz archive")
    if not magic.startswith(npy.MAGIC_PREFIX):
        refuse("no .npy header")
    if got < npy.MAGIC_LEN:
        refuse("its header is damaged")
    version = tuple(magic[len(npy.MAGIC_PREFIX):])
    try:
        if version == (1, 0):
            shape, fortran_order, dtype = npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy.read_array_header_2_0(f)
        else:
            refuse(f"format version {version[0]}.{version[1]}; lwc reads 1.0 and 2.0")
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError):
        # NumPy parses the header dictionary with tokenize and ast: any of these means damage.
        refuse("its header is damaged")
    if dtype.hasobject:
        refuse("it holds Python objects, which lwc does not unpickle")
    if dtype.fields is not None or dtype.subdtype is not None:
        refuse(f"a structured array of dtype {dtype}")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > NPY_LIMIT:
        raise DataError(f"{path}: its header claims a {shape} {dtype} array ({claimed} bytes), "
                        f"more than the {NPY_LIMIT} bytes lwc reads")
    held = f.size - f.count
    if claimed > held:
        raise DataError(f"{path}: its header claims a {shape} {dtype} array ({claimed} bytes), "
                        f"but the file holds {held} bytes of data")
    try:
        flat = np.empty(math.prod(shape), dtype=dtype)
        got = _fill(f, memoryview(flat.view(np.uint8)))
    except (ValueError, TypeError, MemoryError) as err:
        raise DataError(f"{path}: cannot read a .npy array ({err})") from None
    if got < claimed:
        raise DataError(f"{path}: cannot read a .npy array (it ended after {got} of the "
                        f"{claimed} bytes of data its header claims)")
    return flat.reshape(shape, order="F" if fortran_order else "C")


def random_vectors(net, count, *, seed=0):
    """``count`` uniformly random input vectors for ``net`` (``int64``), from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, net.input.max_value + 1, size=(count, net.input.count), dtype=np.int64)


def adversarial_vectors(net, rng, n_random=64):
    """Edge-case input vectors for ``net`` (``int64``): all zero, all max, the two alternating
    patterns, each one-hot at the maximum (up to 64), then ``n_random`` random vectors drawn from
    the NumPy generator ``rng``. The property checks of the tests and ``bench/property_nets.py``
    use them."""
    count, top = net.input.count, net.input.max_value
    rows = [np.zeros(count), np.full(count, top), np.arange(count) % 2 * top,
            (1 - np.arange(count) % 2) * top]
    eye = np.eye(count)[: min(count, 64)] * top
    rand = rng.integers(0, top + 1, size=(n_random, count))
    return np.vstack([np.array(rows), eye, rand]).astype(np.int64)


def test_set(net, *, data_dir=None, csv=None, net_path=None):
    """The net's own test set, rebuilt from its provenance: ``(vectors, labels)``.

    A net trained on a CSV file is tested on that file's test split. A ``net.pt`` does not choose
    what lwc opens: the CSV is ``csv`` when given (the user names it; it must still have the
    SHA-256 the net records), and otherwise the file the provenance names only when it lies in
    the net's own folder (the folder of ``net_path``), is a regular file, and has the SHA-256
    recorded at training. Anything else is refused with one line that says so, before the file
    is read.

    Raises :class:`DataError` when ``net.pt`` does not say which data it was trained on, or its CSV
    is not confirmed; :class:`UsageError` for ``csv`` with a net not trained on a CSV.
    """
    name = net.meta("dataset")
    if name is None or net.meta("split_seed") is None:
        raise DataError("the net does not record its dataset and split; give --vectors N or "
                        "--npy FILE")
    options = dataset_options(net)
    if name == "csv":
        options["csv_path"] = _confirmed_csv(net, csv, net_path)
    elif csv is not None:
        raise UsageError(f"--csv names the CSV of a net trained on one; this net was trained on "
                         f"{name!r}")
    data = load_dataset(**options, data_dir=data_dir)
    return golden.quantize(net.input, data.x_test), data.y_test


def _confirmed_csv(net, csv, net_path):
    """The CSV to rebuild a CSV net's test set from (see :func:`test_set`), or :class:`DataError`.
    """
    digest = net.meta("csv_sha256")
    if csv is not None:
        path = os.fspath(csv)
        with _refusing(path, "cannot read the CSV"):
            sha256 = tabular.file_sha256(path)
        if sha256 != digest and isinstance(digest, str):
            raise DataError(f"{path}: not the CSV the net was trained on (its SHA-256 is not the "
                            "one the net records)")
        return path
    recorded = net.meta("csv_path")
    where = "" if net_path is None else f"{net_path}: "

    def refuse(why):
        raise DataError(f"{where}the test set is rebuilt from the training CSV {recorded}, "
                        f"which {why}; {_CSV_HINT}")

    if not isinstance(recorded, str) or not recorded:
        raise DataError(f"{where}the net does not name its training CSV; {_CSV_HINT}")
    if net_path is None:
        refuse("lwc reads only from the net's own folder")
    folder = os.path.realpath(os.path.dirname(os.path.abspath(os.fspath(net_path))))
    real = os.path.realpath(os.path.join(folder, recorded))  # a relative path: from the folder
    if os.path.commonpath([folder, real]) != folder:
        refuse("lies outside the net's folder (lwc reads a recorded CSV only there, with the "
               "SHA-256 recorded at training)")
    if not isinstance(digest, str):
        refuse("has no SHA-256 recorded in the net")
    if not os.path.lexists(real):
        refuse("is not there (moved or deleted)")
    try:
        sha256 = tabular.file_sha256(real)
    except FileRefused:
        refuse("is not a readable regular file")
    if sha256 != digest:
        refuse("changed since training (its SHA-256 is not the one recorded)")
    return real

