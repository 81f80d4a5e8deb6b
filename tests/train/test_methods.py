"""Every training method trains, exports, and matches the golden model on every test sample; the
mechanics of each method (black hole, rounding roll-back, pruning masks, weight distributions,
group lasso) do what their docstrings say."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from lwc.compiler import golden, netfile
from lwc.train import TrainConfig, train_to_file
from lwc.train.methods import (
    METHODS,
    LwnRegimen,
    group_lasso,
    remove_dead_neurons,
    snapshot_state,
)
from lwc.train.model import DistributionTernary, LatentTernary, MaskedTernary, TernaryMLP

from helpers import torch_predictions

SMALL = {
    "digits": TrainConfig(dataset="digits", hidden=(32,), epochs=12, seed=0),
    "breast-cancer": TrainConfig(dataset="breast-cancer", hidden=(16,), epochs=12, seed=0),
}
# Clear margins over chance (10% for digits, 63% for always "benign") at these tiny budgets.
FLOOR = {"digits": 0.75, "breast-cancer": 0.85}


@pytest.mark.train
@pytest.mark.parametrize("dataset", sorted(SMALL))
@pytest.mark.parametrize("method", METHODS)
def test_method_trains_exports_and_matches_golden(tmp_path, dataset, method):
    config = dataclasses.replace(SMALL[dataset], method=method)
    result = train_to_file(config, tmp_path / "net.pt", plots=False)
    net = netfile.load(tmp_path / "net.pt")
    assert net.meta("method") == method and net.meta("dataset") == dataset
    x_int = golden.quantize(net.input, result.dataset.x_test)
    trace = golden.evaluate(net, x_int)
    # Every test sample: the same integer scores as the PyTorch model in eval mode.
    with torch.no_grad():
        scores = result.model.integer_scores(torch.from_numpy(x_int.astype(np.float32)))
    assert np.array_equal(trace.scores, scores.numpy())
    assert np.array_equal(trace.predictions, torch_predictions(result.model, x_int))
    accuracy = float(np.mean(trace.predictions == result.dataset.y_test))
    assert accuracy == result.test_accuracy == net.meta("test_accuracy")
    assert accuracy >= FLOOR[dataset], (method, dataset, accuracy)
    assert result.history[-1]["not_discrete"] == 0.0 or method in ("ste", "dropneuron")
    assert 0 < result.zero_fraction < 1


@pytest.mark.train
def test_four_hidden_layers_train_and_export_exactly():
    """Depth: batch norm in front of every step keeps each layer's sums at unit scale, and the
    straight-through window of 2 lets gradients through the steps of all four layers. Measured:
    94.7% / 92.2% test accuracy for seeds 0 / 1 (chance 10%); the test asks for 90%."""
    from lwc.train import train

    config = TrainConfig(dataset="digits", method="ste", hidden=(64, 64, 64, 64), epochs=20,
                         seed=0, ste_window=2.0)
    result = train(config)
    assert [layer.size for layer in result.net.layers] == [64, 64, 64, 64, 10]
    assert result.test_accuracy >= 0.90, result.test_accuracy
    x_int = golden.quantize(result.net.input, result.dataset.x_test)
    with torch.no_grad():
        scores = result.model.integer_scores(torch.from_numpy(x_int.astype(np.float32)))
    assert np.array_equal(golden.evaluate(result.net, x_int).scores, scores.numpy())


# --- lwn ----------------------------------------------------------------------------------------

def test_latent_rescale_pull_snap_round():
    torch.manual_seed(0)
    w = LatentTernary(50, 20)
    factor = w.rescale(0.7)
    assert factor > 0
    assert int((w.ternary_weight() == 0).sum()) == 700  # the zero share, exactly (no ties)
    assert float(w.weight.detach().abs().max()) <= 1.5
    before = w.distance().clone()
    w.pull(0.5)
    assert torch.allclose(w.distance(), 0.5 * before, atol=1e-6)  # half way to nearest
    caught = w.snap(0.1)
    assert caught == int((0.5 * before <= 0.1).sum()) and caught > 0
    assert torch.equal(w.frozen, 0.5 * before <= 0.1)
    codes = w.ternary_weight().clone()
    # Frozen weights are exactly their code and get no gradient.
    w.train()
    (w(torch.ones(3, 50)) ** 2).sum().backward()
    assert torch.all(w.weight.grad[w.frozen] == 0)
    assert torch.equal(w.train_weight()[w.frozen], codes[w.frozen])
    w.round_all()
    assert bool(w.frozen.all()) and torch.equal(w.ternary_weight(), codes)
    assert w.discrete_fraction() == 1.0


class _FakeRun:
    """A regimen's view of the loop, with validation results scripted."""

    def __init__(self, model, before, after):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        self.results = [before, after]
        self.train_error = 0.0

    def evaluate(self, continuous=False):
        return self.results.pop(0)

    def snapshot(self):
        return snapshot_state(self.model, self.optimizer)

    def restore(self, snapshot):
        self.model.load_state_dict(snapshot[0])
        self.optimizer.load_state_dict(snapshot[1])


