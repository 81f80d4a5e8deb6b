"""Lower an IR :class:`~lwc.compiler.ir.Network` to a hardware plan (:func:`plan`: a
:class:`~lwc.hw.plan.ParallelPlan` or :class:`~lwc.hw.plan.StreamingPlan`) and to the Amaranth
component built from it (:func:`lower`: :class:`~lwc.hw.TernaryNetwork` or
:class:`~lwc.hw.StreamingNetwork`).

The only compiler module that imports :mod:`lwc.hw`: it translates IR dataclasses into the hardware
parameter types, and checks that the hardware's interval arithmetic agrees with the IR's.
"""

import gc
from dataclasses import replace

from lwc.errors import UsageError
from lwc.hw import (
    ActivationSpec,
    LayerSpec,
    NeuronSpec,
    ParallelPlan,
    SharedSpec,
    StreamingNetwork,
    StreamingPlan,
    TernaryNetwork,
    network_verilog,
    parallel_plan,
    streaming_plan,
)

from . import passes
from .ir import expand_layer, unshare, verify

__all__ = ["plan", "lower", "layer_specs", "write_verilog", "TOPLEVEL", "ARCHITECTURES"]

#: Module name of the bare network in generated Verilog.
TOPLEVEL = "lwc_net"
#: Values of ``lower(architecture=...)``: every layer in parallel, or the first one folded.
ARCHITECTURES = ("parallel", "streaming")


def layer_specs(net):
    """The :class:`~lwc.hw.LayerSpec` of each layer of ``net``, in order."""
    return tuple(
        LayerSpec(
            activation=ActivationSpec(layer.activation.kind, layer.activation.shift,
                                      layer.activation.bits),
            neurons=tuple(NeuronSpec(n.inputs, n.weights, n.params, n.origin)
                          for n in layer.neurons),
            shared=tuple(SharedSpec(node.inputs, node.weights) for node in layer.shared),
        )
        for layer in net.layers
    )


def lower(net, **options):
    """The :class:`~lwc.hw.TernaryNetwork` (or :class:`~lwc.hw.StreamingNetwork`) computing
    ``net`` bit for bit as the golden model does: the component of :func:`plan` ``(net,
    **options)``."""
    design = plan(net, **options)
    # An unused-component warning names the caller of lower().
    if design.kind == "streaming":
        return StreamingNetwork(design, src_loc_at=1)
    return TernaryNetwork(design, src_loc_at=1)


