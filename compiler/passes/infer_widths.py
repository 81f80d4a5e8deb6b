"""Record the exact interval of every neuron's sum (interval arithmetic over the input ranges).

Lowering sizes each adder from these intervals, so no adder is wider than its values need.
"""

from dataclasses import replace

from ..ir import layer_ranges

__all__ = ["infer_widths"]


def infer_widths(net):
    ranges = layer_ranges(net)
    layers = tuple(
        replace(layer, neurons=tuple(
            replace(n, sum_range=s) for n, (s, _) in zip(layer.neurons, info)))
        for layer, info in zip(net.layers, ranges)
    )
    return replace(net, layers=layers)
