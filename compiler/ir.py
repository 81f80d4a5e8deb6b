"""The lwc intermediate representation: a sparse integer network as frozen dataclasses.

A :class:`Network` is a chain of :class:`Layer` s. Each :class:`Neuron` lists its receptive field
(the indices of the previous layer's outputs it reads, strictly increasing) with one nonzero integer
weight per index (``+1`` or ``-1`` for ternary nets; any integer of magnitude up to
:data:`MAX_WEIGHT` otherwise), and the integer parameters of its layer's activation. The exact
arithmetic is defined in ``docs/semantics.md``, its formulas once in :mod:`lwc.semantics`, and the
whole network is evaluated by :mod:`lwc.compiler.golden`.

A layer may also hold :class:`SharedNode` s, sums of two terms built once and read by several of
its neurons (made by the ``share`` pass). In a layer reading ``n_in`` values, index ``n_in + k`` of
a receptive field names shared node ``k``. :func:`unshare` expands them away again; the function a
layer computes is always that of its expansion (:func:`dense_weights`).

Phases. A :class:`Network` as trained, loaded or being transformed carries no widths: every
``sum_range`` is ``None``. The ``infer_widths`` pass makes a :class:`CompiledNetwork`, the same
dataclass in which every neuron and shared node has its exact ``sum_range``: the only form that
lowering to hardware accepts. :func:`verify` checks the invariant of each type, so the IR never
means different things by phase.

Every pass maps a network to a new one; :func:`verify` checks the invariants below and is run
after each pass.
"""

import operator
from dataclasses import dataclass, field, replace
from itertools import chain, repeat

from lwc import semantics

__all__ = [
    "AffineQuantizer",
    "ThresholdQuantizer",
    "InputSpec",
    "Activation",
    "Neuron",
    "SharedNode",
    "Layer",
    "Network",
    "CompiledNetwork",
    "VerifyError",
    "ACTIVATION_KINDS",
    "HIDDEN_KINDS",
    "MAX_WEIGHT",
    "verify",
    "dump",
    "value_names",
    "activation_range",
    "sum_range",
    "shared_ranges",
    "layer_ranges",
    "layer_ranges_step",
    "expand_layer",
    "unshare",
    "without_widths",
    "is_shared",
    "from_dense",
    "dense_weights",
]

#: Activation kinds and the integer parameters each neuron carries for them (the table lives in
#: :mod:`lwc.semantics`).
ACTIVATION_KINDS = semantics.ACTIVATIONS
HIDDEN_KINDS = semantics.HIDDEN_KINDS
#: The largest weight magnitude a network may have (:data:`lwc.semantics.MAX_WEIGHT`). Weights of
#: magnitude above 1 are added as shifted (powers of two) or constant-multiplied operands.
MAX_WEIGHT = semantics.MAX_WEIGHT


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
    """A layer's activation kind and its per-layer settings (:data:`lwc.semantics.SETTINGS`); a
    kind that does not have a setting (:data:`lwc.semantics.KINDS`) leaves it at its default."""

    kind: str
    shift: int = 0
    bits: int = 1

    @property
    def settings(self):
        """``{name: value}`` of the settings the kind has, in the table's order."""
        return {name: getattr(self, name) for name in semantics.KINDS[self.kind].settings}

    def describe(self):
        """The kind and its settings as text, ``clip shift=1 bits=2`` (the IR text and the naive
        Verilog's comments)."""
        return " ".join([self.kind, *(f"{k}={v}" for k, v in self.settings.items())])


@dataclass(frozen=True)
class Neuron:
    """One neuron: its receptive field, weights, and activation parameters.

    ``origin`` is the neuron's index in its layer as trained; it survives passes that remove other
    neurons, so generated signal names stay traceable to the trained net. ``sum_range`` is the exact
    interval of the weighted sum, filled in by the ``infer_widths`` pass. ``table`` says that the
    hardware builds the neuron as a truth table over its inputs' bits
    (:func:`lwc.semantics.truth_table`) rather than as a sum and a threshold (set by the
    ``tabulate`` pass): such a neuron reads no shared node, and its inputs' fields total at most
    :data:`lwc.semantics.MAX_TABLE_BITS` bits.
    """

    inputs: tuple[int, ...]
    weights: tuple[int, ...]
    params: tuple[int, ...]
    origin: int
    sum_range: tuple[int, int] | None = None
    table: bool = False


