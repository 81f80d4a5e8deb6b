"""``lwc compile``: a net compiled once, then written as Verilog, built into a board bitstream
behind the UART front end, or synthesized to generic gates for an ASIC.

Products in the output directory: ``net.v`` (the bare network, module ``lwc_net``, for use in
another project); for a board target also the board top as RTLIL (``top.il``), the bitstream
(``top.bin`` on iCE40, ``top.bit`` on ECP5), the toolchain logs, and ``report.json`` (the network
facts under ``"network"`` next to the FPGA figures of :class:`~lwc.boards.build.BuildReport`, and
how the pipelining was chosen under ``"pipelining"``); for ``asic`` the gate netlist
``netlist.v`` and ``report.json`` with :class:`~lwc.boards.asic.AsicReport` under ``"asic"``; and
``lwc-build.json``, the manifest of every file the build wrote (:mod:`lwc.outdir`).

:func:`compile_net` compiles (:func:`design_for`: :func:`lwc.compiler.driver.compile_design`,
the architecture planned for the board by :func:`lwc.boards.plan.plan_architecture`) and calls
:func:`write_design`, which ``lwc demo`` and the Python API (:mod:`lwc.api`) call with the design
they have already compiled.
"""

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from . import weights_image
from .boards import asic
from .boards import compile as board_compile
from .boards.board import Board
from .boards.build import REPORT_FILE, check_args
from .boards.flash import WEIGHTS_FILE
from .boards.plan import check_estimate, plan_architecture
from .boards.pll import board_pll
from .boards.registry import DEFAULT_BOARDS, get_board
from .compiler.architecture import check_options, requested
from .compiler.driver import NetworkFacts, Stopwatch, compile_design
from .compiler.passes import DEFAULT_TABLES
from .errors import UsageError
from .outdir import MANIFEST, OutputDir, claim, fingerprint

__all__ = ["TARGETS", "MANIFEST", "WEIGHTS_FILE", "CompileResult", "resolve_target", "compile_net",
           "design_for", "clock_design", "write_design"]

TARGETS = ("verilog", "ice40", "ecp5", "asic")


@dataclass(frozen=True)
class CompileResult:
    """What :func:`compile_net` wrote: the network ``facts``, the ``verilog`` of ``net.v``, and
    for a board target the :class:`~lwc.boards.build.BuildReport` (``build``) and the report's
    ``pipelining`` entry (a dict), for ``asic`` the :class:`~lwc.boards.asic.AsicReport`."""

    out_dir: str
    facts: NetworkFacts
    verilog: str
    build: object = None
    pipelining: dict = None
    asic: object = None

    def table(self):
        fmax = self.build.fmax_mhz if self.build is not None else None
        parts = [self.facts.table(fmax)]
        if self.pipelining is not None:
            parts.append(board_compile.pipelining_text(self.pipelining))
        if self.build is not None:
            parts.append(self.build.table())
        if self.asic is not None:
            parts.append(self.asic.table())
        return "\n".join(parts)


def _board(board):
    return board if isinstance(board, Board) else get_board(board)


def resolve_target(target, board):
    """``(target, Board or None)`` for the ``target`` and ``board`` (a name or a
    :class:`~lwc.boards.Board`) options, or UsageError."""
    if target is not None and target not in TARGETS:
        raise UsageError(f"unknown target {target!r} (choose from: {', '.join(TARGETS)})")
    if target in ("verilog", "asic"):
        if board is not None:
            raise UsageError(f"--board needs a board target such as --target ice40, not "
                             f"{target}")
        return target, None
    if target is None:
        board_obj = _board(board if board is not None else DEFAULT_BOARDS["ice40"])
        return board_obj.family.name, board_obj
    board_obj = _board(board if board is not None else DEFAULT_BOARDS[target])
    if board_obj.family.name != target:
        raise UsageError(f"board {board_obj.name} is an {board_obj.family.title} board, not "
                         f"{target}: use --target {board_obj.family.name} or leave --target out")
    return target, board_obj


