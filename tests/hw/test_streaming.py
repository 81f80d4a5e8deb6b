"""StreamingNetwork (built by ``lower(compiled, Streaming(...))``) against the golden model."""

import dataclasses
import functools

import numpy as np
import pytest
from amaranth.sim import Simulator

from lwc.compiler import golden, ir, passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.lower import lower, plan, write_verilog
from lwc.errors import UsageError
from lwc.hw import ActivationSpec, LayerSpec, NeuronSpec, StreamingNetwork, streaming_plan
from lwc.hw.streaming import encode_neuron

import helpers
from helpers import rtl_outputs, transfers

ALL_KINDS = ("step", "ternary", "clip")


def lower_streaming(net, features_per_cycle=1, lanes=1, register_every=None):
    """``net`` (compiled here unless it is already) lowered as a streaming network."""
    if not isinstance(net, ir.CompiledNetwork):
        net = passes.compile_network(net)
    return lower(net, Streaming(features_per_cycle, lanes), register_every=register_every)


def plan_streaming(net, features_per_cycle=1, lanes=1, register_every=None):
    """The streaming plan of ``net`` (compiled here unless it is already): nothing is built."""
    if not isinstance(net, ir.CompiledNetwork):
        net = passes.compile_network(net)
    return plan(net, Streaming(features_per_cycle, lanes), register_every=register_every)


# This module's networks are streaming ones.
check_against_golden = functools.partial(helpers.check_against_golden, architecture="streaming")


def nontrivial(make_network, seed, **kwargs):
    """The first net from ``seed`` on whose compiled first layer keeps two or more neurons that
    are not constant (random thresholds often fold whole layers away)."""
    for s in range(seed, seed + 200):
        net = make_network(np.random.default_rng(s), **kwargs)
        design = plan_streaming(net)  # a plan: nothing is built
        if sum(len(lane.neurons) for lane in design.lane_plans) >= 2:
            return net
    raise AssertionError(f"no nontrivial network for {kwargs}")


# (inputs, hidden, outputs, bits, density, kinds)
CONFIGS = {
    "one-layer": (13, (), 3, 2, 0.5, ALL_KINDS),
    "step-1bit": (20, (9,), 4, 1, 0.3, ("step",)),
    "ternary-2bit": (17, (8,), 3, 2, 0.4, ("ternary",)),
    "clip-4bit": (19, (10, 6), 4, 4, 0.5, ("clip",)),
    "deep-8bit": (11, (8, 7, 5), 3, 8, 0.5, ALL_KINDS),
    "ten-classes": (25, (16,), 10, 3, 0.3, ALL_KINDS),
}


@pytest.mark.parametrize("lanes", [1, 3])
@pytest.mark.parametrize("features", [1, 3, 8, 32])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_random_networks(config, features, lanes, make_network, make_vectors):
    inputs, hidden, outputs, bits, density, kinds = CONFIGS[config]
    net = nontrivial(make_network, 7 * features + lanes, inputs=inputs, hidden=hidden,
                     outputs=outputs, bits=bits, density=density, kinds=kinds)
    assert net.input.count % features or features == 1  # a padded last transfer
    x = make_vectors(net, np.random.default_rng(features), n_random=12)
    check_against_golden(net, x, features_per_cycle=features, lanes=lanes)


@pytest.mark.parametrize("seed", range(3))
def test_back_pressure_and_gaps(seed, make_network, make_vectors):
    net = nontrivial(make_network, seed, inputs=14, hidden=(10, 6), outputs=4, bits=3,
                     density=0.4)
    x = make_vectors(net, np.random.default_rng(seed), n_random=16)
    for k, (p_in, p_out) in enumerate([(0.3, 0.5), (0.0, 0.9), (0.6, 0.0)]):
        check_against_golden(net, x, features_per_cycle=1 + seed * 2, lanes=1 + seed,
                             register_every=[None, 1, 2][seed], seed=k, p_in=p_in, p_out=p_out)


def streaming(net, **options):
    """The StreamingNetwork of ``net`` built directly, for options ``lower`` does not take."""
    from dataclasses import replace

    from lwc.compiler.lower import layer_specs

    compiled = passes.run(net)
    first = ir.expand_layer(compiled.layers[0], len(compiled.input_map))
    compiled = replace(compiled, layers=(first, *compiled.layers[1:]))
    return StreamingNetwork(input_count=net.input.count, input_bits=net.input.bits,
                            input_map=compiled.input_map, layers=layer_specs(compiled), **options)


