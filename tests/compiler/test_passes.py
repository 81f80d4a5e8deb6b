"""Every pass keeps every score of every input; each does what it says."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwc.compiler import golden, ir, netfile, passes
from lwc.compiler.stats import adder_count, network_stats, nonzero_count

from helpers import adversarial_vectors, networks


def run_checked(net, x):
    """Run the pipeline, asserting after every pass that the golden scores did not change."""
    ref = golden.evaluate(net, x).scores

    def on_pass(pass_fn, before, after):
        got = golden.evaluate(after, x).scores
        assert np.array_equal(got, ref), f"{pass_fn.__name__} changed the scores"

    return passes.run(net, on_pass=on_pass)


@settings(max_examples=60, deadline=None)
@given(networks(inputs=st.integers(1, 19), hidden=st.lists(st.integers(0, 8), max_size=3),
                outputs=st.integers(1, 4)))
def test_pipeline_preserves_scores(net):
    out = run_checked(net, adversarial_vectors(net, np.random.default_rng(0)))
    assert all(n.sum_range is not None for layer in out.layers for n in layer.neurons)


def net_of(layers, inputs=4, bits=2):
    outs = layers[-1][0].shape[0]
    return ir.from_dense(ir.InputSpec(inputs, bits), layers, [str(k) for k in range(outs)])


def test_fold_constants_moves_constant_into_thresholds():
    # Hidden neuron 1 has no inputs and threshold 0: always 1. Hidden neuron 2 can never fire.
    w1 = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])
    t1 = np.array([1, 0, 7])
    w2 = np.array([[1, -1, 1], [0, 1, 0]])
    net = net_of([(w1, ir.Activation("step"), t1), (w2, ir.Activation("linear"), [5, 0])])
    out = passes.run(net)
    assert out.layers[0].size == 1 and out.layers[0].neurons[0].origin == 0
    assert [n.params for n in out.layers[1].neurons] == [(4,), (1,)]
    assert out.input_map == (0, 1)
    x = np.array([[a, b, c, d] for a in range(4) for b in range(4) for c in range(4)
                  for d in range(2)])
    assert np.array_equal(golden.evaluate(out, x).scores, golden.evaluate(net, x).scores)


def test_fold_ternary_and_clip_params():
    w1 = np.array([[0, 0, 0, 0]])
    cases = [
        # constant 1 read with +1 by a ternary neuron: (lo, hi) - 1
        (ir.Activation("step"), [-1], 1, ir.Activation("ternary"), [[0, 2]], (-1, 1)),
        # constant (0 + 2) >> 0 = 2 read with -1 by a clip neuron: t - (-2)
        (ir.Activation("clip", shift=0, bits=2), [-2], -1, ir.Activation("clip", 1, 2), [3], (5,)),
    ]
    for act, params, weight, reader_act, reader_params, expect in cases:
        net = net_of([(w1, act, params),
                      (np.array([[weight]]), reader_act, reader_params),
                      (np.array([[1]]), ir.Activation("linear"), [0])])
        out = ir.verify(passes.fold_constants(net))
        assert out.layers[1].neurons[0].params == expect
        assert out.layers[1].neurons[0].inputs == ()


def test_remove_unread_cascades_backwards():
    w1 = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    w2 = np.array([[1, 0, 0], [0, 1, 0]])
    w3 = np.array([[1, 0], [1, 0]])  # hidden-2 neuron 1 unread -> hidden-1 neuron 1 unread
    net = net_of([(w1, ir.Activation("step"), [1, 1, 1]),
                  (w2, ir.Activation("step"), [1, 1]),
                  (w3, ir.Activation("linear"), [0, 0])])
    out = passes.remove_unread(net)
    ir.verify(out)
    assert [n.origin for n in out.layers[0].neurons] == [0]
    assert [n.origin for n in out.layers[1].neurons] == [0]
    assert out.layers[2].neurons[0].inputs == (0,)


def test_remove_unused_inputs_keeps_original_feature_indices():
    w1 = np.array([[0, 1, 0, 1], [0, 0, 0, 1]])
    net = net_of([(w1, ir.Activation("step"), [1, 1]),
                  (np.array([[1, 1]]), ir.Activation("linear"), [0])])
    out = passes.remove_unused_inputs(net)
    assert out.input_map == (1, 3)
    assert [n.inputs for n in out.layers[0].neurons] == [(0, 1), (1,)]


def test_infer_widths_exact_intervals():
    w1 = np.array([[1, 1, -1, 0]])
    net = net_of([(w1, ir.Activation("clip", shift=1, bits=2), [0]),
                  (np.array([[1], [-1]]), ir.Activation("linear"), [2, 0])], bits=3)
    out = passes.infer_widths(net)
    assert out.layers[0].neurons[0].sum_range == (-7, 14)
    assert [n.sum_range for n in out.layers[1].neurons] == [(0, 3), (-3, 0)]


def test_verify_catches_stale_width():
    net = passes.infer_widths(net_of([(np.array([[1, 1, 0, 0]]), ir.Activation("step"), [1]),
                                      (np.array([[1]]), ir.Activation("linear"), [0])]))
    layer = net.layers[0]
    bad = layer.neurons[0].__class__(**{**layer.neurons[0].__dict__, "sum_range": (0, 99)})
    broken = replace(net, layers=(replace(layer, neurons=(bad,)),) + net.layers[1:])
    try:
        ir.verify(broken)
    except ir.VerifyError as exc:
        assert "sum_range (0, 99) is not (0, 6)" in str(exc)
    else:
        raise AssertionError("verify accepted a stale sum_range")


# --- share ---------------------------------------------------------------------------------------

def _sharing_net():
    """Three neurons over four 2-bit inputs: x0 + x1 occurs three times (once negated), and
    then x3 - (x0 + x1) twice (once negated)."""
    w = np.array([[1, 1, 1, 0], [-1, -1, 0, 1], [1, 1, 0, -1]])
    return ir.from_dense(ir.InputSpec(4, 2), [(w, ir.Activation("linear"), [0, 0, 0])], "abc")


def test_share_dump_before_and_after():
    before = passes.run(_sharing_net(), passes.pipeline(share=False))
    assert ir.dump(before).splitlines()[2:6] == [
        "layer 0 linear neurons=3",
        "  n0 bias=0 sum=[0,9] : +x0 +x1 +x2",
        "  n1 bias=0 sum=[-6,3] : -x0 -x1 +x3",
        "  n2 bias=0 sum=[-3,6] : +x0 +x1 -x3",
    ]
    after = passes.run(_sharing_net())
    assert ir.dump(after) == (
        "network inputs=4 bits=2 used=4 outputs=3 quantizer=none\n"
        "input_map 0 1 2 3\n"
        "layer 0 linear neurons=3 shared=2\n"
        "  s0 sum=[0,6] : +x0 +x1\n"
        "  s1 sum=[-6,3] : +x3 -s0\n"
        "  n0 bias=0 sum=[0,9] : +x2 +s0\n"
        "  n1 bias=0 sum=[-6,3] : +s1\n"
        "  n2 bias=0 sum=[-3,6] : -s1\n"
        "classes a b c\n"
    )
    # 2 + 2 + 2 adders before; 2 shared + 1 + 0 + 0 after.
    assert adder_count(before) == 6 and adder_count(after) == 3
    x = np.array([[(v >> (2 * k)) & 3 for k in range(4)] for v in range(256)])
    assert np.array_equal(golden.evaluate(after, x).scores, golden.evaluate(before, x).scores)


def test_share_leaves_one_bit_layers_alone():
    """One-bit layers become compressor trees, where shared pairs save nothing."""
    w = np.array([[1, 1, 1, 0], [-1, -1, 0, 1], [1, 1, 0, -1]])
    net = ir.from_dense(ir.InputSpec(4, 1), [(w, ir.Activation("linear"), [0, 0, 0])], "abc")
    assert not passes.share(net).layers[0].shared
    assert passes.share(net, one_bit=True).layers[0].shared


def _node_values(layer, a):
    """Every term's value (inputs, then shared nodes) for the layer inputs ``a`` (a 1-D list)."""
    values = list(a)
    for node in layer.shared:
        values.append(sum(w * values[i] for i, w in zip(node.inputs, node.weights)))
    return values


