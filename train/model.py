"""A ternary MLP whose eval mode computes exactly the integer network it exports to.

Eval mode computes, in float32 on exact integers, the same function as the exported
:class:`~lwc.compiler.ir.Network`:

* every layer's weights are ternary, ``ternary_weight()`` of the layer's weight module (below);
* a hidden layer's sum ``s = W_t x`` is an exact integer (inputs are integers, ``|s| < 2**24``);
  training passes it through batch norm and a binary step ``bn(s) >= 0``. Batch norm with
  ``gamma != 0`` folds into one float32 threshold per neuron, ``thr = mu - beta * sigma / gamma``:
  ``a = s >= thr`` for ``gamma > 0`` and ``a = s <= thr`` for ``gamma < 0``. Eval mode compares
  ``s`` with that same float32 ``thr``, so ``ceil`` / ``floor`` of it at export is exact;
* the output layer computes ``alpha * (W_t a + round(b))`` with a learned ``alpha > 0``, so its
  argmax is the argmax of the integer scores ``W_t a + round(b)``.

Training mode multiplies by ``train_weight()`` instead, and the binary step passes gradients
straight through where the normalised sum is within ``+-ste_window`` (a hardtanh-shaped STE;
``ste_shape="triangle"`` passes more of it the closer the sum is to the threshold).
Batch norm in front of every step keeps each layer's sums at unit scale whatever the depth and the
weights' scale, which is what lets 4 and more hidden layers train (the vanishing gradients of
deep ternary nets come from sums far outside the STE window); a wider window (2..3) helps
deeper nets further.

Weight modules (one per layer; ``weights=`` of :class:`TernaryMLP`):

``quantile`` (:class:`TernaryLinear`)
    latent floats; ``sign(w)`` where ``|w|`` is above the layer's ``sparsity`` quantile, else 0,
    with a straight-through gradient, in training and eval alike.
``latent`` (:class:`LatentTernary`)
    the Lightweight-Neural-Network weights: continuous latent ``w`` used as they are in training;
    a per-layer step ``delta`` maps them to ``clamp(round(w / delta), -1, 1)``; weights can be
    *frozen* ("fallen into the black hole"): then they are exactly ``code * delta`` and receive no
    gradient.
``masked`` (:class:`MaskedTernary`)
    latent floats times a 0/1 mask (pruned weights never come back); ``float`` phase uses
    ``mask * w``, the ``sign`` phase ``mask * sign(w)`` (straight-through); exported as
    ``mask * sign(w)``.
``distribution`` (:class:`DistributionTernary`)
    a categorical distribution over {-1, 0, +1} per weight (three logits); trained through the
    probabilistic forward pass :meth:`TernaryMLP.forward_distribution`; exported as the most
    probable value.
``paths`` (:class:`PathWeights`)
    only the connections chosen before training (:mod:`lwc.train.paths`): every neuron reads a
    fixed set of ``fan_in`` inputs with latent weights; ``sign(w)`` with a straight-through
    gradient in training and eval alike. Training and evaluation touch only those connections
    (gather / sparse products), so their time and memory follow the number of weights.
``sampled`` (:class:`SampledWeights`)
    real-valued latent weights, trained as they are; exported as *integer* weights drawn from
    them by importance sampling over ``|w|`` (:func:`sample_counts`): a weight drawn ``k`` times
    becomes ``sign(w) * k``. The only weight module whose exported weights go beyond +-1.

Any weight module can be *fixed* (:meth:`TernaryWeights.fix`): training then uses the exported
ternary weights as constants, and only batch norm, the output bias and ``alpha`` learn (the
threshold fine-tuning that ends several methods).
"""

import contextlib
import math
import warnings

import numpy as np
import torch
from torch import nn

from lwc import semantics

from .config import STE_SHAPES

__all__ = ["ternarize", "ternary_support", "ternary_product", "SPARSE_SHARE", "csr_quietly",
           "int_mm",
           "step_ste", "STE_SHAPES", "round_ste", "sample_counts", "TernaryWeights",
           "TernaryLinear", "LatentTernary", "MaskedTernary", "DistributionTernary",
           "SampledWeights", "PathWeights", "MAX_WEIGHT", "WEIGHT_KINDS", "StepLayer",
           "OutputLayer",
           "TernaryMLP"]

#: The largest weight magnitude an exported net may have (:data:`lwc.semantics.MAX_WEIGHT`).
MAX_WEIGHT = semantics.MAX_WEIGHT


class _QuantileCut:
    """The exact ``k``-th smallest ``|w|`` of a weight matrix that changes a little per step.

    On the CPU, in NumPy: its ``partition`` and compare-and-count over a 784x512 layer are 5-10
    times faster than :meth:`torch.Tensor.kthvalue` and torch's comparison, which took most of
    a training step. Where at most :attr:`FEW` of the weights are kept, it finds the cut from
    *candidates*, the indices of the ``|w|`` above ``1 - MARGIN`` times the last cut: the cut
    ``c`` that leaves ``m = n - k`` candidates above it is exact when exactly ``m`` weights of
    the whole layer have ``|w| > c`` (one count; ``|w| > c`` is then the mask of the ``k``-th
    smallest value too, ties included). Otherwise (weights from outside rose past it, or ties),
    and where more weights are kept (the candidates would be most of the layer), the cut comes
    from the whole layer.
    """

    MARGIN = 1 / 8
    FEW = 1 / 32

    def __init__(self):
        self.key = None
        self.index = None

    def __call__(self, mag, k):
        """``(cut, kept)`` for the 1-D float32 NumPy ``mag``, ``1 <= k < len(mag)``: the
        ``k``-th smallest value and the (ascending) indices of the ``mag > cut``."""
        n = mag.size
        m = n - k
        if self.key == (k, n) and len(self.index) > m:
            values = mag[self.index]
            j = len(values) - m - 1
            cut = np.partition(values, j)[j]
            kept = self.index[values > cut]
            if len(kept) == m and np.count_nonzero(mag > cut) == m:
                return cut, kept
        cut = np.partition(mag, k - 1)[k - 1]
        if m <= self.FEW * n:
            self.key = (k, n)
            self.index = np.flatnonzero(mag > cut * np.float32(1 - self.MARGIN))
        return cut, np.flatnonzero(mag > cut)


