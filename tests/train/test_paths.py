"""Sparse from scratch by sampling paths (lwc.train.paths, --method paths): exactly the requested
weights per neuron, every connection on a path from an input to an output, products through
only those connections equal to the dense ones, and the trained net exported exactly."""

import dataclasses

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.errors import UsageError
from lwc.train import TrainConfig
from lwc.train.model import PathWeights, TernaryMLP
from lwc.train.paths import connect, fan_ins, magnitude_sources, sample_paths, uniform_sources

from helpers import torch_predictions


@pytest.mark.parametrize("n_in, n_out, k", [(784, 300, 38), (300, 300, 38), (300, 10, 120),
                                            (4800, 4800, 2), (7, 5, 7), (10, 3, 4)])
def test_uniform_sources_exact_fan_in_and_balanced(n_in, n_out, k):
    out = uniform_sources(n_in, n_out, k, np.random.default_rng(0))
    assert out.shape == (n_out, k)
    assert all(len(set(row)) == k for row in out.tolist())  # k distinct inputs per neuron
    uses = np.bincount(out.reshape(-1), minlength=n_in)
    lo, hi = (k * n_out) // n_in, -(-(k * n_out) // n_in)
    # floor or ceil of k n_out / n_in (an input may lose one use where a permutation's tail
    # was all in one row already)
    assert uses.max() <= hi and uses.min() >= max(lo - 1, 0)
    if k * n_out >= n_in:
        assert uses.min() >= 1


def test_magnitude_sources_prefer_large_weights_and_cover():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(40, 60)) * 0.01
    w[:, :5] = 10.0  # five inputs carry almost all of every neuron's |w|
    out = magnitude_sources(w, 6, np.random.default_rng(1), cover=False)
    assert out.shape == (40, 6) and all(len(set(row)) == 6 for row in out.tolist())
    assert all(set(range(5)) <= set(row) for row in out.tolist())
    covered = magnitude_sources(w, 6, np.random.default_rng(1), cover=True)
    assert all(len(set(row)) == 6 for row in covered.tolist())
    assert np.bincount(covered.reshape(-1), minlength=60).min() >= 1
    assert covered.size == 240


def _on_paths(model):
    """Whether every connection of ``model`` lies on a path from an input to an output."""
    mats = [linear.ternary_weight() != 0 for linear in model.ternary_layers()]
    reach = torch.ones(mats[0].shape[1], dtype=torch.bool)  # from the inputs
    forward = []
    for m in mats:
        forward.append(reach)
        reach = (m & reach).any(dim=1)
    back = torch.ones(mats[-1].shape[0], dtype=torch.bool)  # to the outputs
    ok = True
    for m, fwd in zip(reversed(mats), reversed(forward)):
        edges = m & back.reshape(-1, 1) & fwd.reshape(1, -1)
        ok &= bool(torch.equal(edges, m))
        back = m[back].any(dim=0)
    return ok


@pytest.mark.parametrize("how", ["uniform", "magnitude"])
def test_sampled_net_has_exact_fan_in_and_every_connection_on_a_path(how):
    torch.manual_seed(0)
    config = TrainConfig(method="paths", hidden=(40, 30), fan_in=(5, 4, 12), path_sampling=how,
                         epochs=1)
    model = TernaryMLP(20, (40, 30), 10, 0.0, weights="paths")
    x = torch.randint(0, 2, (64, 20)).float()
    y = torch.randint(0, 10, (64,))
    assert connect(model, config, x, y) == (5, 4, 12)
    for linear, k in zip(model.ternary_layers(), (5, 4, 12)):
        assert isinstance(linear, PathWeights) and linear.weight.shape == (linear.out_features, k)
        w = linear.ternary_weight()
        assert ((w != 0).sum(dim=1) == k).all()  # exactly k weights per neuron
        assert linear.zero_count() == (int((w == 0).sum()), w.numel())
    assert _on_paths(model)
    # Hidden neurons all have an output (every neuron on a path).
    for linear in model.ternary_layers()[1:]:
        assert (linear.ternary_weight() != 0).any(dim=0).all()


