"""Nets with integer weights beyond +-1 (as ``lwc train --method sample`` makes them) lower and
simulate bit-exact against the golden model in ``amaranth.sim`` (the streaming network's
integer weights are tested in ``test_streaming.py``)."""

import numpy as np
import pytest

from lwc.compiler import golden, ir, passes
from lwc.compiler.lower import lower
from lwc.compiler.passes import compile_network
from lwc.sim.amaranth_sim import simulate


def integer_net(rng, *, inputs=10, hidden=(8, 6), outputs=4, bits=3, magnitudes=(1, 2, 3),
                density=0.5):
    """A random step-activation net whose nonzero weights are +-m for ``m`` in ``magnitudes``."""
    sizes = [inputs, *hidden, outputs]
    layers, in_max = [], (1 << bits) - 1
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        mag = rng.choice(magnitudes, size=(n_out, n_in))
        sign = rng.choice([-1, 1], size=(n_out, n_in))
        w = mag * sign * (rng.random((n_out, n_in)) < density)
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-5, 6, n_out)))
        else:
            reach = int(np.abs(w).sum(axis=1).max(initial=0)) * in_max
            # Thresholds near the middle of each sum's range, so the steps switch often.
            mid = (np.clip(w, 0, None).sum(axis=1) + np.clip(w, None, 0).sum(axis=1)) * in_max // 2
            t = mid + rng.integers(-max(1, reach // 8), max(1, reach // 8) + 1, n_out)
            layers.append((w, ir.Activation("step"), t))
            in_max = 1
    return ir.from_dense(ir.InputSpec(inputs, bits), layers, [f"c{k}" for k in range(outputs)])


def check(dut, net, x):
    trace = golden.evaluate(net, x)
    labels, scores, _, _ = simulate(dut, x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)
    return trace


@pytest.mark.parametrize("magnitudes", [(2, 3), (1, 2, 3), (1, 4, 5, 7), (127,)])
@pytest.mark.parametrize("register_every", [None, 1])
def test_parallel_network_is_bit_exact(magnitudes, register_every, make_vectors):
    rng = np.random.default_rng(sum(magnitudes) + 7 * (register_every or 0))
    net = integer_net(rng, magnitudes=magnitudes)
    assert max(abs(w) for layer in net.layers for n in layer.neurons for w in n.weights) > 1
    x = make_vectors(net, rng, n_random=48)
    trace = check(lower(compile_network(net), register_every=register_every), net, x)
    # The steps do switch: the test would notice a wrong sum.
    assert 0 < trace.outputs[0].mean() < 1


def test_scores_scale_with_the_weights(make_vectors):
    """Doubling every output weight doubles the scores' weighted part in hardware too."""
    rng = np.random.default_rng(3)
    net = integer_net(rng, hidden=(6,), magnitudes=(1,))
    w = ir.dense_weights(net, 1)
    doubled = ir.from_dense(net.input, [
        (ir.dense_weights(net, 0, full_inputs=True), net.layers[0].activation,
         [n.params for n in net.layers[0].neurons]),
        (2 * w, net.layers[1].activation, [0] * w.shape[0]),
    ], net.classes)
    x = make_vectors(net, rng, n_random=16)
    t = check(lower(compile_network(doubled)), doubled, x)
    np.testing.assert_array_equal(t.scores, 2 * golden.evaluate(net, x).sums[1])


def test_passes_keep_integer_weights(make_vectors):
    rng = np.random.default_rng(5)
    net = integer_net(rng, magnitudes=(2, 3))
    out = passes.run(net)
    ir.verify(out)
    x = make_vectors(net, rng, n_random=32)
    np.testing.assert_array_equal(golden.evaluate(out, x).scores, golden.evaluate(net, x).scores)
