"""Record the exact interval of every neuron's sum and every shared node (interval arithmetic over
the input ranges): the net becomes a :class:`~lwc.compiler.ir.CompiledNetwork`.

Lowering sizes each adder from these intervals, so no adder is wider than its values need.
"""

from dataclasses import replace

from ..ir import CompiledNetwork, layer_ranges_step, shared_ranges
from .base import Pass, Phase

__all__ = ["infer_widths"]


def _infer_widths(net):
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    layers = []
    for layer in net.layers:
        shared = tuple(replace(node, sum_range=s)
                       for node, s in zip(layer.shared, shared_ranges(layer, ranges)))
        info = layer_ranges_step(layer, ranges)
        layers.append(replace(layer, shared=shared, neurons=tuple(
            replace(n, sum_range=s) for n, (s, _) in zip(layer.neurons, info))))
        ranges = [out for _, out in info]
    return CompiledNetwork(input=net.input, layers=tuple(layers), classes=net.classes,
                           input_map=net.input_map, provenance=net.provenance)


#: Any phase in (widths already known are computed again); a :class:`CompiledNetwork` out.
infer_widths = Pass("infer_widths", _infer_widths, accepts=frozenset(Phase), gives=Phase.COMPILED)
