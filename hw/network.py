"""The whole network as a stream pipeline: layers, then an argmax stage.

:func:`build_back_end` builds the parallel layers, the argmax and the valid pipeline of both
architectures into a :class:`~lwc.hw.netlist.Netlist`; :func:`build_parallel` adds the input and
output ports of :class:`TernaryNetwork` around it. The same netlist gives the Amaranth design
(:meth:`TernaryNetwork.elaborate`) and the Verilog ``lwc compile`` writes (:func:`network_verilog`).
"""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lwc import semantics

from .adder_tree import range_shape
from .layer import build_layer
from .netlist import Netlist, to_amaranth, to_verilog
from .plan import (
    ParallelPlan,
    argmax_split,
    check_register_every,
    check_structure,
    parallel_plan,
    register_levels,
    tree_depth,
)

__all__ = ["Argmax", "NetworkContract", "TernaryNetwork", "build_argmax", "build_back_end",
           "build_parallel", "network_verilog", "check_structure"]


def build_argmax(nl, scores, ranges, registers, name="argmax", *, split=False):
    """A comparator tree over ``scores`` (netlist nodes of ``ranges``) with registers after the
    levels ``registers`` and at the end; returns the registers ``(label, scores)``, the scores
    delayed to match the label.

    Each node keeps its left (lower-index) operand unless the right one is strictly greater,
    which is exactly ``numpy.argmax``. Node ``k`` of level ``l`` is ``{name}_{l}_{k}_value``,
    ``..._index`` and ``..._right`` (the comparison).

    ``split`` (:func:`~lwc.hw.plan.argmax_split`; ``registers`` is then ignored) registers every
    level between its comparisons and its multiplexers: level ``l``'s registers hold its
    operands (``{name}_{l}_{k}_value_r``, ``..._index_r``; the scores' own delay registers at
    level 1) and its comparisons (``{name}_{l}_{k}_right_r``), and the multiplexers read them
    in the next stage, before level ``l + 1``'s comparisons. A stage is then a multiplexer and
    a comparison, never a comparison whose select bit fans out to multiplexers; the tree has a
    register stage more (after the last comparison).
    """
    label_shape = unsigned(semantics.label_width(len(ranges)))
    # Leaf indices are constants only as wide as their own values, so that the first level's
    # index multiplexers are as narrow (Mux(right, 1, 0) is one bit) and synthesis starts from
    # the smallest logic.
    nodes = [(s, lo, hi, nl.const(k, unsigned(max(k.bit_length(), 1))))
             for k, (s, (lo, hi)) in enumerate(zip(scores, ranges))]
    if split:
        return _build_split_argmax(nl, scores, ranges, nodes, label_shape, name)
    for level in range(1, tree_depth(len(ranges)) + 1):
        # Strictly greater: a tie keeps the left, lower-index operand.
        rights = [nl.wire(f"{name}_{level}_{k // 2}_right", unsigned(1),
                          nl.gt(nodes[k + 1][0], nodes[k][0]))
                  for k in range(0, len(nodes) - 1, 2)]
        nodes = _select(nl, nodes, rights, label_shape, f"{name}_{level}")
        if level in registers:
            nodes = [(nl.reg(f"{name}_{level}_{k}_value_r", range_shape(lo, hi), v), lo, hi,
                      nl.reg(f"{name}_{level}_{k}_index_r", label_shape, i))
                     for k, (v, lo, hi, i) in enumerate(nodes)]
            scores = [nl.reg(f"{name}_{level}_s{k}", range_shape(*ranges[k]), s)
                      for k, s in enumerate(scores)]
    return _argmax_outputs(nl, nodes, scores, ranges, label_shape, name)


def _select(nl, nodes, rights, label_shape, prefix):
    """The next level of an argmax tree: each pair of ``nodes`` (``(value, lo, hi, index)``)
    becomes its right operand where ``rights`` (one comparison a pair) is set, else its left; an
    odd last node passes on. Node ``k``'s value and index are ``{prefix}_{k}_value`` and
    ``..._index``."""
    paired = []
    for k, right in zip(range(0, len(nodes) - 1, 2), rights):
        (va, la, ha, ia), (vb, lb, hb, ib) = nodes[k], nodes[k + 1]
        lo, hi = max(la, lb), max(ha, hb)
        shape = range_shape(lo, hi)
        value = nl.wire(f"{prefix}_{k // 2}_value", shape, nl.mux(right, vb, va, shape))
        index_shape = unsigned(max(ia.shape.width, ib.shape.width))
        index = nl.wire(f"{prefix}_{k // 2}_index", label_shape,
                        nl.mux(right, ib, ia, index_shape))
        paired.append((value, lo, hi, index))
    if len(nodes) % 2:
        paired.append(nodes[-1])
    return paired


