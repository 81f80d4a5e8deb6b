"""The lwc intermediate representation: a sparse integer network as frozen dataclasses.

A :class:`Network` is a chain of :class:`Layer` s. Each :class:`Neuron` lists its receptive field
(the indices of the previous layer's outputs it reads, strictly increasing) with one nonzero integer
weight per index (``+1`` or ``-1`` for ternary nets), and the integer parameters of its layer's
activation. The exact arithmetic is defined in ``docs/semantics.md`` and implemented once, in
:mod:`lwc.compiler.golden`.

Every pass maps a :class:`Network` to a new one; :func:`verify` checks the invariants below and is
run after each pass.
"""

from dataclasses import dataclass, field, replace

__all__ = [
    "AffineQuantizer",
    "ThresholdQuantizer",
    "InputSpec",
    "Activation",
    "Neuron",
    "Layer",
    "Network",
    "VerifyError",
    "ACTIVATION_KINDS",
    "HIDDEN_KINDS",
    "verify",
    "dump",
    "activation_range",
    "sum_range",
    "layer_ranges",
    "from_dense",
    "dense_weights",
]

#: Activation kinds and the integer parameters each neuron carries for them.
ACTIVATION_KINDS = {
    "step": ("threshold",),  # a = 1 if s >= t else 0
    "ternary": ("lo", "hi"),  # a = +1 if s >= hi, -1 if s <= lo, else 0
    "clip": ("threshold",),  # a = clamp((s - t) >> shift, 0, 2**bits - 1)
    "linear": ("bias",),  # score = s + b (output layer only)
}
HIDDEN_KINDS = ("step", "ternary", "clip")


class VerifyError(Exception):
    """An IR invariant does not hold. This is a compiler bug, not a user error."""


@dataclass(frozen=True)
class AffineQuantizer:
    """``q = clamp(floor(x * scale + offset), 0, 2**bits - 1)``, computed in float64.

    ``scale`` and ``offset`` hold one value for all features or one per feature.
    """

    scale: tuple[float, ...]
    offset: tuple[float, ...]


@dataclass(frozen=True)
class ThresholdQuantizer:
    """``q = number of j with x >= thresholds[j]``, computed in float64.

    ``thresholds`` holds one non-decreasing row of ``2**bits - 1`` values for all features, or one
    row per feature.
    """

    thresholds: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class InputSpec:
    """The network input: ``count`` unsigned integers of ``bits`` bits, made from raw features by
    ``quantizer`` (``None`` when the data is already integer)."""

    count: int
    bits: int
    quantizer: AffineQuantizer | ThresholdQuantizer | None = None

    @property
    def max_value(self):
        return (1 << self.bits) - 1


@dataclass(frozen=True)
class Activation:
    """A layer's activation kind; ``shift`` and ``bits`` are used by ``clip`` only."""

    kind: str
    shift: int = 0
    bits: int = 1


@dataclass(frozen=True)
class Neuron:
    """One neuron: its receptive field, weights, and activation parameters.

    ``origin`` is the neuron's index in its layer as trained; it survives passes that remove other
    neurons, so generated signal names stay traceable to the trained net. ``sum_range`` is the exact
    interval of the weighted sum, filled in by the ``infer_widths`` pass.
    """

    inputs: tuple[int, ...]
    weights: tuple[int, ...]
    params: tuple[int, ...]
    origin: int
    sum_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class Layer:
    activation: Activation
    neurons: tuple[Neuron, ...]

    @property
    def size(self):
        return len(self.neurons)


@dataclass(frozen=True)
class Network:
    """A whole network.

    ``input_map[k]`` is the index of the original input feature that the first layer's index ``k``
    refers to; it starts as ``range(input.count)`` and shrinks when unused inputs are removed.
    ``provenance`` holds ``(key, value)`` pairs with ``str``, ``int``, ``float`` or ``None`` values.
    """

    input: InputSpec
    layers: tuple[Layer, ...]
    classes: tuple[str, ...]
    input_map: tuple[int, ...]
    provenance: tuple[tuple[str, object], ...] = field(default=())

    @property
    def output_count(self):
        return self.layers[-1].size

    def layer_input_count(self, index):
        """Number of values layer ``index`` reads from."""
        return len(self.input_map) if index == 0 else self.layers[index - 1].size

    def meta(self, key, default=None):
        return dict(self.provenance).get(key, default)

    def with_meta(self, **items):
        merged = dict(self.provenance)
        merged.update(items)
        return replace(self, provenance=tuple(sorted(merged.items())))


