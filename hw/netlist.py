"""The one description of lwc's datapaths: a netlist of named signals, and its two printers.

The builders (:mod:`lwc.hw.adder_tree`, :mod:`lwc.hw.layer`, :mod:`lwc.hw.network`) make a
:class:`Netlist` once: ports, wires and registers with exact shapes and readable names, each
driven by one expression over earlier signals. Two printers read it and add no rule of their own:

* :func:`to_amaranth` adds it to an Amaranth module (what ``elaborate`` returns, so what the
  bitstream is built from);
* :func:`to_verilog` writes it as one Verilog module (what ``lwc compile`` writes as ``net.v``).

So both have the same signals, names, widths and logic; ``tests/hw/test_netlist.py`` proves them
equivalent with Yosys. A name is given once: making a second signal of the same name is an error.

Signals made inside :meth:`Netlist.scope` belong to a named part (``layer0``, ``argmax``):
:func:`to_amaranth` puts each part in a submodule of that name, so the design has the hierarchy
of its parts (timing reports name ``network.layer0.l0_n3_sum``) and synthesis sees the same
module structure as when each part was a component (Yosys' results depend on it: the flattened
order of the cells changes how ABC maps them); :func:`to_verilog` writes one flat module.

Expressions
-----------
Arithmetic (``add``, ``sub``, ``neg``, ``mul`` by a constant, ``sar`` by a constant, ``gt``, and
``mux``) is value-preserving: operands keep their values whatever their signedness (as in
Amaranth), and its operands are signals or constants. Bit logic (``bit``, ``slice``, ``not_``,
``and_``, ``or_``, ``xor``, ``cat``, ``repl``, ``any_``) works on unsigned bit vectors and nests
freely; a truth table (``lookup``) is a one-bit wire of its own. A signal's driver is assigned to
it as Amaranth's ``eq`` does: truncated or extended by the driver's own signedness; every builder
makes signals wide enough for their values.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned

__all__ = ["Netlist", "Node", "to_amaranth", "to_verilog"]


class Node:
    """A signal (``name`` set: ``input``, ``output``, ``wire`` or ``reg``) or an expression
    (``name`` is ``None``) of Amaranth ``shape``; ``args`` are its operands and settings;
    ``scope`` is the part a signal belongs to (``None`` for the netlist's own)."""

    __slots__ = ("op", "shape", "args", "name", "scope")

    def __init__(self, op, shape, args, name=None, scope=None):
        self.op, self.shape, self.args, self.name, self.scope = op, shape, args, name, scope

    def __repr__(self):
        return f"Node({self.op}, {self.shape!r}, {self.name or self.args!r})"


_ONE = unsigned(1)


class Netlist:
    """A netlist under construction: signals in the order they are made.

    ``en`` is the enable of the registers :meth:`reg` makes (a 1-bit node, set by the builder);
    ``keep`` marks the adders :meth:`add` makes with the ``keep`` attribute (so that synthesis maps
    each on its own; see :class:`~lwc.hw.TernaryLayer`).
    """

    def __init__(self, *, keep=False):
        self.signals = []
        self.ports = []
        self.en = None
        self.keep = keep
        self._names = set()
        self._scope = None

    def _signal(self, op, name, shape, args):
        assert name not in self._names, f"two signals named {name!r}"
        self._names.add(name)
        node = Node(op, shape, args, name, self._scope)
        self.signals.append(node)
        return node

    def scope(self, name):
        """A context manager: the wires and registers made inside it are the part ``name`` (see
        the module docstring); ports stay the netlist's own. Parts do not nest."""
        return _Scope(self, name)

    # Signals.

    def input(self, name, shape):
        """An input port (bound to a value by :func:`to_amaranth`)."""
        assert self._scope is None, f"port {name!r} inside part {self._scope!r}"
        node = self._signal("input", name, shape, None)
        self.ports.append(node)
        return node

    def output(self, name, shape):
        """An output port; :meth:`drive` gives it its value (it may be read before)."""
        assert self._scope is None, f"port {name!r} inside part {self._scope!r}"
        node = self._signal("output", name, shape, [None])
        self.ports.append(node)
        return node

    def drive(self, port, expr):
        assert port.op == "output" and port.args[0] is None, port
        port.args[0] = expr

    def wire(self, name, shape, expr, *, keep=False):
        """The signal ``name`` of ``shape``, driven by ``expr``."""
        return self._signal("wire", name, shape, (expr, keep))

    def later(self, name, shape):
        """The wire ``name`` of ``shape``, read before it is driven: :meth:`assign` drives it
        (the state of a feedback loop through registers)."""
        return self._signal("wire", name, shape, [None, False])

    def assign(self, wire, expr):
        """Drive the wire ``wire`` made by :meth:`later`."""
        assert wire.op == "wire" and wire.args[0] is None, wire
        wire.args[0] = expr

    def reg(self, name, shape, expr, *, reset=False):
        """A register ``name`` (initially 0) taking ``expr`` on each clock edge with :attr:`en`
        high; with ``reset``, the synchronous reset clears it (otherwise it is reset-less)."""
        return self._signal("reg", name, shape, (expr, self.en, reset))

    # The adder-tree builders' vocabulary.

    def add(self, name, shape, a, b, *, subtract):
        """The wire ``name`` = ``a - b`` (``subtract``) or ``a + b``, marked ``keep`` when the
        netlist keeps adders."""
        return self.wire(name, shape, Node("sub" if subtract else "add", shape, (a, b)),
                         keep=self.keep)

    def scale(self, name, shape, value, factor):
        """The wire ``name`` = ``value * factor`` (a positive constant: a shift for a power of
        two)."""
        return self.wire(name, shape, Node("mul", shape, (value, factor)))

    def neg(self, name, shape, value):
        return self.wire(name, shape, Node("neg", shape, (value,)))

    def copy(self, name, shape, value):
        return self.wire(name, shape, value)

    def lookup(self, name, table, index):
        """The one-bit wire ``name`` = bit ``index`` of the constant ``table`` (an int of
        ``2**index.shape.width`` bits): a truth table over the bits of ``index``."""
        size = 1 << index.shape.width
        assert 0 <= table < 1 << size, (table, size)
        return self.wire(name, _ONE, Node("lookup", _ONE, (index, table, size)))

    def full_adder(self, name, a, b, c):
        s = self.wire(f"{name}_s", _ONE, self.xor(self.xor(a, b), c))
        carry = self.wire(f"{name}_c", _ONE, self.or_(self.or_(self.and_(a, b), self.and_(a, c)),
                                                      self.and_(b, c)))
        return s, carry

    def half_adder(self, name, a, b):
        return (self.wire(f"{name}_s", _ONE, self.xor(a, b)),
                self.wire(f"{name}_c", _ONE, self.and_(a, b)))

    def add_rows(self, name, shape, row_a, row_b):
        """The wire ``name`` = the sum of two rows of bits (``None`` for 0), least significant
        first, modulo ``2**shape.width``."""
        zero = self.const(0, _ONE)
        rows = [self.cat(*(b if b is not None else zero for b in row)) for row in (row_a, row_b)]
        return self.wire(name, shape, Node("add", shape, tuple(rows)), keep=self.keep)

    # Expressions.

    @staticmethod
    def const(value, shape):
        return Node("const", shape, value)

    @staticmethod
    def bit(value, index):
        if value.op == "const":
            return Node("const", _ONE, value.args >> index & 1)
        return Node("bit", _ONE, (value, index))

    def slice(self, value, start, stop):
        if value.op == "const":
            return self.const(value.args >> start & ((1 << (stop - start)) - 1),
                              unsigned(stop - start))
        return Node("slice", unsigned(stop - start), (value, start, stop))

    @staticmethod
    def not_(a):
        if a.op == "not":
            return a.args[0]
        if a.op == "const":
            return Node("const", _ONE, 1 - a.args)
        return Node("not", _ONE, (a,))

    invert = not_

    def one(self):
        return self.const(1, _ONE)

    def constant_bit(self, value):
        return self.const(value, _ONE)

    @staticmethod
    def and_(a, b):
        return Node("and", unsigned(max(a.shape.width, b.shape.width)), (a, b))

    @staticmethod
    def or_(a, b):
        return Node("or", unsigned(max(a.shape.width, b.shape.width)), (a, b))

    @staticmethod
    def xor(a, b):
        return Node("xor", unsigned(max(a.shape.width, b.shape.width)), (a, b))

    @staticmethod
    def cat(*parts):
        """Bits of ``parts``, the first least significant."""
        return Node("cat", unsigned(sum(p.shape.width for p in parts)), parts)

    @staticmethod
    def repl(a, count):
        return Node("repl", unsigned(a.shape.width * count), (a, count))

    @staticmethod
    def any_(a):
        return Node("any", _ONE, (a,))

    @staticmethod
    def add_expr(a, b, shape):
        return Node("add", shape, (a, b))

    @staticmethod
    def sub_expr(a, b, shape):
        return Node("sub", shape, (a, b))

    @staticmethod
    def sar(a, amount, shape):
        """``a >> amount``, the floor (arithmetic when ``a`` is signed) shift."""
        return Node("sar", shape, (a, amount))

    @staticmethod
    def gt(a, b):
        return Node("gt", _ONE, (a, b))

    @staticmethod
    def mux(select, if_true, if_false, shape):
        return Node("mux", shape, (select, if_true, if_false))

    def extend(self, value, width):
        """``value`` (a signal) sign- or zero-extended (by its signedness) to ``width`` bits."""
        w = value.shape.width
        if w == 0:
            return self.const(0, unsigned(width))
        if w >= width:
            return self.slice(value, 0, width)
        fill = self.repl(self.bit(value, w - 1), width - w) if value.shape.signed else \
            self.const(0, unsigned(width - w))
        return self.cat(value, fill)


class _Scope:
    def __init__(self, netlist, name):
        self._netlist, self._name = netlist, name

    def __enter__(self):
        assert self._netlist._scope is None, \
            f"part {self._name!r} inside part {self._netlist._scope!r}"
        self._netlist._scope = self._name

    def __exit__(self, *exc):
        self._netlist._scope = None


# The Amaranth printer.

def to_amaranth(netlist, m, bindings):
    """Add ``netlist`` to the Amaranth module ``m``, each part (:meth:`Netlist.scope`) as the
    submodule of its name; ``bindings`` maps each port's name to the Amaranth value it is (an
    output port's is driven, combinationally). Returns a function that gives the Amaranth value
    of any node."""
    values = {}

    def value(node):
        found = values.get(node)
        if found is not None:
            return found
        op, args = node.op, node.args
        if op == "const":
            result = Const(args, node.shape)
        elif op in ("add", "sub"):
            a, b = value(args[0]), value(args[1])
            result = a - b if op == "sub" else a + b
        elif op == "neg":
            result = -value(args[0])
        elif op == "mul":
            factor = args[1]
            result = value(args[0]) << (factor.bit_length() - 1) if factor & (factor - 1) == 0 \
                else value(args[0]) * factor
        elif op == "sar":
            result = value(args[0]) >> args[1]
        elif op == "gt":
            result = value(args[0]) > value(args[1])
        elif op == "mux":
            result = Mux(value(args[0]), value(args[1]), value(args[2]))
        elif op == "bit":
            result = value(args[0])[args[1]]
        elif op == "slice":
            result = value(args[0])[args[1]:args[2]]
        elif op == "not":
            result = ~value(args[0])
        elif op == "and":
            result = value(args[0]) & value(args[1])
        elif op == "or":
            result = value(args[0]) | value(args[1])
        elif op == "xor":
            result = value(args[0]) ^ value(args[1])
        elif op == "cat":
            result = Cat(*(value(p) for p in args))
        elif op == "repl":
            result = value(args[0]).replicate(args[1])
        elif op == "any":
            result = value(args[0]).any()
        elif op == "lookup":
            index, table, size = args
            result = Const(table, size).bit_select(value(index), 1)
        else:
            raise AssertionError(f"{op} is not an expression")
        values[node] = result
        return result

    for node in netlist.signals:
        if node.op in ("input", "output"):
            values[node] = bindings[node.name]
        else:
            keep = node.op == "wire" and node.args[1]
            reset = node.op == "reg" and node.args[2]
            values[node] = Signal(node.shape, name=node.name, reset_less=not reset,
                                  attrs={"keep": 1} if keep else {})
    parts = {None: m}  # in the order they are first made in
    for node in netlist.signals:
        part = parts.get(node.scope)
        if part is None:
            part = parts[node.scope] = m.submodules[node.scope] = Module()
        op = node.op
        if op == "wire":
            part.d.comb += values[node].eq(value(node.args[0]))
        elif op == "reg":
            with part.If(value(node.args[1])):
                part.d.sync += values[node].eq(value(node.args[0]))
        elif op == "output":
            part.d.comb += values[node].eq(value(node.args[0]))
    return value


# The Verilog printer.

def _literal(value):
    """A signed Verilog literal of ``value``, just wide enough."""
    width = abs(value).bit_length() + 1
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def _decl(shape):
    sign = " signed" if shape.signed else ""
    return f"{sign} [{shape.width - 1}:0]" if shape.width > 1 or shape.signed else \
        ("" if shape.width == 1 else None)


#: Verilog's binary operators for the netlist's operations: on signed operands (``$signed``) and
#: bitwise on the operands as they are.
_SIGNED_OPERATORS = {"add": "+", "sub": "-", "gt": ">"}
_BITWISE_OPERATORS = {"and": "&", "or": "|", "xor": "^"}


class _VerilogText:
    """Verilog text of nodes: :meth:`own` as an operand of the node's own width and signedness,
    :meth:`signed` as a signed operand (unsigned values get a zero bit on top)."""

    def own(self, node):
        op = node.op
        if node.name is not None:
            if node.shape.width == 0:
                return "1'b0"
            return node.name
        if op == "const":
            w, v = node.shape.width, node.args
            if w == 0:
                return "1'b0"
            if node.shape.signed:
                return f"-{w}'sd{-v}" if v < 0 else f"{w}'sd{v}"
            return f"{w}'d{v}"
        assert op != "lookup", "a lookup is read through the wire it drives"
        return f"({self.expr(node)})"

    @staticmethod
    def _select(node, msb, lsb):
        """Bits ``msb`` down to ``lsb`` of a signal (a one-bit unsigned one is a scalar)."""
        if node.shape.width == 1 and not node.shape.signed:
            return node.name
        return f"{node.name}[{msb}]" if msb == lsb else f"{node.name}[{msb}:{lsb}]"

    def signed(self, node):
        if node.op == "const":
            return _literal(node.args)
        if node.shape.width == 0:
            return "1'sb0"
        if node.shape.signed:
            return self.own(node)
        return f"$signed({{1'b0, {self.own(node)}}})"

    def expr(self, node):
        """``node`` as an expression (a driver)."""
        op, args = node.op, node.args
        if node.name is not None or op == "const":
            return self.own(node)
        if op in _SIGNED_OPERATORS:
            return f"{self.signed(args[0])} {_SIGNED_OPERATORS[op]} {self.signed(args[1])}"
        if op == "neg":
            return f"-{self.signed(args[0])}"
        if op == "mul":
            return f"{self.signed(args[0])} * {_literal(args[1])}"
        if op == "sar":
            return f"{self.own(args[0])} >>> {args[1]}"
        if op == "mux":
            select, a, b = args
            text = self.own if not (a.shape.signed or b.shape.signed) else self.signed
            return f"{self.own(select)} ? {text(a)} : {text(b)}"
        if op == "bit":
            return self._select(args[0], args[1], args[1])
        if op == "slice":
            return self._select(args[0], args[2] - 1, args[1])
        if op == "not":
            return f"~{self.own(args[0])}"
        if op in _BITWISE_OPERATORS:
            return f"{self.own(args[0])} {_BITWISE_OPERATORS[op]} {self.own(args[1])}"
        if op == "cat":
            parts = [self.own(p) for p in reversed(args) if p.shape.width]
            return "{" + ", ".join(parts) + "}"
        if op == "repl":
            return f"{{{args[1]}{{{self.own(args[0])}}}}}"
        if op == "any":
            return f"|{self.own(args[0])}"
        if op == "lookup":  # only a one-bit wire's driver (Netlist.lookup), which truncates it
            index, table, size = args
            return f"{size}'h{table:x} >> {self.own(index)}"
        raise AssertionError(f"{op} is not an expression")


def to_verilog(netlist, name):
    """``netlist`` as the text of one Verilog module ``name`` with ports ``clk``, ``rst`` and the
    netlist's ports, in order.

    The ``keep`` attribute is not written: YoWASP Yosys 0.70 ``synth_ice40`` loses the drivers of
    kept wires (a flip-flop gets ``.D(1'hx)``), so a user synthesizing ``net.v`` would get broken
    hardware. A signal of width 0 is the constant 0 and is not declared.
    """
    text = _VerilogText()
    ports = netlist.ports
    # The lines are joined a few thousand at a time: a million-weight net has millions of them,
    # and as separate strings they would take twice the memory of the text they make.
    chunks, lines = [], [f"module {name}(clk, rst, {', '.join(p.name for p in ports)});",
                         "  input clk;", "  input rst;"]

    def flush(limit=4096):
        if len(lines) >= limit:
            chunks.append("\n".join(lines))
            lines.clear()

    for port in ports:
        direction = "input" if port.op == "input" else "output"
        decl = _decl(port.shape)
        lines.append(f"  {direction}{decl} {port.name};")
    signals = [node for node in netlist.signals
               if node.op not in ("input", "output") and _decl(node.shape) is not None]
    # Every signal is declared before any is read: a wire made by Netlist.later is read first.
    for node in signals:
        decl = _decl(node.shape)
        if node.op == "wire":
            lines.append(f"  wire{decl} {node.name};")
        else:
            lines.append(f"  reg{decl} {node.name} = {node.shape.width}'h0;")
        flush()
    for node in signals:
        if node.op == "wire":
            lines.append(f"  assign {node.name} = {text.expr(node.args[0])};")
        else:
            expr, en, reset = node.args
            update = f"if ({text.own(en)}) {node.name} <= {text.expr(expr)};"
            if reset:
                update = f"if (rst) {node.name} <= {node.shape.width}'h0; else {update}"
            lines.append(f"  always @(posedge clk) {update}")
        flush()
    for port in ports:
        if port.op == "output" and port.shape.width:
            lines.append(f"  assign {port.name} = {text.expr(port.args[0])};")
    lines.append("endmodule")
    flush(limit=0)
    return "\n".join(chunks) + "\n"