def _argmax_outputs(nl, nodes, scores, ranges, label_shape, name):
    """The registers ``(label, scores)`` after the tree's last level (one node left)."""
    ((_, _, _, index),) = nodes
    label = nl.reg(f"{name}_label", label_shape, index)
    return label, [nl.reg(f"{name}_score{k}", range_shape(*ranges[k]), s)
                   for k, s in enumerate(scores)]


def _build_split_argmax(nl, scores, ranges, nodes, label_shape, name):
    """:func:`build_argmax` with ``split``, from its leaf ``nodes``."""
    leaves = len(nodes)
    for level in range(1, tree_depth(leaves) + 1):
        # The operands and the comparisons, registered.
        delayed = [nl.reg(f"{name}_{level}_s{k}", range_shape(*ranges[k]), s)
                   for k, s in enumerate(scores)]
        held = []
        for k, (v, lo, hi, i) in enumerate(nodes):
            if level == 1:  # a leaf: its score's delay register; its index a constant
                held.append((delayed[k], lo, hi, i))
                continue
            held.append((nl.reg(f"{name}_{level}_{k}_value_r", range_shape(lo, hi), v), lo, hi,
                         nl.reg(f"{name}_{level}_{k}_index_r", label_shape, i)))
        rights = [nl.reg(f"{name}_{level}_{k // 2}_right_r", unsigned(1),
                         nl.gt(nodes[k + 1][0], nodes[k][0]))
                  for k in range(0, len(nodes) - 1, 2)]
        scores = delayed
        # The multiplexers, in the next stage.
        nodes = _select(nl, held, rights, label_shape, f"{name}_{level}")
    return _argmax_outputs(nl, nodes, scores, ranges, label_shape, name)


def build_back_end(nl, plan, values, valid, *, first):
    """The parallel layers ``first, first + 1, ...`` of ``plan`` over ``values`` (nodes of layer
    ``first``'s input ranges), the argmax, and the valid bits ``valid_1, valid_2, ...`` following
    ``valid`` through as many register stages; all registers enabled by ``nl.en``. Layer
    ``index`` is the netlist part ``layer{index}``, the argmax the part ``argmax``.

    Returns ``(label, scores, valid)`` at the end of the pipeline.
    """
    for index in range(first, len(plan.layers)):
        # The names the IR text gives the values (x{feature}, a{origin}), as the wires are named.
        names = ([f"x{k}" for k in plan.input_map] if index == 0 else
                 [f"a{neuron.origin}" for neuron in plan.layers[index - 1].neurons])
        with nl.scope(f"layer{index}"):
            values = build_layer(nl, plan.layers[index], plan.layer_plans[index], values, index,
                                 compress=plan.compress, names=names)
    with nl.scope("argmax"):
        label, scores = build_argmax(nl, values, plan.score_ranges, plan.argmax_registers,
                                     split=plan.argmax_split)
    stages = sum(p.latency for p in plan.layer_plans[first:]) + plan.argmax_latency
    for stage in range(1, stages + 1):
        valid = nl.reg(f"valid_{stage}", unsigned(1), valid, reset=True)
    return label, scores, valid


def _output_payload(nl, plan, label, scores):
    """The output payload: the label, then each score sign-extended to ``score_width``."""
    width = plan.score_width
    return nl.cat(label, *(nl.extend(s, width) for s in scores))


