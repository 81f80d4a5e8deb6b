"""Neurons built as truth tables, against the golden model on every value of their inputs.

Each net below makes the inputs of the layer under test take every combination of values in
their ranges: a first layer copies the network inputs (one-bit values, ternary values
``x_a - x_b``, or two-bit ``clip`` values), the layer under test reads them as tables, and the
output layer reads each of its neurons alone, so every table's output is a class score.
"""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from lwc.compiler import golden, ir, passes
from lwc.compiler.lower import lower, plan
from lwc.hw import network_verilog

from helpers import iverilog_outputs, rtl_outputs

# The first layer for each kind of input the tables read: (activation, input bits, network
# inputs per value, the weights and parameters of a copy).
SOURCES = {
    "bit": (ir.Activation("step"), 1, 1, (1,), (1,)),
    "ternary": (ir.Activation("ternary"), 1, 2, (1, -1), (-1, 1)),
    "two-bit": (ir.Activation("clip", bits=2), 2, 1, (1,), (0,)),
}


def table_net(rng, source, values, under_test, neurons=6, max_weight=1):
    """A net whose second layer (``under_test``: an :class:`~lwc.compiler.ir.Activation`) has
    ``neurons`` neurons over random subsets of ``values`` copies of the ``source`` values."""
    act, bits, per, w_copy, p_copy = SOURCES[source]
    count = values * per
    w0 = np.zeros((values, count), dtype=np.int64)
    for v in range(values):
        w0[v, v * per:(v + 1) * per] = w_copy
    p0 = np.tile(p_copy, (values, 1))
    lo, hi = {"bit": (0, 1), "ternary": (-1, 1), "two-bit": (0, 3)}[source]
    w1 = np.zeros((neurons, values), dtype=np.int64)
    p1 = []
    for j in range(neurons):
        cols = rng.choice(values, size=int(rng.integers(2, values + 1)), replace=False)
        w1[j, cols] = rng.choice([-1, 1], size=len(cols)) * rng.integers(1, max_weight + 1,
                                                                        size=len(cols))
        s_lo = int(sum(min(w * lo, w * hi) for w in w1[j]))
        s_hi = int(sum(max(w * lo, w * hi) for w in w1[j]))
        t = int(rng.integers(s_lo + 1, s_hi + 1))
        p1.append({"step": (t,), "ternary": (t - 1, t + 1), "clip": (t,)}[under_test.kind])
    layers = [(w0, act, p0), (w1, under_test, np.array(p1)),
              (np.eye(neurons, dtype=np.int64), ir.Activation("linear"), np.zeros(neurons))]
    return ir.from_dense(ir.InputSpec(count, bits), layers, [f"c{k}" for k in range(neurons)])


def every_input(net):
    top = net.input.max_value
    return np.array(list(itertools.product(range(top + 1), repeat=net.input.count)))


CASES = [
    ("bit", 4, ir.Activation("step"), 1),
    ("bit", 5, ir.Activation("ternary"), 1),
    ("bit", 4, ir.Activation("clip", shift=0, bits=2), 2),
    ("ternary", 3, ir.Activation("step"), 1),
    ("ternary", 4, ir.Activation("ternary"), 3),
    ("ternary", 3, ir.Activation("clip", shift=1, bits=3), 1),
    ("two-bit", 3, ir.Activation("step"), 1),
    ("two-bit", 3, ir.Activation("clip", shift=1, bits=2), 2),
]


@pytest.mark.parametrize("register_every", [None, 1])
@pytest.mark.parametrize("source, values, under_test, max_weight", CASES)
def test_tables_match_golden_on_every_input(source, values, under_test, max_weight,
                                            register_every):
    net = table_net(np.random.default_rng(values), source, values, under_test,
                    max_weight=max_weight)
    compiled = passes.compile_network(net, tables="all")
    assert all(n.table for n in compiled.layers[1].neurons)
    assert len(compiled.layers[1].neurons) >= 4  # not folded away
    x = every_input(net)
    trace = golden.evaluate(net, x)
    dut = lower(compiled, register_every=register_every)
    labels, scores = rtl_outputs(dut, x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)
    # Every table saw every combination of its inputs' values.
    values_seen = trace.outputs[0]
    for neuron in compiled.layers[1].neurons:
        seen = {tuple(row) for row in values_seen[:, list(neuron.inputs)]}
        lo, hi = {"bit": (0, 1), "ternary": (-1, 1), "two-bit": (0, 3)}[source]
        assert len(seen) == (hi - lo + 1) ** len(neuron.inputs)


