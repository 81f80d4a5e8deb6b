"""``lwc compile``: a net to Verilog, to a board bitstream behind the UART front end, or to generic
gates for an ASIC.

Products in the output directory: ``net.v`` (the bare network, module ``lwc_net``, for use in
another project); for a board target also the board top as RTLIL (``top.il``), the bitstream
(``top.bin`` on iCE40, ``top.bit`` on ECP5), the toolchain logs, and ``report.json`` (the network
facts under ``"network"`` next to the FPGA figures of :class:`~lwc.boards.build.BuildReport`, and
how the pipelining was chosen under ``"pipelining"``); for ``asic`` the gate netlist
``netlist.v`` and ``report.json`` with :class:`~lwc.boards.asic.AsicReport` under ``"asic"``; and
``lwc-build.json``, the manifest of every file the build wrote (see :func:`compile_net` for how an
existing directory is treated).
"""

import gc
import json
import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from amaranth.hdl import UnusedElaboratable

from .. import __version__
from ..compiler import passes
from ..compiler.lower import lower, write_verilog
from ..compiler.lower import plan as plan_network
from ..compiler.stats import adder_count, nonzero_count
from ..errors import UsageError
from ..hw.top import UartNetworkTop
from . import timing
from .asic import synthesize
from .build import REPORT_FILE, _check_args, build
from .estimate import estimate_parallel, estimate_streaming
from .registry import DEFAULT_BOARDS, get_board

__all__ = ["NetworkFacts", "CompileResult", "ArchitecturePlan", "network_facts",
           "plan_architecture", "compile_net", "TARGETS", "ARCHITECTURES", "MANIFEST"]

TARGETS = ("verilog", "ice40", "ecp5", "asic")
#: Builds at most this many bitstreams to reach the timing target when ``register_every`` is
#: chosen automatically.
MAX_TIMING_TRIES = 3
#: The file in an output directory that lists what lwc wrote there.
MANIFEST = "lwc-build.json"
_MANIFEST_TAG = "lwc-build"


@dataclass(frozen=True)
class NetworkFacts:
    """What the compiled datapath is: sizes, arithmetic and timing in cycles."""

    inputs: int
    inputs_used: int
    input_bits: int
    classes: int
    layer_sizes: tuple
    nonzero_weights: int
    adders: int
    latency: int
    score_width: int
    architecture: str = "parallel"
    cycles_per_inference: int = 1
    features_per_cycle: int = 0
    lanes: int = 0
    memory_bits: int = 0

    def architecture_text(self):
        """One line: the architecture and what it costs in cycles and memory."""
        if self.architecture == "parallel":
            return "parallel: every layer in logic, 1 inference per cycle"
        return (f"streaming: first layer from {self.memory_bits:,} bits of block RAM, "
                f"{self.lanes} lane{'s' if self.lanes != 1 else ''}, {self.features_per_cycle} "
                f"feature{'s' if self.features_per_cycle != 1 else ''} per transfer")

    def table(self, fmax_mhz=None):
        rate = ("1 inference per cycle" if self.cycles_per_inference == 1 else
                f"1 inference every {self.cycles_per_inference:,} cycles")
        lines = [
            f"network      {self.inputs} inputs ({self.inputs_used} used) x {self.input_bits} bit"
            f" -> {'-'.join(map(str, self.layer_sizes))}",
            f"weights      {self.nonzero_weights} nonzero, {self.adders} two-input adders",
            f"datapath     {self.architecture_text()}",
            f"latency      {self.latency:,} cycles, {rate}",
        ]
        if fmax_mhz:
            lines.append(f"throughput   {fmax_mhz * 1e6 / self.cycles_per_inference:,.0f} "
                         f"inferences/s at Fmax")
        return "\n".join(lines)


