"""A corpus of malformed and hostile ``net.pt`` files, each with the problem lwc must name.

Run as a script to write the corpus::

    python tests/corpus/make_bad_netfiles.py OUTDIR

or import it and call :func:`make_bad_netfiles` (the tests do, into ``tmp_path``). Every file must
be refused by :func:`lwc.compiler.netfile.load` with one :class:`~lwc.errors.NetFileError` line
that names the file and contains :attr:`BadFile.expect`; the pickles that try to run code would
create :attr:`BadFile.canary` if they ever ran.

:data:`PROVENANCE_CASES` (:func:`make_provenance_netfiles`) are valid nets whose provenance names a
training CSV that ``lwc sim`` must refuse to read (outside the net's folder, a special file,
moved, changed, no recorded hash).

:data:`SECOND_CASES` (part of :data:`CASES`) is the second corpus of issue 16: pickles whose
memo references expand to 10**12 objects or that nest 100,000 deep, strings with terminal escapes,
forged lines or a megabyte of text, zip archives with duplicate or stray records or a directory
that claims gigabytes, and a net with 2**20 dense inputs. Several are written operation by
operation, because Python cannot build (or hash) the objects they describe.

The "custom class" pickle refers to a class of this module by name, so when importing the module
from a file, register it in ``sys.modules`` under its ``__name__`` before calling
:func:`make_bad_netfiles`.
"""

import builtins
import math
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lwc.compiler import ir, netfile

__all__ = ["BadFile", "make_bad_netfiles", "make_provenance_netfiles", "CASES", "SECOND_CASES",
           "PROVENANCE_CASES"]


@dataclass(frozen=True)
class BadFile:
    """One file of the corpus: where it is, the text its error must contain, its canary."""

    name: str
    path: Path
    expect: str
    canary: Path | None = None


# --- the valid net every mutation starts from ------------------------------------------------

def _valid_net():
    """6 inputs x 3 bits (affine quantizer) -> 5 step -> 4 clip -> 3 linear."""
    w0 = np.array([[1, -1, 0, 0, 1, 0], [0, 1, 1, 0, 0, -1], [1, 0, 0, 0, 0, 0],
                   [0, 0, -1, 1, 0, 1], [-1, 0, 0, 0, 1, 1]])
    w1 = np.array([[1, 0, -1, 0, 1], [0, 1, 1, 0, 0], [1, 1, 0, -1, 0], [0, 0, 0, 1, -1]])
    w2 = np.array([[1, -1, 0, 0], [0, 1, 1, 0], [-1, 0, 0, 1]])
    return ir.from_dense(ir.InputSpec(6, 3, ir.AffineQuantizer((0.5,), (0.25,))), [
        (w0, ir.Activation("step"), [1, 0, 1, 2, -1]),
        (w1, ir.Activation("clip", shift=1, bits=2), [0, -1, 2, 1]),
        (w2, ir.Activation("linear"), [3, -2, 0]),
    ], ["a", "b", "c"], {"dataset": "corpus"})


def _base():
    return netfile.to_dict(_valid_net())


def _tiny_layers(count, sizes, first=None, views=False):
    """All-zero step layers then a linear output, chaining from ``count`` inputs; ``first``
    replaces layer 0's weight. With ``views`` every tensor is a zero-stride view of one stored
    element (a tiny file; for cases refused before any of them is read)."""
    def zeros(*shape, dtype):
        if views:
            return torch.zeros(1, dtype=dtype).expand(*shape)
        return torch.zeros(*shape, dtype=dtype)

    layers, n_in = [], count
    for li, n in enumerate(sizes):
        last = li == len(sizes) - 1
        act = ({"kind": "linear", "bias": zeros(n, dtype=torch.int64)} if last
               else {"kind": "step", "threshold": zeros(n, dtype=torch.int64)})
        weight = first if li == 0 and first is not None else zeros(n, n_in, dtype=torch.int8)
        layers.append({"weight": weight, "activation": act})
        n_in = n
    return layers


def _with(**changes):
    def make(ctx):
        data = _base()
        for key, value in changes.items():
            data[key] = value(data) if callable(value) else value
        return data
    return make


def _edit(fn):
    """A case that applies ``fn(data)`` to the valid dictionary."""
    def make(ctx):
        data = _base()
        fn(data)
        return data
    return make


# --- payloads that would leave a canary file if they ever ran ----------------------------------

class _Trap:
    """A custom class whose construction writes the canary: unpickling it would run this."""

    def __init__(self, canary):
        Path(canary).write_text("ran")


class _Payload:
    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return (self.call, self.args)


def _evil(where, make_payload):
    def make(ctx):
        data = _base()
        payload = make_payload(str(ctx.canary))
        if where == "provenance":
            data["provenance"]["note"] = payload
        elif where == "weight":
            data["layers"][0]["weight"] = payload
        elif where == "class":
            data["output"]["classes"][0] = payload
        else:
            return payload  # the whole file
        return data
    return make


# --- raw files ---------------------------------------------------------------------------------

def _raw(content):
    def make(ctx):
        ctx.path.write_bytes(content)
    return make