@dataclass(frozen=True)
class SharedNode:
    """A sum of two terms, built once per layer and read by several neurons (or later nodes).

    ``inputs`` holds two distinct indices, each of a previous-layer value (below the layer's input
    count ``n_in``) or of an *earlier* shared node of the same layer (``n_in + k``); ``weights``
    holds their signs (``+1`` or ``-1``). The two terms' expansions share no input, nor do the terms
    of a neuron, so interval arithmetic over them is exact. ``sum_range`` is filled in by
    ``infer_widths``, like a neuron's.
    """

    inputs: tuple[int, int]
    weights: tuple[int, int]
    sum_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class Layer:
    """A layer's neurons, their activation, and the shared sums they read (see
    :class:`SharedNode`)."""

    activation: Activation
    neurons: tuple[Neuron, ...]
    shared: tuple[SharedNode, ...] = ()

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


@dataclass(frozen=True)
class CompiledNetwork(Network):
    """A :class:`Network` after the compiler passes: every neuron and shared node has its exact
    ``sum_range`` (checked by :func:`verify`). Made by the ``infer_widths`` pass; the input of
    :func:`lwc.compiler.lower.lower`."""


def sum_range(neuron, in_ranges):
    """Exact interval of ``sum(w * x)`` over the terms of a neuron (or shared node), given each
    term's interval (:func:`lwc.semantics.weighted_sum_range`)."""
    return semantics.weighted_sum_range([in_ranges[i] for i in neuron.inputs], neuron.weights)


def activation_value(activation, params, s):
    """The activation of one integer sum ``s`` (a Python int), by
    :func:`lwc.semantics.activation`."""
    if activation.kind not in ACTIVATION_KINDS:
        raise VerifyError(f"unknown activation kind {activation.kind!r}")
    return semantics.activation(activation.kind, params, s, **activation.settings)


def activation_range(activation, params, s_range):
    """Output interval of ``activation`` over the sum interval ``s_range``
    (:func:`lwc.semantics.activation_range`)."""
    if activation.kind not in ACTIVATION_KINDS:
        raise VerifyError(f"unknown activation kind {activation.kind!r}")
    return semantics.activation_range(activation.kind, params, s_range, **activation.settings)


def shared_ranges(layer, in_ranges):
    """Exact interval of each shared node of ``layer``, in order, given its inputs' intervals."""
    ranges = list(in_ranges)
    for node in layer.shared:
        ranges.append(sum_range(node, ranges))
    return ranges[len(in_ranges):]


def layer_ranges_step(layer, in_ranges):
    """The ``(sum_range, output_range)`` of each neuron of ``layer``, given the intervals of the
    values it reads."""
    if layer.shared:
        in_ranges = list(in_ranges) + shared_ranges(layer, in_ranges)
    sums = _sum_ranges(layer.neurons, in_ranges)
    act = layer.activation
    return [(s, activation_range(act, n.params, s)) for n, s in zip(layer.neurons, sums)]


def _sum_ranges(items, in_ranges):
    """:func:`sum_range` of each of ``items``, vectorised with NumPy when every partial sum fits
    comfortably in ``int64`` (as it does for any net the golden model accepts)."""
    import numpy as np

    lengths = [len(n.inputs) for n in items]
    count = sum(lengths)
    if count < 64:
        return [sum_range(n, in_ranges) for n in items]
    index = np.fromiter(chain.from_iterable(n.inputs for n in items), np.int64, count)
    weights = np.fromiter(chain.from_iterable(n.weights for n in items), object, count)
    extreme = max((max(abs(lo), abs(hi)) for lo, hi in in_ranges), default=0)
    if max(abs(weights.min()), abs(weights.max())) * extreme * count >= 1 << 60:
        return [sum_range(n, in_ranges) for n in items]
    weights = weights.astype(np.int64)
    bounds = np.array(in_ranges, dtype=np.int64).reshape(-1, 2)
    bounds_lo, bounds_hi = semantics.term_bounds(bounds[index, 0], bounds[index, 1], weights,
                                                 minimum=np.minimum, maximum=np.maximum)
    ends = np.cumsum(lengths)
    starts = ends - np.asarray(lengths, dtype=np.int64)
    result = []
    for terms in (bounds_lo, bounds_hi):
        total = np.concatenate(([0], np.cumsum(terms)))
        result.append((total[ends] - total[starts]).tolist())
    return list(zip(*result))