def test_fan_ins_from_sparsity_and_refused():
    sizes = (64, 256, 10)
    assert fan_ins(TrainConfig(method="paths"), sizes) == (13, 128)  # output: 50% zeros
    assert fan_ins(TrainConfig(method="paths", output_sparsity=0.8), sizes) == (13, 51)
    # From the sparsity, raised so that 10 outputs reach all 256 hidden neurons.
    assert fan_ins(TrainConfig(method="paths", sparsity=0.99, output_sparsity=0.99),
                   sizes) == (1, 26)
    with pytest.raises(UsageError, match=r"paths: layer 2 \(10 neurons, fan-in 20\) must continue "
                                         r"a path of every one of the 256 neurons below it: "
                                         r"fan-in at least 26 \(fan_in=, --fan-in\)"):
        fan_ins(TrainConfig(method="paths", fan_in=(8, 20)), sizes)
    with pytest.raises(UsageError, match="fan_in and path_sampling are options of method "
                                         "'paths', not 'ste'"):
        TrainConfig(method="ste", fan_in=(8,)).check()


def test_path_product_equals_the_dense_product_and_its_gradients():
    torch.manual_seed(0)
    layer = PathWeights(30, 12)
    layer.connect(uniform_sources(30, 12, 7, np.random.default_rng(0)))
    x = torch.randint(0, 4, (9, 30)).float().requires_grad_()
    layer.train()
    y = layer(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    dense = layer.ternary_weight().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y2 = x2 @ dense.t()
    (y2 * g).sum().backward()
    assert torch.allclose(y, y2) and torch.allclose(x.grad, x2.grad, atol=1e-5)
    # Straight through sign(): each connection's gradient is the dense one at its place.
    assert torch.allclose(layer.weight.grad, dense.grad.gather(1, layer.cols), atol=1e-5)
    with torch.no_grad():  # the sparse product of evaluation: exact integers, int8 inputs too
        assert torch.equal(layer(x.detach()), y2.detach())
        assert torch.equal(layer(x.detach().to(torch.int8)), y2.detach())
    assert len(list(layer.parameters())) == 1 and layer.weight.numel() == 12 * 7


def test_sample_paths_is_seeded():
    a = sample_paths((20, 16, 4), (3, 4), "uniform", np.random.default_rng(5))
    b = sample_paths((20, 16, 4), (3, 4), "uniform", np.random.default_rng(5))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


@pytest.mark.train
@pytest.mark.parametrize("how", ["uniform", "magnitude"])
def test_paths_trains_on_digits_and_exports_exactly(how):
    from lwc.train import train

    # Measured: 88.0% uniform, 85.6% magnitude (seed 0); the test asks for 75%.
    config = TrainConfig(dataset="digits", method="paths", hidden=(128, 64),
                         fan_in=(13, 13, 20), path_sampling=how, epochs=12)
    result = train(config)
    assert result.summary["nonzero"] <= 128 * 13 + 64 * 13 + 10 * 20
    assert result.net.meta("fan_in") == "13,13,20" and result.net.meta("path_sampling") == how
    assert result.test_accuracy >= 0.75, result.test_accuracy
    x_int = golden.quantize(result.net.input, result.dataset.x_test)
    with torch.no_grad():
        scores = result.model.integer_scores(torch.from_numpy(x_int.astype(np.float32)))
    assert np.array_equal(golden.evaluate(result.net, x_int).scores, scores.numpy())
    assert np.array_equal(golden.predict(result.net, x_int),
                          torch_predictions(result.model, x_int))
    if how == "uniform":
        again = train(dataclasses.replace(config, epochs=2))
        assert again.net.layers == train(dataclasses.replace(config, epochs=2)).net.layers
