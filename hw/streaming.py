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

With ``fold`` (:class:`~lwc.hw.plan.StreamingPlan`) the lanes keep no chain: the second layer is
accumulated as they go, each of its neurons an accumulator that adds, three cycles after a lane
finishes a first-layer neuron, that activation (-1, 0 or 1) times its weight from the lane's
``_next`` ROM; the first parallel layer is then the third (or just the argmax).

Lane pipeline
-------------
An entry takes :attr:`StreamingPlan.lane_stages` cycles from its fetch to the accumulator: the
entry memory's read, then the decoder and the index adder, whose sum addresses the image
buffer, then the image buffer's read, the feature's multiplexer and the accumulator. For a
faster clock, ``lane_registers`` (:data:`~lwc.hw.plan.LANE_REGISTERS`) cut that path: ``entry``
registers the memory's output, ``index`` addresses the image buffer from the index register
(a cycle after the addition), ``pixel`` registers the selected feature. Each adds a cycle to
the sequential phase and changes nothing else: the entries, the order of the additions and
every result are the same.

Sequential tail
---------------
When the output layer directly follows the first, a large one (MNIST's 10 classes over ~1,000
activations) costs far more logic as compressor trees than the lanes do. With ``tail=
"sequential"`` (:class:`~lwc.hw.plan.TailPlan`) each lane writes its activations into a small
memory instead of a chain; after the lanes, one step per clock reads activation ``t`` of every
lane and word ``t`` of a ROM of output weights, and each class adds the step's sum over the lanes
to an accumulator that started at its bias (plus what the constant neurons give); an argmax then
takes one class per clock. ``i.ready`` stays low meanwhile: about ``max neurons per lane +
classes`` more cycles per inference.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .adder_tree import range_shape
from .dsp import Accumulators
from .netlist import Netlist, to_amaranth
from .network import NetworkContract, build_back_end
from .plan import LanePlan, StreamingPlan, encode_neuron, streaming_plan
from .spram_table import LoadFault, SpramTable, boot_cycles

__all__ = ["StreamingNetwork", "LanePlan", "encode_neuron", "FLASH_SIGNATURE", "BOOT_SIGNATURE",
           "WAKE_CLOCK"]

#: The SPI pins of a network whose entry table is loaded from flash (``flash`` member).
FLASH_SIGNATURE = wiring.Signature({
    "sck": Out(1), "cs_n": Out(1, init=1), "copi": Out(1), "cipo": In(1)})
#: The boot status of such a network (``boot`` member; see :class:`~lwc.hw.spram_table.
#: SpramTable`): ``ready`` once the table is loaded and checked, ``error`` and ``fault`` when the
#: image was bad.
BOOT_SIGNATURE = wiring.Signature({"ready": Out(1), "error": Out(1), "fault": Out(LoadFault)})
#: The clock the flash wake-up wait (tRES1, 3 us) is counted at: the fastest an iCE40 runs, so
#: the wait is long enough at any clock the design meets timing at (at 12 MHz it is 25 us, a
#: few ten-thousandths of the boot).
WAKE_CLOCK = 100e6


