"""The whole network as a stream pipeline: layers, then an argmax stage."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from lwc import semantics

from .adder_tree import (
    VerilogOps,
    VerilogValue,
    _check_register_every,
    literal,
    range_shape,
    register_levels,
    tree_depth,
)
from .layer import TernaryLayer, build_layer, layer_plan

__all__ = ["Argmax", "NetworkContract", "TernaryNetwork"]


class Argmax(wiring.Component):
    """Index of the largest of ``n`` scores (ties to the lowest index), with the scores alongside.

    A balanced tree of comparators: each node keeps its left (lower-index) operand unless the right
    one is strictly greater, which is exactly ``numpy.argmax``. The output is registered, so the
    stage has a latency of at least 1.

    Parameters
    ----------
    ranges : sequence of (int, int)
        ``(lo, hi)`` of each score; at least one.
    register_every : int or None
        Also register after every this many comparator levels (never after the last: the output
        register follows it).
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
        _check_register_every(register_every)
        self._ranges = ranges
        self._name = name
        self._levels = tree_depth(len(ranges))
        self._registers = register_levels(self._levels, register_every)
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
        return len(self._registers) + 1

    def elaborate(self, platform):
        m = Module()
        scores = [getattr(self, f"s{k}") for k in range(len(self._ranges))]
        # A node is (value, lo, hi, index): the best score of its leaves and where it is.
        nodes = [(s, lo, hi, k) for k, (s, (lo, hi)) in enumerate(zip(scores, self._ranges))]

        def register(value, name):
            reg = Signal.like(value, name=name, reset_less=True)
            with m.If(self.en):
                m.d.sync += reg.eq(value)
            return reg

        for level in range(1, self._levels + 1):
            paired = []
            for k in range(0, len(nodes) - 1, 2):
                (va, la, ha, ia), (vb, lb, hb, ib) = nodes[k], nodes[k + 1]
                prefix = f"{self._name}_{level}_{k // 2}"
                lo, hi = max(la, lb), max(ha, hb)
                value = Signal(range_shape(lo, hi), name=f"{prefix}_value")
                index = Signal(self.label_width, name=f"{prefix}_index")
                take_b = Signal(name=f"{prefix}_right")
                # Strictly greater: a tie keeps the left, lower-index operand.
                m.d.comb += [take_b.eq(vb > va), value.eq(Mux(take_b, vb, va)),
                             index.eq(Mux(take_b, ib, ia))]
                paired.append((value, lo, hi, index))
            if len(nodes) % 2:
                paired.append(nodes[-1])
            nodes = paired
            if level in self._registers:
                nodes = [(register(v, f"{self._name}_{level}_{k}_value_r"), lo, hi,
                          register(i, f"{self._name}_{level}_{k}_index_r"))
                         for k, (v, lo, hi, i) in enumerate(nodes)]
                scores = [register(s, f"{self._name}_{level}_s{k}") for k, s in enumerate(scores)]
        ((_, _, _, index),) = nodes
        m.d.comb += self.label.eq(register(index, f"{self._name}_label"))
        for k, s in enumerate(scores):
            m.d.comb += getattr(self, f"y{k}").eq(register(s, f"{self._name}_score{k}"))
        return m


def check_structure(input_count, input_map, layers):
    """``(input_map, layers)`` as tuples, after checking that ``input_map`` names strictly
    increasing features below ``input_count`` and that ``layers`` are hidden (non-linear) layers
    then one linear output layer with at least one neuron; :class:`ValueError` otherwise."""
    input_map = tuple(input_map)
    if not all(0 <= k < input_count for k in input_map) or \
            any(a >= b for a, b in zip(input_map, input_map[1:])):
        raise ValueError(f"input_map must be strictly increasing feature indices below "
                         f"{input_count}, not {input_map!r}")
    layers = tuple(layers)
    if not layers:
        raise ValueError("A network needs at least one layer")
    for index, spec in enumerate(layers):
        kind = spec.activation.kind
        last = index == len(layers) - 1
        if last and (kind != "linear" or not spec.neurons):
            raise ValueError(f"The output layer must be linear with at least one neuron, "
                             f"not {kind!r} with {len(spec.neurons)}")
        if not last and kind == "linear":
            raise ValueError(f"Layer {index}: a hidden layer cannot be linear")
    return input_map, layers


class NetworkContract:
    """The read-only facts every lwc network component offers (what the UART top, the
    testbenches and the reports read), from the attributes ``_input_count``, ``_input_bits``,
    ``_score_ranges``, ``_score_width`` and ``_sum_ranges`` the component sets."""

    @property
    def input_count(self):
        return self._input_count

    @property
    def input_bits(self):
        return self._input_bits

    @property
    def n_classes(self):
        return len(self._score_ranges)

    @property
    def label_width(self):
        return semantics.label_width(self.n_classes)

    @property
    def score_width(self):
        """Width of each (signed) score in ``o.payload.scores``: the widest class needs it."""
        return self._score_width

    @property
    def score_ranges(self):
        """Exact ``(lo, hi)`` of each class score."""
        return self._score_ranges

    @property
    def sum_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each neuron's weighted sum."""
        return tuple(self._sum_ranges)


