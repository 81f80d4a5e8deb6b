"""TernaryNetwork (built by ``lower``) against the golden model: every label and every score."""

import ast
import dataclasses
import pathlib
import re

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from lwc.compiler import golden, ir, passes
from lwc.compiler.lower import lower, plan
from lwc.hw import (
    ActivationSpec,
    LayerSpec,
    NeuronSpec,
    TernaryNetwork,
    network_verilog,
    parallel_plan,
)
from lwc.hw.network import build_parallel
from lwc.hw.plan import STALL_FREE_NEURONS

from helpers import (
    adversarial_vectors,
    check_against_golden,
    compiled,
    iverilog_outputs,
    networks,
    rtl_outputs,
)

ALL_KINDS = ("step", "ternary", "clip")


# (inputs, hidden, outputs, bits, density, kinds)
CONFIGS = {
    "mixed": (12, (8,), 3, 4, 0.3, ALL_KINDS),
    "no-hidden": (6, (), 2, 1, 0.5, ALL_KINDS),
    "dense-clip": (16, (10, 6), 4, 8, 0.9, ("clip",)),
    "sparse-step": (20, (12,), 5, 2, 0.05, ("step",)),
    "deep-ternary": (10, (8, 8, 6), 3, 3, 0.4, ("ternary",)),
    "ten-classes": (24, (16,), 10, 6, 0.2, ALL_KINDS),
    "one-class": (8, (6,), 1, 5, 0.5, ALL_KINDS),
    "wide-bits": (9, (7,), 2, 7, 0.6, ("clip", "ternary")),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_random_networks(config, rng, make_network, make_vectors):
    inputs, hidden, outputs, bits, density, kinds = CONFIGS[config]
    for _ in range(3):
        net = make_network(rng, inputs=inputs, hidden=hidden, outputs=outputs, bits=bits,
                           density=density, kinds=kinds)
        check_against_golden(net, make_vectors(net, rng, n_random=32))


@pytest.mark.parametrize("register_every", [1, 2, 3])
@pytest.mark.parametrize("config", ["mixed", "dense-clip", "ten-classes"])
def test_random_networks_pipelined(config, register_every, rng, make_network, make_vectors):
    inputs, hidden, outputs, bits, density, kinds = CONFIGS[config]
    net = make_network(rng, inputs=inputs, hidden=hidden, outputs=outputs, bits=bits,
                       density=density, kinds=kinds)
    check_against_golden(net, make_vectors(net, rng, n_random=32), register_every=register_every)


@settings(max_examples=25, deadline=None)
@given(net=networks(), register_every=st.sampled_from([None, 1, 2]))
def test_property_random_networks(net, register_every):
    x = adversarial_vectors(net, np.random.default_rng(0), n_random=8)
    check_against_golden(net, x, register_every=register_every)


@pytest.mark.parametrize("seed", range(4))
def test_unfolded_networks(seed, make_network, make_vectors):
    """Only widths inferred: constant, dead and zero-input neurons and unused inputs stay in."""
    rng = np.random.default_rng(seed)
    net = make_network(rng, inputs=10, hidden=(8, 6), outputs=3, bits=3, density=0.15)
    net = passes.run(net, passes=(passes.infer_widths,))
    dut, _ = check_against_golden(net, make_vectors(net, rng, n_random=24),
                                  register_every=[None, 1][seed % 2])
    assert [len(s) for s in dut.sum_ranges] == [8, 6, 3]


def _dead_middle_layer():
    """A net whose second hidden layer is constant: after the passes both hidden layers are empty
    and every score is a constant."""
    rng = np.random.default_rng(5)
    w0 = rng.choice([-1, 0, 1], size=(6, 8))
    w1 = rng.choice([-1, 1], size=(4, 6))
    w2 = np.array([[1, 0, 0, 0], [0, 1, -1, 0], [1, 1, 1, 1]])
    return ir.from_dense(ir.InputSpec(8, 4), [
        (w0, ir.Activation("step"), np.zeros(6, dtype=int)),
        (w1, ir.Activation("ternary"), np.array([[-100, 100]] * 4)),  # always 0
        (w2, ir.Activation("linear"), np.array([2, 2, -1])),
    ], ["a", "b", "c"])


def test_empty_hidden_layers(rng, make_vectors):
    net = _dead_middle_layer()
    passed = passes.run(net)
    assert [layer.size for layer in passed.layers] == [0, 0, 3] and passed.input_map == ()
    dut, trace = check_against_golden(net, make_vectors(net, rng, n_random=8))
    assert dut.sum_ranges == ((), (), ((0, 0), (0, 0), (0, 0)))
    assert (trace.predictions == 0).all()  # scores 2, 2, -1: a tie, won by the lowest index


def _tie_net():
    # Scores: c0 = -1 (no inputs), c1 = c2 = c4 = x0, c3 = x1.
    w = np.array([[0, 0], [1, 0], [1, 0], [0, 1], [1, 0]])
    return ir.from_dense(ir.InputSpec(2, 2), [(w, ir.Activation("linear"), [-1, 0, 0, 0, 0])],
                         ["c0", "c1", "c2", "c3", "c4"])


@pytest.mark.parametrize("register_every", [None, 1])
def test_ties_go_to_lowest_index(register_every):
    net = _tie_net()
    x = np.array([[a, b] for a in range(4) for b in range(4)])
    _, trace = check_against_golden(net, x, register_every=register_every)
    tied = (trace.scores == trace.scores.max(axis=1, keepdims=True)).sum(axis=1)
    assert (tied[x[:, 1] <= x[:, 0]] >= 3).all()  # c1, c2, c4 (and c3 when x1 == x0) tie
    assert trace.predictions.tolist() == [3 if b > a else 1 for a in range(4) for b in range(4)]


def test_all_scores_equal():
    w = np.array([[1, -1, 0]] * 4)
    net = ir.from_dense(ir.InputSpec(3, 3), [(w, ir.Activation("linear"), [5] * 4)], "abcd")
    x = np.random.default_rng(1).integers(0, 8, size=(20, 3))
    _, trace = check_against_golden(net, x, register_every=1)
    assert (trace.predictions == 0).all()


@pytest.mark.parametrize("register_every", [None, 1])
def test_back_pressure_and_gaps(register_every, rng, make_network, make_vectors):
    net = make_network(rng, inputs=14, hidden=(10, 6), outputs=4, bits=3, density=0.4)
    vectors = make_vectors(net, rng, n_random=48)
    for seed, (p_in, p_out) in enumerate([(0.3, 0.5), (0.0, 0.7), (0.6, 0.0)]):
        check_against_golden(net, vectors, register_every=register_every, seed=seed,
                             p_in=p_in, p_out=p_out)


async def _full_rate(ctx, dut, x, seen):
    """Feed ``x`` one vector per clock with ``o.ready`` high (asserting ``i.ready`` stays high),
    recording each output's ``(label, scores)`` in ``seen`` by the edge it came out at."""
    ctx.set(dut.o.ready, 1)
    for edge in range(len(x) + dut.latency + 2):
        feeding = edge < len(x)
        ctx.set(dut.i.valid, feeding)
        if feeding:
            ctx.set(dut.i.payload, [int(v) for v in x[edge]])
        *_, ready, valid, payload = await ctx.tick().sample(
            dut.i.ready, dut.o.valid, dut.o.payload)
        assert ready, "input stalled with the output ready"
        if valid:
            seen[edge] = (payload.label, list(payload.scores))


@pytest.mark.parametrize("register_every", [None, 1, 2, 3])
def test_throughput_and_latency(register_every, rng, make_network):
    """With ``o.ready`` high, input ``k`` accepted at edge ``k`` comes out at edge
    ``k + latency``: one inference per clock, and the latency the property states."""
    net = make_network(rng, inputs=20, hidden=(16, 12), outputs=5, bits=4, density=0.4)
    dut = lower(compiled(net), register_every=register_every)
    x = rng.integers(0, 16, size=(40, net.input.count))
    trace = golden.evaluate(net, x)
    seen = {}

    async def testbench(ctx):
        await _full_rate(ctx, dut, x, seen)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert sorted(seen) == [k + dut.latency for k in range(len(x))]
    for k in range(len(x)):
        label, scores = seen[k + dut.latency]
        assert label == trace.predictions[k] and scores == trace.scores[k].tolist()
    # Five classes: three comparator levels; register_every 1 splits them (a cycle more).
    assert dut.latency == sum(dut.layer_latencies) + (
        1 + len(range(register_every, 3, register_every)) + (register_every == 1)
        if register_every else 1)


def _named_net():
    """Layer 0 neuron 1 is constant (folded away), so neuron 3 sits at position 2 but keeps its
    name; it reads three inputs, so its tree has two levels."""
    w0 = np.array([[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0], [0, 1, -1, 0, 0, 0],
                   [1, 0, -1, 1, 0, 0], [0, 0, 0, 0, 1, -1]])
    w1 = np.array([[1, 1, 1, 1, 1], [-1, 1, 0, 1, -1]])
    return ir.from_dense(ir.InputSpec(6, 4), [
        (w0, ir.Activation("ternary"), np.array([[-3, 3], [-1, 1], [-2, 2], [-4, 4], [0, 5]])),
        (w1, ir.Activation("linear"), [0, 1]),
    ], ["yes", "no"])


@pytest.mark.yosys
def test_verilog_ports_and_names():
    net = _named_net()
    dut = lower(compiled(net))
    text = verilog.convert(dut, name="lwc_net")
    top = text[text.index("module lwc_net"):]
    top = top[:top.index("endmodule")]
    ports = {name: int(msb or 0) + 1 for msb, name in
             re.findall(r"^\s*(?:input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", top, re.M)}
    assert set(ports) == {"clk", "rst", "i__payload", "i__valid", "i__ready", "o__payload",
                          "o__valid", "o__ready"}
    assert ports["i__payload"] == 6 * 4
    assert ports["o__payload"] == dut.label_width + 2 * dut.score_width
    for name in ("l0_n3_sum", "l0_n3_act", "tree_l0_n3_1_0", "tree_l0_n3_2_0", "l1_n1_sum"):
        assert re.search(rf"\b{name}\b", text), name
    assert "l0_n1_" not in text  # the constant neuron is gone
    check_against_golden(net, np.random.default_rng(0).integers(0, 16, size=(30, 6)))


def test_properties(make_network, rng):
    for outputs, label_width in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (10, 4)]:
        net = make_network(rng, inputs=5, hidden=(4,), outputs=outputs, bits=3)
        dut = plan(compiled(net))
        assert (dut.n_classes, dut.label_width) == (outputs, label_width)
        assert (dut.input_count, dut.input_bits) == (5, 3)
        passed = passes.run(net)
        score_ranges = [out for _, out in ir.layer_ranges(passed)[-1]]
        assert dut.score_ranges == tuple(score_ranges)
        lo = min(lo for lo, _ in score_ranges)
        hi = max(hi for _, hi in score_ranges)
        w = dut.score_width
        assert -(1 << (w - 1)) <= lo and hi < (1 << (w - 1))
        assert w == 1 or lo < -(1 << (w - 2)) or hi >= (1 << (w - 2))  # and no wider