def _shape(bits):
    width, is_signed = bits
    return signed(width) if is_signed else unsigned(width)


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
    weights : str
        ``"bram"``: each lane's entries in a ROM the bitstream initialises. ``"spram"``: every
        lane's entries in one :class:`~lwc.hw.spram_table.SpramTable` (SB_SPRAM256KA blocks on an
        iCE40 UltraPlus, a memory elsewhere), loaded from SPI flash after reset from the image of
        :meth:`StreamingPlan.table_payload`; ``i.ready`` stays low until the load has checked,
        and forever after a bad one.
    tail : str
        ``"parallel"`` (default): the layers after the first in logic, as in
        :class:`~lwc.hw.TernaryNetwork`. ``"sequential"``: the output layer, which must directly
        follow the first, one lane activation per clock from a ROM of weights, and the argmax one
        class per clock (see the module docstring).
    spram : bool or None
        For ``weights="spram"``: the table's ``spram`` (SB_SPRAM256KA instances, a behavioural
        memory, or decided by the platform at elaboration). Not part of the plan: it changes how
        the same design is mapped, not what it computes.
    dsp : bool or None
        For the accumulators the plan puts in DSP blocks (:attr:`StreamingPlan.dsp_lanes`,
        :attr:`~StreamingPlan.dsp_tail`): the :class:`~lwc.hw.dsp.Accumulators`' ``dsp``
        (SB_MAC16 instances, logic, or decided by the platform at elaboration). Not part of the
        plan either.

    Members
    -------
    i : ``In(stream.Signature(data.ArrayLayout(unsigned(input_bits), features_per_cycle)))``
        Input vectors, features in order, ``features_per_cycle`` per transfer; the last transfer
        of a vector is padded, and the padding is ignored.
    o : ``Out(stream.Signature(data.StructLayout({"label": unsigned(label_width),
        "scores": data.ArrayLayout(signed(score_width), n_classes)})))``
        The predicted class (ties to the lowest index) and every class score, exactly as
        :class:`~lwc.hw.TernaryNetwork`'s.
    flash : ``Out(FLASH_SIGNATURE)``
        With ``weights="spram"`` only: the SPI flash pins (``sck``, ``cs_n``, ``copi`` out,
        ``cipo`` in).
    boot : ``Out(BOOT_SIGNATURE)``
        With ``weights="spram"`` only: ``ready``, ``error`` and ``fault`` of the table's load.
    """

    _plan_type = StreamingPlan
    _make_plan = staticmethod(streaming_plan)

    def __init__(self, plan=None, *, spram=None, dsp=None, src_loc_at=0, **options):
        self._spram = spram
        self._dsp = dsp
        super().__init__(plan, src_loc_at=1 + src_loc_at, **options)

    def __new__(cls, plan=None, *, spram=None, dsp=None, src_loc_at=0, **options):
        return super().__new__(cls, plan, src_loc_at=1 + src_loc_at, **options)

    def _signature(self, features):
        members = super()._signature(features)
        if self._plan.weights == "spram":
            members.update(flash=Out(FLASH_SIGNATURE), boot=Out(BOOT_SIGNATURE))
        return members

    @property
    def weights(self):
        """Where the entries live: ``"bram"`` or ``"spram"``."""
        return self._plan.weights

    @property
    def boot_cycles(self):
        """Cycles from reset until ``boot.ready`` rises after a good load (0 with block RAM):
        :func:`~lwc.hw.spram_table.boot_cycles` of the table, its wake-up counted at
        :data:`WAKE_CLOCK`."""
        if self._plan.weights != "spram":
            return 0
        return boot_cycles(self._plan.table_bytes, clk_freq=WAKE_CLOCK)

    # Facts of the sequential layer, from the plan.

    @property
    def features_per_cycle(self):
        return self._plan.features_per_cycle

    @property
    def transfers_per_vector(self):
        """Transfers on ``i`` per input vector: ``ceil(input_count / features_per_cycle)``."""
        return self._plan.transfers_per_vector

    @property
    def lanes(self):
        """Lanes built: ``min(lanes, non-constant first-layer neurons)``."""
        return self._plan.lanes

    @property
    def lane_plans(self):
        """The :class:`LanePlan` of each lane."""
        return self._plan.lane_plans

    @property
    def entry_bits(self):
        return self._plan.entry_bits

    @property
    def entry_counts(self):
        """Entries in each lane's ROM."""
        return self._plan.entry_counts

    @property
    def run_cycles(self):
        """Cycles of the sequential phase: the most entries of a lane, plus 2 (0 without lanes)."""
        return self._plan.run_cycles

    @property
    def memories(self):
        """``(name, width, depth)`` of every memory (see :attr:`StreamingPlan.memories`)."""
        return self._plan.memories

    @property
    def rom_bits(self):
        return self._plan.rom_bits

    @property
    def memory_bits(self):
        return self._plan.memory_bits

    def elaborate(self, platform):
        m = Module()
        transfers, run_cycles = self._plan.transfers_per_vector, self._plan.run_cycles
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
        tail = self._plan.tail_plan
        # A sequential tail (see _tail) runs after the lanes, with i.ready low.
        draining = Signal(name="tail_draining")
        tail_busy = Signal(name="tail_busy")
        table = None
        if self._plan.weights == "spram":
            m.submodules.weights = table = SpramTable(
                self._plan.table_bytes, clk_freq=WAKE_CLOCK, width=self._plan.table_width,
                spram=self._spram)
            m.d.comb += [
                self.flash.sck.eq(table.sck), self.flash.cs_n.eq(table.cs_n),
                self.flash.copi.eq(table.copi), table.cipo.eq(self.flash.cipo),
                self.boot.ready.eq(table.ready), self.boot.error.eq(table.error),
                self.boot.fault.eq(table.fault),
            ]
        # ``transfer == transfers - 1``, as a register set with ``transfer``: the comparison is
        # then off the path from the input's valid through ``last`` and ``start`` to the lanes'
        # enables (the critical path at 48 MHz on the UP5K).
        at_last = Signal(name="stream_at_last", init=int(transfers == 1))
        if transfers > 1:
            with m.If(accept):
                m.d.sync += at_last.eq(transfer == transfers - 2)
        m.d.comb += [
            # Nothing is taken before the table is loaded and checked: a bad load never answers.
            self.i.ready.eq(~loaded & ~running & ~tail_busy
                            & (1 if table is None else table.ready)),
            accept.eq(self.i.valid & self.i.ready),
            last.eq(accept & at_last),
            # The lanes overwrite the activations only from the third edge after the start, so
            # they may start as the parallel layers take the previous ones.
            start.eq((last | loaded) & (~hidden_valid | advance)),
        ]
        # The first and last cycles of the lanes, as registers (they enable wide parts of every
        # lane): the cycle after the start, and the one after ``pc`` reaches its last but one.
        if run_cycles:
            m.d.sync += [beginning.eq(start),
                         finishing.eq(running & (pc == run_cycles - 2))]
        with m.If(accept):
            m.d.sync += transfer.eq(Mux(last, 0, transfer + 1))
        with m.If(advance):
            m.d.sync += hidden_valid.eq(0)
        with m.If(start):
            m.d.sync += loaded.eq(0)
            if run_cycles:
                m.d.sync += running.eq(1)
            else:
                m.d.sync += hidden_valid.eq(1)
        with m.Elif(last):
            m.d.sync += loaded.eq(1)
        # ``pc`` counts only while running and is back at 0 after the last cycle, so it waits
        # at 0 for the next start (which then enables nothing wider than ``running``).
        with m.If(running):
            m.d.sync += pc.eq(pc + 1)
            with m.If(finishing):
                m.d.sync += [running.eq(0), pc.eq(0)]
                if tail is None:
                    m.d.sync += hidden_valid.eq(1)
                else:
                    m.d.sync += draining.eq(1)

        entry_data = None
        if table is not None:
            # Every lane reads its entry ``pc`` from the same word (StreamingPlan.table_slot):
            # the word address is ``pc``'s high bits, the byte its low bits (registered, as the
            # table's read is) times the lanes, plus the lane.
            shift = self._plan.entries_per_word.bit_length() - 1
            m.d.comb += table.addr.eq(pc >> shift)
            low = Signal(max(shift, 1), name="table_pc_low")
            if shift:
                m.d.sync += low.eq(pc[:shift])
            entry_data = (table, low if shift else 0)
        plan = self._plan
        hidden = [None] * len(plan.first_outputs)
        finished = []
        chains = []
        # A sequential tail reads every lane's activations at one address, a step ahead.
        tail_addr = None if tail is None else Signal(range(tail.steps), name="tail_addr")
        ports = [None] * plan.lanes
        if plan.dsp_lanes:
            m.submodules.lane_accs = lane_accs = Accumulators(plan.dsp_lanes, plan.lane_acc_width,
                                                         dsp=self._dsp)
            ports[:plan.dsp_lanes] = lane_accs.acc
        for k, lane in enumerate(plan.lane_plans):
            chain, finish = self._lane(m, k, lane, accept, transfer, beginning,
                                       running & ~finishing, pc, entry_data, tail_addr,
                                       ports[k])
            finished.append(finish)
            chains.append(chain)
            for j, reg in zip(lane.neurons, chain):
                hidden[j] = reg
        if tail is not None:
            # The output layer and the argmax, sequential; ``hidden_valid`` is the output's valid.
            accs, done, adding = self._tail(m, tail, [c[0] for c in chains], draining,
                                            tail_addr)
            picking = self._tail_argmax(m, accs, done, hidden_valid)
            m.d.comb += tail_busy.eq(draining | adding | picking)
            return m
        first = plan.first_parallel
        if plan.fold:
            hidden = self._fold(m, finished, beginning)

        # The parallel layers, the argmax and the valid pipeline, as in TernaryNetwork,
        # enabled by ``advance``.
        nl = Netlist(keep=plan.keep_adders)
        nl.en = nl.input("advance", unsigned(1))
        valid_in = nl.input("hidden_valid", unsigned(1))
        origins = [n.origin for n in plan.layers[first - 1].neurons]
        bindings = {"advance": advance, "hidden_valid": hidden_valid,
                    "o__payload": self.o.payload.as_value(), "o__valid": self.o.valid}
        values = []
        for j, ((lo, hi), value) in enumerate(zip(plan.layer_plans[first - 1].output_ranges,
                                                  hidden)):
            if lo == hi:
                values.append(nl.const(lo, range_shape(lo, hi)))
            else:
                name = f"l{first - 1}_n{origins[j]}_act"
                values.append(nl.input(name, range_shape(lo, hi)))
                bindings[name] = value
        o_payload = nl.output("o__payload", unsigned(len(self.o.payload.as_value())))
        o_valid = nl.output("o__valid", unsigned(1))
        label, scores, valid = build_back_end(nl, plan, values, valid_in, first=first)
        nl.drive(o_payload, nl.cat(label, *(nl.extend(s, plan.score_width) for s in scores)))
        nl.drive(o_valid, valid)
        to_amaranth(nl, m, bindings)
        return m

    def _tail(self, m, tail, heads, draining, addr):
        """The sequential output layer (:class:`~lwc.hw.plan.TailPlan`): returns ``(accs, done,
        adding)``, each class's accumulator (its score after ``done``), the last addition's
        cycle, and the cycles in which a step's sum is added.

        ``draining`` rises as the lanes finish and stays high ``tail.steps`` cycles, one per
        step ``t``; ``addr`` reads the weight ROM and the lanes' activation memories a step
        ahead (as the lanes' parameter ROMs are read), so that in step ``t`` ``heads[k]`` is
        lane ``k``'s ``t``-th activation. Each step's sum over the lanes is registered, then
        added to the class's accumulator."""
        steps, classes = tail.steps, len(tail.inits)
        width, signed_weights = tail.weight_bits
        step = Signal(range(steps + 1), name="tail_step")
        adding = Signal(name="tail_adding")  # a step's sum waits in ``parts``
        done = Signal(name="tail_done")
        rom = memory.Memory(shape=unsigned(tail.word_width), depth=steps, init=tail.words())
        m.submodules.tail_weights = rom
        read = rom.read_port()
        m.d.comb += [done.eq(adding & ~draining),
                     addr.eq(Mux(draining & (step < steps - 1), step + 1, 0)),
                     read.addr.eq(addr)]
        with m.If(draining):
            m.d.sync += step.eq(step + 1)
            with m.If(step == steps - 1):
                m.d.sync += [draining.eq(0), step.eq(0)]
        m.d.sync += adding.eq(draining)
        ports = [None] * classes
        if self._plan.dsp_tail:
            m.submodules.tail_accs = dsp = Accumulators(
                self._plan.dsp_tail, self._plan.tail_accumulators[1], dsp=self._dsp)
            ports[:self._plan.dsp_tail] = dsp.acc
        accs = []
        for c in range(classes):
            terms = []
            for k, head in enumerate(heads):
                field = read.data.word_select(k * classes + c, width)
                if tail.ternary:
                    # w is -1, 0 or +1: its low bit says nonzero, its sign bit negative.
                    terms.append(Mux(field[0], Mux(field[-1], -head, head), 0))
                else:
                    terms.append(head * (field.as_signed() if signed_weights else field))
            while len(terms) > 1:  # a balanced tree over the lanes
                odd = terms[-1:] if len(terms) % 2 else []
                terms = [a + b for a, b in zip(terms[0::2], terms[1::2])] + odd
            part = Signal(range_shape(*tail.part_ranges[c]), name=f"tail_c{c}_part")
            acc = Signal(range_shape(*tail.acc_ranges[c]), name=f"tail_c{c}_acc")
            m.d.sync += part.eq(terms[0])
            _accumulate(m, acc, ports[c], load=draining & (step == 0) & ~adding,
                        init=tail.inits[c], en=adding, operand=part)
            accs.append(acc)
        return accs, done, adding

    def _tail_argmax(self, m, accs, done, valid):
        """The argmax of a sequential tail, one class a cycle after ``done``: ``label`` keeps the
        first of the greatest scores (``numpy.argmax``); then ``valid`` (the output's valid,
        cleared as it is taken) rises, and the scores are the accumulators themselves, which
        hold until the next vector's tail starts. Returns ``picking``, high while it picks."""
        classes = len(accs)
        ranges = self._plan.score_ranges
        picking = Signal(name="tail_picking")
        cls = Signal(range(classes), name="tail_class")
        label = Signal(self._plan.label_width, name="tail_label")
        best = Signal(range_shape(min(lo for lo, _ in ranges), max(hi for _, hi in ranges)),
                      name="tail_best")
        candidate = Signal.like(best, name="tail_candidate")
        m.d.comb += candidate.eq(Array(accs)[cls])
        with m.If(done):
            m.d.sync += [picking.eq(1), cls.eq(0)]
        with m.If(picking):
            m.d.sync += cls.eq(cls + 1)
            with m.If((cls == 0) | (candidate > best)):
                m.d.sync += [best.eq(candidate), label.eq(cls)]
            with m.If(cls == classes - 1):
                m.d.sync += [picking.eq(0), valid.eq(1)]
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.label.eq(label)]
        m.d.comb += [self.o.payload.scores[c].eq(acc) for c, acc in enumerate(accs)]
        return picking

    def _lane(self, m, k, plan, accept, transfer, beginning, running, pc, entry_data,
              tail_addr=None, port=None):
        """Lane ``k``: its memories, its three-stage pipeline, and its chain of activations.

        ``running`` is low in the last cycle of the sequential phase (only the end of the last
        neuron is left to do then) and outside it: the parameter ROM then reads neuron 0's
        parameters, which the accumulator takes in the first cycle, ``beginning``. For a
        sequential tail (``tail_addr`` given) the activations go to a memory instead, at each
        neuron's index in the lane, read at ``tail_addr``; the "chain" is its read data. With a
        ``port`` (of :class:`~lwc.hw.dsp.Accumulators`) the accumulator is that one."""
        p = self._plan
        act = p.layers[0].activation
        delta_bits = p.entry_bits - 1
        special = (1 << delta_bits) - 1
        name = f"lane{k}"
        count = len(plan.entries)
        last_position = p.position(p.input_count - 1)
        word_bits = p.features_per_cycle * p.input_bits

        image = memory.Memory(shape=unsigned(word_bits), depth=p.transfers_per_vector, init=[])
        init_bits, gap_bits = plan.param_bits(act.kind)
        init_shape = _shape(init_bits)
        gap_shape = None if gap_bits is None else _shape(gap_bits)
        gap_width = 0 if gap_shape is None else gap_shape.width
        mask_i, mask_g = (1 << init_shape.width) - 1, (1 << gap_width) - 1
        words = [(v & mask_i) | ((g & mask_g) << init_shape.width)
                 for v, g in zip(plan.inits, plan.gaps)]
        params = memory.Memory(shape=unsigned(init_shape.width + gap_width),
                               depth=len(words), init=words)
        m.submodules[f"{name}_image"] = image
        m.submodules[f"{name}_params"] = params
        write = image.write_port()
        m.d.comb += [write.addr.eq(transfer), write.data.eq(self.i.payload.as_value()),
                     write.en.eq(accept)]
        image_read = image.read_port()
        param_read = params.read_port()

        # Stage 0: fetch entry ``pc`` (from the lane's ROM, or the shared SPRAM table).
        regs = p.lane_registers
        issue = Signal(name=f"{name}_issue")
        m.d.comb += issue.eq(running & (pc < count))
        if entry_data is None:
            entries = memory.Memory(shape=unsigned(p.entry_bits), depth=count,
                                    init=plan.entries)
            m.submodules[f"{name}_entries"] = entries
            entry_read = entries.read_port()
            m.d.comb += entry_read.addr.eq(pc)
            fetched = entry_read.data
        else:
            table, low = entry_data
            fetched = table.data.word_select(low * p.lanes + k, 8)[:p.entry_bits]

        # Stage 1: decode; move the index; read the image buffer there.
        entry = Signal(p.entry_bits, name=f"{name}_entry")
        s1_valid = Signal(name=f"{name}_s1_valid")
        m.d.sync += s1_valid.eq(issue)
        if "entry" in regs:  # the memory's output registered before the decoder reads it
            m.d.sync += entry.eq(fetched)
            s1_valid, fetched_valid = Signal(name=f"{name}_e_valid"), s1_valid
            m.d.sync += s1_valid.eq(fetched_valid)
        else:
            m.d.comb += entry.eq(fetched)
        # Each neuron's end entry brings the index back to ``base``, so it is there at every
        # start without being reset (the start's logic stays off the lanes' enables).
        index = Signal(range(last_position + 1), init=p.base, name=f"{name}_index")
        next_index = Signal.like(index, name=f"{name}_next_index")
        delta, sign = entry[:delta_bits], entry[delta_bits]
        is_special = delta == special
        m.d.comb += next_index.eq(index + delta)
        with m.If(s1_valid):
            m.d.sync += index.eq(Mux(is_special & sign, p.base, next_index))
        # The decoded entry: valid, a weight, negative, an end, and its feature's place.
        decoded = [s1_valid, ~is_special, sign, is_special & sign]
        if "index" in regs:
            # The image buffer is addressed by the index register, a cycle after the addition
            # (an end entry restarts it at ``base``, whose word is read for nothing); the
            # decoded entry waits a cycle with it.
            held = [Signal(name=f"{name}_i_{what}") for what in ("valid", "weight", "negative",
                                                                   "end")]
            m.d.sync += [h.eq(d) for h, d in zip(held, decoded)]
            decoded, position = held, index
        else:
            position = next_index
        m.d.comb += image_read.addr.eq(position >> p.pos_bits)
        s2_valid = Signal(name=f"{name}_s2_valid")
        s2_weight = Signal(name=f"{name}_s2_weight")
        s2_negative = Signal(name=f"{name}_s2_negative")
        s2_end = Signal(name=f"{name}_s2_end")
        s2_pos = Signal(p.pos_bits, name=f"{name}_s2_pos")
        m.d.sync += [s2_valid.eq(decoded[0]), s2_weight.eq(decoded[1]),
                     s2_negative.eq(decoded[2]), s2_end.eq(decoded[3]),
                     s2_pos.eq(position[:p.pos_bits])]

        # Stage 2: accumulate, or finish the neuron.
        bits = p.input_bits
        x = Signal(bits, name=f"{name}_x")
        selected = (image_read.data.word_select(s2_pos, bits) if p.pos_bits
                    else image_read.data)
        if "pixel" in regs:  # the feature registered after its multiplexer
            m.d.sync += x.eq(selected)
            s3 = [Signal(name=f"{name}_s3_{what}") for what in ("valid", "weight", "negative",
                                                                 "end")]
            m.d.sync += [a.eq(b) for a, b in zip(s3, (s2_valid, s2_weight, s2_negative,
                                                       s2_end))]
            s2_valid, s2_weight, s2_negative, s2_end = s3
        else:
            m.d.comb += x.eq(selected)
        acc = Signal(range_shape(*plan.acc_range), name=f"{name}_acc")
        gap = Signal(gap_shape or unsigned(0), name=f"{name}_gap")
        neuron = Signal(range(len(words) + 1), name=f"{name}_neuron")
        finish = Signal(name=f"{name}_finish")
        # The parameters of the neuron after the current one, read ahead: neuron 0's before
        # the start, then neuron + 1's (none after the last). Every neuron has a weight entry
        # before its end, so the read has a cycle to follow ``neuron``. The address is a
        # register set with ``neuron`` (a small ROM in logic decodes it in the next cycle).
        param_addr = Signal(range(len(words)), name=f"{name}_param_addr")
        m.d.comb += [finish.eq(s2_valid & s2_end), param_read.addr.eq(param_addr)]
        with m.If(beginning):
            m.d.sync += param_addr.eq(1 if len(words) > 1 else 0)
        with m.Elif(finish):
            m.d.sync += param_addr.eq(Mux(neuron + 1 < len(words) - 1, neuron + 2, 0))
        next_init = param_read.data[:init_shape.width].as_signed() if init_shape.signed else \
            param_read.data[:init_shape.width]
        next_gap = param_read.data[init_shape.width:].as_signed() if gap_width else None
        # A neuron starts at its initial value (the first in the lanes' first cycle, the next
        # one as it finishes), then adds or subtracts each weight's feature.
        _accumulate(m, acc, port, load=beginning | finish, init=next_init,
                    en=s2_valid & s2_weight, operand=x, sub=s2_negative)
        with m.If(beginning):
            m.d.sync += neuron.eq(0)
            if gap_width:
                m.d.sync += gap.eq(next_gap)
        with m.Elif(finish):
            m.d.sync += neuron.eq(neuron + 1)
            if gap_width:
                m.d.sync += gap.eq(next_gap)

        value = Signal(_activation_shape(p), name=f"{name}_act")
        m.d.comb += value.eq(_activate(act, acc, gap))
        if p.fold:
            # The activation goes to the folded layer with its neuron's weights, read now.
            weights = memory.Memory(
                shape=unsigned(p.fold_weight_bits[0] * len(p.layers[1].neurons)),
                depth=len(plan.neurons), init=[_pack(row, p.fold_weight_bits[0])
                                               for row in plan.next_weights])
            m.submodules[f"{name}_next"] = weights
            weight_read = weights.read_port()
            m.d.comb += weight_read.addr.eq(neuron)
            return (), (finish, value, weight_read.data)
        if tail_addr is not None:
            # As deep as the longest lane: the steps past this lane's end read zeros.
            acts = memory.Memory(shape=value.shape(), depth=p.tail_plan.steps, init=[])
            m.submodules[f"{name}_acts"] = acts
            # The tail reads address 0 as a one-neuron lane writes it, in the lanes' last cycle.
            store = acts.write_port()
            load = acts.read_port(transparent_for=(store,))
            m.d.comb += [store.addr.eq(neuron), store.data.eq(value), store.en.eq(finish),
                         load.addr.eq(tail_addr)]
            return [load.data], None
        chain = [Signal.like(value, name=f"l0_n{p.layers[0].neurons[j].origin}_act",
                             reset_less=True) for j in plan.neurons]
        with m.If(finish):
            m.d.sync += [a.eq(b) for a, b in zip(chain, chain[1:])]
            m.d.sync += chain[-1].eq(value)
        return chain, None

    def _fold(self, m, finished, beginning):
        """The second layer folded into the lanes: each neuron an accumulator that starts at its
        ``fold_inits`` value in the lanes' first cycle and adds, three cycles after a lane
        finishes a neuron, that activation times its weight (read from the lane's ``_next``
        ROM at the neuron), summed over the lanes. Returns the second layer's activations."""
        p = self._plan
        width, is_signed = p.fold_weight_bits
        widest = (1 << (width - 1)) if is_signed else (1 << width) - 1
        terms = []  # per lane, the registered term of each second-layer neuron
        for k, (finish, value, data) in enumerate(finished):
            valid = Signal(name=f"lane{k}_fold_valid")
            act = Signal.like(value, name=f"lane{k}_fold_act")
            m.d.sync += [valid.eq(finish), act.eq(value)]
            row = []
            for o, neuron in enumerate(p.layers[1].neurons):
                weight = data[o * width:(o + 1) * width]
                weight = weight.as_signed() if is_signed else weight
                term = Signal(range_shape(-widest, widest), name=f"lane{k}_l1_n{neuron.origin}_t")
                # The activation is -1, 0 or 1: the term is the weight, its negation or 0.
                m.d.sync += term.eq(Mux(valid & (act != 0),
                                        Mux(act.as_signed() < 0 if act.shape().signed else 0,
                                            -weight, weight), 0))
                row.append(term)
            terms.append(row)
        kind = p.layers[1].activation
        ports = [None] * len(p.layers[1].neurons)
        if p.dsp_tail:
            m.submodules.fold_accs = dsp = Accumulators(p.dsp_tail, p.tail_accumulators[1],
                                                        dsp=self._dsp)
            ports[:p.dsp_tail] = dsp.acc
        outputs = []
        for o, neuron in enumerate(p.layers[1].neurons):
            lanes = len(terms)
            total = Signal(range_shape(-lanes * widest, lanes * widest),
                           name=f"l1_n{neuron.origin}_terms")
            m.d.sync += total.eq(sum(row[o] for row in terms))
            acc = Signal(range_shape(*p.fold_ranges[o]), name=f"l1_n{neuron.origin}_acc")
            _accumulate(m, acc, ports[o], load=beginning, init=p.fold_inits[o], en=1,
                        operand=total)
            lo, hi = p.layer_plans[1].output_ranges[o]
            value = Signal(range_shape(lo, hi), name=f"l1_n{neuron.origin}_act")
            gap = neuron.params[0] - neuron.params[1] if kind.kind == "ternary" else 0
            m.d.comb += value.eq(_activate(kind, acc, gap))
            outputs.append(value)
        return outputs


