"""``net.pt``, format version 2: the file that carries a trained integer network to the compiler.

The file is a :func:`torch.save` archive of plain containers and tensors, read back with
``torch.load(..., weights_only=True)`` only, so loading never runs code. Its layout::

    {"format": "lwc-net", "version": 2,
     "input": {"count": int, "bits": int,
               "quantizer": {"kind": "none"}
                          | {"kind": "affine", "scale": f64[1|count], "offset": f64[1|count]}
                          | {"kind": "thresholds", "thresholds": f64[1|count, 2**bits - 1]}},
     "layers": [{"weight": int8[outputs, inputs] in -127..+127,
                 "activation": {"kind": str, PARAMETER: i64[outputs], ..., SETTING: int, ...}},
                ...],
     "output": {"classes": [str, ...]},
     "provenance": {"dataset": str, "test_accuracy": float, "created": str,
                    "lwc_version": str, ...}}

with one ``PARAMETER`` tensor per neuron parameter and one ``SETTING`` per layer setting of the
activation kind, as :data:`lwc.semantics.KINDS` lists them (``linear`` in the last layer only).

:func:`save` writes version 2. Version 1 is the same layout with ternary weights only (in
{-1, 0, +1}); :func:`load` reads both and holds a version-1 file to its ternary range. Version 2
allows integer weights of magnitude up to :data:`~lwc.compiler.ir.MAX_WEIGHT` (127, symmetric so
that negating a weight, as export does for falling thresholds, never leaves the range).

:func:`load` validates all of it and raises :class:`~lwc.errors.NetFileError` naming the file and
the first problem. Before torch reads anything, the zip directory and the pickle's object graph
are bounded by :data:`LIMITS` (a pickle's memo references can make a few bytes expand to an
enormous object), and every string is held to :data:`LIMITS` and free of
:data:`FORBIDDEN_CHARACTERS`. docs/netfile.md describes the format and lists the limits. torch is
imported only when a file is read or written.
"""

import math
import os
import re
import tempfile
import zipfile

import numpy as np

from .. import semantics
from ..errors import NetFileError, UsageError
from .golden import quantizer_problem
from .ir import (
    ACTIVATION_KINDS,
    HIDDEN_KINDS,
    MAX_WEIGHT,
    Activation,
    AffineQuantizer,
    InputSpec,
    ThresholdQuantizer,
    dense_weights,
    from_dense,
)

__all__ = ["FORMAT", "VERSION", "READS", "LIMITS", "FORBIDDEN_CHARACTERS", "save", "load",
           "encode", "write", "to_dict", "from_dict"]

FORMAT = "lwc-net"
#: The version :func:`save` writes.
VERSION = 2
#: The versions :func:`load` reads, and the largest weight magnitude each allows.
READS = {1: 1, 2: MAX_WEIGHT}
#: Everything a ``net.pt`` may claim, checked before it is used (docs/netfile.md lists them; a
#: test holds that table to this one). Sizes: ``bytes`` the file, ``records`` and ``directory``
#: the zip archive's records and central directory (bytes), ``pickle`` its ``data.pkl`` (bytes),
#: ``objects`` the pickle's operations and the objects it describes with every shared (memo)
#: reference counted again, ``depth`` how deeply they nest; ``string`` characters in any string,
#: ``class_name`` in an output class name, ``provenance`` entries. Network: ``inputs``,
#: ``neurons`` per layer, ``all_neurons`` in all layers, ``layers``, ``weights`` dense entries,
#: ``nonzero`` weights, ``quantizer`` threshold values, ``bits`` input bits, ``parameter`` the
#: bound that activation parameters stay strictly within in magnitude. An activation's layer
#: settings are held to their limits in :data:`lwc.semantics.SETTINGS`.
LIMITS = {"bytes": 1 << 28, "records": 1024, "directory": 1 << 20, "pickle": 1 << 25,
          "objects": 1 << 20, "depth": 32, "string": 4096, "class_name": 256, "provenance": 256,
          "inputs": 1 << 16, "neurons": 1 << 16, "all_neurons": 1 << 16, "layers": 64,
          "weights": 1 << 25,
          "nonzero": 1 << 21, "quantizer": 1 << 22, "bits": 16, "parameter": 1 << 40}