def test_hw_constructor_errors():
    """What a TernaryNetwork is built from is checked when it is planned (the constructor's
    keyword arguments are :func:`~lwc.hw.parallel_plan`'s)."""
    spec = LayerSpec(ActivationSpec("linear"), (NeuronSpec((0,), (1,), (0,), 0),))
    hidden = LayerSpec(ActivationSpec("step"), (NeuronSpec((0,), (1,), (1,), 0),))
    with pytest.raises(ValueError, match=r"^input_map must be strictly increasing feature "):
        parallel_plan(input_count=2, input_bits=2, input_map=(1, 0), layers=[spec])
    with pytest.raises(ValueError, match=r"^The output layer must be linear with at least one "
                                         r"neuron, not 'step' with 1$"):
        parallel_plan(input_count=2, input_bits=2, input_map=(0,), layers=[hidden])
    with pytest.raises(ValueError, match=r"^Neuron 0: inputs must be strictly increasing "):
        parallel_plan(input_count=2, input_bits=2, input_map=(0,), layers=[
            LayerSpec(ActivationSpec("linear"), (NeuronSpec((1,), (1,), (0,), 0),))])
    with pytest.raises(ValueError, match=r"^Activation kind must be one of step, ternary, clip, "
                                         r"linear, not 'relu'$"):
        ActivationSpec("relu")


