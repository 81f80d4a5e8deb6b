"""``lwc sweep``: design-space exploration. Many points (training options x compile options) run
train -> compiler passes -> resource estimate, on Ray or one after another; the points on the
accuracy-versus-hardware front then go through place-and-route (``place``) and the cocotb proof
(``prove``) if asked::

    from lwc.sweep import load_spec, run_sweep
    result = run_sweep(load_spec("examples/sweep_digits.toml"), "build/sweep")
    print(result.table())

The spec (TOML, :func:`load_spec`) names the dataset and the points::

    name = "digits"                 # optional
    dataset = "digits"              # any lwc train dataset
    data_dir = "data/mnist"         # mnist / fashion-mnist (relative to the spec file)

    [fixed]                         # options every point shares
    epochs = 5
    board = "icebreaker"

    [grid]                          # every combination of these lists ([[grid]]: several grids)
    hidden = [16, 32, [32, 16]]
    sparsity = [0.8, 0.9]

    [[points]]                      # and single points
    hidden = 64
    architecture = "streaming"

An option is a field of :class:`lwc.train.TrainConfig` (``lwc train``'s options: ``hidden``,
``sparsity``, ``output_sparsity``, ``input_bits``, ``method``, ``epochs``, ``seed``, ...) or a
compile option (:data:`COMPILE_OPTIONS`: ``board``, ``architecture``, ``lanes``,
``features_per_cycle``, ``fmax``, ``register_every``, ``share``, ``place_seed``). The spec's
names and types are checked when it is read (one line naming the file and the key); each
point's values are checked when it runs, so a point out of range fails alone, with the one-line
error ``lwc train`` or ``lwc compile`` would print, and the others go on.

What the output directory holds: ``points/<hash>/result.json`` (one point: its options and every
figure; ``placed.json`` and ``proof.json`` next to it once placed or proven), ``nets/<hash>/``
(``net.pt`` and ``train.json`` of each training, shared by the points that differ only in compile
options), ``results.csv`` and ``results.json`` (one row per point), ``pareto.png``. Every file is
written whole (a temporary file, then :func:`os.replace`), so an interrupted sweep leaves no
half-written file; the points are keyed by the hash of their options (:func:`point_hash`), and a
re-run skips what is done and resumes the rest.

Ray is imported only by the Ray backend (``pip install -e '.[sweep]'``); ``backend="serial"``
runs the same points one after another in this process.
"""

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import pareto
from .errors import LwcError, UsageError

__all__ = ["SweepSpec", "SweepPoint", "SweepResult", "SweepSpecError", "COMPILE_OPTIONS",
           "load_spec", "parse_spec", "point_hash", "run_sweep", "front_rows", "RAY_MISSING"]

#: Compile options a point may set, with their defaults.
COMPILE_OPTIONS = {
    "board": "icebreaker",
    "architecture": "auto",
    "lanes": None,
    "features_per_cycle": None,
    "fmax": None,
    "register_every": None,
    "share": True,
    "place_seed": 1,
}
# Kinds of the compile options, as TrainConfig's metadata names kinds.
_COMPILE_KINDS = {"board": None, "architecture": None, "lanes": "int", "features_per_cycle": "int",
                  "fmax": "float", "register_every": "int", "share": "bool", "place_seed": "int"}
# TrainConfig fields that say how a run is executed, not what it trains: left out of the hash.
_RUN_ONLY = ("threads", "device", "data_dir")
# Top-level keys of a spec.
_TOP_KEYS = ("name", "dataset", "data_dir", "fixed", "grid", "points")
# Paths in a spec are relative to the spec file.
_PATH_KEYS = ("data_dir", "csv")
#: The one line said when Ray is needed and not installed.
RAY_MISSING = ("lwc sweep runs on Ray, which is not installed: pip install -e '.[sweep]' (or run "
               "the points one after another with --no-ray)")