def activation_value(activation, params, s):
    """The activation of one integer sum ``s`` (a Python int); the scalar twin of the golden model,
    used for interval arithmetic. Every activation is non-decreasing in ``s``."""
    kind = activation.kind
    if kind == "step":
        return int(s >= params[0])
    if kind == "ternary":
        lo, hi = params
        return 1 if s >= hi else (-1 if s <= lo else 0)
    if kind == "clip":
        return min(max((s - params[0]) >> activation.shift, 0), (1 << activation.bits) - 1)
    if kind == "linear":
        return s + params[0]
    raise VerifyError(f"unknown activation kind {kind!r}")


def sum_range(neuron, in_ranges):
    """Exact interval of ``sum(w * x)`` over the neuron's inputs, given each input's interval."""
    lo = hi = 0
    for index, weight in zip(neuron.inputs, neuron.weights):
        a, b = in_ranges[index]
        if weight > 0:
            lo += weight * a
            hi += weight * b
        else:
            lo += weight * b
            hi += weight * a
    return lo, hi


def activation_range(activation, params, s_range):
    """Output interval of a (monotone) activation over the sum interval ``s_range``."""
    return (
        activation_value(activation, params, s_range[0]),
        activation_value(activation, params, s_range[1]),
    )


def layer_ranges(net):
    """For each layer, the list of ``(sum_range, output_range)`` of its neurons, in order."""
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    result = []
    for layer in net.layers:
        info = []
        for neuron in layer.neurons:
            s = sum_range(neuron, ranges)
            info.append((s, activation_range(layer.activation, neuron.params, s)))
        result.append(info)
        ranges = [out for _, out in info]
    return result


def _check(cond, message):
    if not cond:
        raise VerifyError(message)


def verify(net):
    """Check every invariant of ``net``; raise :class:`VerifyError` naming the first broken one."""
    _check(isinstance(net, Network), f"expected a Network, not {type(net).__name__}")
    _check(net.input.count >= 1, "network must have at least one input")
    _check(1 <= net.input.bits <= 16, f"input bits must be 1..16, not {net.input.bits}")
    _check(
        all(0 <= i < net.input.count for i in net.input_map)
        and all(a < b for a, b in zip(net.input_map, net.input_map[1:])),
        "input_map must be strictly increasing indices of input features",
    )
    _check(len(net.layers) >= 1, "network must have at least one layer")
    _check(
        len(net.classes) == net.output_count,
        f"{len(net.classes)} class names for {net.output_count} outputs",
    )
    for li, layer in enumerate(net.layers):
        kind = layer.activation.kind
        last = li == len(net.layers) - 1
        _check(kind in ACTIVATION_KINDS, f"layer {li}: unknown activation {kind!r}")
        if last:
            _check(kind == "linear", f"output layer must be linear, not {kind!r}")
            _check(layer.size >= 1, "output layer must have at least one neuron")
        else:
            _check(kind in HIDDEN_KINDS, f"layer {li}: hidden activation cannot be {kind!r}")
        if kind == "clip":
            _check(layer.activation.shift >= 0, f"layer {li}: clip shift must be >= 0")
            _check(1 <= layer.activation.bits <= 16, f"layer {li}: clip bits must be 1..16")
        n_in = net.layer_input_count(li)
        n_params = len(ACTIVATION_KINDS[kind])
        origins = [n.origin for n in layer.neurons]
        _check(len(set(origins)) == len(origins), f"layer {li}: duplicate neuron origins")
        for neuron in layer.neurons:
            where = f"layer {li} neuron {neuron.origin}"
            _check(len(neuron.inputs) == len(neuron.weights), f"{where}: inputs/weights lengths")
            _check(
                all(0 <= i < n_in for i in neuron.inputs)
                and all(a < b for a, b in zip(neuron.inputs, neuron.inputs[1:])),
                f"{where}: inputs must be strictly increasing indices below {n_in}",
            )
            _check(all(isinstance(w, int) and w != 0 for w in neuron.weights),
                   f"{where}: weights must be nonzero ints")
            int_params = all(isinstance(p, int) for p in neuron.params)
            _check(len(neuron.params) == n_params and int_params,
                   f"{where}: {kind} needs {n_params} integer parameter(s)")
            if kind == "ternary":
                _check(neuron.params[0] < neuron.params[1], f"{where}: ternary needs lo < hi")
    ranges = layer_ranges(net)
    for li, layer in enumerate(net.layers):
        for neuron, (s, _) in zip(layer.neurons, ranges[li]):
            _check(neuron.sum_range is None or tuple(neuron.sum_range) == s,
                   f"layer {li} neuron {neuron.origin}: sum_range {neuron.sum_range} is not {s}")
    return net