def compile_net(net, out_dir, *, target=None, board=None, clock_mhz=None, seed=1,
                baud=115200, register_every=None, architecture="auto", features_per_cycle=None,
                lanes=None, weights=None, tail=None, dsp=None, share=True,
                tables=DEFAULT_TABLES, force=False, source=None, progress=print):
    """Compile ``net`` (an IR network as loaded from ``net.pt``) once and write ``target``'s
    products into ``out_dir``; return a :class:`CompileResult`.

    ``target`` is ``"verilog"`` (just ``net.v``), ``"ice40"`` or ``"ecp5"`` (bitstream for
    ``board``, by default the family's board in :data:`~lwc.boards.DEFAULT_BOARDS`), or ``"asic"``
    (generic gates, :func:`~lwc.boards.asic.synthesize`); ``None`` means the family of ``board``,
    or ``"ice40"`` without one. ``architecture``, ``features_per_cycle``, ``lanes``, ``weights``,
    ``tail`` and ``dsp`` choose the datapath (:func:`~lwc.boards.plan.plan_architecture`;
    ``auto`` is parallel unless it does not fit the board; ``weights="spram"`` streams from a
    table in SPRAM, loaded from flash at boot: :data:`WEIGHTS_FILE` is written beside the
    bitstream).
    ``share`` builds sub-sums shared by several neurons of a layer once; ``tables`` says which
    neurons are truth tables (:data:`lwc.compiler.passes.TABLES`). For the other options see
    :func:`write_design`.

    Raises
    ------
    UsageError
        Bad option, a net the board top cannot serve, or ``out_dir`` not usable.
    ToolchainError, BuildError
        From the board build or the ASIC synthesis.
    """
    target, board_obj = resolve_target(target, board)
    if board_obj is not None:
        check_args(board_obj, seed, clock_mhz)
    check_options(architecture, features_per_cycle, lanes, weights, tail, dsp)
    # Refuse a directory lwc does not own, or the build of another net, before compiling.
    claim(out_dir, force, net=fingerprint(net))
    if board_obj is not None and board is None:
        progress(f"target {target}: using the default board {board_obj.name} "
                 f"({board_obj.title})")
    progress("compiler: running passes")
    watch = Stopwatch(progress)  # a line per step, with the time, once the compile is slow
    design = design_for(net, board_obj, architecture=architecture,
                        features_per_cycle=features_per_cycle, lanes=lanes, weights=weights,
                        tail=tail, dsp=dsp, register_every=register_every, share=share,
                        tables=tables, progress=progress, stopwatch=watch)
    return write_design(design, out_dir, target=target, board=board_obj, clock_mhz=clock_mhz,
                        seed=seed, baud=baud, force=force, source=source, progress=progress,
                        stopwatch=watch)


def design_for(net, board=None, *, architecture="auto", features_per_cycle=None, lanes=None,
               weights=None, tail=None, dsp=None, register_every=None, share=True,
               tables=DEFAULT_TABLES, progress=print, stopwatch=None):
    """``net`` compiled once (:func:`~lwc.compiler.driver.compile_design`) into the design that
    :func:`compile_net` builds for ``board`` (a :class:`~lwc.boards.Board`, or ``None``).

    A board's resource model chooses the architecture (:func:`~lwc.boards.plan.
    plan_architecture`); without a board, the options do (:func:`~lwc.compiler.architecture.
    requested`). ``stopwatch`` (a :class:`~lwc.compiler.driver.Stopwatch`) times the passes from
    an earlier start; by default from now, reporting through ``progress``.

    Raises
    ------
    UsageError
        Unknown ``architecture``, streaming options that are not positive integers or do not
        apply, or ``register_every`` not ``None`` or a positive integer.
    """
    check_options(architecture, features_per_cycle, lanes, weights, tail, dsp)
    planner = (functools.partial(plan_architecture, board=board, progress=progress)
               if board is not None else requested)
    planner = functools.partial(planner, architecture=architecture,
                                features_per_cycle=features_per_cycle, lanes=lanes,
                                weights=weights, tail=tail, dsp=dsp)
    return compile_design(net, planner=planner, register_every=register_every, share=share,
                          tables=tables,
                          progress=stopwatch if stopwatch is not None else Stopwatch(progress))


def clock_design(design, board, clock_mhz=None, progress=print):
    """``(design, pipelining, pll)``: ``design`` pipelined as a build of ``board`` at
    ``clock_mhz`` (MHz, ``None`` for the board clock) starts, before any attempt is placed.

    A target above the oscillator on a board with a PLL runs the design from it, at the closest
    frequency it makes at or below the target (``pll``, else ``None``); that frequency is the
    target (``pipelining.target_mhz``). The pipelining is :func:`lwc.boards.compile.
    plan_pipelining`'s: ``register_every`` (its first choice, unless the design gives one), and a
    streaming design's lane registers and fold. ``lwc compile`` builds this design (and retries
    with more registers when nextpnr misses the target); ``lwc sim --fmax`` simulates it.
    """
    pll = board_pll(board, clock_mhz)
    if pll is not None:
        clock_mhz = pll.mhz
        progress(f"clock: {pll.text()}")
    pipelining = board_compile.plan_pipelining(design, board, clock_mhz, progress)
    design = design.with_register_every(pipelining.register_every)
    if pipelining.lane_registers is not None:
        design = design.with_lanes(pipelining.lane_registers, pipelining.fold)
    return design, pipelining, pll