def check_direct(net, vectors, **options):
    dut = streaming(net, **options)
    trace = golden.evaluate(net, vectors)
    labels, scores = rtl_outputs(dut, vectors, p_in=0.2, p_out=0.2)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)
    return dut


def test_encode_neuron():
    # delta_bits 3: deltas 0..6 read, 7 is a skip (sign 0) or the end (sign 1).
    assert encode_neuron([2, 3, 20], [1, -1, 1], base=0, delta_bits=3) == [
        2, 0b1000 | 1, 7, 7, 3, 0b1111]
    assert encode_neuron([5], [-3], base=5, delta_bits=3) == [0b1000, 0b1000, 0b1000, 0b1111]
    assert encode_neuron([7], [1], base=0, delta_bits=3) == [7, 0, 0b1111]
    assert encode_neuron([], [], base=0, delta_bits=5) == [0b111111]


@pytest.mark.parametrize("entry_bits", [2, 3, 4])
@pytest.mark.parametrize("features", [1, 5])
def test_skip_entries(entry_bits, features, make_network, make_vectors):
    """Narrow entries: most gaps need skips; the hardware must step over them exactly."""
    net = nontrivial(make_network, entry_bits, inputs=40, hidden=(7,), outputs=3, bits=2,
                     density=0.15, kinds=ALL_KINDS)
    x = make_vectors(net, np.random.default_rng(entry_bits), n_random=10)
    dut = check_direct(net, x, entry_bits=entry_bits, features_per_cycle=features, lanes=2)
    special = (1 << (entry_bits - 1)) - 1
    skips = sum(e == special for plan in dut.lane_plans for e in plan.entries)
    assert skips > 0


def test_sparse_inputs_far_apart(make_vectors):
    """Few of many inputs are read (``input_map``), far apart: skips with the default entries."""
    rng = np.random.default_rng(3)
    w0 = np.zeros((6, 300), dtype=np.int64)
    for row in w0:
        row[rng.choice(np.arange(40, 300, 7), size=5, replace=False)] = rng.choice([-1, 1], 5)
    w1 = rng.choice([-1, 0, 1], size=(4, 6))
    net = ir.from_dense(ir.InputSpec(300, 3), [
        (w0, ir.Activation("clip", shift=1, bits=2), rng.integers(-3, 3, 6)),
        (w1, ir.Activation("linear"), rng.integers(-2, 3, 4)),
    ], "abcd")
    x = make_vectors(net, rng, n_random=10)
    x = np.vstack([x[:4], x[-10:]])  # all-zero, all-max, alternating; random (not one-hot)
    for features, lanes in [(1, 1), (7, 2), (64, 4)]:
        dut = check_direct(net, x, features_per_cycle=features, lanes=lanes)
        assert len(dut.input_map) < 300 and dut.lanes == lanes
    assert any(e == 31 for plan in dut.lane_plans for e in plan.entries)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_integer_weights(kind, make_vectors):
    """Weights of magnitude above 1 are repeated entries; the sums grow accordingly."""
    rng = np.random.default_rng(11)
    w0 = rng.choice([-3, -2, -1, 0, 0, 0, 1, 2, 5], size=(6, 10))
    w1 = rng.choice([-2, -1, 0, 1, 3], size=(3, 6))
    act = ir.Activation(kind, shift=2, bits=3) if kind == "clip" else ir.Activation(kind)
    params = np.stack([rng.integers(-8, 0, 6), rng.integers(1, 8, 6)], 1) \
        if kind == "ternary" else rng.integers(-5, 6, 6)
    net = ir.from_dense(ir.InputSpec(10, 4), [(w0, act, params),
                                              (w1, ir.Activation("linear"), [0, 1, -1])], "abc")
    x = make_vectors(net, rng, n_random=20)
    dut = check_direct(net, x, features_per_cycle=4, lanes=2)
    assert sum(dut.entry_counts) == int(np.abs(w0).sum()) + 6 + sum(
        e == 31 for plan in dut.lane_plans for e in plan.entries)


