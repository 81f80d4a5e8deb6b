"""Drop input features that no first-layer neuron reads from ``input_map``."""

from dataclasses import replace

from ..ir import unshare
from .remove_unread import _reindex

__all__ = ["remove_unused_inputs"]


def remove_unused_inputs(net):
    net = unshare(net)  # works on plain receptive fields; share runs later
    read = sorted({i for n in net.layers[0].neurons for i in n.inputs})
    if len(read) == len(net.input_map):
        return net
    layers = (_reindex(net.layers[0], read),) + net.layers[1:]
    return replace(net, layers=layers, input_map=tuple(net.input_map[i] for i in read))