#: Characters no string in a net.pt may hold: C0 and C1 controls (ESC starts terminal escape
#: sequences, a newline forges output lines), DEL, the Unicode line and paragraph separators, the
#: bidirectional controls (they reorder what a terminal shows) and lone surrogates.
FORBIDDEN_CHARACTERS = (r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                        r"\ud800-\udfff")
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CHARACTERS}]")
_PROVENANCE_TYPES = (str, int, float, bool, type(None))


def to_dict(net):
    """The format-2 dictionary of ``net`` (dense weights over all original input features)."""
    import torch

    q = net.input.quantizer
    problem = quantizer_problem(net.input)
    if problem is not None:
        # Fitted to user data (a CSV column): a UsageError, like the text checks below.
        raise UsageError(f"net.pt cannot hold input {problem}")
    if q is None:
        quant = {"kind": "none"}
    elif isinstance(q, AffineQuantizer):
        quant = {
            "kind": "affine",
            "scale": torch.tensor(q.scale, dtype=torch.float64),
            "offset": torch.tensor(q.offset, dtype=torch.float64),
        }
    else:
        thresholds = torch.tensor(q.thresholds, dtype=torch.float64)
        quant = {"kind": "thresholds", "thresholds": thresholds}
    layers = []
    for li, layer in enumerate(net.layers):
        w = dense_weights(net, li, full_inputs=True)
        if w.size and (w.min() < -MAX_WEIGHT or w.max() > MAX_WEIGHT):
            raise ValueError(f"net.pt holds weights in -{MAX_WEIGHT}..+{MAX_WEIGHT}, not "
                             f"{int(w.min()) if w.min() < -MAX_WEIGHT else int(w.max())} "
                             f"(layer {li})")
        act = {"kind": layer.activation.kind}
        for k, name in enumerate(ACTIVATION_KINDS[layer.activation.kind]):
            act[name] = torch.tensor([n.params[k] for n in layer.neurons], dtype=torch.int64)
        act.update(layer.activation.settings)
        layers.append({"weight": torch.from_numpy(w.astype(np.int8)), "activation": act})
    _check_text_to_save(net)
    return {
        "format": FORMAT,
        "version": VERSION,
        "input": {"count": net.input.count, "bits": net.input.bits, "quantizer": quant},
        "layers": layers,
        "output": {"classes": list(net.classes)},
        "provenance": _plain_provenance(net.provenance),
    }


def _check_text_to_save(net):
    """Refuse, before writing, the names and provenance that :func:`load` would refuse: they come
    from user data (a CSV's labels and path), so this is a :class:`~lwc.errors.UsageError`."""
    named = [(f"output class {k}", name, LIMITS["class_name"])
             for k, name in enumerate(net.classes)]
    named += [(f"provenance key {_show(key)}", key, LIMITS["string"]) for key, _ in net.provenance]
    named += [(f"provenance {_show(key)}", value, LIMITS["string"])
              for key, value in net.provenance if isinstance(value, str)]
    if len(net.provenance) > LIMITS["provenance"]:
        raise UsageError(f"net.pt cannot hold {len(net.provenance)} provenance entries, more "
                         f"than {LIMITS['provenance']}")
    for where, text, most in named:
        problem = _text_problem(text, most) if isinstance(text, str) else None
        if problem:
            raise UsageError(f"net.pt cannot hold {where}: it {problem}")


def _plain_provenance(items):
    # Only exact builtin types: a str subclass (torch.__version__) would pickle as an object that
    # weights-only loading refuses, so save would write a file that load rejects.
    plain = {}
    for key, value in items:
        if type(value) not in _PROVENANCE_TYPES:
            raise ValueError(f"provenance {key!r} must be str, int, float, bool or None, "
                             f"not {type(value).__name__}")
        plain[key] = value
    return plain


def encode(net, path="<memory>"):
    """The format-2 dictionary of ``net`` (:func:`to_dict`), read back by :func:`from_dict` first:
    a net the reader would refuse is never written. Raises :class:`~lwc.errors.NetFileError`
    naming ``path`` with the reader's problem."""
    data = to_dict(net)
    from_dict(data, path)
    return data


