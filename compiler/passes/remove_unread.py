"""Remove hidden neurons that no neuron of the next layer reads, and renumber the readers."""

from dataclasses import replace

from .base import Pass, Phase

__all__ = ["remove_unread", "reindex"]


def reindex(layer, keep):
    """``layer`` reading only the previous-layer indices in ``keep`` (sorted), renumbered."""
    new_index = {old: new for new, old in enumerate(keep)}
    neurons = tuple(
        replace(n, inputs=tuple(new_index[i] for i in n.inputs)) for n in layer.neurons
    )
    return replace(layer, neurons=neurons)


def _remove_unread(net):
    layers = list(net.layers)
    # Backwards, so a neuron whose only readers were removed goes too.
    for li in range(len(layers) - 2, -1, -1):
        read = sorted({i for n in layers[li + 1].neurons for i in n.inputs})
        if len(read) == layers[li].size:
            continue
        layers[li] = replace(layers[li], neurons=tuple(layers[li].neurons[i] for i in read))
        layers[li + 1] = reindex(layers[li + 1], read)
    return replace(net, layers=tuple(layers))


#: Plain receptive fields in and out: it runs before ``share``.
remove_unread = Pass("remove_unread", _remove_unread, accepts=frozenset({Phase.PLAIN}),
                     gives=Phase.PLAIN)
