"""Resource estimates for a compiled network, without synthesis: what ``--architecture auto``
decides with, and what a user reads before a long place-and-route.

The model counts what the lowering builds (:mod:`lwc.hw`): in the parallel architecture, every
two-input adder costs one iCE40 logic cell per output bit (a LUT4 and a carry share a cell), a
compressor tree over one-bit inputs two LUT4s per full adder, each threshold a LUT4 per three
bits of its sum, the argmax a comparator and a multiplexer per score bit; registers mostly share
their cell with the LUT that feeds them. In the streaming architecture the first layer is a small
sequencer per lane and its weights live in block RAM. The constants were fitted to nextpnr's
placed counts on the benchmark nets (``docs/benchmarks.md`` shows estimate against nextpnr).

The model is per device family (:data:`MODELS`, :func:`model_for`): only iCE40 (logic cells of a
LUT4 and a carry, 4-kbit block RAMs) is fitted. ECP5 has no fitted model, and nothing is
decided for it from iCE40's numbers: :func:`lwc.boards.plan.plan_architecture` builds it in
parallel unless the user asks for streaming.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from .. import semantics
from ..compiler.architecture import Parallel, Streaming
from ..compiler.ir import layer_ranges, layer_ranges_step
from ..compiler.passes.tabulate import table_luts
from ..hw.adder_tree import range_shape

__all__ = ["Estimate", "Model", "MODELS", "model_for", "estimate_parallel", "estimate_streaming",
           "block_rams", "UART_TOP_CELLS", "BRAM_BITS", "LOGIC_MARGIN"]

#: Logic cells of the UART front end (receiver, parser with CRC, response serializer), fitted.
UART_TOP_CELLS = 248
#: Bits in one iCE40 block RAM (SB_RAM40_4K).
BRAM_BITS = 4096
#: Share of a device's logic cells an estimate may fill and be said to fit: place-and-route
#: needs some slack (and the estimate is a fit, not a count).
LOGIC_MARGIN = 0.9
# The constants below were fitted by least squares to nextpnr's placed logic cells on the nets of
# ``bench/estimate.py`` (iCE40UP5K, with the UART top); docs/benchmarks.md has the table.
# Scale of the structural count of parallel logic, and cells per register bit not absorbed by a
# LUT (part of the structural count).
_PARALLEL_SCALE = 1.24
_REGISTER_CELLS = 0.3
# Streaming: the sequencer, parameter ROMs in logic and the top's frame gathering; each lane per
# input bit (image buffer multiplexer, accumulator, index); each first-layer activation bit
# (the lanes' result chains).
_STREAM_CELLS = 320
_LANE_CELLS_PER_BIT = 67.5
_ACTIVATION_CELLS = 0.77
# An SPRAM table's boot loader (SPI flash reader, header and CRC-32 check, write path): 233 LUT4s
# and 143 flip-flops in synth_ice40, 322 logic cells placed (docs/spram.md, "Cost").
_SPRAM_LOADER_CELLS = 300
# A folded second layer's weight ROMs, in logic: cells per ROM bit, fitted to the one measured
# build (the MNIST net of docs/benchmarks.md, "The UP5K at 48 MHz": 3,126 placed logic cells,
# estimated 2,903).
_FOLD_ROM_CELLS = 0.2
# A sequential output layer (hw.plan.TailPlan): its step counter, read-ahead address and valid
# bits (not fitted: counted from the design).
_TAIL_CONTROL_CELLS = 24
# An accumulator in a DSP block (hw.dsp.Accumulators) instead of logic: the cells per bit of its
# width it saves, fitted to placed builds (docs/benchmarks.md, "DSP blocks"). A lane's (add or
# subtract a feature, load the next neuron's initial value): 273 and 277 cells for eight 9-bit
# ones on the digits net (parallel and sequential tail). A sequential tail's class (add the
# step's sum, clear): 21 for eight 5-bit ones on the digits net, about 109 for eight 10-bit ones
# on the 98.82% MNIST net (413 saved in all, less its lanes' 8 x 10 x 3.8).
_DSP_SAVED_LANE_CELLS_PER_BIT = 3.8
_DSP_SAVED_TAIL_CELLS_PER_BIT = 1.2
#: iCE40 block RAM geometries (width, depth) a memory can be cut into.
_BRAM_MODES = ((16, 256), (8, 512), (4, 1024), (2, 2048))
#: Yosys's memory_libmap weighs a ROM bit lowered to logic at 1/16 (its default
#: ``-logic-cost-rom``) against each block RAM it would take (``cost 64`` in techlibs/ice40/
#: brams.txt, plus its own overhead), so a ROM of fewer bits than this per block goes to logic
#: ("using FF mapping" in its log). Measured with YoWASP Yosys 0.70 on registered-read ROMs:
#: 1,056 bits (16 x 66, 4 x 264) in logic, 1,072 (16 x 67) and 1,080 (2 x 540) in one block;
#: two-block ROMs of 2,048 bits (32 x 64) in logic, 2,240 (32 x 70) in two blocks. The 8-lane
#: MNIST design of docs/benchmarks.md ("98.8% on the UP5K") has its 708-944-bit parameter ROMs
#: in logic and 27 block RAMs placed.
_ROM_BITS_PER_BLOCK = 1064


@dataclass(frozen=True)
class Estimate:
    """Estimated resources and speed of one architecture of a network.

    ``logic_cells`` includes the UART front end when ``with_top``; ``block_rams`` counts 4-kbit
    iCE40 blocks; ``cycles_per_inference`` is the number of clock cycles between two accepted
    inputs when the network runs flat out (1 for the parallel pipeline); ``spram_blocks`` counts
    the SB_SPRAM256KA blocks of a weight table loaded from flash, ``dsp_blocks`` the DSP blocks
    (SB_MAC16) that hold accumulators.
    """

    architecture: str
    logic_cells: int
    block_rams: int
    cycles_per_inference: int
    features_per_cycle: int = 0
    lanes: int = 0
    spram_blocks: int = 0
    dsp_blocks: int = 0

    def overruns(self, capacity, margin=LOGIC_MARGIN):
        """The resources of which this estimate needs more than a device of ``capacity``
        (:class:`lwc.boards.board.Capacity`) offers, as ``(what, needed, limit, available)``
        tuples; empty when it fits. Logic cells are limited to ``margin`` of the device's
        (place-and-route needs some slack), block RAMs to all of them."""
        over = []
        limit = math.floor(margin * capacity.logic_cells)
        if self.logic_cells > limit:
            over.append(("logic cells", self.logic_cells, limit, capacity.logic_cells))
        if self.block_rams > capacity.block_rams:
            over.append(("block RAMs", self.block_rams, capacity.block_rams,
                         capacity.block_rams))
        if self.spram_blocks > capacity.spram:
            over.append(("SPRAM blocks", self.spram_blocks, capacity.spram, capacity.spram))
        if self.dsp_blocks > capacity.dsp:
            over.append(("DSP blocks", self.dsp_blocks, capacity.dsp, capacity.dsp))
        return tuple(over)

    def fits(self, capacity, margin=LOGIC_MARGIN):
        """Whether the estimate fits a device of ``capacity`` (no :meth:`overruns`)."""
        return not self.overruns(capacity, margin)


def _term_range(rng, weight):
    return semantics.term_bounds(*rng, weight)


def _tree_cells(terms):
    """Cells of a balanced adder tree over terms of these ranges: one per output bit per adder."""
    cells = 0
    level = list(terms)
    while len(level) > 1:
        paired = []
        for a, b in zip(level[0::2], level[1::2]):
            r = (a[0] + b[0], a[1] + b[1])
            cells += range_shape(*r).width
            paired.append(r)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return cells


def _compressor_cells(count, width):
    """Cells of a compressor tree adding ``count`` one-bit terms into a ``width``-bit sum: about
    ``count - width`` full adders of two LUT4s each, then a carry-chain adder of ``width`` bits."""
    return 2 * max(count - width, 0) + width


def _activation_cells(activation, width):
    """Cells of one neuron's activation over a ``width``-bit sum, from the kind's table row
    (:data:`lwc.semantics.KINDS`): a kind with an output width (``bits``) subtracts and saturates
    (``clip``: two cells per sum bit and one per output bit); any other hidden kind compares the
    sum with each of its parameters (a LUT4 per three bits); the output kind's sum is the score."""
    kind = semantics.KINDS[activation.kind]
    if not kind.hidden:
        return 0
    if "bits" in kind.settings:
        return 2 * width + activation.bits
    return len(kind.params) * -(-width // 3)


def _register_bits(activation, width):
    """Register bits of one neuron's output: the sum (output kind), the output width (a kind with
    ``bits``), or two (a threshold kind's one or two bits)."""
    kind = semantics.KINDS[activation.kind]
    if not kind.hidden:
        return width
    return activation.bits if "bits" in kind.settings else 2


def comparator_bits(layer, neuron, in_ranges):
    """The high bits of its input that ``neuron`` reads when it is a comparator (one input of
    unsigned values, weight +1, a ``step`` threshold: an input encoder's cut, ``x >= t``), else
    ``None``. ``x >= t`` depends only on the bits of ``x`` above the trailing zeros of ``t``
    (Yosys drops the others, and the input register's bits that nothing else reads)."""
    if (layer.activation.kind != "step" or neuron.weights != (1,) or neuron.table
            or neuron.inputs[0] >= len(in_ranges) or in_ranges[neuron.inputs[0]][0] < 0):
        return None
    (threshold,) = neuron.params
    width = range_shape(*in_ranges[neuron.inputs[0]]).width
    if threshold <= 0:
        return 0
    return max(width - ((threshold & -threshold).bit_length() - 1), 0)


def layer_cells(layer, in_ranges):
    """Estimated logic cells of one parallel layer reading values of ``in_ranges``."""
    ranges = list(in_ranges)
    cells = 0.0
    for node in layer.shared:
        terms = [_term_range(ranges[i], w) for i, w in zip(node.inputs, node.weights)]
        cells += _tree_cells(terms)
        ranges.append(semantics.weighted_sum_range([ranges[i] for i in node.inputs],
                                                   node.weights))
    one_bit = semantics.one_bit_inputs(in_ranges) and not layer.shared
    for neuron, (_, out) in zip(layer.neurons, layer_ranges_step(layer, in_ranges)):
        if neuron.table:  # the tabulate pass's own cost model
            out_width = range_shape(*out).width
            cells += table_luts(semantics.table_bits([ranges[i] for i in neuron.inputs]),
                                out_width)
            cells += _REGISTER_CELLS * out_width
            continue
        compared = comparator_bits(layer, neuron, in_ranges)
        if compared is not None:  # a LUT4 per three bits compared with the constant
            cells += -(-compared // 3) + _REGISTER_CELLS * _register_bits(layer.activation, 1)
            continue
        terms = [_term_range(ranges[i], w) for i, w in zip(neuron.inputs, neuron.weights)]
        lo, hi = semantics.weighted_sum_range([ranges[i] for i in neuron.inputs], neuron.weights)
        width = range_shape(lo, hi).width
        if one_bit and all(abs(w) == 1 for w in neuron.weights):
            cells += _compressor_cells(len(terms), width)
        else:
            cells += _tree_cells(terms)
        cells += _activation_cells(layer.activation, width)
        cells += _REGISTER_CELLS * _register_bits(layer.activation, width)
    return cells


def _argmax_cells(score_ranges):
    width = max(range_shape(lo, hi).width for lo, hi in score_ranges)
    label = max(1, (len(score_ranges) - 1).bit_length())
    return (len(score_ranges) - 1) * (2 * width + label)


def block_rams(width, depth, *, rom=False):
    """4-kbit iCE40 block RAMs holding a ``width`` x ``depth`` memory in the best geometry; none
    for a ``rom`` that Yosys puts in logic instead (:data:`_ROM_BITS_PER_BLOCK`)."""
    if width == 0 or depth == 0:
        return 0
    blocks = min(-(-width // w) * -(-depth // d) for w, d in _BRAM_MODES)
    return 0 if rom and width * depth < _ROM_BITS_PER_BLOCK * blocks else blocks


def _logic_cells(net, first=0):
    """``(cells, inputs)``: structural cells of the parallel layers from index ``first`` on and of
    the argmax, and the value ranges each layer reads (``inputs[k + 1]``: layer ``k``'s outputs)."""
    inputs = [[(0, net.input.max_value)] * len(net.input_map)]
    inputs += [[out for _, out in layer] for layer in layer_ranges(net)]
    cells = sum(layer_cells(net.layers[k], inputs[k]) for k in range(first, len(net.layers)))
    return cells + _argmax_cells(inputs[-1]), inputs


def _fold_cells(component):
    """Cells of a second layer folded into the lanes: each lane's weight ROM, which Yosys puts
    in logic (:data:`_FOLD_ROM_CELLS` per bit), per lane and second-layer neuron a term register
    and its multiplexer (a cell per bit), per neuron the lanes' sum and the accumulator (a cell
    per bit per adder)."""
    if not component.fold:
        return 0
    neurons = len(component.fold_ranges)
    width = max(range_shape(*r).width for r in component.fold_ranges)
    term_bits = component.fold_weight_bits[0] + 1
    rom_bits = sum(w * d for name, w, d in component.memories if name.endswith("_next"))
    return (_FOLD_ROM_CELLS * rom_bits
            + neurons * (component.lanes * term_bits + component.lanes * width))


def _sequential_tail_cells(tail, score_ranges):
    """Structural cells of a sequential output layer (:class:`~lwc.hw.plan.TailPlan`) and its
    sequential argmax: per class, one term per lane (a multiplexer per bit of the term, or a
    small multiplier), the adder tree over the lanes into the step's register and the
    accumulator's adder (one cell per output bit each); its weight ROM is block RAM (in the
    plan's :attr:`~lwc.hw.plan.StreamingPlan.memories`)."""
    lanes = len(tail.weights[0])
    cells = _TAIL_CONTROL_CELLS
    for part, acc in zip(tail.part_ranges, tail.acc_ranges):
        part_width = range_shape(*part).width
        per_term = part_width if tail.ternary else part_width * tail.weight_bits[0]
        # A term per lane (its bits), the lanes' adder tree (about a part-wide adder per lane),
        # and the accumulator.
        cells += lanes * per_term + max(lanes - 1, 0) * part_width + range_shape(*acc).width
    # The argmax, one class a clock: a multiplexer over the scores, a comparator, the best
    # score and the label.
    width = max(range_shape(lo, hi).width for lo, hi in score_ranges)
    label = max(1, (len(score_ranges) - 1).bit_length())
    return cells + width * (len(score_ranges) // 2 + 3) + label


def _dsp_saved_cells(component):
    """Cells that the accumulators in DSP blocks (:attr:`~lwc.hw.plan.StreamingPlan.dsp_lanes`,
    :attr:`~lwc.hw.plan.StreamingPlan.dsp_tail`) no longer take in logic."""
    return (_DSP_SAVED_LANE_CELLS_PER_BIT * component.dsp_lanes * component.lane_acc_width
            + _DSP_SAVED_TAIL_CELLS_PER_BIT * component.dsp_tail
            * component.tail_accumulators[1])


def estimate_streaming(net, component, *, with_top=True):
    """:class:`Estimate` of ``net`` as the streaming design ``component`` (a
    :class:`~lwc.hw.plan.StreamingPlan`: lanes, memories, transfers and cycles; nothing is
    built), behind the UART front end when ``with_top`` (which then keeps the frame in one more
    memory instead of a shift register). A table in SPRAM (``weights="spram"``) takes no block
    RAM but its SPRAM blocks and the boot loader's cells. A second layer folded into the lanes
    (``fold``) is accumulators, not trees, and the lanes keep no chain of activations. A
    sequential output layer (``component.tail_plan``) replaces the parallel layers after the
    first by :func:`_sequential_tail_cells` and its weight ROM. Accumulators in DSP blocks save
    :func:`_dsp_saved_cells`."""
    tail, inputs = _logic_cells(net, first=component.first_parallel)
    act_bits = 0 if component.fold else \
        sum(range_shape(lo, hi).width for lo, hi in inputs[1] if lo != hi)
    if component.tail_plan is not None:
        # The activations go to block RAM, not chains of registers.
        tail, act_bits = _sequential_tail_cells(component.tail_plan, inputs[-1]), 0
    cells = (_STREAM_CELLS + component.lanes * _LANE_CELLS_PER_BIT * component.input_bits
             + _ACTIVATION_CELLS * act_bits + _PARALLEL_SCALE * tail
             + _fold_cells(component) - _dsp_saved_cells(component))
    if component.weights == "spram":
        cells += _SPRAM_LOADER_CELLS
    rams = sum(block_rams(w, d, rom=component.is_rom(name))
               for name, w, d in component.memories if not name.endswith("_next"))
    if with_top:
        cells += UART_TOP_CELLS
        rams += block_rams(component.features_per_cycle * component.input_bits,
                           component.transfers_per_vector)
    return Estimate(Streaming.name, round(cells), rams, component.cycles_per_inference,
                    component.features_per_cycle, component.lanes, component.spram_blocks,
                    component.dsp_blocks)


def input_register_bits(net):
    """Flip-flops left of the UART top's input shift register (:class:`lwc.hw.top.Top`: each
    feature enters at the last position and moves down one a transfer) once synthesis drops what
    nothing reads: each bit position of a feature is a chain of its own, needed from the input
    down to the first feature whose bit there the first layer reads (every bit of a feature it
    sums or tabulates; the bits a comparator compares, :func:`comparator_bits`)."""
    bits = net.input.bits
    layer = net.layers[0]
    in_ranges = [(0, net.input.max_value)] * len(net.input_map)
    read = [0] * len(net.input_map)  # a mask of bit positions per used feature
    full = (1 << bits) - 1
    for node in layer.shared:
        for i in node.inputs:
            if i < len(read):
                read[i] = full
    for neuron in layer.neurons:
        compared = comparator_bits(layer, neuron, in_ranges)
        mask = full if compared is None else full ^ (full >> compared)
        for i in neuron.inputs:
            if i < len(read):
                read[i] |= mask
    total = 0
    for bit in range(bits):
        first = next((net.input_map[k] for k, m in enumerate(read) if m >> bit & 1), None)
        if first is not None:
            total += net.input.count - first
    return total


def estimate_parallel(net, *, with_top=True):
    """:class:`Estimate` of ``net`` (after the compiler passes: every ``sum_range`` known) as the
    fully parallel :class:`~lwc.hw.TernaryNetwork`, behind the UART front end when ``with_top``
    (which holds the input vector in a shift register, :func:`input_register_bits`)."""
    cells = _PARALLEL_SCALE * _logic_cells(net)[0]
    if with_top:
        cells += UART_TOP_CELLS + input_register_bits(net)
    return Estimate(Parallel.name, round(cells), 0, 1)


@dataclass(frozen=True)
class Model:
    """The fitted resource model of one device family: ``parallel(net)`` and
    ``streaming(net, plan)`` give an :class:`Estimate` with the board's UART front end."""

    family: str
    parallel: Callable
    streaming: Callable


#: The families with a fitted model, by name.
MODELS = {"ice40": Model("ice40", estimate_parallel, estimate_streaming)}


def model_for(family):
    """The :class:`Model` fitted for ``family`` (a :class:`~lwc.boards.family.Family` or its
    name), or ``None`` when none is (ECP5)."""
    return MODELS.get(getattr(family, "name", family))
