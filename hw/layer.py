"""One layer of neurons: shared sums, adder (or compressor) trees, activations, and a registered
output stage; :func:`build_layer` makes it as Amaranth or as Verilog text."""

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lwc import semantics

from .adder_tree import (
    AmaranthOps,
    Pipeline,
    VerilogOps,
    _check_register_every,
    _Node,
    combine,
    compressor_sum,
    literal,
    range_shape,
    register_levels,
    schedule_depth,
    sum_tree,
    weighted_nodes,
    weighted_sum_range,
)
from .adder_tree import (
    at_least as lwc_at_least,
)

__all__ = ["ACTIVATION_PARAMS", "ActivationSpec", "NeuronSpec", "SharedSpec", "LayerSpec",
           "TernaryLayer", "LayerPlan", "layer_plan"]

#: Activation kinds and the names of the integer parameters each neuron carries for them
#: (:data:`lwc.semantics.ACTIVATIONS`).
ACTIVATION_PARAMS = semantics.ACTIVATIONS


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
        """The activation of the integer sum ``s`` (:func:`lwc.semantics.activation`)."""
        return semantics.activation(self.kind, params, s, shift=self.shift, bits=self.bits)

    def output_range(self, params, sum_range):
        """Exact interval of the activation over the sum interval ``sum_range``."""
        return semantics.activation_range(self.kind, params, sum_range, shift=self.shift,
                                          bits=self.bits)


@dataclass(frozen=True)
class NeuronSpec:
    """One neuron: indices it reads from the previous layer (strictly increasing), a nonzero weight
    per index, its activation parameters, and ``origin`` (its index as trained; names signals)."""

    inputs: tuple[int, ...]
    weights: tuple[int, ...]
    params: tuple[int, ...]
    origin: int


@dataclass(frozen=True)
class SharedSpec:
    """A sum built once and read by several neurons of the layer: ``weights[0] * t0 +
    weights[1] * t1``, where a term index below the layer's input count ``n`` is an input and
    ``n + k`` is the earlier shared node ``k``; weights are +1 or -1.

    A neuron's ``inputs`` name shared node ``k`` as ``n + k`` too.
    """

    inputs: tuple[int, int]
    weights: tuple[int, int]


@dataclass(frozen=True)
class LayerSpec:
    activation: ActivationSpec
    neurons: tuple[NeuronSpec, ...]
    shared: tuple[SharedSpec, ...] = ()


def _check_spec(spec, input_count):
    kind = spec.activation.kind
    for k, node in enumerate(spec.shared):
        terms = tuple(node.inputs)
        if len(terms) != 2 or len(set(terms)) != 2 or \
                not all(isinstance(i, int) and 0 <= i < input_count + k for i in terms):
            raise ValueError(f"Shared node {k}: terms must be two distinct inputs (below "
                             f"{input_count}) or earlier nodes, not {node.inputs!r}")
        if len(node.weights) != 2 or not all(w in (1, -1) for w in node.weights):
            raise ValueError(f"Shared node {k}: weights must be two of +1 and -1, "
                             f"not {node.weights!r}")
    count = input_count + len(spec.shared)
    origins = set()
    for n in spec.neurons:
        where = f"Neuron {n.origin}"
        if n.origin in origins:
            raise ValueError(f"{where}: origins must be unique within a layer")
        origins.add(n.origin)
        if len(n.inputs) != len(n.weights):
            raise ValueError(f"{where}: {len(n.inputs)} inputs for {len(n.weights)} weights")
        if not all(0 <= i < count for i in n.inputs) or \
                any(a >= b for a, b in zip(n.inputs, n.inputs[1:])):
            raise ValueError(f"{where}: inputs must be strictly increasing indices below "
                             f"{count}, not {n.inputs!r}")
        if len(n.params) != len(ACTIVATION_PARAMS[kind]):
            raise ValueError(f"{where}: {kind} needs {len(ACTIVATION_PARAMS[kind])} "
                             f"parameter(s), not {n.params!r}")
        if kind == "ternary" and not n.params[0] < n.params[1]:
            raise ValueError(f"{where}: ternary needs lo < hi, not {n.params!r}")