def layer_ranges(net):
    """For each layer, the list of ``(sum_range, output_range)`` of its neurons, in order."""
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    result = []
    for layer in net.layers:
        info = layer_ranges_step(layer, ranges)
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
            _check(kind in semantics.OUTPUT_KINDS,
                   f"output layer must be {', '.join(semantics.OUTPUT_KINDS)}, not {kind!r}")
            _check(layer.size >= 1, "output layer must have at least one neuron")
        else:
            _check(kind in HIDDEN_KINDS, f"layer {li}: hidden activation cannot be {kind!r}")
        act = layer.activation
        error = semantics.settings_error(kind, {k: getattr(act, k) for k in semantics.SETTINGS})
        _check(error is None, f"layer {li}: {error}")
        n_in = net.layer_input_count(li)
        n_ref = n_in + len(layer.shared)  # receptive fields may name shared nodes too
        n_params = len(ACTIVATION_KINDS[kind])
        origins = [n.origin for n in layer.neurons]
        _check(len(set(origins)) == len(origins), f"layer {li}: duplicate neuron origins")
        for neuron in layer.neurons:
            where = f"layer {li} neuron {neuron.origin}"
            _check(len(neuron.inputs) == len(neuron.weights), f"{where}: inputs/weights lengths")
            inputs = neuron.inputs
            # map() over operator functions: this runs once per weight of the net, after every
            # pass, so it is kept at C speed.
            _check(
                not inputs or (0 <= inputs[0] and inputs[-1] < n_ref
                               and all(map(operator.lt, inputs, inputs[1:]))),
                f"{where}: inputs must be strictly increasing indices below {n_ref}",
            )
            _check(all(map(isinstance, neuron.weights, repeat(int))) and 0 not in neuron.weights,
                   f"{where}: weights must be nonzero ints")
            _check(not neuron.weights or (-MAX_WEIGHT <= min(neuron.weights)
                                          and max(neuron.weights) <= MAX_WEIGHT),
                   f"{where}: weights must be in -{MAX_WEIGHT}..+{MAX_WEIGHT}")
            int_params = all(isinstance(p, int) for p in neuron.params)
            _check(len(neuron.params) == n_params and int_params,
                   f"{where}: {kind} needs {n_params} integer parameter(s)")
            if semantics.KINDS[kind].increasing:
                _check(all(map(operator.lt, neuron.params, neuron.params[1:])),
                       f"{where}: {kind} needs {' < '.join(semantics.ACTIVATIONS[kind])}")
        if layer.shared:
            _verify_shared(li, layer, n_in)
    if any(n.table for layer in net.layers for n in layer.neurons):
        _verify_tables(net)
    if isinstance(net, CompiledNetwork):
        _verify_widths(net)
    else:
        for li, layer in enumerate(net.layers):
            _check(all(item.sum_range is None for item in (*layer.shared, *layer.neurons)),
                   f"layer {li}: a sum_range in a Network that is not compiled (widths belong "
                   f"to a CompiledNetwork, made by infer_widths)")
    return net


def _verify_tables(net):
    """Every neuron built as a truth table reads only previous-layer values, whose fields total
    at most :data:`lwc.semantics.MAX_TABLE_BITS` bits."""
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    for li, layer in enumerate(net.layers):
        for neuron in layer.neurons:
            if not neuron.table:
                continue
            where = f"layer {li} neuron {neuron.origin}"
            _check(neuron.table is True, f"{where}: table must be True or False")
            _check(all(i < len(ranges) for i in neuron.inputs),
                   f"{where}: a table neuron cannot read a shared node")
            bits = semantics.table_bits([ranges[i] for i in neuron.inputs])
            _check(bits <= semantics.MAX_TABLE_BITS,
                   f"{where}: a table of {bits} index bits (at most "
                   f"{semantics.MAX_TABLE_BITS})")
        ranges = [out for _, out in layer_ranges_step(layer, ranges)]