def _fast_cut(w):
    """Whether the ternary support of ``w`` is found in NumPy (a float32 CPU tensor)."""
    return w.device.type == "cpu" and w.dtype == torch.float32


def _cut_size(w, sparsity, per_row):
    """``(n, k)``: a cut zeroes the ``k = round(sparsity * n)`` smallest ``|w|`` of ``n``, the
    whole layer's or (``per_row``) every row's."""
    n = w.shape[-1] if per_row else w.numel()
    return n, int(round(sparsity * n))


def ternary_support(w, sparsity, per_row=False, memo=None):
    """The nonzero weights of ``ternarize(w, sparsity, per_row)``, for a float32 CPU ``w``
    with ``0 < round(sparsity * n) < n``: ``(kept, signs)``, the ascending flat indices of the
    kept weights (int64) and their signs (float32, +-1), as NumPy arrays. ``memo`` (a
    :class:`_QuantileCut`) finds a whole-layer cut from the last one's candidates."""
    wn = w.detach().numpy()
    mag = np.abs(wn)
    k = _cut_size(w, sparsity, per_row)[1]
    if per_row:
        mag = mag.reshape(-1, w.shape[-1])
        cut = np.partition(mag, k - 1, axis=1)[:, k - 1:k]
        kept = np.flatnonzero(mag > cut)
    else:
        mag = mag.reshape(-1)
        kept = (memo or _QuantileCut())(mag, k)[1]
    return kept, np.sign(wn.reshape(-1)[kept])


def _dense(kept, signs, shape, dtype=torch.float32):
    out = np.zeros(math.prod(shape), dtype=np.float32)
    out[kept] = signs
    return torch.from_numpy(out).to(dtype).view(shape)


def _fan_in_mask(w, fan_in):
    """Where ``|w|`` is among the ``fan_in`` largest of its row (strictly above the row's
    ``n - fan_in``-th smallest, so ties may keep fewer); ``None`` when a row has no more than
    ``fan_in`` weights."""
    n = w.shape[-1]
    if fan_in is None or fan_in >= n:
        return None
    mag = w.detach().abs()
    return mag > mag.kthvalue(n - fan_in, dim=-1, keepdim=True).values


class _Ternarize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, sparsity, per_row, memo, fan_in=None):
        # Under autocast the weights come out in its dtype (-1, 0, +1 are exact in any): the
        # product that follows need not cast them again.
        dtype = (torch.get_autocast_dtype(w.device.type)
                 if torch.is_autocast_enabled(w.device.type) else w.dtype)
        ctx.dtype = w.dtype
        out = _Ternarize.cut(w, sparsity, per_row, memo, dtype)
        mask = _fan_in_mask(w, fan_in)
        return out if mask is None else torch.where(mask, out, torch.zeros_like(out))

    @staticmethod
    def cut(w, sparsity, per_row, memo, dtype):
        n, k = _cut_size(w, sparsity, per_row)
        if k <= 0:
            return torch.sign(w).to(dtype)
        if k >= n:
            return torch.zeros_like(w, dtype=dtype)
        if memo is not None and _fast_cut(w):
            # On a GPU the candidates' check would be a host sync every step, and its own
            # selection is fast; without memo this is the plain computation the tests compare
            # with.
            return _dense(*ternary_support(w, sparsity, per_row, memo), w.shape, dtype)
        mag = w.detach().abs()
        if per_row:
            cut = mag.kthvalue(k, dim=-1, keepdim=True).values
        else:
            cut = mag.flatten().kthvalue(k).values
        return torch.where(mag > cut, torch.sign(w), 0.0).to(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.dtype), None, None, None, None


def ternarize(w, sparsity, per_row=False, memo=None, fan_in=None):
    """``sign(w)`` with the ``round(sparsity * w.numel())`` smallest ``|w|`` set to 0 (ties may
    zero a few more); with ``per_row``, the ``round(sparsity * w.shape[-1])`` smallest of every
    row (every neuron keeps the same number of inputs). The gradient passes straight through to
    ``w``. ``memo``, a :class:`_QuantileCut` kept between calls on the same (slowly changing)
    ``w``, finds the cut faster (on the CPU, with NumPy); the result is the same. With
    ``fan_in``, every row then keeps at most its ``fan_in`` largest ``|w|`` (``--max-fan-in``)."""
    return _Ternarize.apply(w, sparsity, bool(per_row), memo, fan_in)


# A layer whose ternary weights are at most this share nonzero multiplies them as a sparse
# matrix in training (CPU): on a 784x512 layer at batch 256 the CSR product (with finding the
# cut) took 0.99 ms at 1.15% nonzero against the dense 1.71 ms, and about as long as the dense
# one at 10-20%.
SPARSE_SHARE = 1 / 10


