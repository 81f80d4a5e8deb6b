"""A ternary MLP whose eval mode computes exactly the integer network it exports to.

Training mode uses straight-through estimators (STE); eval mode computes, in float32 on exact
integers, the same function as the exported :class:`~lwc.compiler.ir.Network`:

* weights are ternary: ``sign(w)`` where ``|w|`` is above a per-layer threshold, else 0. The
  threshold is the ``sparsity`` quantile of ``|w|`` over the layer, so the layer has (up to ties)
  exactly that share of zero weights;
* a hidden layer's sum ``s = W_t x`` is an exact integer (inputs are integers, ``|s| < 2**24``);
  training passes it through batch norm and a binary step ``bn(s) >= 0``. Batch norm with
  ``gamma != 0`` folds into one float32 threshold per neuron, ``thr = mu - beta * sigma / gamma``:
  ``a = s >= thr`` for ``gamma > 0`` and ``a = s <= thr`` for ``gamma < 0``. Eval mode compares
  ``s`` with that same float32 ``thr``, so ``ceil`` / ``floor`` of it at export is exact;
* the output layer computes ``alpha * (W_t a + round(b))`` with a learned ``alpha > 0``, so its
  argmax is the argmax of the integer scores ``W_t a + round(b)``.
"""

import math

import torch
from torch import nn

__all__ = ["ternarize", "step_ste", "round_ste", "TernaryLinear", "StepLayer", "OutputLayer",
           "TernaryMLP"]


class _Ternarize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, sparsity):
        n = w.numel()
        k = int(round(sparsity * n))
        if k <= 0:
            return torch.sign(w)
        if k >= n:
            return torch.zeros_like(w)
        mag = w.detach().abs()
        cut = mag.flatten().kthvalue(k).values
        return torch.sign(w) * (mag > cut).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def ternarize(w, sparsity):
    """``sign(w)`` with the ``round(sparsity * w.numel())`` smallest ``|w|`` set to 0 (ties may
    zero a few more); the gradient passes straight through to ``w``."""
    return _Ternarize.apply(w, sparsity)


class _StepSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y):
        ctx.save_for_backward(y)
        return (y >= 0).to(y.dtype)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # hardtanh-style: pass the gradient where the pre-activation is within [-1, 1].
        return grad * (y.abs() <= 1).to(grad.dtype)


def step_ste(y):
    """``1.0 if y >= 0 else 0.0`` with a straight-through (hardtanh) gradient."""
    return _StepSTE.apply(y)


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def round_ste(x):
    """``torch.round(x)`` (half to even) with a straight-through gradient."""
    return _RoundSTE.apply(x)


class TernaryLinear(nn.Module):
    """A bias-free linear map with latent float weights, ternarized on every forward pass.

    ``sparsity`` is the target share of zero weights (the ``|w|`` quantile cut); it may be changed
    between steps (e.g. ramped up during training).
    """

    def __init__(self, in_features, out_features, sparsity):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.sparsity = float(sparsity)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.uniform_(self.weight, -1.0, 1.0)

    def ternary_weight(self):
        """The ternary weight matrix (``float``, values in {-1, 0, +1})."""
        return ternarize(self.weight, self.sparsity)

    def forward(self, x):
        return x @ self.ternary_weight().t()

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, sparsity={self.sparsity}"


