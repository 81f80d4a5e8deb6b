"""The architecture of a network as plain values: what will be built, decided before building.

A plan is a frozen dataclass computed by a pure function from the layer specs and the options:
:func:`parallel_plan` (every layer in logic, :class:`~lwc.hw.TernaryNetwork`) or
:func:`streaming_plan` (the first layer from block RAM, :class:`~lwc.hw.StreamingNetwork`). It
holds every derived fact of the design (value ranges, widths, latencies, lanes, memories and their
bits, cycles per inference), so that the components, the Verilog writer, the estimator and the
reports all read one decision, and nothing has to build (or silence) a component to learn it.
The plan's type says which architecture it is.

Pure Python (no Amaranth): the helpers of the adder-tree schedule (:func:`tree_depth`,
:func:`register_levels`, :func:`schedule_depth`, :func:`stage_of`) live here too.
"""

from dataclasses import dataclass, replace

from lwc import semantics

__all__ = [
    "ActivationSpec", "NeuronSpec", "SharedSpec", "LayerSpec", "LayerPlan", "layer_plan",
    "ParallelPlan", "StreamingPlan", "LanePlan", "parallel_plan", "streaming_plan",
    "encode_neuron", "STALL_FREE_NEURONS", "WEIGHT_STORES", "SPRAM_BYTES", "SPRAM_LANES",
    "LANE_REGISTERS", "check_lane_registers", "fold_error", "check_register_every",
    "TAILS", "TailPlan", "tail_plan",
    "check_structure", "tree_depth", "register_levels", "argmax_split",
    "schedule_depth", "stage_of",
]


#: Where a streaming network's entry table lives: block RAM (ROMs the bitstream initialises) or
#: the iCE40 UltraPlus SPRAM (loaded from SPI flash at boot, :class:`~lwc.hw.spram_table.
#: SpramTable`).
WEIGHT_STORES = ("bram", "spram")
#: How a streaming network computes the layer after the first when it is the output layer:
#: ``parallel``, in logic as in :class:`~lwc.hw.TernaryNetwork` (a compressor tree per class over
#: every first-layer activation); ``sequential``, one first-layer neuron per lane per clock after
#: the lanes finish, from a ROM of output weights (:class:`TailPlan`).
TAILS = ("parallel", "sequential")
#: Bytes of SPRAM in an iCE40UP5K: four SB_SPRAM256KA blocks of 16,384 x 16 bits.
SPRAM_BYTES = 4 * 16384 * 2
#: The most lanes an SPRAM table serves: one byte of its widest word (64 bits) per lane.
SPRAM_LANES = 8
#: The pipeline registers a streaming lane may add, in the order of its datapath (see
#: :mod:`lwc.hw.streaming`, "Lane pipeline"): ``entry`` after the entry memory's read,
#: ``index`` between the index adder and the image buffer's address, ``pixel`` after the feature
#: is selected from the image word. Each adds one cycle to the sequential phase.
LANE_REGISTERS = ("entry", "index", "pixel")
#: SPRAM word widths (one, two or four blocks side by side).
_SPRAM_WIDTHS = (16, 32, 64)
#: Bits of one half of an iCE40 UltraPlus DSP block (``SB_MAC16``): two accumulators this wide
#: share a block (:class:`~lwc.hw.dsp.Accumulators`).
DSP_HALF_WIDTH = 16
#: Bits of the widest accumulator a DSP block holds (its halves cascaded).
DSP_WIDTH = 32
#: The accumulators a streaming network puts in DSP blocks, in the order they are given blocks
#: (:attr:`StreamingPlan.dsp_accumulators`): the lanes' first, then the sequential tail's or the
#: folded layer's.
DSP_ORDER = ("lanes", "tail")