@settings(max_examples=40, deadline=None)
@given(networks(inputs=st.integers(2, 13), hidden=st.lists(st.integers(2, 11), min_size=1,
                                                           max_size=1),
                outputs=st.integers(2, 5), bits=st.integers(1, 4)))
def test_share_keeps_the_function(net):
    plain = passes.run(net, passes.pipeline(share=False))
    shared = ir.verify(passes.infer_widths(passes.share(plain)))
    for li in range(len(plain.layers)):  # the expansion is exactly the original weights
        assert np.array_equal(ir.dense_weights(shared, li), ir.dense_weights(plain, li))
    assert ir.unshare(shared) == passes.run(net, passes.pipeline(share=False))
    x = adversarial_vectors(net, np.random.default_rng(0))
    assert np.array_equal(golden.evaluate(shared, x).scores, golden.evaluate(net, x).scores)
    assert adder_count(shared) <= adder_count(plain)
    assert passes.share(shared) == passes.share(plain)  # idempotent


def test_share_finds_sums_in_dense_layers(make_network, make_vectors, rng):
    net = make_network(rng, inputs=16, hidden=(24,), outputs=4, bits=3, density=0.8)
    plain = passes.run(net, passes.pipeline(share=False))
    shared = passes.run(net)
    assert shared.layers[0].shared and adder_count(shared) < 0.8 * adder_count(plain)
    x = make_vectors(net, rng)
    trace, ref = golden.evaluate(shared, x), golden.evaluate(net, x)
    assert np.array_equal(trace.scores, ref.scores)


