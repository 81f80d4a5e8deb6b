"""``lower``: a compiled net to hardware parameters, names from origins, errors.

Bit-exactness of the lowered hardware against the golden model is in ``tests/hw/test_network.py``.
"""

import re
from dataclasses import replace

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment

from lwc.compiler import ir, passes
from lwc.compiler.irtext import parse
from lwc.compiler.lower import layer_specs, lower, plan, write_verilog
from lwc.errors import UsageError
from lwc.hw import ActivationSpec, NeuronSpec, TernaryNetwork, network_verilog


def test_takes_only_a_compiled_net(rng, make_network):
    net = make_network(rng, inputs=16, hidden=(12, 8), outputs=3, bits=4, density=0.15)
    with pytest.raises(TypeError, match="lower\\(\\) takes a CompiledNetwork"):
        lower(net)
    passed = passes.run(net)
    assert [layer.size for layer in passed.layers] != [12, 8, 3]  # the passes changed something
    dut = plan(passes.compile_network(net))  # the facts: nothing is built
    assert dut.sum_ranges == tuple(tuple(n.sum_range for n in layer.neurons)
                                   for layer in passed.layers)
    assert dut.input_count == 16 and dut.n_classes == 3


def test_lowers_a_net_with_widths_as_it_is(rng, make_network):
    net = make_network(rng, inputs=16, hidden=(12, 8), outputs=3, bits=4, density=0.15)
    widths_only = passes.run(net, passes=(passes.infer_widths,))
    dut = plan(widths_only)
    assert [len(s) for s in dut.sum_ranges] == [12, 8, 3]
    assert dut.sum_ranges == tuple(tuple(n.sum_range for n in layer.neurons)
                                   for layer in widths_only.layers)


def test_rejects_wrong_sum_range(rng, make_network):
    net = passes.run(make_network(rng))
    layer = net.layers[0]
    bad = replace(layer.neurons[0], sum_range=(-1000, 1000))
    net = replace(net, layers=(replace(layer, neurons=(bad, *layer.neurons[1:])),
                               *net.layers[1:]))
    with pytest.raises(ir.VerifyError, match="sum_range"):
        lower(net)


def test_layer_specs_translate_every_field():
    net = ir.from_dense(ir.InputSpec(3, 2), [
        (np.array([[1, 0, -1], [0, 1, 1]]), ir.Activation("clip", shift=2, bits=3), [1, -2]),
        (np.array([[1, -1]]), ir.Activation("linear"), [4]),
    ], ["only"])
    specs = layer_specs(net)
    assert specs[0].activation == ActivationSpec("clip", 2, 3)
    assert specs[0].neurons == (NeuronSpec((0, 2), (1, -1), (1,), 0),
                                NeuronSpec((1, 2), (1, 1), (-2,), 1))
    assert specs[1].activation == ActivationSpec("linear")
    assert specs[1].neurons == (NeuronSpec((0, 1), (1, -1), (4,), 0),)


def test_signal_names_follow_origins():
    # Neuron 1 of layer 0 is constant and is folded away; neurons 0 and 2 keep their names.
    net = ir.from_dense(ir.InputSpec(4, 3), [
        (np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, -1, 1, 1]]), ir.Activation("step"), [3, 0, 1]),
        (np.array([[1, 1, 1], [-1, 1, 1]]), ir.Activation("linear"), [0, 0]),
    ], ["a", "b"])
    text = rtlil.convert(lower(passes.compile_network(net)), name="lwc_net")
    for name in ("l0_n0_sum", "l0_n2_sum", "l0_n2_act", "tree_l0_n2_1_0", "l1_n1_sum"):
        assert f"\\{name}" in text, name
    assert "l0_n1_" not in text