def dsp_blocks(count, width):
    """DSP blocks (``SB_MAC16``) that ``count`` accumulators of ``width`` bits take: two to a
    block up to :data:`DSP_HALF_WIDTH` bits, one each up to :data:`DSP_WIDTH`."""
    assert 1 <= width <= DSP_WIDTH
    return -(-count // 2) if width <= DSP_HALF_WIDTH else count


def accumulator_width(*ranges):
    """Bits of a two's complement accumulator holding every value of ``ranges`` (and -1: it is
    signed)."""
    return semantics.range_bits(min(-1, *(lo for lo, _ in ranges)),
                                max(0, *(hi for _, hi in ranges)))[0]


# The adder-tree schedule.

def tree_depth(count):
    """Number of adder levels of a balanced tree over ``count`` operands."""
    return max(count - 1, 0).bit_length()


def register_levels(levels, register_every):
    """The levels (1-based) after which a tree laid out over ``levels`` levels has registers.

    Registers follow every ``register_every``-th level, but never the last one: the reader of the
    tree registers (or pipelines) what comes after it.
    """
    if register_every is None:
        return ()
    return tuple(range(register_every, levels, register_every))


def argmax_split(count, register_every):
    """Whether the argmax over ``count`` scores pipelined every ``register_every`` comparator
    levels is *split* (:func:`~lwc.hw.network.build_argmax`): with a register after every level
    (``register_every == 1``, two levels or more), each register holds a level's comparisons
    with their operands instead of its results, so that no stage holds a comparison and the
    multiplexers that its select bit fans out to (the last level's comparison is registered too:
    one cycle more)."""
    return register_every == 1 and tree_depth(count) >= 2


def check_register_every(register_every):
    """:class:`TypeError` unless ``register_every`` is ``None`` or a positive integer."""
    if register_every is not None and not (
            isinstance(register_every, int) and not isinstance(register_every, bool)
            and register_every >= 1):
        raise TypeError(f"register_every must be None or a positive integer, "
                        f"not {register_every!r}")


def schedule_depth(arrivals):
    """Levels a tree needs over operands that become available after the given levels (0 for
    inputs, ``L`` for a value made by an adder at level ``L``): the level of its root.

    Each level adds every pair of available operands (see :func:`lwc.hw.adder_tree.sum_tree`),
    which is as shallow as a tree of two-input adders can be.
    ``tree_depth(n) == schedule_depth([0] * n)``.
    """
    ops = sorted(arrivals)
    level = 0
    while len(ops) > 1:
        level += 1
        ready = [a for a in ops if a < level]
        ops = [a for a in ops if a >= level] + [level] * (len(ready) // 2) + ready[:len(ready) % 2]
    return ops[0] if ops else 0


def stage_of(level, registers):
    """Pipeline stage of the logic at adder ``level`` when ``registers`` follow those levels."""
    return sum(1 for r in registers if r < level)


# Layer specs: what the compiler hands the hardware.

@dataclass(frozen=True)
class ActivationSpec:
    """A layer's activation kind and its settings (:data:`lwc.semantics.SETTINGS`; a kind that
    does not have a setting leaves it at its default)."""

    kind: str
    shift: int = 0
    bits: int = 1

    def __post_init__(self):
        if self.kind not in semantics.ACTIVATIONS:
            raise ValueError(f"Activation kind must be one of {', '.join(semantics.ACTIVATIONS)}, "
                             f"not {self.kind!r}")
        error = semantics.settings_error(self.kind, {k: getattr(self, k)
                                                     for k in semantics.SETTINGS})
        if error:
            raise ValueError(error[0].upper() + error[1:])

    @property
    def settings(self):
        """``{name: value}`` of the settings the kind has."""
        return {name: getattr(self, name) for name in semantics.KINDS[self.kind].settings}

    def value(self, params, s):
        """The activation of the integer sum ``s`` (:func:`lwc.semantics.activation`)."""
        return semantics.activation(self.kind, params, s, **self.settings)

    def output_range(self, params, sum_range):
        """Exact interval of the activation over the sum interval ``sum_range``."""
        return semantics.activation_range(self.kind, params, sum_range, **self.settings)


@dataclass(frozen=True)
class NeuronSpec:
    """One neuron: indices it reads from the previous layer (strictly increasing), a nonzero weight
    per index, its activation parameters, and ``origin`` (its index as trained; names signals).
    With ``table`` it is built as a truth table over its inputs' bits
    (:func:`lwc.semantics.truth_table`; it may read no shared node, and its inputs' fields total
    at most :data:`lwc.semantics.MAX_TABLE_BITS` bits), otherwise as a sum and an activation."""

    inputs: tuple[int, ...]
    weights: tuple[int, ...]
    params: tuple[int, ...]
    origin: int
    table: bool = False


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
    params = semantics.ACTIVATIONS[kind]
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
        if len(n.params) != len(params):
            raise ValueError(f"{where}: {kind} needs {len(params)} parameter(s), "
                             f"not {n.params!r}")
        if semantics.KINDS[kind].increasing and \
                any(a >= b for a, b in zip(n.params, n.params[1:])):
            raise ValueError(f"{where}: {kind} needs {' < '.join(params)}, not {n.params!r}")
        if n.table and not all(i < input_count for i in n.inputs):
            raise ValueError(f"{where}: a table neuron cannot read a shared node")


@dataclass(frozen=True)
class LayerPlan:
    """Facts of one parallel layer (:class:`~lwc.hw.TernaryLayer`), known before it is built.

    ``input_ranges`` are the intervals of the values it reads; ``shared_ranges`` and
    ``shared_levels`` the exact interval and adder level of each shared node; ``sum_ranges``,
    ``output_ranges`` and ``depths`` those of each neuron's sum and activation and its tree's
    depth; ``levels`` the deepest tree (every neuron's is laid out over it), and ``registers`` the
    levels followed by pipeline registers.
    """

    input_ranges: tuple
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

    @property
    def latency(self):
        """Cycles from inputs to activations: the trees' pipeline registers and the output one."""
        return len(self.registers) + 1


def layer_plan(spec, input_ranges, register_every):
    """The :class:`LayerPlan` of the layer ``spec`` reading values of ``input_ranges``."""
    _check_spec(spec, len(input_ranges))
    ranges = [tuple(r) for r in input_ranges]
    arrivals = [0] * len(ranges)
    for node in spec.shared:
        ranges.append(semantics.weighted_sum_range([ranges[i] for i in node.inputs],
                                                   node.weights))
        arrivals.append(1 + max(arrivals[i] for i in node.inputs))
    sums = tuple(semantics.weighted_sum_range([ranges[i] for i in n.inputs], n.weights)
                 for n in spec.neurons)
    outs = tuple(spec.activation.output_range(n.params, s) for n, s in zip(spec.neurons, sums))
    # A table neuron has no adders: its output waits at level 0 for the others'.
    depths = tuple(0 if n.table else schedule_depth([arrivals[i] for i in n.inputs])
                   for n in spec.neurons)
    for n in spec.neurons:
        bits = semantics.table_bits([ranges[i] for i in n.inputs]) if n.table else 0
        if bits > semantics.MAX_TABLE_BITS:
            raise ValueError(f"Neuron {n.origin}: a table of {bits} index bits (at most "
                             f"{semantics.MAX_TABLE_BITS})")
    levels = max(depths, default=0)
    n_in = len(input_ranges)
    return LayerPlan(tuple(ranges[:n_in]), tuple(ranges[n_in:]), tuple(arrivals[n_in:]), sums,
                     outs, depths, levels, register_levels(levels, register_every))


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
        if last and (kind not in semantics.OUTPUT_KINDS or not spec.neurons):
            raise ValueError(f"The output layer must be linear with at least one neuron, "
                             f"not {kind!r} with {len(spec.neurons)}")
        if not last and kind not in semantics.HIDDEN_KINDS:
            raise ValueError(f"Layer {index}: a hidden layer cannot be linear")
    return input_map, layers


def check_lane_registers(lane_registers):
    """``lane_registers`` in the order of :data:`LANE_REGISTERS`, or :class:`ValueError` when it
    names another register or one twice."""
    names = tuple(lane_registers)
    if len(set(names)) != len(names) or not set(names) <= set(LANE_REGISTERS):
        raise ValueError(f"lane_registers must be distinct names of {', '.join(LANE_REGISTERS)}, "
                         f"not {lane_registers!r}")
    return tuple(r for r in LANE_REGISTERS if r in names)


def fold_error(layers, layer_plans):
    """Why the second of ``layers`` (with their :class:`LayerPlan` values) cannot be folded into
    a streaming network's lanes, or ``None`` when it can: it must exist, read no shared node,
    have no table neuron, and read first-layer activations between -1 and 1 (a term is then its
    weight, its negation or 0)."""
    if len(layers) < 2:
        return "fold needs a second layer"
    if layers[1].shared or any(n.table for n in layers[1].neurons):
        return "fold needs a second layer without shared nodes or table neurons"
    if any(lo < -1 or hi > 1 for lo, hi in layer_plans[0].output_ranges):
        return "fold needs first-layer activations between -1 and 1"
    return None


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"{name} must be {what}, not {value!r}")


# Network plans.

@dataclass(frozen=True)
class _NetworkPlan:
    """What both architectures share: the interface and the parallel layers with the argmax.

    ``layer_plans[k]`` is the :class:`LayerPlan` of layer ``k`` (for a streaming plan, layer 0's
    gives its ranges; the layer is not built in parallel).
    """

    input_count: int
    input_bits: int
    input_map: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    register_every: int | None
    keep_adders: bool
    compress: bool
    layer_plans: tuple[LayerPlan, ...]
    argmax_registers: tuple[int, ...]
    argmax_split: bool

    @property
    def score_ranges(self):
        """Exact ``(lo, hi)`` of each class score."""
        return self.layer_plans[-1].output_ranges

    @property
    def n_classes(self):
        return len(self.score_ranges)

    @property
    def label_width(self):
        return semantics.label_width(self.n_classes)

    @property
    def score_width(self):
        """Width of each (signed) score in the output payload: the widest class needs it."""
        return semantics.score_width(self.score_ranges)

    @property
    def sum_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each neuron's weighted sum."""
        return tuple(p.sum_ranges for p in self.layer_plans)

    @property
    def shared_ranges(self):
        """For each layer, the exact ``(lo, hi)`` of each shared node."""
        return tuple(p.shared_ranges for p in self.layer_plans)

    @property
    def argmax_latency(self):
        """Cycles of the argmax stage: its comparator tree's registers (one more when
        :attr:`argmax_split`) and its output one."""
        return len(self.argmax_registers) + self.argmax_split + 1

    @property
    def latency(self):
        """Clock edges from the one that accepts an input (its last transfer) to the one that
        delivers its output, when ``o.ready`` stays high."""
        return sum(self.layer_latencies) + self.argmax_latency


def _network_fields(input_count, input_bits, input_map, layers, register_every, keep_adders,
                    compress, *, first_register_every, argmax_every=None):
    _positive_int("input_count", input_count)
    _positive_int("input_bits", input_bits)
    input_map, layers = check_structure(input_count, input_map, layers)
    check_register_every(register_every)
    check_register_every(argmax_every)
    ranges = [(0, (1 << input_bits) - 1)] * len(input_map)
    plans = []
    for index, spec in enumerate(layers):
        plan = layer_plan(spec, ranges, register_every if index else first_register_every)
        plans.append(plan)
        ranges = plan.output_ranges
    every = register_every if argmax_every is None else argmax_every
    argmax = register_levels(tree_depth(len(ranges)), every)
    return dict(input_count=input_count, input_bits=input_bits, input_map=input_map,
                layers=layers, register_every=register_every, keep_adders=keep_adders,
                compress=compress, layer_plans=tuple(plans), argmax_registers=argmax,
                argmax_split=argmax_split(len(ranges), every))


@dataclass(frozen=True)
class ParallelPlan(_NetworkPlan):
    """Every layer in logic, one inference per clock (:class:`~lwc.hw.TernaryNetwork`).

    ``stall_free``: the datapath's registers run without a clock enable, and its results wait
    in an output buffer of :attr:`buffer_depth` entries (see :func:`parallel_plan`).
    """

    stall_free: bool = False

    #: One inference accepted per clock.
    cycles_per_inference = 1

    @property
    def features_per_cycle(self):
        """Input features per transfer: the whole vector."""
        return self.input_count

    @property
    def transfers_per_vector(self):
        return 1

    @property
    def layer_latencies(self):
        """Latency of each layer stage, in order; ``latency`` adds the argmax stage's."""
        return tuple(p.latency for p in self.layer_plans)

    @property
    def buffer_depth(self):
        """Results the output buffer of a :attr:`stall_free` datapath holds (0 otherwise): one
        more than the latency, so that with ``o.ready`` high an input is taken every clock."""
        return self.latency + 1 if self.stall_free else 0


#: A network pipelined for a clock (``register_every`` set) with at least this many neurons is
#: built stall-free (:func:`parallel_plan`).
STALL_FREE_NEURONS = 128


def parallel_plan(*, input_count, input_bits, input_map, layers, register_every=None,
                  keep_adders=True, compress=True, argmax_every=None, stall_free=None):
    """The :class:`ParallelPlan` of these arguments (see :class:`~lwc.hw.TernaryNetwork`);
    :class:`ValueError` (or :class:`TypeError` for ``register_every`` and ``argmax_every``) when
    they are not valid.

    ``argmax_every``, when not ``None``, places the argmax's pipeline registers after every this
    many comparator levels instead of ``register_every``'s: the argmax can be pipelined to the
    clock without registers in the layers' trees.

    ``stall_free`` (default: when pipelined, ``register_every`` set, with at least
    :data:`STALL_FREE_NEURONS` neurons) builds the datapath without a stall enable: such a
    network has thousands of pipeline registers, and one enable reaching all of them across the
    chip was its critical path (12.75 ns of the MNIST demo net's at 100 MHz on the ECP5-85F, two
    5 ns routes). Its results wait in an output buffer instead, and ``i.ready`` is low only
    when the results in flight and waiting would fill it. A small network keeps the enable,
    which costs less than the buffer (and is what ``lwc verify``'s reference models).
    """
    fields = _network_fields(input_count, input_bits, input_map, layers, register_every,
                             keep_adders, compress, first_register_every=register_every,
                             argmax_every=argmax_every)
    if stall_free is None:
        neurons = sum(len(spec.neurons) for spec in fields["layers"])
        stall_free = register_every is not None and neurons >= STALL_FREE_NEURONS
    return ParallelPlan(**fields, stall_free=bool(stall_free))


@dataclass(frozen=True)
class LanePlan:
    """One lane of the sequential layer: ``neurons`` (positions in the layer, in the order the
    lane computes them), their ``entries`` (the ROM contents), each neuron's accumulator
    initial value ``inits`` and, for ``ternary``, ``gaps`` (``lo - hi``), and the interval
    ``acc_range`` the accumulator takes; when the second layer is folded into the lanes
    (:attr:`StreamingPlan.fold`), ``next_weights[i][o]`` is the weight (0 for none) with which
    second-layer neuron ``o`` reads the lane's ``i``-th neuron."""

    neurons: tuple[int, ...]
    entries: tuple[int, ...]
    inits: tuple[int, ...]
    gaps: tuple[int, ...]
    acc_range: tuple[int, int]
    next_weights: tuple = ()

    def param_bits(self, kind):
        """``(init_bits, gap_bits)``: ``(width, signed)`` of the two fields of a parameter ROM
        word (``gap_bits`` is ``None`` unless ``kind`` is ``ternary``). The initial value field is
        at least one bit wide (Yosys fails on zero-width memories)."""
        lo, hi = _union([(v, v) for v in self.inits])
        init = semantics.range_bits(lo, max(hi, 1))
        if kind != "ternary":
            return init, None
        return init, semantics.range_bits(*_union([(v, v) for v in self.gaps]))

    def param_width(self, kind):
        return sum(b[0] for b in self.param_bits(kind) if b is not None)


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
    nonzero integer ``weights``, ending with the end-of-neuron entry (see
    :mod:`lwc.hw.streaming`)."""
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
class TailPlan:
    """The output layer of a streaming network computed sequentially (``tail="sequential"``).

    When the lanes are done, register ``t`` of lane ``k``'s chain holds the activation of its
    ``t``-th neuron, ``neuron(k, t)``. In ``steps`` clocks, one per neuron of the longest lane,
    every chain shifts its activations out, and each class ``c`` adds ``sum over lanes of
    a(k, t) * w[c, neuron(k, t)]`` to an accumulator that started at ``inits[c]`` (the class's
    bias plus what the constant first-layer neurons give); one more clock adds the last step, and
    the accumulators hold the scores; then an argmax takes one class per clock (``numpy.argmax``:
    the first greatest). ``weights[t][k][c]`` is that weight (0 past the end of a
    shorter lane): word ``t`` of the tail's weight ROM, field ``k * n_classes + c`` of
    ``weight_bits`` bits (:meth:`words`). ``part_ranges`` and ``acc_ranges`` are the intervals of
    a step's sum over the lanes and of the accumulator of each class.
    """

    steps: int
    weights: tuple[tuple[tuple[int, ...], ...], ...]
    weight_bits: tuple[int, bool]
    inits: tuple[int, ...]
    part_ranges: tuple[tuple[int, int], ...]
    acc_ranges: tuple[tuple[int, int], ...]

    @property
    def cycles(self):
        """Clocks from the lanes' last to the output: ``steps`` shifts, the last addition, and
        the argmax's one class per clock."""
        return self.steps + 1 + len(self.inits)

    @property
    def ternary(self):
        """Whether every weight is -1, 0 or +1 (a multiplexer, not a multiplier, per term)."""
        return all(abs(w) <= 1 for word in self.weights for lane in word for w in lane)

    @property
    def word_width(self):
        """Bits of a weight ROM word: a field for every lane and class."""
        lanes = len(self.weights[0]) if self.weights else 0
        classes = len(self.inits)
        return lanes * classes * self.weight_bits[0]

    def words(self):
        """The weight ROM's words, field ``k * n_classes + c`` of word ``t`` holding
        ``weights[t][k][c]`` in two's complement."""
        width = self.weight_bits[0]
        mask = (1 << width) - 1
        return tuple(sum((w & mask) << (f * width)
                         for f, w in enumerate(w for lane in word for w in lane))
                     for word in self.weights)


def _expanded_weights(spec, input_count):
    """Each neuron of ``spec`` as ``{input: weight}`` over the layer's inputs, its shared nodes
    expanded (weights that cancel dropped)."""
    nodes = []

    def expand(inputs, weights):
        terms = {}
        for i, w in zip(inputs, weights):
            for j, v in (nodes[i - input_count] if i >= input_count else {i: 1}).items():
                terms[j] = terms.get(j, 0) + w * v
        return {j: w for j, w in terms.items() if w}

    for node in spec.shared:
        nodes.append(expand(node.inputs, node.weights))
    return [expand(n.inputs, n.weights) for n in spec.neurons]


def tail_plan(layers, first_outputs, lane_plans, input_count):
    """The :class:`TailPlan` of the output layer ``layers[1]`` after the first layer, whose
    activations take ``first_outputs`` and are computed by ``lane_plans``; ``input_count`` is
    the number of first-layer neurons (the output layer's inputs)."""
    assert len(layers) == 2 and lane_plans
    columns = _expanded_weights(layers[1], input_count)
    steps = max(len(lane.neurons) for lane in lane_plans)
    weights = tuple(tuple(tuple(col.get(lane.neurons[t], 0) if t < len(lane.neurons) else 0
                                for col in columns) for lane in lane_plans)
                    for t in range(steps))
    every = [w for word in weights for lane in word for w in lane]
    weight_bits = semantics.range_bits(min(every + [-1]), max(every + [1]))
    inits, parts, accs = [], [], []
    for col, neuron in zip(columns, layers[1].neurons):
        init = neuron.params[0] + sum(w * first_outputs[j][0] for j, w in col.items()
                                      if first_outputs[j][0] == first_outputs[j][1])
        lo = hi = 0
        for lane in lane_plans:
            bounds = [semantics.term_bounds(*first_outputs[j], col.get(j, 0))
                      for j in lane.neurons]
            lo += min(0, *(b[0] for b in bounds))
            hi += max(0, *(b[1] for b in bounds))
        inits.append(init)
        parts.append((lo, hi))
        terms = [semantics.term_bounds(*first_outputs[j], w) for j, w in col.items()
                 if first_outputs[j][0] != first_outputs[j][1]]
        accs.append((init + sum(min(0, t[0]) for t in terms),
                     init + sum(max(0, t[1]) for t in terms)))
    return TailPlan(steps, weights, weight_bits, tuple(inits), tuple(parts), tuple(accs))


@dataclass(frozen=True)
class StreamingPlan(_NetworkPlan):
    """The first layer computed neuron by neuron from block RAM, the rest in parallel
    (:class:`~lwc.hw.StreamingNetwork`; the module docstring of :mod:`lwc.hw.streaming` describes
    the encoding and the lanes).

    ``lane_plans`` holds one :class:`LanePlan` per lane built (``min(requested lanes,
    non-constant first-layer neurons)``); ``base`` is the padded position every neuron's index
    starts from. ``weights`` (one of :data:`WEIGHT_STORES`) says where the lanes' entries live:
    ``"bram"``, one ROM per lane; ``"spram"``, one table of :attr:`table_width`-bit words in
    SPRAM, loaded from flash at boot, whose word ``w`` holds the entries ``pc`` with ``pc //
    entries_per_word == w`` of every lane, one byte each (:meth:`table_slot`,
    :meth:`table_payload`). ``lane_registers`` (a subset of :data:`LANE_REGISTERS`, in its
    order) are the pipeline registers every lane adds for a faster clock. With ``fold`` the
    second layer is no adder tree: each of its neurons is an accumulator that starts at
    ``fold_inits[o]`` (its activation's offset, as a lane's, plus the first layer's constant
    neurons' terms) and adds each first-layer activation, times its weight
    (:attr:`LanePlan.next_weights`), as a lane finishes it. ``tail_plan`` is the sequential
    output layer's :class:`TailPlan`, ``None`` when the layers after the first are built in
    parallel (or folded). The accumulators of the first ``dsp_lanes`` lanes and of the first
    ``dsp_tail`` classes of the sequential tail (or neurons of the folded layer) are in DSP
    blocks (:class:`~lwc.hw.dsp.Accumulators`, :attr:`dsp_blocks` of them); the others in logic.
    """

    features_per_cycle: int
    entry_bits: int
    lane_plans: tuple[LanePlan, ...]
    base: int
    weights: str = "bram"
    lane_registers: tuple[str, ...] = ()
    fold: bool = False
    fold_inits: tuple[int, ...] = ()
    tail_plan: "TailPlan | None" = None
    dsp_lanes: int = 0
    dsp_tail: int = 0

    @property
    def lanes(self):
        """Lanes built."""
        return len(self.lane_plans)

    @property
    def lane_acc_width(self):
        """Bits of a lane accumulator in a DSP block: every lane's range and the features added
        to it, signed."""
        return accumulator_width((0, (1 << self.input_bits) - 1),
                                 *(lane.acc_range for lane in self.lane_plans))

    @property
    def tail_accumulators(self):
        """``(count, width)`` of the accumulators after the lanes: the sequential tail's, one a
        class, or the folded layer's, one a neuron (``(0, 0)`` without either); ``width`` as a
        DSP block holds them, with the step's sums or the lanes' terms they add."""
        if self.tail_plan is not None:
            return (len(self.tail_plan.inits),
                    accumulator_width(*self.tail_plan.acc_ranges, *self.tail_plan.part_ranges))
        if self.fold:
            width, is_signed = self.fold_weight_bits
            widest = (1 << (width - 1)) if is_signed else (1 << width) - 1
            terms = (-self.lanes * widest, self.lanes * widest)
            return len(self.fold_ranges), accumulator_width(*self.fold_ranges, terms)
        return 0, 0

    @property
    def dsp_blocks(self):
        """DSP blocks (``SB_MAC16``) the accumulators take (:attr:`dsp_lanes`,
        :attr:`dsp_tail`)."""
        blocks = dsp_blocks(self.dsp_lanes, self.lane_acc_width) if self.dsp_lanes else 0
        if self.dsp_tail:
            blocks += dsp_blocks(self.dsp_tail, self.tail_accumulators[1])
        return blocks

    @property
    def pos_bits(self):
        """Bits of a feature's position within a transfer (padded to a power of two)."""
        return (self.features_per_cycle - 1).bit_length()

    @property
    def transfers_per_vector(self):
        """Transfers per input vector: ``ceil(input_count / features_per_cycle)``."""
        return -(-self.input_count // self.features_per_cycle)

    def position(self, feature):
        """The padded position of input ``feature``."""
        f = self.features_per_cycle
        return (feature // f << self.pos_bits) + feature % f

    @property
    def first_outputs(self):
        """``(lo, hi)`` of each first-layer activation."""
        return self.layer_plans[0].output_ranges

    @property
    def entry_counts(self):
        """Entries in each lane's ROM."""
        return tuple(len(p.entries) for p in self.lane_plans)

    @property
    def lane_stages(self):
        """Cycles an entry takes from its fetch to the accumulator: 2 (the ROM and the image
        buffer each take one to read) and one per lane register."""
        return 2 + len(self.lane_registers)

    @property
    def fold_stages(self):
        """Cycles from a lane's activation to the folded second layer's accumulators (the
        activation registered, its weights read, the lanes' terms added): 3, or 0 without
        :attr:`fold`."""
        return 3 if self.fold else 0

    @property
    def run_cycles(self):
        """Cycles of the sequential phase: the most entries of a lane, plus
        :attr:`lane_stages` (2 without lane registers) and :attr:`fold_stages`, 0 without
        lanes."""
        most = max(self.entry_counts, default=0)
        return most + self.lane_stages + self.fold_stages if most else 0

    @property
    def first_parallel(self):
        """The first layer built in parallel: 1, or 2 when the second is folded."""
        return 2 if self.fold else 1

    @property
    def fold_ranges(self):
        """``(lo, hi)`` of each folded second-layer accumulator (empty without :attr:`fold`)."""
        if not self.fold:
            return ()
        kind = self.layers[1].activation.kind
        return tuple((_initial_value(kind, n.params) + lo, _initial_value(kind, n.params) + hi)
                     for n, (lo, hi) in zip(self.layers[1].neurons,
                                            self.layer_plans[1].sum_ranges))

    @property
    def fold_weight_bits(self):
        """``(width, signed)`` of one weight of :attr:`LanePlan.next_weights`."""
        weights = [w for lane in self.lane_plans for row in lane.next_weights for w in row]
        return semantics.range_bits(min(weights, default=0), max(max(weights, default=0), 1))

    @property
    def layer_latencies(self):
        """Cycles of each layer stage: the sequential phase (:attr:`run_cycles`, plus the cycle
        in which its activations, or the folded layer's, are offered to the next layer), then
        each parallel layer's, or with a sequential tail the output layer's
        :attr:`TailPlan.steps`."""
        if self.tail_plan is not None:
            return (self.run_cycles + 1, self.tail_plan.steps)
        return (self.run_cycles + 1,
                *(p.latency for p in self.layer_plans[self.first_parallel:]))

    @property
    def argmax_latency(self):
        """Cycles of the argmax stage: its comparator tree's registers and its output one, or
        with a sequential tail one per class and the output's."""
        if self.tail_plan is not None:
            return len(self.tail_plan.inits) + 1
        return len(self.argmax_registers) + self.argmax_split + 1

    @property
    def tail(self):
        """How the output layer is built (one of :data:`TAILS`)."""
        return "parallel" if self.tail_plan is None else "sequential"

    @property
    def cycles_per_inference(self):
        """Cycles between inferences when transfers come back to back and ``o.ready`` stays
        high: ``transfers_per_vector + run_cycles``, plus a sequential tail's
        :attr:`TailPlan.cycles` (``i.ready`` stays low while it runs)."""
        tail = 0 if self.tail_plan is None else self.tail_plan.cycles
        return self.transfers_per_vector + self.run_cycles + tail

    # The entry table in SPRAM: one byte per entry, the lanes side by side in a word.

    @property
    def table_width(self):
        """Bits of an SPRAM table word: 16, 32 or 64, the narrowest with a byte for every lane
        (0 for a block-RAM design)."""
        if self.weights != "spram":
            return 0
        return next(w for w in _SPRAM_WIDTHS if w // 8 >= max(self.lanes, 1))

    @property
    def entries_per_word(self):
        """Entries of one lane in an SPRAM table word: the largest power of two whose bytes for
        every lane fit the word (0 for a block-RAM design)."""
        if self.weights != "spram":
            return 0
        room = self.table_width // 8 // max(self.lanes, 1)
        return 1 << (room.bit_length() - 1)

    def table_slot(self, lane, pc):
        """``(word, byte)`` of the SPRAM table that holds entry ``pc`` of ``lane``: every lane
        reads word ``pc // entries_per_word`` at once; within it, the entries of one ``pc`` sit
        in consecutive bytes, lane 0 first. The one rule of the layout: :meth:`table_payload`
        writes by it and the hardware reads by it (``pc`` low bits select the byte)."""
        per = self.entries_per_word
        return pc // per, (pc % per) * self.lanes + lane

    @property
    def table_words(self):
        """Words of the SPRAM table: every lane's entries (0 for a block-RAM design)."""
        if self.weights != "spram":
            return 0
        return max(1, -(-max(self.entry_counts, default=0) // self.entries_per_word))

    @property
    def table_bytes(self):
        """Bytes of the SPRAM table (the payload of the weights image; 0 for block RAM)."""
        return self.table_words * self.table_width // 8

    @property
    def spram_blocks(self):
        """SB_SPRAM256KA blocks the table takes: ``table_width / 16`` side by side, as many
        rows of 16,384 words as it needs."""
        if self.weights != "spram":
            return 0
        return self.table_width // 16 * -(-self.table_words // 16384)

    def table_payload(self):
        """The SPRAM table's bytes in load order (the payload of ``weights.bin``): every lane's
        entries placed by :meth:`table_slot`, unused bytes zero."""
        assert self.weights == "spram"
        payload = bytearray(self.table_bytes)
        per_word = self.table_width // 8
        for k, lane in enumerate(self.lane_plans):
            for pc, entry in enumerate(lane.entries):
                word, byte = self.table_slot(k, pc)
                payload[word * per_word + byte] = entry
        return bytes(payload)

    @property
    def memories(self):
        """``(name, width, depth)`` of every block-RAM memory: per lane the entry ROM (unless
        the entries are in SPRAM), the parameter ROM, the folded layer's weight ROM (with
        :attr:`fold`) and the image buffer; then for a sequential tail each lane's activations
        (written as its neurons finish, instead of a chain of registers) and the tail's weight
        ROM."""
        kind = self.layers[0].activation.kind
        result = []
        for k, lane in enumerate(self.lane_plans):
            if self.weights == "bram":
                result.append((f"lane{k}_entries", self.entry_bits, len(lane.entries)))
            result.append((f"lane{k}_params", lane.param_width(kind), len(lane.neurons)))
            if self.fold:
                result.append((f"lane{k}_next", self.fold_weight_bits[0] * len(self.layers[1]
                                                                             .neurons),
                               len(lane.neurons)))
            result.append((f"lane{k}_image", self.features_per_cycle * self.input_bits,
                           self.transfers_per_vector))
        if self.tail_plan is not None:
            ranges = [r for r in self.first_outputs if r[0] != r[1]]
            width = semantics.range_bits(min(lo for lo, _ in ranges),
                                         max(hi for _, hi in ranges))[0]
            result.extend((f"lane{k}_acts", width, self.tail_plan.steps)
                          for k in range(self.lanes))
            result.append(("tail_weights", self.tail_plan.word_width, self.tail_plan.steps))
        return tuple(result)

    @staticmethod
    def is_rom(name):
        """Whether the memory ``name`` of :attr:`memories` is a ROM: all are but the lanes' image
        buffers and activations, which the design writes."""
        return not name.endswith(("_image", "_acts"))

    @property
    def rom_bits(self):
        """Bits of the entry, parameter and tail weight ROMs."""
        return sum(w * d for name, w, d in self.memories if self.is_rom(name))

    @property
    def memory_bits(self):
        """Bits of every memory: the ROMs and the image buffers."""
        return sum(w * d for _, w, d in self.memories)


def _dsp_accumulators(design, blocks):
    """``dsp_lanes`` and ``dsp_tail`` of ``design`` given ``blocks`` DSP blocks: in
    :data:`DSP_ORDER`, as many of each group's accumulators as the blocks left hold."""
    groups = {"lanes": (design.lanes, design.lane_acc_width), "tail": design.tail_accumulators}
    taken = {}
    for group in DSP_ORDER:
        count, width = groups[group]
        if not count or width > DSP_WIDTH:
            taken[group] = 0
            continue
        fits = max(n for n in range(count + 1) if dsp_blocks(n, width) <= blocks)
        taken[group] = fits
        blocks -= dsp_blocks(fits, width)
    return {"dsp_lanes": taken["lanes"], "dsp_tail": taken["tail"]}


def streaming_plan(*, input_count, input_bits, input_map, layers, register_every=None,
                   keep_adders=True, compress=True, features_per_cycle=1, lanes=1,
                   entry_bits=6, argmax_every=None, weights="bram", lane_registers=(),
                   fold=False, tail="parallel", dsp=0):
    """The :class:`StreamingPlan` of these arguments (see :class:`~lwc.hw.StreamingNetwork`):
    the lanes balanced (longest neuron first, each to the lane with the fewest entries so far),
    their ROM contents and the memories; :class:`ValueError` when the arguments are not valid.
    ``argmax_every`` is as for :func:`parallel_plan`; ``weights`` (:data:`WEIGHT_STORES`) puts
    the entries in block RAM or in an SPRAM table (at most :data:`SPRAM_LANES` lanes, entries
    of at most 8 bits, :data:`SPRAM_BYTES` in all); ``lane_registers`` names lane pipeline
    registers (:data:`LANE_REGISTERS`, any order; kept in that order); ``fold`` accumulates the
    second layer in the lanes (:func:`fold_error` says when it cannot); ``tail``
    (:data:`TAILS`) builds the output layer in logic or sequentially (:class:`TailPlan`; only
    when it directly follows the first layer, not with ``fold``, and as ``parallel`` when no
    first-layer neuron needs a lane); ``dsp`` DSP blocks take accumulators, two of up to
    :data:`DSP_HALF_WIDTH` bits or one of up to :data:`DSP_WIDTH` a block, in :data:`DSP_ORDER`
    (:attr:`StreamingPlan.dsp_lanes`, :attr:`~StreamingPlan.dsp_tail`)."""
    lane_registers = check_lane_registers(lane_registers)
    if fold and tail == "sequential":
        raise ValueError("a sequential tail computes the second layer after the lanes; it "
                         "cannot also be folded into them")
    _positive_int("input_count", input_count)
    _positive_int("input_bits", input_bits)
    _positive_int("features_per_cycle", features_per_cycle)
    _positive_int("lanes", lanes)
    _positive_int("entry_bits", entry_bits, minimum=2)
    if isinstance(dsp, bool) or not isinstance(dsp, int) or dsp < 0:
        raise ValueError(f"dsp must be a number of DSP blocks, not {dsp!r}")
    if weights not in WEIGHT_STORES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_STORES)}, not {weights!r}")
    if tail not in TAILS:
        raise ValueError(f"tail must be one of {', '.join(TAILS)}, not {tail!r}")
    if weights == "spram" and entry_bits > 8:
        raise ValueError(f"an SPRAM table holds one byte per entry; entry_bits must be at most "
                         f"8, not {entry_bits}")
    input_map, layers = check_structure(input_count, input_map, layers)
    if tail == "sequential" and len(layers) != 2:
        raise ValueError(f"a sequential tail computes an output layer that directly follows the "
                         f"first layer; this network has {len(layers)} layers")
    if layers[0].shared:
        raise ValueError("The sequential first layer cannot have shared nodes; expand them "
                         "into its neurons first")
    fields = _network_fields(input_count, input_bits, input_map, layers, register_every,
                             keep_adders, compress, first_register_every=None,
                             argmax_every=argmax_every)
    spec, first = layers[0], fields["layer_plans"][0]
    kind = spec.activation.kind
    delta_bits = entry_bits - 1
    pos_bits = (features_per_cycle - 1).bit_length()

    def position(feature):
        return (feature // features_per_cycle << pos_bits) + feature % features_per_cycle

    active = [j for j, (lo, hi) in enumerate(first.output_ranges) if lo != hi]
    positions = {j: [position(input_map[k]) for k in spec.neurons[j].inputs] for j in active}
    base = min((p[0] for p in positions.values() if p), default=0)
    entries = {j: encode_neuron(positions[j], spec.neurons[j].weights, base=base,
                                delta_bits=delta_bits) for j in active}
    assert all(len(entries[j]) >= 2 for j in active)  # a weight entry, then the end
    groups = [[] for _ in range(min(lanes, len(active)))]
    loads = [0] * len(groups)
    for j in sorted(active, key=lambda j: (-len(entries[j]), j)):
        lane = min(range(len(groups)), key=lambda k: (loads[k], k))
        groups[lane].append(j)
        loads[lane] += len(entries[j])
    if fold:
        error = fold_error(layers, fields["layer_plans"])
        if error:
            raise ValueError(error)
    lane_plans = []
    for group in groups:
        group.sort()
        inits, gaps, accs = [], [], []
        for j in group:
            params = spec.neurons[j].params
            init = _initial_value(kind, params)
            inits.append(init)
            gaps.append(params[0] - params[1] if kind == "ternary" else 0)
            lo, hi = first.sum_ranges[j]
            accs.append((init + lo, init + hi))
        next_weights = ()
        if fold:
            next_weights = tuple(
                tuple(dict(zip(n.inputs, n.weights)).get(j, 0) for n in layers[1].neurons)
                for j in group)
        lane_plans.append(LanePlan(
            neurons=tuple(group), entries=tuple(e for j in group for e in entries[j]),
            inits=tuple(inits), gaps=tuple(gaps), acc_range=_union(accs),
            next_weights=next_weights))
    fold_inits = ()
    if fold:
        kind1 = layers[1].activation.kind
        constants = {j: lo for j, (lo, hi) in enumerate(first.output_ranges) if lo == hi}
        fold_inits = tuple(
            _initial_value(kind1, n.params)
            + sum(w * constants[i] for i, w in zip(n.inputs, n.weights) if i in constants)
            for n in layers[1].neurons)
    tail_design = None
    if tail == "sequential" and lane_plans:
        tail_design = tail_plan(layers, first.output_ranges, lane_plans, len(spec.neurons))
    design = StreamingPlan(**fields, features_per_cycle=features_per_cycle,
                           entry_bits=entry_bits, lane_plans=tuple(lane_plans), base=base,
                           weights=weights, lane_registers=lane_registers, fold=fold,
                           fold_inits=fold_inits, tail_plan=tail_design)
    if dsp:
        design = replace(design, **_dsp_accumulators(design, dsp))
    if weights == "spram":
        if design.lanes > SPRAM_LANES:
            raise ValueError(f"an SPRAM table serves at most {SPRAM_LANES} lanes (a byte each "
                             f"of a 64-bit word), not {design.lanes}")
        if design.table_bytes > SPRAM_BYTES:
            raise ValueError(f"the first layer's table is {design.table_bytes:,} bytes; SPRAM "
                             f"holds {SPRAM_BYTES:,}")
    return design
