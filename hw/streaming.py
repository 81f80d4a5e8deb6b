"""The folded network: the first layer computed neuron by neuron from block-RAM weights, the rest
in parallel.

A net whose first layer reads hundreds of inputs (MNIST: 784) is far too big for a small FPGA as
a fully parallel :class:`~lwc.hw.TernaryNetwork`, but its first layer's weights, a few bits each,
fit in block RAM. :class:`StreamingNetwork` receives the input vector ``F`` features per transfer
into an image buffer, then walks a ROM of *entries*, one per clock in each of ``L`` lanes,
accumulating each first-layer neuron's sum and applying its activation at the end of the neuron;
the activations then go through the remaining layers and the argmax as in
:class:`~lwc.hw.TernaryNetwork`.

Entry encoding
--------------
An entry is ``entry_bits`` wide: a ``D = entry_bits - 1`` bit field ``delta`` (low bits) and a
sign bit (the top bit). ``S = 2**D - 1`` is reserved:

====================  ===========================================================================
entry                 meaning
====================  ===========================================================================
``delta < S``, sign   ``index += delta``, then ``acc += x[index]`` (sign 0) or ``-= x[index]`` (1)
``delta == S``, 0     skip: ``index += S`` and nothing else (a gap wider than ``S - 1``)
``delta == S``, 1     end of neuron: activation of ``acc``; ``acc`` and ``index`` restart
====================  ===========================================================================

Entries list the neurons one after the other, each neuron's inputs in increasing order; a weight
``w`` with ``|w| > 1`` is ``|w|`` entries, the repeats with ``delta == 0``. ``index`` addresses
the whole input vector (``input_map`` is folded in) in *padded* positions: feature ``f`` is
``(f // F) * P + f % F`` with ``P`` the power of two at or above ``F``, so its buffer word and
the feature within the word are bit fields of ``index``. Each neuron starts from ``index = base``,
the lowest position any neuron reads. The default ``entry_bits = 6`` is the densest in practice:
in the 784-input MNIST nets measured with ``bench/streaming.py``, under 5 % of the entries are
skips or ends, and Yosys packs 6-bit words into iCE40 block RAMs without waste.

The activation's per-neuron parameter is folded into the accumulator's initial value: ``acc``
starts at ``-t`` (``step``, ``clip``), ``-hi`` (``ternary``, which also keeps ``lo - hi``) or the
bias (``linear``), so at the end of the neuron ``step`` is ``acc >= 0``, ``clip`` is
``clamp(acc >> shift, 0, 2**bits - 1)`` and ``ternary`` compares ``acc`` with 0 and ``lo - hi``;
the parameters come from a small ROM per lane. A neuron whose output is constant (see
``docs/semantics.md``) has no entries: its constant goes to the next layer directly.

Lanes
-----
The neurons that are not constant are split into ``lanes`` groups with about the same number of
entries (longest first, each to the lane with the fewest entries so far); each lane has its own
entry ROM, parameter ROM and copy of the image buffer (written together), so the sequential phase
takes about ``1 / lanes`` of the cycles. A lane shifts each activation into a chain of registers,
so when it is done, register ``k`` of its chain holds its ``k``-th neuron's activation.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from lwc import semantics

from .adder_tree import _check_register_every, range_shape, register_levels, tree_depth
from .layer import TernaryLayer, layer_plan
from .network import Argmax, NetworkContract, check_structure

__all__ = ["StreamingNetwork", "LanePlan", "encode_neuron"]


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"{name} must be {what}, not {value!r}")


def _union(ranges):
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def _initial_value(kind, params):
    """The accumulator's initial value: the sum's offset that makes the activation simple."""
    if kind == "linear":
        return params[0]  # the score itself
    if kind == "ternary":
        return -params[1]  # acc >= 0 is s >= hi
    return -params[0]  # step: acc >= 0 is s >= t; clip: acc is s - t


def encode_neuron(positions, weights, *, base, delta_bits):
    """The entries of one neuron reading padded ``positions`` (increasing, all ``>= base``) with
    nonzero integer ``weights``, ending with the end-of-neuron entry (see the module docstring)."""
    special = (1 << delta_bits) - 1
    sign_bit = 1 << delta_bits
    entries = []
    index = base
    for position, weight in zip(positions, weights, strict=True):
        gap = position - index
        assert gap >= 0 and weight != 0
        while gap > special - 1:
            entries.append(special)  # skip
            gap -= special
        sign = sign_bit if weight < 0 else 0
        entries.append(sign | gap)
        entries.extend([sign] * (abs(weight) - 1))
        index = position
    entries.append(sign_bit | special)
    return entries


@dataclass(frozen=True)
class LanePlan:
    """One lane of the sequential layer: ``neurons`` (positions in the layer, in the order the
    lane computes them), their ``entries`` (the ROM contents), each neuron's accumulator
    initial value ``inits`` and, for ``ternary``, ``gaps`` (``lo - hi``), and the interval
    ``acc_range`` the accumulator takes."""

    neurons: tuple[int, ...]
    entries: tuple[int, ...]
    inits: tuple[int, ...]
    gaps: tuple[int, ...]
    acc_range: tuple[int, int]


class StreamingNetwork(NetworkContract, wiring.Component):
    """A sparse integer network whose first layer is computed sequentially from block RAM.

    An input vector arrives as ``transfers_per_vector`` transfers of ``features_per_cycle``
    features each into an image buffer; then each lane walks its entry ROM, one entry per clock
    (see the module docstring for the encoding), while ``i.ready`` is low; then the first layer's
    activations enter the remaining layers and the argmax, built as in
    :class:`~lwc.hw.TernaryNetwork`, and the next vector can arrive meanwhile. A blocked output
    holds its payload stable and eventually stops the input. With ``o.ready`` high and transfers
    back to back, a new inference completes every ``cycles_per_inference`` cycles, each
    ``latency`` cycles after its last transfer.

    Parameters
    ----------
    input_count, input_bits, input_map, layers, register_every, keep_adders, compress
        As for :class:`~lwc.hw.TernaryNetwork`. The first layer may not have shared nodes (a
        sequential layer gains nothing from them); ``register_every``, ``keep_adders`` and
        ``compress`` apply to the parallel layers after it.
    features_per_cycle : int
        Features per input transfer, ``F``.
    lanes : int
        Number of lanes, ``L`` (fewer are built when the first layer has fewer non-constant
        neurons).
    entry_bits : int
        Width of an entry, at least 2 (see the module docstring).

    Members
    -------
    i : ``In(stream.Signature(data.ArrayLayout(unsigned(input_bits), features_per_cycle)))``
        Input vectors, features in order, ``features_per_cycle`` per transfer; the last transfer
        of a vector is padded, and the padding is ignored.
    o : ``Out(stream.Signature(data.StructLayout({"label": unsigned(label_width),
        "scores": data.ArrayLayout(signed(score_width), n_classes)})))``
        The predicted class (ties to the lowest index) and every class score, exactly as
        :class:`~lwc.hw.TernaryNetwork`'s.
    """

    def __init__(self, *, input_count, input_bits, input_map, layers, register_every=None,
                 keep_adders=True, compress=True, features_per_cycle=1, lanes=1, entry_bits=6,
                 src_loc_at=0):
        _positive_int("input_count", input_count)
        _positive_int("input_bits", input_bits)
        _positive_int("features_per_cycle", features_per_cycle)
        _positive_int("lanes", lanes)
        _positive_int("entry_bits", entry_bits, minimum=2)
        input_map, layers = check_structure(input_count, input_map, layers)
        if layers[0].shared:
            raise ValueError("The sequential first layer cannot have shared nodes; expand them "
                             "into its neurons first")
        _check_register_every(register_every)
        self._input_count = input_count
        self._input_bits = input_bits
        self._input_map = input_map
        self._layers = layers
        self._register_every = register_every
        self._keep_adders = keep_adders
        self._compress = compress
        self._features = features_per_cycle
        self._lanes = lanes
        self._entry_bits = entry_bits
        self._transfers = -(-input_count // features_per_cycle)
        self._pos_bits = (features_per_cycle - 1).bit_length()

        ranges = [(0, (1 << input_bits) - 1)] * len(input_map)
        self._layer_ranges, self._sum_ranges, self._shared_ranges = [], [], []
        self._tail_latencies = []
        for index, spec in enumerate(layers):
            plan = layer_plan(spec, ranges, register_every if index else None)
            self._layer_ranges.append(tuple(ranges))
            self._sum_ranges.append(plan.sum_ranges)
            self._shared_ranges.append(plan.shared_ranges)
            if index:
                self._tail_latencies.append(plan.tree_latency + 1)
            else:
                first_outputs = plan.output_ranges
            ranges = plan.output_ranges
        self._first_outputs = first_outputs
        self._score_ranges = tuple(ranges)
        self._argmax_latency = len(register_levels(tree_depth(len(ranges)), register_every)) + 1
        self._score_width = semantics.score_width(ranges)
        self._plan_lanes()
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(unsigned(input_bits), features_per_cycle))),
            "o": Out(stream.Signature(data.StructLayout({
                "label": unsigned(self.label_width),
                "scores": data.ArrayLayout(signed(self._score_width), self.n_classes),
            }))),
        }, src_loc_at=1 + src_loc_at)

    def _position(self, feature):
        return (feature // self._features << self._pos_bits) + feature % self._features

    def _plan_lanes(self):
        spec = self._layers[0]
        act = spec.activation
        delta_bits = self._entry_bits - 1
        active = [j for j, (lo, hi) in enumerate(self._first_outputs) if lo != hi]
        positions = {j: [self._position(self._input_map[k]) for k in spec.neurons[j].inputs]
                     for j in active}
        self._base = min((p[0] for p in positions.values() if p), default=0)
        entries = {j: encode_neuron(positions[j], spec.neurons[j].weights, base=self._base,
                                    delta_bits=delta_bits) for j in active}
        groups = [[] for _ in range(min(self._lanes, len(active)))]
        loads = [0] * len(groups)
        for j in sorted(active, key=lambda j: (-len(entries[j]), j)):
            lane = min(range(len(groups)), key=lambda k: (loads[k], k))
            groups[lane].append(j)
            loads[lane] += len(entries[j])
        self._lane_plans = []
        for group in groups:
            group.sort()
            inits, gaps, accs = [], [], []
            for j in group:
                params = spec.neurons[j].params
                init = _initial_value(act.kind, params)
                inits.append(init)
                gaps.append(params[0] - params[1] if act.kind == "ternary" else 0)
                lo, hi = self._sum_ranges[0][j]
                accs.append((init + lo, init + hi))
            self._lane_plans.append(LanePlan(
                neurons=tuple(group), entries=tuple(e for j in group for e in entries[j]),
                inits=tuple(inits), gaps=tuple(gaps), acc_range=_union(accs)))
        assert all(len(entries[j]) >= 2 for j in active)  # a weight entry, then the end
        most = max((len(p.entries) for p in self._lane_plans), default=0)
        # Two cycles more than the entries: the ROM and the image buffer each take one to read.
        self._run_cycles = most + 2 if most else 0

    # The network contract shared with TernaryNetwork.

    @property
    def input_map(self):
        return self._input_map

    @property
    def shared_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each shared node (none in the first)."""
        return tuple(self._shared_ranges)

    @property
    def layer_latencies(self):
        """Cycles of each layer stage: the sequential phase (:attr:`run_cycles`, plus the cycle
        in which its activations are offered to the next layer), then each parallel layer's;
        ``latency`` adds the argmax stage's."""
        return (self._run_cycles + 1, *self._tail_latencies)

    @property
    def latency(self):
        """Clock edges from the one that accepts a vector's last transfer to the one that
        delivers its output, when ``o.ready`` stays high and the previous vector's first-layer
        activations have entered the parallel layers (as they have when transfers come back to
        back)."""
        return sum(self.layer_latencies) + self._argmax_latency

    # Facts of the sequential layer.

    @property
    def features_per_cycle(self):
        return self._features

    @property
    def transfers_per_vector(self):
        """Transfers on ``i`` per input vector: ``ceil(input_count / features_per_cycle)``."""
        return self._transfers

    @property
    def lanes(self):
        """Lanes built: ``min(lanes, non-constant first-layer neurons)``."""
        return len(self._lane_plans)

    @property
    def lane_plans(self):
        """The :class:`LanePlan` of each lane."""
        return tuple(self._lane_plans)

    @property
    def entry_bits(self):
        return self._entry_bits

    @property
    def entry_counts(self):
        """Entries in each lane's ROM."""
        return tuple(len(p.entries) for p in self._lane_plans)

    @property
    def run_cycles(self):
        """Cycles of the sequential phase: the most entries of a lane, plus 2 (0 without lanes)."""
        return self._run_cycles

    @property
    def cycles_per_inference(self):
        """Cycles between inferences when transfers come back to back and ``o.ready`` stays
        high: ``transfers_per_vector + run_cycles`` (exact; the parallel layers work while the
        next vector arrives)."""
        return self._transfers + self._run_cycles

    @property
    def memories(self):
        """``(name, width, depth)`` of every memory: per lane the entry ROM, the parameter ROM
        and the image buffer."""
        result = []
        for k, plan in enumerate(self._lane_plans):
            result.append((f"lane{k}_entries", self._entry_bits, len(plan.entries)))
            result.append((f"lane{k}_params", self._param_width(plan), len(plan.neurons)))
            result.append((f"lane{k}_image", self._features * self._input_bits,
                           self._transfers))
        return tuple(result)

    @property
    def rom_bits(self):
        """Bits of the entry and parameter ROMs."""
        return sum(w * d for name, w, d in self.memories if not name.endswith("_image"))

    @property
    def memory_bits(self):
        """Bits of every memory: the ROMs and the image buffers."""
        return sum(w * d for _, w, d in self.memories)

    def _param_shapes(self, plan):
        lo, hi = _union([(v, v) for v in plan.inits])
        init = range_shape(lo, max(hi, 1))  # not zero bits wide: Yosys fails on such memories
        if self._layers[0].activation.kind != "ternary":
            return init, None
        return init, range_shape(*_union([(v, v) for v in plan.gaps]))

    def _param_width(self, plan):
        return sum(s.width for s in self._param_shapes(plan) if s is not None)

    def _activation_shape(self):
        ranges = [r for r in self._first_outputs if r[0] != r[1]]
        return range_shape(*_union(ranges)) if ranges else unsigned(0)

    def elaborate(self, platform):
        m = Module()
        transfers, run_cycles = self._transfers, self._run_cycles
        advance = Signal(name="advance")  # the parallel layers move on
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # Input: one vector of ``transfers`` transfers into the image buffers, then the lanes.
        transfer = Signal(range(transfers), name="stream_transfer")
        loaded = Signal(name="stream_loaded")  # a whole vector waits for the lanes
        running = Signal(name="stream_running")
        pc = Signal(range(max(run_cycles, 1)), name="stream_pc")
        hidden_valid = Signal(name="hidden_valid")  # the activations wait for the next layer
        accept = Signal(name="stream_accept")
        last = Signal(name="stream_last")
        start = Signal(name="stream_start")
        beginning = Signal(name="stream_beginning")  # the lanes' first cycle
        finishing = Signal(name="stream_finishing")  # the lanes' last cycle
        m.d.comb += [
            self.i.ready.eq(~loaded & ~running),
            accept.eq(self.i.valid & self.i.ready),
            last.eq(accept & (transfer == transfers - 1)),
            # The lanes overwrite the activations only from the third edge after the start, so
            # they may start as the parallel layers take the previous ones.
            start.eq((last | loaded) & (~hidden_valid | advance)),
            beginning.eq(running & (pc == 0)),
            finishing.eq(running & (pc == run_cycles - 1)),
        ]
        with m.If(accept):
            m.d.sync += transfer.eq(Mux(last, 0, transfer + 1))
        with m.If(advance):
            m.d.sync += hidden_valid.eq(0)
        with m.If(start):
            m.d.sync += loaded.eq(0)
            if run_cycles:
                m.d.sync += [running.eq(1), pc.eq(0)]
            else:
                m.d.sync += hidden_valid.eq(1)
        with m.Elif(last):
            m.d.sync += loaded.eq(1)
        with m.If(running):
            m.d.sync += pc.eq(pc + 1)
            with m.If(finishing):
                m.d.sync += [running.eq(0), hidden_valid.eq(1)]

        hidden = [lo if lo == hi else None for lo, hi in self._first_outputs]
        for k, plan in enumerate(self._lane_plans):
            chain = self._lane(m, k, plan, accept, transfer, start, beginning,
                               running & ~finishing, pc)
            for j, reg in zip(plan.neurons, chain):
                hidden[j] = reg

        # The parallel layers and the argmax, as in TernaryNetwork, enabled by ``advance``.
        values = hidden
        for index, spec in enumerate(self._layers[1:], start=1):
            layer = TernaryLayer(spec, self._layer_ranges[index], index=index,
                                 register_every=self._register_every,
                                 keep_adders=self._keep_adders, compress=self._compress)
            assert layer.latency == self._tail_latencies[index - 1]
            m.submodules[f"layer{index}"] = layer
            m.d.comb += layer.en.eq(advance)
            for x, v in enumerate(values):
                m.d.comb += getattr(layer, f"x{x}").eq(v)
            values = layer.outputs
        argmax = Argmax(self._score_ranges, register_every=self._register_every)
        assert argmax.latency == self._argmax_latency
        m.submodules.argmax = argmax
        m.d.comb += argmax.en.eq(advance)
        for k, v in enumerate(values):
            m.d.comb += getattr(argmax, f"s{k}").eq(v)
        valid = hidden_valid
        for stage in range(1, sum(self._tail_latencies) + self._argmax_latency + 1):
            reg = Signal(name=f"valid_{stage}")
            with m.If(advance):
                m.d.sync += reg.eq(valid)
            valid = reg
        m.d.comb += [
            self.o.valid.eq(valid),
            self.o.payload.label.eq(argmax.label),
            *(self.o.payload.scores[k].eq(getattr(argmax, f"y{k}"))
              for k in range(self.n_classes)),
        ]
        return m

    def _lane(self, m, k, plan, accept, transfer, start, beginning, running, pc):
        """Lane ``k``: its memories, its three-stage pipeline, and its chain of activations.

        ``running`` is low in the last cycle of the sequential phase (only the end of the last
        neuron is left to do then) and outside it: the parameter ROM then reads neuron 0's
        parameters, which the accumulator takes in the first cycle, ``beginning``."""
        act = self._layers[0].activation
        delta_bits = self._entry_bits - 1
        special = (1 << delta_bits) - 1
        name = f"lane{k}"
        count = len(plan.entries)
        last_position = self._position(self._input_count - 1)
        word_bits = self._features * self._input_bits

        image = memory.Memory(shape=unsigned(word_bits), depth=self._transfers, init=[])
        entries = memory.Memory(shape=unsigned(self._entry_bits), depth=count,
                                init=plan.entries)
        init_shape, gap_shape = self._param_shapes(plan)
        gap_width = 0 if gap_shape is None else gap_shape.width
        mask_i, mask_g = (1 << init_shape.width) - 1, (1 << gap_width) - 1
        words = [(v & mask_i) | ((g & mask_g) << init_shape.width)
                 for v, g in zip(plan.inits, plan.gaps)]
        params = memory.Memory(shape=unsigned(init_shape.width + gap_width),
                               depth=len(words), init=words)
        m.submodules[f"{name}_image"] = image
        m.submodules[f"{name}_entries"] = entries
        m.submodules[f"{name}_params"] = params
        write = image.write_port()
        m.d.comb += [write.addr.eq(transfer), write.data.eq(self.i.payload.as_value()),
                     write.en.eq(accept)]
        image_read = image.read_port()
        entry_read = entries.read_port()
        param_read = params.read_port()

        # Stage 0: fetch entry ``pc``.
        issue = Signal(name=f"{name}_issue")
        m.d.comb += [issue.eq(running & (pc < count)), entry_read.addr.eq(pc)]

        # Stage 1: decode; move the index; read the image buffer there.
        entry = Signal(self._entry_bits, name=f"{name}_entry")
        s1_valid = Signal(name=f"{name}_s1_valid")
        index = Signal(range(last_position + 1), name=f"{name}_index")
        next_index = Signal.like(index, name=f"{name}_next_index")
        delta, sign = entry[:delta_bits], entry[delta_bits]
        is_special = delta == special
        m.d.comb += [entry.eq(entry_read.data), next_index.eq(index + delta)]
        m.d.sync += s1_valid.eq(issue)
        m.d.comb += image_read.addr.eq(next_index >> self._pos_bits)
        s2_valid = Signal(name=f"{name}_s2_valid")
        s2_weight = Signal(name=f"{name}_s2_weight")
        s2_negative = Signal(name=f"{name}_s2_negative")
        s2_end = Signal(name=f"{name}_s2_end")
        s2_pos = Signal(self._pos_bits, name=f"{name}_s2_pos")
        m.d.sync += [s2_valid.eq(s1_valid), s2_weight.eq(~is_special), s2_negative.eq(sign),
                     s2_end.eq(is_special & sign), s2_pos.eq(next_index[:self._pos_bits])]
        with m.If(start):
            m.d.sync += index.eq(self._base)
        with m.Elif(s1_valid):
            m.d.sync += index.eq(Mux(is_special & sign, self._base, next_index))

        # Stage 2: accumulate, or finish the neuron.
        bits = self._input_bits
        x = Signal(bits, name=f"{name}_x")
        m.d.comb += x.eq(image_read.data.word_select(s2_pos, bits) if self._pos_bits
                         else image_read.data)
        acc = Signal(range_shape(*plan.acc_range), name=f"{name}_acc")
        gap = Signal(gap_shape or unsigned(0), name=f"{name}_gap")
        neuron = Signal(range(len(words) + 1), name=f"{name}_neuron")
        finish = Signal(name=f"{name}_finish")
        m.d.comb += [
            finish.eq(s2_valid & s2_end),
            # The parameters of the neuron after the current one, read ahead: neuron 0's before
            # the start, then neuron + 1's (none after the last). Every neuron has a weight entry
            # before its end, so the read has a cycle to follow ``neuron``.
            param_read.addr.eq(Mux(running & (neuron < len(words) - 1), neuron + 1, 0)),
        ]
        next_init = param_read.data[:init_shape.width].as_signed() if init_shape.signed else \
            param_read.data[:init_shape.width]
        next_gap = param_read.data[init_shape.width:].as_signed() if gap_width else None
        with m.If(beginning):
            m.d.sync += [acc.eq(next_init), neuron.eq(0)]
            if gap_width:
                m.d.sync += gap.eq(next_gap)
        with m.Elif(finish):
            m.d.sync += [acc.eq(next_init), neuron.eq(neuron + 1)]
            if gap_width:
                m.d.sync += gap.eq(next_gap)
        with m.Elif(s2_valid & s2_weight):
            m.d.sync += acc.eq(Mux(s2_negative, acc - x, acc + x))

        value = Signal(self._activation_shape(), name=f"{name}_act")
        if act.kind == "step":
            m.d.comb += value.eq(acc >= 0)
        elif act.kind == "ternary":
            positive, negative = acc >= 0, acc <= gap
            m.d.comb += value.eq(Cat(positive | negative, negative))
        elif act.kind == "clip":
            shifted = acc >> act.shift
            top = (1 << act.bits) - 1
            m.d.comb += value.eq(Mux(shifted < 0, 0, Mux(shifted > top, top, shifted)))
        else:
            m.d.comb += value.eq(acc)
        chain = [Signal.like(value, name=f"l0_n{self._layers[0].neurons[j].origin}_act",
                             reset_less=True) for j in plan.neurons]
        with m.If(finish):
            m.d.sync += [a.eq(b) for a, b in zip(chain, chain[1:])]
            m.d.sync += chain[-1].eq(value)
        return chain
