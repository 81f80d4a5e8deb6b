"""Clock-target pipelining: how many adder levels fit between two registers at a given clock.

The lowered network (:class:`~lwc.hw.TernaryNetwork`) registers once per layer and once after the
argmax; ``register_every=r`` adds a register after every ``r`` adder (or comparator) levels, the
same in every tree, so every path from input to output crosses the same number of registers. This
module predicts the slowest register-to-register stage of each choice of ``r`` with a delay model
per family, and orders the choices so that :func:`lwc.boards.compile.compile_net` can build the
least pipelined one predicted to meet the target, then retry with more registers when nextpnr
says the target was missed.

The delay of a stage of ``L`` adder levels whose widest value has ``W`` bits is modelled as
``fixed + L * level + W * carry`` ns (ripple-carry adders in a tree: each level costs a LUT and
its routing, and the carry of the widest adder ripples once along the stage, the levels
overlapping), plus ``activation`` ns when the stage ends in a layer's activation or in the argmax
output register's multiplexer. An argmax stage of ``L`` comparator levels costs
``fixed + L * compare + W * carry`` (a comparison, then a multiplexer of the value and the index
that the next comparison waits for); split (``register_every`` 1, see
:func:`lwc.hw.plan.argmax_split`), one of ``fixed + split + W * carry`` per level. The constants
come from nextpnr's own timing reports of lwc builds (see ``_MODELS``).
"""

from dataclasses import dataclass
from itertools import combinations

from lwc.compiler.lower import layer_specs
from lwc.hw.adder_tree import range_shape, register_levels, tree_depth
from lwc.hw.layer import layer_plan
from lwc.hw.plan import LANE_REGISTERS, argmax_split

__all__ = ["DelayModel", "LaneModel", "Stage", "stages", "estimate", "register_choices", "plan",
           "lane_stages", "lane_estimate", "lane_registers"]


@dataclass(frozen=True)
class DelayModel:
    """Delays in ns of the parts of a pipeline stage on one FPGA family (see the module text)."""

    fixed: float
    level: float
    compare: float
    carry: float
    activation: float
    split: float

    def stage_ns(self, stage):
        """Predicted delay of ``stage`` (a :class:`Stage`) in ns."""
        per_level = {"compare": self.compare, "split": self.split}.get(stage.kind, self.level)
        return (self.fixed + stage.levels * per_level + stage.width * self.carry
                + (self.activation if stage.activation else 0.0))


# Fitted to nextpnr's critical paths of lwc networks between an LFSR and an output register
# (random nets of 24 x 4-bit and 48 x 2-bit inputs, register_every None, 3, 2, 1). iCE40UP5K
# (icebreaker): 5 adder levels of up to 9 bits plus a clip activation measured 38.6 ns (model
# 37.5), 5 levels of 7 bits plus a step 33.2 ns (37.0), 1, 2, 3 argmax levels 16.7, 25.0, 34.3 ns
# (16.6, 22.1, 33.6); predicted Fmax from 21% below to 13% above nextpnr's on the 8 builds (the
# low end on a 10-class argmax, which the model overrates). LFE5U-85F (ulx3s): 5, 2, 1 adder
# levels plus activation 13.4, 7.6, 6.3 ns (13.5, 8.0, 6.1); Fmax from 14% below to 10% above.
# The ECP5 compare delay is from the MNIST demo net on the ULX3S (lwc compile --fmax 100,
# register_every 4): 4 comparator levels over 10 scores of 8 bits took 21.25 ns, each level a
# carry-chain comparison, then multiplexers whose select fans out over the value and the index.
# A split argmax stage (the multiplexers of registered comparisons, then a comparison) is timed
# as a whole comparator level, not fitted: on the UP5K the MNIST fold net's (lwc compile --fmax
# 48, 8-bit scores) were off the critical path at 48.7-50.7 MHz (seeds 1-3), so at most
# 20.5 ns, where the unsplit level had measured 22.0 ns.
_MODELS = {
    "ice40": DelayModel(fixed=4.0, level=5.6, compare=8.5, carry=0.28, activation=3.0,
                        split=8.5),
    "ecp5": DelayModel(fixed=1.7, level=1.95, compare=4.4, carry=0.06, activation=1.5,
                       split=4.4),
}