PLACE_CHOICES = ("front", "all")
BACKENDS = ("ray", "serial")


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
        from .train.config import TrainConfig

        return TrainConfig(**self.train)

    def options(self):
        """The options given (training and compiling), one dict."""
        return {**self.train, **self.compile}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: its ``name``, ``dataset``, the ``points`` (duplicates removed, in spec
    order), the option ``keys`` a point set (the table's columns) and the ``path`` it was read
    from."""

    name: str
    dataset: str
    points: tuple
    keys: tuple
    path: str = "<spec>"


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did: ``rows`` (one dict per point, as ``results.json``),
    ``front`` (the rows on either front: accuracy against estimated logic cells, accuracy
    against images per second), and the counts of this run: ``trained`` nets trained,
    ``cached`` points found done, ``failed`` points failed, ``placed`` and ``proved``."""

    out_dir: Path
    rows: tuple
    front: tuple
    trained: int = 0
    cached: int = 0
    failed: int = 0
    placed: int = 0
    proved: int = 0
    seconds: float = 0.0
    keys: tuple = ()
    peers: tuple = field(default=(), repr=False)

    def table(self):
        """The front as text (what ``lwc sweep`` prints), the failures and the peers."""
        return _table(self)


# --- the spec ------------------------------------------------------------------------------------

def _train_fields():
    from .train.config import TrainConfig

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
    if key in _PATH_KEYS:
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
                     path=where)


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


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=list)


def _digest(value):
    return hashlib.sha256(_canonical(value).encode()).hexdigest()[:12]


def point_hash(train, compile_options):
    """``(point hash, training hash)``: 12 hex digits of SHA-256 over every option of the point
    (training options with their defaults filled in, except how the run is executed: threads,
    device, the data folder's path; and every compile option)."""
    from .train.config import TrainConfig

    config = dataclasses.asdict(TrainConfig(**train))
    for key in _RUN_ONLY:
        config.pop(key)
    train_hash = _digest({"train": config})
    return _digest({"train": config, "compile": compile_options}), train_hash


def _point(options):
    train_keys = _train_fields()
    train = {k: v for k, v in options.items() if k in train_keys}
    compile_options = {**COMPILE_OPTIONS,
                       **{k: v for k, v in options.items() if k in COMPILE_OPTIONS}}
    digest, train_digest = point_hash(train, compile_options)
    return SweepPoint(train=train, compile=compile_options, hash=digest, train_hash=train_digest)


# --- the work of one point (in a Ray worker or in this process) ----------------------------------

