"""The datapath a network is built as: plain values that lowering, simulation, the estimator and
the board build dispatch on (by type, never by name).

:class:`Parallel` builds every layer in logic, one inference per clock;
:class:`Streaming` computes the first layer from block RAM, ``features_per_cycle`` input features
per transfer and ``lanes`` neurons at a time (:class:`~lwc.hw.StreamingNetwork`).
:func:`requested` turns the user's options into one of them when no board decides (``auto``
without a board is parallel); :func:`lwc.boards.plan.plan_architecture` decides for a board.
"""

from dataclasses import dataclass
from typing import ClassVar

from lwc.errors import UsageError

__all__ = ["Parallel", "Streaming", "PARALLEL", "ArchitecturePlan", "ARCHITECTURES", "CHOICES",
           "WEIGHTS", "TAILS", "DSPS", "DEFAULT_FEATURES_PER_CYCLE", "check_options",
           "streaming_features", "streaming_requested", "requested"]

#: Features per transfer of a streaming network unless chosen: a 16-bit block RAM word of the
#: UART front end's frame at 2-bit inputs, and few testbench transfers per vector.
DEFAULT_FEATURES_PER_CYCLE = 8
#: Where a streaming network's first-layer weight table is stored (``lwc compile --weights``):
#: ``bram``, ROMs in block RAM that the bitstream initialises (the default); ``spram``, the iCE40
#: UltraPlus SPRAM, loaded from the board's SPI flash at boot (``weights.bin``, docs/spram.md).
WEIGHTS = ("bram", "spram")
#: How a streaming network's layer after the first is built (``lwc compile --tail``):
#: ``parallel``, in logic (a compressor or adder tree per neuron); ``fold``, folded into the
#: lanes: per neuron an accumulator that adds each activation as a lane makes it, times its
#: weight from a small ROM per lane (:attr:`~lwc.hw.plan.StreamingPlan.fold`; no trees, no
#: cycle more than 3 per inference); ``sequential``, one first-layer neuron per lane per clock
#: after the lanes, from a block-RAM ROM of output weights (only when the output layer follows
#: the first, :class:`~lwc.hw.plan.TailPlan`; the fewest logic cells, about as many more cycles
#: per inference as the longest lane has neurons); ``auto``, sequential when a board's resource
#: model finds the parallel one does not fit and the sequential one does (parallel without a
#: board), then folded when a clock target's timing model finds the trees too slow.
TAILS = ("auto", "parallel", "fold", "sequential")
#: Whether a streaming network's accumulators may go to DSP blocks (``lwc compile --dsp``):
#: ``off`` (the default), all in logic; ``auto``, on a board with DSP blocks (the iCE40
#: UltraPlus's ``SB_MAC16``) as many as they hold when the board's resource model finds that
#: it saves logic cells (:attr:`Streaming.dsp`).
DSPS = ("off", "auto")


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class Parallel:
    """Every layer in logic (:class:`~lwc.hw.TernaryNetwork`): one inference per clock."""

    name: ClassVar[str] = "parallel"

    def describe(self):
        return "parallel: every layer in logic, 1 inference per cycle"


@dataclass(frozen=True)
class Streaming:
    """The first layer computed one weight per clock per lane from block RAM
    (:class:`~lwc.hw.StreamingNetwork`), the later layers in logic.

    ``lanes`` is the number asked for; the hardware builds fewer when the first layer has fewer
    neurons that are not constant (its ``lanes`` property). ``weights`` (one of :data:`WEIGHTS`)
    is where the first layer's weight table is stored. ``lane_registers`` names the pipeline
    registers each lane adds for a faster clock (:data:`lwc.hw.plan.LANE_REGISTERS`; chosen for
    a board's clock target by :func:`lwc.boards.timing.lane_registers`); ``tail``
    (``parallel``, ``fold`` or ``sequential``, see :data:`TAILS`) how the layer after the first
    is built. ``dsp`` is the number of DSP blocks (an iCE40 UltraPlus's ``SB_MAC16``) the
    accumulators may take (:attr:`lwc.hw.plan.StreamingPlan.dsp_lanes`; 0: none, all in logic).
    """

    features_per_cycle: int = DEFAULT_FEATURES_PER_CYCLE
    lanes: int = 1
    weights: str = "bram"
    lane_registers: tuple = ()
    tail: str = "parallel"
    dsp: int = 0
    name: ClassVar[str] = "streaming"

    @property
    def fold(self):
        """Whether the second layer is folded into the lanes (``tail="fold"``)."""
        return self.tail == "fold"

    def __post_init__(self):
        _check_positive("features_per_cycle", self.features_per_cycle)
        _check_positive("lanes", self.lanes)
        _check_weights(self.weights)
        if self.tail not in TAILS[1:]:
            raise UsageError(f"unknown tail {self.tail!r} (choose from: {', '.join(TAILS[1:])})")
        if isinstance(self.dsp, bool) or not isinstance(self.dsp, int) or self.dsp < 0:
            raise UsageError(f"dsp must be a number of DSP blocks, not {self.dsp!r}")


