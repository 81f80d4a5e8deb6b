"""One layer of neurons: shared sums, adder (or compressor) trees, activations, and a registered
output stage, built into a :class:`~lwc.hw.netlist.Netlist` by :func:`build_layer`."""

from amaranth.hdl import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lwc import semantics

from .adder_tree import (
    Pipeline,
    Term,
    at_least,
    combine,
    compressor_sum,
    range_shape,
    sum_tree,
    weighted_nodes,
)
from .netlist import Netlist, to_amaranth
from .plan import (
    ActivationSpec,
    LayerPlan,
    LayerSpec,
    NeuronSpec,
    SharedSpec,
    check_register_every,
    layer_plan,
)

__all__ = ["ACTIVATION_PARAMS", "ActivationSpec", "NeuronSpec", "SharedSpec", "LayerSpec",
           "TernaryLayer", "LayerPlan", "layer_plan", "build_layer"]

#: Activation kinds and the names of the integer parameters each neuron carries for them
#: (:data:`lwc.semantics.ACTIVATIONS`).
ACTIVATION_PARAMS = semantics.ACTIVATIONS


class TernaryLayer(wiring.Component):
    """The neurons of one layer: first the shared sums (``spec.shared``), each built once; then
    each neuron an adder tree over its terms (inputs and shared sums, each available after its
    own adder level), or a compressor tree when every input is one bit wide; then its activation,
    then a register (enabled by ``en``) unless its output is constant. A neuron marked ``table``
    (:class:`NeuronSpec`) is instead a truth table over its inputs' bits, then the register.

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
        check_register_every(register_every)
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
        nl = Netlist(keep=self._keep_adders)
        nl.en = nl.input("en", unsigned(1))
        inputs = [nl.input(f"x{k}", range_shape(*r)) for k, r in enumerate(self._input_ranges)]
        outputs = [nl.output(f"y{j}", range_shape(*r))
                   for j, r in enumerate(self._output_ranges)]
        values = build_layer(nl, self._spec, self._plan, inputs, self._index,
                             compress=self._compress)
        for port, value in zip(outputs, values):
            nl.drive(port, value)
        bindings = {f"x{k}": getattr(self, f"x{k}") for k in range(len(self._input_ranges))}
        bindings.update({f"y{j}": y for j, y in enumerate(self.outputs)})
        to_amaranth(nl, m, {**bindings, "en": self.en})
        return m


def build_layer(nl, spec, plan, inputs, index, *, compress=False, names=None):
    """Build the logic of a layer into the netlist ``nl`` over ``inputs`` (nodes of the values
    of ``plan.input_ranges``, called ``names``: by default ``x0, x1, ...``; a network passes the
    IR's names, :func:`lwc.compiler.ir.value_names`); return the registered activations (a
    constant node for a neuron whose output is constant).

    A neuron marked ``table`` is a truth table over its inputs' bits (``{name}_t{b}``, see
    :func:`_table`), its output delayed to the layer's last stage.

    Shared node ``k`` is the signal ``l{index}_s{k}``, made once and read by every neuron (and
    later node) that names it, at whatever pipeline stage each reads it; a term read with weight
    ``w``, ``|w| > 1``, is the signal ``l{index}_{name}_x{|w|}`` (or ``l{index}_s{k}_x{|w|}``),
    also made once. With ``compress``, when every input is one bit wide
    (:func:`lwc.semantics.one_bit_inputs`), each neuron's sum over more than two terms, none of
    them a shared sum made after a pipeline register, is a compressor tree
    (:func:`~lwc.hw.adder_tree.compressor_sum`) instead of an adder tree, with the layer's
    pipeline registers (``plan.registers``, as many) spread over its stages, so it has the
    latency of the adder trees beside it.
    """
    input_ranges = plan.input_ranges
    compress = compress and semantics.one_bit_inputs(input_ranges)
    act = spec.activation
    pipeline = Pipeline(nl, plan.registers)
    prefix = f"l{index}"
    n_in = len(input_ranges)
    names = [f"x{k}" for k in range(n_in)] if names is None else names
    terms = weighted_nodes(nl, inputs, input_ranges, [1] * n_in,
                           [f"{prefix}_{name}" for name in names])
    for k, node in enumerate(spec.shared):
        level = plan.shared_levels[k]
        a, b = (pipeline.at(terms[i], level).signed(w) for i, w in zip(node.inputs, node.weights))
        terms.append(combine(nl, f"{prefix}_s{k}", a, b, level, key=f"{prefix}_s{k}"))
    scaled = {}  # (term, |w|) -> the term times |w|, made once for every neuron reading it
    outputs = []
    for j, neuron in enumerate(spec.neurons):
        name = f"{prefix}_n{neuron.origin}"
        out_lo, out_hi = plan.output_ranges[j]
        if out_lo == out_hi:
            outputs.append(nl.const(out_lo, range_shape(out_lo, out_hi)))
            continue
        if neuron.table:
            value = _table(nl, act, neuron, [terms[i] for i in neuron.inputs], (out_lo, out_hi),
                           name)
            # Its output waits for the other neurons' in the layer's pipeline stages.
            value = pipeline.at(Term(value, out_lo, out_hi, +1, 0, f"{name}_a"), plan.levels)
            outputs.append(nl.reg(f"{name}_act", range_shape(out_lo, out_hi), value.value))
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
                continue
            if (i, abs(w)) not in scaled:
                (scaled[i, abs(w)],) = weighted_nodes(nl, [term.value], [(term.lo, term.hi)],
                                                      [abs(w)], [term.name], levels=[term.level])
            operands.append(scaled[i, abs(w)].signed(term.sign * (1 if w > 0 else -1)))
        # A compressor tree takes every operand in its first stage, so it reads no shared sum
        # made after a pipeline register.
        if compress and len(operands) > 2 and \
                all(pipeline.stage(n.level) == 0 for n in operands):
            lo, hi = semantics.weighted_sum_range([(n.lo, n.hi) for n in operands],
                                                  [n.sign for n in operands])
            root = Term(compressor_sum(nl, operands, lo, hi, name=f"csa_{name}",
                                       registers=len(plan.registers)), lo, hi, +1, plan.levels)
        else:
            root = sum_tree(nl, operands, levels=plan.levels, pipeline=pipeline,
                            name=f"tree_{name}")
        if root.sign > 0:
            r, r_range = root.value, (root.lo, root.hi)
        else:
            r_range = (-root.hi, -root.lo)
            r = nl.neg(f"{name}_neg", range_shape(*r_range), root.value)
        sum_shape = range_shape(*plan.sum_ranges[j])
        nl.neg(f"{name}_sum", sum_shape, r) if flip else nl.copy(f"{name}_sum", sum_shape, r)
        value = _activation(nl, act, neuron.params, r, r_range, flip, (out_lo, out_hi), name)
        outputs.append(nl.reg(f"{name}_act", range_shape(out_lo, out_hi), value))
    return outputs


def _table(nl, act, neuron, reads, out_range, name):
    """The wire ``{name}_a``: the activation of the neuron as a truth table over the bits of the
    values it ``reads`` (:class:`~lwc.hw.adder_tree.Term` s of weight +1), concatenated first
    to last; output bit ``b`` is the wire ``{name}_t{b}``. The table is
    :func:`lwc.semantics.truth_table`'s, so it is the neuron's function by construction."""
    tables = semantics.truth_table(act.kind, neuron.params, neuron.weights,
                                   [(t.lo, t.hi) for t in reads], **act.settings)
    index = nl.cat(*(t.value for t in reads))
    bits = [nl.lookup(f"{name}_t{b}", table, index) for b, table in enumerate(tables)]
    return nl.wire(f"{name}_a", range_shape(*out_range), nl.cat(*bits))


def _thresholds(nl, act, params, r, r_range, flip):
    """The bits ``s >= t`` (``step``) or ``s >= hi`` and ``s <= lo`` (``ternary``) of the sum
    ``s`` (``-r`` when ``flip``), as :func:`~lwc.hw.adder_tree.at_least` chains of ``r``'s bits;
    the second is ``None`` for ``step``."""
    lo, hi = r_range

    def at_least_(t):  # r >= t
        return at_least(nl, r, lo, hi, t)

    def at_most(t):  # r <= t, that is not r >= t + 1
        return nl.invert(at_least_(t + 1))

    if act.kind == "step":
        (t,) = params
        return (at_most(-t) if flip else at_least_(t)), None
    t_lo, t_hi = params
    pos = at_most(-t_hi) if flip else at_least_(t_hi)
    neg = at_least_(-t_lo) if flip else at_most(t_lo)
    return pos, neg


def _activation(nl, act, params, r, r_range, flip, out_range, name):
    """The wire ``{name}_a``: the activation of ``s``, where ``s = -r`` if ``flip`` else ``r``,
    ``r`` in ``r_range``; ``out_range`` is the activation's (non-constant) output interval.

    ``step`` and ``ternary`` are threshold bits; ``linear`` the sum plus the bias; ``clip`` the
    difference ``{name}_diff``, its floor shift ``{name}_shifted``, then its low ``bits``
    saturated at both ends.
    """
    out_shape = range_shape(*out_range)
    if act.kind in ("step", "ternary"):
        pos, neg = _thresholds(nl, act, params, r, r_range, flip)
        if act.kind == "step" or out_range == (0, 1):
            value = pos
        elif out_range == (-1, 0):
            value = neg  # one bit, read as signed(1): -1 when set
        else:
            value = nl.cat(nl.or_(pos, neg), neg)  # two's complement of +1 / -1 / 0
        return nl.wire(f"{name}_a", out_shape, value)
    if act.kind == "linear":
        (b,) = params
        bias = nl.const(b, range_shape(b, b))
        value = nl.sub_expr(bias, r, out_shape) if flip else nl.add_expr(r, bias, out_shape)
        return nl.wire(f"{name}_a", out_shape, value)
    (t,) = params
    r_lo, r_hi = r_range
    d_range = (-t - r_hi, -t - r_lo) if flip else (r_lo - t, r_hi - t)
    d_shape = range_shape(*d_range)
    if flip:
        minus_t = nl.const(-t, range_shape(-t, -t))
        d = nl.wire(f"{name}_diff", d_shape, nl.sub_expr(minus_t, r, d_shape))
    else:
        d = nl.wire(f"{name}_diff", d_shape, nl.sub_expr(r, nl.const(t, range_shape(t, t)),
                                                         d_shape))
    # d is signed whenever it can be negative, so >> is the floor (arithmetic) shift.
    q_range = (d_range[0] >> act.shift, d_range[1] >> act.shift)
    q_shape = range_shape(*q_range)
    q = nl.wire(f"{name}_shifted", q_shape, nl.sar(d, act.shift, q_shape))
    bits, width = act.bits, q_shape.width
    value = nl.slice(q, 0, min(bits, width))
    if q_range[1] > (1 << bits) - 1:
        value = nl.or_(value, nl.repl(nl.any_(nl.slice(q, bits, width)), bits))
    if q_range[0] < 0:
        value = nl.mux(nl.bit(q, width - 1), nl.const(0, unsigned(bits)), value, unsigned(bits))
    return nl.wire(f"{name}_a", out_shape, value)