def test_unfolded_and_constant_neurons(make_network, make_vectors):
    """Only widths inferred: constant and zero-input neurons stay in and get no entries."""
    rng = np.random.default_rng(2)
    net = make_network(rng, inputs=10, hidden=(8, 6), outputs=3, bits=3, density=0.15)
    net = passes.run(net, passes=(passes.infer_widths,))
    dut = lower_streaming(net, lanes=3)
    ranges = ir.layer_ranges(net)[0]
    constant = sum(lo == hi for _, (lo, hi) in ranges)
    assert constant and sum(len(p.neurons) for p in dut.lane_plans) == 8 - constant
    assert all(ranges[j][1][0] != ranges[j][1][1] for p in dut.lane_plans for j in p.neurons)
    trace = golden.evaluate(net, make_vectors(net, rng, n_random=16))
    labels, scores = rtl_outputs(dut, trace.inputs, p_in=0.3, p_out=0.3)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)


def test_constant_network(make_network, make_vectors):
    # Every hidden neuron folds to a constant: no lanes, the inputs are taken and ignored.
    for seed in range(100):
        net = make_network(np.random.default_rng(seed), inputs=6, hidden=(4, 4), outputs=3,
                           bits=2, density=0.3, kinds=("step",))
        if not passes.run(net).input_map:
            break
    dut, _ = check_against_golden(net, make_vectors(net, np.random.default_rng(0)),
                                  features_per_cycle=4, p_in=0.3, p_out=0.3)
    assert dut.lanes == 0 and dut.run_cycles == 0 and dut.memory_bits == 0
    assert dut.cycles_per_inference == 2