@dataclass(frozen=True)
class ArchitecturePlan:
    """The datapath :func:`plan_architecture` chose: ``architecture`` (``parallel`` or
    ``streaming``), its streaming parameters, and the :class:`~lwc.boards.estimate.Estimate` it
    was chosen on (``None`` when nothing was estimated)."""

    architecture: str
    features_per_cycle: int = 1
    lanes: int = 1
    estimate: object = None

    def lower_options(self):
        """Keyword arguments of :func:`~lwc.compiler.lower.lower` (and of the simulators) that
        build this datapath."""
        return {"architecture": self.architecture, "features_per_cycle": self.features_per_cycle,
                "lanes": self.lanes}

    def compile_options(self):
        """Keyword arguments of :func:`compile_net` that build this datapath."""
        if self.architecture == "parallel":
            return {"architecture": "parallel"}
        return self.lower_options()


@dataclass(frozen=True)
class CompileResult:
    out_dir: str
    facts: NetworkFacts
    verilog: str
    build: object = None  # BuildReport for board targets
    pipelining: dict = None  # how register_every was chosen, for board targets
    asic: object = None  # AsicReport for --target asic

    def table(self):
        fmax = self.build.fmax_mhz if self.build is not None else None
        parts = [self.facts.table(fmax)]
        if self.pipelining is not None:
            parts.append(_pipelining_text(self.pipelining))
        if self.build is not None:
            parts.append(self.build.table())
        if self.asic is not None:
            parts.append(self.asic.table())
        return "\n".join(parts)


def _pipelining_text(pipelining):
    every = pipelining["register_every"]
    how = "chosen for" if pipelining["auto"] else "given; target"
    shown = "one register per layer" if every is None else f"register every {every} levels"
    lines = [f"pipelining   {shown} ({how} {pipelining['target_mhz']:g} MHz)"]
    for k, attempt in enumerate(pipelining["attempts"], 1):
        predicted = attempt["predicted_mhz"]
        lines.append(f"  build {k}: register_every {attempt['register_every']}, latency "
                     f"{attempt['latency']}, predicted "
                     f"{'-' if predicted is None else f'{predicted:.0f}'} MHz, achieved "
                     f"{attempt['fmax_mhz']:.1f} MHz")
    return "\n".join(lines)


def network_facts(net, component):
    """Facts about ``net`` (after passes) and its lowered ``component``.

    ``adders`` counts the two-input adders built in logic: a streaming network's first layer has
    none (it is one accumulator per lane), so only its parallel layers count."""
    design = getattr(component, "plan", component)  # a component, or its plan
    streaming = design.kind == "streaming"
    tail = replace(net, layers=net.layers[1:]) if streaming else net
    adders = adder_count(tail)
    return NetworkFacts(
        inputs=net.input.count, inputs_used=len(net.input_map), input_bits=net.input.bits,
        classes=net.output_count, layer_sizes=tuple(layer.size for layer in net.layers),
        nonzero_weights=nonzero_count(net), adders=adders, latency=design.latency,
        score_width=design.score_width, architecture=design.kind,
        cycles_per_inference=design.cycles_per_inference,
        features_per_cycle=design.features_per_cycle if streaming else 0,
        lanes=design.lanes if streaming else 0,
        memory_bits=design.memory_bits if streaming else 0,
    )


#: Values of ``compile_net(architecture=...)``.
ARCHITECTURES = ("auto", "parallel", "streaming")
#: Features per transfer of a streaming network unless chosen: a 16-bit block RAM word of the
#: UART front end's frame at 2-bit inputs, and few testbench transfers per vector.
DEFAULT_FEATURES_PER_CYCLE = 8
_LANE_CHOICES = (8, 4, 2, 1)


def _streaming_estimate(compiled, features, lanes):
    design = plan_network(compiled, architecture="streaming", features_per_cycle=features,
                          lanes=lanes)
    return estimate_streaming(compiled, design)