@pytest.mark.parametrize("seed", range(3))
def test_shared_node_ranges_are_exact(seed, make_network):
    """Every shared node of the first layer reaches both ends of its sum_range (all inputs)."""
    rng = np.random.default_rng(seed)
    net = make_network(rng, inputs=6, hidden=(10,), outputs=3, bits=2, density=0.9)
    shared = passes.run(net)
    layer = shared.layers[0]
    assert layer.shared
    values = []
    for code in range(4 ** 6):
        x = [(code >> (2 * k)) & 3 for k in range(6)]
        values.append(_node_values(layer, [x[i] for i in shared.input_map]))
    values = np.array(values)
    n_in = len(shared.input_map)
    for k, node in enumerate(layer.shared):
        column = values[:, n_in + k]
        assert (column.min(), column.max()) == node.sum_range
    for neuron in layer.neurons:  # neurons' sums from the shared terms, exact as well
        sums = values[:, list(neuron.inputs)] @ np.array(neuron.weights)
        assert (sums.min(), sums.max()) == neuron.sum_range


@pytest.mark.train
def test_share_on_digits_net(digits_net_path):
    net = netfile.load(digits_net_path)
    x = np.random.default_rng(0).integers(0, net.input.max_value + 1, (300, net.input.count))
    shared = run_checked(net, x)
    plain = passes.run(net, passes.pipeline(share=False))
    assert adder_count(shared) < adder_count(plain)
    assert np.array_equal(golden.evaluate(shared, x).scores, golden.evaluate(net, x).scores)


def test_share_mnist_sized_layer():
    """784 inputs x 256 neurons at 10% density (~20k weights): at most 0.7 adders per weight.
    How long it takes is measured by ``python bench/compiler.py --adders`` (net mnist-4b-10)."""
    rng = np.random.default_rng(0)
    w = rng.choice([-1, 0, 1], size=(256, 784), p=[0.05, 0.9, 0.05])
    net = ir.from_dense(ir.InputSpec(784, 4), [(w, ir.Activation("linear"), np.zeros(256))],
                        [str(k) for k in range(256)])
    shared = passes.share(net)
    assert adder_count(shared) <= 0.7 * nonzero_count(net)


def test_share_budget_limits_work():
    rng = np.random.default_rng(1)
    w = rng.choice([-1, 0, 1], size=(64, 64), p=[0.2, 0.6, 0.2])
    net = ir.from_dense(ir.InputSpec(64, 2), [(w, ir.Activation("linear"), np.zeros(64))],
                        [str(k) for k in range(64)])
    full, none, some = (passes.share(net, budget=b) for b in (10**9, 0, 500))
    assert not none.layers[0].shared
    assert 0 < len(some.layers[0].shared) < len(full.layers[0].shared)
    for variant in (full, some):
        assert np.array_equal(ir.dense_weights(variant, 0), w)


def _broken(net, change):
    layer = net.layers[0]
    return replace(net, layers=(change(layer),) + net.layers[1:])


@pytest.mark.parametrize("change, message", [
    (lambda L: replace(L, shared=(replace(L.shared[0], inputs=(0, 5)),) + L.shared[1:]),
     "shared node 0: terms must be two distinct inputs"),
    (lambda L: replace(L, shared=(replace(L.shared[0], inputs=(1, 1)),) + L.shared[1:]),
     "shared node 0: terms must be two distinct inputs"),
    (lambda L: replace(L, shared=L.shared[:1] + (replace(L.shared[1], weights=(1, 2)),)),
     "shared node 1: term signs must be"),
    (lambda L: replace(L, shared=L.shared[:1] + (replace(L.shared[1], inputs=(0, 4)),)),
     "shared node 1: its terms read a common input"),
    (lambda L: replace(L, neurons=(replace(L.neurons[0], inputs=(0, 4)),) + L.neurons[1:]),
     "neuron 0: its terms read a common input"),
    (lambda L: replace(L, shared=L.shared + (ir.SharedNode((0, 2), (1, 1)),)),
     "shared node 2: read by nothing"),
    (lambda L: replace(L, shared=(replace(L.shared[0], sum_range=(0, 7)),) + L.shared[1:]),
     r"shared node 0: sum_range \(0, 7\) is not \(0, 6\)"),
])
def test_verify_checks_shared_nodes(change, message):
    net = passes.run(_sharing_net())
    with pytest.raises(ir.VerifyError, match=message):
        ir.verify(_broken(net, change))


def test_sharing_is_not_saved(tmp_path, make_network, rng):
    """net.pt stays format 1: a shared net saves as the weights it computes."""
    net = make_network(rng, inputs=12, hidden=(10,), outputs=3, bits=3, density=0.8,
                       kinds=("ternary",))
    shared = passes.run(net)
    assert any(layer.shared for layer in shared.layers)
    netfile.save(shared, tmp_path / "net.pt")
    loaded = netfile.load(tmp_path / "net.pt")
    assert not any(layer.shared for layer in loaded.layers)
    for li in range(len(shared.layers)):
        assert np.array_equal(ir.dense_weights(loaded, li, full_inputs=True),
                              ir.dense_weights(shared, li, full_inputs=True))
    assert network_stats(shared) == network_stats(ir.unshare(shared))