@contextlib.contextmanager
def csr_quietly():
    """A context in which torch's warning that sparse CSR tensors are in beta is not shown (the
    products used here are tested against the dense ones)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
        yield


class _SparseTernaryProduct(torch.autograd.Function):
    """``x @ W.t()`` for the ternary ``W`` given by its support ``(kept, signs)`` (CPU): the
    forward pass through a sparse CSR matrix (the sums are integers, exact in any order, so it
    equals the dense product), the gradient straight through to the latent weights ``w``
    (dense, ``g.t() @ x``, as :func:`ternarize` passes it) and to ``x`` (``g @ W``)."""

    @staticmethod
    def forward(ctx, x, w, kept, signs):
        n_out, n_in = w.shape
        crow = np.zeros(n_out + 1, dtype=np.int64)
        np.cumsum(np.bincount(kept // n_in, minlength=n_out), out=crow[1:])
        with csr_quietly():
            matrix = torch.sparse_csr_tensor(
                torch.from_numpy(crow), torch.from_numpy(kept % n_in), torch.from_numpy(signs),
                (n_out, n_in), check_invariants=False)
        ctx.save_for_backward(x)
        ctx.support = (kept, signs, tuple(w.shape))
        return torch.sparse.mm(matrix, x.t()).t().contiguous()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = grad @ _dense(*ctx.support)
        if ctx.needs_input_grad[1]:
            grad_w = grad.t() @ x
        return grad_x, grad_w, None, None


def ternary_product(x, w, sparsity, per_row=False, memo=None, fan_in=None):
    """``x @ ternarize(w, sparsity, per_row, memo, fan_in).t()`` with the same straight-through
    gradient; on the CPU, in float32 outside autocast, a layer that keeps at most
    :data:`SPARSE_SHARE` of its weights multiplies sparsely (:class:`_SparseTernaryProduct`)."""
    n, k = _cut_size(w, sparsity, per_row)
    keep = (n - k) * (w.numel() // n)  # at most this many nonzero weights (ties zero more)
    if (0 < k < n and keep <= SPARSE_SHARE * w.numel() and _fast_cut(w)
            and x.dtype == torch.float32 and x.dim() == 2
            and not torch.is_autocast_enabled("cpu")):
        kept, signs = ternary_support(w, sparsity, per_row, memo)
        mask = _fan_in_mask(w, fan_in)
        if mask is not None:
            inside = mask.reshape(-1).numpy()[kept]
            kept, signs = kept[inside], signs[inside]
        return _SparseTernaryProduct.apply(x, w, kept, signs)
    return torch.nn.functional.linear(x, ternarize(w, sparsity, per_row, memo, fan_in))


def _strided(t):
    """``t`` as a new tensor with row-major strides. ``torch._int_mm`` reads a matrix's row
    stride even where a dimension is 1, and a transposed ``(n, 1)`` or sliced tensor can carry
    a row stride of 1 there: it then multiplied garbage (a one-feature dataset's weights)."""
    if t.stride() == (t.shape[1], 1):
        return t
    return torch.empty(t.shape, dtype=t.dtype, device=t.device).copy_(t)


def int_mm(a, b):
    """``torch._int_mm(a, b)`` (int8 in, exact int32 sums out) on operands with row-major
    strides."""
    return torch._int_mm(_strided(a), _strided(b))


class _StepSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, window, shape):
        ctx.save_for_backward(y)
        ctx.window = window
        ctx.shape = shape
        return (y >= 0).to(y.dtype)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        if ctx.shape == "box":
            # hardtanh-style: pass the gradient where the pre-activation is within the window.
            return grad * (y.abs() <= ctx.window).to(grad.dtype), None, None
        # triangle: more of it the closer the pre-activation is to the threshold.
        return grad * (1 - y.abs() / ctx.window).clamp_min(0).to(grad.dtype), None, None


def step_ste(y, window=1.0, shape="box"):
    """``1.0 if y >= 0 else 0.0`` with a straight-through gradient: times 1 where ``|y| <=
    window`` (``shape="box"``), or times ``max(0, 1 - |y| / window)`` (``"triangle"``, the
    derivative of a piecewise-quadratic step; Bi-Real Net's ApproxSign)."""
    if shape not in STE_SHAPES:
        raise ValueError(f"shape must be one of {', '.join(STE_SHAPES)}, not {shape!r}")
    return _StepSTE.apply(y, float(window), shape)


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


