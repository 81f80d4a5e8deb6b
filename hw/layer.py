"""One layer of neurons: adder trees, activations, and a registered output stage."""

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .adder_tree import (
    AdderTree,
    _check_register_every,
    range_shape,
    register_levels,
    tree_depth,
    weighted_sum_range,
)

__all__ = ["ACTIVATION_PARAMS", "ActivationSpec", "NeuronSpec", "LayerSpec", "TernaryLayer",
           "layer_plan"]

#: Activation kinds and the names of the integer parameters each neuron carries for them.
ACTIVATION_PARAMS = {
    "step": ("threshold",),  # a = 1 if s >= t else 0
    "ternary": ("lo", "hi"),  # a = +1 if s >= hi, -1 if s <= lo, else 0
    "clip": ("threshold",),  # a = clamp((s - t) >> shift, 0, 2**bits - 1), >> floors
    "linear": ("bias",),  # a = s + b
}


@dataclass(frozen=True)
class ActivationSpec:
    """A layer's activation; ``shift`` and ``bits`` are used by ``clip`` only."""

    kind: str
    shift: int = 0
    bits: int = 1

    def __post_init__(self):
        if self.kind not in ACTIVATION_PARAMS:
            raise ValueError(f"Activation kind must be one of {', '.join(ACTIVATION_PARAMS)}, "
                             f"not {self.kind!r}")
        if not (isinstance(self.shift, int) and self.shift >= 0):
            raise ValueError(f"Clip shift must be a non-negative integer, not {self.shift!r}")
        if not (isinstance(self.bits, int) and self.bits >= 1):
            raise ValueError(f"Clip bits must be a positive integer, not {self.bits!r}")

    def value(self, params, s):
        """The activation of the integer sum ``s``; non-decreasing in ``s``."""
        if self.kind == "step":
            return int(s >= params[0])
        if self.kind == "ternary":
            return 1 if s >= params[1] else (-1 if s <= params[0] else 0)
        if self.kind == "clip":
            return min(max((s - params[0]) >> self.shift, 0), (1 << self.bits) - 1)
        return s + params[0]

    def output_range(self, params, sum_range):
        """Exact interval of the activation over the sum interval ``sum_range``."""
        return self.value(params, sum_range[0]), self.value(params, sum_range[1])


@dataclass(frozen=True)
class NeuronSpec:
    """One neuron: indices it reads from the previous layer (strictly increasing), a nonzero weight
    per index, its activation parameters, and ``origin`` (its index as trained; names signals)."""

    inputs: tuple[int, ...]
    weights: tuple[int, ...]
    params: tuple[int, ...]
    origin: int


@dataclass(frozen=True)
class LayerSpec:
    activation: ActivationSpec
    neurons: tuple[NeuronSpec, ...]


def _check_spec(spec, input_count):
    kind = spec.activation.kind
    origins = set()
    for n in spec.neurons:
        where = f"Neuron {n.origin}"
        if n.origin in origins:
            raise ValueError(f"{where}: origins must be unique within a layer")
        origins.add(n.origin)
        if len(n.inputs) != len(n.weights):
            raise ValueError(f"{where}: {len(n.inputs)} inputs for {len(n.weights)} weights")
        if not all(0 <= i < input_count for i in n.inputs) or \
                any(a >= b for a, b in zip(n.inputs, n.inputs[1:])):
            raise ValueError(f"{where}: inputs must be strictly increasing indices below "
                             f"{input_count}, not {n.inputs!r}")
        if len(n.params) != len(ACTIVATION_PARAMS[kind]):
            raise ValueError(f"{where}: {kind} needs {len(ACTIVATION_PARAMS[kind])} "
                             f"parameter(s), not {n.params!r}")
        if kind == "ternary" and not n.params[0] < n.params[1]:
            raise ValueError(f"{where}: ternary needs lo < hi, not {n.params!r}")


def layer_plan(spec, input_ranges, register_every):
    """``(sum_ranges, output_ranges, levels, tree_latency)`` of the :class:`TernaryLayer` these
    arguments build, without building it."""
    _check_spec(spec, len(input_ranges))
    sums = tuple(weighted_sum_range([input_ranges[i] for i in n.inputs], n.weights)
                 for n in spec.neurons)
    outs = tuple(spec.activation.output_range(n.params, s) for n, s in zip(spec.neurons, sums))
    levels = max((tree_depth(len(n.inputs)) for n in spec.neurons), default=0)
    return sums, outs, levels, len(register_levels(levels, register_every))