def _accumulate(m, acc, port, *, load, init, en, operand, sub=None):
    """``acc`` loads ``init`` when ``load``, else adds ``operand`` (subtracts it when ``sub``)
    when ``en``: in logic, or as ``port``, an accumulator of a DSP block
    (:class:`~lwc.hw.dsp.Accumulators`) when one is given."""
    if port is not None:
        m.d.comb += [port.load.eq(load), port.init.eq(init), port.en.eq(en),
                     port.sub.eq(0 if sub is None else sub), port.operand.eq(operand),
                     acc.eq(port.value)]
        return
    added = acc + operand if sub is None else Mux(sub, acc - operand, acc + operand)
    with m.If(load):
        m.d.sync += acc.eq(init)
    with m.Elif(en):
        m.d.sync += acc.eq(added)


def _pack(row, width):
    """The ROM word of weights ``row``, weight ``o`` in bits ``o * width`` up."""
    mask = (1 << width) - 1
    return sum((w & mask) << (o * width) for o, w in enumerate(row))


def _activate(act, acc, gap):
    """The activation ``act`` (an :class:`~lwc.hw.plan.ActivationSpec`) of the accumulator
    ``acc``, whose initial value folded in the parameter (see the module docstring): ``gap`` is
    ``lo - hi`` of a ternary neuron."""
    if act.kind == "step":
        return acc >= 0
    if act.kind == "ternary":
        positive, negative = acc >= 0, acc <= gap
        return Cat(positive | negative, negative)
    if act.kind == "clip":
        shifted = acc >> act.shift
        top = (1 << act.bits) - 1
        return Mux(shifted < 0, 0, Mux(shifted > top, top, shifted))
    return acc


def _activation_shape(plan):
    """The shape that holds every non-constant first-layer activation."""
    ranges = [r for r in plan.first_outputs if r[0] != r[1]]
    if not ranges:
        return unsigned(0)
    return range_shape(min(lo for lo, _ in ranges), max(hi for _, hi in ranges))
