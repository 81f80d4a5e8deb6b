"""Choose, per neuron, to build it as a truth table over its inputs' bits rather than as a sum
and a threshold (an adder tree, or a compressor tree in a layer of one-bit inputs).

A neuron over ``b`` input bits is a function of ``b`` bits: each bit of its output is one iCE40
LUT4 when ``b <= 4``, and a small tree of them up to 7 or so. Its sum is at least one adder per
term and a comparison more. The pass compares the two by a cost model in iCE40 LUT4s
(:func:`table_luts` against :func:`datapath_luts`) and marks the neurons whose table is cheaper
(``Neuron.table``); the hardware computes each table from the integer semantics
(:func:`lwc.semantics.truth_table`). :data:`tabulate_all` marks every neuron whose table fits
(:data:`lwc.semantics.MAX_TABLE_BITS`), whatever it costs. Run before ``share``: a table neuron
reads its inputs themselves, and ``share`` leaves it out.

The model's constants were measured with Yosys ``synth_ice40`` (``docs/benchmarks.md``, "Neurons
as truth tables").
"""

from dataclasses import replace

from lwc import semantics

from ..ir import layer_ranges_step
from .base import Pass, Phase

__all__ = ["tabulate", "tabulate_all", "table_luts", "datapath_luts", "AUTO_TABLE_BITS"]

#: LUT4s of one output bit of a table over ``b`` index bits, for ``b`` up to 7: Yosys
#: ``synth_ice40`` of step layers of random neurons (``python bench/compiler.py --table-cost
#: 2,3,4,5,6,7``; a function of more bits than four is decomposed by ABC, and one of two bits
#: may go into its register's set or reset, counted here as a LUT4 all the same).
_TABLE_LUTS = (0, 1, 1, 1, 1, 4, 7, 10)
#: The most index bits :data:`tabulate` considers. At 8 a table costs about what the sum does
#: alone (12 LUT4 against 12 and 3 carries), and in a whole net 8% more LUT4 (``fan8-1b`` in
#: ``docs/benchmarks.md``), so the model stops at 7.
AUTO_TABLE_BITS = len(_TABLE_LUTS) - 1


def table_luts(bits, out_width):
    """Estimated LUT4s of a table neuron over ``bits`` index bits with an ``out_width``-bit
    output; past :data:`AUTO_TABLE_BITS`, each further bit doubles it."""
    if bits <= AUTO_TABLE_BITS:
        per_bit = _TABLE_LUTS[bits]
    else:
        per_bit = _TABLE_LUTS[-1] << (bits - AUTO_TABLE_BITS)
    return per_bit * out_width


def datapath_luts(ranges, weights, activation, params, *, one_bit):
    """Estimated LUT4s (a LUT4 with its carry counted once) of the neuron as the hardware
    otherwise builds it over terms of ``ranges`` read with ``weights``: a compressor tree
    (``one_bit`` layers: two LUT4s per full adder, then a carry-chain adder as wide as the sum) or
    a balanced adder tree (a cell per bit of each adder), then its activation (a LUT4 per three
    bits of the sum per threshold; ``clip`` two per sum bit and one per output bit)."""
    terms = [semantics.term_bounds(lo, hi, w) for (lo, hi), w in zip(ranges, weights)]
    lo, hi = semantics.weighted_sum_range(ranges, weights)
    width = semantics.range_bits(lo, hi)[0]
    if one_bit and len(terms) > 2:
        cells = 2 * max(len(terms) - width, 0) + width
    else:
        cells, level = 0, terms
        while len(level) > 1:
            pairs = [(a[0] + b[0], a[1] + b[1]) for a, b in zip(level[0::2], level[1::2])]
            cells += sum(semantics.range_bits(*r)[0] for r in pairs)
            level = pairs + level[len(pairs) * 2:]
    kind = semantics.KINDS[activation.kind]
    if not kind.hidden:
        return cells
    if "bits" in kind.settings:
        return cells + 2 * width + activation.bits
    return cells + len(params) * -(-width // 3)


def _tabulate(net, *, every=False):
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    layers = []
    for layer in net.layers:
        info = layer_ranges_step(layer, ranges)
        one_bit = semantics.one_bit_inputs(ranges)
        neurons = []
        limit = semantics.MAX_TABLE_BITS if every else AUTO_TABLE_BITS
        for neuron, (_, out) in zip(layer.neurons, info):
            if len(neuron.inputs) > limit:  # a value is at least a bit (constants are folded)
                neurons.append(replace(neuron, table=False) if neuron.table else neuron)
                continue
            reads = [ranges[i] for i in neuron.inputs]
            bits = semantics.table_bits(reads)
            if every:
                table = bits <= semantics.MAX_TABLE_BITS
            else:
                out_width = semantics.range_bits(*out)[0]
                table = bits <= AUTO_TABLE_BITS and table_luts(bits, out_width) < datapath_luts(
                    reads, neuron.weights, layer.activation, neuron.params, one_bit=one_bit)
            neurons.append(neuron if neuron.table == table else replace(neuron, table=table))
        layers.append(replace(layer, neurons=tuple(neurons)))
        ranges = [out for _, out in info]
    return replace(net, layers=tuple(layers))


#: A plain net in (no shared nodes: a table reads its inputs), a plain net out, every neuron
#: marked a table where the cost model finds it cheaper.
tabulate = Pass("tabulate", _tabulate, accepts=frozenset({Phase.PLAIN}), gives=Phase.PLAIN)


def _tabulate_all(net):
    return _tabulate(net, every=True)


#: As :data:`tabulate`, but every neuron whose table fits is one (``lwc compile --tables all``).
tabulate_all = Pass("tabulate_all", _tabulate_all, accepts=frozenset({Phase.PLAIN}),
                    gives=Phase.PLAIN)
