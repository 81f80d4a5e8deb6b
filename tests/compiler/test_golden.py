"""The golden model against hand-computed values of docs/semantics.md."""

import numpy as np
import pytest

from lwc.compiler import golden, ir


def one_layer(kind, weights, params, *, bits=4, shift=0, cbits=1, bias=(0,)):
    w = np.array([weights])
    act = ir.Activation(kind, shift=shift, bits=cbits)
    out = np.ones((1, 1), dtype=np.int64)
    return ir.from_dense(ir.InputSpec(w.shape[1], bits),
                         [(w, act, np.array([params])), (out, ir.Activation("linear"), bias)],
                         ["y"])


@pytest.mark.parametrize("s_inputs,t,expect", [((3, 1), 2, 1), ((1, 1), 0, 1), ((1, 2), 0, 0)])
def test_step(s_inputs, t, expect):
    net = one_layer("step", [1, -1], [t])
    trace = golden.evaluate(net, np.array([s_inputs]))
    assert trace.sums[0][0, 0] == s_inputs[0] - s_inputs[1]
    assert trace.outputs[0][0, 0] == expect


@pytest.mark.parametrize("x,expect", [(0, -1), (1, -1), (2, 0), (4, 0), (5, 1), (9, 1)])
def test_ternary(x, expect):
    net = one_layer("ternary", [1], [1, 5])
    assert golden.evaluate(net, np.array([[x]])).outputs[0][0, 0] == expect


@pytest.mark.parametrize("x,expect", [(0, 0), (3, 0), (4, 0), (5, 0), (6, 1), (7, 1), (12, 3),
                                      (15, 3)])
def test_clip_floor_shift(x, expect):
    # (x - 4) >> 1 clamped to 0..3; for x=3: (-1) >> 1 == -1 -> 0 (floor, not truncation).
    net = one_layer("clip", [1], [4], shift=1, cbits=2)
    assert golden.evaluate(net, np.array([[x]])).outputs[0][0, 0] == expect


def test_clip_negative_floor():
    net = one_layer("clip", [-1], [-2], shift=1, cbits=3)
    # s = -x; (s + 2) >> 1: x=3 -> (-1)>>1 = -1 -> 0 ; x=0 -> 1
    out = golden.evaluate(net, np.array([[3], [0], [1]])).outputs[0][:, 0]
    assert list(out) == [0, 1, 0]


def test_argmax_ties_go_to_lowest_index():
    w1 = np.eye(3, dtype=int)
    net = ir.from_dense(ir.InputSpec(3, 2), [
        (w1, ir.Activation("step"), [1, 1, 1]),
        (np.eye(3, dtype=int), ir.Activation("linear"), [0, 0, 0]),
    ], ["a", "b", "c"])
    x = np.array([[0, 3, 3], [3, 3, 3], [0, 0, 0], [0, 0, 1]])
    assert list(golden.predict(net, x)) == [1, 0, 0, 2]


def test_linear_bias_and_scores():
    net = one_layer("step", [1], [1], bias=(-7,))
    tr = golden.evaluate(net, np.array([[0], [5]]))
    assert list(tr.scores[:, 0]) == [-7, -6]


def test_quantizers():
    spec = ir.InputSpec(2, 4, ir.AffineQuantizer((15 / 16,), (0.5,)))
    q = golden.quantize(spec, np.array([[0, 16], [8, 7.9], [-5, 100], [np.nan, np.inf]]))
    assert q.tolist() == [[0, 15], [8, 7], [0, 15], [0, 15]]
    spec = ir.InputSpec(2, 2, ir.ThresholdQuantizer(((1.0, 2.0, 3.0), (10.0, 20.0, 30.0))))
    q = golden.quantize(spec, np.array([[0.5, 25], [3, 30], [2, 9.99]]))
    assert q.tolist() == [[0, 2], [3, 3], [2, 0]]


def test_matches_naive_python_on_random_nets(make_network, rng):
    for _ in range(20):
        net = make_network(rng, inputs=9, hidden=(7, 5), bits=int(rng.integers(1, 9)))
        x = rng.integers(0, net.input.max_value + 1, size=(40, 9))
        trace = golden.evaluate(net, x)
        for b in range(len(x)):
            a = list(x[b])
            for li, layer in enumerate(net.layers):
                sums = [sum(w * a[i] for i, w in zip(n.inputs, n.weights)) for n in layer.neurons]
                a = [ir.activation_value(layer.activation, n.params, s)
                     for n, s in zip(layer.neurons, sums)]
                assert list(trace.sums[li][b]) == sums
                assert list(trace.outputs[li][b]) == a


def test_integer_weights_match_naive_python(rng):
    """Weights beyond +-1 (up to 127): each input counts |w| times, with the sign of w."""
    for _ in range(10):
        w0 = rng.integers(-127, 128, size=(6, 9)) * (rng.random((6, 9)) < 0.4)
        w1 = rng.integers(-4, 5, size=(3, 6))
        net = ir.from_dense(ir.InputSpec(9, 4), [
            (w0, ir.Activation("step"), rng.integers(-300, 300, 6)),
            (w1, ir.Activation("linear"), rng.integers(-3, 4, 3)),
        ], ["a", "b", "c"])
        ir.verify(net)
        x = rng.integers(0, 16, size=(30, 9))
        trace = golden.evaluate(net, x)
        for b in range(len(x)):
            s0 = [int(sum(int(w0[i, j]) * int(x[b, j]) for j in range(9))) for i in range(6)]
            a0 = [int(s >= t) for s, t in zip(s0, (n.params[0] for n in net.layers[0].neurons))]
            assert list(trace.sums[0][b]) == s0 and list(trace.outputs[0][b]) == a0
            s1 = [sum(int(w1[i, j]) * a0[j] for j in range(6)) for i in range(3)]
            bias = [n.params[0] for n in net.layers[1].neurons]
            assert list(trace.scores[b]) == [s + c for s, c in zip(s1, bias)]


def test_int64_path_for_huge_sums():
    # 16-bit inputs and a wide fan-in push the bound past 2**53 only with huge nets, so check
    # the int64 path by forcing it.
    net = one_layer("step", [1, 1, -1], [0], bits=16)
    x = np.array([[65535, 65535, 1]])
    assert golden.evaluate(net, x).sums[0][0, 0] == 131069


def test_rejects_out_of_range_inputs():
    net = one_layer("step", [1], [0], bits=2)
    with pytest.raises(AssertionError, match="inputs out of range"):
        golden.evaluate(net, np.array([[4]]))