def test_ir_text_names_are_the_wires_of_net_v():
    """``lwc inspect --ir`` and net.v number alike: inputs by feature (x{f}), a layer's values by
    neuron origin (a{o} reads l{layer}_n{o}_act), so each line of the IR text finds its wires."""
    # Features 0, 2 and 5 are read by no neuron; layer 0's n1 is constant (folded away), so the
    # positions (x0.., a0..) and the names differ. A weight of 3 makes a scaled wire of its term.
    net = ir.from_dense(ir.InputSpec(6, 2), [
        (np.array([[0, 3, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, -1, 0, 1, 1, 0],
                   [0, 0, 0, 1, -1, 0]]), ir.Activation("step"), [1, 0, 1, 0]),
        (np.array([[1, 1, 3, 0], [-1, 1, 0, 1]]), ir.Activation("linear"), [0, 0]),
    ], ["a", "b"])
    # Sums, not truth tables (whose wires tests/hw/test_tables.py names).
    compiled = passes.compile_network(net, tables="off")
    assert compiled.input_map == (1, 3, 4)
    assert [n.origin for n in compiled.layers[0].neurons] == [0, 2, 3]
    text = ir.dump(compiled)
    wires = set(re.findall(r"^\s*(?:wire|reg)\b[^;=]*?(\w+)\s*[;=]",
                           write_verilog(plan(compiled)), re.M))
    layer = None
    for line in text.splitlines():
        if line.startswith("layer "):
            layer = int(line.split()[1])
        elif line.startswith("  n"):
            origin, terms = re.match(r"  n(\d+) .*: (.*)$", line).groups()
            assert f"l{layer}_n{origin}_sum" in wires, line
            for weight, name in re.findall(r"(?:(\d+)\*)?([xa]\d+)", terms):
                wire = name if name[0] == "x" else f"l{layer - 1}_n{name[1:]}_act"
                assert wire in wires, (line, wire)
                if weight:
                    assert f"l{layer}_{name}_x{weight}" in wires, (line, weight)
    assert "+3*x1 +x3" in text and "+a0 +3*a2" in text and "+a3" in text
    assert ir.dump(parse(text)) == text


def test_register_every_is_passed_on(rng, make_network):
    net = make_network(rng, inputs=30, hidden=(20,), outputs=4, bits=4, density=0.5)
    compiled = passes.compile_network(net)
    plain, piped = lower(compiled), lower(compiled, register_every=1)
    assert isinstance(piped, TernaryNetwork)
    Fragment.get(plain, None), Fragment.get(piped, None)  # both are built, so both are used
    assert piped.latency > plain.latency == len(passes.run(net).layers) + 1


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_register_every_errors(value, rng, make_network):
    with pytest.raises(UsageError, match=rf"^register_every must be a positive integer, "
                                         rf"not {value!r}$"):
        lower(passes.compile_network(make_network(rng)), register_every=value)


def _shareable_net(share=True):
    w = np.array([[1, 1, 1, 0], [-1, -1, 0, 1], [1, 1, 0, -1]])
    net = ir.from_dense(ir.InputSpec(4, 2), [(w, ir.Activation("linear"), [0, 1, 2])], "abc")
    return passes.compile_network(net, share=share)


def test_share_option():
    net = _shareable_net(share=False)
    shared, plain = plan(_shareable_net()), plan(net)
    assert shared.shared_ranges == (((0, 6), (-6, 3)),) and plain.shared_ranges == ((),)
    assert shared.sum_ranges == plain.sum_ranges == (((0, 9), (-6, 3), (-3, 6)),)
    text = write_verilog(shared)
    assert "l0_s0" in text and "l0_s1" in text and "l0_s" not in write_verilog(plain)
    # A net compiled with sharing, expanded again, keeps its widths and lowers without nodes.
    compiled = _shareable_net()
    assert compiled.layers[0].shared
    assert plan(ir.unshare(compiled)).shared_ranges == ((),)


@pytest.mark.yosys
def test_write_verilog_writes_the_network_itself(tmp_path):
    dut = lower(_shareable_net())
    Fragment.get(dut, None)  # built as the bitstream's design is
    text = write_verilog(dut, tmp_path / "net.v")
    assert text == (tmp_path / "net.v").read_text() == network_verilog(dut.plan)
    assert text.startswith("module lwc_net(clk, rst, i__payload, i__valid, i__ready, o__payload, "
                           "o__valid, o__ready);")
    via = write_verilog(lower(_shareable_net()), via_amaranth=True)
    assert "Generated by Amaranth" in via and "module lwc_net" in via
    assert write_verilog(dut.plan, name="other").startswith("module other(")