def back_to_back(dut, x):
    """Stream ``x``'s transfers back to back with ``o.ready`` high: ``(accepted, outputs,
    busy)``, the edges each transfer was taken at, ``(edge, label, scores)`` of each output, and
    the cycles ``i.ready`` was low."""
    payloads = transfers(dut, x, 0)
    accepted, outputs, busy = [], [], 0

    async def testbench(ctx):
        nonlocal busy
        ctx.set(dut.o.ready, 1)
        sent = 0
        for edge in range(len(x) * dut.cycles_per_inference + dut.latency + 4):
            ctx.set(dut.i.valid, sent < len(payloads))
            if sent < len(payloads):
                ctx.set(dut.i.payload, payloads[sent])
            *_, ready, valid, payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload)
            busy += not ready
            if ready and sent < len(payloads):
                accepted.append(edge)
                sent += 1
            if valid:
                outputs.append((edge, payload.label, list(payload.scores)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return accepted, outputs, busy


@pytest.mark.parametrize("features, lanes, register_every", [
    (1, 1, None), (3, 2, 1), (8, 3, None), (20, 4, 2)])
def test_cycles_and_latency(features, lanes, register_every, make_network):
    """Transfers back to back with ``o.ready`` high: an output every ``cycles_per_inference``
    cycles, ``latency`` cycles after the vector's last transfer; ``i.ready`` low while the lanes
    run."""
    net = nontrivial(make_network, 0, inputs=20, hidden=(12, 6), outputs=5, bits=4,
                     density=0.4)
    dut = lower_streaming(net, features, lanes, register_every)
    x = np.random.default_rng(1).integers(0, 16, size=(6, 20))
    trace = golden.evaluate(net, x)
    t = dut.transfers_per_vector
    accepted, outputs, busy = back_to_back(dut, x)
    assert len(outputs) == len(x)
    lasts = accepted[t - 1::t]
    assert [e for e, _, _ in outputs] == [edge + dut.latency for edge in lasts]
    assert np.diff(lasts).tolist() == [dut.cycles_per_inference] * (len(x) - 1)
    assert busy >= len(x) * dut.run_cycles
    for (_, label, scores), want, want_scores in zip(outputs, trace.predictions, trace.scores):
        assert label == want and scores == want_scores.tolist()
    assert dut.run_cycles == max(dut.entry_counts) + 2
    assert dut.cycles_per_inference == t + dut.run_cycles
    # Five classes: three comparator levels; register_every 1 splits them (a register more).
    argmax = {None: 1, 1: 4, 2: 2}[register_every]
    assert dut.latency == dut.run_cycles + 1 + sum(dut.layer_latencies[1:]) + argmax


def test_lanes_balance_and_memories(make_network):
    net = nontrivial(make_network, 0, inputs=30, hidden=(20,), outputs=4, bits=2, density=0.5)
    one = plan_streaming(net, 3)
    four = plan_streaming(net, 3, lanes=4)
    assert sum(four.entry_counts) == sum(one.entry_counts)
    assert max(four.entry_counts) <= sum(one.entry_counts) // 4 + max(
        len(e) for e in [one.lane_plans[0].entries])  # LPT: within one neuron of even
    assert sorted(j for p in four.lane_plans for j in p.neurons) == list(one.lane_plans[0].neurons)
    assert four.transfers_per_vector == 10 and four.features_per_cycle == 3
    names = [name for name, _, _ in four.memories]
    assert names[:3] == ["lane0_entries", "lane0_params", "lane0_image"] and len(names) == 12
    entry_bits = sum(w * d for name, w, d in four.memories if name.endswith("_entries"))
    assert entry_bits == 6 * sum(four.entry_counts)
    assert four.rom_bits + 4 * 10 * 3 * 2 == four.memory_bits
    assert four.n_classes == 4 and four.input_count == 30 and four.input_bits == 2


@pytest.mark.yosys
def test_verilog(make_network):
    net = nontrivial(make_network, 0, inputs=12, hidden=(6,), outputs=3, bits=2, density=0.5)
    dut = lower_streaming(net, 5, lanes=2)
    text = write_verilog(dut)
    top = text[text.index("module lwc_net"):]
    for port in ("i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready"):
        assert port in top
    assert "input [9:0] i__payload;" in top
    for name in ("lane0_acc", "lane1_entry", "stream_pc", "hidden_valid"):
        assert name in text, name
    origin = passes.run(net).layers[0].neurons[dut.lane_plans[0].neurons[0]].origin
    assert f"l0_n{origin}_act" in text
    # All-zero parameters: a one-bit parameter ROM, not a zero-width one (Yosys cannot export
    # zero-width memories).
    w = np.array([[1, -1, 0, 1], [0, 1, 1, 0]])
    zeros = ir.from_dense(ir.InputSpec(4, 2), [(w, ir.Activation("linear"), [0, 0])], "ab")
    dut = lower_streaming(zeros, lanes=2)
    assert [w for name, w, _ in dut.memories if name.endswith("params")] == [1, 1]
    assert "module lwc_net" in write_verilog(dut)


def test_constructor_errors():
    """What a StreamingNetwork is built from is checked when it is planned (the constructor's
    keyword arguments are :func:`~lwc.hw.streaming_plan`'s)."""
    spec = LayerSpec(ActivationSpec("linear"), (NeuronSpec((0,), (1,), (0,), 0),))
    good = dict(input_count=3, input_bits=2, input_map=(0,), layers=(spec,))
    for key, value, message in [
        ("features_per_cycle", 0, "features_per_cycle must be a positive integer, not 0"),
        ("lanes", True, "lanes must be a positive integer, not True"),
        ("entry_bits", 1, "entry_bits must be an integer of at least 2, not 1"),
        ("input_map", (2, 1), "input_map must be strictly increasing feature indices below 3, "
                              "not (2, 1)"),
        ("layers", (), "A network needs at least one layer"),
    ]:
        with pytest.raises(ValueError) as err:
            streaming_plan(**{**good, key: value})
        assert str(err.value) == message
    from lwc.hw.layer import SharedSpec
    shared = LayerSpec(ActivationSpec("linear"), (NeuronSpec((3,), (1,), (0,), 0),),
                       (SharedSpec((0, 1), (1, -1)),))
    with pytest.raises(ValueError, match="^The sequential first layer cannot have shared nodes"):
        streaming_plan(**{**good, "input_map": (0, 1, 2), "layers": (shared,)})


def test_lower_errors(make_network):
    net = passes.compile_network(make_network(np.random.default_rng(0)))
    with pytest.raises(TypeError) as err:
        lower(net, "folded")
    assert str(err.value) == "architecture must be Parallel or Streaming, not 'folded'"
    for options, message in [
        (dict(lanes=0), "lanes must be a positive integer, not 0"),
        (dict(features_per_cycle=2.0), "features_per_cycle must be a positive integer, not 2.0"),
    ]:
        with pytest.raises(UsageError) as err:
            Streaming(**options)
        assert str(err.value) == message


@pytest.mark.parametrize("argmax_every, register_every", [(1, None), (2, None), (1, 2)])
def test_argmax_pipelined_apart_from_the_trees(argmax_every, register_every, make_network,
                                               make_vectors):
    """``argmax_every`` registers the argmax after every that many comparator levels, whatever
    ``register_every`` does to the trees (none: the one-bit layers keep their compressor
    trees); the outputs stay the golden model's, ``latency`` counts the new registers."""
    from lwc.compiler.lower import layer_specs
    from lwc.hw import TernaryNetwork

    net = nontrivial(make_network, 3, inputs=16, hidden=(12,), outputs=9, bits=2, density=0.5)
    x = make_vectors(net, np.random.default_rng(3), n_random=12)
    dut = check_direct(net, x, features_per_cycle=4, lanes=2, register_every=register_every,
                       argmax_every=argmax_every)
    levels = 4  # nine classes
    assert dut.plan.argmax_registers == tuple(range(argmax_every, levels, argmax_every))
    plain = streaming_plan(**{**_plan_options(dut.plan), "argmax_every": None})
    assert dut.latency == plain.latency - plain.argmax_latency + dut.plan.argmax_latency
    assert dut.plan.layer_plans == plain.layer_plans  # the trees are as without it

    compiled = passes.run(net)
    parallel = TernaryNetwork(input_count=net.input.count, input_bits=net.input.bits,
                              input_map=compiled.input_map, layers=layer_specs(compiled),
                              register_every=register_every, argmax_every=argmax_every)
    trace = golden.evaluate(net, x)
    labels, scores = rtl_outputs(parallel, x, p_in=0.2, p_out=0.2)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)
    assert parallel.plan.argmax_registers == dut.plan.argmax_registers
    with pytest.raises(TypeError, match=r"^register_every must be None or a positive integer, "
                                        r"not 0$"):
        streaming_plan(**{**_plan_options(dut.plan), "argmax_every": 0})


