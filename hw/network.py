"""The whole network as a stream pipeline: layers, then an argmax stage."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .adder_tree import _check_register_every, range_shape, register_levels, tree_depth
from .layer import TernaryLayer, layer_plan

__all__ = ["Argmax", "TernaryNetwork"]


def _signed_width(lo, hi):
    """Width of the narrowest signed shape holding ``[lo, hi]``."""
    return range_shape(min(lo, -1), hi).width


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
        return max(1, (len(self._ranges) - 1).bit_length())

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


class TernaryNetwork(wiring.Component):
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

    Members
    -------
    i : ``In(stream.Signature(data.ArrayLayout(unsigned(input_bits), input_count)))``
        Input vectors; feature ``k`` in payload bits ``[k*input_bits, (k+1)*input_bits)``.
    o : ``Out(stream.Signature(data.StructLayout({"label": unsigned(label_width),
        "scores": data.ArrayLayout(signed(score_width), n_classes)})))``
        The predicted class (ties to the lowest index) and every class score.
    """

    def __init__(self, *, input_count, input_bits, input_map, layers, register_every=None,
                 src_loc_at=0):
        if not (isinstance(input_count, int) and input_count >= 1):
            raise ValueError(f"input_count must be a positive integer, not {input_count!r}")
        if not (isinstance(input_bits, int) and input_bits >= 1):
            raise ValueError(f"input_bits must be a positive integer, not {input_bits!r}")
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
        _check_register_every(register_every)
        self._input_count = input_count
        self._input_bits = input_bits
        self._input_map = input_map
        self._layers = layers
        self._register_every = register_every
        # Plans, not components: a component built here and never elaborated would warn.
        ranges = [(0, (1 << input_bits) - 1)] * len(input_map)
        self._layer_ranges = []
        self._layer_latencies = []
        self._sum_ranges = []
        for spec in layers:
            sums, outputs, _, tree_latency = layer_plan(spec, ranges, register_every)
            self._layer_ranges.append(tuple(ranges))
            self._sum_ranges.append(sums)
            self._layer_latencies.append(tree_latency + 1)
            ranges = outputs
        self._score_ranges = tuple(ranges)
        self._argmax_latency = len(register_levels(tree_depth(len(ranges)), register_every)) + 1
        self._score_width = max(_signed_width(lo, hi) for lo, hi in ranges)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(unsigned(input_bits), input_count))),
            "o": Out(stream.Signature(data.StructLayout({
                "label": unsigned(self.label_width),
                "scores": data.ArrayLayout(signed(self._score_width), self.n_classes),
            }))),
        }, src_loc_at=1 + src_loc_at)

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
        return max(1, (self.n_classes - 1).bit_length())

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
                                 register_every=self._register_every)
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

