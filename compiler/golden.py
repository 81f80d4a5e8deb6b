"""The golden model: the one definition of what a network computes (see ``docs/semantics.md``).

Integer NumPy over the IR, vectorised over a batch. PyTorch export, Amaranth simulation, cocotb and
gate-level simulation are all compared against :func:`evaluate`, sample by sample, bit for bit.
"""

from dataclasses import dataclass

import numpy as np

from lwc import semantics

from .ir import AffineQuantizer, ThresholdQuantizer, dense_weights, layer_ranges

__all__ = ["Trace", "quantize", "evaluate", "predict"]

# Sums are accumulated in float64 (BLAS) when every partial sum is an integer below this bound,
# which makes the result exact; above it, in int64, which is exact below 2**63.
_FLOAT_EXACT = 1 << 53
_INT_EXACT = 1 << 62


@dataclass(frozen=True)
class Trace:
    """Everything the network computed for a batch.

    ``sums[k]`` and ``outputs[k]`` are ``int64`` arrays ``(batch, neurons of layer k)``;
    ``scores`` is ``outputs[-1]``; ``predictions`` the argmax of the scores, ties to the lowest
    index.
    """

    inputs: np.ndarray
    sums: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]

    @property
    def scores(self):
        return self.outputs[-1]

    @property
    def predictions(self):
        return np.argmax(self.scores, axis=1) if self.scores.shape[1] else np.zeros(
            len(self.scores), dtype=np.int64)


def quantize(spec, features):
    """Raw features ``(batch, count)`` to the network's unsigned integer inputs (``int64``).

    ``spec`` is an :class:`~lwc.compiler.ir.InputSpec`; with no quantizer, ``features`` must
    already be integers in range.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != spec.count:
        raise ValueError(f"features must have shape (batch, {spec.count}), not {x.shape}")
    q = spec.quantizer
    if q is None:
        out = x
    elif isinstance(q, AffineQuantizer):
        out = np.floor(x * np.asarray(q.scale) + np.asarray(q.offset))
    elif isinstance(q, ThresholdQuantizer):
        t = np.asarray(q.thresholds, dtype=np.float64)  # (1 or count, levels)
        out = (x[:, :, None] >= t[None, :, :]).sum(axis=2)
    else:
        raise TypeError(f"unknown quantizer {q!r}")
    out = np.nan_to_num(out, nan=0.0, posinf=spec.max_value, neginf=0.0)
    return np.clip(out, 0, spec.max_value).astype(np.int64)


def _activate(activation, params, s):
    """The activation of the sums ``s`` ``(batch, neurons)``; ``params`` ``(neurons, n_params)``."""
    columns = [params[:, k] for k in range(params.shape[1])]
    out = semantics.activation(activation.kind, columns, s, shift=activation.shift,
                               bits=activation.bits, where=np.where)
    return np.asarray(out, dtype=np.int64)


def evaluate(net, x):
    """Run ``net`` on integer inputs ``x`` ``(batch, input.count)``; return a :class:`Trace`.

    ``x`` holds the original features (all ``input.count`` of them); the network reads the ones in
    ``input_map``.
    """
    x = np.asarray(x)
    count = net.input.count
    assert x.ndim == 2 and x.shape[1] == count, f"inputs must be (batch, {count})"
    assert np.issubdtype(x.dtype, np.integer), "inputs must be integers"
    x = x.astype(np.int64)
    assert x.size == 0 or (x.min() >= 0 and x.max() <= net.input.max_value), "inputs out of range"
    ranges = layer_ranges(net)
    a = x[:, list(net.input_map)]
    in_bound = net.input.max_value
    sums, outputs = [], []
    for li, layer in enumerate(net.layers):
        w = dense_weights(net, li)
        # Bound on every partial sum: sum of |w| * max|input| over the widest neuron.
        bound = int(np.abs(w).sum(axis=1).max(initial=0)) * in_bound
        assert bound < _INT_EXACT, f"layer {li}: sums may overflow int64 (bound {bound})"
        if bound < _FLOAT_EXACT:
            s = np.rint(a.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
        else:
            s = a @ w.T
        n_params = len(semantics.ACTIVATIONS[layer.activation.kind])
        params = np.asarray([n.params for n in layer.neurons], dtype=np.int64)
        params = params.reshape(layer.size, n_params)
        out = _activate(layer.activation, params, s)
        sums.append(s)
        outputs.append(out)
        a = out
        in_bound = max((max(abs(lo), abs(hi)) for _, (lo, hi) in ranges[li]), default=0)
    return Trace(inputs=x, sums=tuple(sums), outputs=tuple(outputs))


def predict(net, x):
    """Predicted class indices for integer inputs ``x`` ``(batch, input.count)``."""
    return evaluate(net, x).predictions