def _error_text(exc):
    """The one line a failure is recorded with: an LwcError's own line, anything else with its
    type (a bug, not a user error)."""
    text = str(exc) if isinstance(exc, LwcError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _failure(exc, stage):
    """The record of a point that failed at ``stage``; ``lwc_error``: a user error (kept on a
    re-run), not a bug or a crash (tried again)."""
    return {"status": "failed", "error": _error_text(exc), "stage": stage,
            "lwc_error": isinstance(exc, LwcError)}


def _quiet(_line):
    pass


def _train(train_options, threads):
    """Train one net; ``(figures, encoded net)``. Raises what :func:`lwc.train.train` raises."""
    from .compiler import netfile
    from .train import loop
    from .train.config import TrainConfig

    options = dict(train_options)
    options.setdefault("threads", threads)
    config = TrainConfig(**options)
    result = loop.train(config)
    data = netfile.encode(result.net)
    m = result.test_metrics
    figures = {
        "accuracy": result.test_accuracy, "f1": m.get("f1"), "g_mean": m.get("g_mean"),
        "val_accuracy": result.val_accuracy, "best_epoch": result.best_epoch,
        "zero_fraction": result.zero_fraction,
        "bits_per_weight": result.summary.get("bits_per_weight"),
        "train_seconds": result.seconds, "device": result.device,
    }
    return figures, data


def _compiled(net, opts):
    """``(design, board)`` of ``net`` for the compile options ``opts``."""
    from .boards.registry import get_board
    from .compile import design_for

    board = get_board(opts["board"])
    design = design_for(net, board, architecture=opts["architecture"],
                        features_per_cycle=opts["features_per_cycle"], lanes=opts["lanes"],
                        register_every=opts["register_every"], share=opts["share"],
                        progress=_quiet)
    return design, board


def _estimate(net, opts):
    """The compile figures of one point: passes, plan and resource estimate (no synthesis)."""
    from .boards.build import check_args
    from .boards.estimate import MODELS, model_for
    from .boards.plan import design_estimate
    from .compiler.architecture import Streaming

    start = time.monotonic()
    design, board = _compiled(net, opts)
    check_args(board, opts["place_seed"], opts["fmax"])
    estimate = design_estimate(design, board)
    fits = None if estimate is None else not estimate.overruns(board.capacity)
    model = "fitted" if estimate is not None else "ice40 (no model for this family)"
    if estimate is None:  # no model fitted for the family: the iCE40 one says what it would take
        ice40 = MODELS["ice40"] if model_for(board.family) is None else model_for(board.family)
        estimate = (ice40.streaming(design.network, design.hardware)
                    if isinstance(design.architecture, Streaming)
                    else ice40.parallel(design.network))
    facts = design.facts
    clock = opts["fmax"] or board.clock_mhz
    return {
        "datapath": facts.architecture, "layer_sizes": list(facts.layer_sizes),
        "inputs_used": facts.inputs_used, "nonzero_weights": facts.nonzero_weights,
        "adders": facts.adders, "latency": facts.latency,
        "cycles_per_inference": facts.cycles_per_inference, "datapath_lanes": facts.lanes,
        "datapath_features_per_cycle": facts.features_per_cycle,
        "memory_bits": facts.memory_bits,
        "lc_estimate": estimate.logic_cells, "bram_estimate": estimate.block_rams,
        "estimate_model": model, "fits": fits, "clock_mhz": clock,
        "images_per_s": clock * 1e6 / facts.cycles_per_inference,
        "compile_seconds": time.monotonic() - start,
    }


def run_group(train_options, variants, net_data=None, threads=1):
    """Train ``train_options`` once (unless ``net_data``, an encoded net, is given) and estimate
    each of ``variants`` (``(hash, compile options)``). Never raises an LwcError: a failed
    training fails every variant, a failed compile its own. Returns a dict: ``train`` (figures,
    or ``None``), ``net`` (the encoded net when trained here), ``trained``, ``points`` (hash ->
    result)."""
    from .compiler import netfile

    out = {"train": None, "net": None, "trained": False, "points": {}}
    try:
        if net_data is None:
            out["train"], net_data = _train(train_options, threads)
            out["net"], out["trained"] = net_data, True
        net = netfile.from_dict(net_data)
    except Exception as exc:
        failure = _failure(exc, "train")
        for digest, _ in variants:
            out["points"][digest] = dict(failure)
        return out
    for digest, opts in variants:
        try:
            out["points"][digest] = {"status": "ok", **_estimate(net, opts)}
        except Exception as exc:
            out["points"][digest] = _failure(exc, "compile")
    return out


def place_point(net_data, opts, build_dir=None):
    """Synthesize and place-and-route one point as ``lwc compile --board`` does; its figures
    (LUT4, logic cells, Fmax...) or ``{"place_error": line}``."""
    from .compile import write_design
    from .compiler import netfile

    start = time.monotonic()
    temp = None
    try:
        net = netfile.from_dict(net_data)
        design, board = _compiled(net, opts)
        if build_dir is None:
            temp = build_dir = tempfile.mkdtemp(prefix="lwc-sweep-place-")
        shutil.rmtree(build_dir, ignore_errors=True)  # an interrupted build is started over
        done = write_design(design, build_dir, board=board, clock_mhz=opts["fmax"],
                            seed=opts["place_seed"], replace=True, progress=_quiet)
    except Exception as exc:
        return {"place_error": _error_text(exc)}
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    report, facts = done.build, done.facts
    fmax = report.fmax_mhz
    return {
        "placed_lut4": report.lut4.used, "placed_lc": report.logic_cells.used,
        "placed_ff": report.ff.used, "placed_carry": report.carry.used,
        "placed_bram": report.block_ram.used, "placed_fmax_mhz": fmax,
        "placed_timing_met": report.timing_met,
        "placed_images_per_s": None if not fmax else fmax * 1e6 / facts.cycles_per_inference,
        "placed_latency": facts.latency, "place_seconds": time.monotonic() - start,
        "place_dir": None if temp is not None else str(build_dir),
    }


def prove_point(net_data, opts, data_dir=None, csv=None, simulator="verilator", build_dir=None):
    """Simulate one point's Verilog in cocotb on its whole test set against the golden model,
    as ``lwc sim`` does; ``{"proved": bool, ...}`` or ``{"prove_error": line}``."""
    from .compiler import netfile
    from .sim.cocotb_sim import simulate
    from .sim.vectors import test_set

    start = time.monotonic()
    temp = None
    try:
        net = netfile.from_dict(net_data)
        design, _ = _compiled(net, opts)
        x, _ = test_set(net, data_dir=data_dir, csv=csv)
        if build_dir is None:
            temp = build_dir = tempfile.mkdtemp(prefix="lwc-sweep-prove-")
        report = simulate(design, x, simulator=simulator, build_dir=build_dir, progress=_quiet)
    except Exception as exc:
        return {"prove_error": _error_text(exc)}
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return {"proved": bool(report.ok), "proof_vectors": report.vectors,
            "proof_mismatches": report.mismatches, "proof_simulator": simulator,
            "prove_seconds": time.monotonic() - start}


# --- files ---------------------------------------------------------------------------------------

def _write_atomic(path, data):
    """Write ``data`` (str or bytes) to ``path`` whole: a temporary file, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path, value):
    _write_atomic(path, json.dumps(value, indent=2, default=list) + "\n")


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _write_net(path, net_data):
    from .compiler import netfile

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    netfile.write(net_data, path)  # atomic (temporary file, os.replace)


def _read_net(path):
    """The encoded net of a ``net.pt`` written by this sweep, or ``None``."""
    from .compiler import netfile
    from .errors import NetFileError

    if not Path(path).is_file():
        return None
    try:
        return netfile.to_dict(netfile.load(path))
    except NetFileError:
        return None


#: The figures of a row, in the order of results.csv.
FIGURES = ("accuracy", "f1", "zero_fraction", "bits_per_weight", "nonzero_weights", "adders",
           "datapath", "datapath_lanes", "datapath_features_per_cycle", "lc_estimate",
           "bram_estimate", "fits",
           "cycles_per_inference", "latency", "clock_mhz", "images_per_s", "placed_lut4",
           "placed_lc", "placed_ff", "placed_carry", "placed_bram", "placed_fmax_mhz",
           "placed_timing_met", "placed_images_per_s", "proved", "proof_vectors",
           "train_seconds", "compile_seconds", "place_seconds", "prove_seconds", "place_error",
           "prove_error")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _csv_text(rows, keys):
    import csv
    import io

    columns = ["hash", "status", *keys, *FIGURES, "error"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        options = row.get("options", {})
        writer.writerow([_cell(row.get(c, options.get(c))) if c not in keys
                         else _cell(options.get(c)) for c in columns])
    return buf.getvalue()


# --- running -------------------------------------------------------------------------------------

class _Progress:
    """The progress line: points done (of which cached), running, failed, and the ETA."""

    def __init__(self, say, phase, total, cached=0):
        self.say, self.phase, self.total = say, phase, total
        self.cached, self.done, self.failed, self.running = cached, cached, 0, 0
        self.start = time.monotonic()
        self.last = None

    def update(self, *, done=0, failed=0, running=None):
        self.done += done
        self.failed += failed
        if running is not None:
            self.running = running
        self.show()

    def show(self):
        fresh = self.done - self.cached
        left = self.total - self.done
        if fresh and left:
            eta = _duration((time.monotonic() - self.start) / fresh * left)
        else:
            eta = "-" if left else "0s"
        width = 20
        filled = int(width * self.done / self.total) if self.total else width
        line = (f"{self.phase}: [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                f" done ({self.cached} cached), {self.running} running, {self.failed} failed, "
                f"ETA {eta}")
        if line != self.last:
            self.last = line
            self.say(line)


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Call:
    """A task of the serial backend, run when waited for."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class _Serial:
    """Runs each task here, one after another."""

    slots = 1

    def submit(self, fn, *args, gpu=False):
        return _Call(fn, args)

    def wait(self, pending):
        call = pending[0]
        return call, call.fn(*call.args)

    def cancel(self, pending):
        pass

    def close(self):
        pass


class _Ray:
    """Runs tasks on Ray: a local instance on this machine's cores, or the cluster at
    ``address``. Training tasks ask for a GPU where the cluster has one."""

    def __init__(self, address=None, num_cpus=None, cpus_per_task=1, say=print):
        try:
            import ray
        except ImportError:
            raise UsageError(RAY_MISSING) from None
        self.ray = ray
        self.owned = not ray.is_initialized()
        if self.owned:
            options = {"include_dashboard": False, "log_to_driver": False,
                       "configure_logging": False}
            if address is not None:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **options)
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.cpus_per_task = cpus_per_task
        cpus = int(resources.get("CPU", 1))
        self.slots = max(1, cpus // cpus_per_task)
        say(f"ray: {cpus} CPUs, {self.gpus} GPUs; {self.slots} tasks at a time"
            + (", trainings on a GPU each" if self.gpus else ""))
        self.remote = {}

    def submit(self, fn, *args, gpu=False):
        if fn not in self.remote:
            self.remote[fn] = self.ray.remote(fn)
        options = {"num_cpus": self.cpus_per_task, "max_retries": 0}
        if gpu and self.gpus:
            options["num_gpus"] = 1
        return self.remote[fn].options(**options).remote(*args)

    def wait(self, pending):
        (ready,), _ = self.ray.wait(list(pending), num_returns=1)
        return ready, self.ray.get(ready)

    def cancel(self, pending):
        for ref in pending:
            self.ray.cancel(ref, force=True)

    def close(self):
        if self.owned:
            self.ray.shutdown()


def _drive(backend, jobs, on_done, progress):
    """Run ``jobs`` (``(key, fn, args, gpu)``) on ``backend``, at most its slots at a time;
    ``on_done(key, result)`` as each finishes. On Ctrl-C the tasks in flight are cancelled."""
    queue = list(jobs)
    pending = {}
    try:
        while queue or pending:
            while queue and len(pending) < backend.slots:
                key, fn, args, gpu = queue.pop(0)
                pending[backend.submit(fn, *args, gpu=gpu)] = key
                progress.update(running=_running(pending, backend))
            handle, result = backend.wait(list(pending))
            key = pending.pop(handle)
            progress.running = _running(pending, backend)
            on_done(key, result)
    except BaseException:
        backend.cancel(list(pending))
        raise


def _running(pending, backend):
    return len(pending) if isinstance(backend, _Ray) else min(len(pending), 1)


def run_sweep(spec, out_dir, *, backend="ray", address=None, num_cpus=None, cpus_per_task=1,
              place=None, prove=False, simulator="verilator", retry_failed=False,
              progress=print, status=None):
    """Run every point of ``spec`` (a :class:`SweepSpec`, or the path of a TOML spec) into
    ``out_dir`` and return the :class:`SweepResult`.

    Parameters
    ----------
    backend : str
        ``"ray"`` (default: a local Ray on ``num_cpus`` cores, all by default, or the cluster at
        ``address``) or ``"serial"`` (one after another in this process).
    cpus_per_task : int
        CPUs (and torch threads) each training takes; a point that sets ``threads`` keeps it.
    place : str or None
        ``"front"``: the points on the fronts go through synthesis and place-and-route;
        ``"all"``: every point.
    prove : bool
        The front points are simulated in cocotb (``simulator``) on their whole test set.
    retry_failed : bool
        Run again the points recorded as failed (those that failed with something other than
        an LwcError always are).
    progress : callable or None
        Told what happens in one line each (like :func:`print`); ``None`` for silence.
    status : callable or None
        Told the progress line (points done, running, failed, ETA) each time it changes;
        default ``progress``. ``lwc sweep`` redraws it in place on a terminal.

    Raises
    ------
    UsageError
        Bad option, or Ray not installed for the Ray backend.
    KeyboardInterrupt
        Stopped: what finished is written (whole files only) and a re-run resumes.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if place not in (None, *PLACE_CHOICES):
        raise UsageError(f"place must be one of {', '.join(PLACE_CHOICES)}, not {place!r}")
    if not (isinstance(cpus_per_task, int) and cpus_per_task >= 1):
        raise UsageError(f"cpus_per_task must be a positive integer, not {cpus_per_task!r}")
    say = progress if progress is not None else _quiet
    bar_say = status if status is not None else say
    start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "spec.json", {"name": spec.name, "dataset": spec.dataset,
                                    "path": spec.path, "points": [
                                        {"hash": p.hash, **p.options()} for p in spec.points]})
    results = {}
    for p in spec.points:
        row = _read_json(out / "points" / p.hash / "result.json")
        if row is not None and (row["status"] == "ok" or (
                not retry_failed and row.get("lwc_error"))):
            results[p.hash] = row
    cached = len(results)
    counts = {"trained": 0, "failed": 0, "placed": 0, "proved": 0}
    todo = [p for p in spec.points if p.hash not in results]
    say(f"sweep {spec.name}: {len(spec.points)} points, {cached} done before, {len(todo)} to run"
        f" ({backend})")

    runner = None
    try:
        if todo or place or prove:
            runner = (_Ray(address, num_cpus, cpus_per_task, say) if backend == "ray"
                      else _Serial())
        if todo:
            _run_points(runner, spec, todo, out, results, counts, cpus_per_task,
                        _Progress(bar_say, "train+estimate", len(spec.points), cached))
        rows = _rows(spec, results)
        front = front_rows(rows)
        if place:
            chosen = [r for r in rows if r["status"] == "ok"] if place == "all" else front
            _run_extra(runner, spec, out, chosen, "placed.json", place_point, "place", counts,
                       bar_say, local=address is None)
        if prove:
            _run_extra(runner, spec, out, front_rows(_rows(spec, results, out)), "proof.json",
                       prove_point, "prove", counts, bar_say, local=address is None,
                       simulator=simulator)
    finally:
        if runner is not None:
            runner.close()
        # Written whole from the points' own files, also after an interruption.
        rows = _rows(spec, results, out)
        _write_results(out, spec, rows)
    front = front_rows(rows)
    peers = tuple(p for p in pareto.PEERS if p.dataset == spec.dataset)
    _write_plot(out / "pareto.png", rows, f"{spec.name}: {spec.dataset}", peers)
    return SweepResult(out_dir=out, rows=tuple(rows), front=tuple(front),
                       trained=counts["trained"], cached=cached, failed=counts["failed"],
                       placed=counts["placed"], proved=counts["proved"],
                       seconds=time.monotonic() - start, keys=spec.keys, peers=peers)


def _run_points(runner, spec, todo, out, results, counts, threads, bar):
    groups = {}
    for p in todo:
        groups.setdefault(p.train_hash, []).append(p)
    jobs = []
    for train_hash, points in groups.items():
        net_data = None
        if (out / "nets" / train_hash / "train.json").is_file():
            net_data = _read_net(out / "nets" / train_hash / "net.pt")
        variants = [(p.hash, p.compile) for p in points]
        jobs.append((train_hash, run_group, (points[0].train, variants, net_data, threads),
                     net_data is None))
    by_group = {h: points for h, points in groups.items()}
    bar.show()

    def done(train_hash, result):
        net_dir = out / "nets" / train_hash
        if result["trained"]:
            counts["trained"] += 1
            _write_net(net_dir / "net.pt", result["net"])
            _write_json(net_dir / "train.json", result["train"])
        train = result["train"] or _read_json(net_dir / "train.json") or {}
        failed = 0
        for p in by_group[train_hash]:
            point = result["points"][p.hash]
            row = {"hash": p.hash, "train_hash": train_hash, "options": p.options(),
                   **{k: v for k, v in train.items()}, **point}
            if point["status"] == "failed":
                failed += 1
            else:
                row["net"] = str(Path("nets") / train_hash / "net.pt")
            row = json.loads(json.dumps(row, default=list))  # as read back on a re-run
            _write_json(out / "points" / p.hash / "result.json", row)
            results[p.hash] = row
        counts["failed"] += failed
        bar.update(done=len(by_group[train_hash]), failed=failed)
        _write_results(out, spec, _rows(spec, results, out))

    _drive(runner, jobs, done, bar)


def _run_extra(runner, spec, out, rows, name, fn, phase, counts, say, local, **kwargs):
    """Place or prove ``rows`` (those without ``name`` in their point folder yet)."""
    todo = [r for r in rows if not (out / "points" / r["hash"] / name).is_file()]
    bar = _Progress(say, phase, len(rows), len(rows) - len(todo))
    jobs = []
    for row in todo:
        net_data = _read_net(out / row["net"])
        opts = {k: row["options"].get(k, v) for k, v in COMPILE_OPTIONS.items()}
        folder = out / "points" / row["hash"] / ("build" if phase == "place" else "sim")
        if phase == "place":
            args = (net_data, opts, str(folder) if local else None)
        else:
            args = (net_data, opts, row["options"].get("data_dir"), row["options"].get("csv"),
                    kwargs["simulator"], str(folder) if local else None)
        jobs.append((row["hash"], fn, args, False))
    bar.show()

    def done(digest, result):
        _write_json(out / "points" / digest / name, result)
        failed = int(any(k.endswith("_error") for k in result))
        counts[{"place": "placed", "prove": "proved"}[phase]] += 1 - failed
        bar.update(done=1, failed=failed)

    _drive(runner, jobs, done, bar)


def _rows(spec, results, out=None):
    """The rows of the points done, in spec order, with their placement and proof merged."""
    rows = []
    for p in spec.points:
        row = results.get(p.hash)
        if row is None:
            continue
        row = dict(row)
        if out is not None:
            for name in ("placed.json", "proof.json"):
                extra = _read_json(out / "points" / p.hash / name)
                if extra:
                    row.update(extra)
        rows.append(row)
    return rows


def front_rows(rows):
    """The ok rows on either front: accuracy (max) against estimated logic cells (min), and
    accuracy against images per second (max); in order of logic cells."""
    ok = [r for r in rows if r.get("status") == "ok"]
    keep = set(pareto.front([(r.get("accuracy"), r.get("lc_estimate")) for r in ok],
                            ("max", "min")))
    keep |= set(pareto.front([(r.get("accuracy"), r.get("images_per_s")) for r in ok],
                             ("max", "max")))
    return sorted((ok[i] for i in keep), key=lambda r: (r["lc_estimate"], -r["accuracy"]))


def _write_results(out, spec, rows):
    _write_atomic(out / "results.csv", _csv_text(rows, list(spec.keys)))
    _write_json(out / "results.json", {"name": spec.name, "dataset": spec.dataset,
                                       "points": len(spec.points), "rows": rows})


def _write_plot(path, rows, title, peers):
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    try:
        pareto.plot(rows, tmp, title=title, peers=peers)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _option_text(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(result):
    varying = [k for k in result.keys if k not in _PATH_KEYS
               and len({_canonical(r["options"].get(k)) for r in result.rows}) > 1]
    head = ["hash", *varying, "acc %", "LC est", "BRAM", "cycles", "images/s", "LUT4", "LC",
            "Fmax", "proved"]
    body = []
    for r in result.front:
        fmax = r.get("placed_fmax_mhz")
        proved = r.get("proved")
        body.append([r["hash"][:8], *(_option_text(r["options"].get(k)) for k in varying),
                     f"{100 * r['accuracy']:.2f}", f"{r['lc_estimate']:,}",
                     str(r["bram_estimate"]), f"{r['cycles_per_inference']:,}",
                     f"{r['images_per_s']:,.0f}", _cell(r.get("placed_lut4")),
                     _cell(r.get("placed_lc")), "" if fmax is None else f"{fmax:.1f}",
                     "" if proved is None else ("yes" if proved else "NO")])
    widths = [max(len(x) for x in column) for column in zip(head, *body)]
    lines = [f"front: {len(result.front)} of {len(result.rows)} points (accuracy vs estimated "
             f"logic cells, and vs images/s)"]
    for line in (head, *body):
        lines.append("  ".join(x.rjust(w) for x, w in zip(line, widths)).rstrip())
    failed = [r for r in result.rows if r["status"] == "failed"]
    for r in failed:
        lines.append(f"failed {r['hash'][:8]} ({r.get('stage')}): {r['error']}")
    for r in result.rows:
        for key in ("place_error", "prove_error"):
            if r.get(key):
                lines.append(f"{key.split('_')[0]} failed {r['hash'][:8]}: {r[key]}")
    if result.peers:
        lines += ["", pareto.peer_table(result.peers)]
    lines.append(f"{len(result.rows)} points ({result.cached} cached, {result.trained} trainings "
                 f"run, {len(failed)} failed) in {result.seconds:.1f} s")
    return "\n".join(lines)
