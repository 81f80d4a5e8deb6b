"""``--max-fan-in``: every neuron keeps at most K nonzero weights, its largest after the cut."""

import dataclasses

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.compiler.ir import dense_weights
from lwc.errors import UsageError
from lwc.train import TrainConfig, train
from lwc.train.model import ternarize, ternary_product

CONFIG = TrainConfig(dataset="digits", hidden=(32, 16), epochs=3, seed=0, method="ste",
                     sparsity=0.8, max_fan_in=(3,))


def test_ternarize_keeps_the_largest_k_of_each_row():
    torch.manual_seed(0)
    w = torch.randn(20, 30)
    cut = ternarize(w, 0.5)
    limited = ternarize(w, 0.5, fan_in=4)
    kept = limited != 0
    assert (kept.sum(dim=1) <= 4).all() and (kept.sum(dim=1) == 4).any()
    assert torch.equal(limited[kept], cut[kept])  # the signs of the cut, fewer of them
    # Each kept weight is among its row's 4 largest, and in the cut.
    top = w.abs().topk(4, dim=1).indices
    assert all(set(np.flatnonzero(kept[r]).tolist()) <= set(top[r].tolist()) for r in range(20))
    assert torch.equal(ternarize(w, 0.5, fan_in=30), cut)


@pytest.mark.parametrize("sparsity", [0.5, 0.95])
def test_sparse_product_honours_the_limit(sparsity):
    """The CSR product (few weights kept) and the dense one agree, with their gradients."""
    torch.manual_seed(1)
    w = torch.randn(16, 64, requires_grad=True)
    x = torch.randn(8, 64)
    got = ternary_product(x, w, sparsity, fan_in=2)
    want = x @ ternarize(w, sparsity, fan_in=2).t()
    torch.testing.assert_close(got, want)
    got.sum().backward()
    torch.testing.assert_close(w.grad, torch.ones(8, 16).t() @ x)


@pytest.mark.parametrize("change, message", [
    ({"method": "lwn"}, "max_fan_in is an option of methods 'ste' and 'dropneuron', not 'lwn'"),
    ({"max_fan_in": (3, 3, 3, 3)}, "max_fan_in must be one positive limit, or one per layer "
                                   "(2 hidden, then optionally the output), not (3, 3, 3, 3)"),
    ({"max_fan_in": (0,)}, "max_fan_in must be one positive limit, or one per layer (2 hidden, "
                           "then optionally the output), not (0,)"),
])
def test_bad_fan_in(change, message):
    with pytest.raises(UsageError) as info:
        dataclasses.replace(CONFIG, **change).check()
    assert str(info.value) == message


def test_layer_fan_in():
    assert CONFIG.layer_fan_in() == (3, 3, None)
    assert dataclasses.replace(CONFIG, max_fan_in=(5, 4, 8)).layer_fan_in() == (5, 4, 8)
    assert dataclasses.replace(CONFIG, max_fan_in=(5, 4)).layer_fan_in() == (5, 4, None)
    assert dataclasses.replace(CONFIG, max_fan_in=()).layer_fan_in() == (None, None, None)
    assert TrainConfig(max_fan_in=4).max_fan_in == (4,)


@pytest.mark.train
@pytest.mark.parametrize("limits, want", [((3,), (3, 3, None)), ((4, 2, 6), (4, 2, 6))])
def test_digits_trains_with_a_fan_in_limit_and_exports_exactly(limits, want):
    result = train(dataclasses.replace(CONFIG, max_fan_in=limits))
    net = result.net
    for li, limit in enumerate(want):
        fan_in = (dense_weights(net, li) != 0).sum(axis=1)
        if limit is not None:
            assert fan_in.max() <= limit, (li, fan_in)
    assert net.meta("max_fan_in") == ",".join(map(str, limits))
    # The export proof ran on the whole test set; the accuracy is the golden model's on it.
    ds = result.dataset
    x = golden.quantize(net.input, ds.x_test)
    assert float(np.mean(golden.predict(net, x) == ds.y_test)) == \
        pytest.approx(result.test_accuracy)
    assert result.test_accuracy > 0.2  # chance is 0.1; three epochs of a narrow net
