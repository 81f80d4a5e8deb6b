"""Deep nets (issue 19): 8 and more hidden layers train with the triangle-shaped straight-through
gradient, and export exactly; the triangle's gradient is what its docstring says."""

import numpy as np
import pytest
import torch

from lwc.compiler import golden
from lwc.errors import UsageError
from lwc.train import TrainConfig
from lwc.train.model import step_ste

from helpers import torch_predictions


def test_triangle_step_passes_more_gradient_near_the_threshold():
    y = torch.tensor([-4.0, -3.0, -1.5, -0.75, 0.0, 0.75, 1.5, 3.0, 6.0], requires_grad=True)
    a = step_ste(y, 3.0, "triangle")
    assert a.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]  # the same step as the box's
    a.sum().backward()
    assert y.grad.tolist() == [0, 0, 0.5, 0.75, 1, 0.75, 0.5, 0, 0]


def test_step_shape_is_checked():
    with pytest.raises(ValueError, match="shape must be one of box, triangle, not 'round'"):
        step_ste(torch.zeros(2), 1.0, "round")
    with pytest.raises(UsageError, match="^ste_shape must be one of box, triangle, not 'x'$"):
        TrainConfig(ste_shape="x").check()


@pytest.mark.train
def test_eight_hidden_layers_train_and_export_exactly():
    """Eight hidden layers of 64 on digits, 20 epochs. Measured, seeds 0 / 1 / 2: 94.2 / 94.2 /
    93.6% test accuracy with the triangle of half-width 3, against 90.0 / 91.6 / 90.7% with the
    default box of half-width 1 (chance 10%); the test asks for 90%."""
    from lwc.train import train

    config = TrainConfig(dataset="digits", method="ste", hidden=(64,) * 8, epochs=20, seed=0,
                         ste_shape="triangle", ste_window=3.0)
    result = train(config)
    assert [layer.size for layer in result.net.layers] == [64] * 8 + [10]
    assert result.test_accuracy >= 0.90, result.test_accuracy
    x_int = golden.quantize(result.net.input, result.dataset.x_test)
    trace = golden.evaluate(result.net, x_int)
    # Every test sample: the golden model's integer scores are the PyTorch model's.
    with torch.no_grad():
        scores = result.model.integer_scores(torch.from_numpy(x_int.astype(np.float32)))
    assert np.array_equal(trace.scores, scores.numpy())
    assert np.array_equal(trace.predictions, torch_predictions(result.model, x_int))
    assert float(np.mean(trace.predictions == result.dataset.y_test)) == result.test_accuracy