@dataclass(frozen=True)
class Stage:
    """Logic between two registers: ``levels`` adder (``kind`` ``"add"``) or comparator
    (``"compare"``: a comparison and the multiplexers it selects; ``"split"``: the multiplexers
    of registered comparisons, then a comparison, see :func:`lwc.hw.plan.argmax_split`) levels
    over values of at most ``width`` bits, ending in an activation or the argmax output
    multiplexer when ``activation``."""

    where: str
    levels: int
    width: int
    activation: bool
    kind: str = "add"


def _split(levels, registers):
    """``(first, last)`` adder levels (1-based) of each stage of a tree of ``levels`` levels with
    registers after ``registers``."""
    bounds = [0, *registers, levels]
    return [(lo + 1, hi) for lo, hi in zip(bounds, bounds[1:])]


def stages(net, register_every, *, first=0):
    """The register stages of ``lower(net, register_every=register_every)``, from layer
    ``first`` on (1 for a streaming network, whose first layer is its lanes: see
    :func:`lane_stages`).

    ``net`` has been through :func:`lwc.compiler.passes.run` (every ``sum_range`` known).

    Returns
    -------
    list of Stage
    """
    result = []
    ranges = [(0, (1 << net.input.bits) - 1)] * len(net.input_map)
    for index, spec in enumerate(layer_specs(net)):
        plan = layer_plan(spec, ranges, register_every if index >= first else None)
        if index < first:
            ranges = plan.output_ranges
            continue
        in_width = max((range_shape(lo, hi).width for lo, hi in ranges), default=1)
        sum_width = max((range_shape(lo, hi).width for lo, hi in plan.sum_ranges), default=1)
        for low, last in _split(plan.levels, plan.registers):
            # Each adder level widens its operands by at most one bit.
            width = min(sum_width, in_width + last)
            end = last == plan.levels
            result.append(Stage(f"layer {index} levels {low}-{last}", last - low + 1, width,
                                end))
        if plan.levels == 0:
            result.append(Stage(f"layer {index} activation", 0, sum_width, True))
        ranges = plan.output_ranges
    score_width = max(range_shape(lo, hi).width for lo, hi in ranges)
    levels = tree_depth(len(ranges))
    if argmax_split(len(ranges), register_every):
        # A comparison per stage, after the previous level's multiplexers; then the last one's.
        result += [Stage(f"argmax level {level}", 1, score_width, False, "split")
                   for level in range(1, levels + 1)]
        result.append(Stage("argmax output multiplexer", 0, score_width, True, "split"))
        return result
    for low, last in _split(levels, register_levels(levels, register_every)):
        if last >= low:
            result.append(Stage(f"argmax levels {low}-{last}", last - low + 1, score_width,
                                last == levels, "compare"))
    return result


def estimate(net, register_every, family, *, first=0):
    """``(mhz, stage)``: the predicted Fmax of ``lower(net, register_every=register_every)`` on
    ``family`` (a :class:`~lwc.boards.family.Family` or its name) and its slowest stage, counting
    the layers from ``first`` on (see :func:`stages`)."""
    model = _MODELS[getattr(family, "name", family)]
    worst = max(stages(net, register_every, first=first), key=model.stage_ns)
    return 1000.0 / model.stage_ns(worst), worst


def register_choices(net, *, first=0):
    """The values of ``register_every`` that give different pipelines, least pipelined first:
    ``None`` (one register per layer), then ``L - 1`` down to ``1`` for the deepest tree ``L``
    (of the layers from ``first`` on, and the argmax)."""
    deepest = max(max((s.levels for s in stages(net, None, first=first)), default=1), 1)
    return [None, *range(deepest - 1, 0, -1)]


def plan(net, target_mhz, family, *, first=0):
    """The ``register_every`` values to build, in order, to reach ``target_mhz`` on ``family``
    (the layers from ``first`` on: 1 for a streaming network).

    The first is the least pipelined choice predicted to meet the target (the most pipelined one
    when none is); the rest are the more pipelined choices after it, for retries.

    Returns
    -------
    list of (register_every, predicted_mhz)
    """
    choices = [(r, estimate(net, r, family, first=first)[0])
               for r in register_choices(net, first=first)]
    first = next((k for k, (_, mhz) in enumerate(choices) if mhz >= target_mhz),
                 len(choices) - 1)
    return choices[first:]


# The lanes of a streaming network (lwc.hw.streaming): an entry goes from the entry memory through
# the decoder and the index adder to the image buffer's address, then from the image buffer
# through the feature multiplexer into the accumulator. Each of the lane registers
# (lwc.hw.plan.LANE_REGISTERS) cuts that path in one more place.

