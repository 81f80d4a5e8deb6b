"""The architecture a board gets: the fastest datapath that the family's resource model fits on
it (:func:`plan_architecture`, the planner :func:`lwc.compiler.driver.compile_design` calls).
"""

from dataclasses import replace

from ..compiler import lower as lowering
from ..compiler.architecture import (
    ArchitecturePlan,
    Parallel,
    Streaming,
    check_options,
    requested,
    streaming_features,
    streaming_requested,
)
from ..errors import BuildError, UsageError
from .estimate import LOGIC_MARGIN, model_for

__all__ = ["plan_architecture", "LANE_CHOICES", "fit_text", "design_estimate",
           "check_estimate"]

#: Lanes tried, most first, when the lanes of a streaming network are chosen for a board.
LANE_CHOICES = (8, 4, 2, 1)


def plan_architecture(compiled, board=None, architecture="auto", *, features_per_cycle=None,
                      lanes=None, weights=None, tail=None, dsp=None, progress=print):
    """Choose the datapath of ``compiled`` (a :class:`~lwc.compiler.ir.CompiledNetwork`) for
    ``board``; return an :class:`~lwc.compiler.architecture.ArchitecturePlan`.

    ``parallel`` builds every layer in logic (one inference per clock); ``streaming`` computes
    the first layer from block RAM, ``features_per_cycle`` input features per transfer (default
    :data:`~lwc.compiler.architecture.DEFAULT_FEATURES_PER_CYCLE`) and ``lanes`` neurons at a
    time (default: the most of :data:`LANE_CHOICES` that the estimate fits on ``board``, else 1).
    ``auto`` takes the fastest form that the family's resource model
    (:func:`lwc.boards.estimate.model_for`) fits on ``board``: parallel when it fits, else
    streaming. Without a board, or on a family without a fitted model, nothing is estimated:
    ``auto`` is parallel (see :func:`~lwc.compiler.architecture.requested`). ``weights``
    (``"bram"`` by default, or ``"spram"``) is where a streaming network's first-layer table is
    stored; ``"spram"`` asks for streaming and a board with SPRAM. ``tail`` (``"auto"`` by
    default, ``"parallel"``, ``"fold"`` or ``"sequential"``, :data:`~lwc.compiler.architecture.
    TAILS`) is how a streaming network's layer after the first is built; ``auto`` takes the
    parallel one (fewer cycles) for each lane count unless only the sequential one fits (a
    clock target may then fold it, :func:`lwc.boards.compile.plan_pipelining`). ``dsp``
    (``"off"`` by default, or ``"auto"``, :data:`~lwc.compiler.architecture.DSPS`) lets a
    streaming network's accumulators take the board's DSP blocks where the estimate finds they
    save logic cells.

    Raises
    ------
    UsageError
        Unknown ``architecture`` or ``weights``, streaming options for a parallel datapath, or
        ``weights="spram"`` for a board without SPRAM.
    """
    check_options(architecture, features_per_cycle, lanes, weights, tail, dsp)
    if weights == "spram" and board is not None and not board.capacity.spram:
        raise UsageError(f"--weights spram needs a board with SPRAM (an iCE40 UltraPlus, such "
                         f"as the icebreaker); the {board.name} ({board.part}) has none")
    if board is None or architecture == Parallel.name:
        return requested(compiled, architecture, features_per_cycle=features_per_cycle,
                         lanes=lanes, weights=weights, tail=tail, dsp=dsp)
    model = model_for(board.family)
    if model is None:
        plan = requested(compiled, architecture, features_per_cycle=features_per_cycle,
                         lanes=lanes, weights=weights, tail=tail, dsp=dsp)
        progress(f"architecture: {plan.architecture.name} (no resource model is fitted for "
                 f"{board.family.title}: nothing estimated)")
        return plan
    capacity = board.capacity
    streaming_options = streaming_requested(features_per_cycle, lanes, weights, tail)
    if architecture == "auto":
        parallel = model.parallel(compiled)
        if parallel.fits(capacity) and not streaming_options:
            progress(f"architecture: parallel, 1 inference per cycle: estimated "
                     f"{parallel.logic_cells:,}/{capacity.logic_cells:,} logic cells: "
                     f"{fit_text(parallel, board)}")
            return ArchitecturePlan(Parallel(), parallel)
        if not parallel.fits(capacity):
            progress(f"architecture: parallel would need about {parallel.logic_cells:,} logic "
                     f"cells, the {board.name} has {capacity.logic_cells:,}: streaming")
    features = streaming_features(compiled, features_per_cycle)
    choices = (lanes,) if lanes is not None else LANE_CHOICES
    # The tails tried for each lane count, fastest first: a sequential one only where the output
    # layer directly follows the first.
    tails = ((tail,) if tail not in (None, "auto") else
             ("parallel", "sequential") if len(compiled.layers) == 2 else ("parallel",))
    blocks = capacity.dsp if dsp == "auto" else 0
    for count in choices:
        for kind in tails:
            streaming, estimate = _streaming_estimate(compiled, model, blocks, features, count,
                                                      weights or "bram", kind)
            if estimate.fits(capacity):
                break
        if estimate.fits(capacity) or count == choices[-1]:
            break
    progress(f"architecture: streaming, {estimate.lanes} lane(s), {features} features per "
             f"transfer, "
             + ({"sequential": "sequential output layer, ",
                 "fold": "second layer folded into the lanes, "}.get(streaming.tail, ""))
             + f"{estimate.cycles_per_inference:,} cycles per inference: estimated "
             f"{estimate.logic_cells:,}/{capacity.logic_cells:,} logic cells, "
             f"{estimate.block_rams}/{capacity.block_rams} block RAMs"
             + (f", {estimate.spram_blocks}/{capacity.spram} SPRAM blocks"
                if streaming.weights == "spram" else "")
             + (f", {estimate.dsp_blocks}/{capacity.dsp} DSP blocks" if streaming.dsp else "")
             + f": {fit_text(estimate, board)}")
    return ArchitecturePlan(Streaming(features, estimate.lanes, streaming.weights,
                                      tail=streaming.tail, dsp=streaming.dsp), estimate)


