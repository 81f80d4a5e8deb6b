from dataclasses import replace

import numpy as np
import pytest

from lwc.compiler import ir, passes
from lwc.compiler.stats import format_stats, network_stats, weight_bits, weight_entropy


def small_net():
    w1 = np.array([[1, -1, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0]])
    w2 = np.array([[1, 0, -1], [0, 1, 1]])
    return ir.from_dense(ir.InputSpec(4, 3), [
        (w1, ir.Activation("clip", shift=1, bits=2), [0, -1, 2]),
        (w2, ir.Activation("linear"), [3, -2]),
    ], ["no", "yes"], {"dataset": "hand"})


def test_dump_is_deterministic_text():
    out = passes.run(small_net())
    assert ir.dump(out) == (
        "network inputs=4 bits=3 used=3 outputs=2 quantizer=none\n"
        "input_map 0 1 2\n"
        "layer 0 clip shift=1 bits=2 neurons=2\n"
        "  n0 threshold=0 sum=[-7,7] : +x0 -x1\n"
        "  n2 threshold=2 sum=[0,14] : +x1 +x2\n"
        "layer 1 linear neurons=2\n"
        "  n0 bias=3 sum=[-3,3] : +a0 -a2\n"
        "  n1 bias=-2 sum=[0,3] : +a2\n"
        "classes no yes\n"
    )
    # neuron n1 had no inputs: constant 0 (s=0: (0+1)>>1 = 0), so nothing was added to biases.


@pytest.mark.parametrize("mutate,message", [
    (lambda n: replace(n, classes=("a",)), "1 class names for 2 outputs"),
    (lambda n: replace(n, input_map=(1, 0, 2, 3)), "input_map must be strictly increasing"),
    (lambda n: replace(n, input_map=(0, 1)), "layer 0 neuron 2: inputs must be strictly "
                                             "increasing indices below 2"),
    (lambda n: replace(n, layers=(n.layers[0],), classes=("a", "b", "c")),
     "output layer must be linear"),
])
def test_verify_names_the_broken_invariant(mutate, message):
    with pytest.raises(ir.VerifyError, match=message):
        ir.verify(mutate(small_net()))


def test_verify_rejects_zero_weight_and_unsorted_inputs():
    net = small_net()
    layer = net.layers[0]
    for neuron in (replace(layer.neurons[0], weights=(1, 0)),
                   replace(layer.neurons[0], inputs=(1, 0))):
        bad = replace(net, layers=(replace(layer, neurons=(neuron,) + layer.neurons[1:]),
                                   net.layers[1]))
        with pytest.raises(ir.VerifyError, match="layer 0 neuron 0"):
            ir.verify(bad)


def test_stats():
    st = network_stats(small_net())
    assert st.weights == 12 + 6 and st.nonzero == 4 + 4
    assert st.unused_inputs == 1
    assert st.layers[0].constant == 1 and st.layers[0].fan_in_max == 2
    assert st.layers[0].fan_in_min == 0 and st.layers[1].fan_in_min == 2
    counts = np.unique(np.concatenate([ir.dense_weights(small_net(), k).ravel() for k in (0, 1)]),
                       return_counts=True)[1]
    assert st.bits_per_weight == pytest.approx(weight_entropy(list(counts)))
    assert weight_entropy([1, 1]) == 1.0 and weight_entropy([5]) == 0.0
    text = format_stats(small_net(), "x.pt")
    assert "55.6% zero" in text and "1 read by no neuron" in text and "dataset" in text


def test_verify_weight_range():
    net = small_net()
    layer = net.layers[0]
    for weight, ok in ((127, True), (-127, True), (128, False), (-128, False)):
        neuron = replace(layer.neurons[0], weights=(weight, -1))
        changed = replace(net, layers=(replace(layer, neurons=(neuron,) + layer.neurons[1:]),
                                       net.layers[1]))
        if ok:
            ir.verify(changed)
        else:
            with pytest.raises(ir.VerifyError, match=r"layer 0 neuron 0: weights must be in "
                                                     r"-127..\+127"):
                ir.verify(changed)


def test_stats_of_integer_weights():
    w1 = np.array([[3, -1, 0, 0], [0, 0, 0, 0], [0, 2, -2, 0]])
    w2 = np.array([[1, 0, -5], [0, 1, 1]])
    net = ir.from_dense(ir.InputSpec(4, 3), [
        (w1, ir.Activation("step"), [0, -1, 2]),
        (w2, ir.Activation("linear"), [3, -2]),
    ], ["no", "yes"])
    st = network_stats(net)
    assert st.max_weight == 5 and st.nonzero == 8
    assert dict(st.weight_values) == {-5: 1, -2: 1, -1: 1, 0: 10, 1: 3, 2: 1, 3: 1}
    assert st.bits_per_weight == pytest.approx(weight_entropy([1, 1, 1, 10, 3, 1, 1]))
    text = format_stats(net)
    assert "values   |w|=1: 4, |w|=2: 2, |w|=3: 1, |w|=5: 1\n" in text
    assert "values" not in format_stats(small_net())  # ternary nets: no such line


def test_weight_bits_count_each_weight_once_per_bit_it_weighs():
    # Three 3-bit inputs weighed by 3 nonzero weights, then two 2-bit activations (clip to 0..3)
    # by 3: 9 + 6.
    net = ir.from_dense(ir.InputSpec(4, 3), [
        (np.array([[1, -1, 0, 0], [0, 0, 1, 0]]), ir.Activation("clip", shift=1, bits=2), [0, 0]),
        (np.array([[1, 0], [1, -1]]), ir.Activation("linear"), [0, 0]),
    ], ["no", "yes"])
    assert weight_bits(net) == 15
    # Sharing does not change the function's weights.
    assert weight_bits(passes.run(net)) == 15