class TernaryNetwork(NetworkContract, wiring.Component):
    """A sparse integer network as a stream pipeline: one inference accepted per clock.

    The input vector goes straight into the first layer's adder trees; each layer ends in a
    register stage, then an :class:`Argmax` stage computes the label. Valid bits travel alongside
    the data. The whole pipeline advances when ``~o.valid | o.ready`` (and ``i.ready`` is that
    signal), so a blocked output holds everything in place and its payload stays stable; the ready
    path is one gate deep however long the pipeline is.

    Parameters
    ----------
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

    def __init__(self, *, input_count, input_bits, input_map, layers, register_every=None,
                 keep_adders=True, compress=True, src_loc_at=0):
        if not (isinstance(input_count, int) and input_count >= 1):
            raise ValueError(f"input_count must be a positive integer, not {input_count!r}")
        if not (isinstance(input_bits, int) and input_bits >= 1):
            raise ValueError(f"input_bits must be a positive integer, not {input_bits!r}")
        input_map, layers = check_structure(input_count, input_map, layers)
        _check_register_every(register_every)
        self._input_count = input_count
        self._input_bits = input_bits
        self._input_map = input_map
        self._layers = layers
        self._register_every = register_every
        self._keep_adders = keep_adders
        self._compress = compress
        # Plans, not components: a component built here and never elaborated would warn.
        ranges = [(0, (1 << input_bits) - 1)] * len(input_map)
        self._layer_ranges = []
        self._layer_latencies = []
        self._sum_ranges = []
        self._shared_ranges = []
        for spec in layers:
            plan = layer_plan(spec, ranges, register_every)
            sums, outputs, tree_latency = plan.sum_ranges, plan.output_ranges, plan.tree_latency
            self._layer_ranges.append(tuple(ranges))
            self._sum_ranges.append(sums)
            self._shared_ranges.append(plan.shared_ranges)
            self._layer_latencies.append(tree_latency + 1)
            ranges = outputs
        self._score_ranges = tuple(ranges)
        self._argmax_latency = len(register_levels(tree_depth(len(ranges)), register_every)) + 1
        self._score_width = semantics.score_width(ranges)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(unsigned(input_bits), input_count))),
            "o": Out(stream.Signature(data.StructLayout({
                "label": unsigned(self.label_width),
                "scores": data.ArrayLayout(signed(self._score_width), self.n_classes),
            }))),
        }, src_loc_at=1 + src_loc_at)

    @property
    def shared_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each shared node (see ``LayerSpec.shared``)."""
        return tuple(self._shared_ranges)

    @property
    def layer_latencies(self):
        """Latency of each layer stage, in order; ``latency`` adds the argmax stage's."""
        return tuple(self._layer_latencies)

    @property
    def latency(self):
        """Clock edges from the one that accepts an input to the one that delivers its output,
        when ``o.ready`` stays high."""
        return sum(self._layer_latencies) + self._argmax_latency

    def elaborate(self, platform):
        m = Module()
        en = Signal(name="advance")
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        values = [self.i.payload[k] for k in self._input_map]
        for index, spec in enumerate(self._layers):
            layer = TernaryLayer(spec, self._layer_ranges[index], index=index,
                                 register_every=self._register_every,
                                 keep_adders=self._keep_adders, compress=self._compress)
            assert layer.latency == self._layer_latencies[index]
            m.submodules[f"layer{index}"] = layer
            m.d.comb += layer.en.eq(en)
            for k, v in enumerate(values):
                m.d.comb += getattr(layer, f"x{k}").eq(v)
            values = layer.outputs
        argmax = Argmax(self._score_ranges, register_every=self._register_every)
        assert argmax.latency == self._argmax_latency
        m.submodules.argmax = argmax
        m.d.comb += argmax.en.eq(en)
        for k, v in enumerate(values):
            m.d.comb += getattr(argmax, f"s{k}").eq(v)
        valid = self.i.valid
        for stage in range(1, self.latency + 1):
            reg = Signal(name=f"valid_{stage}")
            with m.If(en):
                m.d.sync += reg.eq(valid)
            valid = reg
        m.d.comb += [
            self.o.valid.eq(valid),
            self.o.payload.label.eq(argmax.label),
            *(self.o.payload.scores[k].eq(getattr(argmax, f"y{k}"))
              for k in range(self.n_classes)),
        ]
        return m


    def verilog(self, name="lwc_net"):
        """This network as Verilog text: one module ``name`` with the ports, names and logic of
        the Verilog Amaranth writes for it (same adders, registers and signal names; activations
        and argmax written as the equivalent expressions), made directly rather than through
        Amaranth's netlist and Yosys, which is what makes large nets quick to export.
        """
        # Written out, the design is used, as if elaborated: no "created but never used" warning.
        self._MustUse__used = True
        bits = self._input_bits
        label_width, score_width = self.label_width, self._score_width
        payload = label_width + self.n_classes * score_width
        lines = [
            f"module {name}(clk, rst, i__payload, i__valid, i__ready, o__payload, o__valid, "
            "o__ready);",
            "  input clk;", "  input rst;",
            f"  input [{self._input_count * bits - 1}:0] i__payload;",
            "  input i__valid;", "  output i__ready;",
            f"  output [{payload - 1}:0] o__payload;",
            "  output o__valid;", "  input o__ready;",
            "  wire en = ~o__valid | o__ready;",
            "  assign i__ready = en;",
        ]
        # No (* keep *) in the Verilog: YoWASP Yosys 0.70 synth_ice40 loses drivers of kept wires
        # (a flip-flop gets .D(1'hx)), so a user synthesizing net.v would get broken hardware.
        # The bitstream build goes through RTLIL, where the attribute is kept and is safe.
        ops = VerilogOps(lines, keep=False)
        values = [ops.assign(ops.declare(f"x{k}", unsigned(bits)),
                             f"i__payload[{k * bits + bits - 1}:{k * bits}]")
                  for k in self._input_map]
        for index, spec in enumerate(self._layers):
            ranges = self._layer_ranges[index]
            plan = layer_plan(spec, ranges, self._register_every)
            outputs = build_layer(ops, spec, plan, values, ranges, index,
                                  compress=self._compress)
            values = [_verilog_constant(ops, f"l{index}_c{j}", v) if isinstance(v, int) else v
                      for j, v in enumerate(outputs)]
        label, scores = _argmax_verilog(ops, values, self._score_ranges, self._register_every,
                                        label_width)
        lines.append(f"  assign o__payload[{label_width - 1}:0] = {label.text()};")
        for k, score in enumerate(scores):
            lines.append(f"  assign o__payload[{label_width + k * score_width} +: {score_width}] "
                         f"= {score.text()};")
        valid = "i__valid"
        for stage in range(1, self.latency + 1):
            lines.append(f"  reg valid_{stage} = 1'h0;")
            lines.append(f"  always @(posedge clk) if (rst) valid_{stage} <= 1'h0; "
                         f"else if (en) valid_{stage} <= {valid};")
            valid = f"valid_{stage}"
        lines.append(f"  assign o__valid = {valid};")
        lines.append("endmodule")
        return "\n".join(lines) + "\n"