def test_hw_imports_only_amaranth():
    """Amaranth, dataclasses, and the integer semantics (the standard-library leaf module
    ``lwc.semantics``, which every package shares)."""
    hw = pathlib.Path(__file__).parents[2] / "hw"
    for name in ("adder_tree.py", "layer.py", "network.py", "netlist.py", "plan.py",
                 "__init__.py"):
        tree = ast.parse((hw / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    roots = []
                elif node.module == "lwc":
                    roots = [f"lwc.{alias.name}" for alias in node.names]
                else:
                    roots = [node.module if node.module.startswith("lwc.")
                             else node.module.split(".")[0]]
            else:
                continue
            allowed = {"amaranth", "collections", "dataclasses", "lwc.semantics"}
            assert set(roots) <= allowed, (name, roots)


# --- shared sums, compressor trees, the Verilog writer ------------------------------------------

@pytest.mark.parametrize("register_every", [None, 1, 2])
def test_shared_networks(register_every, rng, make_network, make_vectors):
    """Dense layers, so the share pass builds many shared nodes (and nodes of nodes), some read
    across pipeline stages."""
    nested = 0
    for _ in range(3):
        net = make_network(rng, inputs=14, hidden=(16, 8), outputs=4, bits=3, density=0.8,
                           kinds=("ternary", "clip"))
        compiled = passes.run(net)
        assert any(layer.shared for layer in compiled.layers)
        nested += sum(i >= compiled.layer_input_count(li) for li, layer in
                      enumerate(compiled.layers) for node in layer.shared for i in node.inputs)
        dut, _ = check_against_golden(compiled, make_vectors(net, rng, n_random=24),
                                      register_every=register_every)
        assert dut.shared_ranges == tuple(tuple(node.sum_range for node in layer.shared)
                                          for layer in compiled.layers)
    assert nested


@pytest.mark.parametrize("share", [False, True])
def test_compressor_trees(share, rng, make_network, make_vectors):
    """One-bit inputs and step layers: every neuron of those layers is a compressor tree."""
    for bits, kinds in [(1, ("step",)), (1, ("ternary",)), (2, ("step",))]:
        net = make_network(rng, inputs=20, hidden=(12,), outputs=3, bits=bits, density=0.6,
                           kinds=kinds)
        dut = lower(passes.compile_network(net, share=share), compress=True)
        trace = golden.evaluate(net, x := make_vectors(net, rng, n_random=24))
        labels, scores = rtl_outputs(dut, x)
        np.testing.assert_array_equal(scores, trace.scores)
        np.testing.assert_array_equal(labels, trace.predictions)


@pytest.mark.parametrize("register_every", [1, 2, 3])
@pytest.mark.parametrize("share", [False, True])
def test_compressor_trees_pipelined(register_every, share, rng, make_network, make_vectors):
    """Pipeline registers inside the compressor trees of one-bit layers: every such neuron
    reading no shared sum made after a register is a compressor tree, with the layer's latency,
    and the network equals the golden model with gaps and back-pressure."""
    pipelined = 0  # one-bit layers with registers inside their trees
    for bits, kinds in [(1, ("step",)), (1, ("ternary",)), (2, ("step",))]:
        net = make_network(rng, inputs=30, hidden=(24,), outputs=4, bits=bits, density=0.7,
                           kinds=kinds)
        net = passes.compile_network(net, share=share)
        design = plan(net, register_every=register_every)
        names = {n.name for n in build_parallel(design).signals}
        for index, layer in enumerate(design.layers):
            registers = design.layer_plans[index].registers
            one_bit = index == 0 and bits == 1 or index > 0 and kinds == ("step",)
            built = {n.origin for n in layer.neurons if f"csa_l{index}_n{n.origin}" in names}
            if one_bit:
                assert built, f"layer {index}: no compressor tree"
                if not share:
                    assert built == {n.origin for n in layer.neurons if len(n.inputs) > 2}
                inside = any(name.startswith(f"csa_l{index}_") and re.search(r"_[pr]\d+", name)
                             for name in names)
                assert inside == bool(registers), "registers missing from a compressor tree"
                pipelined += inside
            else:
                assert not built
        x = make_vectors(net, rng, n_random=24)
        for seed, (p_in, p_out) in enumerate([(0.0, 0.0), (0.3, 0.5)]):
            check_against_golden(net, x, register_every=register_every, seed=seed, p_in=p_in,
                                 p_out=p_out)
    assert pipelined


def _stall_free(net, register_every, stall_free=True):
    """The parallel plan of ``net`` (compiled) with ``stall_free`` forced."""
    design = plan(compiled(net), register_every=register_every)
    return dataclasses.replace(design, stall_free=stall_free)


@pytest.mark.parametrize("register_every", [None, 1, 2])
def test_stall_free_back_pressure_and_gaps(register_every, rng, make_network, make_vectors):
    """The stall-free datapath (no clock enable; an output buffer of latency + 1 results) equals
    the golden model under input gaps and output back-pressure, long stalls included."""
    net = make_network(rng, inputs=14, hidden=(10, 6), outputs=4, bits=3, density=0.4)
    x = make_vectors(net, rng, n_random=48)
    trace = golden.evaluate(net, x)
    dut = TernaryNetwork(_stall_free(net, register_every))
    names = {n.name for n in build_parallel(dut.plan).signals}
    assert "advance" not in names and f"entry{dut.plan.buffer_depth - 1}" in names
    assert dut.plan.buffer_depth == dut.latency + 1
    for seed, (p_in, p_out) in enumerate([(0.0, 0.0), (0.3, 0.5), (0.0, 0.9), (0.6, 0.0)]):
        labels, scores = rtl_outputs(dut, x, seed=seed, p_in=p_in, p_out=p_out)
        np.testing.assert_array_equal(scores, trace.scores)
        np.testing.assert_array_equal(labels, trace.predictions)


@pytest.mark.parametrize("register_every", [None, 1, 3])
def test_stall_free_throughput_latency_and_ready(register_every, rng, make_network):
    """With ``o.ready`` high: one input per clock and the plan's latency, as with the stall
    enable. With ``o.ready`` low: ``i.ready`` falls after exactly ``buffer_depth`` inputs, and
    every one of them comes out, in order, once it rises."""
    net = make_network(rng, inputs=20, hidden=(16, 12), outputs=5, bits=4, density=0.4)
    dut = TernaryNetwork(_stall_free(net, register_every))
    x = rng.integers(0, 16, size=(40, net.input.count))
    trace = golden.evaluate(net, x)
    seen, taken = {}, []

    async def testbench(ctx):
        await _full_rate(ctx, dut, x, seen)
        # Blocked output: the buffer fills, then i.ready falls.
        ctx.set(dut.o.ready, 0)
        ctx.set(dut.i.valid, 1)
        accepted = 0
        for _ in range(3 * dut.plan.buffer_depth):
            ctx.set(dut.i.payload, [int(v) for v in x[accepted % len(x)]])
            *_, ready = await ctx.tick().sample(dut.i.ready)
            accepted += ready
        ctx.set(dut.i.valid, 0)
        assert accepted == dut.plan.buffer_depth
        ctx.set(dut.o.ready, 1)
        for _ in range(2 * dut.plan.buffer_depth):
            *_, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                taken.append((payload.label, list(payload.scores)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert sorted(seen) == [k + dut.latency for k in range(len(x))]
    for k in range(len(x)):
        assert seen[k + dut.latency] == (trace.predictions[k], trace.scores[k].tolist())
    assert taken == [(trace.predictions[k], trace.scores[k].tolist())
                     for k in range(dut.plan.buffer_depth)]


def test_stall_free_rule():
    """Pipelined networks of at least STALL_FREE_NEURONS neurons are stall-free; smaller ones,
    and any network with one register per layer, keep the stall enable."""
    def layers(hidden):
        step = LayerSpec(ActivationSpec("step"), tuple(
            NeuronSpec((k % 8, 8 + k % 5), (1, -1), (1,), k) for k in range(hidden)))
        out = LayerSpec(ActivationSpec("linear"), (
            NeuronSpec(tuple(range(hidden)), (1,) * hidden, (0,), 0),
            NeuronSpec((0,), (1,), (0,), 1)))
        return (step, out)

    def build(hidden, register_every):
        return parallel_plan(input_count=16, input_bits=2, input_map=tuple(range(16)),
                             layers=layers(hidden), register_every=register_every)

    assert build(STALL_FREE_NEURONS - 2, 2).stall_free
    assert not build(STALL_FREE_NEURONS - 3, 2).stall_free
    assert not build(STALL_FREE_NEURONS, None).stall_free
    assert build(STALL_FREE_NEURONS, None).buffer_depth == 0
    assert build(STALL_FREE_NEURONS, 1).buffer_depth == build(STALL_FREE_NEURONS, 1).latency + 1


@pytest.mark.icarus
@pytest.mark.parametrize("register_every", [None, 2])
def test_stall_free_verilog_matches_golden(register_every, rng, make_network, make_vectors,
                                           tmp_path):
    """The stall-free datapath in the Verilog lwc writes (its buffer's feedback wires are read
    before they are driven), in Icarus."""
    net = make_network(rng, inputs=12, hidden=(8,), outputs=3, bits=1, density=0.5,
                       kinds=("step",))
    dut = _stall_free(net, register_every)
    x = make_vectors(net, rng, n_random=32)
    labels, scores = iverilog_outputs(network_verilog(dut), dut, x, tmp_path)
    trace = golden.evaluate(net, x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)


@pytest.mark.yosys
def test_keep_attribute_on_adders():
    net = passes.run(_named_net())
    # The direct Verilog writer never writes keep: YoWASP Yosys 0.70 synth_ice40 drops drivers
    # of kept wires (tests/sim/test_gatelevel.py proves the netlist). The RTLIL path keeps it.
    text = network_verilog(plan(net))
    assert re.search(r"wire signed \[4:0\] tree_l0_n3_1_0;", text)
    assert "(* keep *)" not in text
    rtl = verilog.convert(lower(net), name="lwc_net", emit_src=False)
    assert re.search(r"\(\* keep = .*\*\)\s*wire \[4:0\] tree_l0_n3_1_0;", rtl)


@pytest.mark.icarus
@pytest.mark.parametrize("config", ["mixed", "dense-clip", "deep-ternary", "wide-bits",
                                    "sparse-step"])
@pytest.mark.parametrize("register_every, compress", [(None, False), (1, False), (None, True),
                                                      (2, True)])
def test_verilog_writer_matches_golden(config, register_every, compress, rng, make_network,
                                       make_vectors, tmp_path):
    """The Verilog the network writes itself (what ``lwc compile`` exports) in Icarus."""
    inputs, hidden, outputs, bits, density, kinds = CONFIGS[config]
    net = make_network(rng, inputs=inputs, hidden=hidden, outputs=outputs, bits=bits,
                       density=density, kinds=kinds)
    dut = plan(compiled(net), register_every=register_every, compress=compress)
    x = make_vectors(net, rng, n_random=32)
    labels, scores = iverilog_outputs(network_verilog(dut), dut, x, tmp_path)
    trace = golden.evaluate(net, x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)


@pytest.mark.yosys
def test_verilog_writer_names_match_amaranth():
    """The written Verilog has every signal name of Amaranth's export (adders, shared nodes,
    pipeline copies, registers), and only the activation wires ``*_a`` besides."""
    net = passes.run(_sharing_net())
    pattern = r"\b(?:l\d+_\w+|tree_\w+|argmax_\w+|valid_\d+)\b"
    ours = set(re.findall(pattern, network_verilog(plan(net, register_every=1))))
    theirs = set(re.findall(pattern, verilog.convert(lower(net, register_every=1),
                                                     name="lwc_net", emit_src=False)))
    assert theirs <= ours and all(name.endswith("_a") for name in ours - theirs)
    assert {"l0_s0", "l0_s1_r2", "l1_s0", "tree_l0_n3_1_0_r2", "valid_6"} <= theirs


def _sharing_net():
    w0 = np.array([[1, 1, 1, 0, 1], [-1, -1, 0, 1, 1], [1, 1, 0, -1, 0], [1, 1, 1, 1, 1]])
    return ir.from_dense(ir.InputSpec(5, 2), [
        (w0, ir.Activation("ternary"), np.array([[-1, 1], [0, 2], [-2, 1], [1, 3]])),
        (np.array([[1, -1, 1, 1], [1, 1, -1, 0]]), ir.Activation("linear"), [0, 1]),
    ], ["p", "q"])


@pytest.mark.parametrize("n", [2, 3, 5, 10, 17])
@pytest.mark.parametrize("register_every", [None, 1, 2])
def test_argmax_component(n, register_every):
    """Argmax against ``numpy.argmax`` (many ties, ``en`` low at random): every label and the
    delayed scores, ``latency`` enabled cycles later. ``register_every=1`` splits every level
    (the comparisons registered apart from their multiplexers): one cycle more than registers
    after every level but the last."""
    from lwc.hw import Argmax
    from lwc.hw.plan import argmax_split, tree_depth

    rng = np.random.default_rng(n)
    ranges = [(-3 - k % 3, 4 + k % 2) for k in range(n)]
    dut = Argmax(ranges, register_every=register_every)
    levels = tree_depth(n)
    split = argmax_split(n, register_every)
    assert split == (register_every == 1 and n > 2)
    registered = 0 if register_every is None else len(range(register_every, levels,
                                                            register_every))
    assert dut.latency == registered + split + 1
    x = np.array([[rng.integers(lo, hi + 1) for lo, hi in ranges] for _ in range(60)])
    x[::3] = np.clip(2, [lo for lo, _ in ranges], None)  # all tied
    enables = rng.random(400) < 0.6
    seen = []

    async def testbench(ctx):
        fed = 0
        history = []  # the scores offered at each enabled edge
        for en in enables:
            scores = x[min(fed, len(x) - 1)]
            ctx.set(dut.en, int(en))
            for k, s in enumerate(scores):
                ctx.set(getattr(dut, f"s{k}"), int(s))
            await ctx.tick()
            if en:
                history.append(fed)
                fed += 1
                if len(history) >= dut.latency:
                    label = ctx.get(dut.label)
                    ys = [ctx.get(getattr(dut, f"y{k}")) for k in range(n)]
                    seen.append((history[-dut.latency], label, ys))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert len(seen) > 20
    for k, label, ys in seen:
        if k < len(x):
            assert label == int(np.argmax(x[k])) and ys == x[k].tolist()
    text = verilog.convert(dut)
    assert ("argmax_1_0_right_r" in text) == split