def build_parallel(plan):
    """The :class:`~lwc.hw.netlist.Netlist` of the :class:`TernaryNetwork` of ``plan`` (a
    :class:`~lwc.hw.plan.ParallelPlan`), with the ports ``i__payload``, ``i__valid``,
    ``i__ready``, ``o__payload``, ``o__valid`` and ``o__ready`` of its streams."""
    nl = Netlist(keep=plan.keep_adders)
    bits = plan.input_bits
    payload = nl.input("i__payload", unsigned(plan.input_count * bits))
    i_valid = nl.input("i__valid", unsigned(1))
    i_ready = nl.output("i__ready", unsigned(1))
    o_payload = nl.output("o__payload",
                          unsigned(plan.label_width + plan.n_classes * plan.score_width))
    o_valid = nl.output("o__valid", unsigned(1))
    o_ready = nl.input("o__ready", unsigned(1))
    values = [nl.wire(f"x{k}", unsigned(bits), nl.slice(payload, k * bits, (k + 1) * bits))
              for k in plan.input_map]
    if plan.stall_free:
        nl.en = nl.const(1, unsigned(1))
        full = nl.later("buffer_full", unsigned(1))
        accept = nl.wire("accept", unsigned(1), nl.and_(i_valid, nl.not_(full)))
        nl.drive(i_ready, nl.not_(full))
        label, scores, valid = build_back_end(nl, plan, values, accept, first=0)
        with nl.scope("buffer"):
            out_valid, out_payload = _output_buffer(
                nl, plan.buffer_depth, _output_payload(nl, plan, label, scores), valid, o_ready,
                accept, full)
        nl.drive(o_payload, out_payload)
        nl.drive(o_valid, out_valid)
        return nl
    # The whole pipeline advances when its output is free or taken.
    nl.en = nl.wire("advance", unsigned(1), nl.or_(nl.not_(o_valid), o_ready))
    nl.drive(i_ready, nl.en)
    label, scores, valid = build_back_end(nl, plan, values, i_valid, first=0)
    nl.drive(o_payload, _output_payload(nl, plan, label, scores))
    nl.drive(o_valid, valid)
    return nl


def _ring(nl, name, depth, step):
    """A one-hot ring of ``depth`` bits that moves up by one on each clock with ``step`` high;
    starts at bit 0. Bit 0 is kept inverted, so that every register starts (and resets) at 0."""
    regs = []
    en, nl.en = nl.en, step
    bits = nl.later(f"{name}", unsigned(depth))
    for k in range(depth):
        previous = nl.bit(bits, (k - 1) % depth)
        regs.append(nl.reg(f"{name}_{k}", unsigned(1),
                           nl.not_(previous) if k == 0 else previous, reset=True))
    nl.assign(bits, nl.cat(nl.not_(regs[0]), *regs[1:]))
    nl.en = en
    return [nl.bit(bits, k) for k in range(depth)]


def _counter(nl, name, depth, up, down):
    """A register counting from 0 to ``depth``: plus ``up``, minus ``down``; returns its next
    value (a wire) and itself."""
    shape = unsigned(depth.bit_length())
    count = nl.later(f"{name}_q", shape)
    one = nl.const(1, unsigned(1))
    plus = nl.add_expr(count, one, shape)
    minus = nl.sub_expr(count, one, shape)
    following = nl.wire(f"{name}_next", shape,
                        nl.mux(up, nl.mux(down, count, plus, shape),
                               nl.mux(down, minus, count, shape), shape))
    nl.assign(count, nl.reg(name, shape, following, reset=True))
    return following, count


def _output_buffer(nl, depth, payload, valid, o_ready, accept, full):
    """The output of a stall-free datapath: its results (``payload`` when ``valid``) go straight
    out when the buffer is empty and ``o.ready`` is high, else into a buffer of ``depth``
    entries, first in first out. ``full`` (a :meth:`~lwc.hw.netlist.Netlist.later` wire, the
    inverse of ``i.ready``) is driven here: it is set when results in flight and stored
    (``accept`` counts them in) fill the buffer, so no result ever finds it full. Returns
    ``(o_valid, o_payload)``."""
    one = nl.const(1, unsigned(1))
    width = payload.shape.width
    stored = nl.later("stored", unsigned(1))  # the buffer holds a result
    deliver = nl.wire("deliver", unsigned(1), nl.and_(nl.or_(stored, valid), o_ready))
    write = nl.wire("write", unsigned(1),
                    nl.and_(valid, nl.or_(stored, nl.not_(o_ready))))
    read = nl.wire("read", unsigned(1), nl.and_(stored, o_ready))
    nl.en = one
    owed_next, _ = _counter(nl, "owed", depth, accept, deliver)
    held_next, _ = _counter(nl, "held", depth, write, read)
    nl.en = one
    nl.assign(full, nl.reg("full", unsigned(1),
                           nl.gt(owed_next, nl.const(depth - 1, unsigned(depth.bit_length()))),
                           reset=True))
    nl.assign(stored, nl.reg("nonempty", unsigned(1),
                             nl.gt(held_next, nl.const(0, unsigned(1))), reset=True))
    write_at = _ring(nl, "write_at", depth, write)
    read_at = _ring(nl, "read_at", depth, read)
    head = None
    for k in range(depth):
        nl.en = nl.and_(write, write_at[k])
        entry = nl.reg(f"entry{k}", unsigned(width), payload)
        picked = nl.and_(nl.repl(read_at[k], width), entry)
        head = picked if head is None else nl.or_(head, picked)
    nl.en = one
    head = nl.wire("head", unsigned(width), head)
    return (nl.wire("out_valid", unsigned(1), nl.or_(stored, valid)),
            nl.wire("out_payload", unsigned(width), nl.mux(stored, head, payload,
                                                           unsigned(width))))


