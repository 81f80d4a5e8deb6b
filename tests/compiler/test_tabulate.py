"""The tabulate passes: which neurons become truth tables, and the IR rules they keep."""

from dataclasses import replace

import numpy as np
import pytest

from lwc import semantics
from lwc.compiler import golden, ir, irtext, passes
from lwc.compiler.passes.tabulate import AUTO_TABLE_BITS, datapath_luts, table_luts
from lwc.compiler.stats import adder_count

from helpers import fan_in_network


def _tables(net):
    return [[n.table for n in layer.neurons] for layer in net.layers]


def _same_function(pass_, before, after):
    x = np.random.default_rng(0).integers(0, before.input.max_value + 1,
                                          size=(64, before.input.count))
    np.testing.assert_array_equal(golden.evaluate(before, x).scores,
                                  golden.evaluate(after, x).scores)


def test_cost_model():
    # Four one-bit terms: a LUT4 against a compressor tree and a comparison.
    act = ir.Activation("step")
    assert table_luts(4, 1) == 1
    assert datapath_luts([(0, 1)] * 4, (1, -1, 1, 1), act, (2,), one_bit=True) > 1
    assert table_luts(AUTO_TABLE_BITS + 2, 1) == 4 * table_luts(AUTO_TABLE_BITS, 1)
    assert table_luts(3, 2) == 2


@pytest.mark.parametrize("tables", ["auto", "all"])
def test_small_neurons_become_tables(tables):
    net = fan_in_network(np.random.default_rng(0), inputs=16, hidden=(12, 8), outputs=4,
                         bits=1, fan_in=3, kinds=("step",))
    compiled = passes.compile_network(net, tables=tables, on_pass=_same_function)
    # Every hidden neuron reads at most three one-bit values: one LUT4, cheaper than any sum
    # of two or more (one input is a comparison either way).
    hidden = [n for layer in compiled.layers[:-1] for n in layer.neurons]
    assert all(n.table for n in hidden if len(n.inputs) >= 2) and len(hidden) >= 6
    assert adder_count(compiled) == sum(max(len(n.inputs) - 1, 0) for layer in compiled.layers
                                        for n in layer.neurons if not n.table)
    assert adder_count(passes.compile_network(net, tables="off")) > adder_count(compiled)
    text = ir.dump(compiled)
    assert " table : " in text
    assert irtext.parse(text).layers == compiled.layers


def test_wide_neurons_stay_sums():
    """Twelve one-bit inputs: past the limit of ``all``; ``auto`` declines well before."""
    net = fan_in_network(np.random.default_rng(1), inputs=24, hidden=(8,), outputs=3,
                         bits=1, fan_in=12, kinds=("step",))
    assert not any(_tables(passes.compile_network(net, tables="all"))[0])
    assert not any(_tables(passes.compile_network(net, tables="auto"))[0])
    assert not any(n.table for layer in passes.compile_network(net, tables="off").layers
                   for n in layer.neurons)


def test_share_leaves_table_neurons_alone():
    net = fan_in_network(np.random.default_rng(2), inputs=6, hidden=(24,), outputs=3, bits=3,
                         fan_in=2, kinds=("clip",))
    # A dense second copy of the layer's neurons that share can work on.
    shared = passes.compile_network(net, tables="all", on_pass=_same_function)
    layer = shared.layers[0]
    n_in = len(shared.input_map)
    assert all(n.table for n in layer.neurons)
    assert all(i < n_in for n in layer.neurons for i in n.inputs)
    wide = fan_in_network(np.random.default_rng(3), inputs=8, hidden=(24,), outputs=3, bits=4,
                          fan_in=6, kinds=("clip",))
    mixed = passes.compile_network(wide, tables="all", on_pass=_same_function)
    assert mixed.layers[0].shared and not any(n.table for n in mixed.layers[0].neurons)


def test_verify_refuses_bad_tables():
    net = fan_in_network(np.random.default_rng(4), inputs=16, hidden=(8,), outputs=3,
                         bits=1, fan_in=12, kinds=("step",))
    layer = net.layers[0]
    wide = replace(net, layers=(replace(layer, neurons=(replace(layer.neurons[0], table=True),
                                                        *layer.neurons[1:])), net.layers[1]))
    bits = semantics.table_bits([(0, 1)] * 12)
    with pytest.raises(ir.VerifyError, match=f"layer 0 neuron 0: a table of {bits} index bits "
                       f"\\(at most {semantics.MAX_TABLE_BITS}\\)"):
        ir.verify(wide)
    dense = fan_in_network(np.random.default_rng(5), inputs=8, hidden=(24,), outputs=3, bits=4,
                           fan_in=6, kinds=("clip",))
    shared = passes.run(dense, passes.pipeline(tables="off"))
    reader = next(k for k, n in enumerate(shared.layers[0].neurons) if n.inputs[-1] >= 8)
    neurons = list(shared.layers[0].neurons)
    neurons[reader] = replace(neurons[reader], table=True)
    bad = replace(shared, layers=(replace(shared.layers[0], neurons=tuple(neurons)),
                                  *shared.layers[1:]))
    with pytest.raises(ir.VerifyError, match="a table neuron cannot read a shared node"):
        ir.verify(bad)


def test_pipeline_choices():
    assert passes.pipeline(tables="off") == passes.PIPELINE
    assert passes.pipeline(tables="auto") == (*passes.PRUNE, passes.tabulate, passes.share,
                                              passes.infer_widths)
    assert passes.pipeline(share=False, tables="all") == (*passes.PRUNE, passes.tabulate_all,
                                                          passes.infer_widths)
    with pytest.raises(ValueError, match="tables must be one of off, auto, all, not 'some'"):
        passes.pipeline(tables="some")
    net = fan_in_network(np.random.default_rng(5), inputs=8, hidden=(24,), outputs=3, bits=4,
                         fan_in=6, kinds=("clip",))
    with pytest.raises(ir.VerifyError, match="pass tabulate takes a plain net"):
        passes.tabulate(passes.share(net))


def test_truth_table_is_the_activation():
    """Each entry of :func:`lwc.semantics.truth_table` is the activation of its inputs' sum,
    the fields decoded as the hardware lays them out (signed fields two's complement)."""
    ranges, weights = [(-1, 1), (0, 3), (0, 1)], (2, -1, 1)
    act = ir.Activation("clip", shift=1, bits=2)
    tables = semantics.truth_table("clip", (-2,), weights, ranges, **act.settings)
    assert len(tables) == 2
    for a in (-1, 0, 1):
        for b in range(4):
            for c in (0, 1):
                index = (a & 3) | b << 2 | c << 4
                out = semantics.activation("clip", (-2,), 2 * a - b + c, shift=1, bits=2)
                assert [t >> index & 1 for t in tables] == [out & 1, out >> 1 & 1]


def test_the_estimate_counts_tables():
    """The board estimator prices a table neuron by the pass's cost model: a fan-in-3 net of
    one-bit inputs is estimated smaller with tables, as it is built (docs/benchmarks.md)."""
    from lwc.boards.estimate import estimate_parallel

    net = fan_in_network(np.random.default_rng(6), inputs=32, hidden=(48, 24), outputs=4,
                         bits=1, fan_in=3, kinds=("step",))
    with_tables = estimate_parallel(passes.compile_network(net, tables="auto"))
    without = estimate_parallel(passes.compile_network(net, tables="off"))
    assert with_tables.logic_cells < without.logic_cells
