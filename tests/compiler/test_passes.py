"""Every pass keeps every score of every input; each does what it says."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwc.compiler import golden, ir, passes


def run_checked(net, x):
    """Run the pipeline, asserting after every pass that the golden scores did not change."""
    ref = golden.evaluate(net, x).scores

    def on_pass(pass_fn, before, after):
        got = golden.evaluate(after, x).scores
        assert np.array_equal(got, ref), f"{pass_fn.__name__} changed the scores"

    return passes.run(net, on_pass=on_pass)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4), bits=st.integers(1, 8),
       density=st.sampled_from([0.02, 0.1, 0.3, 0.8]))
def test_pipeline_preserves_scores(make_network, make_vectors, seed, depth, bits, density):
    rng = np.random.default_rng(seed)
    hidden = tuple(int(h) for h in rng.integers(0, 9, size=depth - 1))
    net = make_network(rng, inputs=int(rng.integers(1, 20)), hidden=hidden,
                       outputs=int(rng.integers(1, 5)), bits=bits, density=density)
    out = run_checked(net, make_vectors(net, rng))
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
    from dataclasses import replace

    broken = replace(net, layers=(replace(layer, neurons=(bad,)),) + net.layers[1:])
    try:
        ir.verify(broken)
    except ir.VerifyError as exc:
        assert "sum_range (0, 99) is not (0, 6)" in str(exc)
    else:
        raise AssertionError("verify accepted a stale sum_range")