def write_design(design, out_dir, *, target=None, board=None, clock_mhz=None, seed=1,
                 baud=115200, force=False, replace=False, source=None, progress=print,
                 stopwatch=None):
    """Write the products of ``design`` (a :class:`~lwc.compiler.driver.CompiledDesign`) for
    ``target`` and ``board`` (as for :func:`compile_net`) into ``out_dir``.

    For a board, ``clock_mhz`` (default: the board clock) is the timing target; when the design
    leaves ``register_every`` to be chosen (``None``), it is chosen for that target and the build
    retried with more pipelining when the target is missed (:mod:`lwc.boards.compile`). A
    design whose resource estimate does not fit the board is refused
    (:func:`~lwc.boards.plan.check_estimate`) unless ``force``. Every option is checked, and the
    design lowered in memory, before anything is written; ``out_dir``
    is treated as :mod:`lwc.outdir` says (``force`` builds next to files lwc did not write, and
    replaces the build of another net; so does ``replace``, for a folder the caller owns, as
    ``lwc demo`` its own). The manifest records the net's
    :func:`~lwc.outdir.fingerprint` and ``source`` (where it was read from, for messages). A
    failed build never leaves a bitstream. ``stopwatch`` (a :class:`~lwc.compiler.driver.
    Stopwatch`) times the writing of ``net.v`` from the start of the compile.
    """
    watch = stopwatch if stopwatch is not None else Stopwatch(progress)
    target, board = resolve_target(target, board)
    if board is not None:
        board, _ = check_args(board, seed, clock_mhz)
        # The estimate decides before anything is written or built: no place-and-route of a
        # design it says does not fit, unless forced.
        check_estimate(design, board, force=force, progress=progress)
    out = Path(out_dir)
    net_id = fingerprint(design.source)
    stale = claim(out, force, net=None if replace else net_id)
    pipelining = top = pll = None
    if board is not None:
        board_compile.check_toolchain(board)
        design, pipelining, pll = clock_design(design, board, clock_mhz, progress)
        if pll is not None:
            clock_mhz = pll.mhz
        top = board_compile.board_top(design, board, baud, pll)
    facts = design.facts
    progress(f"compiler: {facts.nonzero_weights} nonzero weights, {facts.adders} adders, "
             f"latency {facts.latency} cycles")
    manifest = {"target": target, "board": board.name if board else None,
                "device": board.part if board else None,
                **({"pll": pll.to_dict()} if pll is not None else {}),
                "net": {"fingerprint": net_id, "source": None if source is None else str(source)}}
    image = design.weights_image()
    if image is not None:
        manifest["weights"] = {"file": WEIGHTS_FILE, "offset": weights_image.ICEBREAKER_OFFSET,
                               "bytes": len(image)}
    with OutputDir(out, stale, manifest) as out:
        text = design.verilog(out / "net.v")
        watch("Verilog")
        progress(f"wrote {out / 'net.v'}")
        if image is not None:
            (out / WEIGHTS_FILE).write_bytes(image)
            progress(f"wrote {out / WEIGHTS_FILE} ({len(image):,} bytes: the first layer's "
                     f"table, for flash offset 0x{weights_image.ICEBREAKER_OFFSET:X})")
        if target == "asic":
            report = asic.synthesize(out / "net.v", out, progress=progress)
            _write_report(out, {"network": asdict(facts), "asic": report.to_dict()})
            return CompileResult(str(out), facts, text, asic=report)
        if board is None:
            _write_report(out, {"network": asdict(facts)})
            return CompileResult(str(out), facts, text)
        kept = board_compile.build_design(
            design, board, out, top=top, verilog=text, pipelining=pipelining,
            clock_mhz=clock_mhz, seed=seed, baud=baud, pll=pll, progress=progress)
        facts = kept.design.facts
        pipelining = kept.pipelining.to_dict()
        _write_report(out, {"network": asdict(facts), "baud": baud, **kept.report.to_dict(),
                            "pipelining": pipelining})
        return CompileResult(str(out), facts, kept.verilog, kept.report, pipelining)


def _write_report(out, data):
    (out / REPORT_FILE).write_text(json.dumps(data, indent=2) + "\n")