class TernaryWeights(nn.Module):
    """Base of the weight modules: a bias-free linear map with ternary weights in eval mode.

    Subclasses define :meth:`ternary_weight` (the exported weights: exactly -1.0, 0.0 or +1.0,
    or integers of magnitude up to :data:`MAX_WEIGHT` for :class:`SampledWeights`),
    :meth:`train_weight` (what training multiplies by) and :meth:`latent` (the continuous tensor
    that regularisers such as group lasso act on). ``continuous_eval`` makes eval mode use
    :meth:`train_weight` too (to measure the not-yet-discretized net).
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.fixed = False
        self.continuous_eval = False

    def ternary_weight(self):
        raise NotImplementedError

    def train_weight(self):
        raise NotImplementedError

    def latent(self):
        raise NotImplementedError

    def discrete_fraction(self):
        """Share of weights that are already discrete (exactly what they will export as)."""
        return 1.0 if self.fixed else 0.0

    def zero_count(self):
        """``(zeros, total)``: the zero weights of :meth:`ternary_weight` and all its weights."""
        w = self.ternary_weight()
        return int((w == 0).sum()), w.numel()

    def fix(self):
        """From now on, train with the exported ternary weights as constants."""
        self.fixed = True

    def forward(self, x):
        exact = False
        if self.fixed:
            w = self.ternary_weight().detach()
            exact = not self.training
        elif self.training or self.continuous_eval:
            w = self.train_weight()
        else:
            w = self.ternary_weight()
            exact = True
        if x.dtype == torch.int8:
            # Integer inputs (the evaluation passes of lwc.train.loop on the CPU): with the
            # exported integer weights, an int8 product summed in int32 is exact and several
            # times faster than float32.
            if exact:
                return int_mm(x, w.to(torch.int8).t()).to(torch.float32)
            x = x.to(torch.float32)
        # linear, not x @ w.t(): under autocast it casts w itself, not a strided transpose.
        return torch.nn.functional.linear(x, w)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}"


class TernaryLinear(TernaryWeights):
    """Latent float weights ternarized by a quantile cut on every forward pass (STE).

    ``sparsity`` is the target share of zero weights (the ``|w|`` quantile cut); it may be changed
    between steps (e.g. ramped up during training). ``balanced`` cuts every neuron's weights at
    their own quantile, so every neuron keeps the same number of inputs (none dies of having only
    small weights, which at high sparsity costs a per-layer cut many neurons). ``fan_in`` (or
    ``None``) is the most nonzero weights a neuron keeps after the cut: its largest ``|w|``.
    """

    def __init__(self, in_features, out_features, sparsity, balanced=False, fan_in=None):
        super().__init__(in_features, out_features)
        self.sparsity = float(sparsity)
        self.balanced = bool(balanced)
        self.fan_in = None if fan_in is None else int(fan_in)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.uniform_(self.weight, -1.0, 1.0)
        self._memo = _QuantileCut()  # finds the quantile cut fast (see ternarize)

    def ternary_weight(self):
        """The ternary weight matrix (``float``, values in {-1, 0, +1})."""
        return ternarize(self.weight, self.sparsity, self.balanced, self._memo, self.fan_in)

    def train_weight(self):
        return ternarize(self.weight, self.sparsity, self.balanced, self._memo, self.fan_in)

    def latent(self):
        return self.weight

    def discrete_fraction(self):
        return 1.0  # the forward pass is always ternary

    def forward(self, x):
        if self.training and not self.fixed:
            # The same product as the base class's, sparse where that is faster.
            return ternary_product(x, self.weight, self.sparsity, self.balanced, self._memo,
                                   self.fan_in)
        return super().forward(x)

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}, sparsity={self.sparsity}"
                + (", balanced" if self.balanced else "")
                + (f", fan_in={self.fan_in}" if self.fan_in is not None else ""))


# Free latent weights are clipped to [-_CLIP, _CLIP]: beyond 1.5 the nearest value is +-1 anyway,
# and clipping at 1 would put every large weight exactly on +-1, into the black hole at once.
_CLIP = 1.5


class LatentTernary(TernaryWeights):
    """Lightweight-Neural-Network weights: continuous latent ``w`` and frozen ``code`` s (see the
    module docstring). The discrete values are -1, 0, +1 in the latent weights' own units:
    :meth:`rescale` sets the units (the step ``delta`` of the module docstring is 1 after it).
    Buffers (``frozen``, ``code``) are part of the state dict, so a snapshot rolls the
    discretization back too."""

    def __init__(self, in_features, out_features, sparsity=0.0):
        super().__init__(in_features, out_features)
        self.sparsity = float(sparsity)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.uniform_(self.weight, -1.0, 1.0)
        self.register_buffer("frozen", torch.zeros(out_features, in_features, dtype=torch.bool))
        self.register_buffer("code", torch.zeros(out_features, in_features))
        self.noise = 0.0

    def nearest_code(self):
        """The code each weight is nearest: frozen codes, else ``clamp(round(w), -1, 1)``."""
        free = torch.clamp(torch.round(self.weight.detach()), -1, 1)
        return torch.where(self.frozen, self.code, free)

    def ternary_weight(self):
        return self.nearest_code()

    def train_weight(self):
        w = self.weight
        if self.noise > 0 and self.training:
            # Quantization noise: a random share of the free weights is rounded in this pass
            # (straight-through), so the net learns to work with its own rounding.
            rounded = w + (torch.clamp(torch.round(w), -1, 1) - w).detach()
            w = torch.where(torch.rand_like(w) < self.noise, rounded, w)
        return torch.where(self.frozen, self.code, w)

    def latent(self):
        return torch.where(self.frozen, self.code, self.weight)

    def discrete_fraction(self):
        return 1.0 if self.fixed else float(self.frozen.float().mean())

    def distance(self):
        """``|w - nearest discrete value|`` of every weight (0 for frozen weights)."""
        w = self.weight.detach()
        d = (w - torch.clamp(torch.round(w), -1, 1)).abs()
        return torch.where(self.frozen, torch.zeros_like(d), d)

    @torch.no_grad()
    def rescale(self, zero_share):
        """Scale the free weights so that, counting frozen zeros, ``zero_share`` of the layer's
        weights round to 0 (the free weights with the smallest ``|w|`` do), then clip them to
        ``[-1.5, 1.5]``. Returns the factor the free weights were divided by."""
        free = self.weight[~self.frozen].abs()
        if free.numel() == 0:
            return 1.0
        frozen_zeros = int(((self.code == 0) & self.frozen).sum())
        k = int(round(zero_share * self.weight.numel())) - frozen_zeros
        k = min(max(k, 0), free.numel())
        mags = free.sort().values
        if k == 0:
            half = mags[0] * 0.5
        elif k == free.numel():
            half = mags[-1] * 1.5
        else:
            half = 0.5 * (mags[k - 1] + mags[k])
        factor = float(2 * half) if half > 0 else 1.0
        self.weight.copy_(torch.where(self.frozen, self.weight,
                                      (self.weight / factor).clamp(-_CLIP, _CLIP)))
        return factor

    @torch.no_grad()
    def pull(self, rate):
        """One steepest-descent step on ``sum (w - nearest(w))**2 / 2`` for the free weights:
        move each a share ``rate`` of the way to its nearest discrete value (after clipping to
        ``[-1.5, 1.5]``)."""
        w = self.weight.clamp(-_CLIP, _CLIP)
        moved = w - rate * (w - torch.clamp(torch.round(w), -1, 1))
        self.weight.copy_(torch.where(self.frozen, self.weight, moved))

    @torch.no_grad()
    def snap(self, radius):
        """Freeze every free weight within ``radius`` of a discrete value ("the black hole");
        returns how many fell in."""
        caught = (~self.frozen) & (self.distance() <= radius)
        self.code.copy_(torch.where(caught, self.nearest_code(), self.code))
        self.frozen |= caught
        return int(caught.sum())

    @torch.no_grad()
    def round_all(self):
        """Freeze every weight at its nearest code."""
        self.code.copy_(self.nearest_code())
        self.frozen.fill_(True)


class MaskedTernary(TernaryWeights):
    """Latent floats times a mask; ``signed`` switches training from ``mask * w`` to
    ``mask * sign(w)`` (straight-through)."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.uniform_(self.weight, -1.0, 1.0)
        self.register_buffer("mask", torch.ones(out_features, in_features, dtype=torch.bool))
        self.register_buffer("std0", torch.tensor(-1.0))
        self.signed = False

    def ternary_weight(self):
        return ternarize(self.weight, 0.0) * self.mask

    def train_weight(self):
        if self.signed:
            return ternarize(self.weight, 0.0) * self.mask
        return self.weight * self.mask

    def latent(self):
        return self.weight * self.mask

    def discrete_fraction(self):
        if self.fixed or self.signed:
            return 1.0
        return 1.0 - float(self.mask.float().mean())  # pruned weights are exactly 0

    @torch.no_grad()
    def prune(self, quality):
        """Mask every weight with ``|w| < quality * std``, ``std`` the standard deviation of the
        layer's weights at the first call (kept, as Distiller's sensitivity pruner does, so that
        later rounds prune what retraining shrank below the same threshold); returns how many
        were pruned now."""
        if not self.mask.any():
            return 0
        if self.std0 < 0:
            self.std0.fill_(float(self.weight.std()))
        cut = quality * float(self.std0)
        newly = self.mask & (self.weight.abs() < cut)
        self.mask &= ~newly
        return int(newly.sum())


