"""Fold hidden neurons whose output is constant into the thresholds of the layer that reads them.

A hidden neuron is constant when its activation has the same value at both ends of its exact sum
interval: it has no inputs, or a threshold beyond what its inputs can reach. Its readers see
``w * c`` added to their sums; moving that into their parameters keeps the function unchanged.
The constant neuron then feeds nothing and is removed by ``remove_unread``.
"""

from dataclasses import replace

from lwc.semantics import offset_params

from ..ir import activation_range, layer_ranges
from .base import Pass, Phase

__all__ = ["fold_constants"]


def _fold_constants(net):
    layers = list(net.layers)
    for li in range(len(layers) - 1):
        # Recompute ranges: folding earlier layers can narrow this one's intervals.
        current = replace(net, layers=tuple(layers))
        info = layer_ranges(current)[li]
        constants = {}
        for k, (neuron, (s, _)) in enumerate(zip(layers[li].neurons, info)):
            lo, hi = activation_range(layers[li].activation, neuron.params, s)
            if lo == hi:
                constants[k] = lo
        if not constants:
            continue
        reader = layers[li + 1]
        neurons = []
        for neuron in reader.neurons:
            delta = sum(w * constants[i] for i, w in zip(neuron.inputs, neuron.weights)
                        if i in constants)
            keep = [(i, w) for i, w in zip(neuron.inputs, neuron.weights) if i not in constants]
            neurons.append(replace(
                neuron,
                inputs=tuple(i for i, _ in keep),
                weights=tuple(w for _, w in keep),
                params=offset_params(reader.activation.kind, neuron.params, delta),
            ))
        layers[li + 1] = replace(reader, neurons=tuple(neurons))
    return replace(net, layers=tuple(layers))


#: Plain receptive fields in and out: it runs before ``share``.
fold_constants = Pass("fold_constants", _fold_constants, accepts=frozenset({Phase.PLAIN}),
                      gives=Phase.PLAIN)