def _plan_options(plan):
    return dict(input_count=plan.input_count, input_bits=plan.input_bits,
                input_map=plan.input_map, layers=plan.layers, register_every=plan.register_every,
                features_per_cycle=plan.features_per_cycle, lanes=plan.lanes)


@pytest.mark.parametrize("lane_registers", [
    ("entry",), ("index",), ("pixel",), ("entry", "index", "pixel")])
@pytest.mark.parametrize("features, entry_bits", [(1, 6), (5, 3)])
def test_lane_registers(lane_registers, features, entry_bits, make_network, make_vectors):
    """Each lane pipeline register keeps every output bit-exact with the golden model (with
    skips and back pressure), and adds one cycle to the sequential
    phase."""
    net = nontrivial(make_network, 11 + features, inputs=40, hidden=(9,), outputs=4, bits=2,
                     density=0.2, kinds=ALL_KINDS)
    x = make_vectors(net, np.random.default_rng(features), n_random=12)
    dut = check_direct(net, x, features_per_cycle=features, lanes=2, entry_bits=entry_bits,
                       lane_registers=tuple(reversed(lane_registers)))
    plain = dataclasses.replace(dut.plan, lane_registers=())  # a plan: nothing is built
    assert dut.plan.lane_registers == lane_registers  # kept in the datapath's order
    assert dut.run_cycles == plain.run_cycles + len(lane_registers)
    assert dut.plan.lane_stages == 2 + len(lane_registers)
    assert dut.cycles_per_inference == plain.cycles_per_inference + len(lane_registers)
    assert dut.latency == plain.latency + len(lane_registers)


def test_lane_registers_errors(make_network):
    net = nontrivial(make_network, 3, inputs=12, hidden=(5,), outputs=3, bits=2, density=0.4)
    options = _plan_options(plan_streaming(net))
    for bad in [("entry", "entry"), ("adder",)]:
        with pytest.raises(ValueError, match=r"^lane_registers must be distinct names of entry, "
                                             r"index, pixel, not "):
            streaming_plan(**options, lane_registers=bad)


