"""The shortcuts that make training fast compute exactly what the plain computations do."""

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.train.inputs import make_input_spec
from lwc.train.loop import _add_column_sums, _quantize
from lwc.train.model import TernaryMLP, _QuantileCut, ternarize


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
