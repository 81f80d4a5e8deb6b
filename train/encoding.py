"""Input encodings: the net reads raw pixels, and its first layer is the encoder.

``uniform`` (the default) is no encoder: the host quantizes every pixel to ``--input-bits``
(:mod:`lwc.train.inputs`) and the design's LUTs hold no encoder. Every other encoding turns each
raw pixel ``x`` (an integer ``0..max``) into ``T = --levels`` bits ``x >= t_j`` and is exported as
the net's first hidden layer over the raw pixels (input bits 5 for digits, 8 for MNIST, no
quantizer, so a host sends the raw bytes): encoder neuron ``k * T + j`` has one weight, +1 on
pixel ``k``, and the ``step`` threshold ``t_kj`` (a comparator), so the compiler and the hardware
build the encoder like any layer and count it in the design's LUTs, and the compiler drops the
comparators no neuron reads (``remove_unread``). The encodings differ only in their thresholds:

``thermometer``
    ``T`` levels evenly spaced over the pixel range, the same for every pixel: ``t_j =
    round((max + 1) * j / (T + 1))`` (MNIST, ``T = 2^b - 1``: the cuts of today's ``b``-bit
    uniform quantizer, as one bit per cut).
``distributive``
    per pixel, the training split's quantiles ``j / (T + 1)`` of that pixel (the distributive
    thermometer of DWN, arXiv 2410.11112), at least 1 (a cut that every pixel value passes is a
    constant); a pixel that is 0 on the whole training split gets cuts it never reaches.
``learned``
    per-pixel thresholds that training moves, starting from ``distributive``: the forward pass is
    ``x >= t``, the backward pass a straight-through box of half-width ``(max + 1) / (2 (T + 1))``
    around each threshold. The forward pass (training and eval) and export compare with
    ``ceil(t)``, which is the same function of an integer pixel.

``--cut-bits B`` rounds every cut up to a multiple of ``2^(input bits - B)``, so that a comparator
reads only the pixel's ``B`` most significant bits (and Yosys drops the others).
"""

import numpy as np
import torch
from torch import nn

from .config import ENCODINGS

__all__ = ["ENCODINGS", "Encoder", "fixed_thresholds", "on_grid", "make_encoder", "encoder_layer"]

def fixed_thresholds(kind, x_train, levels, top, grid=1):
    """``(count, levels)`` float32 thresholds of encoding ``kind`` for raw integer pixels
    ``0..top`` (``x_train``: the training split, ``(rows, count)``); see the module docstring.
    Each is rounded up to a multiple of ``grid`` (:func:`on_grid`)."""
    x = np.asarray(x_train, dtype=np.float64)
    count = x.shape[1]
    if kind == "thermometer":
        cuts = np.round((top + 1) * np.arange(1, levels + 1) / (levels + 1))
        t = np.repeat(cuts[None, :], count, axis=0)
    else:
        assert kind in ("distributive", "learned"), kind
        q = np.quantile(x, np.arange(1, levels + 1) / (levels + 1), axis=0).T  # (count, levels)
        t = np.maximum(np.ceil(q), 1.0)
    return on_grid(t, grid, top).astype(np.float32)


def on_grid(t, grid, top):
    """The integer cuts ``x >= t`` is for integer pixels ``x``, rounded up to a multiple of
    ``grid`` (a power of two: such a cut compares only the pixel's bits above ``log2(grid)``) and
    clamped to ``0..top + 1`` (a cut outside the pixel range stays a constant). Works on NumPy
    arrays and tensors."""
    c = (t / grid).ceil() if torch.is_tensor(t) else np.ceil(t / grid)
    return (c * grid).clip(0, top + 1)


class _CompareSTE(torch.autograd.Function):
    """``x >= cut`` (0.0 / 1.0, ``x`` ``(batch, count, 1)``, ``cut`` the integer cuts of the
    thresholds ``t`` ``(count, levels)``); the threshold's gradient is that of
    ``-clamp((x - t) / (2 w), -1/2, 1/2)``: a box of half-width ``w`` around the threshold. The
    pixels get no gradient (they are data)."""

    @staticmethod
    def forward(ctx, x, t, cut, width):
        ctx.save_for_backward(x - t)
        ctx.width = width
        return (x >= cut).to(x.dtype)  # the integer cut: what eval mode and export compute

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        inside = (d.abs() <= ctx.width).to(grad.dtype)
        return None, -(grad * inside).sum(dim=0) / (2 * ctx.width), None, None


class Encoder(nn.Module):
    """``count`` raw pixels to ``count * levels`` bits ``x_k >= t_kj`` (bit ``k * levels + j``).

    ``thresholds`` is a buffer (fixed encodings) or, with ``learn``, a parameter; both training
    and eval mode compare with :meth:`integer_thresholds` (on multiples of ``grid``), exactly
    the exported layer.
    """

    def __init__(self, thresholds, top, learn=False, grid=1):
        super().__init__()
        t = torch.as_tensor(np.asarray(thresholds), dtype=torch.float32)
        if learn:
            self.thresholds = nn.Parameter(t.clone())
        else:
            self.register_buffer("thresholds", t.clone())
        self.learn = bool(learn)
        self.top = int(top)
        self.grid = int(grid)
        self.width = (self.top + 1) / (2 * (t.shape[1] + 1))

    @property
    def count(self):
        return self.thresholds.shape[0]

    @property
    def levels(self):
        return self.thresholds.shape[1]

    @property
    def outputs(self):
        return self.count * self.levels

    def integer_thresholds(self):
        """The integer cuts (int64, :func:`on_grid`): ``x >= t`` is ``x >= ceil(t)`` for every
        integer ``x``."""
        return on_grid(self.thresholds.detach().float(), self.grid, self.top).to(torch.int64)

    def forward(self, x):
        x = x.to(torch.float32).unsqueeze(-1)
        cut = self.integer_thresholds().to(x.dtype)
        if self.training and self.learn:
            bits = _CompareSTE.apply(x, self.thresholds, cut, self.width)
        else:
            bits = (x >= cut).to(x.dtype)
        return bits.reshape(len(x), -1)

    def extra_repr(self):
        return (f"{self.count}, levels={self.levels}, top={self.top}, grid={self.grid}, "
                f"learn={self.learn}")


def make_encoder(kind, x_train, levels, top, grid=1):
    """The :class:`Encoder` of ``kind`` (not ``uniform``), fitted on the raw training pixels, its
    cuts on multiples of ``grid``."""
    if kind not in ENCODINGS or kind == "uniform":
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS[1:])}, not {kind!r}")
    return Encoder(fixed_thresholds(kind, x_train, levels, top, grid), top,
                   learn=kind == "learned", grid=grid)


def encoder_layer(encoder):
    """The encoder as ``(weight, thresholds)`` integer arrays of a ``step`` layer over the raw
    pixels: row ``k * levels + j`` is +1 on pixel ``k``, threshold ``ceil(t_kj)``."""
    rows = encoder.outputs
    weight = np.zeros((rows, encoder.count), dtype=np.int64)
    weight[np.arange(rows), np.arange(rows) // encoder.levels] = 1
    thresholds = encoder.integer_thresholds().cpu().numpy().reshape(-1)
    return weight, thresholds
