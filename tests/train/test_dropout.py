"""Dropout partitions and plain dropout (lwc.train.dropout): the partition assignment, the random
numbers each draws, the scale of kept outputs, and that training with either, by every method,
exports a net the golden model matches on every test sample (no dropout in it)."""

import dataclasses

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.errors import UsageError
from lwc.train import TrainConfig
from lwc.train.dropout import PartitionDropout, PlainDropout, attach, drawn, partition_masks
from lwc.train.methods import METHODS
from lwc.train.model import TernaryMLP

from helpers import torch_predictions


def test_partition_masks_drop_every_neuron_once_per_cycle():
    xi = torch.tensor([0.0, 0.24, 0.25, 0.5, 0.74, 0.99, 0.999999])
    masks = partition_masks(xi, 4)
    assert masks.shape == (4, 7)
    # Neuron i is in partition floor(xi * 4); step t drops partition t.
    part = [0, 0, 1, 2, 2, 3, 3]
    for t in range(4):
        assert masks[t].tolist() == [p != t for p in part]
    assert (~masks).sum(dim=0).tolist() == [1] * 7  # each neuron dropped exactly once


def test_partition_dropout_draws_one_number_per_neuron_per_cycle():
    gen = torch.Generator().manual_seed(0)
    drop = PartitionDropout(100, 4, gen)
    a = torch.ones(32, 100)
    outs = [drop(a) for _ in range(8)]
    assert drop.drawn == 2 * 100  # two cycles of 4 steps
    for cycle in (outs[:4], outs[4:]):
        dropped = torch.stack([(o[0] == 0) for o in cycle])
        assert dropped.sum(dim=0).tolist() == [1] * 100  # every neuron once per cycle
        for o in cycle:  # one mask for the whole batch, kept outputs scaled by P / (P - 1)
            assert torch.equal(o, o[:1].expand_as(o))
            assert set(o.unique().tolist()) <= {0.0, np.float32(4 / 3)}


def test_plain_dropout_draws_one_number_per_sample_and_neuron():
    gen = torch.Generator().manual_seed(0)
    drop = PlainDropout(200, 4, gen)
    out = drop(torch.ones(500, 200))
    assert drop.drawn == 500 * 200
    share = float((out == 0).float().mean())
    assert abs(share - 0.25) < 0.01 and set(out.unique().tolist()) == {0.0, np.float32(4 / 3)}
    assert not torch.equal(out[0], out[1])  # per sample


def test_dropout_is_only_in_training_mode():
    torch.manual_seed(0)
    model = TernaryMLP(6, (8, 8), 3, 0.5)
    modules = attach(model, 2, "plain", seed=0, device=torch.device("cpu"))
    x = torch.randint(0, 4, (16, 6)).float()
    model.eval()
    a = model(x)
    assert torch.equal(a, model(x)) and drawn(modules) == 0
    model.train()
    model(x)
    assert drawn(modules) == 2 * 16 * 8


def test_dropout_options_are_checked():
    with pytest.raises(UsageError, match="dropout must be an integer number of partitions, 2 "
                                         "or more, not 1"):
        TrainConfig(dropout=1).check()
    with pytest.raises(UsageError, match="dropout_mode must be one of partition, plain, not "
                                         "'bernoulli'"):
        TrainConfig(dropout=2, dropout_mode="bernoulli").check()


@pytest.mark.train
@pytest.mark.parametrize("mode", ["partition", "plain"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_with_dropout_and_exports_exactly(method, mode):
    from lwc.train import train

    config = TrainConfig(dataset="digits", hidden=(16,), epochs=2, method=method, dropout=2,
                         dropout_mode=mode)
    result = train(config)
    steps = -(-len(result.dataset.x_train) // config.batch_size)
    counts = [entry["dropout_random"] for entry in result.history]
    if method != "distribution":  # its final epochs train with the net fixed, as the others
        expect = steps * 64 * 16 if mode == "plain" else None
        assert expect is None or abs(counts[0] - expect) <= 64 * 16  # a short last batch
    assert all(c > 0 for c in counts)
    if mode == "partition":
        assert counts[0] == 16 * -(-steps // 2)  # 16 neurons, one draw per 2 steps
    assert result.net.meta("dropout") == 2 and result.net.meta("dropout_mode") == mode
    x_int = golden.quantize(result.net.input, result.dataset.x_test)
    with torch.no_grad():
        scores = result.model.integer_scores(torch.from_numpy(x_int.astype(np.float32)))
    assert np.array_equal(golden.evaluate(result.net, x_int).scores, scores.numpy())
    assert np.array_equal(golden.predict(result.net, x_int),
                          torch_predictions(result.model, x_int))


@pytest.mark.train
def test_dropout_counts_fewer_numbers_in_partitions():
    from lwc.train import train

    base = TrainConfig(dataset="digits", hidden=(32,), epochs=1, method="ste", dropout=4)
    plain = train(dataclasses.replace(base, dropout_mode="plain")).history[0]["dropout_random"]
    parts = train(base).history[0]["dropout_random"]
    # 64 samples a batch, one cycle per 4 steps: 256 times fewer.
    assert plain >= 200 * parts