class DistributionTernary(TernaryWeights):
    """A distribution over {-1, 0, +1} per weight: ``softmax(logits[..., :])`` in that order.

    Initialised with ``P(0) = zero_share`` (plus noise) and the rest split by a random sign.
    """

    def __init__(self, in_features, out_features, zero_share=0.5):
        super().__init__(in_features, out_features)
        zero_share = min(max(float(zero_share), 0.05), 0.95)
        logits = torch.zeros(out_features, in_features, 3)
        sign = torch.empty(out_features, in_features).uniform_(-1.0, 1.0)
        logits[..., 0] = -sign
        logits[..., 2] = sign
        # softmax with logits (-s, z, s) puts about exp(z) / (exp(z) + 2) on zero at s = 0.
        logits[..., 1] = math.log(2 * zero_share / (1 - zero_share))
        logits += 0.1 * torch.randn_like(logits)
        self.logits = nn.Parameter(logits)

    def probabilities(self):
        return torch.softmax(self.logits, dim=-1)

    def moments(self):
        """``(mean, variance)`` of every weight, each ``(out, in)``."""
        p = self.probabilities()
        mean = p[..., 2] - p[..., 0]
        second = p[..., 2] + p[..., 0]
        return mean, (second - mean * mean).clamp_min(0)

    def discrete_fraction(self):
        """Share of weights whose most probable value has probability 0.9 or more."""
        if self.fixed:
            return 1.0
        with torch.no_grad():
            return float((self.probabilities().max(dim=-1).values >= 0.9).float().mean())

    def ternary_weight(self):
        # argmax breaks ties towards -1, deterministically.
        return (torch.argmax(self.logits.detach(), dim=-1) - 1).to(self.logits.dtype)

    def train_weight(self):
        return self.moments()[0]

    def latent(self):
        return self.moments()[0]

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, distribution"


def sample_counts(w, samples, jitter):
    """Integer weights drawn from the real weights ``w`` ``(out, in)`` by importance sampling.

    For every row (neuron) ``i``, ``samples[i]`` equidistant points ``(k + jitter[i]) /
    samples[i]``, ``k = 0 .. samples[i] - 1``, one random offset ``jitter[i]`` in ``[0, 1)`` for
    all (jittered equidistant sampling), are looked up in the cumulative distribution of
    ``|w[i]| / sum |w[i]|``; weight ``j`` gets the number of points that land in its interval,
    with its sign. Each count is ``floor`` or ``ceil`` of ``samples[i] * |w[i, j]| / sum |w[i]|``
    and its expectation is exactly that; a row's counts add up to ``samples[i]`` (to 0 for an
    all-zero row). Returns a float tensor of integers, on ``w``'s device.
    """
    mag = w.detach().abs().double()
    n = torch.as_tensor(samples, dtype=torch.float64, device=w.device).reshape(-1, 1)
    u = torch.as_tensor(jitter, dtype=torch.float64, device=w.device).reshape(-1, 1)
    total = mag.sum(dim=1, keepdim=True)
    cdf = mag.cumsum(dim=1) / torch.where(total > 0, total, torch.ones_like(total))
    cdf[:, -1:] = torch.where(total > 0, 1.0, 0.0)  # no rounding error at the top
    # Points below cdf[j]: #{k >= 0 : k < n * cdf[j] - u}, at most n.
    upto = torch.minimum(torch.ceil(n * cdf - u).clamp_min(0), n)
    counts = torch.diff(upto, dim=1, prepend=torch.zeros_like(upto[:, :1]))
    return (torch.sign(w.detach()).double() * counts).to(w.dtype)