def save(net, path):
    """Write ``net`` to ``path`` atomically (a crash never leaves a half-written file); a net that
    would not load is refused before anything is written (:func:`encode`)."""
    write(encode(net, path), path)


def write(data, path):
    """Write the dictionary ``data`` (from :func:`encode`) to ``path`` atomically."""
    import torch

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".net-", suffix=".pt.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; a saved net is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path):
    """Read and validate a ``net.pt``; return its :class:`~lwc.compiler.ir.Network`.

    Every problem, from a missing file to a hostile pickle or an absurd tensor shape, raises
    :class:`~lwc.errors.NetFileError` with one line naming ``path``. Nothing in the file is ever
    run, and sizes are checked against :data:`LIMITS` before tensor data is used.
    """
    import pickle

    import torch

    path = os.fspath(path)
    if not os.path.exists(path):
        raise NetFileError(path, "no such file")
    if os.path.isdir(path):
        raise NetFileError(path, "is a directory, not a net.pt file")
    if not os.path.isfile(path):
        raise NetFileError(path, "is not a regular file")
    size = os.path.getsize(path)
    if size == 0:
        raise NetFileError(path, "empty file")
    if size > LIMITS["bytes"]:
        raise NetFileError(path, f"is {size} bytes, more than the {LIMITS['bytes']} a net.pt may "
                                 "have")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise NetFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    _check_pickle(path, _check_archive(path, head))
    try:
        # Not mmap: a memory-mapped load does not check that each stored record is as long as
        # the tensor it backs, so a doctored archive would be read past its record. Reading the
        # records costs memory bounded by the file size (LIMITS["bytes"]).
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        name = re.search(r"GLOBAL (\S+)", text)
        if name:
            found = _brief(name.group(1).rstrip("."))[:80]
            raise NetFileError(path, f"refused: it holds pickled Python objects ({found}), "
                                     "which lwc never runs") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text, re.S)
        raise NetFileError(path, "refused: its pickle is damaged or uses operations that "
                                 "weights-only loading does not allow "
                                 f"({_brief(detail.group(1) if detail else text)})") from None
    except Exception as exc:  # truncated archives, corrupt records, ...
        raise NetFileError(path, f"cannot be read as a torch.save archive: {_brief(exc)}") from None
    return from_dict(data, path)


def _check_archive(path, head):
    """Refuse what is not a plain torch.save zip archive before torch reads it; return the bytes
    of its one ``data.pkl``."""
    if not zipfile.is_zipfile(path):
        if head == b"PK\x03\x04":
            raise NetFileError(path, "truncated or damaged torch.save archive (its zip directory "
                                     "is missing)")
        raise NetFileError(path, "not a net.pt file (not a torch.save archive)")
    # The directory's size, before zipfile reads it: a file of many tiny records would otherwise
    # cost memory many times its size.
    claimed = _directory_claim(path)
    if claimed > LIMITS["directory"]:
        raise NetFileError(path, f"its zip directory claims {claimed} bytes, more than the "
                                 f"{LIMITS['directory']} a net.pt may have")
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
            if len(records) > LIMITS["records"]:
                raise NetFileError(path, f"its archive holds {len(records)} records, more than "
                                         f"{LIMITS['records']}")
            pickle = _pickle_record(path, records)
            if pickle.file_size > LIMITS["pickle"]:
                raise NetFileError(path, f"its data.pkl is {pickle.file_size} bytes, more than "
                                         f"the {LIMITS['pickle']} a net.pt may have")
            blob = archive.read(pickle)
    except NetFileError:
        raise
    except Exception as exc:  # zipfile raises several kinds for a damaged directory or record
        raise NetFileError(path, f"damaged zip archive: {_brief(exc)}") from None
    return blob


