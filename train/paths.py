"""Sparse from scratch: the connectivity of ``--method paths``, chosen before training.

Every neuron of layer ``l`` gets the same number ``k_l`` of inputs (its fan-in), so a layer's
weights are proportional to its neurons. The connections are sampled as the steps of paths from
the outputs back to the inputs: each neuron continues its paths into ``k_l`` distinct neurons of
the layer below, and every hidden neuron must continue at least one path of the layer above it
(``k_l * n_l >= n_{l-1}``, checked), so every neuron has an input and an output and every
connection lies on a path from an input to an output; no neuron is dead by construction.

``uniform`` (:func:`uniform_sources`) — stratified: the sources of a layer's ``k_l * n_l``
    connections run through random permutations of the layer below, so every neuron there
    continues ``floor`` or ``ceil`` of ``k_l * n_l / n_{l-1}`` paths (inputs too: no pixel is
    favoured), distinct within each neuron.
``magnitude`` (:func:`magnitude_sources`) — importance-sampled: a cheap dense pre-pass (one epoch
    of float training of the same layer sizes, :func:`dense_prepass`) gives ``|w|``; each neuron
    draws its ``k_l`` sources without replacement with probabilities proportional to ``|w|``
    (Gumbel top-k); then every hidden neuron no path reaches takes the place of the weakest
    connection (by ``|w|``) of a source used more than once, in the neuron that weighs it most.
    Inputs need no path: an input nobody reads (MNIST's blank border) is simply not used.

Source: the slides' "sparse from scratch by sampling paths" (:mod:`lwc.train.methods`).
"""

import math

import numpy as np
import torch

from lwc.errors import UsageError

from .config import PATH_SAMPLING
from .model import PathWeights, TernaryMLP

__all__ = ["PATH_SAMPLING", "OUTPUT_SPARSITY", "fan_ins", "uniform_sources", "magnitude_sources",
           "dense_prepass", "sample_paths", "connect"]

#: The output layer's share of zeros unless ``--output-sparsity`` or ``--fan-in`` sets it (at
#: most): a class that reads a few random hidden neurons cannot choose them as a quantile cut
#: does (digits, 64-32-10: 72% test accuracy with 80% zeros there, 81% with 50%).
OUTPUT_SPARSITY = 0.5


def fan_ins(config, sizes):
    """The fan-in of every layer (hidden layers, then output) for layer sizes ``sizes``
    (inputs first): ``config.fan_in`` (one value for all layers or one per layer), else
    ``round((1 - sparsity) * inputs)`` of each layer's sparsity (the output layer's at most
    :data:`OUTPUT_SPARSITY` unless ``output_sparsity`` is given), raised where needed to reach
    every neuron of the hidden layer below; at least 1, at most the layer's inputs. Raises
    :class:`~lwc.errors.UsageError` where a given fan-in cannot reach every neuron of the hidden
    layer below."""
    n_layers = len(sizes) - 1
    if config.fan_in:
        given = tuple(config.fan_in)
        if len(given) not in (1, n_layers):
            raise UsageError(f"fan_in must be one number or one per layer ({n_layers}), not "
                             f"{','.join(map(str, given))!r}")
        ks = given * n_layers if len(given) == 1 else given
    else:
        sparsity = list(config.layer_sparsity())
        if config.output_sparsity is None:
            sparsity[-1] = min(sparsity[-1], OUTPUT_SPARSITY)
        ks = tuple(int(round((1 - s) * n)) for s, n in zip(sparsity, sizes))
    ks = [min(max(1, int(k)), n_in) for k, n_in in zip(ks, sizes)]
    for layer in range(1, n_layers):
        n_in, n_out, k = sizes[layer], sizes[layer + 1], ks[layer]
        if not config.fan_in:
            ks[layer] = k = min(max(k, math.ceil(n_in / n_out)), n_in)
        if k * n_out < n_in:
            raise UsageError(
                f"paths: layer {layer + 1} ({n_out} neurons, fan-in {k}) must continue a path of "
                f"every one of the {n_in} neurons below it: fan-in at least "
                f"{math.ceil(n_in / n_out)} (fan_in=, --fan-in)")
    return tuple(ks)


