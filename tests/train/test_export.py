"""The model's eval mode is exactly the exported integer network, batch-norm folding included."""

import itertools

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.compiler.ir import InputSpec, verify
from lwc.train import export as export_mod
from lwc.train.model import TernaryMLP, round_ste, step_ste, ternarize


def _all_inputs(count, bits):
    """Every integer input vector of ``count`` features of ``bits`` bits."""
    values = range(1 << bits)
    return np.array(list(itertools.product(values, repeat=count)), dtype=np.int64)


def _model_with(weights1, gamma, beta, mean, var, weights2, bias):
    """A one-hidden-layer model with exactly the given (float) parameters, in eval mode."""
    n_hidden, n_in = weights1.shape
    model = TernaryMLP(n_in, (n_hidden,), weights2.shape[0], sparsity=0.0)
    with torch.no_grad():
        model.hidden[0].linear.weight.copy_(torch.tensor(weights1, dtype=torch.float32))
        bn = model.hidden[0].bn
        bn.weight.copy_(torch.tensor(gamma, dtype=torch.float32))
        bn.bias.copy_(torch.tensor(beta, dtype=torch.float32))
        bn.running_mean.copy_(torch.tensor(mean, dtype=torch.float32))
        bn.running_var.copy_(torch.tensor(var, dtype=torch.float32))
        model.output.linear.weight.copy_(torch.tensor(weights2, dtype=torch.float32))
        model.output.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return model.eval()


def _hidden_torch(model, x):
    with torch.no_grad():
        return model.hidden_activations(torch.from_numpy(x.astype(np.float32)))[0].numpy()


def test_ternarize_hits_the_sparsity_target_and_passes_gradients():
    w = torch.randn(50, 40, requires_grad=True)
    t = ternarize(w, 0.75)
    assert set(t.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert int((t == 0).sum()) == 1500
    # The kept weights are the largest in magnitude, with their signs.
    kept = t != 0
    assert w.detach().abs()[kept].min() > w.detach().abs()[~kept].max()
    assert torch.equal(t[kept], torch.sign(w.detach())[kept])
    (t * torch.arange(2000.0).reshape(50, 40)).sum().backward()
    assert torch.equal(w.grad, torch.arange(2000.0).reshape(50, 40))
    assert int((ternarize(w, 0.0) == 0).sum()) == 0
    assert int((ternarize(w, 1.0) != 0).sum()) == 0


def test_step_and_round_straight_through():
    y = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], requires_grad=True)
    a = step_ste(y)
    assert a.tolist() == [0, 0, 0, 1, 1, 1, 1]
    a.sum().backward()
    assert y.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]
    b = torch.tensor([0.5, 1.5, -0.5, 2.4], requires_grad=True)
    r = round_ste(b)
    assert r.tolist() == [0, 2, 0, 2]  # half to even, as exported
    r.sum().backward()
    assert b.grad.tolist() == [1, 1, 1, 1]


