"""The sweep spec: a TOML file read into a :class:`SweepSpec` of :class:`SweepPoint` values, each
keyed by the hash of its options (see :mod:`lwc.sweep` for the format)."""

import dataclasses
import hashlib
import itertools
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..compiler.passes import DEFAULT_TABLES
from ..errors import UsageError

__all__ = ["SweepSpec", "SweepPoint", "SweepSpecError", "COMPILE_OPTIONS", "PATH_KEYS",
           "FRONT_FIGURES", "DEFAULT_FRONT", "load_spec", "parse_spec", "point_hash", "canonical"]

#: Compile options a point may set, with their defaults.
COMPILE_OPTIONS = {
    "board": "icebreaker",
    "architecture": "auto",
    "lanes": None,
    "features_per_cycle": None,
    "fmax": None,
    "register_every": None,
    "share": True,
    "tables": DEFAULT_TABLES,
    "weights": None,
    "tail": "parallel",
    "place_seed": 1,
}
#: Compile options added since sweeps began hashing points, with the value that builds what the
#: points built before them: a point's hash leaves them out at that value, so adding one does not
#: re-estimate, re-place and re-prove every finished sweep.
_COMPILE_ADDED = {"tail": "parallel"}
# Kinds of the compile options, as TrainConfig's metadata names kinds.
_COMPILE_KINDS = {"board": None, "architecture": None, "lanes": "int", "features_per_cycle": "int",
                  "fmax": "float", "register_every": "int", "share": "bool", "tables": None,
                  "weights": None, "tail": None, "place_seed": "int"}
# TrainConfig fields that say how a run is executed, not what it trains: left out of the hash.
_RUN_ONLY = ("threads", "device", "data_dir")
# Top-level keys of a spec.
_TOP_KEYS = ("name", "dataset", "data_dir", "front", "fixed", "grid", "points")
#: The figures a front may weigh (a spec's ``front``): each a row's key, and whether more or less
#: is better.
FRONT_FIGURES = {"accuracy": ("accuracy", "max"), "logic_cells": ("lc_estimate", "min"),
                 "block_ram": ("bram_estimate", "min"), "images_per_s": ("images_per_s", "max")}
#: The front when a spec does not say: all of them together.
DEFAULT_FRONT = tuple(FRONT_FIGURES)
# Paths in a spec are relative to the spec file.
PATH_KEYS = ("data_dir", "csv")


class SweepSpecError(UsageError):
    """A sweep spec is unreadable, names an unknown option or gives one a value of the wrong
    type."""


@dataclass(frozen=True)
class SweepPoint:
    """One point: ``train`` (the :class:`~lwc.train.TrainConfig` keyword arguments given) and
    ``compile`` (every :data:`COMPILE_OPTIONS` entry), with ``hash`` (:func:`point_hash`) and
    ``train_hash`` (of the training alone, shared by points that differ only in compiling)."""

    train: dict
    compile: dict
    hash: str
    train_hash: str

    def config(self):
        """The :class:`~lwc.train.TrainConfig` of this point (not checked)."""
        from ..train.config import TrainConfig

        return TrainConfig(**self.train)

    def options(self):
        """The options given (training and compiling), one dict."""
        return {**self.train, **self.compile}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: its ``name``, ``dataset``, the ``points`` (duplicates removed, in spec
    order), the option ``keys`` a point set (the table's columns), the ``path`` it was read
    from and the figures its ``front`` weighs (names of :data:`FRONT_FIGURES`)."""

    name: str
    dataset: str
    points: tuple
    keys: tuple
    path: str = "<spec>"
    front: tuple = DEFAULT_FRONT


# --- the spec ------------------------------------------------------------------------------------

def _train_fields():
    from ..train.config import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _kind_ok(kind, value):
    """Whether ``value`` (as TOML gives it) has the type an option of ``kind`` takes."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "positive_int", "seed"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "positive_float", "fraction"):
        return number
    if kind == "sizes":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value))
    if kind == "names":
        return isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
    return isinstance(value, str)


_KIND_TEXT = {"bool": "true or false", "int": "an integer", "positive_int": "an integer",
              "seed": "an integer", "float": "a number", "positive_float": "a number",
              "fraction": "a number", "sizes": "a layer size or a list of sizes like [64, 32]",
              "names": "a name or a list of names", None: "a string"}


def _normalise(key, value, base):
    """The value of option ``key`` as TrainConfig and the compile step take it."""
    if key == "hidden":
        return (value,) if isinstance(value, int) else tuple(value)
    if key in ("categorical", "ignore"):
        return (value,) if isinstance(value, str) else tuple(value)
    if key in PATH_KEYS:
        return str((base / value).resolve()) if not os.path.isabs(value) else value
    return value