class SampledWeights(TernaryWeights):
    """Real-valued latent weights; exported as integer weights drawn by :func:`sample_counts`.

    :meth:`draw` draws the exported weights (``code``) from the current latent weights, with one
    jitter per neuron fixed at construction (so draws are reproducible under the seed). The number
    of samples per neuron is ``samples`` when set, else the largest that leaves at least
    ``sparsity`` of the layer's weights 0; either way no weight may exceed :data:`MAX_WEIGHT`
    (fewer samples are taken where it would). With ``proportional``, neuron ``i`` takes samples in
    proportion to ``sum |w[i]|`` (``samples`` on average): all neurons then scale their real
    weights by the same factor, which the output layer needs, as its scores are compared with one
    another; hidden neurons are each followed by batch norm and do not care.
    """

    def __init__(self, in_features, out_features, sparsity=0.0):
        super().__init__(in_features, out_features)
        self.sparsity = float(sparsity)
        self.samples = None
        self.proportional = False
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        # Small: what training learns should dominate what the initialisation drew, as the
        # weights' magnitudes become sampling probabilities.
        nn.init.uniform_(self.weight, -0.1, 0.1)
        self.register_buffer("code", torch.zeros(out_features, in_features))
        self.register_buffer("jitter", torch.rand(out_features))
        self.register_buffer("drawn_samples", torch.tensor(0))

    def ternary_weight(self):
        return self.code

    def train_weight(self):
        return self.weight

    def latent(self):
        return self.weight

    def per_neuron(self, samples):
        """Samples of each neuron when the layer takes ``samples`` (per neuron, on average),
        each capped at ``MAX_WEIGHT * sum |w| / max |w|``: a weight's count is at most the ceiling
        of ``samples * |w| / sum |w|``, so no weight exceeds :data:`MAX_WEIGHT`."""
        mag = self.weight.detach().abs().double()
        n = torch.full((self.out_features,), float(samples), dtype=torch.float64,
                       device=mag.device)
        l1 = mag.sum(dim=1)
        if self.proportional:
            mean = l1.mean()
            if mean > 0:
                n = torch.round(samples * l1 / mean).clamp_min(1)
        top = mag.max(dim=1).values if mag.shape[1] else torch.zeros_like(l1)
        cap = torch.floor(MAX_WEIGHT * l1 / torch.where(top > 0, top, torch.ones_like(top)))
        return torch.minimum(n, cap.clamp_min(1))

    def counts(self, samples):
        return sample_counts(self.weight, self.per_neuron(samples), self.jitter)

    def choose_samples(self):
        """The samples per neuron :meth:`draw` takes (see the class docstring)."""
        if self.samples:
            return int(self.samples)
        target = self.sparsity * self.weight.numel()

        def fits(n):
            return float((self.counts(n) == 0).sum()) >= target

        # The largest n whose draw leaves the zero share: a neuron's number of nonzero weights
        # grows with n (almost always; the search tolerates the rare exception).
        hi = 1
        while fits(2 * hi) and hi < MAX_WEIGHT * self.in_features:
            hi *= 2
        lo, hi = hi, 2 * hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo

    @torch.no_grad()
    def draw(self):
        """Draw ``code`` from the current latent weights; returns the mean samples per neuron
        (after the caps of :meth:`per_neuron`), rounded."""
        samples = self.choose_samples()
        n = self.per_neuron(samples)
        self.code.copy_(sample_counts(self.weight, n, self.jitter))
        self.drawn_samples.fill_(int(round(float(n.mean()))) if len(n) else 0)
        return int(self.drawn_samples)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, sampled"


class _PathProduct(torch.autograd.Function):
    """``x @ W.t()`` for the ternary ``signs`` ``(out, fan_in)`` of a :class:`PathWeights`
    ``layer``: the forward pass and the input gradient through sparse CSR matrices (``W`` and
    its transpose), the gradient of every connection ``sum_b grad[b, j] x[b, cols[j, i]]`` from
    the gathered rows of ``x.t()``; all of it linear in the connections (times the batch)."""

    @staticmethod
    def forward(ctx, x, signs, layer):
        ctx.layer = layer
        ctx.save_for_backward(x, signs)
        with csr_quietly():
            return torch.sparse.mm(layer.csr(signs), x.t()).t().contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, signs = ctx.saved_tensors
        layer = ctx.layer
        n_out, k = layer.cols.shape
        grad_t = grad.t().contiguous()  # (out, batch)
        grad_x = grad_signs = None
        if ctx.needs_input_grad[0]:
            with csr_quietly():
                grad_x = torch.sparse.mm(layer.csr(signs, transpose=True), grad_t).t()
        if ctx.needs_input_grad[1]:
            picked = x.t().contiguous().index_select(0, layer.cols.reshape(-1))
            grad_signs = torch.bmm(picked.view(n_out, k, -1), grad_t.unsqueeze(-1)).squeeze(-1)
        return grad_x, grad_signs, None


class PathWeights(TernaryWeights):
    """Only chosen connections: neuron ``j`` reads inputs ``cols[j]`` (``fan_in`` distinct ones,
    ascending) with latent weights ``weight[j]``; the ternary weights are ``sign(weight)``, with a
    straight-through gradient, in training and eval alike.

    Built without connections; :meth:`connect` sets them (:mod:`lwc.train.paths` samples them)
    before the optimizer is made. Products go through sparse CSR matrices (:class:`_PathProduct`
    in training: memory ``batch * connections`` for the weights' gradient), exact where no
    gradient is taken (evaluation, recalibration, the export's proof): every sum is an integer
    below ``2**24``. Nothing but :meth:`ternary_weight` (export) and :meth:`latent`
    (group lasso) makes the dense ``(out, in)`` matrix.
    """

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features)
        self.weight = nn.Parameter(torch.empty(out_features, 0))
        self.register_buffer("cols", torch.zeros(out_features, 0, dtype=torch.int64))

    @property
    def fan_in(self):
        return self.cols.shape[1]

    @torch.no_grad()
    def connect(self, cols, values=None):
        """Read inputs ``cols`` (an ``(out, fan_in)`` integer array, distinct in every row);
        latent weights ``values`` (same shape), default uniform in ``[-0.1, 0.1]``. Replaces the
        parameter: call it before the optimizer is made."""
        cols = torch.as_tensor(np.asarray(cols), dtype=torch.int64, device=self.cols.device)
        assert cols.dim() == 2 and cols.shape[0] == self.out_features
        cols, order = cols.sort(dim=1)
        if values is None:
            # Small, so that a sign flips within a few steps (uniform in [-1, 1], as the other
            # modules start, cost 15 points on breast-cancer: 79.6% against 94.4%).
            values = torch.empty(cols.shape, device=cols.device).uniform_(-0.1, 0.1)
        values = torch.as_tensor(values, dtype=torch.float32, device=cols.device)
        self.cols = cols
        self.weight = nn.Parameter(values.gather(1, order).contiguous())
        flat = cols.reshape(-1)
        # W.t() as CSR: the connections ordered by input.
        self._by_input = torch.argsort(flat, stable=True)
        self._crow_t = torch.zeros(self.in_features + 1, dtype=torch.int64, device=cols.device)
        self._crow_t[1:] = torch.cumsum(torch.bincount(flat, minlength=self.in_features), 0)
        self._col_t = torch.div(self._by_input, max(cols.shape[1], 1), rounding_mode="floor")

    def _signs(self):
        if self.fixed or not torch.is_grad_enabled():
            return torch.sign(self.weight.detach())
        return ternarize(self.weight, 0.0)  # sign, straight through

    def ternary_weight(self):
        dense = torch.zeros(self.out_features, self.in_features, device=self.weight.device)
        return dense.scatter_(1, self.cols, torch.sign(self.weight.detach()))

    def train_weight(self):
        return self.ternary_weight()

    def latent(self):
        dense = torch.zeros(self.out_features, self.in_features, device=self.weight.device)
        return dense.scatter(1, self.cols, self.weight)

    def discrete_fraction(self):
        return 1.0  # the forward pass is always ternary

    def zero_count(self):
        zeros = self.out_features * self.in_features - self.weight.numel()
        return zeros + int((self.weight.detach() == 0).sum()), self.out_features * self.in_features

    def csr(self, signs=None, transpose=False):
        """The ternary weights (``signs``, default ``sign(weight)``) as a sparse CSR float32
        matrix, ``(out, in)`` or (``transpose``) ``(in, out)``."""
        n_out, k = self.cols.shape
        values = (torch.sign(self.weight.detach()) if signs is None else signs).reshape(-1)
        with csr_quietly():
            if transpose:
                return torch.sparse_csr_tensor(self._crow_t, self._col_t,
                                               values.index_select(0, self._by_input),
                                               (self.in_features, n_out), check_invariants=False)
            crow = torch.arange(0, n_out * k + 1, max(k, 1), device=self.cols.device)
            return torch.sparse_csr_tensor(crow[:n_out + 1], self.cols.reshape(-1), values,
                                           (n_out, self.in_features), check_invariants=False)

    def forward(self, x):
        if x.dtype != torch.float32:
            x = x.to(torch.float32)
        n_out, k = self.cols.shape
        if k == 0:
            return x.new_zeros(len(x), n_out)
        if not torch.is_grad_enabled():
            with csr_quietly(), torch.autocast(x.device.type, enabled=False):
                return torch.sparse.mm(self.csr(), x.t()).t().contiguous()
        # The sparse kernels take no bfloat16: under bf16 autocast the products stay float32.
        with torch.autocast(x.device.type, enabled=False):
            return _PathProduct.apply(x, self._signs().to(torch.float32), self)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, paths, fan_in={self.fan_in}"


