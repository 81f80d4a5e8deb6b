"""The integer semantics of an lwc network, once: what ``docs/semantics.md`` specifies.

A leaf module (standard library only) that the compiler, the hardware, the estimator and training
all import: the activation kinds and their parameters, the activation formulas, the exact interval
of a weighted sum and of an activation, the weight limit, the exact width of an interval, the
output payload's field widths, and when a layer's sums are built as compressor trees.

The formulas are written once for both Python ints and NumPy arrays: the functions that branch
take the ``where`` (and ``minimum``/``maximum``) to branch with, defaulting to their scalar
versions; the golden model passes ``numpy.where``.
"""

__all__ = [
    "ACTIVATIONS",
    "HIDDEN_KINDS",
    "OUTPUT_KINDS",
    "MAX_WEIGHT",
    "activation",
    "activation_range",
    "term_bounds",
    "weighted_sum_range",
    "range_bits",
    "label_width",
    "score_width",
    "one_bit_inputs",
]

#: Activation kinds and the names of the integer parameters each neuron carries for them.
ACTIVATIONS = {
    "step": ("threshold",),  # a = 1 if s >= t else 0
    "ternary": ("lo", "hi"),  # a = +1 if s >= hi, -1 if s <= lo, else 0
    "clip": ("threshold",),  # a = clamp((s - t) >> shift, 0, 2**bits - 1), >> floors
    "linear": ("bias",),  # score = s + b
}
#: The kinds a hidden layer may have.
HIDDEN_KINDS = ("step", "ternary", "clip")
#: The kinds the output layer may have.
OUTPUT_KINDS = ("linear",)

#: The largest weight magnitude a network may have (``net.pt`` stores weights as ``int8``; the
#: range is kept symmetric so that negating a neuron's weights never leaves it). A weight ``w``
#: adds its input ``|w|`` times.
MAX_WEIGHT = 127


def _where(condition, a, b):
    return a if condition else b


def activation(kind, params, s, *, shift=0, bits=1, where=_where):
    """The activation ``kind`` of the integer sum ``s`` with the neuron's ``params`` (a sequence in
    the order of :data:`ACTIVATIONS`); ``shift`` and ``bits`` are the layer's ``clip`` settings.

    ``s`` and the parameters may be Python ints (the default ``where`` is ``a if c else b``) or
    NumPy integer arrays (pass ``where=numpy.where``). Every activation is non-decreasing in ``s``.
    ``>>`` is the arithmetic (floor) shift for both.
    """
    if kind == "step":
        return where(s >= params[0], 1, 0)
    if kind == "ternary":
        lo, hi = params
        return where(s >= hi, 1, where(s <= lo, -1, 0))
    if kind == "clip":
        d = (s - params[0]) >> shift
        top = (1 << bits) - 1
        return where(d < 0, 0, where(d > top, top, d))
    if kind == "linear":
        return s + params[0]
    raise ValueError(f"Activation kind must be one of {', '.join(ACTIVATIONS)}, not {kind!r}")


def activation_range(kind, params, sum_range, *, shift=0, bits=1):
    """Exact interval of the activation over the sum interval ``sum_range`` (the activation at its
    ends: every activation is non-decreasing)."""
    lo, hi = sum_range
    return (activation(kind, params, lo, shift=shift, bits=bits),
            activation(kind, params, hi, shift=shift, bits=bits))


def term_bounds(lo, hi, weight, *, minimum=min, maximum=max):
    """Exact interval of ``weight * x`` for ``x`` in ``[lo, hi]`` (ints, or NumPy arrays with
    ``numpy.minimum`` and ``numpy.maximum``)."""
    a, b = weight * lo, weight * hi
    return minimum(a, b), maximum(a, b)


def weighted_sum_range(ranges, weights):
    """Exact interval of ``sum(w * x)`` when each ``x`` ranges over its ``(lo, hi)`` in ``ranges``
    independently (the terms of a neuron never share an input)."""
    lo = hi = 0
    for (a, b), w in zip(ranges, weights, strict=True):
        # term_bounds(a, b, w), inline: this runs once per weight of the net.
        if w >= 0:
            lo += w * a
            hi += w * b
        else:
            lo += w * b
            hi += w * a
    return lo, hi


def range_bits(lo, hi):
    """``(width, signed)`` of the narrowest two's complement field holding every integer of
    ``[lo, hi]``: unsigned when ``lo >= 0`` (zero bits wide for ``[0, 0]``), otherwise signed."""
    if not (isinstance(lo, int) and isinstance(hi, int) and lo <= hi):
        raise ValueError(f"Range must be a pair of integers lo <= hi, not {(lo, hi)!r}")
    if lo >= 0:
        return hi.bit_length(), False
    return max((~lo).bit_length(), hi.bit_length() if hi >= 0 else 0) + 1, True


def label_width(n_classes):
    """Width of the label field of the output payload: enough for ``n_classes - 1``, at least 1."""
    return max(1, (n_classes - 1).bit_length())


def score_width(score_ranges):
    """Width of each (signed) score field of the output payload: the narrowest signed width that
    holds every class's exact ``(lo, hi)`` (the widest class decides)."""
    return max(range_bits(min(lo, -1), hi)[0] for lo, hi in score_ranges)


def one_bit_inputs(ranges):
    """Whether every value a layer reads is one bit wide (``range_bits(lo, hi)[0] <= 1``: each is
    one of 0/1, -1/0 or a constant). Such a layer's neurons are built as compressor trees, which add
    the bits one by one, so a sub-sum shared between neurons saves nothing there."""
    return all(range_bits(lo, hi)[0] <= 1 for lo, hi in ranges)