def _pickle_record(path, records):
    """The one ``<archive>/data.pkl`` record, once the directory is known to be unambiguous."""
    names = [r.filename for r in records]
    if len(set(names)) != len(names):
        twice = next(n for k, n in enumerate(names) if n in names[:k])
        raise NetFileError(path, f"archive record {_show(twice)} appears more than once; which "
                                 "one is read would depend on the reader")
    pickles = [r for r in records if r.filename.endswith("/data.pkl")]
    if not pickles:
        raise NetFileError(path, "not a net.pt file (a zip archive without data.pkl, not a "
                                 "torch.save archive)")
    if len(pickles) > 1:
        raise NetFileError(path, f"archive holds {len(pickles)} data.pkl records, not one; which "
                                 "one is read would depend on the reader")
    prefix = pickles[0].filename[: -len("data.pkl")]
    stray = next((n for n in names if not n.startswith(prefix)), None)
    if stray is not None:
        raise NetFileError(path, f"archive record {_show(stray)} is outside {_show(prefix)}, "
                                 "where torch.save writes every record")
    # torch.save stores records uncompressed. A compressed one was rewritten by another tool:
    # inflating it costs memory the file size does not show, and a memory-mapped load would even
    # take its compressed bytes for tensor data.
    packed = next((r.filename for r in records if r.compress_type != zipfile.ZIP_STORED), None)
    if packed is not None:
        raise NetFileError(path, f"archive record {_show(packed)} is compressed; torch.save "
                                 "writes uncompressed records")
    return pickles[0]


