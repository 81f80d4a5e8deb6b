"""The golden model: the one definition of what a network computes (see ``docs/semantics.md``).

Integer NumPy over the IR, vectorised over a batch. PyTorch export, Amaranth simulation, cocotb and
gate-level simulation are all compared against :func:`evaluate`, sample by sample, bit for bit.
"""

from dataclasses import dataclass

import numpy as np

from lwc import semantics
from lwc.errors import DataError

from .ir import AffineQuantizer, ThresholdQuantizer, dense_weights, layer_ranges

__all__ = ["Trace", "quantize", "quantizer_problem", "evaluate", "predict"]

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


def quantizer_problem(spec):
    """Why ``spec``'s quantizer is not one :func:`quantize` defines (a line naming the entry), or
    ``None`` when it is: ``scale`` and ``offset`` of length 1 or ``count``, finite, every scale
    positive or exactly ``+0.0`` (a negative scale, and ``-0.0``, are refused); threshold rows, 1 or
    ``count`` of them, of ``2**bits - 1`` finite non-decreasing values. ``net.pt`` load and save
    both hold a file to this (:mod:`lwc.compiler.netfile`)."""
    q, count = spec.quantizer, spec.count
    if q is None:
        return None
    if isinstance(q, AffineQuantizer):
        for name, values in (("scale", q.scale), ("offset", q.offset)):
            if len(values) not in (1, count):
                return f"quantizer {name} has {len(values)} values, not 1 or {count}"
            v = np.asarray(values, dtype=np.float64)
            if not np.isfinite(v).all():
                j = int(np.argmin(np.isfinite(v)))
                return f"quantizer {name}[{j}] is {float(v[j])!r}, not a finite number"
        scale = np.asarray(q.scale, dtype=np.float64)
        bad = np.signbit(scale)
        if bad.any():
            j = int(np.argmax(bad))
            return (f"quantizer scale[{j}] is {float(scale[j])!r}; an affine scale must be "
                    "positive, or +0.0 for a constant input")
        return None
    if isinstance(q, ThresholdQuantizer):
        levels = spec.max_value
        if len(q.thresholds) not in (1, count) or any(len(r) != levels for r in q.thresholds):
            return f"quantizer thresholds must be 1 or {count} rows of {levels} values"
        t = np.asarray(q.thresholds, dtype=np.float64)
        if not np.isfinite(t).all():
            return "quantizer thresholds holds NaN or infinite values"
        if (np.diff(t, axis=1) < 0).any():
            return "quantizer thresholds must be non-decreasing along each row"
        return None
    return f"unknown quantizer {q!r}"


#: The feature dtypes :func:`quantize` reads: each widens exactly to float64 (integers above 2**53
#: in magnitude round to the nearest float64).
_FEATURE_KINDS = "biu"
_FEATURE_FLOATS = (np.float16, np.float32, np.float64)


def _features(features, count):
    """``features`` as a float64 ``(batch, count)`` array, widened exactly."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[1] != count:
        raise ValueError(f"features must have shape (batch, {count}), not {x.shape}")
    if x.dtype.kind not in _FEATURE_KINDS and x.dtype.type not in _FEATURE_FLOATS:
        raise DataError(f"features must be integers or float16/32/64, not dtype {x.dtype}")
    return x.astype(np.float64, copy=False)


def quantize(spec, features):
    """Raw features ``(batch, count)`` to the network's unsigned integer inputs (``int64``): the one
    definition of input quantization (``docs/semantics.md``, "Inputs"), used by training, its
    export proof, ``lwc sim``, ``lwc run`` and every other host.

    ``spec`` is an :class:`~lwc.compiler.ir.InputSpec`. ``features`` may be integers or float16,
    float32 or float64; each value is first widened exactly to float64, and everything after is
    IEEE-754 float64 arithmetic, each operation rounded to nearest (ties to even), no fused
    multiply-add. With ``top = 2**bits - 1``:

    - no quantizer: the features must already be integers in ``0..top`` (a float must hold an
      integer value); anything else raises :class:`~lwc.errors.DataError`;
    - affine: ``clamp(floor(f * scale + offset), 0, top)``: the product rounded to float64, then
      the sum rounded, then floored (so there are no ties: ``floor(2.5) = 2``, and an offset of
      0.5 rounds halves up); NaN gives 0, +inf ``top`` and -inf 0 (the formula's clamp). A scale
      of ``+0.0`` gives the constant ``clamp(floor(offset), 0, top)`` for every feature value,
      NaN and infinities included;
    - thresholds: ``#{k : f >= T[k]}`` (``T`` non-decreasing): NaN gives 0, +inf ``top``, -inf 0.

    Raises ``ValueError`` when the spec is not a valid one (:func:`quantizer_problem`).
    """
    problem = quantizer_problem(spec)
    if problem is not None:
        raise ValueError(problem)
    x = _features(features, spec.count)
    top = spec.max_value
    q = spec.quantizer
    if q is None:
        ok = (x >= 0) & (x <= top) & (x == np.floor(x))  # NaN fails every comparison
        if not ok.all():
            i, j = (int(v) for v in np.argwhere(~ok)[0])
            raise DataError(f"feature [{i}, {j}] is {float(x[i, j])!r}; a net without an input "
                            f"quantizer reads integers in 0..{top}")
        return x.astype(np.int64)
    if isinstance(q, AffineQuantizer):
        scale = np.asarray(q.scale, dtype=np.float64)
        offset = np.asarray(q.offset, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            v = np.floor(x * scale + offset)
        # A zero scale ignores the feature: not inf * 0 = NaN, but the constant.
        v = np.where(scale == 0, np.floor(offset), v)
        out = np.clip(v, 0, top)
        return np.where(np.isnan(out), 0, out).astype(np.int64)
    t = np.asarray(q.thresholds, dtype=np.float64)
    # #{k : f >= T[k]} is the insertion point after equal values in the sorted row; NaN sorts
    # last there, so it is set apart. Per row: memory stays that of the features.
    out = np.empty(x.shape, dtype=np.int64)
    if len(t) == 1:
        out[...] = np.searchsorted(t[0], x, side="right")
    else:
        for j in range(spec.count):
            out[:, j] = np.searchsorted(t[j], x[:, j], side="right")
    out[np.isnan(x)] = 0
    return out


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
