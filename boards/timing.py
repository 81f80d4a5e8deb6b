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
that the next comparison waits for). The constants come from nextpnr's own timing reports of lwc
builds (see ``_MODELS``).
"""

from dataclasses import dataclass

from lwc.compiler.lower import layer_specs
from lwc.hw.adder_tree import range_shape, register_levels, tree_depth
from lwc.hw.layer import layer_plan

__all__ = ["DelayModel", "Stage", "stages", "estimate", "register_choices", "plan"]


@dataclass(frozen=True)
class DelayModel:
    """Delays in ns of the parts of a pipeline stage on one FPGA family (see the module text)."""

    fixed: float
    level: float
    compare: float
    carry: float
    activation: float

    def stage_ns(self, stage):
        """Predicted delay of ``stage`` (a :class:`Stage`) in ns."""
        per_level = self.compare if stage.kind == "compare" else self.level
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
_MODELS = {
    "ice40": DelayModel(fixed=4.0, level=5.6, compare=8.5, carry=0.28, activation=3.0),
    "ecp5": DelayModel(fixed=1.7, level=1.95, compare=4.4, carry=0.06, activation=1.5),
}


@dataclass(frozen=True)
class Stage:
    """Logic between two registers: ``levels`` adder (``kind`` ``"add"``) or comparator
    (``"compare"``) levels over values of at most ``width`` bits, ending in an activation or the
    argmax output multiplexer when ``activation``."""

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


def stages(net, register_every):
    """The register stages of ``lower(net, register_every=register_every)``.

    ``net`` has been through :func:`lwc.compiler.passes.run` (every ``sum_range`` known).

    Returns
    -------
    list of Stage
    """
    result = []
    ranges = [(0, (1 << net.input.bits) - 1)] * len(net.input_map)
    for index, spec in enumerate(layer_specs(net)):
        plan = layer_plan(spec, ranges, register_every)
        in_width = max((range_shape(lo, hi).width for lo, hi in ranges), default=1)
        sum_width = max((range_shape(lo, hi).width for lo, hi in plan.sum_ranges), default=1)
        for first, last in _split(plan.levels, plan.registers):
            # Each adder level widens its operands by at most one bit.
            width = min(sum_width, in_width + last)
            end = last == plan.levels
            result.append(Stage(f"layer {index} levels {first}-{last}", last - first + 1, width,
                                end))
        if plan.levels == 0:
            result.append(Stage(f"layer {index} activation", 0, sum_width, True))
        ranges = plan.output_ranges
    score_width = max(range_shape(lo, hi).width for lo, hi in ranges)
    levels = tree_depth(len(ranges))
    for first, last in _split(levels, register_levels(levels, register_every)):
        if last >= first:
            result.append(Stage(f"argmax levels {first}-{last}", last - first + 1, score_width,
                                last == levels, "compare"))
    return result


def estimate(net, register_every, family):
    """``(mhz, stage)``: the predicted Fmax of ``lower(net, register_every=register_every)`` on
    ``family`` (a :class:`~lwc.boards.family.Family` or its name) and its slowest stage."""
    model = _MODELS[getattr(family, "name", family)]
    worst = max(stages(net, register_every), key=model.stage_ns)
    return 1000.0 / model.stage_ns(worst), worst


def register_choices(net):
    """The values of ``register_every`` that give different pipelines, least pipelined first:
    ``None`` (one register per layer), then ``L - 1`` down to ``1`` for the deepest tree ``L``."""
    deepest = max(max(s.levels for s in stages(net, None)), 1)
    return [None, *range(deepest - 1, 0, -1)]


def plan(net, target_mhz, family):
    """The ``register_every`` values to build, in order, to reach ``target_mhz`` on ``family``.

    The first is the least pipelined choice predicted to meet the target (the most pipelined one
    when none is); the rest are the more pipelined choices after it, for retries.

    Returns
    -------
    list of (register_every, predicted_mhz)
    """
    choices = [(r, estimate(net, r, family)[0]) for r in register_choices(net)]
    first = next((k for k, (_, mhz) in enumerate(choices) if mhz >= target_mhz),
                 len(choices) - 1)
    return choices[first:]