@pytest.mark.parametrize("config", ["step-1bit", "ternary-2bit", "ten-classes", "deep-tern"])
@pytest.mark.parametrize("lanes", [1, 3])
def test_fold_second_layer(config, lanes, make_network, make_vectors):
    """The second layer accumulated in the lanes (``fold``), with and without every lane
    register: outputs bit-exact with the golden model, the same latency otherwise as the
    unfolded network's sequential phase plus the fold's three cycles, one parallel layer fewer."""
    inputs, hidden, outputs, bits, density, kinds = {
        **CONFIGS, "deep-tern": (21, (9, 6), 4, 2, 0.4, ("ternary", "step"))}[config]
    net = nontrivial(make_network, 5 * lanes + len(config), inputs=inputs, hidden=hidden,
                     outputs=outputs, bits=bits, density=density,
                     kinds=tuple(k for k in kinds if k != "clip"))
    x = make_vectors(net, np.random.default_rng(lanes), n_random=12)
    compiled = passes.compile_network(net)
    for registers in [(), ("entry", "index", "pixel")]:
        folded = Streaming(4, lanes, lane_registers=registers, tail="fold")
        dut = lower(compiled, folded)
        trace = golden.evaluate(net, x)
        labels, scores = rtl_outputs(dut, x, p_in=0.2, p_out=0.2)
        np.testing.assert_array_equal(scores, trace.scores)
        np.testing.assert_array_equal(labels, trace.predictions)
        unfolded = plan(compiled, Streaming(4, lanes, lane_registers=registers))
        assert dut.run_cycles == unfolded.run_cycles + 3
        assert dut.plan.layer_latencies == (dut.run_cycles + 1,
                                            *unfolded.layer_latencies[2:])
        assert any(name.endswith("_next") for name, _, _ in dut.memories)


def test_fold_refuses_wide_activations(make_network):
    for seed in range(50):
        net = nontrivial(make_network, seed, inputs=12, hidden=(5,), outputs=3, bits=2,
                         density=0.5, kinds=("clip",))
        compiled = passes.compile_network(net)
        if any(hi > 1 for lo, hi in plan(compiled, Streaming(1, 1)).first_outputs):
            break
    else:
        raise AssertionError("no net with a clip activation above 1")
    # Asked for, it is the user's one-line error.
    with pytest.raises(UsageError, match=r"^--tail fold: fold needs first-layer activations "
                                         r"between -1 and 1$"):
        plan(compiled, Streaming(1, 1, tail="fold"))


# The sequential output layer (tail="sequential", TailPlan).

# (inputs, hidden, outputs, bits, density, kinds)
TAIL_CONFIGS = {
    "step-1bit": (30, 14, 10, 1, 0.3, ("step",)),
    "ternary-2bit": (17, 11, 3, 2, 0.4, ("ternary",)),
    "clip-4bit": (19, 10, 4, 4, 0.5, ("clip",)),
    "mixed-3bit": (25, 16, 7, 3, 0.3, ALL_KINDS),
}


@pytest.mark.parametrize("lanes", [1, 3, 5])
@pytest.mark.parametrize("config", list(TAIL_CONFIGS))
def test_tail_random_networks(config, lanes, make_network, make_vectors):
    inputs, hidden, outputs, bits, density, kinds = TAIL_CONFIGS[config]
    net = nontrivial(make_network, lanes, inputs=inputs, hidden=(hidden,), outputs=outputs,
                     bits=bits, density=density, kinds=kinds)
    x = make_vectors(net, np.random.default_rng(lanes), n_random=12)
    dut = check_direct(net, x, features_per_cycle=4, lanes=lanes, tail="sequential")
    assert dut.plan.tail == "sequential"
    assert dut.plan.tail_plan.steps == max(len(p.neurons) for p in dut.lane_plans)