def plan(net, *, register_every=None, share=True, keep_adders=True, compress=True,
         architecture="parallel", features_per_cycle=1, lanes=1):
    """The hardware plan of ``net``: a :class:`~lwc.hw.plan.ParallelPlan` (or
    :class:`~lwc.hw.plan.StreamingPlan`) whose component computes ``net`` bit for bit as the
    golden model does. A plain value: reading it builds no component.

    When any neuron or shared node lacks a ``sum_range``, ``net`` has not been through the compiler
    passes and :func:`lwc.compiler.passes.run` is applied first (it folds constant neurons, drops
    unread ones and unused inputs, builds shared sums, and infers widths; none of this changes what
    the network computes). A net that already has every ``sum_range`` is lowered as it is, after
    :func:`~lwc.compiler.ir.verify`.

    Parameters
    ----------
    net : Network
    register_every : int or None
        Pipeline registers every this many adder / comparator levels, on top of the one register
        stage per layer and the argmax stage; ``None`` for none.
    share : bool
        Build sub-sums that several neurons of a layer share once (the ``share`` pass). When false,
        the pass is skipped, and shared nodes already in ``net`` are expanded into their readers.
    keep_adders, compress : bool
        Hardware choices passed to :class:`~lwc.hw.TernaryNetwork` (see ``docs/benchmarks.md``
        for what they cost on iCE40).
    architecture : str
        ``"parallel"``: a :class:`~lwc.hw.TernaryNetwork`, one inference per clock.
        ``"streaming"``: a :class:`~lwc.hw.StreamingNetwork`, whose first layer is computed one
        weight per clock per lane from block RAM (its shared nodes, if any, are expanded: sharing
        saves nothing there); the later layers are built as in the parallel network.
    features_per_cycle, lanes : int
        Input features per transfer and number of lanes of a ``"streaming"`` network.

    Raises
    ------
    UsageError
        ``register_every`` is not ``None`` or a positive integer, ``architecture`` is unknown, or
        ``features_per_cycle`` or ``lanes`` is not a positive integer.
    """
    if register_every is not None and (
            isinstance(register_every, bool) or not isinstance(register_every, int)
            or register_every < 1):
        raise UsageError(f"register_every must be a positive integer, not {register_every!r}")
    if architecture not in ARCHITECTURES:
        raise UsageError(f"architecture must be one of {', '.join(ARCHITECTURES)}, "
                         f"not {architecture!r}")
    for name, value in (("features_per_cycle", features_per_cycle), ("lanes", lanes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, not {value!r}")
    if not share and any(layer.shared for layer in net.layers):
        net = passes.infer_widths(unshare(verify(net)))
    if any(n.sum_range is None for layer in net.layers for n in (*layer.neurons, *layer.shared)):
        net = passes.run(net, passes.pipeline(share=share))
    else:
        verify(net)
    options = dict(input_count=net.input.count, input_bits=net.input.bits,
                   input_map=net.input_map, register_every=register_every,
                   keep_adders=keep_adders, compress=compress)
    if architecture == "streaming":
        first = expand_layer(net.layers[0], len(net.input_map))
        net = replace(net, layers=(first, *net.layers[1:]))
        design = streaming_plan(layers=layer_specs(net), lanes=lanes,
                                features_per_cycle=features_per_cycle, **options)
    else:
        design = parallel_plan(layers=layer_specs(net), **options)
    assert design.sum_ranges == tuple(
        tuple(tuple(n.sum_range) for n in layer.neurons) for layer in net.layers), \
        "hardware and IR sum ranges disagree"
    assert design.shared_ranges == tuple(
        tuple(tuple(n.sum_range) for n in layer.shared) for layer in net.layers), \
        "hardware and IR shared node ranges disagree"
    return design


def write_verilog(design, path=None, *, name=TOPLEVEL, via_amaranth=False):
    """Convert ``design`` (a plan from :func:`plan`, or a component from :func:`lower`) to Verilog
    with top module ``name``; write it to ``path`` if given and return the text.

    A parallel design is printed from its netlist (:func:`lwc.hw.network_verilog`: the netlist
    its Amaranth design is made of, with the same logic and signal names, in a fraction of the
    time, which is what makes nets of a million weights quick to export); a streaming design, or
    ``via_amaranth``, goes through Amaranth's export with its built-in Yosys
    (``AMARANTH_USE_YOSYS=builtin`` unless the user chose otherwise; the slower YoWASP Yosys is
    not needed for export), without source locations. Pass a plan when only the Verilog is
    wanted: a component made and never elaborated draws Amaranth's unused-component warning.
    """
    if isinstance(design, TernaryNetwork) and not via_amaranth:
        text = _netlist_verilog(design.plan, name)
    elif isinstance(design, ParallelPlan):
        text = _amaranth_verilog(TernaryNetwork(design), name) if via_amaranth else \
            _netlist_verilog(design, name)
    elif isinstance(design, StreamingPlan):
        text = _amaranth_verilog(StreamingNetwork(design), name)
    else:
        text = _amaranth_verilog(design, name)
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text


def _netlist_verilog(design, name):
    # A net of a million weights makes millions of netlist objects and no reference cycles: the
    # cyclic garbage collector, run again and again as they are made, would take half the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return network_verilog(design, name)
    finally:
        if enabled:
            gc.enable()


def _amaranth_verilog(component, name):
    import os

    from amaranth.back import verilog

    saved = os.environ.get("AMARANTH_USE_YOSYS")
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    try:
        return verilog.convert(component, name=name, emit_src=False)
    finally:
        if saved is None:
            os.environ.pop("AMARANTH_USE_YOSYS", None)