def test_tables_beside_pipelined_trees():
    """A layer of tables and adder trees, with a register after every adder level: the tables'
    outputs wait for the trees' (the latency is the trees'), and every score is right."""
    net = table_net(np.random.default_rng(7), "two-bit", 3, ir.Activation("step"))
    off = passes.compile_network(net, share=False, tables="off")
    layer = off.layers[1]
    mixed = replace(off, layers=(off.layers[0], replace(layer, neurons=tuple(
        replace(n, table=k % 2 == 0) for k, n in enumerate(layer.neurons))), off.layers[2]))
    ir.verify(mixed)
    design = plan(mixed, register_every=1)
    assert design.latency == plan(off, register_every=1).latency
    assert design.layer_plans[1].registers and design.layer_plans[1].depths[0::2] == (0,) * 3
    all_tables = plan(passes.compile_network(net, tables="all"), register_every=1)
    assert all_tables.latency < design.latency  # no trees, no registers inside the layer
    x = every_input(net)
    trace = golden.evaluate(net, x)
    labels, scores = rtl_outputs(lower(mixed, register_every=1), x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)


@pytest.mark.icarus
@pytest.mark.parametrize("source, under_test", [("ternary", ir.Activation("ternary")),
                                                ("two-bit", ir.Activation("clip", bits=2))])
@pytest.mark.parametrize("register_every", [None, 1])
def test_verilog_tables_in_icarus(source, under_test, register_every, tmp_path):
    """The Verilog ``lwc compile`` writes (its ``lookup`` wires) in Icarus."""
    net = table_net(np.random.default_rng(3), source, 3, under_test, max_weight=2)
    dut = plan(passes.compile_network(net, tables="all"), register_every=register_every)
    text = network_verilog(dut)
    assert "l1_n0_t0 = " in text
    x = every_input(net)
    labels, scores = iverilog_outputs(text, dut, x, tmp_path)
    trace = golden.evaluate(net, x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)


def test_ir_text_names_the_wires_of_table_neurons():
    """Each table neuron of ``lwc inspect --ir`` (``table`` on its line) finds its lookups
    ``l{layer}_n{o}_t{b}`` and its register ``l{layer}_n{o}_act`` in net.v."""
    import re

    net = table_net(np.random.default_rng(5), "ternary", 3, ir.Activation("clip", bits=2))
    compiled = passes.compile_network(net, tables="all")
    text, verilog = ir.dump(compiled), network_verilog(plan(compiled))
    lines = [line for line in text.splitlines() if " table : " in line]
    assert len(lines) >= 4
    layer = None
    for line in text.splitlines():
        if line.startswith("layer "):
            layer = int(line.split()[1])
        elif " table : " in line:
            origin = re.match(r"  n(\d+) ", line).group(1)
            assert re.search(rf"assign l{layer}_n{origin}_t0 = \d+'h[0-9a-f]+ >> ", verilog)
            assert f"reg l{layer}_n{origin}_act" in verilog or \
                f"l{layer}_n{origin}_act = " in verilog


@pytest.mark.yosys
def test_a_table_of_four_bits_is_one_lut4(tmp_path):
    """Yosys ``synth_ice40`` maps each table neuron of a step layer over four one-bit inputs to
    at most one LUT4 (and its output register), as the cost model says: none where the function
    is simple enough to go into the register's set or reset."""
    import json
    import subprocess

    from amaranth.back import rtlil

    from lwc.boards.toolchain import tool_path, toolchain_env
    from lwc.compiler.lower import layer_specs
    from lwc.hw import TernaryLayer

    net = table_net(np.random.default_rng(11), "bit", 4, ir.Activation("step"), neurons=8)
    compiled = passes.compile_network(net, tables="all")
    layer = compiled.layers[1]
    assert all(n.table and len(n.inputs) >= 2 for n in layer.neurons) and layer.size >= 6
    component = TernaryLayer(layer_specs(compiled)[1], [(0, 1)] * 4, index=1)
    (tmp_path / "layer.il").write_text(rtlil.convert(component, name="layer", emit_src=False))
    env = toolchain_env()
    subprocess.run([tool_path("yosys", env), "-q", "-p", "read_rtlil layer.il; synth_ice40 "
                    "-top layer; tee -q -o stat.json stat -json"], cwd=tmp_path, env=env,
                   check=True)
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert 0 < cells.get("SB_LUT4", 0) <= layer.size, cells
    assert "SB_CARRY" not in cells
    assert sum(n for cell, n in cells.items() if cell.startswith("SB_DFF")) == layer.size