@dataclass(frozen=True)
class LayerPlan:
    """Facts of a :class:`TernaryLayer`, known before it is built.

    ``shared_ranges`` and ``shared_levels`` are the exact interval and adder level of each shared
    node; ``sum_ranges``, ``output_ranges`` and ``depths`` those of each neuron's sum and
    activation and its tree's depth; ``levels`` the deepest tree (every neuron's is laid out over
    it), and ``registers`` the levels followed by pipeline registers.
    """

    shared_ranges: tuple
    shared_levels: tuple
    sum_ranges: tuple
    output_ranges: tuple
    depths: tuple
    levels: int
    registers: tuple

    @property
    def tree_latency(self):
        return len(self.registers)


def layer_plan(spec, input_ranges, register_every):
    """The :class:`LayerPlan` of the :class:`TernaryLayer` these arguments build, without building
    it."""
    _check_spec(spec, len(input_ranges))
    ranges = list(input_ranges)
    arrivals = [0] * len(input_ranges)
    for node in spec.shared:
        ranges.append(weighted_sum_range([ranges[i] for i in node.inputs], node.weights))
        arrivals.append(1 + max(arrivals[i] for i in node.inputs))
    sums = tuple(weighted_sum_range([ranges[i] for i in n.inputs], n.weights)
                 for n in spec.neurons)
    outs = tuple(spec.activation.output_range(n.params, s) for n, s in zip(spec.neurons, sums))
    depths = tuple(schedule_depth([arrivals[i] for i in n.inputs]) for n in spec.neurons)
    levels = max(depths, default=0)
    n_in = len(input_ranges)
    return LayerPlan(tuple(ranges[n_in:]), tuple(arrivals[n_in:]), sums, outs, depths, levels,
                     register_levels(levels, register_every))


class TernaryLayer(wiring.Component):
    """The neurons of one layer: first the shared sums (``spec.shared``), each built once; then
    each neuron an adder tree over its terms (inputs and shared sums, each available after its
    own adder level), or a compressor tree when every input is one bit wide; then its activation,
    then a register (enabled by ``en``) unless its output is constant.

    Every width is exact for the value ranges that flow through it, computed from
    ``input_ranges`` by interval arithmetic. Trees are laid out over the same number of levels, so
    all neurons of the layer have the same ``latency``; a shared sum read in a later pipeline
    stage than it is made in is registered once for all its readers.

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
        ``l{index}_n{origin}_act`` (the registered activation),
        ``tree_l{index}_n{origin}_{level}_{k}`` (tree nodes), ``l{index}_s{k}`` (shared sum
        ``k``), ``{name}_r{stage}`` (a pipeline copy of ``name``) and ``csa_l{index}_n{origin}``
        (a compressor tree's result; its adders ``..._fa{k}``, ``..._ha{k}``).
    register_every : int or None
        Pipeline registers after every this many adder levels (see :class:`AdderTree`).
    keep_adders : bool
        Give every adder's output the ``keep`` attribute, so that synthesis maps each adder on
        its own (Yosys' ``alumacc`` would otherwise merge a tree into one multi-operand sum,
        which maps to more logic on iCE40; see ``docs/benchmarks.md``).
    compress : bool
        Build each neuron of a layer whose inputs are all one bit wide as a compressor tree (see
        :func:`build_layer`).

    Members
    -------
    x0, x1, ... : ``In(range_shape(*input_ranges[k]))``
        The previous layer's values.
    en : ``In(1, init=1)``
        Clock enable of every register of the layer.
    y0, y1, ... : ``Out(range_shape(*output_ranges[j]))``
        The activations, in neuron order, ``latency`` cycles (of ``en`` high) after ``x``.
    """

    def __init__(self, spec, input_ranges, *, index, register_every=None, keep_adders=True,
                 compress=True):
        input_ranges = tuple((lo, hi) for lo, hi in input_ranges)
        _check_register_every(register_every)
        self._spec = spec
        self._index = index
        self._input_ranges = input_ranges
        self._register_every = register_every
        self._keep_adders = keep_adders
        self._compress = compress
        self._plan = plan = layer_plan(spec, input_ranges, register_every)
        self._sum_ranges, self._output_ranges = plan.sum_ranges, plan.output_ranges
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
    def plan(self):
        """The :class:`LayerPlan`: ranges, levels and registers of every node."""
        return self._plan

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
        return self._plan.tree_latency + 1

    @property
    def outputs(self):
        """The output ports ``(y0, y1, ...)``."""
        return tuple(getattr(self, f"y{j}") for j in range(len(self._spec.neurons)))

    def elaborate(self, platform):
        m = Module()
        ops = AmaranthOps(m, self.en, keep=self._keep_adders)
        inputs = [getattr(self, f"x{k}") for k in range(len(self._input_ranges))]
        outputs = build_layer(ops, self._spec, self._plan, inputs, self._input_ranges,
                              self._index, compress=self._compress)
        for y, value in zip(self.outputs, outputs):
            m.d.comb += y.eq(value)
        return m