def _fmt_term(index, weight, prefix):
    sign = "+" if weight > 0 else "-"
    mag = "" if abs(weight) == 1 else f"{abs(weight)}*"
    return f"{sign}{mag}{prefix}{index}"


def dump(net):
    """A deterministic, human-readable text form of ``net`` (for golden tests and reading)."""
    q = net.input.quantizer
    lines = [
        f"network inputs={net.input.count} bits={net.input.bits} used={len(net.input_map)} "
        f"outputs={net.output_count} quantizer={type(q).__name__ if q else 'none'}",
        "input_map " + " ".join(map(str, net.input_map)),
    ]
    for li, layer in enumerate(net.layers):
        act = layer.activation
        extra = f" shift={act.shift} bits={act.bits}" if act.kind == "clip" else ""
        lines.append(f"layer {li} {act.kind}{extra} neurons={layer.size}")
        prefix = "x" if li == 0 else "a"
        for neuron in layer.neurons:
            names = ACTIVATION_KINDS[act.kind]
            params = " ".join(f"{k}={v}" for k, v in zip(names, neuron.params))
            rng = "" if neuron.sum_range is None else " sum=[{},{}]".format(*neuron.sum_range)
            terms = " ".join(_fmt_term(i, w, prefix) for i, w in zip(neuron.inputs, neuron.weights))
            lines.append(f"  n{neuron.origin} {params}{rng} : {terms}".rstrip())
    lines.append("classes " + " ".join(net.classes))
    return "\n".join(lines) + "\n"


def from_dense(input_spec, layers, classes, provenance=()):
    """Build a :class:`Network` from dense matrices.

    ``layers`` is a list of ``(weight, activation, params)``: ``weight`` an integer array of shape
    ``(outputs, inputs)`` (the first layer over all ``input_spec.count`` features), ``activation``
    an :class:`Activation`, ``params`` an integer array of shape ``(outputs, n_params)`` or
    ``(outputs,)``.
    """
    import numpy as np

    built = []
    for weight, activation, params in layers:
        weight = np.asarray(weight)
        params = np.asarray(params)
        params = params[:, None] if params.ndim == 1 else params
        neurons = []
        for row in range(weight.shape[0]):
            (idx,) = np.nonzero(weight[row])
            neurons.append(Neuron(
                inputs=tuple(int(i) for i in idx),
                weights=tuple(int(weight[row, i]) for i in idx),
                params=tuple(int(p) for p in params[row]),
                origin=row,
            ))
        built.append(Layer(activation, tuple(neurons)))
    return Network(
        input=input_spec,
        layers=tuple(built),
        classes=tuple(str(c) for c in classes),
        input_map=tuple(range(input_spec.count)),
        provenance=tuple(sorted(dict(provenance).items())),
    )


def dense_weights(net, index, full_inputs=False):
    """Layer ``index``'s weights as a dense ``int64`` array ``(neurons, inputs)``.

    With ``full_inputs`` the first layer's columns are the original features (``input.count``),
    otherwise the ``input_map`` positions.
    """
    import numpy as np

    layer = net.layers[index]
    n_in = net.layer_input_count(index)
    cols = None
    if index == 0 and full_inputs:
        n_in, cols = net.input.count, np.asarray(net.input_map, dtype=np.int64)
    w = np.zeros((layer.size, n_in), dtype=np.int64)
    for row, neuron in enumerate(layer.neurons):
        idx = np.asarray(neuron.inputs, dtype=np.int64)
        if cols is not None:
            idx = cols[idx] if len(idx) else idx
        w[row, idx] = neuron.weights
    return w