def parse_spec(data, path="<spec>"):
    """The :class:`SweepSpec` of ``data`` (a spec as a dict, as :func:`tomllib.loads` returns
    it); ``path`` names it in errors and is where relative paths start.

    Raises
    ------
    SweepSpecError
        One line naming ``path`` and the key: unknown, or of the wrong type.
    """
    where = str(path)
    base = Path(path).parent if path != "<spec>" else Path.cwd()
    train_fields = _train_fields()
    kinds = {name: f.metadata["kind"] for name, f in train_fields.items()}
    kinds.update(_COMPILE_KINDS)

    def fail(key, problem):
        raise SweepSpecError(f"{where}: {key}: {problem}")

    if not isinstance(data, dict):
        fail("spec", "must be a table")
    for key in data:
        if key not in _TOP_KEYS and key not in kinds:
            fail(key, f"unknown key (a spec holds {', '.join(_TOP_KEYS)}; options go in "
                 f"[fixed], [grid] or [[points]])")

    def option(table, key, value):
        if key not in kinds:
            fail(f"{table}.{key}", "unknown option (not an lwc train option nor one of "
                 f"{', '.join(COMPILE_OPTIONS)})")
        if key in ("dataset",):
            fail(f"{table}.{key}", "the dataset is named once, at the top of the spec")
        if not _kind_ok(kinds[key], value):
            fail(f"{table}.{key}", f"must be {_KIND_TEXT[kinds[key]]}, not {value!r}")
        return _normalise(key, value, base)

    def table_of(name, value):
        if not isinstance(value, dict):
            fail(name, f"must be a table, not {type(value).__name__}")
        return value

    dataset = data.get("dataset", "digits")
    if not isinstance(dataset, str):
        fail("dataset", f"must be a string, not {dataset!r}")
    name = data.get("name", Path(where).stem if path != "<spec>" else dataset)
    if not isinstance(name, str):
        fail("name", f"must be a string, not {name!r}")
    top = {"dataset": dataset}
    if "data_dir" in data:
        if not isinstance(data["data_dir"], str):
            fail("data_dir", f"must be a string, not {data['data_dir']!r}")
        top["data_dir"] = _normalise("data_dir", data["data_dir"], base)
    front = data.get("front", list(DEFAULT_FRONT))
    if not (isinstance(front, list) and all(isinstance(f, str) for f in front)
            and len(set(front)) == len(front) >= 2 and "accuracy" in front
            and set(front) <= set(FRONT_FIGURES)):
        fail("front", f"must list accuracy and at least one of "
             f"{', '.join(f for f in FRONT_FIGURES if f != 'accuracy')}, each once, not {front!r}")
    fixed = {k: option("fixed", k, v) for k, v in table_of("fixed", data.get("fixed", {})).items()}

    grids = data.get("grid", [])
    grids = [grids] if isinstance(grids, dict) else grids
    if not isinstance(grids, list):
        fail("grid", "must be a table ([grid]) or an array of tables ([[grid]])")
    combos = []
    for g, grid in enumerate(grids):
        label = "grid" if len(grids) == 1 else f"grid[{g}]"
        axes = []
        for key, values in table_of(label, grid).items():
            if not isinstance(values, list) or not values:
                fail(f"{label}.{key}", f"must be a non-empty list of values, not {values!r}")
            axes.append([(key, option(label, key, v)) for v in values])
        combos += [dict(c) for c in itertools.product(*axes)]
    points = data.get("points", [])
    if not isinstance(points, list):
        fail("points", "must be an array of tables ([[points]])")
    for p, point in enumerate(points):
        label = f"points[{p}]"
        combos.append({k: option(label, k, v) for k, v in table_of(label, point).items()})
    if not combos:
        combos = [{}]

    made, seen, keys = [], set(), []
    for combo in combos:
        options = {**top, **fixed, **combo}
        for key in options:
            if key not in keys and key not in ("dataset",):
                keys.append(key)
        point = _point(options)
        if point.hash not in seen:
            seen.add(point.hash)
            made.append(point)
    return SweepSpec(name=name, dataset=dataset, points=tuple(made), keys=tuple(keys),
                     path=where, front=tuple(front))


def load_spec(path):
    """The :class:`SweepSpec` in the TOML file at ``path`` (:func:`parse_spec`).

    Raises
    ------
    SweepSpecError
        One line naming ``path``: missing, not TOML, or a bad key.
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SweepSpecError(f"{path}: cannot read the spec: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepSpecError(f"{path}: not valid TOML: {exc}") from None
    return parse_spec(data, path)


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=list)


def _digest(value):
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:12]


def point_hash(train, compile_options):
    """``(point hash, training hash)``: 12 hex digits of SHA-256 over every option of the point
    (training options with their defaults filled in, except how the run is executed: threads,
    device, the data folder's path, and the options added since hashing began while they have
    their defaults (``added`` in :func:`lwc.train.config.option`); and every compile option but
    those added since, at the value that builds what was built before them)."""
    from ..train.config import TrainConfig

    config = dataclasses.asdict(TrainConfig(**train))
    for key in _RUN_ONLY:
        config.pop(key)
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("added") and config[f.name] == f.default:
            config.pop(f.name)
    train_hash = _digest({"train": config})
    compile_options = {k: v for k, v in compile_options.items()
                       if k not in _COMPILE_ADDED or v != _COMPILE_ADDED[k]}
    return _digest({"train": config, "compile": compile_options}), train_hash


def _point(options):
    train_keys = _train_fields()
    train = {k: v for k, v in options.items() if k in train_keys}
    compile_options = {**COMPILE_OPTIONS,
                       **{k: v for k, v in options.items() if k in COMPILE_OPTIONS}}
    digest, train_digest = point_hash(train, compile_options)
    return SweepPoint(train=train, compile=compile_options, hash=digest, train_hash=train_digest)