class StepLayer(nn.Module):
    """Hidden layer: ternary sum, batch norm, binary step (see the module docstring).

    Outputs 0.0 / 1.0. In eval mode it computes the folded integer form exactly.
    """

    def __init__(self, in_features, out_features, sparsity):
        super().__init__()
        self.linear = TernaryLinear(in_features, out_features, sparsity)
        self.bn = nn.BatchNorm1d(out_features)

    def folded(self):
        """``(thr, direction)``: float32 thresholds and ``+1`` (``gamma > 0``: ``s >= thr``),
        ``-1`` (``gamma < 0``: ``s <= thr``) or ``0`` (``gamma == 0``: constant
        ``beta >= 0``; ``thr`` is then meaningless).

        Computed from the running statistics; this one function defines eval mode and export.
        """
        bn = self.bn
        with torch.no_grad():
            gamma = bn.weight.detach().float()
            beta = bn.bias.detach().float()
            mu = bn.running_mean.detach().float()
            sigma = torch.sqrt(bn.running_var.detach().float() + bn.eps)
            safe = torch.where(gamma == 0, torch.ones_like(gamma), gamma)
            thr = mu - beta * sigma / safe
            direction = torch.sign(gamma).to(torch.int64)
        return thr, direction

    def forward(self, x):
        s = self.linear(x)
        if self.training:
            return step_ste(self.bn(s))
        thr, direction = self.folded()
        constant = (self.bn.bias.detach() >= 0).to(s.dtype).expand_as(s)
        return torch.where(direction > 0, (s >= thr).to(s.dtype),
                           torch.where(direction < 0, (s <= thr).to(s.dtype), constant))


class OutputLayer(nn.Module):
    """Output layer: ``alpha * (W_t a + round(b))``, ``alpha = exp(log_alpha) > 0``."""

    def __init__(self, in_features, out_features, sparsity):
        super().__init__()
        self.linear = TernaryLinear(in_features, out_features, sparsity)
        self.bias = nn.Parameter(torch.zeros(out_features))
        # Integer scores grow like sqrt(nonzero fan-in); start alpha so logits are of order 1.
        fan_in = max(1.0, (1.0 - float(sparsity)) * in_features)
        self.log_alpha = nn.Parameter(torch.tensor(-0.5 * math.log(fan_in)))

    def integer_bias(self):
        return round_ste(self.bias)

    def integer_scores(self, a):
        """``W_t a + round(b)``: exact integer-valued float32 scores."""
        return self.linear(a) + self.integer_bias()

    def forward(self, a):
        return torch.exp(self.log_alpha) * self.integer_scores(a)


class TernaryMLP(nn.Module):
    """``inputs -> hidden[0] -> ... -> outputs`` with binary-step hidden layers.

    ``sparsity`` is one target share of zero weights for every layer, or a sequence with one per
    layer (hidden layers, then the output layer). The forward pass takes integer-valued inputs
    (the quantized features) as float32 and returns logits.
    """

    def __init__(self, inputs, hidden, outputs, sparsity):
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        sizes = (int(inputs), *hidden, int(outputs))
        n_layers = len(sizes) - 1
        if isinstance(sparsity, (int, float)):
            sparsity = (float(sparsity),) * n_layers
        sparsity = tuple(float(v) for v in sparsity)
        assert len(sparsity) == n_layers, "one sparsity per layer"
        self.sizes = sizes
        self.hidden = nn.ModuleList(
            StepLayer(n_in, n_out, sp)
            for n_in, n_out, sp in zip(sizes[:-2], sizes[1:-1], sparsity[:-1])
        )
        self.output = OutputLayer(sizes[-2], sizes[-1], sparsity[-1])

    def ternary_layers(self):
        """The :class:`TernaryLinear` of every layer, input to output."""
        return [layer.linear for layer in self.hidden] + [self.output.linear]

    def set_sparsity(self, values):
        for linear, value in zip(self.ternary_layers(), values):
            linear.sparsity = float(value)

    def hidden_activations(self, x):
        """The outputs of every hidden layer, input to output."""
        outs = []
        for layer in self.hidden:
            x = layer(x)
            outs.append(x)
        return outs

    def integer_scores(self, x):
        """Exact integer scores (float32); meaningful in eval mode."""
        for layer in self.hidden:
            x = layer(x)
        return self.output.integer_scores(x)

    def forward(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.output(x)

    def zero_fraction(self):
        """Share of zero weights over all layers (of the current ternary weights)."""
        with torch.no_grad():
            zeros = total = 0
            for linear in self.ternary_layers():
                w = linear.ternary_weight()
                zeros += int((w == 0).sum())
                total += w.numel()
        return zeros / max(total, 1)
