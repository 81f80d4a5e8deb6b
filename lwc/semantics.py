"""The integer semantics of an lwc network, once: what ``docs/semantics.md`` specifies.

A leaf module (standard library only) that the compiler, the hardware, the estimator and training
all import: the activation kinds with their per-neuron parameters and per-layer settings (and the
settings' limits), the activation formulas, the exact interval of a weighted sum and of an
activation, the weight limit, the exact width of an interval, the output payload's field widths,
when a layer's sums are built as compressor trees, and the contents of a neuron built as a truth
table (:func:`truth_table`).

A new activation kind is a row of :data:`KINDS`, a branch of :func:`activation` (and, if it is not
monotone, its turning points in :func:`activation_range`), and its hardware; the IR, its text,
``net.pt``, the naive Verilog and the estimator read the table.

The formulas are written once for both Python ints and NumPy arrays: the functions that branch
take the ``where`` (and ``minimum``/``maximum``) to branch with, defaulting to their scalar
versions; the golden model passes ``numpy.where``.
"""

from dataclasses import dataclass

__all__ = [
    "Setting",
    "Kind",
    "SETTINGS",
    "KINDS",
    "ACTIVATIONS",
    "HIDDEN_KINDS",
    "OUTPUT_KINDS",
    "MAX_WEIGHT",
    "settings_error",
    "offset_params",
    "activation",
    "activation_range",
    "term_bounds",
    "weighted_sum_range",
    "range_bits",
    "label_width",
    "score_width",
    "one_bit_inputs",
    "MAX_TABLE_BITS",
    "table_bits",
    "truth_table",
]


@dataclass(frozen=True)
class Setting:
    """An integer setting of a whole layer's activation: ``least <= value <= most``; a kind that
    does not have it leaves it at ``default``."""

    meaning: str
    least: int
    most: int
    default: int


#: The per-layer settings of the activation kinds (``docs/semantics.md`` and ``docs/netfile.md``
#: list them; tests hold both to this table). ``shift`` stays below 63 so that ``s >> shift`` of
#: any ``int64`` sum is exact.
SETTINGS = {
    "shift": Setting("the arithmetic (floor) right shift of `s_i - t`", 0, 62, 0),
    "bits": Setting("k, the output's width: it saturates at 2^k - 1", 1, 16, 1),
}


@dataclass(frozen=True)
class Kind:
    """An activation kind: the names of the integer ``params`` each neuron carries (in order), the
    names of its layer's ``settings`` (keys of :data:`SETTINGS`), whether hidden layers
    (``hidden``) or the output layer (otherwise) may have it, and whether each neuron's parameters
    must be strictly ``increasing``.

    A parameter named ``bias`` is added to the sum; any other is a threshold the sum is compared
    with (or, for ``clip``, subtracted from it): :func:`offset_params` relies on this.
    """

    params: tuple[str, ...]
    settings: tuple[str, ...] = ()
    hidden: bool = True
    increasing: bool = False


#: The activation kinds (formulas in :func:`activation`).
KINDS = {
    "step": Kind(("threshold",)),  # a = 1 if s >= t else 0
    "ternary": Kind(("lo", "hi"), increasing=True),  # a = +1 if s >= hi, -1 if s <= lo, else 0
    "clip": Kind(("threshold",), ("shift", "bits")),  # a = clamp((s - t) >> shift, 0, 2**bits - 1)
    "linear": Kind(("bias",), hidden=False),  # score = s + b
}
#: Activation kinds and the names of the integer parameters each neuron carries for them.
ACTIVATIONS = {name: kind.params for name, kind in KINDS.items()}
#: The kinds a hidden layer may have.
HIDDEN_KINDS = tuple(name for name, kind in KINDS.items() if kind.hidden)
#: The kinds the output layer may have.
OUTPUT_KINDS = tuple(name for name, kind in KINDS.items() if not kind.hidden)

#: The largest weight magnitude a network may have (``net.pt`` stores weights as ``int8``; the
#: range is kept symmetric so that negating a neuron's weights never leaves it). A weight ``w``
#: adds its input ``|w|`` times.
MAX_WEIGHT = 127


