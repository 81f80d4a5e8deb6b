"""The shortcuts that make training fast compute exactly what the plain computations do."""

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.train.inputs import make_input_spec
from lwc.train.loop import _add_column_sums, _InputMoments, _quantize, _recalibrate
from lwc.train.model import (
    SPARSE_SHARE,
    TernaryMLP,
    _QuantileCut,
    ternarize,
    ternary_product,
    ternary_support,
)


# The MNIST-sized layer runs the training's cut for 120 Adam steps (a minute on a loaded
# machine): it is training work, in the train tier; the small shapes stay in the unit tier.
@pytest.mark.parametrize("shape, sparsity", [
    pytest.param((512, 784), 0.9885, marks=pytest.mark.train), ((10, 512), 0.8), ((64, 64), 0.5),
    ((7, 3), 0.3)])
def test_quantile_cut_from_candidates_is_the_kthvalue_cut(shape, sparsity):
    """Along an Adam trajectory (weights moving every step, some past the cut from outside the
    candidates), and on weights with ties, the mask is the one of the k-th smallest |w|."""
    torch.manual_seed(0)
    w = torch.randn(*shape, requires_grad=True)
    memo = _QuantileCut()
    opt = torch.optim.Adam([w], lr=0.03)
    for step in range(120):
        assert torch.equal(ternarize(w, sparsity, False, memo), ternarize(w, sparsity)), step
        w.grad = torch.randn_like(w)
        opt.step()
    ties = torch.round(torch.randn(*shape) * 3) / 3
    memo = _QuantileCut()
    for _ in range(3):
        assert torch.equal(ternarize(ties, sparsity, False, memo), ternarize(ties, sparsity))


@pytest.mark.parametrize("top, rows", [(3, 70_000), (30, 54_001), (4095, 3000), (5000, 500),
                                       (0, 10), (1, 0)])
def test_column_sums_are_the_float64_sums(top, rows):
    """Recalibration's sums of integer-valued float32 sums and of their squares, in float32
    chunks below 2**24 (or through float64 beyond), equal the float64 sums exactly."""
    torch.manual_seed(top)
    s = torch.randint(-top, top + 1, (rows, 37)).float()
    total, square = torch.zeros(37, dtype=torch.float64), torch.zeros(37, dtype=torch.float64)
    _add_column_sums(s, total, square)
    d = s.double()
    assert torch.equal(total, d.sum(dim=0)) and torch.equal(square, (d * d).sum(dim=0))


def test_ternarize_under_autocast_gives_its_dtype_and_float32_gradients():
    torch.manual_seed(2)
    w = torch.randn(40, 30, requires_grad=True)
    memo = _QuantileCut()
    plain = ternarize(w, 0.9, False, memo)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = ternarize(w, 0.9, False, memo)
    assert fast.dtype == torch.bfloat16 and torch.equal(fast.float(), plain)
    fast.float().sum().backward()
    assert w.grad.dtype == torch.float32 and torch.equal(w.grad, torch.ones_like(w))


def test_int8_evaluation_equals_float_evaluation():
    torch.manual_seed(1)
    model = TernaryMLP(64, (32, 16), 10, 0.7).eval()
    x = torch.randint(0, 16, (300, 64)).float()
    with torch.no_grad():
        assert torch.equal(model(x.to(torch.int8)), model(x))


@pytest.mark.parametrize("dataset, bits", [("mnist", 1), ("mnist", 2), ("mnist", 8),
                                           ("digits", 4)])
def test_byte_table_quantization_is_golden_quantize(dataset, bits):
    spec = make_input_spec(dataset, bits)
    top = 17 if dataset == "digits" else 256
    rows = (1 << 16) // spec.count + 1  # enough for the table (below 65,536 values: golden's)
    x = np.random.default_rng(0).integers(0, top, (rows, spec.count)).astype(np.float32)
    assert np.array_equal(_quantize(spec, x), golden.quantize(spec, x))
    fast = _quantize(spec, x, np.float32)
    assert fast.dtype == np.float32 and np.array_equal(fast, golden.quantize(spec, x))