def test_tail_ragged_lanes_and_constant_neurons(make_network, make_vectors):
    """Lanes of different lengths (the shorter ones' weights are 0 past their end) and constant
    first-layer neurons (folded into the accumulators' initial values)."""
    rng = np.random.default_rng(5)
    w0 = rng.choice([-1, 0, 0, 1], size=(11, 9))
    w0[3] = 0  # a neuron without inputs: constant, 1 when its threshold is at most 0
    w0[7] = 0
    w1 = rng.choice([-1, 0, 1], size=(4, 11))
    w1[:, 3] = 1
    w1[:, 7] = -1
    net = ir.from_dense(ir.InputSpec(9, 2), [
        (w0, ir.Activation("step"), np.r_[rng.integers(-2, 3, 3), -1, rng.integers(-2, 3, 3),
                                          2, rng.integers(-2, 3, 3)]),
        (w1, ir.Activation("linear"), [3, -2, 0, 5])], "abcd")
    x = make_vectors(net, rng, n_random=20)
    dut = check_direct(net, x, features_per_cycle=2, lanes=3, tail="sequential")
    lengths = [len(p.neurons) for p in dut.lane_plans]
    assert len(set(lengths)) > 1 and sum(lengths) <= 9 and dut.plan.tail_plan.inits != (3, -2, 0, 5)
    assert dut.plan.tail_plan.steps == max(lengths)
    weights = dut.plan.tail_plan.weights
    short = lengths.index(min(lengths))
    assert all(w == 0 for t in range(min(lengths), max(lengths)) for w in weights[t][short])


def test_tail_integer_and_shared_weights(make_vectors):
    """Output weights above 1 in magnitude (a multiplier per term) and output-layer shared nodes
    (expanded into the ROM's weights)."""
    rng = np.random.default_rng(8)
    w0 = rng.choice([-1, 0, 1], size=(9, 12))
    w1 = rng.choice([-3, -1, 0, 0, 1, 2], size=(5, 9))
    w1[:, :3] = [1, 1, -1]  # the same pair in every class: shared by the compiler
    net = ir.from_dense(ir.InputSpec(12, 3), [
        (w0, ir.Activation("clip", shift=1, bits=2), rng.integers(-3, 3, 9)),
        (w1, ir.Activation("linear"), rng.integers(-4, 5, 5))], "abcde")
    x = make_vectors(net, rng, n_random=20)
    dut = check_direct(net, x, features_per_cycle=5, lanes=3, tail="sequential")
    assert not dut.plan.tail_plan.ternary and dut.plan.tail_plan.weight_bits == (3, True)


@pytest.mark.parametrize("lanes", [1, 4])
def test_tail_cycles_and_latency(lanes, make_network):
    """Transfers back to back: ``i.ready`` stays low ``tail_plan.cycles`` more cycles a vector,
    and ``cycles_per_inference`` and ``latency`` count them exactly."""
    net = nontrivial(make_network, 1, inputs=20, hidden=(12,), outputs=5, bits=4, density=0.4)
    dut = streaming(net, features_per_cycle=3, lanes=lanes, tail="sequential")
    x = np.random.default_rng(1).integers(0, 16, size=(5, 20))
    trace = golden.evaluate(net, x)
    t = dut.transfers_per_vector
    accepted, outputs, _ = back_to_back(dut, x)
    tail = dut.plan.tail_plan
    lasts = accepted[t - 1::t]
    assert [e for e, _, _ in outputs] == [edge + dut.latency for edge in lasts]
    assert np.diff(lasts).tolist() == [dut.cycles_per_inference] * (len(x) - 1)
    assert tail.cycles == tail.steps + 1 + dut.n_classes
    assert dut.cycles_per_inference == t + dut.run_cycles + tail.cycles
    assert dut.latency == dut.run_cycles + tail.cycles + 1
    assert dut.latency == sum(dut.layer_latencies) + dut.n_classes + 1
    for (_, label, scores), want, want_scores in zip(outputs, trace.predictions, trace.scores):
        assert label == want and scores == want_scores.tolist()


