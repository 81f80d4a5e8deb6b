"""Dropout of hidden neurons while training, in two forms: partitions and plain.

Both drop a share ``1 / P`` of a hidden layer's outputs at every training step and scale the kept
ones by ``P / (P - 1)`` (inverted dropout: the next layer sees the same expected input in training
as in eval mode, which matters for the output layer, whose scores are not batch-normalised; the
hidden layers' batch norm would absorb any scale). Eval mode, and so the exported integer net,
has no dropout: :class:`~lwc.train.model.StepLayer` calls its ``dropout`` in training mode only.

``partition`` (:class:`PartitionDropout`; the slides' *dropout partitions*) — every neuron ``i``
    of the layer is assigned to partition ``p_i = floor(xi_i * P)``, ``xi_i`` uniform in
    ``[0, 1)``, and one partition is dropped for the whole mini-batch. The assignment is drawn at
    the start of a cycle of ``P`` steps and step ``t`` of the cycle drops partition ``t``: so
    within every cycle each neuron is dropped exactly once (every neuron is considered), and the
    layer draws ``n`` random numbers per ``P`` steps. (Fresh partitions at every step, dropping
    partition 0, would be plain dropout with one mask for the whole batch: a neuron is dropped
    exactly when ``xi_i < 1 / P``.)
``plain`` (:class:`PlainDropout`) — the usual dropout (``torch.nn.Dropout``'s): an independent
    uniform number per sample and neuron, the neuron dropped where it is below ``1 / P``:
    ``batch * n`` random numbers per step.

Each module counts the random numbers it draws (:attr:`HiddenDropout.drawn`), which the training
loop reports per epoch (``dropout_random`` in the history).
"""

import torch
from torch import nn

from .config import DROPOUT_MODES

__all__ = ["DROPOUT_MODES", "HiddenDropout", "PartitionDropout", "PlainDropout",
           "partition_masks", "attach", "drawn"]

def partition_masks(xi, partitions):
    """The keep masks of the ``partitions`` steps of a cycle, ``(P, n)`` booleans, for the
    uniform numbers ``xi`` ``(n,)``: neuron ``i`` is in partition ``floor(xi_i * P)``, and step
    ``t`` drops partition ``t`` (every neuron is dropped in exactly one step)."""
    part = torch.clamp((xi * partitions).floor().to(torch.int64), max=partitions - 1)
    steps = torch.arange(partitions, device=xi.device).reshape(-1, 1)
    return part.reshape(1, -1) != steps


class HiddenDropout(nn.Module):
    """Training-time dropout of one hidden layer's ``neurons`` outputs: a share ``1 /
    partitions`` dropped, the rest scaled by ``partitions / (partitions - 1)``. ``generator``
    (on the activations' device) draws the random numbers; :attr:`drawn` counts them."""

    def __init__(self, neurons, partitions, generator):
        super().__init__()
        assert partitions >= 2
        self.neurons = int(neurons)
        self.partitions = int(partitions)
        self.scale = self.partitions / (self.partitions - 1)
        self.generator = generator
        self.drawn = 0

    def _uniform(self, shape, device):
        numbers = torch.rand(shape, generator=self.generator, device=device)
        self.drawn += numbers.numel()
        return numbers

    def keep(self, batch, device):
        """The keep mask of this step, broadcastable to ``(batch, neurons)``."""
        raise NotImplementedError

    def forward(self, a):
        return a * (self.keep(len(a), a.device).to(a.dtype) * self.scale)

    def extra_repr(self):
        return f"{self.neurons}, partitions={self.partitions}"


class PartitionDropout(HiddenDropout):
    """Dropout partitions (module docstring): ``neurons`` numbers per cycle of ``partitions``
    steps, one mask for the whole mini-batch."""

    def __init__(self, neurons, partitions, generator):
        super().__init__(neurons, partitions, generator)
        self.step = 0
        self.masks = None

    def keep(self, batch, device):
        t = self.step % self.partitions
        if t == 0 or self.masks is None:
            self.masks = partition_masks(self._uniform(self.neurons, device), self.partitions)
        self.step += 1
        return self.masks[t]


class PlainDropout(HiddenDropout):
    """Plain dropout: one number per sample and neuron, dropped below ``1 / partitions``."""

    def keep(self, batch, device):
        return self._uniform((batch, self.neurons), device) >= 1.0 / self.partitions


def attach(model, partitions, mode, seed, device):
    """Give every hidden layer of ``model`` (a :class:`~lwc.train.model.TernaryMLP`) its
    dropout (``mode`` one of :data:`DROPOUT_MODES`, a share ``1 / partitions`` dropped), all
    drawing from one generator seeded by ``seed``; returns the modules."""
    kind = {"partition": PartitionDropout, "plain": PlainDropout}[mode]
    generator = torch.Generator(device=device).manual_seed(int(seed) ^ 0xD50)
    modules = []
    for layer in model.hidden:
        layer.dropout = kind(layer.bn.num_features, partitions, generator)
        modules.append(layer.dropout)
    return modules


def drawn(modules):
    """The random numbers ``modules`` (from :func:`attach`) have drawn so far."""
    return sum(m.drawn for m in modules)