def _streaming_estimate(compiled, model, blocks, *options):
    """``(Streaming, Estimate)`` of the streaming network of ``options`` (features, lanes,
    weights, tail), its accumulators in up to ``blocks`` DSP blocks when the estimate finds that
    saves logic cells, else in logic."""
    streaming = Streaming(*options[:3], tail=options[3])
    estimate = model.streaming(compiled, lowering.plan(compiled, streaming))
    if blocks:
        mapped = Streaming(*options[:3], tail=options[3], dsp=blocks)
        hardware = lowering.plan(compiled, mapped)
        if hardware.dsp_blocks:
            with_dsp = model.streaming(compiled, hardware)
            if with_dsp.logic_cells < estimate.logic_cells:
                return replace(mapped, dsp=hardware.dsp_blocks), with_dsp
    return streaming, estimate


def fit_text(estimate, board):
    """``fits``, or ``does NOT fit: `` and each resource short, by how much (the one wording of
    the fit verdict, :meth:`~lwc.boards.estimate.Estimate.overruns`)."""
    over = estimate.overruns(board.capacity)
    return "does NOT fit: " + _shortfall(over, board) if over else "fits"


def _shortfall(over, board):
    parts = []
    for what, needed, limit, available in over:
        room = (f"the {limit:,} place-and-route can fill ({LOGIC_MARGIN:.0%} of {available:,})"
                if limit != available else f"the {available:,} the {board.name} has")
        parts.append(f"{needed:,} {what} is {needed - limit:,} more than {room}")
    return "; ".join(parts)


def design_estimate(design, board):
    """The resource estimate of ``design`` (a :class:`~lwc.compiler.driver.CompiledDesign`) on
    ``board``: the one its architecture was chosen on, else the family model's for its datapath;
    ``None`` on a family without a fitted model."""
    model = model_for(board.family)
    if model is None:
        return None
    if design.estimate is not None:
        return design.estimate
    if isinstance(design.architecture, Streaming):
        return model.streaming(design.network, design.hardware)
    return model.parallel(design.network)


def check_estimate(design, board, *, force=False, progress=print):
    """Refuse ``design`` on ``board`` before anything is built when its estimate does not fit
    (:func:`fit_text` says which resource, by how much), unless ``force``, which builds it
    anyway and says so. Returns the estimate (``None`` without a model).

    Raises
    ------
    BuildError
        One line: the board, the verdict, and what to do.
    """
    estimate = design_estimate(design, board)
    over = () if estimate is None else estimate.overruns(board.capacity)
    if not over:
        return estimate
    where = f"the {board.name} ({board.part})"
    if force:
        progress(f"estimate: the {estimate.architecture} design does NOT fit {where}: "
                 f"{_shortfall(over, board)}; building anyway (--force)")
        return estimate
    raise BuildError(f"the {estimate.architecture} design does not fit {where} by the "
                     f"estimate: {_shortfall(over, board)}; choose a larger board or a smaller "
                     f"network, or pass --force to try place-and-route anyway")