def build_layer(ops, spec, plan, inputs, input_ranges, index, *, compress=False):
    """Build the logic of a layer with ``ops`` (:class:`~lwc.hw.adder_tree.AmaranthOps` or
    :class:`~lwc.hw.adder_tree.VerilogOps`) over ``inputs`` (values of ``ops``); return the
    registered activations, or the constant (an int) for a neuron whose output is constant.

    Shared node ``k`` is the signal ``l{index}_s{k}``, made once and read by every neuron (and
    later node) that names it, at whatever pipeline stage each reads it. With ``compress``, when
    every input is one bit wide and the layer has no pipeline registers inside, each neuron's sum
    is a compressor tree (:func:`~lwc.hw.adder_tree.compressor_sum`) instead of an adder tree.
    """
    compress = compress and not plan.registers and all(
        range_shape(lo, hi).width <= 1 for lo, hi in input_ranges)
    act = spec.activation
    pipeline = Pipeline(ops, plan.registers)
    prefix = f"l{index}"
    n_in = len(input_ranges)
    terms = weighted_nodes(ops, inputs, input_ranges, [1] * n_in,
                           [f"{prefix}_x{k}" for k in range(n_in)])
    for k, node in enumerate(spec.shared):
        level = plan.shared_levels[k]
        a, b = (pipeline.at(terms[i], level).signed(w) for i, w in zip(node.inputs, node.weights))
        terms.append(combine(ops, f"{prefix}_s{k}", a, b, level, key=f"{prefix}_s{k}"))
    outputs = []
    for j, neuron in enumerate(spec.neurons):
        name = f"{prefix}_n{neuron.origin}"
        out_lo, out_hi = plan.output_ranges[j]
        if out_lo == out_hi:
            outputs.append(out_lo)
            continue
        # A tree whose weights are all negative would end in a negation; build it over the
        # negated weights instead and let the activation read the negated sum, which costs
        # nothing there (a comparison or constant add either way round).
        flip = all(w < 0 for w in neuron.weights)
        operands = []
        for i, w in zip(neuron.inputs, neuron.weights):
            w = -w if flip else w
            term = terms[i]
            if abs(w) == 1:
                operands.append(term.signed(w))
            else:
                (node,) = weighted_nodes(ops, [term.value], [(term.lo, term.hi)],
                                         [term.sign * w], [term.name], levels=[term.level])
                operands.append(node)
        if compress and len(operands) > 2:
            lo, hi = weighted_sum_range([(n.lo, n.hi) for n in operands],
                                        [n.sign for n in operands])
            root = _Node(compressor_sum(ops, operands, lo, hi, name=f"csa_{name}"), lo, hi, +1,
                         plan.levels)
        else:
            root = sum_tree(ops, operands, levels=plan.levels, pipeline=pipeline,
                            name=f"tree_{name}")
        if root.sign > 0:
            r, r_range = root.value, (root.lo, root.hi)
        else:
            r_range = (-root.hi, -root.lo)
            r = ops.neg(f"{name}_neg", range_shape(*r_range), root.value)
        ops.neg(f"{name}_sum", range_shape(*plan.sum_ranges[j]), r) if flip else \
            ops.copy(f"{name}_sum", range_shape(*plan.sum_ranges[j]), r)
        if isinstance(ops, VerilogOps):
            value = _activation_verilog(ops, act, neuron.params, r, r_range, flip,
                                        (out_lo, out_hi), name)
        else:
            value = _activation(ops.m, act, neuron.params, r, r_range, flip, (out_lo, out_hi),
                                name)
        outputs.append(ops.reg(f"{name}_act", range_shape(out_lo, out_hi), value))
    return outputs