def _verify_widths(net):
    """Every ``sum_range`` of a :class:`CompiledNetwork` is present and exact."""
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    for li, layer in enumerate(net.layers):
        for k, (node, s) in enumerate(zip(layer.shared, shared_ranges(layer, ranges))):
            _check(node.sum_range is not None and tuple(node.sum_range) == s,
                   f"layer {li} shared node {k}: sum_range {node.sum_range} is not {s}")
        outputs = []
        for neuron, (s, out) in zip(layer.neurons, layer_ranges_step(layer, ranges)):
            _check(neuron.sum_range is not None and tuple(neuron.sum_range) == s,
                   f"layer {li} neuron {neuron.origin}: sum_range {neuron.sum_range} is not {s}")
            outputs.append(out)
        ranges = outputs


def _verify_shared(li, layer, n_in):
    """The shared nodes of ``layer``: well formed, acyclic, exact (disjoint terms), all read."""
    shared = layer.shared

    def leaves(refs):
        """The inputs the terms ``refs`` expand to, with repeats."""
        found, stack = [], list(refs)
        while stack:
            ref = stack.pop()
            if ref < n_in:
                found.append(ref)
            else:
                stack.extend(shared[ref - n_in].inputs)
        return found

    read = set()
    for k, node in enumerate(shared):
        where = f"layer {li} shared node {k}"
        _check(isinstance(node, SharedNode), f"{where}: not a SharedNode")
        _check(len(node.inputs) == 2 and len(node.weights) == 2, f"{where}: needs two terms")
        a, b = node.inputs
        _check(all(isinstance(i, int) and 0 <= i < n_in + k for i in node.inputs) and a != b,
               f"{where}: terms must be two distinct inputs (below {n_in}) or earlier nodes")
        _check(all(w in (1, -1) for w in node.weights), f"{where}: term signs must be +1 or -1")
        found = leaves(node.inputs)
        _check(len(set(found)) == len(found), f"{where}: its terms read a common input")
        read.update(i for i in node.inputs if i >= n_in)
    for neuron in layer.neurons:
        if not neuron.inputs or neuron.inputs[-1] < n_in:
            continue
        read.update(i for i in neuron.inputs if i >= n_in)
        found = leaves(neuron.inputs)
        _check(len(set(found)) == len(found),
               f"layer {li} neuron {neuron.origin}: its terms read a common input")
    for k in range(len(shared)):
        _check(n_in + k in read, f"layer {li} shared node {k}: read by nothing")


def value_names(net, index):
    """The names of the values layer ``index`` reads, in order, as the IR text writes them and as
    ``net.v`` numbers them: input feature ``f`` is ``x{f}`` (its index among all the features,
    which ``input_map`` holds; ``net.v``'s wire ``x{f}``), and the previous layer's neuron of
    origin ``o`` is ``a{o}`` (``net.v``'s ``l{index - 1}_n{o}_act``)."""
    if index == 0:
        return [f"x{f}" for f in net.input_map]
    return [f"a{neuron.origin}" for neuron in net.layers[index - 1].neurons]


def _fmt_term(name, weight):
    sign = "+" if weight > 0 else "-"
    mag = "" if abs(weight) == 1 else f"{abs(weight)}*"
    return f"{sign}{mag}{name}"


def _fmt_terms(item, names):
    """The terms of a neuron or shared node: the values it reads by their ``names``
    (:func:`value_names`), shared nodes as ``s{k}``."""
    n_in = len(names)
    return " ".join(_fmt_term(names[i] if i < n_in else f"s{i - n_in}", w)
                    for i, w in zip(item.inputs, item.weights))


