"""Issue 2's proof: train on digits, export, load, compile, simulate the whole test set in
amaranth.sim, and compare every output with the golden model."""


import numpy as np
import pytest

from lwc.compiler import golden, netfile, passes
from lwc.compiler.lower import lower
from lwc.data import load_dataset
from lwc.sim.amaranth_sim import simulate


@pytest.mark.train
def test_digits_train_compile_simulate_whole_test_set(digits_net_path):
    net = netfile.load(digits_net_path)
    assert net.meta("dataset") == "digits"
    assert net.meta("test_accuracy") >= 0.94
    data = load_dataset("digits", seed=net.meta("split_seed"),
                        test_fraction=net.meta("test_fraction"))
    x = golden.quantize(net.input, data.x_test)
    trace = golden.evaluate(net, x)
    # The accuracy recorded at export is the golden model's on this very test set.
    assert np.mean(trace.predictions == data.y_test) == net.meta("test_accuracy")

    compiled = passes.run(net)
    assert np.array_equal(golden.evaluate(compiled, x).scores, trace.scores)
    labels, scores, _, _ = simulate(lower(compiled), x)
    assert len(labels) == len(x) == len(data.y_test)
    assert np.array_equal(scores, trace.scores)
    assert np.array_equal(labels, trace.predictions)
