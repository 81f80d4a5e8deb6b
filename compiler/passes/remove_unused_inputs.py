"""Drop input features that no first-layer neuron reads from ``input_map``."""

from dataclasses import replace

from .base import Pass, Phase
from .remove_unread import reindex

__all__ = ["remove_unused_inputs"]


def _remove_unused_inputs(net):
    read = sorted({i for n in net.layers[0].neurons for i in n.inputs})
    if len(read) == len(net.input_map):
        return net
    layers = (reindex(net.layers[0], read),) + net.layers[1:]
    return replace(net, layers=layers, input_map=tuple(net.input_map[i] for i in read))


#: Plain receptive fields in and out: it runs before ``share``.
remove_unused_inputs = Pass("remove_unused_inputs", _remove_unused_inputs,
                            accepts=frozenset({Phase.PLAIN}), gives=Phase.PLAIN)