def _truncated(ctx):
    netfile.save(_valid_net(), ctx.path)
    blob = ctx.path.read_bytes()
    ctx.path.write_bytes(blob[: len(blob) // 2])


def _plain_zip(ctx):
    with zipfile.ZipFile(ctx.path, "w") as z:
        z.writestr("hello.txt", "not a network\n")


def _rewrite_archive(change):
    """Save the valid net, then copy its archive member by member through ``change(name, data)``
    (returning new bytes, ``None`` to drop the member); ``change`` may carry ``compression``."""
    def make(ctx):
        good = ctx.path.with_suffix(".good")
        netfile.save(_valid_net(), good)
        compression = getattr(change, "compression", zipfile.ZIP_STORED)
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(ctx.path, "w", compression) as dst:
            for info in src.infolist():
                data = change(info.filename, src.read(info.filename))
                if data is not None:
                    info.compress_type = compression
                    dst.writestr(info, data)
        good.unlink()
    return make


def _garbage_pickle(name, data):
    return b"\x80\x02garbage that is not a pickle" if name.endswith("data.pkl") else data


def _short_storage(name, data):
    return data[:3] if "/data/" in name and not name.endswith(".pkl") else data


def _drop_storage(name, data):
    return None if "/data/" in name and not name.endswith(".pkl") else data


def _deflate(name, data):
    return data


_deflate.compression = zipfile.ZIP_DEFLATED


def _legacy_format(ctx):
    torch.save(_base(), ctx.path, _use_new_zipfile_serialization=False)


def _npy_file(ctx):
    with open(ctx.path, "wb") as f:
        np.save(f, np.zeros((3, 6), dtype=np.int8))


def _directory(ctx):
    ctx.path.mkdir()


def _missing(ctx):
    pass


def _fifo(ctx):
    os.mkfifo(ctx.path)


def _sparse_file(ctx):
    with open(ctx.path, "wb") as f:  # a hole: no disk space, no memory
        f.write(b"PK\x03\x04")
        f.truncate(netfile.LIMITS["bytes"] + 1)


# --- absurd sizes: tiny files that describe enormous tensors -----------------------------------

def _huge_view(count, rows, cols):
    """Layer 0 a ``rows x cols`` int8 view of a single stored byte (stride 0)."""
    def make(ctx):
        data = _base()
        data["input"] = {"count": count, "bits": 3, "quantizer": {"kind": "none"}}
        view = torch.ones(1, dtype=torch.int8).expand(rows, cols)
        data["layers"] = _tiny_layers(count, [rows, 3], first=view, views=True)
        return data
    return make


def _huge_thresholds(ctx):
    data = _base()
    data["input"] = {"count": 60_000, "bits": 16, "quantizer": {
        "kind": "thresholds",
        "thresholds": torch.zeros(1, dtype=torch.float64).expand(60_000, 65535)}}
    data["layers"] = _tiny_layers(60_000, [3], views=True)
    return data


def _too_many_nonzero(ctx):
    n = math.isqrt(_LIMITS["nonzero"]) + 1  # n * n nonzero weights, just over the limit
    data = _base()
    data["input"] = {"count": n, "bits": 1, "quantizer": {"kind": "none"}}
    data["layers"] = _tiny_layers(n, [n, 2], first=torch.ones(n, n, dtype=torch.int8))
    data["output"] = {"classes": ["x", "y"]}
    return data


def _too_many_layers(ctx):
    data = _base()
    data["input"] = {"count": 1, "bits": 1, "quantizer": {"kind": "none"}}
    data["layers"] = _tiny_layers(1, [1] * 65)
    data["output"] = {"classes": ["x"]}
    return data


# --- the cases: name -> (maker, text the error must contain) ------------------------------------

def _act(li, **fields):
    return lambda d: d["layers"][li]["activation"].update(**fields)


def _set_weight(li, value):
    return lambda d: d["layers"][li].update(weight=value(d["layers"][li]["weight"]))


def _set(path, value):
    def fn(d):
        *parents, last = path
        for key in parents:
            d = d[key]
        d[last] = value
    return fn


def _pop(*path):
    def fn(d):
        *parents, last = path
        for key in parents:
            d = d[key]
        del d[last]
    return fn


def _quantizer(q):
    return _edit(_set(("input", "quantizer"), q))


def _thresholds(t):
    return _quantizer({"kind": "thresholds", "thresholds": t})


_LIMITS = netfile.LIMITS


# --- the second corpus (issue 16): bombs, deep nesting, forged text, ambiguous archives ---------

def _laughs(levels=12, width=10):
    """A list whose full expansion has ``width ** levels`` strings: pickled, it is a few hundred
    bytes, each level referring ``width`` times to the one below ("billion laughs")."""
    x = ["lol"]
    for _ in range(levels):
        x = [x] * width
    return x


def _laughs_key(levels=12, width=10):
    """Pickle operations that push ``{t: 1}``, ``t`` a tuple whose expansion has ``width **
    levels`` strings: unpickling hashes ``t``, which visits all of them. (Python cannot even build
    this dictionary to pickle it, so the operations are written out; the memo numbers are far
    above the ones torch.save uses.)"""
    def put(level):  # LONG_BINPUT
        return b"r" + (100_000 + level).to_bytes(4, "little")

    def get(level):  # LONG_BINGET
        return b"j" + (100_000 + level).to_bytes(4, "little")

    # Each level's first member is the level below, written inline after its MARK; the others
    # are memo references to it.
    ops = b"}" + b"(" * levels + _binunicode("lol") + b"\x85" + put(0)
    for level in range(1, levels + 1):
        ops += get(level - 1) * (width - 1) + b"t" + put(level)
    return ops + b"K\x01s"


def _self_containing():
    loop = []
    loop.append(loop)
    return loop


_MARK = "@@splice-here@@"


def _binunicode(text):
    raw = text.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


def _deep_list(n):
    """Pickle operations that push one list nested ``n`` deep (EMPTY_LIST n times, APPEND n-1)."""
    return b"]" * n + b"a" * (n - 1)


def _deep_tuple(n):
    return b")" + b"\x85" * n  # EMPTY_TUPLE, then TUPLE1 n times


def _deep_dict(n):
    return (b"}" + _binunicode("k")) * (n - 1) + b"}" + b"s" * (n - 1)


def _save_and_rewrite(data, path, change):
    """torch.save ``data`` to ``path``, then rewrite its archive member by member through
    ``change(name, bytes) -> [(name, bytes), ...]`` (duplicate names are written as given)."""
    import warnings

    good = path.with_suffix(".good")
    torch.save(data, good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": that is the point
        for info in src.infolist():
            for name, blob in change(info.filename, src.read(info.filename)):
                dst.writestr(name, blob)
    good.unlink()


def _spliced(where, fragment):
    """The valid dictionary with the field at ``where`` (a key path) replaced by the object that
    the raw pickle operations ``fragment`` push: for objects pickle itself cannot write."""
    def make(ctx):
        data = _base()
        _set(where, _MARK)(data)

        def change(name, blob):
            if name.endswith("/data.pkl"):
                assert blob.count(_binunicode(_MARK)) == 1
                blob = blob.replace(_binunicode(_MARK), fragment)
            return [(name, blob)]
        _save_and_rewrite(data, ctx.path, change)
    return make


def _archive(change, data=None):
    """The valid net's archive (or ``data``'s) rewritten through ``change`` as in
    :func:`_save_and_rewrite`."""
    def make(ctx):
        _save_and_rewrite(_base() if data is None else data, ctx.path, change)
    return make


def _twice(suffix, other=None):
    """Write the record ending in ``suffix`` twice, the second time as ``other(bytes)``."""
    def change(name, blob):
        if name.endswith(suffix):
            return [(name, blob), (name, blob if other is None else other(blob))]
        return [(name, blob)]
    return change


def _other_pickle(blob):
    return blob.replace(_binunicode("corpus"), _binunicode("second"))


def _second_data_pkl(name, blob):
    if name.endswith("/data.pkl"):
        return [(name, blob), ("another/data.pkl", blob)]
    return [(name, blob)]


def _stray_record(name, blob):
    return [(name, blob)] + ([("notes.txt", b"hello")] if name.endswith("/data.pkl") else [])


def _many_records(name, blob):
    prefix = name[: -len("data.pkl")]
    extra = [(f"{prefix}pad/{k}", b"") for k in range(1100)] if name.endswith("/data.pkl") else []
    return [(name, blob)] + extra


def _patched_tail(patch):
    """Save the valid net, then overwrite bytes of its zip end records: ``patch(blob)``."""
    def make(ctx):
        netfile.save(_valid_net(), ctx.path)
        ctx.path.write_bytes(patch(bytearray(ctx.path.read_bytes())))
    return make


def _directory_size(value):
    def patch(blob):
        at = blob.rfind(b"PK\x05\x06")
        blob[at + 12:at + 16] = value.to_bytes(4, "little")
        return bytes(blob)
    return patch


def _zip64_directory_size(value):
    def patch(blob):
        at = blob.rfind(b"PK\x06\x06")
        assert at >= 0, "torch.save writes a zip64 end record"
        blob[at + 40:at + 48] = value.to_bytes(8, "little")
        return bytes(blob)
    return patch


def _protocol_4(ctx):
    torch.save(_base(), ctx.path, pickle_protocol=4)


def _dense_inputs(count):
    """``count`` inputs all read by 2 dense output neurons (one weight each)."""
    def make(ctx):
        data = _base()
        data["input"] = {"count": count, "bits": 8, "quantizer": {"kind": "none"}}
        data["layers"] = _tiny_layers(count, [2], first=torch.ones(2, count, dtype=torch.int8))
        data["output"] = {"classes": ["x", "y"]}
        return data
    return make


def _neurons_behind_empty_layers(ctx):
    """Layers of 40,000 neurons separated by empty layers: few weights, many neurons."""
    data = _base()
    data["input"] = {"count": 1, "bits": 1, "quantizer": {"kind": "none"}}
    data["layers"] = _tiny_layers(1, [40_000, 0, 40_000, 3])
    data["output"] = {"classes": ["x", "y", "z"]}
    return data


_OPS = f"refused: its pickle has more than {_LIMITS['objects']} operations"
_OBJECTS = f"refused: its pickle describes more than {_LIMITS['objects']} objects"
_DEEP = f"refused: its pickle nests objects more than {_LIMITS['depth']} deep"
_CONTROL = "holds the control character"
_AMBIGUOUS = "which one is read would depend on the reader"

SECOND_CASES = {
    # a small file whose unpickled objects expand enormously ("billion laughs")
    "laughs_in_format": (_with(format=_laughs()), _OBJECTS),
    "laughs_in_version": (_with(version=_laughs()), _OBJECTS),
    "laughs_in_layer_extra_key": (_edit(_set(("layers", 0, "notes"), _laughs())), _OBJECTS),
    "laughs_in_classes": (_edit(_set(("output", "classes", 0), _laughs())), _OBJECTS),
    "laughs_as_dict_key": (_spliced(("provenance", "dataset"), _laughs_key()), _OBJECTS),
    "many_operations": (_with(padding=[7] * 1_100_000), _OPS),
    "self_containing_list": (_edit(_set(("layers", 1, "notes"), _self_containing())),
                             "refused: its pickle builds an object that contains itself"),
    "pickle_over_the_limit": (
        _edit(_set(("provenance", "note"), "x" * (_LIMITS["pickle"] + 1))),
                              f"more than the {_LIMITS['pickle']} a net.pt may have"),
    "pickle_protocol_4": (_protocol_4, "protocol 4, not the 2 that torch.save writes"),
    # deep nesting where a scalar belongs (RecursionError when printed)
    "deep_list_in_version": (_spliced(("version",), _deep_list(100_000)), _DEEP),
    "deep_tuple_in_format": (_spliced(("format",), _deep_tuple(100_000)), _DEEP),
    "deep_dict_in_provenance": (_spliced(("provenance", "dataset"), _deep_dict(50_000)), _DEEP),
    "deep_list_in_clip_bits": (_spliced(("layers", 1, "activation", "bits"), _deep_list(40)),
                               _DEEP),
    # terminal escapes and forged output lines in strings
    "class_name_ansi": (_edit(_set(("output", "classes", 0), "\x1b[31mred\x1b[0m")),
                        f"output classes[0] {_CONTROL} '\\x1b' (at index 0)"),
    "class_name_forges_a_line": (
        _edit(_set(("output", "classes", 2), "c\nweights  9 total, 0 nonzero, 100.0% zero")),
        f"output classes[2] {_CONTROL} '\\n' (at index 1)"),
    "class_name_carriage_return": (_edit(_set(("output", "classes", 1), "b\rB")),
                                   f"output classes[1] {_CONTROL} '\\r'"),
    "class_name_c1_csi": (_edit(_set(("output", "classes", 0), "\x9b2J")),
                          f"output classes[0] {_CONTROL} '\\x9b'"),
    "class_name_bidi_override": (_edit(_set(("output", "classes", 0), "\u202eevil")),
                                 f"output classes[0] {_CONTROL} '\\u202e'"),
    "class_name_1_mb": (_edit(_set(("output", "classes", 0), "x" * 1_000_000)),
                        f"output classes[0] is a string of 1000000 characters, more than "
                        f"{_LIMITS['string']}"),
    "class_name_300_characters": (_edit(_set(("output", "classes", 1), "y" * 300)),
                                  f"output classes[1] is 300 characters long, more than "
                                  f"{_LIMITS['class_name']}"),
    "provenance_value_ansi": (_edit(_set(("provenance", "dataset"), "\x1b]0;owned\x07")),
                              f"provenance dataset {_CONTROL} '\\x1b'"),
    "provenance_key_newline": (_edit(_set(("provenance", "a\nb"), 1)),
                               f"provenance key 'a\\nb' {_CONTROL} '\\n'"),
    "provenance_value_long": (_edit(_set(("provenance", "note"), "n" * 5000)),
                              f"provenance note is a string of 5000 characters, more than "
                              f"{_LIMITS['string']}"),
    "provenance_too_many_entries": (
        _edit(lambda d: d["provenance"].update({f"k{i}": i for i in range(300)})),
        f"provenance has 301 entries, more than {_LIMITS['provenance']}"),
    "activation_kind_escape": (_edit(_act(0, kind="\x1b[2Jstep")),
                               f"layers[0] activation kind {_CONTROL} '\\x1b'"),
    "global_name_escape": (_spliced(("provenance", "note"), b"cos\x1b[2J\nsystem\n"),
                           "holds pickled Python objects (os\\x1b[2J.system)"),
    "unread_key_escape": (_edit(_set(("layers", 2, "\x1b[2J"), 0)),
                          f"layers[2] key '\\x1b[2J' {_CONTROL} '\\x1b'"),
    # archives that readers may read differently
    "duplicate_data_pkl": (_archive(_twice("/data.pkl", _other_pickle)),
                           f"/data.pkl' appears more than once; {_AMBIGUOUS}"),
    "duplicate_storage_record": (_archive(_twice("/data/0", lambda b: bytes(len(b)))),
                                 f"/data/0' appears more than once; {_AMBIGUOUS}"),
    "two_data_pkl_records": (_archive(_second_data_pkl),
                             f"archive holds 2 data.pkl records, not one; {_AMBIGUOUS}"),
    "record_outside_the_archive": (_archive(_stray_record),
                                   "archive record 'notes.txt' is outside"),
    "too_many_records": (_archive(_many_records),
                         f"records, more than {_LIMITS['records']}"),
    "directory_claims_2_gib": (_patched_tail(_directory_size(0x7FFF_FFFF)),
                               "its zip directory claims 2147483647 bytes"),
    "zip64_directory_claims_1_tib": (_patched_tail(_zip64_directory_size(1 << 40)),
                                     "its zip directory claims 1099511627776 bytes"),
    # affine scales that docs/semantics.md gives no meaning (scale +0.0 is a constant input)
    "quantizer_scale_negative": (
        _quantizer({"kind": "affine", "scale": torch.tensor([0.5, 1, 1, -2, 1, 1],
                                                            dtype=torch.float64),
                    "offset": torch.zeros(1, dtype=torch.float64)}),
        "input quantizer scale[3] is -2.0; an affine scale must be positive, or +0.0 for a "
        "constant input"),
    "quantizer_scale_minus_zero": (
        _quantizer({"kind": "affine", "scale": torch.tensor([-0.0], dtype=torch.float32),
                    "offset": torch.zeros(1, dtype=torch.float64)}),
        "input quantizer scale[0] is -0.0; an affine scale must be positive"),
    "quantizer_scale_tiny_negative": (
        _quantizer({"kind": "affine", "scale": torch.full((6,), -1e-300, dtype=torch.float64),
                    "offset": torch.zeros(6, dtype=torch.float64)}),
        "input quantizer scale[0] is -1e-300; an affine scale must be positive"),
    # huge claims
    "neurons_behind_empty_layers": (_neurons_behind_empty_layers,
                                    f"network has more than {_LIMITS['all_neurons']} neurons"),
    "dense_inputs_2_20": (_dense_inputs(1 << 20),
                          f"input count must be 1..{_LIMITS['inputs']}, not 1048576"),
}


_REFUSED = "refused: it holds pickled Python objects"
_NOT_READABLE = "cannot be read as a torch.save archive"

CASES = {
    # pickles that try to run code
    "evil_open_in_provenance": (
        _evil("provenance", lambda c: _Payload(open, c, "w")), _REFUSED),
    "evil_os_system": (
        _evil("provenance", lambda c: _Payload(os.system, f"touch '{c}'")), _REFUSED),
    "evil_builtins_exec": (
        _evil("weight", lambda c: _Payload(builtins.exec, f"open({c!r}, 'w').close()")),
        _REFUSED),
    "evil_builtins_eval": (
        _evil("class", lambda c: _Payload(builtins.eval, f"open({c!r}, 'w').close()")),
        _REFUSED),
    "evil_subprocess_popen": (
        _evil("file", lambda c: _Payload(subprocess.Popen, ["touch", c])), _REFUSED),
    "evil_custom_class": (_evil("file", lambda c: _Payload(_Trap, c)), _REFUSED),
    # not a net.pt archive at all
    "missing_file": (_missing, "no such file"),
    "directory": (_directory, "is a directory, not a net.pt file"),
    "fifo": (_fifo, "is not a regular file"),
    "sparse_file_over_the_limit": (
        _sparse_file, f"is {_LIMITS['bytes'] + 1} bytes, more than the {_LIMITS['bytes']}"),
    "empty_file": (_raw(b""), "empty file"),
    "text_file": (_raw(b"hello, I am not a network\n"), "not a torch.save archive"),
    "numpy_npy_file": (_npy_file, "not a torch.save archive"),
    "legacy_torch_format": (_legacy_format, "not a torch.save archive"),
    "zip_not_torch": (_plain_zip, "not a net.pt file (a zip archive without data.pkl"),
    "truncated_archive": (_truncated, "truncated or damaged torch.save archive"),
    "garbage_pickle": (_rewrite_archive(_garbage_pickle), "refused: its pickle is damaged"),
    "storage_shorter_than_declared": (_rewrite_archive(_short_storage),
                                      f"{_NOT_READABLE}: record size (3 bytes) does not match"),
    "storage_record_missing": (_rewrite_archive(_drop_storage), _NOT_READABLE),
    "compressed_records": (_rewrite_archive(_deflate),
                           "/data.pkl' is compressed; torch.save writes uncompressed records"),
    # wrong top level, tag, version, missing keys
    "top_level_list": (lambda ctx: [1, 2, 3], "top level is list, not dict"),
    "top_level_tensor": (lambda ctx: torch.zeros(3), "top level is Tensor, not dict"),
    "format_tag_wrong": (_with(format="onnx"), "format is 'onnx', not 'lwc-net'"),
    "format_tag_huge": (_with(format="x" * 1_000_000), "format is '" + "x" * 39 + "..., not"),
    "format_tag_missing": (_edit(_pop("format")), "format is None, not 'lwc-net'"),
    "version_3": (_with(version=3), "unsupported format version 3"),
    "version_string": (_with(version="1"), "unsupported format version '1'"),
    "version_true": (_with(version=True), "unsupported format version True"),
    "missing_input": (_edit(_pop("input")), "file has no 'input'"),
    "missing_layers": (_edit(_pop("layers")), "file has no 'layers'"),
    "missing_output": (_edit(_pop("output")), "file has no 'output'"),
    "missing_weight": (_edit(_pop("layers", 1, "weight")), "layer 1 has no 'weight'"),
    "missing_activation": (_edit(_pop("layers", 2, "activation")), "layer 2 has no 'activation'"),
    "missing_threshold": (_edit(_pop("layers", 0, "activation", "threshold")),
                          "layer 0 activation has no 'threshold'"),
    "layers_not_list": (_with(layers=lambda d: dict(enumerate(d["layers"]))),
                        "file layers must be list, not dict"),
    "layer_not_dict": (_edit(_set(("layers", 1), "layer")), "layer 1 must be a dict, not str"),
    # input
    "input_count_zero": (_edit(_set(("input", "count"), 0)),
                         f"input count must be 1..{_LIMITS['inputs']}"),
    "input_count_huge": (_edit(_set(("input", "count"), 10**12)),
                         f"input count must be 1..{_LIMITS['inputs']}, not 1000000000000"),
    "input_count_bool": (_edit(_set(("input", "count"), True)),
                         "input count must be int, not bool"),
    "input_count_float": (_edit(_set(("input", "count"), 6.0)),
                          "input count must be int, not float"),
    "input_bits_17": (_edit(_set(("input", "bits"), 17)), "input bits must be 1..16, not 17"),
    "quantizer_unknown": (_quantizer({"kind": "log"}), "unknown input quantizer kind 'log'"),
    "quantizer_not_dict": (_quantizer("affine"), "input quantizer must be dict, not str"),
    "quantizer_scale_int64": (
        _quantizer({"kind": "affine", "scale": torch.ones(1, dtype=torch.int64),
                    "offset": torch.zeros(1, dtype=torch.float64)}),
        "quantizer scale must be float64 or float32, not int64"),
    "quantizer_scale_nan": (
        _quantizer({"kind": "affine", "scale": torch.tensor([float("nan")], dtype=torch.float64),
                    "offset": torch.zeros(1, dtype=torch.float64)}),
        "scale holds NaN or infinite values"),
    "quantizer_offset_inf": (
        _quantizer({"kind": "affine", "scale": torch.ones(6, dtype=torch.float64),
                    "offset": torch.full((6,), float("inf"), dtype=torch.float64)}),
        "offset holds NaN or infinite values"),
    "quantizer_scale_wrong_length": (
        _quantizer({"kind": "affine", "scale": torch.ones(5, dtype=torch.float64),
                    "offset": torch.zeros(1, dtype=torch.float64)}),
        "quantizer scale has shape (5,), expected (1,) or (6,)"),
    "quantizer_thresholds_nan": (
        _thresholds(torch.tensor([[0.1, float("nan"), 0.3, 0.4, 0.5, 0.6, 0.7]],
                                 dtype=torch.float64)),
        "quantizer thresholds holds NaN or infinite values"),
    "quantizer_thresholds_inf": (
        _thresholds(torch.tensor([[float("-inf"), 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]])),
        "quantizer thresholds holds NaN or infinite values"),
    "quantizer_thresholds_decreasing": (
        _thresholds(torch.tensor([[0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]], dtype=torch.float64)),
        "quantizer thresholds must be non-decreasing"),
    "quantizer_thresholds_levels": (
        _thresholds(torch.zeros(1, 3, dtype=torch.float64)),
        "quantizer thresholds has shape (1, 3), expected (1, 7) or (6, 7)"),
    # weights: dtype, values, shapes, layouts
    "weight_float32": (_edit(_set_weight(0, lambda w: w.float())),
                       "layer 0 weight must be int8, not float32"),
    "weight_int64": (_edit(_set_weight(1, lambda w: w.long())),
                     "layer 1 weight must be int8, not int64"),
    "weight_bool": (_edit(_set_weight(0, lambda w: w != 0)),
                    "layer 0 weight must be int8, not bool"),
    "weight_value_2_in_version_1": (
        _edit(lambda d: (d.update(version=1), d["layers"][1]["weight"].__setitem__((2, 3), 2))),
        "layer 1 weight[2, 3] is 2, not in {-1, 0, +1} (format version 1)"),
    "weight_value_minus_128": (_edit(lambda d: d["layers"][2]["weight"].__setitem__((0, 0), -128)),
                               "layer 2 weight[0, 0] is -128, not in -127..+127"),
    "weight_1d": (_edit(_set_weight(0, lambda w: w.flatten())),
                  "layer 0 weight must be 2-dimensional, not 1-dimensional"),
    "weight_3d": (_edit(_set_weight(1, lambda w: w[None])),
                  "layer 1 weight must be 2-dimensional, not 3-dimensional"),
    "weight_not_tensor": (_edit(_set_weight(0, lambda w: w.tolist())),
                          "layer 0 weight must be Tensor, not list"),
    "weight_sparse": (_edit(_set_weight(0, lambda w: w.to_sparse())),
                      "layer 0 weight must be a dense CPU tensor, not sparse_coo"),
    "weight_meta_device": (_edit(_set_weight(0, lambda w: w.to("meta"))),
                           "layer 0 weight must be a dense CPU tensor, not on meta"),
    "weight_negative_bit": (_edit(_set_weight(0, lambda w: w._neg_view())),
                            "layer 0 weight must be a dense CPU tensor, not a negated"),
    "shapes_do_not_chain": (_edit(_set_weight(1, lambda w: torch.zeros(4, 7, dtype=torch.int8))),
                            "layer 1 weight has 7 inputs but the previous layer gives 5"),
    "first_layer_wrong_inputs": (_edit(_set(("input", "count"), 7)),
                                 "layer 0 weight has 6 inputs but the previous input gives 7"),
    "output_layer_empty": (_edit(_set_weight(2, lambda w: w[:0])),
                           "layer 2 must have 1..65536 neurons, not 0"),
    # activations
    "zero_layers": (_with(layers=[]), "network has no layers"),
    "output_layer_step": (
        _edit(_set(("layers", 2, "activation"),
                   {"kind": "step", "threshold": torch.zeros(3, dtype=torch.int64)})),
        "layer 2 (output layer) activation must be one of linear, not 'step'"),
    "hidden_layer_linear": (
        _edit(_set(("layers", 0, "activation"),
                   {"kind": "linear", "bias": torch.zeros(5, dtype=torch.int64)})),
        "layer 0 (hidden layer) activation must be one of step, ternary, clip, not 'linear'"),
    "activation_kind_unknown": (_edit(_act(1, kind="relu")),
                                "layer 1 (hidden layer) activation must be one of step, ternary, "
                                "clip, not 'relu'"),
    "threshold_float": (_edit(_act(0, threshold=torch.zeros(5, dtype=torch.float64))),
                        "layer 0 threshold must be an integer tensor, not float64"),
    "threshold_nan": (_edit(_act(0, threshold=torch.full((5,), float("nan")))),
                      "layer 0 threshold must be an integer tensor, not float32"),
    "threshold_bool": (_edit(_act(0, threshold=torch.zeros(5, dtype=torch.bool))),
                       "layer 0 activation threshold must be int64 or int32 or int16 or int8, "
                       "not bool"),
    "threshold_wrong_length": (_edit(_act(0, threshold=torch.zeros(4, dtype=torch.int64))),
                               "layer 0 activation threshold has shape (4,), expected (5,)"),
    "threshold_int64_min": (_edit(_act(0, threshold=torch.full((5,), -2**63))),
                            "layer 0 activation parameters exceed 2**40 in magnitude"),
    "threshold_huge": (_edit(_act(0, threshold=torch.full((5,), 2**50, dtype=torch.int64))),
                       "layer 0 activation parameters exceed 2**40 in magnitude"),
    "bias_float": (_edit(_act(2, bias=torch.zeros(3))),
                   "layer 2 bias must be an integer tensor, not float32"),
    "ternary_lo_equals_hi": (
        _edit(_set(("layers", 0, "activation"),
                   {"kind": "ternary", "lo": torch.zeros(5, dtype=torch.int64),
                    "hi": torch.tensor([1, 1, 0, 1, 1])})),
        "layer 0 neuron 2: ternary lo must be below hi"),
    "ternary_lo_above_hi": (
        _edit(_set(("layers", 0, "activation"),
                   {"kind": "ternary", "lo": torch.full((5,), 3), "hi": torch.zeros(5).long()})),
        "layer 0 neuron 0: ternary lo must be below hi"),
    "clip_shift_63": (_edit(_act(1, shift=63)), "layer 1 clip shift must be 0..62, not 63"),
    "clip_shift_negative": (_edit(_act(1, shift=-1)), "layer 1 clip shift must be 0..62, not -1"),
    "clip_bits_0": (_edit(_act(1, bits=0)), "layer 1 clip bits must be 1..16, not 0"),
    "clip_bits_17": (_edit(_act(1, bits=17)), "layer 1 clip bits must be 1..16, not 17"),
    "clip_bits_float": (_edit(_act(1, bits=2.0)), "layer 1 activation bits must be int, not float"),
    # output classes
    "classes_too_few": (_edit(_set(("output", "classes"), ["a", "b"])),
                        "output classes must be 3 strings, one per output neuron"),
    "classes_too_many": (_edit(_set(("output", "classes"), list("abcd"))),
                         "output classes must be 3 strings, one per output neuron"),
    "classes_not_strings": (_edit(_set(("output", "classes"), [0, 1, 2])),
                            "output classes must be 3 strings, one per output neuron"),
    "classes_not_list": (_edit(_set(("output", "classes"), "abc")),
                         "output classes must be list, not str"),
    # provenance
    "provenance_tensor_value": (_edit(_set(("provenance", "x"), torch.zeros(2))),
                                "provenance must map strings to str, int, float, bool or None"),
    "provenance_list_value": (_edit(_set(("provenance", "x"), [1, 2])),
                              "provenance must map strings to str, int, float, bool or None"),
    "provenance_int_key": (_edit(_set(("provenance", 3), "x")),
                           "provenance must map strings to str, int, float, bool or None"),
    "provenance_not_dict": (_with(provenance=["dataset", "x"]),
                            "provenance must map strings to str, int, float, bool or None"),
    "provenance_nan": (_edit(_set(("provenance", "test_accuracy"), float("nan"))),
                       "provenance 'test_accuracy' is not finite"),
    # absurd sizes, refused from the shapes before any data is touched
    "huge_view_200000x60000": (_huge_view(60_000, 200_000, 60_000),
                               "layer 0 must have 0..65536 neurons, not 200000"),
    "huge_view_60000x60000": (_huge_view(60_000, 60_000, 60_000),
                              f"network has more than {_LIMITS['weights']} weights"),
    "view_over_one_byte": (_huge_view(4096, 4096, 4096),
                           "layer 0 weight is a (4096, 4096) view of 1 stored element"),
    "huge_thresholds_view": (_huge_thresholds,
                             "quantizer thresholds has 3932100000 values, more than 4194304"),
    "thresholds_view_over_one_element": (
        _thresholds(torch.zeros(1, dtype=torch.float64).expand(6, 7)),
        "quantizer thresholds is a (6, 7) view of 1 stored element; net.pt tensors hold their "
        "data"),
    "too_many_nonzero_weights": (_too_many_nonzero,
                                 f"network has more than {_LIMITS['nonzero']} nonzero weights"),
    "too_many_layers": (_too_many_layers, "network has 65 layers, more than 64"),
    **SECOND_CASES,
}


# --- valid nets whose provenance names a file lwc sim must not read (issue 16) -------------------

_OUTSIDE = "lies outside the net's folder"
_NOT_REGULAR = "is not a readable regular file"


def _csv_provenance(csv_path, digest="0" * 64):
    return {"dataset": "csv", "split_seed": 0, "test_fraction": 0.25, "val_fraction": 0.1,
            "csv_label": "label", "csv_path": csv_path, "csv_sha256": digest}


def _in_folder(make_file, csv_path, digest="0" * 64):
    """A case whose folder gets ``make_file(folder)`` before the net's provenance names
    ``csv_path``."""
    def make(folder):
        make_file(folder)
        return _csv_provenance(csv_path, digest)
    return make


def _nothing(folder):
    pass


def _link_to_dev_zero(folder):
    os.symlink("/dev/zero", folder / "train.csv")


def _fifo_csv(folder):
    os.mkfifo(folder / "train.csv")


def _changed_csv(folder):
    (folder / "train.csv").write_text("a,label\n1,x\n2,y\n")


#: ``{name: (make(folder) -> provenance, the text lwc sim's refusal contains)}``: valid nets (they
#: load, inspect and compile) whose provenance names a training CSV that ``lwc sim`` must not
#: read: outside the net's folder, a special file, moved, changed, or with no recorded hash.
PROVENANCE_CASES = {
    "provenance_csv_etc_passwd": (_in_folder(_nothing, "/etc/passwd"),
                                  f"CSV /etc/passwd, which {_OUTSIDE}"),
    "provenance_csv_dev_zero": (_in_folder(_nothing, "/dev/zero"),
                                f"CSV /dev/zero, which {_OUTSIDE}"),
    "provenance_csv_climbs_out": (_in_folder(_nothing, "../../../../../../etc/passwd"),
                                  f"CSV ../../../../../../etc/passwd, which {_OUTSIDE}"),
    "provenance_csv_link_to_dev_zero": (_in_folder(_link_to_dev_zero, "train.csv"),
                                        f"CSV train.csv, which {_OUTSIDE}"),
    "provenance_csv_fifo_in_folder": (_in_folder(_fifo_csv, "train.csv"),
                                      f"CSV train.csv, which {_NOT_REGULAR}"),
    "provenance_csv_is_the_folder": (_in_folder(_nothing, "."), f"CSV ., which {_NOT_REGULAR}"),
    "provenance_csv_moved": (_in_folder(_nothing, "train.csv"),
                             "CSV train.csv, which is not there (moved or deleted)"),
    "provenance_csv_changed": (_in_folder(_changed_csv, "train.csv"),
                               "CSV train.csv, which changed since training (its SHA-256 is not "
                               "the one recorded)"),
    "provenance_csv_no_hash": (_in_folder(_changed_csv, "train.csv", digest=None),
                               "CSV train.csv, which has no SHA-256 recorded in the net"),
}


def make_provenance_netfiles(out_dir):
    """Write every case of :data:`PROVENANCE_CASES` as ``out_dir/<name>/net.pt`` (with what its
    folder holds); return the :class:`BadFile` s (``expect``: what lwc sim's refusal holds)."""
    out = Path(out_dir)
    made = []
    for name, (make, expect) in PROVENANCE_CASES.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        provenance = {k: v for k, v in make(folder).items() if v is not None}
        netfile.save(_valid_net().with_meta(**provenance), folder / "net.pt")
        made.append(BadFile(name, folder / "net.pt", expect))
    return made


class _Context:
    def __init__(self, path, canary):
        self.path, self.canary = path, canary


def make_bad_netfiles(out_dir):
    """Write every case of :data:`CASES` into ``out_dir`` (created); return the
    :class:`BadFile` s. Canaries are ``out_dir/canary-<name>`` and must never exist."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name, (make, expect) in CASES.items():
        if name == "fifo" and not hasattr(os, "mkfifo"):
            continue
        path = out / f"{name}.pt"
        canary = out / f"canary-{name}" if name.startswith("evil_") else None
        data = make(_Context(path, canary))
        if data is not None:
            torch.save(data, path)
        made.append(BadFile(name, path, expect, canary))
    return made


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python tests/corpus/make_bad_netfiles.py OUTDIR", file=sys.stderr)
        return 2
    made = make_bad_netfiles(argv[0])
    for bad in made:
        print(f"{bad.path}: {bad.expect}")
    print(f"{len(made)} bad net.pt files in {argv[0]}")
    chosen = make_provenance_netfiles(Path(argv[0]) / "provenance")
    for bad in chosen:
        print(f"{bad.path}: lwc sim: {bad.expect}")
    print(f"{len(chosen)} net.pt files whose provenance names a CSV lwc sim must not read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