def test_bn_fold_with_negative_and_zero_gamma_is_exact_on_every_input():
    """Thresholds that land exactly on reachable integer sums, with every sign of gamma."""
    weights1 = np.array([
        [1.0, -0.5, 0.8, 0.0],
        [0.7, 0.9, -1.0, 0.6],
        [-0.4, 0.3, 0.2, -0.9],
        [0.5, 0.5, 0.5, 0.5],
        [1.0, 0.0, -1.0, 0.0],
        [0.3, -0.3, 0.3, -0.3],
    ])
    # thr = mean - beta * sqrt(var + eps) / gamma; beta = 0 puts thr on the integer mean.
    gamma = [1.5, -0.7, -2.0, 0.9, 0.0, -1e-30]
    beta = [0.0, 0.0, 0.3, -0.45, 0.2, 5.0]
    mean = [1.0, 2.0, -1.0, 3.0, 0.0, 0.0]
    var = [1.0, 4.0, 0.25, 1.0, 1.0, 1.0]
    weights2 = np.array([[1.0, -1.0, 0.0, 1.0, 1.0, 0.0],
                         [0.0, 1.0, 1.0, -1.0, 0.0, 1.0],
                         [-1.0, 0.0, 1.0, 1.0, -1.0, 1.0]])
    model = _model_with(weights1, gamma, beta, mean, var, weights2, bias=[0.4, -1.6, 2.5])
    spec = InputSpec(count=4, bits=2)
    net = verify(export_mod.to_network(model, spec, ["a", "b", "c"]))
    x = _all_inputs(4, 2)
    trace = golden.evaluate(net, x)
    assert np.array_equal(trace.outputs[0], _hidden_torch(model, x))
    export_mod.prove(net, model, x)

    hidden = net.layers[0].neurons
    # gamma < 0: weights negated, threshold -floor(thr). Neuron 1: a = s <= 2 -> -s >= -2.
    assert hidden[1].weights == (-1, -1, 1, -1) and hidden[1].params == (-2,)
    assert hidden[0].weights == (1, -1, 1) and hidden[0].params == (1,)
    # Sum equal to the threshold fires for gamma > 0 and for gamma < 0 (s <= thr) alike.
    s0 = x @ np.array([1, -1, 1, 0])
    s1 = x @ np.array([1, 1, -1, 1])
    assert np.any(s0 == 1) and np.all(trace.outputs[0][s0 == 1, 0] == 1)
    assert np.any(s1 == 2) and np.all(trace.outputs[0][s1 == 2, 1] == 1)
    # gamma == 0 with beta >= 0: always 1; gamma tiny negative: thr -> +inf -> always 1.
    assert np.all(trace.outputs[0][:, 4] == 1)
    assert np.all(trace.outputs[0][:, 5] == 1)
    assert net.layers[1].neurons[1].params == (-2,)  # round(-1.6); 2.5 rounds to even
    assert net.layers[1].neurons[2].params == (2,)


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("thr, expect_always", [(float("inf"), False), (float("-inf"), True),
                                                (1e30, False), (-1e30, True),
                                                (float("nan"), False)])
def test_extreme_thresholds_are_clamped(direction, thr, expect_always):
    if direction < 0 and not np.isnan(thr):
        expect_always = not expect_always
    gamma = 1.0 if direction > 0 else -1.0
    # beta chosen so thr = mean - beta * sigma / gamma is the extreme value.
    model = _model_with(np.array([[1.0, -1.0, 1.0]]), [gamma], [0.0], [thr], [1.0],
                        np.array([[1.0], [-1.0]]), bias=[0.0, 0.0])
    spec = InputSpec(count=3, bits=3)
    net = export_mod.to_network(model, spec, ["a", "b"])
    (t,) = net.layers[0].neurons[0].params
    assert abs(t) <= 2 * 7 + 1
    x = _all_inputs(3, 3)
    out = golden.evaluate(net, x).outputs[0][:, 0]
    assert np.all(out == (1 if expect_always else 0))
    assert np.array_equal(out, _hidden_torch(model, x)[:, 0])


def test_export_refuses_a_mismatch_and_writes_nothing(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    model = _model_with(rng.normal(size=(8, 5)), rng.normal(size=8), rng.normal(size=8),
                        rng.normal(2, 2, size=8), rng.uniform(0.5, 4, size=8),
                        rng.normal(size=(3, 8)), bias=rng.normal(size=3))
    spec = InputSpec(count=5, bits=2)
    x = _all_inputs(5, 2).astype(np.float64)
    y = np.zeros(len(x), dtype=np.int64)
    path = tmp_path / "net.pt"
    net, accuracy = export_mod.export(model, spec, ["a", "b", "c"], x, y, path=path)
    assert path.exists() and net.meta("test_accuracy") == accuracy
    path.unlink()

    fold = export_mod.fold_step_layer

    def corrupt(layer, in_max):
        weight, thresholds = fold(layer, in_max)
        return weight, thresholds + 1

    monkeypatch.setattr(export_mod, "fold_step_layer", corrupt)
    with pytest.raises(export_mod.ExportMismatchError, match="net.pt not written") as info:
        export_mod.export(model, spec, ["a", "b", "c"], x, y, path=path)
    assert "disagrees with the PyTorch model on" in str(info.value)
    assert "\n" not in str(info.value)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
