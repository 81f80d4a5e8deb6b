"""The text form of the IR: :func:`~lwc.compiler.ir.dump` writes it, :func:`parse` reads it back.

Pass tests are written as text, xDSL style: a small net as IR text, the pass applied, the
expected text. The text holds everything a pass reads; a quantizer other than ``none`` and the
provenance are not part of it. Terms name the values they read as ``net.v`` does: ``x{f}`` the
input feature ``f`` (one of ``input_map``), ``a{o}`` the previous layer's neuron ``n{o}``.
"""

import re

from lwc.semantics import SETTINGS

from .ir import (
    ACTIVATION_KINDS,
    Activation,
    CompiledNetwork,
    InputSpec,
    Layer,
    Network,
    Neuron,
    SharedNode,
    VerifyError,
    verify,
)

__all__ = ["parse"]

_TERM = re.compile(r"^([+-])(?:(\d+)\*)?([xas]\d+)$")
_ITEM = re.compile(r"^(n|s)(\d+)((?: \w+=-?\d+)*)(?: sum=\[(-?\d+),(-?\d+)\])?( table)? :(.*)$")


def _fields(text):
    return dict(part.split("=", 1) for part in text.split())


def _terms(text, names, where):
    """The ``(inputs, weights)`` of the terms ``text``: the values the layer reads by their
    ``names`` (``{name: index}``, :func:`~lwc.compiler.ir.value_names`), shared nodes as
    ``s{k}``."""
    inputs, weights = [], []
    for term in text.split():
        match = _TERM.match(term)
        if not match:
            raise VerifyError(f"{where}: cannot read the term {term!r}")
        sign, magnitude, name = match.groups()
        if name.startswith("s"):
            index = len(names) + int(name[1:])
        elif name in names:
            index = names[name]
        else:
            raise VerifyError(f"{where}: {name} is not a value this layer reads "
                              f"({' '.join(names) or 'none'})")
        inputs.append(index)
        weights.append((-1 if sign == "-" else 1) * int(magnitude or 1))
    return tuple(inputs), tuple(weights)


def parse(text):
    """The network that :func:`~lwc.compiler.ir.dump` wrote as ``text``, verified: a
    :class:`~lwc.compiler.ir.CompiledNetwork` when every neuron and shared node has its
    ``sum=[lo,hi]``, else a :class:`~lwc.compiler.ir.Network`.

    Raises
    ------
    VerifyError
        The text is not a dump, or the net it describes breaks an invariant.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or not lines[0].startswith("network ") or \
            not lines[1].startswith("input_map") or not lines[-1].startswith("classes"):
        raise VerifyError("IR text must start with 'network' and 'input_map' lines and end "
                          "with a 'classes' line")
    head = _fields(lines[0][len("network "):])
    if head.get("quantizer", "none") != "none":
        raise VerifyError("IR text cannot describe a quantizer")
    input_map = tuple(int(i) for i in lines[1].split()[1:])
    layers, widths = [], []
    readable = {f"x{f}": k for k, f in enumerate(input_map)}
    for line in lines[2:-1]:
        if line.startswith("layer "):
            _, _, kind, *rest = line.split()
            fields = _fields(" ".join(rest))
            settings = {k: int(fields[k]) for k in fields if k in SETTINGS}
            activation = Activation(kind, **settings)
            layers.append((activation, [], []))
            if len(layers) > 1:
                readable = {f"a{n.origin}": k for k, n in enumerate(layers[-2][1])}
            continue
        match = _ITEM.match(line.strip())
        if not match or not layers:
            raise VerifyError(f"cannot read the IR line {line!r}")
        what, number, params, lo, hi, table, terms = match.groups()
        activation, neurons, shared = layers[-1]
        where = f"layer {len(layers) - 1} {what}{number}"
        inputs, weights = _terms(terms, readable, where)
        rng = None if lo is None else (int(lo), int(hi))
        widths.append(rng is not None)
        if what == "s":
            if table:
                raise VerifyError(f"{where}: a shared node cannot be a table")
            shared.append(SharedNode(inputs, weights, rng))
        else:
            values = _fields(params)
            names = ACTIVATION_KINDS.get(activation.kind, ())
            neurons.append(Neuron(inputs, weights, tuple(int(values[k]) for k in names),
                                  int(number), rng, table=bool(table)))
    compiled = bool(widths) and all(widths)
    kind = CompiledNetwork if compiled else Network
    net = kind(input=InputSpec(int(head["inputs"]), int(head["bits"])),
               layers=tuple(Layer(a, tuple(n), tuple(s)) for a, n, s in layers),
               classes=tuple(lines[-1].split()[1:]), input_map=input_map)
    return verify(net)