def _directory_claim(path):
    """The largest central-directory size (bytes) that the zip end records of ``path`` claim.

    Readers differ in which end record they believe (the plain one or the zip64 one, found either
    through its locator or just before it), so all of them are read and the largest is taken.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        tail = min(size, 22 + 0xFFFF)
        f.seek(size - tail)
        blob = f.read(tail)
        at = blob.rfind(b"PK\x05\x06")
        if at < 0 or len(blob) - at < 22:
            return 0  # zipfile did find one; it will refuse the archive itself
        claims = [int.from_bytes(blob[at + 12:at + 16], "little")]
        locator = at - 20
        if locator >= 0 and blob[locator:locator + 4] == b"PK\x06\x07":
            stated = int.from_bytes(blob[locator + 8:locator + 16], "little")
            before = size - tail + locator - 56
            for offset in {stated, before}:
                if 0 <= offset <= size - 56:
                    f.seek(offset)
                    record = f.read(56)
                    if record[:4] == b"PK\x06\x06":
                        claims.append(int.from_bytes(record[40:48], "little"))
    return max(claims)


#: Pickle operations a net.pt may use: those torch.save writes (protocol 2), which are also the
#: only ones weights-only loading runs.
_PICKLE_OPS = frozenset(
    "PROTO STOP MARK GLOBAL REDUCE BUILD NEWOBJ BINPERSID APPEND APPENDS SETITEM SETITEMS TUPLE "
    "TUPLE1 TUPLE2 TUPLE3 EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET NONE NEWTRUE NEWFALSE BININT "
    "BININT1 BININT2 LONG1 BINFLOAT BINUNICODE SHORT_BINSTRING BINGET LONG_BINGET BINPUT "
    "LONG_BINPUT".split())


class _Damaged(Exception):
    """The pickle cannot be run as written (raised inside :func:`_check_pickle`)."""


def _check_pickle(path, blob):
    """Refuse a ``data.pkl`` whose objects would be too many or too deep once unpickled.

    A pickle can refer again to an object it built before (a memo reference), so a few bytes
    can describe a list of lists whose full expansion has 2**100 entries: unpickling shares them,
    but printing, comparing, hashing or walking the result visits every one ("billion laughs").
    So, before anything is unpickled, the operations are read (not run) into a graph of the
    objects they would build, and :data:`LIMITS` bound the graph: its operations, the objects
    reachable from the result or used as a dict key or a call's arguments (every memo reference
    counted again), and the nesting depth. Memory and time are linear in the pickle's size.
    """
    import io
    import pickletools

    leaf, mark = 0, -1
    children = [None]  # node -> list of child nodes (None: a scalar, string or global)
    stack, marks, memo, used = [], [], {}, []

    def pop():
        if not stack or stack[-1] == mark:
            raise _Damaged("the stack is empty")
        return stack.pop()

    def pop_mark():
        if not marks:
            raise _Damaged("no MARK")
        start = marks.pop()
        items = stack[start + 1:]
        del stack[start:]
        return items

    def container():
        if not stack or stack[-1] in (mark, leaf):
            raise _Damaged("no container to fill")
        return children[stack[-1]]

    def node(items):
        children.append(list(items))
        return len(children) - 1

    root = None
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(io.BytesIO(blob)), start=1):
            name = op.name
            if count > LIMITS["objects"]:
                raise NetFileError(path, f"refused: its pickle has more than {LIMITS['objects']} "
                                         "operations")
            if name not in _PICKLE_OPS:
                raise _Damaged(f"operation {name}")
            if name == "PROTO":
                if arg != 2:
                    raise _Damaged(f"protocol {arg}, not the 2 that torch.save writes")
            elif name == "STOP":
                root = pop()
                break
            elif name == "MARK":
                marks.append(len(stack))
                stack.append(mark)
            elif name in ("EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
                stack.append(node(()))
            elif name == "TUPLE":
                stack.append(node(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                items = [pop() for _ in range(int(name[-1]))][::-1]
                stack.append(node(items))
            elif name == "APPEND":
                item = pop()
                container().append(item)
            elif name == "APPENDS":
                items = pop_mark()
                container().extend(items)
            elif name == "SETITEM":
                value, key = pop(), pop()
                container().extend((key, value))
                used.append(key)
            elif name == "SETITEMS":
                items = pop_mark()
                container().extend(items)
                used.extend(items[::2])
            elif name in ("REDUCE", "NEWOBJ"):
                args, func = pop(), pop()
                stack.append(node((func, args)))
                used.append(args)
            elif name == "BUILD":
                state = pop()
                container().append(state)
                used.append(state)
            elif name == "BINPERSID":
                pid = pop()
                stack.append(node((pid,)))
                used.append(pid)
            elif name in ("BINPUT", "LONG_BINPUT"):
                if not stack or stack[-1] == mark:
                    raise _Damaged("nothing to memoize")
                memo[arg] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise _Damaged(f"memo {arg} is not set")
                stack.append(memo[arg])
            else:  # scalars, strings, globals
                stack.append(leaf)
    except _Damaged as exc:
        raise NetFileError(path, "refused: its pickle is damaged or uses operations that "
                                 f"weights-only loading does not allow ({exc})") from None
    except ValueError as exc:  # pickletools cannot read an operation or its argument
        raise NetFileError(path, "refused: its pickle is damaged or uses operations that "
                                 f"weights-only loading does not allow ({_brief(exc)})") from None
    if root is None:
        raise NetFileError(path, "refused: its pickle is damaged (it ends before STOP)")
    size, depth = _expand(path, children)
    cap = LIMITS["objects"]
    if size[root] + sum(size[k] for k in used) > cap:
        raise NetFileError(path, f"refused: its pickle describes more than {cap} objects "
                                 "(counting every shared reference)")
    if max(depth) > LIMITS["depth"]:
        raise NetFileError(path, f"refused: its pickle nests objects more than "
                                 f"{LIMITS['depth']} deep")


def _expand(path, children):
    """Per node of the object graph, its object count with shared references expanded (capped
    just above the limit) and its nesting depth; refuses a graph with a cycle."""
    cap = LIMITS["objects"] + 1
    size = [0] * len(children)
    depth = [0] * len(children)
    state = bytearray(len(children))  # 0 new, 1 on the path, 2 done
    for start in range(len(children)):
        if state[start]:
            continue
        todo = [start]
        while todo:
            n = todo[-1]
            kids = children[n] or ()
            if state[n] == 0:
                state[n] = 1
                for k in kids:
                    if state[k] == 1:
                        raise NetFileError(path, "refused: its pickle builds an object that "
                                                 "contains itself")
                    if state[k] == 0:
                        todo.append(k)
            else:
                todo.pop()
                if state[n] == 1:
                    size[n] = min(cap, 1 + sum(size[k] for k in kids))
                    depth[n] = 1 + max((depth[k] for k in kids), default=0)
                    state[n] = 2
    return size, depth


def _brief(text):
    """The first sentence of an exception message, without torch's source locations, and with
    control characters escaped (the message may quote the file)."""
    text = re.sub(r"\[enforce fail at [^\]]*\]\s*\.?\s*", "", str(text)).strip()
    line = text.splitlines()[0].strip() if text else ""
    end = line.find(". ")
    line = line[:end] if end > 0 else line
    line = _FORBIDDEN.sub(lambda m: repr(m.group())[1:-1], line)
    return (line[:200] + "...") if len(line) > 200 else (line or "unknown error")


def _show(value, limit=40):
    """``repr(value)`` cut to ``limit`` characters: file contents never make a long error line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _text_problem(text, most):
    """Why ``text`` may not be a string of a net.pt (too long, or a control character), or None."""
    if len(text) > most:
        return f"is a string of {len(text)} characters, more than {most}"
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        return f"holds the control character {bad.group()!r} (at index {bad.start()})"
    return None