def test_lwn_rounding_is_rolled_back_when_validation_drops_and_forced_at_the_end():
    torch.manual_seed(0)
    config = TrainConfig(lwn_round_at=1.0, lwn_tolerance=0.01, epochs=10, lwn_float=0.1)
    model = TernaryMLP(8, (6,), 3, 0.5, weights="latent")
    regimen = LwnRegimen(config, epochs=10, steps=4)
    regimen.begin_epoch(model, 1)
    extra, note = regimen.end_epoch(model, 1, _FakeRun(model, 0.90, 0.80))
    assert "rolled back" in note and extra["rounded"] is False
    # Back to the black hole's catch of this epoch: most weights are still free.
    assert extra["caught"] == sum(int(linear.frozen.sum()) for linear in model.ternary_layers())
    assert model.discrete_fraction() < 0.5
    assert regimen.rounded_at is None and not regimen.selectable(1)
    # Within tolerance: kept, every weight frozen, and only thresholds train from now on.
    extra, note = regimen.end_epoch(model, 2, _FakeRun(model, 0.90, 0.895))
    assert "rounded, kept" in note and regimen.rounded_at == 2 and regimen.selectable(2)
    assert model.discrete_fraction() == 1.0
    assert all(linear.fixed for linear in model.ternary_layers())
    # At the end of the discretization phase, rounding is forced.
    regimen = LwnRegimen(config, epochs=10, steps=4)
    model = TernaryMLP(8, (6,), 3, 0.5, weights="latent")
    regimen.begin_epoch(model, regimen.round_by - 1)
    _, note = regimen.end_epoch(model, regimen.round_by - 1, _FakeRun(model, 0.9, 0.5))
    assert "forced" in note and model.discrete_fraction() == 1.0


# --- prune --------------------------------------------------------------------------------------

def test_prune_masks_are_permanent_and_dead_neurons_go():
    torch.manual_seed(0)
    model = TernaryMLP(6, (5, 4), 3, 0.0, weights="masked")
    first, second, out = model.ternary_layers()
    assert isinstance(first, MaskedTernary)
    with torch.no_grad():
        first.weight.copy_(torch.linspace(-1, 1, 30).reshape(5, 6))
    pruned = first.prune(0.5)
    cut = 0.5 * float(torch.linspace(-1, 1, 30).std())
    assert pruned == int((torch.linspace(-1, 1, 30).abs() < cut).sum())
    # A weight that retraining grows back above the threshold stays pruned.
    with torch.no_grad():
        first.weight.fill_(5.0)
    assert first.prune(0.5) == 0 and int((~first.mask).sum()) == pruned
    assert torch.all(first.ternary_weight()[~first.mask] == 0)
    # Hidden neuron 1 of layer 0 loses its inputs, neuron 2 of layer 1 its outputs (neuron 2
    # of layer 0, whose weights were all near 0, was pruned whole already).
    assert not first.mask[2].any()
    first.mask[1] = False
    out.mask[:, 2] = False
    dead = remove_dead_neurons(model)
    assert not second.mask[:, 1].any() and not second.mask[:, 2].any()
    assert not second.mask[2].any() and first.mask[[0, 3, 4]].any(dim=1).all()
    assert dead == 3