#: Weight-module kinds :class:`TernaryMLP` can build.
WEIGHT_KINDS = ("quantile", "latent", "masked", "distribution", "sampled", "paths")


def _make_weights(kind, n_in, n_out, sparsity, balanced=False, fan_in=None):
    if balanced and kind != "quantile":
        raise ValueError(f"balanced sparsity is for quantile weights, not {kind!r}")
    if fan_in is not None and kind != "quantile":
        raise ValueError(f"a fan-in limit is for quantile weights, not {kind!r}")
    if kind == "quantile":
        return TernaryLinear(n_in, n_out, sparsity, balanced, fan_in)
    if kind == "latent":
        return LatentTernary(n_in, n_out, sparsity)
    if kind == "masked":
        return MaskedTernary(n_in, n_out)
    if kind == "distribution":
        return DistributionTernary(n_in, n_out, sparsity)
    if kind == "sampled":
        return SampledWeights(n_in, n_out, sparsity)
    if kind == "paths":
        return PathWeights(n_in, n_out)
    raise ValueError(f"weights must be one of {', '.join(WEIGHT_KINDS)}, not {kind!r}")


class StepLayer(nn.Module):
    """Hidden layer: ternary sum, batch norm, binary step (see the module docstring).

    Outputs 0.0 / 1.0. In eval mode it computes the folded integer form exactly.
    """

    def __init__(self, in_features, out_features, sparsity, weights="quantile", ste_window=1.0,
                 balanced=False, fan_in=None, ste_shape="box"):
        super().__init__()
        self.linear = _make_weights(weights, in_features, out_features, sparsity, balanced,
                                    fan_in)
        self.bn = nn.BatchNorm1d(out_features)
        self.ste_window = float(ste_window)
        # Training-time dropout of the outputs (lwc.train.dropout); never part of eval mode.
        self.dropout = None
        self.ste_shape = ste_shape

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

    def step(self, s):
        """Eval mode's step of the sums ``s``: the folded integer form, exactly."""
        thr, direction = self.folded()
        # One comparison for every neuron: s <= thr is -s >= -thr (negation is exact), and a
        # constant neuron compares with -inf (fires) or +inf (never).
        sign = torch.where(direction < 0, -1.0, 1.0).to(s.dtype)
        never = torch.where(self.bn.bias.detach() >= 0, -math.inf, math.inf).to(thr.dtype)
        thr = torch.where(direction == 0, never, thr * sign)
        if bool((direction > 0).all()):
            return (s >= thr).to(s.dtype)
        return (s * sign >= thr).to(s.dtype)

    def forward(self, x):
        s = self.linear(x)
        if self.training:
            a = step_ste(self.bn(s), self.ste_window, self.ste_shape)
            return a if self.dropout is None else self.dropout(a)
        return self.step(s)


class OutputLayer(nn.Module):
    """Output layer: ``alpha * (W_t a + round(b))``, ``alpha = exp(log_alpha) > 0``."""

    def __init__(self, in_features, out_features, sparsity, weights="quantile", balanced=False,
                 fan_in=None):
        super().__init__()
        self.linear = _make_weights(weights, in_features, out_features, sparsity, balanced,
                                    fan_in)
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


# Smallest standard deviation (in batch-norm units) of a pre-activation in the probabilistic
# forward pass: keeps the Gaussian CDF's gradient alive for nearly deterministic neurons.
_MIN_STD = 0.1