def test_tail_plan_choices(make_network):
    """The tail is a plan value; a sequential one needs the output layer right after the first,
    and is parallel when no first-layer neuron needs a lane."""
    net = nontrivial(make_network, 2, inputs=12, hidden=(6,), outputs=3, bits=2, density=0.5)
    design = plan(passes.compile_network(net), Streaming(4, 2, tail="sequential"))
    assert design.tail == "sequential" and design.layer_latencies[1] == design.tail_plan.steps
    steps = design.tail_plan.steps
    assert [(name, depth) for name, _, depth in design.memories[-3:]] == [
        ("lane0_acts", steps), ("lane1_acts", steps), ("tail_weights", steps)]
    assert design.memories[-1][1] == 2 * 3 * 2  # two lanes, three classes, 2-bit weights
    assert plan(passes.compile_network(net), Streaming(4, 2)).tail == "parallel"
    deep = nontrivial(make_network, 2, inputs=12, hidden=(6, 5), outputs=3, bits=2, density=0.5)
    with pytest.raises(UsageError) as err:
        plan(passes.compile_network(deep), Streaming(4, 2, tail="sequential"))
    assert str(err.value) == ("--tail sequential: a sequential tail computes an output layer "
                              "that directly follows the first layer; this network has 3 layers")
    with pytest.raises(ValueError, match=r"^tail must be one of parallel, sequential, not 'x'$"):
        streaming_plan(**{**_plan_options(design), "tail": "x"})
    with pytest.raises(UsageError, match=r"^unknown tail 'x' \(choose from: parallel, "):
        Streaming(tail="x")
    w = np.zeros((3, 4), dtype=np.int64)
    constant = ir.from_dense(ir.InputSpec(4, 2), [
        (w, ir.Activation("step"), [0, 1, -1]),
        (np.array([[1, -1, 1], [0, 1, 1]]), ir.Activation("linear"), [0, 2])], "ab")
    assert streaming_plan(**{**_plan_options(design), "layers": plan(
        passes.compile_network(constant), Streaming(4, 2)).layers, "tail": "sequential"}
    ).tail == "parallel"


@pytest.mark.parametrize("lanes", [1, 3])
def test_tail_with_lane_registers(lanes, make_network, make_vectors):
    """The sequential tail after lanes pipelined for a fast clock (every lane register)."""
    from lwc.hw.plan import LANE_REGISTERS

    net = nontrivial(make_network, 4, inputs=21, hidden=(13,), outputs=5, bits=2, density=0.4)
    x = make_vectors(net, np.random.default_rng(4), n_random=12)
    dut = check_direct(net, x, features_per_cycle=4, lanes=lanes, tail="sequential",
                       lane_registers=LANE_REGISTERS)
    assert dut.plan.tail == "sequential" and dut.plan.lane_registers == LANE_REGISTERS


# Accumulators in DSP blocks (StreamingPlan.dsp_lanes, dsp_tail; Streaming.dsp): the same
# results. Here they are the logic version of hw.dsp.Accumulators; the SB_MAC16 instances run on
# Yosys's cell model in tests/sim/test_cocotb_streaming.py.

@pytest.mark.parametrize("tail, blocks", [("parallel", 1), ("sequential", 3), ("fold", 8)])
def test_dsp_accumulators(tail, blocks, make_network, make_vectors):
    net = nontrivial(make_network, 4, inputs=30, hidden=(20,), outputs=5, bits=2, density=0.4,
                     kinds=("ternary",))
    x = make_vectors(net, np.random.default_rng(3), n_random=12)
    compiled = passes.compile_network(net)
    dut = lower(compiled, Streaming(4, 3, tail=tail, dsp=blocks))
    trace = golden.evaluate(net, x)
    labels, scores = rtl_outputs(dut, x, p_in=0.2, p_out=0.2)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)
    p = dut.plan
    # Lanes first, two 16-bit accumulators a block; the blocks left go to the tail.
    assert p.lane_acc_width <= 16 and p.tail_accumulators[1] <= 16
    assert p.dsp_lanes == min(p.lanes, 2 * blocks)
    assert p.dsp_tail == min(p.tail_accumulators[0], 2 * (blocks - (p.dsp_lanes + 1) // 2))
    assert p.dsp_blocks == (p.dsp_lanes + 1) // 2 + (p.dsp_tail + 1) // 2 <= blocks
    assert p.lanes == 3 and 0 < p.dsp_tail < p.tail_accumulators[0] or tail != "sequential"
    assert p.cycles_per_inference == plan(compiled, Streaming(4, 3, tail=tail)) \
        .cycles_per_inference


def test_dsp_option_is_checked(make_network):
    with pytest.raises(UsageError, match=r"^dsp must be a number of DSP blocks, not -1$"):
        Streaming(4, 3, dsp=-1)