def _verilog_constant(ops, name, value):
    return ops.assign(ops.declare(name, range_shape(value, value)), literal(value))


def _argmax_verilog(ops, scores, ranges, register_every, label_width, name="argmax"):
    """:class:`Argmax` as Verilog lines; returns the ``(label, scores)`` registers."""
    levels = tree_depth(len(ranges))
    registers = register_levels(levels, register_every)
    index_shape = unsigned(label_width)
    nodes = [(s, lo, hi, VerilogValue(f"{label_width}'d{k}", index_shape))
             for k, (s, (lo, hi)) in enumerate(zip(scores, ranges))]
    for level in range(1, levels + 1):
        paired = []
        for k in range(0, len(nodes) - 1, 2):
            (va, la, ha, ia), (vb, lb, hb, ib) = nodes[k], nodes[k + 1]
            prefix = f"{name}_{level}_{k // 2}"
            lo, hi = max(la, lb), max(ha, hb)
            right = ops.assign(ops.declare(f"{prefix}_right", unsigned(1)),
                               f"{vb.signed_text()} > {va.signed_text()}")
            value = ops.assign(ops.declare(f"{prefix}_value", range_shape(lo, hi)),
                               f"{right.name} ? {vb.signed_text()} : {va.signed_text()}")
            index = ops.assign(ops.declare(f"{prefix}_index", index_shape),
                               f"{right.name} ? {ib.text()} : {ia.text()}")
            paired.append((value, lo, hi, index))
        if len(nodes) % 2:
            paired.append(nodes[-1])
        nodes = paired
        if level in registers:
            nodes = [(ops.reg(f"{name}_{level}_{k}_value_r", range_shape(lo, hi), v), lo, hi,
                      ops.reg(f"{name}_{level}_{k}_index_r", index_shape, i))
                     for k, (v, lo, hi, i) in enumerate(nodes)]
            scores = [ops.reg(f"{name}_{level}_s{k}", range_shape(*ranges[k]), s)
                      for k, s in enumerate(scores)]
    ((_, _, _, index),) = nodes
    label = ops.reg(f"{name}_label", index_shape, index)
    return label, [ops.reg(f"{name}_score{k}", range_shape(*ranges[k]), s)
                   for k, s in enumerate(scores)]