# --- distribution -------------------------------------------------------------------------------

def test_distribution_moments_match_sampling():
    torch.manual_seed(0)
    layer = DistributionTernary(7, 3, zero_share=0.5)
    p = layer.probabilities()
    mean, var = layer.moments()
    values = torch.tensor([-1.0, 0.0, 1.0])
    assert torch.allclose(mean, (p * values).sum(-1))
    assert torch.allclose(var, (p * values ** 2).sum(-1) - mean ** 2, atol=1e-6)
    # The pre-activation's mean and variance over sampled weights, for fixed 0/1 inputs.
    x = torch.tensor([[1.0, 0, 1, 1, 0, 1, 0]])
    m, v = TernaryMLP._moments(layer, x, x * x)
    draws = torch.distributions.Categorical(probs=p.detach()).sample((20000,)) - 1.0
    sums = (draws * x).sum(-1)  # (draws, 3)
    assert torch.allclose(m[0], sums.mean(0), atol=0.05)
    assert torch.allclose(v[0], sums.var(0), rtol=0.1)
    # Export: the most probable value.
    assert torch.equal(layer.ternary_weight(), (p.argmax(-1) - 1).float())


def test_distribution_forward_is_differentiable_and_sampled():
    torch.manual_seed(0)
    model = TernaryMLP(5, (4,), 3, 0.5, weights="distribution").train()
    x = torch.randint(0, 4, (16, 5)).float()
    a, b = model.forward_distribution(x), model.forward_distribution(x)
    assert not torch.equal(a, b)  # sampled scores
    assert torch.equal(model.forward_distribution(x, sample=False),
                       model.forward_distribution(x, sample=False))
    a.sum().backward()
    assert all(linear.logits.grad is not None and linear.logits.grad.abs().sum() > 0
               for linear in model.ternary_layers())


# --- dropneuron ---------------------------------------------------------------------------------

def test_group_lasso_value():
    model = TernaryMLP(3, (2,), 2, 0.0)
    first, out = model.ternary_layers()
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]]))
        out.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    # inputs (outgoing, sqrt 2): |(3,0)| + 0 + |(4,0)|; hidden incoming (sqrt 3): 5 + 0;
    # hidden outgoing (sqrt 2): |(1,1)| + 0.
    expect = math.sqrt(2) * 7 + math.sqrt(3) * 5 + math.sqrt(2) * math.sqrt(2)
    assert float(group_lasso(model).detach()) == pytest.approx(expect)


@pytest.mark.train
def test_dropneuron_drops_neurons_and_inputs():
    from lwc.train import train

    base = TrainConfig(dataset="digits", hidden=(32,), epochs=8, seed=0, method="ste")
    plain = train(base).summary
    lasso = train(dataclasses.replace(base, dropneuron=3e-3)).summary
    assert lasso["dropped_neurons"] > plain["dropped_neurons"]
    assert lasso["dropped_inputs"] > plain["dropped_inputs"]


@pytest.mark.train
@pytest.mark.parametrize("dataset, bits", [("digits", 1), ("digits", 8), ("breast-cancer", 1),
                                           ("breast-cancer", 8)])
def test_input_bits_one_to_eight(dataset, bits):
    from lwc.train import train

    config = dataclasses.replace(SMALL[dataset], input_bits=bits, epochs=4)
    result = train(config)
    assert result.net.input.bits == bits
    x_int = golden.quantize(result.net.input, result.dataset.x_test)
    assert x_int.max() <= (1 << bits) - 1 and len(np.unique(x_int)) > 1
    assert np.array_equal(golden.predict(result.net, x_int),
                          torch_predictions(result.model, x_int))


@pytest.mark.train
@pytest.mark.parametrize("method", METHODS)
def test_one_epoch_is_enough_to_export(method):
    from lwc.train import train

    result = train(TrainConfig(dataset="breast-cancer", hidden=(4,), epochs=1, method=method))
    assert result.best_epoch == 1 and result.net.meta("method") == method
