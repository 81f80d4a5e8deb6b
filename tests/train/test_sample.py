"""``method="sample"``: importance sampling of integer weights, and nets that use them."""

import math

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.train import TrainConfig, train
from lwc.train.model import MAX_WEIGHT, SampledWeights, sample_counts


def test_counts_are_floor_or_ceil_add_up_and_keep_signs():
    torch.manual_seed(0)
    w = torch.randn(40, 30) * (torch.rand(40, 30) < 0.7)
    n = torch.randint(1, 200, (40,)).double()
    code = sample_counts(w, n, torch.rand(40))
    assert torch.equal(code, torch.round(code))
    assert torch.equal(code.abs().sum(dim=1).double(), n)
    expect = n[:, None] * w.abs().double() / w.abs().double().sum(dim=1, keepdim=True)
    assert (code.abs().double() >= torch.floor(expect) - 1e-9).all()
    assert (code.abs().double() <= torch.ceil(expect) + 1e-9).all()
    drawn = code != 0
    assert torch.equal(torch.sign(code[drawn]), torch.sign(w[drawn]))
    assert not (code[w == 0] != 0).any()  # a zero weight is never drawn


def test_counts_are_unbiased_over_the_jitter():
    """Averaged over evenly spread jitters, each count is exactly n |w| / sum |w|."""
    w = torch.tensor([[0.5, -0.1, 0.25, 0.0, -0.15]])
    jitters = (torch.arange(1000).double() + 0.5) / 1000
    mean = sum(sample_counts(w, [7], [u]) for u in jitters) / len(jitters)
    expect = 7 * w / w.abs().sum()
    assert torch.allclose(mean.double(), expect.double(), atol=2e-3)


def test_all_zero_rows_and_single_weights():
    w = torch.tensor([[0.0, 0.0, 0.0], [0.0, -2.0, 0.0]])
    code = sample_counts(w, [5, 5], [0.3, 0.9])
    assert code.tolist() == [[0, 0, 0], [0, -5, 0]]


def test_samples_from_sparsity_and_the_weight_cap():
    torch.manual_seed(1)
    layer = SampledWeights(100, 20, sparsity=0.8)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(20, 100) ** 3)
    n = layer.draw()
    zeros = float((layer.code == 0).double().mean())
    assert zeros >= 0.8
    layer.samples = 2 * n  # more samples, fewer zeros: n was the most the target allows
    assert float((layer.counts(2 * n) == 0).double().mean()) < 0.8
    # One dominant weight: the neuron takes fewer samples rather than exceed the largest weight.
    with torch.no_grad():
        layer.weight[3] = 1e-3
        layer.weight[3, 7] = 50.0
    layer.samples = 100_000
    layer.draw()
    assert int(layer.code.abs().max()) <= MAX_WEIGHT
    assert int(layer.code[3].abs().max()) >= MAX_WEIGHT - 1  # floor or ceil of 126.75


def test_proportional_samples_give_one_scale():
    torch.manual_seed(2)
    layer = SampledWeights(64, 10)
    with torch.no_grad():
        layer.weight.mul_(torch.linspace(0.5, 3.0, 10)[:, None])
    layer.proportional, layer.samples = True, 200
    n = layer.per_neuron(200)
    scale = n / layer.weight.detach().abs().sum(dim=1).double()
    assert float(scale.max() / scale.min()) < 1.02
    assert math.isclose(float(n.mean()), 200, rel_tol=0.01)


@pytest.mark.train
def test_sampled_net_has_integer_weights_and_exports_exactly():
    config = TrainConfig(dataset="digits", method="sample", hidden=(32,), epochs=12, seed=0,
                         sparsity=0.7)
    result = train(config)
    net = result.net
    weights = [w for layer in net.layers for n in layer.neurons for w in n.weights]
    assert max(map(abs, weights)) > 1  # repeated draws: integer weights beyond +-1
    assert result.zero_fraction >= 0.7
    x_int = golden.quantize(net.input, result.dataset.x_test)
    with torch.no_grad():
        scores = result.model.integer_scores(torch.from_numpy(x_int.astype(np.float32)))
    assert np.array_equal(golden.evaluate(net, x_int).scores, scores.numpy())
    assert result.test_accuracy >= 0.85, result.test_accuracy
    # Weights never train after sampling: every epoch from then on is selectable.
    notes = [h.get("note", "") for h in result.history]
    start = next(i for i, note in enumerate(notes) if note.startswith("sampled"))
    assert all(h["selectable"] for h in result.history[start:])
    assert not any(h["selectable"] for h in result.history[:start])


def test_samples_only_with_method_sample():
    from lwc.errors import UsageError

    with pytest.raises(UsageError, match="samples is an option of method 'sample'"):
        TrainConfig(method="ste", samples=4).check()
    with pytest.raises(UsageError, match="samples must be a positive integer, not 0"):
        TrainConfig(method="sample", samples=0).check()