@pytest.mark.parametrize("shape, sparsity, per_row", [
    ((64, 200), 0.99, False), ((64, 200), 0.99, True), ((30, 40), 0.5, False),
    ((30, 40), 0.5, True)])
def test_ternary_product_is_the_dense_product_with_its_gradients(shape, sparsity, per_row):
    """The training product (sparse where few weights are kept, as at 99% zeros; dense at 50%)
    gives the dense product's integer sums and the same straight-through gradients, to the
    latent weights and to the inputs."""
    torch.manual_seed(5)
    w = torch.randn(*shape, requires_grad=True)
    x = torch.randint(0, 4, (17, shape[1])).float().requires_grad_()
    g = torch.randn(17, shape[0])
    fast = ternary_product(x, w, sparsity, per_row, _QuantileCut())
    fast.backward(g)
    fast_grads = w.grad.clone(), x.grad.clone()
    w.grad = x.grad = None
    plain = x @ ternarize(w, sparsity, per_row).t()
    plain.backward(g)
    assert torch.equal(fast, plain)
    assert torch.allclose(fast_grads[0], w.grad) and torch.allclose(fast_grads[1], x.grad)
    kept, signs = ternary_support(w, sparsity, per_row)
    assert (len(kept) <= SPARSE_SHARE * w.numel()) == (sparsity > 0.9)


def test_balanced_cut_from_numpy_is_the_kthvalue_cut():
    torch.manual_seed(6)
    w = torch.round(torch.randn(50, 80) * 4) / 4  # ties
    assert torch.equal(ternarize(w, 0.9, True, _QuantileCut()), ternarize(w, 0.9, True))


@pytest.mark.parametrize("hidden, sparsity", [((48,), 0.95), ((48,), 0.5), ((24, 16), 0.9)])
def test_recalibration_from_input_moments_is_the_pass(hidden, sparsity):
    """Batch-norm statistics from the inputs' column sums and Gram matrix (int8 and float32
    inputs) are exactly those of the pass over the inputs."""
    torch.manual_seed(7)
    x = torch.randint(0, 16, (1000, 64)).float()  # the pass is cheaper at 50% zeros
    model = TernaryMLP(64, hidden, 10, sparsity)
    stats = []
    for inputs, moments in ((x, None), (x, _InputMoments(x)),
                            (x.to(torch.int8), _InputMoments(x.to(torch.int8)))):
        _recalibrate(model, inputs, batch=300, moments=moments)
        stats.append([(layer.bn.running_mean.clone(), layer.bn.running_var.clone())
                      for layer in model.hidden])
    for other in stats[1:]:
        for (mean, var), (mean0, var0) in zip(other, stats[0]):
            assert torch.equal(mean, mean0) and torch.equal(var, var0)
    moments = _InputMoments(x)
    assert (moments.column_sums(model.hidden[0].linear) is not None) == (sparsity >= 0.9)
    model.set_continuous_eval(True)  # float weights: no exact sums from moments
    assert moments.column_sums(model.hidden[0].linear) is None


@pytest.mark.parametrize("features, neurons", [(1, 1), (1, 2), (1, 10), (2, 1), (64, 10)])
def test_int8_products_of_thin_matrices(features, neurons):
    """``torch._int_mm`` multiplied garbage for a transposed (n, 1) operand (its row stride 1):
    the int8 evaluation of a one-feature dataset and its Gram matrix are exact."""
    torch.manual_seed(features)
    x = torch.randint(0, 16, (500, features), dtype=torch.int8)
    moments = _InputMoments(x)
    d = x.double()
    gram, sums = moments.gram_and_sums
    assert torch.equal(gram, d.t() @ d) and torch.equal(sums, d.sum(dim=0))
    model = TernaryMLP(features, (neurons,), 3, 0.0).eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x.float()))
