"""Statistics of a network for ``lwc inspect``: sparsity, fan-in, dead neurons, bits/weight."""

import math
from dataclasses import dataclass

import numpy as np

from lwc.semantics import range_bits

from .ir import activation_range, dense_weights, layer_ranges, unshare

__all__ = ["LayerStats", "NetworkStats", "network_stats", "format_stats", "weight_entropy",
           "nonzero_count", "adder_count", "weight_bits"]


def nonzero_count(net):
    """Nonzero weights of ``net`` (shared sums expanded: the weights of the function)."""
    return sum(len(n.inputs) for layer in unshare(net).layers for n in layer.neurons)


def adder_count(net):
    """Two-input adders (or subtractors) the hardware of ``net`` builds: one per shared node, and
    ``terms - 1`` per neuron, none for a neuron built as a truth table."""
    return sum(len(layer.shared) + sum(max(len(n.inputs) - 1, 0) for n in layer.neurons
                                       if not n.table)
               for layer in net.layers)


def weight_bits(net):
    """Nonzero weight-bits of ``net``: every nonzero weight counted once per bit of the value it
    weighs (the input's bits in the first layer, the exact width of the activation it reads after;
    shared sums expanded). In a fully parallel datapath each is one operand bit of an adder or
    compressor tree, so LUT4 per weight-bit compares designs over inputs of different widths."""
    flat = unshare(net)
    ranges = [(0, flat.input.max_value)] * len(flat.input_map)
    total = 0
    for layer, info in zip(flat.layers, layer_ranges(flat)):
        widths = [range_bits(lo, hi)[0] for lo, hi in ranges]
        total += sum(widths[j] for n in layer.neurons for j in n.inputs)
        ranges = [out for _, out in info]
    return total


@dataclass(frozen=True)
class LayerStats:
    kind: str
    neurons: int
    inputs: int
    nonzero: int
    fan_in_min: int
    fan_in_mean: float
    fan_in_max: int
    constant: int  # neurons whose output cannot change (no inputs, or unreachable thresholds)
    unread: int  # hidden neurons that no neuron of the next layer reads

    @property
    def weights(self):
        return self.neurons * self.inputs

    @property
    def zero_fraction(self):
        return 1 - self.nonzero / self.weights if self.weights else 1.0


@dataclass(frozen=True)
class NetworkStats:
    layers: tuple[LayerStats, ...]
    inputs: int
    unused_inputs: int
    bits_per_weight: float
    #: ``(value, count)`` of every weight value, zeros included, in increasing order of value.
    weight_values: tuple[tuple[int, int], ...] = ()

    @property
    def max_weight(self):
        """The largest weight magnitude (1 for a ternary net)."""
        return max((abs(v) for v, _ in self.weight_values), default=0)

    @property
    def weights(self):
        return sum(layer.weights for layer in self.layers)

    @property
    def nonzero(self):
        return sum(layer.nonzero for layer in self.layers)

    @property
    def zero_fraction(self):
        return 1 - self.nonzero / self.weights if self.weights else 1.0


def weight_entropy(counts):
    """Shannon entropy in bits of a distribution given by value counts (bits per weight)."""
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c) if total else 0.0


def network_stats(net):
    """Compute :class:`NetworkStats` for ``net`` (dense view: every weight slot counts; shared
    sums expanded)."""
    net = unshare(net)
    ranges = layer_ranges(net)
    values = {}
    layers = []
    for li, layer in enumerate(net.layers):
        w = dense_weights(net, li, full_inputs=True)
        for v, c in zip(*np.unique(w, return_counts=True)):
            values[int(v)] = values.get(int(v), 0) + int(c)
        fan_in = np.count_nonzero(w, axis=1)
        constant = sum(
            1 for n, (s, _) in zip(layer.neurons, ranges[li])
            if li < len(net.layers) - 1
            and len(set(activation_range(layer.activation, n.params, s))) == 1
        )
        if li < len(net.layers) - 1:
            read = {i for n in net.layers[li + 1].neurons for i in n.inputs}
            unread = layer.size - len(read)
        else:
            unread = 0
        layers.append(LayerStats(
            kind=layer.activation.kind, neurons=layer.size, inputs=w.shape[1],
            nonzero=int(fan_in.sum()),
            fan_in_min=int(fan_in.min()) if layer.size else 0,
            fan_in_mean=float(fan_in.mean()) if layer.size else 0.0,
            fan_in_max=int(fan_in.max(initial=0)),
            constant=constant, unread=unread,
        ))
    used = {net.input_map[i] for n in net.layers[0].neurons for i in n.inputs}
    return NetworkStats(
        layers=tuple(layers), inputs=net.input.count, unused_inputs=net.input.count - len(used),
        bits_per_weight=weight_entropy(list(values.values())),
        weight_values=tuple(sorted(values.items())),
    )


def format_stats(net, path=None):
    """The text ``lwc inspect`` prints."""
    st = network_stats(net)
    q = net.input.quantizer
    lines = []
    if path is not None:
        lines.append(f"{path}")
    lines.append(f"inputs   {net.input.count} x {net.input.bits} bit"
                 f" ({type(q).__name__ if q else 'no quantizer'}), "
                 f"{st.unused_inputs} read by no neuron")
    lines.append(f"outputs  {net.output_count} classes: {' '.join(net.classes)}")
    header = (f"{'layer':>5} {'kind':<8} {'neurons':>7} {'inputs':>6} {'nonzero':>8} {'zero%':>6} "
              f"{'fan-in min/mean/max':>20} {'constant':>8} {'unread':>6}")
    lines += ["", header, "-" * len(header)]
    for li, ls in enumerate(st.layers):
        fan = f"{ls.fan_in_min}/{ls.fan_in_mean:.1f}/{ls.fan_in_max}"
        lines.append(f"{li:>5} {ls.kind:<8} {ls.neurons:>7} {ls.inputs:>6} {ls.nonzero:>8} "
                     f"{100 * ls.zero_fraction:>6.1f} {fan:>20} {ls.constant:>8} {ls.unread:>6}")
    lines += [
        "",
        f"weights  {st.weights} total, {st.nonzero} nonzero, {100 * st.zero_fraction:.1f}% zero",
        f"entropy  {st.bits_per_weight:.3f} bits/weight",
    ]
    if st.max_weight > 1:  # integer weights beyond +-1: how many of each magnitude
        mags = {}
        for v, c in st.weight_values:
            if v:
                mags[abs(v)] = mags.get(abs(v), 0) + c
        shown = ", ".join(f"|w|={m}: {c}" for m, c in sorted(mags.items())[:8])
        more = f", ... up to |w|={st.max_weight}" if len(mags) > 8 else ""
        lines.append(f"values   {shown}{more}")
    if net.provenance:
        lines.append("")
        for key, value in net.provenance:
            if isinstance(value, float):
                value = f"{value:.6g}"
            lines.append(f"{key:<16} {value}")
    return "\n".join(lines) + "\n"
