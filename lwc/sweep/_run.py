"""Running a sweep: :func:`run_sweep` and the files it writes (whole, each: a temporary file and
:func:`os.replace`)."""

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import pareto
from ..errors import UsageError
from ._backends import Crash, Progress, Ray, Serial, drive, quiet
from ._spec import (
    COMPILE_OPTIONS,
    DEFAULT_FRONT,
    FRONT_FIGURES,
    PATH_KEYS,
    SweepSpec,
    canonical,
    load_spec,
)
from ._tasks import place_point, prove_point, run_group

__all__ = ["SweepResult", "run_sweep", "front_rows", "FIGURES", "PLACE_CHOICES", "BACKENDS"]

PLACE_CHOICES = ("front", "all")
BACKENDS = ("ray", "serial")


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did: ``rows`` (one dict per point, as ``results.json``),
    ``front`` (the rows on the fronts, one per board: :func:`front_rows`), and the counts of
    this run: ``trained`` nets trained, ``cached`` points found done, ``failed`` points failed,
    ``placed`` and ``proved``; ``front_figures``: what the front weighs (the spec's ``front``)."""

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
    front_figures: tuple = DEFAULT_FRONT

    def table(self):
        """The front as text (what ``lwc sweep`` prints), the failures and the peers."""
        return _table(self)


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
    from ..compiler import netfile

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    netfile.write(net_data, path)  # atomic (temporary file, os.replace)


def _read_net(path):
    """The encoded net of a ``net.pt`` written by this sweep, or ``None``."""
    from ..compiler import netfile
    from ..errors import NetFileError

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
        Run again the points recorded as failed, and the placements and proofs (points that
        failed with something other than an LwcError, such as a crashed worker, always are).
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
    say = progress if progress is not None else quiet
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
            runner = (Ray(address, num_cpus, cpus_per_task, say) if backend == "ray"
                      else Serial())
        if todo:
            _run_points(runner, spec, todo, out, results, counts, cpus_per_task,
                        Progress(bar_say, "train+estimate", len(spec.points), cached))
        if place == "all":
            _run_extra(runner, spec, out, [r for r in _rows(spec, results) if r["status"] == "ok"],
                       "placed.json", place_point, "place", counts, bar_say,
                       local=address is None, retry_failed=retry_failed)
        elif place == "front":
            # A front point that fails to place (does not fit after all) leaves the front, and
            # the points that take its place are placed in turn, until the front stands.
            tried = set()
            while True:
                front = [r for r in front_rows(_rows(spec, results, out), spec.front)
                         if r["hash"] not in tried]
                if not front:
                    break
                tried |= {r["hash"] for r in front}
                _run_extra(runner, spec, out, front, "placed.json", place_point, "place", counts,
                           bar_say, local=address is None, retry_failed=retry_failed)
        if prove:
            _run_extra(runner, spec, out, front_rows(_rows(spec, results, out), spec.front),
                       "proof.json", prove_point, "prove", counts, bar_say,
                       local=address is None, retry_failed=retry_failed, simulator=simulator)
    finally:
        if runner is not None:
            runner.close()
        # Written whole from the points' own files, also after an interruption.
        rows = _rows(spec, results, out)
        _write_results(out, spec, rows)
    front = front_rows(rows, spec.front)
    peers = tuple(p for p in pareto.PEERS if p.dataset == spec.dataset)
    title = spec.name if spec.name == spec.dataset else f"{spec.name}: {spec.dataset}"
    write_plot(out / "pareto.png", rows, title, peers)
    return SweepResult(out_dir=out, rows=tuple(rows), front=tuple(front),
                       trained=counts["trained"], cached=cached, failed=counts["failed"],
                       placed=counts["placed"], proved=counts["proved"],
                       seconds=time.monotonic() - start, keys=spec.keys, peers=peers,
                       front_figures=spec.front)


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

    def done(train_hash, result):
        if isinstance(result, Crash):  # recorded, and tried again on a re-run
            failure = {"status": "failed", "error": result.error, "stage": "task",
                       "lwc_error": False}
            result = {"trained": False, "train": None,
                      "points": {p.hash: failure for p in by_group[train_hash]}}
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

    drive(runner, jobs, done, bar)


def _failed_extra(result):
    """Whether a placement or proof result is a failure: an error, or a proof that found the
    hardware differing from the golden model."""
    return any(k.endswith("_error") for k in result) or result.get("proved") is False


def _run_extra(runner, spec, out, rows, name, fn, phase, counts, say, local, retry_failed,
               **kwargs):
    """Place or prove ``rows``: those without ``name`` in their point folder yet, and with
    ``retry_failed`` those where it records a failure."""
    def todo_row(row):
        done = _read_json(out / "points" / row["hash"] / name)
        return done is None or (retry_failed and _failed_extra(done))

    todo = [r for r in rows if todo_row(r)]
    bar = Progress(say, phase, len(rows), len(rows) - len(todo))
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

    def done(digest, result):
        if isinstance(result, Crash):
            result = {f"{phase}_error": result.error}
        _write_json(out / "points" / digest / name, result)
        failed = int(_failed_extra(result))
        counts[{"place": "placed", "prove": "proved"}[phase]] += 1 - failed
        bar.update(done=1, failed=failed)

    drive(runner, jobs, done, bar)


def with_extras(row, out):
    """``row`` (a new dict) with its point's placement and proof in the sweep folder ``out``
    merged in, as far as their files exist (also while the sweep still runs)."""
    row = dict(row)
    for name in ("placed.json", "proof.json"):
        extra = _read_json(Path(out) / "points" / row["hash"] / name)
        if extra:
            row.update(extra)
    return row


def _rows(spec, results, out=None):
    """The rows of the points done, in spec order, with their placement and proof merged."""
    rows = [results[p.hash] for p in spec.points if p.hash in results]
    return [dict(r) if out is None else with_extras(r, out) for r in rows]


def board_of(row):
    """The board a row's point is compiled for."""
    return row.get("options", {}).get("board", COMPILE_OPTIONS["board"])


def buildable(row):
    """Whether a row may be on a front: it ran, its estimate fits its board (for a family without
    a fitted model, by the iCE40 model's proxy), and its placement, where tried, did not fail."""
    return row.get("status") == "ok" and row.get("fits") is not False and not row.get(
        "place_error")


def front_rows(rows, front=DEFAULT_FRONT):
    """The rows on the front of their board (each board has its own: logic cells of different
    families are different units), over the :func:`buildable` rows: no other row is at least as
    good in every figure of ``front`` (names of :data:`FRONT_FIGURES`; by default accuracy,
    estimated logic cells, block RAM and images per second) and better in one. In order of board
    (as first met) and logic cells."""
    figures = [FRONT_FIGURES[name] for name in front]
    chosen = []
    for board in dict.fromkeys(board_of(r) for r in rows):
        ok = [r for r in rows if board_of(r) == board and buildable(r)]
        keep = pareto.front([tuple(r.get(key) for key, _ in figures) for r in ok],
                            [objective for _, objective in figures])
        chosen += sorted((ok[i] for i in keep), key=lambda r: (r["lc_estimate"], -r["accuracy"]))
    return chosen


def _write_results(out, spec, rows):
    _write_atomic(out / "results.csv", _csv_text(rows, list(spec.keys)))
    _write_json(out / "results.json", {"name": spec.name, "dataset": spec.dataset,
                                       "points": len(spec.points), "front": list(spec.front),
                                       "rows": rows})


def write_plot(path, rows, title, peers, **more):
    """The sweep's plot of ``rows`` (:func:`lwc.pareto.plot`, one front per board) written to
    ``path`` whole or not at all; ``more`` goes to the plot (an earlier front, ``previous``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    try:
        pareto.plot(rows, tmp, title=title, peers=peers, group=board_of,
                    eligible=buildable, **more)
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
    varying = [k for k in result.keys if k not in PATH_KEYS
               and len({canonical(r["options"].get(k)) for r in result.rows}) > 1]
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
    weighed = ", ".join(name.replace("_", " ") for name in result.front_figures)
    lines = [f"front: {len(result.front)} of {len(result.rows)} points ({weighed}; one front "
             f"per board)"]
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