def plan_architecture(compiled, board=None, architecture="auto", *, features_per_cycle=None,
                      lanes=None, progress=print):
    """Choose the datapath of ``compiled`` (a net after the compiler passes) for ``board``.

    ``parallel`` builds every layer in logic (one inference per clock); ``streaming`` computes
    the first layer from block RAM (:class:`~lwc.hw.StreamingNetwork`), ``features_per_cycle``
    input features per transfer (default :data:`DEFAULT_FEATURES_PER_CYCLE`) and ``lanes``
    neurons at a time (default: the most of 8, 4, 2, 1 that the estimate fits on ``board``, else
    1). ``auto`` takes the fastest form that the resource estimate
    (:mod:`lwc.boards.estimate`) fits on ``board``: parallel when it fits, else streaming; without
    a board, parallel.

    Raises
    ------
    UsageError
        Unknown ``architecture``, or streaming options for a parallel datapath.
    """
    if architecture not in ARCHITECTURES:
        raise UsageError(f"unknown architecture {architecture!r} (choose from: "
                         f"{', '.join(ARCHITECTURES)})")
    for name, value in (("features_per_cycle", features_per_cycle), ("lanes", lanes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise UsageError(f"{name} must be a positive integer, not {value!r}")
    streaming_options = features_per_cycle is not None or lanes is not None
    if architecture == "parallel":
        if streaming_options:
            raise UsageError("--features-per-cycle and --lanes apply to the streaming "
                             "architecture, not parallel")
        return ArchitecturePlan("parallel")
    features = min(features_per_cycle or DEFAULT_FEATURES_PER_CYCLE, compiled.input.count)
    if architecture == "auto":
        if board is None:
            return ArchitecturePlan("parallel") if not streaming_options else \
                ArchitecturePlan("streaming", features, lanes or 1)
        parallel = estimate_parallel(compiled)
        if parallel.fits(board.capacity) and not streaming_options:
            progress(f"architecture: parallel (estimated {parallel.logic_cells:,} of "
                     f"{board.capacity.logic_cells:,} logic cells)")
            return ArchitecturePlan("parallel", estimate=parallel)
        progress(f"architecture: parallel would need about {parallel.logic_cells:,} logic cells, "
                 f"the {board.name} has {board.capacity.logic_cells:,}: streaming")
    if board is None:
        return ArchitecturePlan("streaming", features, lanes or 1)
    choices = (lanes,) if lanes is not None else _LANE_CHOICES
    for count in choices:
        estimate = _streaming_estimate(compiled, features, count)
        if estimate.fits(board.capacity) or count == choices[-1]:
            break
    verdict = "fits" if estimate.fits(board.capacity) else "does NOT fit"
    progress(f"architecture: streaming, {estimate.lanes} lane(s), {features} features per "
             f"transfer: estimated {estimate.logic_cells:,}/{board.capacity.logic_cells:,} logic "
             f"cells, {estimate.block_rams}/{board.capacity.block_rams} block RAMs ({verdict}), "
             f"{estimate.cycles_per_inference:,} cycles per inference")
    return ArchitecturePlan("streaming", features, estimate.lanes, estimate)


def compile_net(net, out_dir, *, target=None, board=None, clock_mhz=None, seed=1,
                baud=115200, register_every=None, architecture="auto", features_per_cycle=None,
                lanes=None, share=True, force=False, progress=print):
    """Compile ``net`` (an IR network as loaded from ``net.pt``) into ``out_dir``.

    ``target`` is ``"verilog"`` (just ``net.v``), ``"ice40"`` or ``"ecp5"`` (bitstream for
    ``board``, by default the family's board in :data:`~lwc.boards.DEFAULT_BOARDS`), or ``"asic"``
    (generic gates, :func:`~lwc.boards.asic.synthesize`); ``None`` means the family of ``board``,
    or ``"ice40"`` without one. Returns a :class:`CompileResult`.

    For a board, ``clock_mhz`` (default: the board clock) is the timing target. When
    ``register_every`` is ``None`` it is chosen for that target: the least pipelined choice that
    the delay model of :mod:`lwc.boards.timing` predicts to meet it is built first, and while
    nextpnr reports the target missed with the critical path inside the network, the build is
    repeated with more pipeline registers (at most :data:`MAX_TIMING_TRIES` builds). Every
    choice keeps the pipeline balanced; the latency in cycles is in the facts.

    ``architecture``, ``features_per_cycle`` and ``lanes`` choose the datapath (see
    :func:`plan_architecture`; ``auto`` is parallel unless it does not fit the board).
    ``share`` builds sub-sums shared by several neurons of a layer once (the ``share`` pass).

    Every option is checked, and the design lowered in memory, before anything is written.
    ``out_dir`` then gets the manifest :data:`MANIFEST` listing every file this compilation wrote
    (rewritten at the end, also when the build fails: ``"complete": false`` and the error). An
    existing ``out_dir`` is treated so that two builds never mix: the files an earlier lwc build
    listed in its manifest are removed first, and a directory holding anything else (files lwc did
    not write, or an unreadable manifest) is refused unless ``force``, which keeps those files
    and writes next to them. A failed build never leaves a bitstream.

    Raises
    ------
    UsageError
        Bad option, a net the board top cannot serve, or ``out_dir`` not usable (see above).
    ToolchainError, BuildError
        From :func:`~lwc.boards.build.build`.
    """
    target, board_obj = _resolve_target(target, board)
    if board_obj is not None:
        _check_args(board_obj, seed, clock_mhz, "top")
    out = Path(out_dir)
    stale = _claim(out, force)

    if board_obj is not None and board is None:
        progress(f"target {target}: using the default board {board_obj.name} "
                 f"({board_obj.title})")
    progress("compiler: running passes")
    compiled = passes.run(net)
    lowering = plan_architecture(compiled, board_obj, architecture,
                                 features_per_cycle=features_per_cycle, lanes=lanes,
                                 progress=progress).lower_options()
    lowering["share"] = share
    top = pipelining = None
    if board_obj is not None:
        pipelining = _pipelining_plan(compiled, board_obj, clock_mhz, register_every, progress)
        register_every = pipelining["register_every"]
        top = _board_top(compiled, register_every, board_obj, baud, lowering)
    network = plan_network(compiled, register_every=register_every, **lowering)  # net.v, facts
    try:
        return _write(out, stale, target, board_obj, compiled, network, top, clock_mhz, seed,
                      baud, progress, pipelining, lowering)
    except BaseException:
        # Designs left unbuilt by the error: Amaranth would warn, once they are collected,
        # that they were never used; the error already says why.
        for design in (top, top and top.network):
            if design is not None:
                design._MustUse__silence = True
        raise


def _write(out, stale, target, board_obj, compiled, network, top, clock_mhz, seed, baud,
           progress, pipelining=None, lowering=None):
    """The writing half of :func:`compile_net`, once everything has been checked."""
    facts = network_facts(compiled, network)
    progress(f"compiler: {facts.nonzero_weights} nonzero weights, {facts.adders} adders, "
             f"latency {facts.latency} cycles")
    manifest = {"target": target, "board": board_obj.name if board_obj else None}
    try:
        for name in stale:
            (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        before = _snapshot(out)
        _write_manifest(out, manifest, [], complete=False)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the output directory: {exc.strerror or exc}") \
            from None
    error = "interrupted"
    try:
        text = write_verilog(network, out / "net.v")
        progress(f"wrote {out / 'net.v'}")
        if target == "asic":
            asic = synthesize(out / "net.v", out, progress=progress)
            (out / REPORT_FILE).write_text(json.dumps(
                {"network": asdict(facts), "asic": asic.to_dict()}, indent=2) + "\n")
            error = None
            return CompileResult(str(out), facts, text, asic=asic)
        if board_obj is None:
            (out / REPORT_FILE).write_text(json.dumps({"network": asdict(facts)}, indent=2) + "\n")
            error = None
            return CompileResult(str(out), facts, text)
        report, network, text = _build_to_target(out, compiled, network, top, text, board_obj,
                                                 clock_mhz, seed, baud, pipelining, progress,
                                                 lowering or {})
        facts = network_facts(compiled, network)
        merged = {"network": asdict(facts), "baud": baud, **report.to_dict(),
                  "pipelining": pipelining}
        (out / REPORT_FILE).write_text(json.dumps(merged, indent=2) + "\n")
        error = None
        return CompileResult(str(out), facts, text, report, pipelining)
    except OSError as exc:  # disk full, directory removed under us, ...
        error = f"cannot write in {out}: {exc.strerror or exc}"
        raise UsageError(error) from None
    except Exception as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise
    finally:
        try:
            written = sorted(n for n, stat in _snapshot(out).items()
                             if n != MANIFEST and before.get(n) != stat)
            _write_manifest(out, manifest, written, complete=error is None, error=error)
        except OSError:
            pass  # the error being raised already says what is wrong with the directory


def _resolve_target(target, board):
    """``(target, Board or None)`` for the ``target`` and ``board`` options, or UsageError."""
    if target is not None and target not in TARGETS:
        raise UsageError(f"unknown target {target!r} (choose from: {', '.join(TARGETS)})")
    if target in ("verilog", "asic"):
        if board is not None:
            raise UsageError(f"--board needs a board target such as --target ice40, not "
                             f"{target}")
        return target, None
    if target is None:
        board_obj = get_board(board if board is not None else DEFAULT_BOARDS["ice40"])
        return board_obj.family.name, board_obj
    board_obj = get_board(board if board is not None else DEFAULT_BOARDS[target])
    if board_obj.family.name != target:
        raise UsageError(f"board {board_obj.name} is an {board_obj.family.title} board, not "
                         f"{target}: use --target {board_obj.family.name} or leave --target out")
    return target, board_obj


def _pipelining_plan(compiled, board, clock_mhz, register_every, progress):
    """How ``register_every`` is chosen for ``board`` at ``clock_mhz`` (see :func:`compile_net`):
    the JSON-ready ``"pipelining"`` entry of the report, its ``attempts`` still empty."""
    target_mhz = float(clock_mhz if clock_mhz is not None else board.clock_mhz)
    auto = register_every is None
    if auto:
        plan = timing.plan(compiled, target_mhz, board.family)
        register_every, predicted = plan[0]
        shown = "one register per layer" if register_every is None else \
            f"register every {register_every} levels"
        progress(f"timing: {target_mhz:g} MHz target on {board.family.title}: {shown} "
                 f"(predicted {predicted:.0f} MHz)")
    else:
        plan = [(register_every, timing.estimate(compiled, register_every, board.family)[0])]
    return {"target_mhz": target_mhz, "auto": auto, "register_every": register_every,
            "plan": [{"register_every": r, "predicted_mhz": round(mhz, 1)} for r, mhz in plan],
            "attempts": []}


def _build_to_target(out, compiled, network, top, text, board, clock_mhz, seed, baud,
                     pipelining, progress, lowering):
    """Build ``top``; while the target is missed inside the network and choices and tries are
    left, rebuild with more pipelining. Returns ``(report, network, verilog text)`` of the last
    build; records every build in ``pipelining["attempts"]``."""
    plan = pipelining["plan"]
    target = pipelining["target_mhz"]
    index = 0
    while True:
        every = plan[index]["register_every"]
        predicted = plan[index]["predicted_mhz"]
        report = build(top, board, out, name="top", clock_mhz=clock_mhz, seed=seed,
                       progress=progress)
        pipelining["attempts"].append({
            "register_every": every, "latency": network.latency, "predicted_mhz": predicted,
            "fmax_mhz": report.fmax_mhz, "timing_met": report.timing_met,
            "critical_path": report.critical_path[:1] + report.critical_path[-1:]})
        pipelining["register_every"] = every
        if report.timing_met is not False or not pipelining["auto"]:
            return report, network, text
        in_network = any(name.startswith("network.") for name in report.critical_path)
        # Scale the model by how far off it was on this build, and skip the choices it still
        # predicts to fall short.
        scale = report.fmax_mhz / predicted if predicted else 1.0
        later = [k for k in range(index + 1, len(plan))]
        nxt = next((k for k in later if plan[k]["predicted_mhz"] * scale >= target),
                   later[-1] if later else None)
        if not in_network or nxt is None or len(pipelining["attempts"]) >= MAX_TIMING_TRIES:
            why = ("the critical path is outside the network" if not in_network else
                   "no more pipelining to add" if nxt is None else
                   f"{MAX_TIMING_TRIES} builds tried")
            progress(f"timing: {report.fmax_mhz:.1f} MHz, target {target:g} MHz missed; "
                     f"keeping this build ({why})")
            return report, network, text
        index = nxt
        every = plan[index]["register_every"]
        progress(f"timing: {report.fmax_mhz:.1f} MHz < {target:g} MHz target, critical path "
                 f"{report.critical_path[0]} -> {report.critical_path[-1]}; retrying with "
                 f"register every {every} levels ({len(pipelining['attempts']) + 1}/"
                 f"{MAX_TIMING_TRIES})")
        top = _board_top(compiled, every, board, baud, lowering)
        network = plan_network(compiled, register_every=every, **lowering)
        text = write_verilog(network, out / "net.v")


def _board_top(compiled, register_every, board, baud, lowering):
    """The UART board top around a lowering of ``compiled``, or :class:`UsageError` when the
    front end cannot serve this net or line rate."""
    network = lower(compiled, register_every=register_every, **lowering)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        try:
            return UartNetworkTop(network, clk_freq=board.clock_mhz * 1e6, baud=baud)
        except ValueError as exc:
            problem = str(exc)
        # The refused top (half made, in reference cycles) and its network were never
        # elaborated: let them go now, without Amaranth's warning after the one-line error.
        del network
        gc.collect()
    raise UsageError(f"cannot build the {board.name} UART top: {problem}")


def _snapshot(out):
    """name -> (inode, size, mtime) of the plain entries of ``out``."""
    snap = {}
    for entry in os.scandir(out):
        st = entry.stat(follow_symlinks=False)
        snap[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return snap


def _read_manifest(out):
    """The file names an earlier lwc build listed in ``out``'s manifest, or ``None`` when the
    manifest is missing, unreadable or lists something that is not a plain name in ``out``."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_TAG:
        return None
    files = data.get("files")
    if not isinstance(files, list):
        return None
    for name in files:
        # Only plain names: a doctored manifest must not make lwc delete outside ``out``.
        if (not isinstance(name, str) or name in ("", ".", "..", MANIFEST) or "/" in name
                or os.sep in name or "\0" in name):
            return None
    return set(files)


def _claim(out, force):
    """The names in ``out`` to remove before building there; refuse a directory lwc does not own.

    Nothing is changed here: the caller removes them once every check has passed.
    """
    if not out.exists() and not out.is_symlink():
        return []
    if not out.is_dir():
        raise UsageError(f"{out}: not a directory; choose another output directory (-o)")
    try:
        entries = list(os.scandir(out))
    except OSError as exc:
        raise UsageError(f"{out}: cannot read the output directory: {exc.strerror or exc}") \
            from None
    present = {entry.name for entry in entries}
    if not present:
        return []
    listed = _read_manifest(out) if MANIFEST in present else None
    # A listed name that is now a directory is not lwc's to remove.
    files = {entry.name for entry in entries if not entry.is_dir(follow_symlinks=False)}
    own = (listed or set()) & files
    foreign = sorted(present - own - ({MANIFEST} if listed is not None else set()))
    if foreign and not force:
        what = "has no lwc manifest" if listed is None else "holds files lwc did not write"
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise UsageError(f"{out}: output directory {what} ({shown}); choose an empty or new "
                         f"directory, or pass --force to build next to them")
    stale = sorted(own)
    if listed is not None:
        stale.append(MANIFEST)
    return stale


def _write_manifest(out, manifest, files, *, complete, error=None):
    data = {"format": _MANIFEST_TAG, "lwc_version": __version__, **manifest,
            "complete": complete, "error": error, "files": files}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, out / MANIFEST)
