"""Lower an IR :class:`~lwc.compiler.ir.Network` to the Amaranth :class:`~lwc.hw.TernaryNetwork`.

The only compiler module that imports :mod:`lwc.hw`: it translates IR dataclasses into the hardware
parameter types, and checks that the hardware's interval arithmetic agrees with the IR's.
"""

from lwc.errors import UsageError
from lwc.hw import ActivationSpec, LayerSpec, NeuronSpec, TernaryNetwork

from . import passes
from .ir import verify

__all__ = ["lower", "layer_specs", "write_verilog", "TOPLEVEL"]

#: Module name of the bare network in generated Verilog.
TOPLEVEL = "lwc_net"


def layer_specs(net):
    """The :class:`~lwc.hw.LayerSpec` of each layer of ``net``, in order."""
    return tuple(
        LayerSpec(
            activation=ActivationSpec(layer.activation.kind, layer.activation.shift,
                                      layer.activation.bits),
            neurons=tuple(NeuronSpec(n.inputs, n.weights, n.params, n.origin)
                          for n in layer.neurons),
        )
        for layer in net.layers
    )


def lower(net, *, register_every=None):
    """The :class:`~lwc.hw.TernaryNetwork` computing ``net`` bit for bit as the golden model does.

    When any neuron lacks a ``sum_range``, ``net`` has not been through the compiler passes and
    :func:`lwc.compiler.passes.run` is applied first (it folds constant neurons, drops unread ones
    and unused inputs, and infers widths; none of this changes what the network computes). A net
    that already has every ``sum_range`` is lowered as it is, after :func:`~lwc.compiler.ir.verify`.

    Parameters
    ----------
    net : Network
    register_every : int or None
        Pipeline registers every this many adder / comparator levels, on top of the one register
        stage per layer and the argmax stage; ``None`` for none.

    Raises
    ------
    UsageError
        ``register_every`` is not ``None`` or a positive integer.
    """
    if register_every is not None and (
            isinstance(register_every, bool) or not isinstance(register_every, int)
            or register_every < 1):
        raise UsageError(f"register_every must be a positive integer, not {register_every!r}")
    if any(n.sum_range is None for layer in net.layers for n in layer.neurons):
        net = passes.run(net)
    else:
        verify(net)
    component = TernaryNetwork(
        input_count=net.input.count,
        input_bits=net.input.bits,
        input_map=net.input_map,
        layers=layer_specs(net),
        register_every=register_every,
        src_loc_at=1,  # an unused-component warning names the caller of lower()
    )
    assert component.sum_ranges == tuple(
        tuple(tuple(n.sum_range) for n in layer.neurons) for layer in net.layers), \
        "hardware and IR sum ranges disagree"
    return component


def write_verilog(component, path=None, *, name=TOPLEVEL):
    """Convert ``component`` to Verilog with top module ``name``; write it to ``path`` if given and
    return the text.

    Uses Amaranth's built-in Yosys (``AMARANTH_USE_YOSYS=builtin`` unless the user chose
    otherwise; the slower YoWASP Yosys is not needed for export). Source-location attributes are
    left out, so the text depends only on the design: the same net gives byte-identical Verilog.
    """
    import os

    from amaranth.back import verilog

    saved = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    try:
        text = verilog.convert(component, name=name, emit_src=False)
    finally:
        if saved is None:
            os.environ.pop("AMARANTH_USE_YOSYS", None)
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text