def _thresholds(ops, act, params, r, r_range, flip):
    """The bits ``s >= t`` (``step``) or ``s >= hi`` and ``s <= lo`` (``ternary``) of the sum
    ``s`` (``-r`` when ``flip``), as :func:`~lwc.hw.adder_tree.at_least` chains of ``r``'s bits;
    the second is ``None`` for ``step``."""
    lo, hi = r_range

    def at_least(t):  # r >= t
        return lwc_at_least(ops, r, lo, hi, t)

    def at_most(t):  # r <= t, that is not r >= t + 1
        return ops.invert(at_least(t + 1))

    if act.kind == "step":
        (t,) = params
        return (at_most(-t) if flip else at_least(t)), None
    t_lo, t_hi = params
    pos = at_most(-t_hi) if flip else at_least(t_hi)
    neg = at_least(-t_lo) if flip else at_most(t_lo)
    return pos, neg


def _activation_verilog(ops, act, params, r, r_range, flip, out_range, name):
    """:func:`_activation` as Verilog: the same function of ``r``, as a wire ``{name}_a``."""
    rt = r.signed_text()
    value = ops.declare(f"{name}_a", range_shape(*out_range))
    if act.kind in ("step", "ternary"):
        pos, neg = _thresholds(ops, act, params, r, r_range, flip)
        if act.kind == "step" or out_range == (0, 1):
            return ops.assign(value, pos)
        if out_range == (-1, 0):
            return ops.assign(value, neg)
        return ops.assign(value, f"{{{neg}, {pos} | {neg}}}")
    if act.kind == "linear":
        (b,) = params
        return ops.assign(value, f"{literal(b)} - {rt}" if flip else f"{rt} + {literal(b)}")
    (t,) = params
    r_lo, r_hi = r_range
    d_range = (-t - r_hi, -t - r_lo) if flip else (r_lo - t, r_hi - t)
    d = ops.declare(f"{name}_diff", range_shape(*d_range))
    ops.assign(d, f"{literal(-t)} - {rt}" if flip else f"{rt} - {literal(t)}")
    q_range = (d_range[0] >> act.shift, d_range[1] >> act.shift)
    q = ops.declare(f"{name}_shifted", range_shape(*q_range))
    ops.assign(q, f"{d.text()} >>> {act.shift}")
    width, bits = q.shape.width, act.bits
    text = f"{q.name}[{min(bits, width) - 1}:0]"
    if q_range[1] > (1 << bits) - 1:
        text = f"({text} | {{{bits}{{|{q.name}[{width - 1}:{bits}]}}}})"
    if q_range[0] < 0:
        text = f"({q.name}[{width - 1}] ? {bits}'d0 : {text})"
    return ops.assign(value, text)


def _activation(m, act, params, r, r_range, flip, out_range, name):
    """The activation of ``s``, where ``s = -r`` if ``flip`` else ``r``, ``r`` in ``r_range``.

    ``out_range`` is the activation's (non-constant) output interval.
    """
    if act.kind in ("step", "ternary"):
        pos, neg = _thresholds(AmaranthOps(m, None), act, params, r, r_range, flip)
        if act.kind == "step" or out_range == (0, 1):
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