def network_verilog(plan, name="lwc_net"):
    """The Verilog text of the :class:`TernaryNetwork` of ``plan``: one module ``name``, printed
    from the same netlist as its Amaranth design (no component is built)."""
    return to_verilog(build_parallel(plan), name)


class Argmax(wiring.Component):
    """Index of the largest of ``n`` scores (ties to the lowest index), with the scores alongside.

    A balanced tree of comparators (:func:`build_argmax`). The output is registered, so the stage
    has a latency of at least 1.

    Parameters
    ----------
    ranges : sequence of (int, int)
        ``(lo, hi)`` of each score; at least one.
    register_every : int or None
        Also register after every this many comparator levels (never after the last: the output
        register follows it); ``1`` splits every level (see :func:`build_argmax`).
    name : str
        Prefix of signal names: node ``k`` of level ``l`` is ``{name}_{l}_{k}_value`` and
        ``..._index``.

    Members
    -------
    s0, s1, ... : ``In(range_shape(*ranges[k]))``
        The scores.
    en : ``In(1, init=1)``
        Clock enable of every register.
    label : ``Out(label_width)``
        The index of the largest score, ``latency`` cycles (of ``en`` high) after the scores.
    y0, y1, ... : ``Out(range_shape(*ranges[k]))``
        The scores, delayed to match ``label``.
    """

    def __init__(self, ranges, *, register_every=None, name="argmax"):
        ranges = tuple((lo, hi) for lo, hi in ranges)
        if not ranges:
            raise ValueError("Argmax needs at least one score")
        check_register_every(register_every)
        self._ranges = ranges
        self._name = name
        self._registers = register_levels(tree_depth(len(ranges)), register_every)
        self._split = argmax_split(len(ranges), register_every)
        members = {f"s{k}": In(range_shape(lo, hi)) for k, (lo, hi) in enumerate(ranges)}
        members["en"] = In(1, init=1)
        members["label"] = Out(self.label_width)
        members.update({f"y{k}": Out(range_shape(lo, hi)) for k, (lo, hi) in enumerate(ranges)})
        super().__init__(wiring.Signature(members))

    @property
    def label_width(self):
        return semantics.label_width(len(self._ranges))

    @property
    def latency(self):
        return len(self._registers) + self._split + 1

    def elaborate(self, platform):
        m = Module()
        nl = Netlist()
        nl.en = nl.input("en", unsigned(1))
        scores = [nl.input(f"s{k}", range_shape(*r)) for k, r in enumerate(self._ranges)]
        label, delayed = build_argmax(nl, scores, self._ranges, self._registers, self._name,
                                      split=self._split)
        nl.drive(nl.output("label", unsigned(self.label_width)), label)
        for k, s in enumerate(delayed):
            nl.drive(nl.output(f"y{k}", s.shape), s)
        ports = {name: getattr(self, name) for name in
                 ["en", "label", *(f"s{k}" for k in range(len(self._ranges))),
                  *(f"y{k}" for k in range(len(self._ranges)))]}
        to_amaranth(nl, m, ports)
        return m