@dataclass(frozen=True)
class LaneModel:
    """Delays in ns of the parts of a streaming lane on one FPGA family: ``memory`` a block RAM's
    clock to output and the routing from it, ``setup`` the routing into a block RAM's address,
    ``fixed`` a register-to-register stage's own cost (clock to output, setup), ``lut`` a LUT
    and its routing, ``carry`` one bit of a carry chain."""

    memory: float
    setup: float
    fixed: float
    lut: float
    carry: float


# iCE40UP5K: fitted to nextpnr's critical paths of the MNIST streaming net's lanes (784 x 2 bit,
# 8 features per transfer, 4 lanes, PLL at 48 MHz; docs/benchmarks.md, "The UP5K at 48 MHz"):
# without lane registers the entry read, decoder, index adder and image address measured
# 26.3 ns (model 26.3); with the index and pixel registers the entry read, decoder, index adder
# and multiplexer into the index register 21.0 ns (model 21.0; 20.1 before it was fitted, which
# chose those two registers for 48 MHz and missed); with every register the lanes were off the
# critical path (50.0 MHz).
# ECP5: scaled from the iCE40 constants by DelayModel's ratios, not fitted.
_LANE_MODELS = {
    "ice40": LaneModel(memory=6.7, setup=5.3, fixed=2.5, lut=3.0, carry=0.28),
    "ecp5": LaneModel(memory=2.5, setup=1.0, fixed=1.0, lut=1.0, carry=0.06),
}


def lane_stages(hardware, registers, family):
    """``[(where, ns)]``: the register-to-register stages of the lanes of the streaming plan
    ``hardware`` (a :class:`~lwc.hw.plan.StreamingPlan`) with the lane registers ``registers``
    on ``family``, and each one's predicted delay (with a folded second layer, its stages too)."""
    model = _LANE_MODELS[getattr(family, "name", family)]
    index_width = max(hardware.position(hardware.input_count - 1), 1).bit_length()
    acc_width = max((range_shape(*lane.acc_range).width for lane in hardware.lane_plans),
                    default=1)
    select_levels = -(-hardware.pos_bits // 2)  # a LUT4 level per two select bits
    # The path in order, with the registers that may cut it between its parts; the image
    # buffer's read always does.
    parts = [
        ("entry read", model.memory),
        "entry",
        ("decoder", model.lut),
        ("index adder", model.lut + index_width * model.carry),
        ("index multiplexer", model.lut),
        "index",
        ("image address", model.setup),
        "image",
        ("image read", model.memory),
        ("feature multiplexer", select_levels * model.lut),
        "pixel",
        ("accumulator", 2 * model.lut + acc_width * model.carry),
    ]
    result, where, ns = [], [], model.fixed
    for part in parts:
        if isinstance(part, str):
            if part in registers or part == "image":
                result.append((" + ".join(where), ns))
                where, ns = [], model.fixed
            continue
        where.append(part[0])
        ns += part[1]
    result.append((" + ".join(where), ns))
    if hardware.fold:
        # The folded second layer: each lane's term from its weight ROM, the lanes' terms
        # added, the accumulators.
        fold_width = max(range_shape(*r).width for r in hardware.fold_ranges)
        result += [
            ("fold term", model.fixed + model.memory + model.lut),
            ("fold lane sum", model.fixed + max(tree_depth(hardware.lanes), 1) * model.lut
             + fold_width * model.carry),
            ("fold accumulator", model.fixed + 2 * model.lut + fold_width * model.carry),
        ]
    return result


def lane_estimate(hardware, registers, family):
    """``(mhz, where)``: the predicted Fmax of the lanes of ``hardware`` with ``registers`` on
    ``family`` and their slowest stage."""
    where, ns = max(lane_stages(hardware, registers, family), key=lambda stage: stage[1])
    return 1000.0 / ns, where


def lane_registers(hardware, target_mhz, family):
    """``(registers, predicted_mhz)``: the fewest lane registers (each costs a cycle per
    inference) whose lanes are predicted to reach ``target_mhz`` on ``family``, of equal counts
    the fastest; all of them when none reaches it."""
    best = None
    for count in range(len(LANE_REGISTERS) + 1):
        for registers in combinations(LANE_REGISTERS, count):
            mhz = lane_estimate(hardware, registers, family)[0]
            if best is None or mhz > best[1]:
                best = (registers, mhz)
        if best[1] >= target_mhz:
            return best
    return best