def dump(net):
    """A deterministic, human-readable text form of ``net`` (for golden tests and reading; read
    back by :func:`lwc.compiler.irtext.parse`). Neurons are ``n{origin}``; the values a layer
    reads are named as in ``net.v`` (:func:`value_names`), shared nodes ``s{k}``."""
    q = net.input.quantizer
    lines = [
        f"network inputs={net.input.count} bits={net.input.bits} used={len(net.input_map)} "
        f"outputs={net.output_count} quantizer={type(q).__name__ if q else 'none'}",
        "input_map " + " ".join(map(str, net.input_map)),
    ]
    for li, layer in enumerate(net.layers):
        act = layer.activation
        shared = f" shared={len(layer.shared)}" if layer.shared else ""
        lines.append(f"layer {li} {act.describe()} neurons={layer.size}{shared}")
        names = value_names(net, li)
        for k, node in enumerate(layer.shared):
            rng = "" if node.sum_range is None else " sum=[{},{}]".format(*node.sum_range)
            lines.append(f"  s{k}{rng} : {_fmt_terms(node, names)}")
        for neuron in layer.neurons:
            params = " ".join(f"{k}={v}" for k, v in zip(ACTIVATION_KINDS[act.kind],
                                                          neuron.params))
            rng = "" if neuron.sum_range is None else " sum=[{},{}]".format(*neuron.sum_range)
            table = " table" if neuron.table else ""
            terms = _fmt_terms(neuron, names)
            lines.append(f"  n{neuron.origin} {params}{rng}{table} : {terms}".rstrip())
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
    """Layer ``index``'s weights as a dense ``int64`` array ``(neurons, inputs)``, shared nodes
    expanded.

    With ``full_inputs`` the first layer's columns are the original features (``input.count``),
    otherwise the ``input_map`` positions.
    """
    import numpy as np

    n_in = net.layer_input_count(index)
    layer = expand_layer(net.layers[index], n_in)
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


def is_shared(net):
    """Whether any layer of ``net`` has shared nodes."""
    return any(layer.shared for layer in net.layers)


def _expand_terms(item, n_in, expansions):
    """``{input index: coefficient}`` of a neuron's or shared node's terms, shared nodes among
    them replaced by their ``expansions``."""
    terms = {}
    for ref, w in zip(item.inputs, item.weights):
        if ref < n_in:
            terms[ref] = terms.get(ref, 0) + w
        else:
            for i, c in expansions[ref - n_in].items():
                terms[i] = terms.get(i, 0) + w * c
    return terms


def _node_expansions(layer, n_in):
    """Each shared node of ``layer`` as a dict ``{input index: coefficient}``."""
    expansions = []
    for node in layer.shared:
        expansions.append(_expand_terms(node, n_in, expansions))
    return expansions


def expand_layer(layer, n_in):
    """``layer`` without shared nodes: each neuron reads the inputs its terms expand to.

    Weights that cancel are dropped; every ``sum_range`` stays (the function is the same).
    """
    if not layer.shared:
        return layer
    expansions = _node_expansions(layer, n_in)
    neurons = []
    for neuron in layer.neurons:
        terms = _expand_terms(neuron, n_in, expansions)
        kept = sorted((i, w) for i, w in terms.items() if w)
        neurons.append(replace(neuron, inputs=tuple(i for i, _ in kept),
                               weights=tuple(w for _, w in kept)))
    return replace(layer, neurons=tuple(neurons), shared=())


def unshare(net):
    """``net`` with every shared node expanded into the neurons that read it."""
    if not is_shared(net):
        return net
    return replace(net, layers=tuple(expand_layer(layer, net.layer_input_count(li))
                                     for li, layer in enumerate(net.layers)))


def without_widths(net):
    """``net`` as a plain :class:`Network`: the same layers with every ``sum_range`` cleared."""
    if type(net) is Network:
        return net
    layers = tuple(replace(layer, shared=tuple(replace(n, sum_range=None) for n in layer.shared),
                           neurons=tuple(replace(n, sum_range=None) for n in layer.neurons))
                   for layer in net.layers)
    return Network(input=net.input, layers=layers, classes=net.classes,
                   input_map=net.input_map, provenance=net.provenance)