def _label(key):
    """How an error names the member ``key`` of a dict: as written when plain, else quoted."""
    plain = isinstance(key, str) and key.isidentifier() and key.isascii() and len(key) <= 40
    return key if plain else _show(key)


def _check_strings(r, data):
    """Every string in ``data`` (keys too, in members lwc does not read as well) within
    ``LIMITS["string"]`` characters and free of :data:`FORBIDDEN_CHARACTERS`; nesting within
    ``LIMITS["depth"]``."""
    seen = set()
    todo = [(data, "", 1)]
    while todo:
        value, where, level = todo.pop()
        if level > LIMITS["depth"]:
            r.fail(f"{where or 'file'} nests more than {LIMITS['depth']} deep")
        if isinstance(value, str):
            if id(value) not in seen:  # a string shared many times is read once
                seen.add(id(value))
                problem = _text_problem(value, LIMITS["string"])
                if problem:
                    r.fail(f"{where or 'file'} {problem}")
        elif isinstance(value, dict):
            for key, item in value.items():
                todo.append((key, f"{where or 'file'} key {_show(key)}", level + 1))
                todo.append((item, f"{where} {_label(key)}".strip(), level + 1))
        elif isinstance(value, list | tuple):
            todo.extend((item, f"{where}[{k}]", level + 1) for k, item in enumerate(value))