class TernaryMLP(nn.Module):
    """``inputs -> hidden[0] -> ... -> outputs`` with binary-step hidden layers.

    ``sparsity`` is one target share of zero weights for every layer, or a sequence with one per
    layer (hidden layers, then the output layer); how it is used depends on ``weights`` (one of
    :data:`WEIGHT_KINDS`); ``balanced`` (``quantile`` weights only) gives every neuron of a
    layer the same number of inputs; ``max_fan_in`` (``quantile`` weights only) holds the most
    nonzero weights a neuron of each layer keeps (``None`` for no limit), one per layer. The
    forward pass takes integer-valued inputs (the quantized features) as float32 and returns
    logits.
    """

    def __init__(self, inputs, hidden, outputs, sparsity, *, weights="quantile", ste_window=1.0,
                 balanced=False, max_fan_in=None, ste_shape="box", encoder=None):
        super().__init__()
        # The input encoder (lwc.train.encoding), or None: then the inputs are the quantized
        # features. With one, ``inputs`` is the encoder's outputs (the first layer's inputs).
        self.encoder = encoder
        assert encoder is None or encoder.outputs == inputs, "the encoder feeds the first layer"
        hidden = tuple(int(h) for h in hidden)
        sizes = (int(inputs), *hidden, int(outputs))
        n_layers = len(sizes) - 1
        if isinstance(sparsity, (int, float)):
            sparsity = (float(sparsity),) * n_layers
        sparsity = tuple(float(v) for v in sparsity)
        assert len(sparsity) == n_layers, "one sparsity per layer"
        self.sizes = sizes
        self.weights_kind = weights
        fan_in = (None,) * n_layers if max_fan_in is None else tuple(max_fan_in)
        assert len(fan_in) == n_layers, "one fan-in limit per layer"
        self.hidden = nn.ModuleList(
            StepLayer(n_in, n_out, sp, weights, ste_window, balanced, k, ste_shape=ste_shape)
            for n_in, n_out, sp, k in zip(sizes[:-2], sizes[1:-1], sparsity[:-1], fan_in)
        )
        self.output = OutputLayer(sizes[-2], sizes[-1], sparsity[-1], weights, balanced,
                                  fan_in[-1])

    def ternary_layers(self):
        """The weight module of every layer, input to output."""
        return [layer.linear for layer in self.hidden] + [self.output.linear]

    def set_sparsity(self, values):
        for linear, value in zip(self.ternary_layers(), values):
            linear.sparsity = float(value)

    def set_continuous_eval(self, on):
        for linear in self.ternary_layers():
            linear.continuous_eval = bool(on)

    def encode(self, x):
        """The first hidden layer's inputs: the encoder's bits of the raw features ``x``, or
        ``x`` itself (no encoder)."""
        return x if self.encoder is None else self.encoder(x)

    def hidden_activations(self, x):
        """The outputs of every hidden layer (the encoder's not among them), input to output."""
        x = self.encode(x)
        outs = []
        for layer in self.hidden:
            x = layer(x)
            outs.append(x)
        return outs

    def integer_scores(self, x):
        """Exact integer scores (float32); meaningful in eval mode."""
        x = self.encode(x)
        for layer in self.hidden:
            x = layer(x)
        return self.output.integer_scores(x)

    def forward(self, x):
        x = self.encode(x)
        for layer in self.hidden:
            x = layer(x)
        return self.output(x)

    def forward_distribution(self, x, sample=True):
        """Logits of the probabilistic forward pass (training mode, ``distribution`` weights).

        Each pre-activation is Gaussian with the mean and variance that the weight distributions
        give (central limit theorem); batch norm, computed on the batch of those Gaussians, shifts
        and scales it; the step fires with probability ``Phi(mean / std)``, and the next layer
        sees each activation as a Bernoulli variable with that mean. The output scores are
        sampled ``mean + std * eps`` (the local reparameterization trick) when ``sample``.
        """
        x = self.encode(x)
        mean_x, second_x = x, x * x  # inputs are deterministic
        for layer in self.hidden:
            mean, var = self._moments(layer.linear, mean_x, second_x)
            bn = layer.bn
            batch_mean = mean.mean(dim=0)
            batch_var = mean.var(dim=0, unbiased=False) + var.mean(dim=0)
            if self.training and bn.track_running_stats:
                # As BatchNorm1d does, so eval mode works without recalibration too.
                with torch.no_grad():
                    k = bn.momentum
                    bn.running_mean.mul_(1 - k).add_(k * batch_mean)
                    bn.running_var.mul_(1 - k).add_(k * batch_var)
            inv = torch.rsqrt(batch_var + bn.eps)
            m = bn.weight * (mean - batch_mean) * inv + bn.bias
            s = bn.weight.abs() * torch.sqrt(var + 1e-12) * inv
            p = 0.5 * (1 + torch.erf(m / (torch.sqrt(s * s + _MIN_STD ** 2) * math.sqrt(2))))
            mean_x, second_x = p, p  # a 0/1 variable: E[a^2] = E[a]
            if self.training and layer.dropout is not None:
                # a * f with f = 0 (dropped) or the scale: E[(a f)^2] = p f^2.
                f = layer.dropout(torch.ones_like(p))
                mean_x, second_x = p * f, p * f * f
        mean, var = self._moments(self.output.linear, mean_x, second_x)
        scores = mean + self.output.integer_bias()
        if sample:
            scores = scores + torch.sqrt(var + 1e-12) * torch.randn_like(scores)
        return torch.exp(self.output.log_alpha) * scores

    @staticmethod
    def _moments(linear, mean_x, second_x):
        if linear.fixed:
            w = linear.ternary_weight().detach()
            mean = mean_x @ w.t()
            return mean, (second_x - mean_x * mean_x) @ (w * w).t()
        m_w, v_w = linear.moments()
        mean = mean_x @ m_w.t()
        # Var(w x) = E[w^2] E[x^2] - E[w]^2 E[x]^2 for independent w and x.
        var = second_x @ (v_w + m_w * m_w).t() - (mean_x * mean_x) @ (m_w * m_w).t()
        return mean, var.clamp_min(0)

    def zero_fraction(self):
        """Share of zero weights over all layers (of the current ternary weights)."""
        with torch.no_grad():
            zeros = total = 0
            for linear in self.ternary_layers():
                z, n = linear.zero_count()
                zeros += z
                total += n
        return zeros / max(total, 1)

    def discrete_fraction(self):
        """Share of weights that are already discrete (see
        :meth:`TernaryWeights.discrete_fraction`), over all layers."""
        layers = self.ternary_layers()
        sizes = [linear.in_features * linear.out_features for linear in layers]
        done = sum(linear.discrete_fraction() * n for linear, n in zip(layers, sizes))
        return done / max(sum(sizes), 1)
