"""Lower a :class:`~lwc.compiler.ir.CompiledNetwork` to a hardware plan (:func:`plan`: a
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

from .architecture import PARALLEL, Parallel, Streaming
from .ir import CompiledNetwork, expand_layer, verify

__all__ = ["plan", "lower", "component", "layer_specs", "write_verilog", "TOPLEVEL"]

#: Module name of the bare network in generated Verilog.
TOPLEVEL = "lwc_net"


def layer_specs(net):
    """The :class:`~lwc.hw.LayerSpec` of each layer of ``net``, in order."""
    return tuple(
        LayerSpec(
            activation=ActivationSpec(layer.activation.kind, **layer.activation.settings),
            neurons=tuple(NeuronSpec(n.inputs, n.weights, n.params, n.origin, table=n.table)
                          for n in layer.neurons),
            shared=tuple(SharedSpec(node.inputs, node.weights) for node in layer.shared),
        )
        for layer in net.layers
    )


def plan(compiled, architecture=PARALLEL, *, register_every=None, keep_adders=True,
         compress=True):
    """The hardware plan of ``compiled``: a :class:`~lwc.hw.plan.ParallelPlan` (or
    :class:`~lwc.hw.plan.StreamingPlan`) whose component computes it bit for bit as the golden
    model does. A plain value: reading it builds no component.

    Parameters
    ----------
    compiled : CompiledNetwork
        A net after the compiler passes (:func:`lwc.compiler.passes.compile_network`), checked
        with :func:`~lwc.compiler.ir.verify`; every adder is sized from its ``sum_range``.
    architecture : Parallel or Streaming
        :class:`~lwc.compiler.architecture.Parallel`: every layer in logic, one inference per
        clock. :class:`~lwc.compiler.architecture.Streaming`: the first layer computed one
        weight per clock per lane from block RAM, ``features_per_cycle`` features per transfer
        and ``lanes`` lanes (its shared nodes, if any, are expanded: sharing saves nothing
        there, and so are its table neurons); the later layers are built as in the parallel
        network.
    register_every : int or None
        Pipeline registers every this many adder / comparator levels, on top of the one register
        stage per layer and the argmax stage; ``None`` for none.
    keep_adders, compress : bool
        Hardware choices of :class:`~lwc.hw.TernaryNetwork` (see ``docs/benchmarks.md`` for
        what they cost on iCE40).

    Raises
    ------
    TypeError
        ``compiled`` is not a :class:`~lwc.compiler.ir.CompiledNetwork`, or ``architecture`` is
        not an architecture value.
    UsageError
        ``register_every`` is not ``None`` or a positive integer.
    """
    if not isinstance(compiled, CompiledNetwork):
        raise TypeError(f"lower() takes a CompiledNetwork (see lwc.compiler.passes."
                        f"compile_network), not {type(compiled).__name__}")
    if register_every is not None and (
            isinstance(register_every, bool) or not isinstance(register_every, int)
            or register_every < 1):
        raise UsageError(f"register_every must be a positive integer, not {register_every!r}")
    net = verify(compiled)
    options = dict(input_count=net.input.count, input_bits=net.input.bits,
                   input_map=net.input_map, register_every=register_every,
                   keep_adders=keep_adders, compress=compress)
    if isinstance(architecture, Streaming):
        first = expand_layer(net.layers[0], len(net.input_map))
        # The sequential layer adds weights one by one: it builds no tables.
        first = replace(first, neurons=tuple(replace(n, table=False) for n in first.neurons))
        later = net.layers[1:]
        if architecture.fold and later:
            # A folded second layer adds its terms one by one too: no shared nodes, no tables.
            second = expand_layer(later[0], len(first.neurons))
            second = replace(second, neurons=tuple(replace(n, table=False)
                                                   for n in second.neurons))
            later = (second, *later[1:])
        net = replace(net, layers=(first, *later))
        try:
            design = streaming_plan(layers=layer_specs(net), lanes=architecture.lanes,
                                    features_per_cycle=architecture.features_per_cycle,
                                    weights=architecture.weights,
                                    lane_registers=architecture.lane_registers,
                                    fold=architecture.fold,
                                    tail="parallel" if architecture.fold else architecture.tail,
                                    dsp=architecture.dsp, **options)
        except ValueError as exc:
            # What the user chose does not fit the SPRAM table (lanes, size) or the sequential
            # tail (the layers): their error.
            if architecture.tail == "sequential" and str(exc).startswith("a sequential tail"):
                raise UsageError(f"--tail sequential: {exc}") from None
            if architecture.fold and str(exc).startswith("fold needs"):
                raise UsageError(f"--tail fold: {exc}") from None
            if architecture.weights != "spram":
                raise
            raise UsageError(f"--weights spram: {exc}") from None
    elif isinstance(architecture, Parallel):
        design = parallel_plan(layers=layer_specs(net), **options)
    else:
        raise TypeError(f"architecture must be Parallel or Streaming, not {architecture!r}")
    assert design.sum_ranges == tuple(
        tuple(tuple(n.sum_range) for n in layer.neurons) for layer in net.layers), \
        "hardware and IR sum ranges disagree"
    assert design.shared_ranges == tuple(
        tuple(tuple(n.sum_range) for n in layer.shared) for layer in net.layers), \
        "hardware and IR shared node ranges disagree"
    return design


def component(design, *, src_loc_at=0):
    """The Amaranth component of a hardware plan: a :class:`~lwc.hw.TernaryNetwork` for a
    :class:`~lwc.hw.plan.ParallelPlan`, a :class:`~lwc.hw.StreamingNetwork` for a
    :class:`~lwc.hw.plan.StreamingPlan`. An unused-component warning names the caller (or the
    frame ``src_loc_at`` above it)."""
    if isinstance(design, StreamingPlan):
        return StreamingNetwork(design, src_loc_at=1 + src_loc_at)
    assert isinstance(design, ParallelPlan)
    return TernaryNetwork(design, src_loc_at=1 + src_loc_at)


def lower(compiled, architecture=PARALLEL, *, register_every=None, keep_adders=True,
          compress=True, src_loc_at=0):
    """The :class:`~lwc.hw.TernaryNetwork` (or :class:`~lwc.hw.StreamingNetwork`) computing
    ``compiled`` bit for bit as the golden model does: the :func:`component` of :func:`plan` (the
    arguments are :func:`plan`'s). An unused-component warning names the caller of ``lower()``
    (or the frame ``src_loc_at`` above it)."""
    design = plan(compiled, architecture, register_every=register_every,
                  keep_adders=keep_adders, compress=compress)
    return component(design, src_loc_at=1 + src_loc_at)


def write_verilog(design, path=None, *, name=TOPLEVEL, via_amaranth=False, spram=None,
                  dsp=None):
    """Convert ``design`` (a plan from :func:`plan`, or a component from :func:`lower`) to Verilog
    with top module ``name``; write it to ``path`` if given and return the text.

    A parallel design is printed from its netlist (:func:`lwc.hw.network_verilog`: the netlist
    its Amaranth design is made of, with the same logic and signal names, in a fraction of the
    time, which is what makes nets of a million weights quick to export); a streaming design, or
    ``via_amaranth``, goes through Amaranth's export with its built-in Yosys
    (``AMARANTH_USE_YOSYS=builtin`` unless the user chose otherwise; the slower YoWASP Yosys is
    not needed for export), without source locations. Pass a plan when only the Verilog is
    wanted: a component made and never elaborated draws Amaranth's unused-component warning.
    ``spram`` maps the SPRAM weight table of a streaming plan with ``weights="spram"``: ``True``
    as ``SB_SPRAM256KA`` instances (for the iCE40 cell models or synthesis), ``False`` or
    ``None`` (no platform) as a behavioural memory; ``dsp`` likewise the accumulators the plan
    puts in DSP blocks, as ``SB_MAC16`` instances or logic.
    """
    if isinstance(design, TernaryNetwork) and not via_amaranth:
        text = _netlist_verilog(design.plan, name)
    elif isinstance(design, ParallelPlan):
        text = _amaranth_verilog(TernaryNetwork(design), name) if via_amaranth else \
            _netlist_verilog(design, name)
    elif isinstance(design, StreamingPlan):
        text = _amaranth_verilog(StreamingNetwork(design, spram=spram, dsp=dsp), name)
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