class TernaryLayer(wiring.Component):
    """The neurons of one layer: each an :class:`AdderTree` over its receptive field, then its
    activation, then a register (enabled by ``en``) unless its output is constant.

    Every width is exact for the value ranges that flow through it, computed from
    ``input_ranges`` by interval arithmetic. Trees are laid out over the same number of levels, so
    all neurons of the layer have the same ``latency``.

    Outputs by activation kind: ``step`` gives 0/1, ``ternary`` -1/0/+1 (signed 2-bit when both
    signs occur), ``clip`` an unsigned value of at most ``bits`` bits, ``linear`` the sum plus the
    bias. A neuron whose output is constant over its input ranges has neither tree nor register.

    Parameters
    ----------
    spec : LayerSpec
    input_ranges : sequence of (int, int)
        ``(lo, hi)`` of each value of the previous layer.
    index : int
        The layer's position in the network; names signals ``l{index}_n{origin}_sum`` (the sum),
        ``l{index}_n{origin}_act`` (the registered activation) and
        ``tree_l{index}_n{origin}_{level}_{k}`` (tree nodes).
    register_every : int or None
        Passed to each :class:`AdderTree`.

    Members
    -------
    x0, x1, ... : ``In(range_shape(*input_ranges[k]))``
        The previous layer's values.
    en : ``In(1, init=1)``
        Clock enable of every register of the layer.
    y0, y1, ... : ``Out(range_shape(*output_ranges[j]))``
        The activations, in neuron order, ``latency`` cycles (of ``en`` high) after ``x``.
    """

    def __init__(self, spec, input_ranges, *, index, register_every=None):
        input_ranges = tuple((lo, hi) for lo, hi in input_ranges)
        _check_register_every(register_every)
        self._spec = spec
        self._index = index
        self._input_ranges = input_ranges
        self._register_every = register_every
        plan = layer_plan(spec, input_ranges, register_every)
        self._sum_ranges, self._output_ranges, self._levels, self._tree_latency = plan
        members = {f"x{k}": In(range_shape(lo, hi)) for k, (lo, hi) in enumerate(input_ranges)}
        members["en"] = In(1, init=1)
        members.update({f"y{j}": Out(range_shape(lo, hi))
                        for j, (lo, hi) in enumerate(self._output_ranges)})
        super().__init__(wiring.Signature(members))

    @property
    def spec(self):
        return self._spec

    @property
    def index(self):
        return self._index

    @property
    def input_ranges(self):
        return self._input_ranges

    @property
    def sum_ranges(self):
        """Exact ``(lo, hi)`` of each neuron's weighted sum."""
        return self._sum_ranges

    @property
    def output_ranges(self):
        """Exact ``(lo, hi)`` of each neuron's activation (output ``y{j}``)."""
        return self._output_ranges

    @property
    def latency(self):
        """Cycles from ``x`` to ``y``: the trees' pipeline registers plus the output register."""
        return self._tree_latency + 1

    @property
    def outputs(self):
        """The output ports ``(y0, y1, ...)``."""
        return tuple(getattr(self, f"y{j}") for j in range(len(self._spec.neurons)))

    def elaborate(self, platform):
        m = Module()
        act = self._spec.activation
        for j, neuron in enumerate(self._spec.neurons):
            name = f"l{self._index}_n{neuron.origin}"
            y = getattr(self, f"y{j}")
            out_lo, out_hi = self._output_ranges[j]
            if out_lo == out_hi:
                m.d.comb += y.eq(out_lo)
                continue
            # A tree whose weights are all negative would end in a negation; build it over the
            # negated weights instead and let the activation read the negated sum, which costs
            # nothing there (a comparison or constant add either way round).
            flip = all(w < 0 for w in neuron.weights)
            tree = AdderTree(
                [self._input_ranges[i] for i in neuron.inputs],
                [-w if flip else w for w in neuron.weights],
                register_every=self._register_every, levels=self._levels, name=f"tree_{name}")
            m.submodules[f"tree_{name}"] = tree
            for x, i in zip(tree.operands, neuron.inputs):
                m.d.comb += x.eq(getattr(self, f"x{i}"))
            m.d.comb += tree.en.eq(self.en)
            s = Signal(range_shape(*self._sum_ranges[j]), name=f"{name}_sum")
            m.d.comb += s.eq(-tree.sum if flip else tree.sum)
            value = _activation(m, act, neuron.params, tree.sum, tree.sum_range, flip,
                                (out_lo, out_hi), name)
            reg = Signal(y.shape(), name=f"{name}_act", reset_less=True)
            with m.If(self.en):
                m.d.sync += reg.eq(value)
            m.d.comb += y.eq(reg)
        return m


def _activation(m, act, params, r, r_range, flip, out_range, name):
    """The activation of ``s``, where ``s = -r`` if ``flip`` else ``r``, ``r`` in ``r_range``.

    ``out_range`` is the activation's (non-constant) output interval.
    """
    if act.kind == "step":
        (t,) = params
        return (r <= -t) if flip else (r >= t)
    if act.kind == "ternary":
        lo, hi = params
        pos = (r <= -hi) if flip else (r >= hi)
        neg = (r >= -lo) if flip else (r <= lo)
        if out_range == (0, 1):
            return pos
        if out_range == (-1, 0):
            return neg  # one bit, read as signed(1): -1 when set
        return Cat(pos | neg, neg)  # two's complement of +1 / -1 / 0
    if act.kind == "linear":
        (b,) = params
        return (b - r) if flip else (r + b)
    (t,) = params
    r_lo, r_hi = r_range
    d_range = (-t - r_hi, -t - r_lo) if flip else (r_lo - t, r_hi - t)
    d = Signal(range_shape(*d_range), name=f"{name}_diff")
    m.d.comb += d.eq((-t - r) if flip else (r - t))
    # d is signed whenever it can be negative, so >> is the floor (arithmetic) shift.
    q_range = (d_range[0] >> act.shift, d_range[1] >> act.shift)
    q = Signal(range_shape(*q_range), name=f"{name}_shifted")
    m.d.comb += q.eq(d >> act.shift)
    top = (1 << act.bits) - 1
    value = q[:act.bits]
    if q_range[1] > top:
        value = value | q[act.bits:].any().replicate(act.bits)
    if q_range[0] < 0:
        value = Mux(q[-1], 0, value)
    return value