def uniform_sources(n_in, n_out, k, rng):
    """``(n_out, k)`` sources: row ``j`` holds ``k`` distinct inputs of neuron ``j``; over all
    rows every input appears ``floor`` or ``ceil`` of ``k * n_out / n_in`` times (the sources run
    through random permutations of the inputs). ``rng`` is a NumPy ``Generator``."""
    assert 1 <= k <= n_in
    out = np.empty((n_out, k), dtype=np.int64)
    pool, pos = rng.permutation(n_in), 0
    for j in range(n_out):
        taken = set()
        i = 0
        while i < k:
            if pos == n_in:
                pool, pos = rng.permutation(n_in), 0
            c = int(pool[pos])
            if c in taken:
                later = next((q for q in range(pos + 1, n_in) if int(pool[q]) not in taken), None)
                if later is None:
                    # The rest of this permutation is all in this row already: those inputs are
                    # used once fewer; the next permutation continues.
                    pool, pos = rng.permutation(n_in), 0
                    continue
                pool[pos], pool[later] = pool[later], pool[pos]
                c = int(pool[pos])
            out[j, i] = c
            taken.add(c)
            i += 1
            pos += 1
    return out


def magnitude_sources(weight, k, rng, cover=True):
    """``(n_out, k)`` sources drawn by importance: row ``j`` holds ``k`` distinct inputs drawn
    without replacement with probabilities proportional to ``|weight[j]|`` (Gumbel top-k; a
    small floor keeps every input possible). With ``cover``, every input that no row drew then
    replaces the weakest connection (smallest ``|weight|``) of an input drawn more than once, in
    the row that weighs it most (needs ``k * n_out >= n_in``)."""
    mag = np.abs(np.asarray(weight, dtype=np.float64))
    n_out, n_in = mag.shape
    assert 1 <= k <= n_in
    prob = mag / np.maximum(mag.sum(axis=1, keepdims=True), 1e-300)
    prob = prob + 1e-3 / n_in
    keys = np.log(prob) + rng.gumbel(size=mag.shape)
    out = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    if not cover:
        return out
    assert k * n_out >= n_in
    uses = np.bincount(out.reshape(-1), minlength=n_in)
    for source in np.flatnonzero(uses == 0):
        # Rows that do not read ``source`` and hold an input read more than once.
        spare = uses[out] > 1
        has = (out == source).any(axis=1)
        rows = np.flatnonzero(spare.any(axis=1) & ~has)
        j = rows[np.argmax(mag[rows, source])]
        slots = np.flatnonzero(spare[j])
        slot = slots[np.argmin(mag[j, out[j, slots]])]
        uses[out[j, slot]] -= 1
        out[j, slot] = source
        uses[source] += 1
    return out


def dense_prepass(sizes, x, y, config, epochs=1, batch_size=None):
    """``|w|`` of every layer of a dense float net of ``sizes`` (binary-step hidden layers with
    batch norm, as every method has) trained for ``epochs`` on ``x``, ``y`` (the magnitudes
    :func:`magnitude_sources` samples by). Seeded by ``config.seed``."""
    generator = torch.Generator(device=x.device).manual_seed(config.seed ^ 0x9A75)
    model = TernaryMLP(sizes[0], sizes[1:-1], sizes[-1], 0.0, weights="masked",
                       ste_window=config.ste_window).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = batch_size or config.batch_size
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator, device=x.device)
        for start in range(0, len(x) - 1, batch):
            idx = order[start:start + batch]
            if len(idx) < 2:
                continue
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return [linear.weight.detach().abs().cpu() for linear in model.ternary_layers()]


def sample_paths(sizes, ks, how, rng, magnitudes=None):
    """The sources of every layer, ``(n_l, k_l)`` arrays, hidden layers then output: ``how`` one
    of :data:`PATH_SAMPLING` (``magnitudes`` from :func:`dense_prepass` for ``magnitude``)."""
    out = []
    for layer, k in enumerate(ks):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if how == "uniform":
            out.append(uniform_sources(n_in, n_out, k, rng))
        else:
            out.append(magnitude_sources(magnitudes[layer].numpy(), k, rng, cover=layer > 0))
    return out


def connect(model, config, x, y):
    """Choose the connections of ``model`` (a :class:`~lwc.train.model.TernaryMLP` of
    :class:`~lwc.train.model.PathWeights`) as ``config`` says, for training data ``x``, ``y``
    (the pre-pass of ``magnitude``); returns the fan-ins."""
    sizes = model.sizes
    ks = fan_ins(config, sizes)
    rng = np.random.default_rng([config.seed, 0x9A7])
    magnitudes = (dense_prepass(sizes, x, y, config) if config.path_sampling == "magnitude"
                  else None)
    layers = model.ternary_layers()
    assert all(isinstance(linear, PathWeights) for linear in layers)
    for linear, sources in zip(layers, sample_paths(sizes, ks, config.path_sampling, rng,
                                                    magnitudes)):
        linear.connect(sources)
    with torch.no_grad():
        # Integer scores grow like sqrt(fan-in): logits of order 1 at the start.
        model.output.log_alpha.fill_(-0.5 * math.log(ks[-1]))
    return ks