def _check_weights(weights):
    if weights not in WEIGHTS:
        raise UsageError(f"unknown weight storage {weights!r} (choose from: "
                         f"{', '.join(WEIGHTS)})")


#: The parallel architecture (it has no parameters): the default of lowering and compiling.
PARALLEL = Parallel()
#: The names of the architectures (the values' ``name``), in the CLI's order.
ARCHITECTURES = (Parallel.name, Streaming.name)
#: What the user may ask for: an architecture, or ``auto`` (the fastest that fits the board).
CHOICES = ("auto", *ARCHITECTURES)


@dataclass(frozen=True)
class ArchitecturePlan:
    """A chosen ``architecture`` (:class:`Parallel` or :class:`Streaming`) and the resource
    ``estimate`` it was chosen on (``None`` when nothing was estimated)."""

    architecture: Parallel | Streaming
    estimate: object = None


def check_options(architecture, features_per_cycle=None, lanes=None, weights=None, tail=None,
                  dsp=None):
    """Refuse an unknown ``architecture`` (one of :data:`CHOICES`), ``weights`` (one of
    :data:`WEIGHTS`, ``None`` for the default), ``tail`` (one of :data:`TAILS`, ``None`` for
    ``auto``) or ``dsp`` (one of :data:`DSPS`, ``None`` for ``off``), or streaming options that
    are not positive integers or do not apply."""
    if dsp is not None and dsp not in DSPS:
        raise UsageError(f"unknown dsp {dsp!r} (choose from: {', '.join(DSPS)})")
    if tail is not None and tail not in TAILS:
        raise UsageError(f"unknown tail {tail!r} (choose from: {', '.join(TAILS)})")
    if architecture == Parallel.name and tail in ("fold", "sequential"):
        raise UsageError(f"--tail {tail} builds the streaming architecture's layer after the "
                         "lanes; a parallel network has no lanes")
    if architecture not in CHOICES:
        raise UsageError(f"unknown architecture {architecture!r} (choose from: "
                         f"{', '.join(CHOICES)})")
    for name, value in (("features_per_cycle", features_per_cycle), ("lanes", lanes)):
        if value is not None:
            _check_positive(name, value)
    if weights is not None:
        _check_weights(weights)
    if architecture == Parallel.name and (features_per_cycle is not None or lanes is not None):
        raise UsageError("--features-per-cycle and --lanes apply to the streaming "
                         "architecture, not parallel")
    if architecture == Parallel.name and weights == "spram":
        raise UsageError("--weights spram stores the streaming architecture's first-layer "
                         "table; a parallel network has no table")


def streaming_requested(features_per_cycle=None, lanes=None, weights=None, tail=None):
    """Whether these options only make sense for a streaming network (``auto`` then streams)."""
    return (features_per_cycle is not None or lanes is not None or weights == "spram"
            or tail in ("fold", "sequential"))


def streaming_features(compiled, features_per_cycle=None):
    """Input features per transfer of a streaming ``compiled`` net: ``features_per_cycle``
    (default :data:`DEFAULT_FEATURES_PER_CYCLE`), at most its input count."""
    return min(features_per_cycle or DEFAULT_FEATURES_PER_CYCLE, compiled.input.count)


def requested(compiled, architecture="auto", *, features_per_cycle=None, lanes=None,
              weights=None, tail=None, dsp=None):
    """The :class:`ArchitecturePlan` for these options when no board decides: ``auto`` is
    parallel unless a streaming option is given (``--weights spram`` is one); a streaming
    network takes ``features_per_cycle`` (default :data:`DEFAULT_FEATURES_PER_CYCLE`, at most
    the input count), ``lanes`` (default 1), ``weights`` (default ``bram``) and ``tail``
    (``auto`` is ``parallel`` here); without a board there are no DSP blocks (``dsp`` is only
    checked)."""
    check_options(architecture, features_per_cycle, lanes, weights, tail, dsp)
    streaming_options = streaming_requested(features_per_cycle, lanes, weights, tail)
    if architecture == Parallel.name or (architecture == "auto" and not streaming_options):
        return ArchitecturePlan(Parallel())
    return ArchitecturePlan(Streaming(streaming_features(compiled, features_per_cycle), lanes or 1,
                                      weights or "bram",
                                      tail="parallel" if tail in (None, "auto") else tail))
