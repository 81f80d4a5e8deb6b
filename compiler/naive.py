"""The naive reference Verilog of a network: its arithmetic written straight from the IR.

What an engineer would write by hand from ``docs/semantics.md``, with none of the compiler's
knowledge: every neuron is a dense weighted sum over *all* of its layer's inputs (zero weights
included) with the constant weights written as multiplications, ``s = (w0) * x0 + (w1) * x1 +
...``, in one signed width per layer that holds every value of the layer; activations are
comparisons (``clip`` an arithmetic shift and a clamp); the argmax is a linear scan that keeps the
earlier class unless a later one is strictly greater (ties to the lowest index). No pass is run:
constant, dead and unread neurons and unused inputs are all written out.

The module has the ports and the stream behaviour of the generated ``lwc_net`` (see
:class:`lwc.hw.network.TernaryNetwork`): a purely combinational core from ``i.payload`` to the
output payload (label in the low ``label_width`` bits, then each class score in ``score_width``
bits, two's complement), followed by a shell of ``latency`` register stages. Every stage holds a
payload and a valid bit; all stages advance together when ``~o.valid | o.ready`` (which is also
``i.ready``); ``rst`` (synchronous) clears the valid bits only, payload registers are not reset.
With the same ``latency``, an input accepted on a given clock edge comes out on the same edge as
from the generated design, so the two can be proven equal cycle for cycle
(:func:`lwc.sim.formal.prove_equivalent`) or swapped in a testbench.

Numpy-only, like the rest of the compiler (it never imports :mod:`lwc.hw`).
"""

from lwc import semantics

from .ir import dense_weights, layer_ranges

__all__ = ["DEFAULT_NAME", "label_width", "score_width", "write_verilog"]

#: Default module name: the generated network's, so the reference can stand in for it.
DEFAULT_NAME = "lwc_net"


def label_width(net):
    """Width of the label field of the output payload: enough for ``net.output_count - 1``."""
    return semantics.label_width(net.output_count)


def score_width(net):
    """Width of each score field: the narrowest signed width holding every class's exact range
    (the widest class decides), as in the generated design."""
    return semantics.score_width([out for _, out in layer_ranges(net)[-1]])


def _const(value, width):
    """``value`` as a sized signed Verilog literal (parenthesised when negative)."""
    return f"(-{width}'sd{-value})" if value < 0 else f"{width}'sd{value}"


#: Most terms written in one chain of ``+``: Yosys' Verilog front end recurses once per operator of
#: a chain, and a chain of 784 (MNIST's inputs) exhausts the stack of the YoWASP build.
CHAIN = 256


def _sum(terms, width):
    """A dense weighted sum of ``(weight, name)`` terms, written as multiplications (longer than
    :data:`CHAIN`: a sum of parenthesised chains of at most that many; Yosys merges them into one
    sum all the same)."""
    if not terms:
        return _const(0, width)
    products = [f"{_const(w, width)} * {name}" for w, name in terms]
    if len(products) <= CHAIN:
        return " + ".join(products)
    return " + ".join(f"({' + '.join(products[k:k + CHAIN])})"
                      for k in range(0, len(products), CHAIN))


def _neuron(activation, neuron, s, a, width):
    """Lines declaring the activation ``a`` of the sum wire ``s`` (all values ``width``-bit signed
    but the output, which is as narrow as the activation's values allow)."""
    kind, params = activation.kind, neuron.params
    if kind == "step":
        return [f"  wire signed [1:0] {a} = ({s} >= {_const(params[0], width)}) ? 2'sd1 : 2'sd0;"]
    if kind == "ternary":
        lo, hi = params
        return [f"  wire signed [1:0] {a} = ({s} >= {_const(hi, width)}) ? 2'sd1 : "
                f"({s} <= {_const(lo, width)}) ? (-2'sd1) : 2'sd0;"]
    if kind == "clip":
        top, out = (1 << activation.bits) - 1, activation.bits + 1
        d = a.replace("_act", "_shifted")
        return [f"  wire signed [{width - 1}:0] {d} = ({s} - {_const(params[0], width)}) >>> "
                f"{activation.shift};",
                f"  wire signed [{out - 1}:0] {a} = ({d} < {_const(0, width)}) ? "
                f"{_const(0, out)} : ({d} > {_const(top, width)}) ? {_const(top, out)} : "
                f"{d}[{out - 1}:0];"]
    assert kind == "linear", kind
    return [f"  wire signed [{width - 1}:0] {a} = {s} + {_const(params[0], width)};"]


def _layer_width(net, index, in_bound):
    """One signed width for every sum, parameter and intermediate of layer ``index``."""
    w = dense_weights(net, index, full_inputs=index == 0)
    layer = net.layers[index]
    bound = int(abs(w).sum(axis=1).max(initial=0)) * in_bound
    params = [abs(p) for n in layer.neurons for p in n.params]
    # s - t or s + b: at most bound + |param|; a kind with an output width compares with its top.
    top = (1 << layer.activation.bits) - 1 if "bits" in layer.activation.settings else 0
    extreme = max(bound + max(params, default=0), top)
    return extreme.bit_length() + 2