def settings_error(kind, settings):
    """The first thing wrong with the layer ``settings`` (``{name: value}`` for every name of
    :data:`SETTINGS`) of activation ``kind``, as ``"{kind} {name} must be ..."``; ``None`` when they
    are right: an int within its limits for each setting of the kind, the default for the others."""
    for name, setting in SETTINGS.items():
        value = settings[name]
        if name in KINDS[kind].settings:
            if not (isinstance(value, int) and setting.least <= value <= setting.most):
                return f"{kind} {name} must be {setting.least}..{setting.most}, not {value!r}"
        elif value != setting.default:
            return f"{kind} has no {name} (it must stay {setting.default}, not {value!r})"
    return None


def offset_params(kind, params, delta):
    """The parameters with which the activation ``kind`` of ``s`` is what it was with ``params``
    of ``s + delta``: each threshold moves by ``-delta``, a bias by ``+delta``."""
    return tuple(p + delta if name == "bias" else p - delta
                 for name, p in zip(KINDS[kind].params, params, strict=True))


def _where(condition, a, b):
    return a if condition else b


def activation(kind, params, s, *, shift=0, bits=1, where=_where):
    """The activation ``kind`` of the integer sum ``s`` with the neuron's ``params`` (a sequence in
    the order of :data:`ACTIVATIONS`) and the layer's settings (:data:`SETTINGS`; a kind reads
    only its own).

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
    """Exact interval of the activation over the sum interval ``sum_range``: its extremes over the
    ends of the interval (every activation is non-decreasing in ``s``)."""
    values = [activation(kind, params, s, shift=shift, bits=bits) for s in sum_range]
    return min(values), max(values)


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


#: The most index bits a neuron built as a truth table may have (:func:`table_bits`): each output
#: bit is a table of ``2**bits`` entries.
MAX_TABLE_BITS = 10


def table_bits(ranges):
    """Index bits of a neuron built as a truth table reading values of ``ranges``: the width of
    each value's field (:func:`range_bits`), added up."""
    return sum(range_bits(lo, hi)[0] for lo, hi in ranges)


def _field_value(bits, width, signed):
    """The integer whose ``width``-bit field (two's complement when ``signed``) is ``bits``."""
    return bits - (1 << width) if signed and bits >> (width - 1) & 1 else bits


def truth_table(kind, params, weights, ranges, *, shift=0, bits=1):
    """The truth table of a neuron: one int per bit of its output field, bit ``i`` of which is
    that output bit when the neuron's inputs (values of ``ranges``, read with ``weights``) have
    the fields that index ``i`` concatenates, the first input's field least significant.

    Each field is :func:`range_bits` wide; a field value outside its input's range never occurs,
    and its entry is that of the nearest value in range (so the table stays monotone in each
    input). The output field is that of the activation's :func:`activation_range` over the sum's
    :func:`weighted_sum_range`, two's complement when it is signed. Every entry is
    :func:`activation` of the exact sum: the table is the neuron's function and nothing else.
    """
    fields = [range_bits(lo, hi) for lo, hi in ranges]
    settings = dict(shift=shift, bits=bits)
    out_range = activation_range(kind, params, weighted_sum_range(ranges, weights), **settings)
    out_width = range_bits(*out_range)[0]
    tables = [0] * out_width
    total = sum(width for width, _ in fields)
    assert total <= MAX_TABLE_BITS, f"a table of {total} index bits"
    for index in range(1 << total):
        s, rest = 0, index
        for (width, signed), (lo, hi), w in zip(fields, ranges, weights, strict=True):
            value = _field_value(rest & ((1 << width) - 1), width, signed) if width else 0
            rest >>= width
            s += w * min(max(value, lo), hi)
        out = activation(kind, params, s, **settings) & ((1 << out_width) - 1)
        for b in range(out_width):
            tables[b] |= (out >> b & 1) << index
    return tuple(tables)