class _Reader:
    """Validation helpers that raise :class:`NetFileError` for one file."""

    def __init__(self, path):
        self.path = path

    def fail(self, problem):
        raise NetFileError(self.path, problem)

    def get(self, mapping, key, kind, where):
        if not isinstance(mapping, dict):
            self.fail(f"{where} must be a dict, not {type(mapping).__name__}")
        if key not in mapping:
            self.fail(f"{where} has no {key!r}")
        value = mapping[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(f"{where} {key} must be {names}, not {type(value).__name__}")
        return value

    def tensor(self, mapping, key, where, dtypes, shape, limit=None):
        import torch

        t = self.get(mapping, key, torch.Tensor, where)
        if t.dtype not in dtypes:
            names = " or ".join(str(d).replace("torch.", "") for d in dtypes)
            self.fail(f"{where} {key} must be {names}, not {str(t.dtype).replace('torch.', '')}")
        if tuple(t.shape) not in shape:
            self.fail(f"{where} {key} has shape {tuple(t.shape)}, expected "
                      + " or ".join(str(s) for s in shape))
        if limit is not None and t.numel() > limit:
            self.fail(f"{where} {key} has {t.numel()} values, more than {limit}")
        return self.dense(t, f"{where} {key}")

    def dense(self, t, what):
        """``t`` detached, once it is known to be a plain CPU tensor that holds its own data."""
        if t.layout != _strided():
            self.fail(f"{what} must be a dense CPU tensor, not {str(t.layout)[6:]}")
        if t.device.type != "cpu":
            self.fail(f"{what} must be a dense CPU tensor, not on {t.device.type}")
        if t.is_neg() or t.is_conj():
            self.fail(f"{what} must be a dense CPU tensor, not a negated or conjugated view")
        # A view with zero strides describes many elements with few stored: refused, so that
        # memory use follows the file size.
        stored = t.untyped_storage().nbytes() // t.element_size()
        if stored < t.numel():
            self.fail(f"{what} is a {tuple(t.shape)} view of {stored} stored "
                      f"element{'' if stored == 1 else 's'}; net.pt tensors hold their data")
        return t.detach()

    def finite(self, t, where):
        if not bool(np.isfinite(t.numpy()).all()):
            self.fail(f"{where} holds NaN or infinite values")
        return t.numpy().astype(np.float64)


def _strided():
    import torch

    return torch.strided


def _int_dtypes():
    import torch

    return (torch.int64, torch.int32, torch.int16, torch.int8)


def from_dict(data, path="<memory>"):
    """Validate a format-1 or format-2 dictionary and build the
    :class:`~lwc.compiler.ir.Network`."""
    import torch

    r = _Reader(path)
    if not isinstance(data, dict):
        r.fail(f"not a net.pt file (top level is {type(data).__name__}, not dict)")
    if data.get("format") != FORMAT:
        r.fail(f"not a net.pt file (format is {_show(data.get('format'))}, not {FORMAT!r})")
    version = data.get("version")
    if type(version) is not int or version not in READS:
        r.fail(f"unsupported format version {_show(version)} (this lwc reads versions "
               f"{', '.join(map(str, READS))})")
    most = READS[version]
    _check_strings(r, data)

    inp = r.get(data, "input", dict, "file")
    count = r.get(inp, "count", int, "input")
    bits = r.get(inp, "bits", int, "input")
    if not 1 <= count <= LIMITS["inputs"]:
        r.fail(f"input count must be 1..{LIMITS['inputs']}, not {count}")
    if not 1 <= bits <= LIMITS["bits"]:
        r.fail(f"input bits must be 1..{LIMITS['bits']}, not {bits}")
    quant = r.get(inp, "quantizer", dict, "input")
    qkind = r.get(quant, "kind", str, "input quantizer")
    f64 = (torch.float64, torch.float32)
    if qkind == "none":
        quantizer = None
    elif qkind == "affine":
        scale = r.finite(r.tensor(quant, "scale", "quantizer", f64, [(1,), (count,)]), "scale")
        offset = r.finite(r.tensor(quant, "offset", "quantizer", f64, [(1,), (count,)]), "offset")
        quantizer = AffineQuantizer(tuple(scale.tolist()), tuple(offset.tolist()))
    elif qkind == "thresholds":
        levels = (1 << bits) - 1
        t = r.tensor(quant, "thresholds", "quantizer", f64, [(1, levels), (count, levels)],
                     limit=LIMITS["quantizer"])
        t = r.finite(t, "quantizer thresholds")
        if (np.diff(t, axis=1) < 0).any():
            r.fail("quantizer thresholds must be non-decreasing along each row")
        quantizer = ThresholdQuantizer(tuple(tuple(row) for row in t.tolist()))
    else:
        r.fail(f"unknown input quantizer kind {_show(qkind)}")
    spec = InputSpec(count, bits, quantizer)
    problem = quantizer_problem(spec)
    if problem is not None:
        r.fail(f"input {problem}")

    layers = r.get(data, "layers", list, "file")
    if not layers:
        r.fail("network has no layers")
    if len(layers) > LIMITS["layers"]:
        r.fail(f"network has {len(layers)} layers, more than {LIMITS['layers']}")
    # First pass: shapes and sizes only, before touching tensor data.
    n_in, total, neurons = count, 0, 0
    for li, layer in enumerate(layers):
        where = f"layer {li}"
        w = r.get(layer, "weight", torch.Tensor, where)
        if w.dim() != 2:
            r.fail(f"{where} weight must be 2-dimensional, not {w.dim()}-dimensional")
        out, inputs = w.shape
        if inputs != n_in:
            r.fail(f"{where} weight has {inputs} inputs but the previous "
                   f"{'input' if li == 0 else 'layer'} gives {n_in} (shapes do not chain)")
        least = 1 if li == len(layers) - 1 else 0  # passes may empty a hidden layer
        if not least <= out <= LIMITS["neurons"]:
            r.fail(f"{where} must have {least}..{LIMITS['neurons']} neurons, not {out}")
        total += out * inputs
        neurons += out
        if total > LIMITS["weights"]:
            r.fail(f"network has more than {LIMITS['weights']} weights")
        if neurons > LIMITS["all_neurons"]:
            r.fail(f"network has more than {LIMITS['all_neurons']} neurons")
        r.dense(w, f"{where} weight")
        n_in = out

    built, nonzero = [], 0
    for li, layer in enumerate(layers):
        where = f"layer {li}"
        last = li == len(layers) - 1
        w = r.tensor(layer, "weight", where, (torch.int8,), [tuple(layer["weight"].shape)])
        wn = w.numpy()
        if wn.size and (wn.min() < -most or wn.max() > most):  # reductions: no copy of a matrix
            row, col = (int(v) for v in np.argwhere((wn < -most) | (wn > most))[0])
            allowed = "{-1, 0, +1} (format version 1)" if most == 1 else f"-{most}..+{most}"
            r.fail(f"{where} weight[{row}, {col}] is {int(wn[row, col])}, not in {allowed}")
        nonzero += int(np.count_nonzero(wn))
        if nonzero > LIMITS["nonzero"]:
            r.fail(f"network has more than {LIMITS['nonzero']} nonzero weights")
        act = r.get(layer, "activation", dict, where)
        kind = r.get(act, "kind", str, f"{where} activation")
        allowed = semantics.OUTPUT_KINDS if last else HIDDEN_KINDS
        if kind not in allowed:
            role = "output layer" if last else "hidden layer"
            r.fail(f"{where} ({role}) activation must be one of {', '.join(allowed)}, "
                   f"not {_show(kind)}")
        out = wn.shape[0]
        cols = []
        for name in ACTIVATION_KINDS[kind]:
            t = act.get(name)
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                r.fail(f"{where} {name} must be an integer tensor, not {str(t.dtype)[6:]}")
            t = r.tensor(act, name, f"{where} activation", _int_dtypes(), [(out,)])
            cols.append(t.numpy().astype(np.int64))
        params = np.stack(cols, axis=1)
        if semantics.KINDS[kind].increasing and (np.diff(params, axis=1) <= 0).any():
            row = int(np.argmax((np.diff(params, axis=1) <= 0).any(axis=1)))
            r.fail(f"{where} neuron {row}: {kind} "
                   f"{' must be below '.join(semantics.ACTIVATIONS[kind])}")
        settings = {name: r.get(act, name, int, f"{where} activation")
                    for name in semantics.KINDS[kind].settings}
        error = semantics.settings_error(
            kind, {name: settings.get(name, s.default) for name, s in semantics.SETTINGS.items()})
        if error:
            r.fail(f"{where} {error}")
        activation = Activation(kind, **settings)
        # Not np.abs: it leaves -2**63 negative.
        bound = LIMITS["parameter"]
        if params.size and (params.min() <= -bound or params.max() >= bound):
            r.fail(f"{where} activation parameters exceed 2**{bound.bit_length() - 1} in "
                   "magnitude")
        built.append((wn, activation, params))

    output = r.get(data, "output", dict, "file")
    classes = r.get(output, "classes", list, "output")
    if len(classes) != built[-1][0].shape[0] or not all(isinstance(c, str) for c in classes):
        r.fail(f"output classes must be {built[-1][0].shape[0]} strings, one per output neuron")
    for k, name in enumerate(classes):
        if len(name) > LIMITS["class_name"]:
            r.fail(f"output classes[{k}] is {len(name)} characters long, more than "
                   f"{LIMITS['class_name']}")
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict) or not all(
        isinstance(k, str) and isinstance(v, _PROVENANCE_TYPES) for k, v in provenance.items()
    ):
        r.fail("provenance must map strings to str, int, float, bool or None")
    if len(provenance) > LIMITS["provenance"]:
        r.fail(f"provenance has {len(provenance)} entries, more than {LIMITS['provenance']}")
    for key, value in provenance.items():
        if isinstance(value, float) and not math.isfinite(value):
            r.fail(f"provenance {_show(key)} is not finite")
    return from_dense(spec, built, classes, provenance)