class NetworkContract:
    """The read-only facts every lwc network component offers (what the UART top, the
    testbenches and the reports read), from its :attr:`plan`."""

    @property
    def plan(self):
        """The plan (:class:`~lwc.hw.plan.ParallelPlan` or :class:`~lwc.hw.plan.StreamingPlan`)
        this component builds."""
        return self._plan

    @property
    def input_count(self):
        return self._plan.input_count

    @property
    def input_bits(self):
        return self._plan.input_bits

    @property
    def input_map(self):
        return self._plan.input_map

    @property
    def n_classes(self):
        return self._plan.n_classes

    @property
    def label_width(self):
        return self._plan.label_width

    @property
    def score_width(self):
        """Width of each (signed) score in ``o.payload.scores``: the widest class needs it."""
        return self._plan.score_width

    @property
    def score_ranges(self):
        """Exact ``(lo, hi)`` of each class score."""
        return self._plan.score_ranges

    @property
    def sum_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each neuron's weighted sum."""
        return self._plan.sum_ranges

    @property
    def shared_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each shared node (see ``LayerSpec.shared``)."""
        return self._plan.shared_ranges

    @property
    def layer_latencies(self):
        """Latency of each layer stage, in order; ``latency`` adds the argmax stage's."""
        return self._plan.layer_latencies

    @property
    def latency(self):
        """Clock edges from the one that accepts an input (its last transfer) to the one that
        delivers its output, when ``o.ready`` stays high."""
        return self._plan.latency

    @property
    def cycles_per_inference(self):
        return self._plan.cycles_per_inference

    # Each component names the plan type it builds and the function that makes one from its
    # arguments.
    _plan_type = None
    _make_plan = None

    def __new__(cls, plan=None, *, src_loc_at=0, **options):
        # A plan that cannot be built is refused before the component exists.
        if plan is not None:
            if options:
                raise TypeError("Give either a plan or its arguments, not both")
            if not isinstance(plan, cls._plan_type):
                raise TypeError(f"plan must be a {cls._plan_type.__name__}, not {plan!r}")
        return super().__new__(cls, src_loc_at=1 + src_loc_at)

    def __init__(self, plan=None, *, src_loc_at=0, **options):
        self._plan = self._make_plan(**options) if plan is None else plan
        super().__init__(self._signature(self._plan.features_per_cycle),
                         src_loc_at=1 + src_loc_at)

    def _signature(self, features):
        plan = self._plan
        return {
            "i": In(stream.Signature(data.ArrayLayout(unsigned(plan.input_bits), features))),
            "o": Out(stream.Signature(data.StructLayout({
                "label": unsigned(plan.label_width),
                "scores": data.ArrayLayout(signed(plan.score_width), plan.n_classes),
            }))),
        }


class TernaryNetwork(NetworkContract, wiring.Component):
    """A sparse integer network as a stream pipeline: one inference accepted per clock.

    The input vector goes straight into the first layer's adder trees; each layer ends in a
    register stage, then an argmax stage computes the label. Valid bits travel alongside the
    data. The whole pipeline advances when ``~o.valid | o.ready`` (and ``i.ready`` is that
    signal), so a blocked output holds everything in place and its payload stays stable; the ready
    path is one gate deep however long the pipeline is. The design is the netlist of
    :func:`build_parallel`, which :func:`network_verilog` writes as Verilog.

    Parameters
    ----------
    plan : ParallelPlan
        What to build (see :func:`~lwc.hw.plan.parallel_plan`). Instead of a plan, its arguments
        may be given as keywords:
    input_count : int
        Number of features in the input vector.
    input_bits : int
        Width of each (unsigned) feature.
    input_map : sequence of int
        ``input_map[k]`` is the feature that the first layer's index ``k`` reads.
    layers : sequence of LayerSpec
        Hidden layers (``step``, ``ternary`` or ``clip``) then the output layer (``linear``), at
        least one neuron.
    register_every : int or None
        Extra pipeline registers every this many adder / comparator levels (see
        :class:`AdderTree`); ``None`` registers once per layer and once after the argmax.
    keep_adders, compress : bool
        Mark every adder ``keep``; build neurons over one-bit inputs as compressor trees (see
        :class:`TernaryLayer`).

    Members
    -------
    i : ``In(stream.Signature(data.ArrayLayout(unsigned(input_bits), input_count)))``
        Input vectors; feature ``k`` in payload bits ``[k*input_bits, (k+1)*input_bits)``.
    o : ``Out(stream.Signature(data.StructLayout({"label": unsigned(label_width),
        "scores": data.ArrayLayout(signed(score_width), n_classes)})))``
        The predicted class (ties to the lowest index) and every class score.
    """

    _plan_type = ParallelPlan
    _make_plan = staticmethod(parallel_plan)

    def elaborate(self, platform):
        m = Module()
        to_amaranth(build_parallel(self._plan), m, {
            "i__payload": self.i.payload.as_value(), "i__valid": self.i.valid,
            "i__ready": self.i.ready, "o__payload": self.o.payload.as_value(),
            "o__valid": self.o.valid, "o__ready": self.o.ready,
        })
        return m