def write_verilog(net, path=None, *, latency=None, name=DEFAULT_NAME):
    """The naive reference Verilog of ``net``; written to ``path`` if given, and returned.

    Parameters
    ----------
    net : Network
        Any valid network (before or after the compiler passes: shared sub-sums are expanded).
    latency : int or None
        Register stages in the shell, at least 1; ``None`` for ``len(net.layers) + 1`` (what
        :func:`lwc.compiler.lower.lower` gives without ``register_every``: one stage per layer
        and one for the argmax).
    name : str
        Module name.

    Returns
    -------
    str
    """
    latency = len(net.layers) + 1 if latency is None else latency
    assert isinstance(latency, int) and latency >= 1, f"latency must be >= 1, not {latency!r}"
    count, bits = net.input.count, net.input.bits
    lw, sw, n_classes = label_width(net), score_width(net), net.output_count
    payload = lw + n_classes * sw
    lines = [
        f"// Naive reference of an lwc network: {count} inputs of {bits} bits, "
        f"{len(net.layers)} layers, {n_classes} classes; latency {latency}.",
        "// Written by lwc.compiler.naive from the IR: dense sums, comparisons, a linear argmax.",
        f"module {name}(clk, rst, i__payload, i__valid, i__ready, o__payload, o__valid, "
        f"o__ready);",
        "  input clk;",
        "  input rst;",
        f"  input [{count * bits - 1}:0] i__payload;",
        "  input i__valid;",
        "  output i__ready;",
        f"  output [{payload - 1}:0] o__payload;",
        "  output o__valid;",
        "  input o__ready;",
        "",
        "  // Inputs, zero-extended to signed.",
    ]
    for k in range(count):
        lines.append(f"  wire signed [{bits}:0] x{k} = {{1'b0, i__payload[{(k + 1) * bits - 1}:"
                     f"{k * bits}]}};")
    names = [f"x{k}" for k in range(count)]
    in_bound = net.input.max_value
    ranges = layer_ranges(net)
    for li, layer in enumerate(net.layers):
        act = layer.activation
        width = _layer_width(net, li, in_bound)
        w = dense_weights(net, li, full_inputs=li == 0)
        lines += ["", f"  // Layer {li}: {act.describe()}, {layer.size} neurons, "
                      f"{width}-bit sums."]
        outputs = []
        for row, neuron in enumerate(layer.neurons):
            s = f"l{li}_n{neuron.origin}_sum"
            a = f"l{li}_n{neuron.origin}_act"
            terms = [(int(wt), names[col]) for col, wt in enumerate(w[row])]
            lines.append(f"  wire signed [{width - 1}:0] {s} = {_sum(terms, width)};")
            lines += _neuron(act, neuron, s, a, width)
            outputs.append(a)
        names = outputs
        in_bound = max((max(abs(lo), abs(hi)) for _, (lo, hi) in ranges[li]), default=0)
    scores = names

    lines += ["", "  // Argmax: a linear scan, a later class wins only when strictly greater."]
    lines.append(f"  wire signed [{sw - 1}:0] best0 = {scores[0]};")
    lines.append(f"  wire [{lw - 1}:0] index0 = {lw}'d0;")
    for k in range(1, n_classes):
        lines.append(f"  wire take{k} = {scores[k]} > best{k - 1};")
        lines.append(f"  wire signed [{sw - 1}:0] best{k} = take{k} ? {scores[k]} : best{k - 1};")
        lines.append(f"  wire [{lw - 1}:0] index{k} = take{k} ? {lw}'d{k} : index{k - 1};")
    fields = [f"{scores[k]}[{sw - 1}:0]" for k in reversed(range(n_classes))]
    lines.append(f"  wire [{payload - 1}:0] core = {{{', '.join(fields)}, index{n_classes - 1}}};")

    lines += ["", f"  // Pipeline shell: {latency} stages, all advancing together."]
    lines.append("  wire advance = ~o__valid | o__ready;")
    lines.append("  assign i__ready = advance;")
    for k in range(1, latency + 1):
        lines.append(f"  reg [{payload - 1}:0] payload{k} = {payload}'d0;")
        lines.append(f"  reg valid{k} = 1'b0;")
    lines.append("  always @(posedge clk) begin")
    lines.append("    if (advance) begin")
    lines.append("      payload1 <= core;")
    lines.append("      valid1 <= i__valid;")
    for k in range(2, latency + 1):
        lines.append(f"      payload{k} <= payload{k - 1};")
        lines.append(f"      valid{k} <= valid{k - 1};")
    lines.append("    end")
    lines.append("    if (rst) begin")
    for k in range(1, latency + 1):
        lines.append(f"      valid{k} <= 1'b0;")
    lines.append("    end")
    lines.append("  end")
    lines.append(f"  assign o__payload = payload{latency};")
    lines.append(f"  assign o__valid = valid{latency};")
    lines.append("endmodule")
    text = "\n".join(lines) + "\n"
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text
