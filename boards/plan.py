"""The architecture a board gets: the fastest datapath that the family's resource model fits on
it (:func:`plan_architecture`, the planner :func:`lwc.compiler.driver.compile_design` calls).
"""

from ..compiler import lower as lowering
from ..compiler.architecture import (
    ArchitecturePlan,
    Parallel,
    Streaming,
    check_options,
    requested,
    streaming_features,
)
from .estimate import model_for

__all__ = ["plan_architecture", "LANE_CHOICES"]

#: Lanes tried, most first, when the lanes of a streaming network are chosen for a board.
LANE_CHOICES = (8, 4, 2, 1)


def plan_architecture(compiled, board=None, architecture="auto", *, features_per_cycle=None,
                      lanes=None, progress=print):
    """Choose the datapath of ``compiled`` (a :class:`~lwc.compiler.ir.CompiledNetwork`) for
    ``board``; return an :class:`~lwc.compiler.architecture.ArchitecturePlan`.

    ``parallel`` builds every layer in logic (one inference per clock); ``streaming`` computes
    the first layer from block RAM, ``features_per_cycle`` input features per transfer (default
    :data:`~lwc.compiler.architecture.DEFAULT_FEATURES_PER_CYCLE`) and ``lanes`` neurons at a
    time (default: the most of :data:`LANE_CHOICES` that the estimate fits on ``board``, else 1).
    ``auto`` takes the fastest form that the family's resource model
    (:func:`lwc.boards.estimate.model_for`) fits on ``board``: parallel when it fits, else
    streaming. Without a board, or on a family without a fitted model, nothing is estimated:
    ``auto`` is parallel (see :func:`~lwc.compiler.architecture.requested`).

    Raises
    ------
    UsageError
        Unknown ``architecture``, or streaming options for a parallel datapath.
    """
    check_options(architecture, features_per_cycle, lanes)
    if board is None or architecture == Parallel.name:
        return requested(compiled, architecture, features_per_cycle=features_per_cycle,
                         lanes=lanes)
    model = model_for(board.family)
    if model is None:
        plan = requested(compiled, architecture, features_per_cycle=features_per_cycle,
                         lanes=lanes)
        progress(f"architecture: {plan.architecture.name} (no resource model is fitted for "
                 f"{board.family.title}: nothing estimated)")
        return plan
    capacity = board.capacity
    streaming_options = features_per_cycle is not None or lanes is not None
    if architecture == "auto":
        parallel = model.parallel(compiled)
        if parallel.fits(capacity) and not streaming_options:
            progress(f"architecture: parallel (estimated {parallel.logic_cells:,} of "
                     f"{capacity.logic_cells:,} logic cells)")
            return ArchitecturePlan(Parallel(), parallel)
        progress(f"architecture: parallel would need about {parallel.logic_cells:,} logic cells, "
                 f"the {board.name} has {capacity.logic_cells:,}: streaming")
    features = streaming_features(compiled, features_per_cycle)
    choices = (lanes,) if lanes is not None else LANE_CHOICES
    for count in choices:
        streaming = Streaming(features, count)
        estimate = model.streaming(compiled, lowering.plan(compiled, streaming))
        if estimate.fits(capacity) or count == choices[-1]:
            break
    verdict = "fits" if estimate.fits(capacity) else "does NOT fit"
    progress(f"architecture: streaming, {estimate.lanes} lane(s), {features} features per "
             f"transfer: estimated {estimate.logic_cells:,}/{capacity.logic_cells:,} logic "
             f"cells, {estimate.block_rams}/{capacity.block_rams} block RAMs ({verdict}), "
             f"{estimate.cycles_per_inference:,} cycles per inference")
    return ArchitecturePlan(Streaming(features, estimate.lanes), estimate)
