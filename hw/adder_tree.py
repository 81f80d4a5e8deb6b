"""Adder trees for neurons: exact-width, optionally pipelined every N levels.

The trees are made by builders that take an *ops* object, so that the same code makes the
Amaranth design (:class:`AmaranthOps`, signals of a module) and the Verilog ``lwc compile`` writes
(:class:`VerilogOps`, lines of text) with the same adders, registers and names:
:func:`sum_tree` (a balanced tree over operands that may arrive at different levels, as shared
sums do), :class:`Pipeline` (registered copies of values read in later stages) and
:func:`compressor_sum` (a carry-save tree for one-bit operands). :class:`AdderTree` is one tree as
a component.
"""

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lwc.semantics import range_bits, weighted_sum_range

__all__ = ["AdderTree", "range_shape", "weighted_sum_range", "tree_depth", "register_levels",
           "schedule_depth", "stage_of", "AmaranthOps", "VerilogOps", "VerilogValue", "literal",
           "Pipeline", "combine", "sum_tree", "compressor_sum", "at_least", "weighted_nodes"]


def range_shape(lo, hi):
    """The narrowest shape that holds every integer in ``[lo, hi]``
    (:func:`lwc.semantics.range_bits`): unsigned when ``lo >= 0`` (zero bits wide for ``[0, 0]``),
    otherwise signed."""
    width, is_signed = range_bits(lo, hi)
    return signed(width) if is_signed else unsigned(width)


def tree_depth(count):
    """Number of adder levels of a balanced tree over ``count`` operands."""
    return max(count - 1, 0).bit_length()


def register_levels(levels, register_every):
    """The levels (1-based) after which a tree laid out over ``levels`` levels has registers.

    Registers follow every ``register_every``-th level, but never the last one: the reader of the
    tree registers (or pipelines) what comes after it.
    """
    if register_every is None:
        return ()
    return tuple(range(register_every, levels, register_every))


def _check_register_every(register_every):
    if register_every is not None and not (
            isinstance(register_every, int) and not isinstance(register_every, bool)
            and register_every >= 1):
        raise TypeError(f"register_every must be None or a positive integer, "
                        f"not {register_every!r}")


def schedule_depth(arrivals):
    """Levels a tree needs over operands that become available after the given levels (0 for
    inputs, ``L`` for a value made by an adder at level ``L``): the level of its root.

    Each level adds every pair of available operands (see :func:`sum_tree`), which is as shallow
    as a tree of two-input adders can be. ``tree_depth(n) == schedule_depth([0] * n)``.
    """
    ops = sorted(arrivals)
    level = 0
    while len(ops) > 1:
        level += 1
        ready = [a for a in ops if a < level]
        ops = [a for a in ops if a >= level] + [level] * (len(ready) // 2) + ready[:len(ready) % 2]
    return ops[0] if ops else 0


def stage_of(level, registers):
    """Pipeline stage of the logic at adder ``level`` when ``registers`` follow those levels."""
    return sum(1 for r in registers if r < level)


class _Node:
    """A tree value: ``sign * value`` where ``value`` lies in ``[lo, hi]``, made at adder ``level``
    (0 for operands). ``value`` is whatever the builder (:class:`AmaranthOps` or
    :class:`VerilogOps`) makes. ``name`` names its delayed copies; ``key`` (when set) lets every
    reader of the same value at the same stage share one copy."""

    __slots__ = ("value", "lo", "hi", "sign", "level", "name", "key")

    def __init__(self, value, lo, hi, sign, level=0, name=None, key=None):
        self.value, self.lo, self.hi, self.sign = value, lo, hi, sign
        self.level, self.name, self.key = level, name, key

    def signed(self, sign):
        """The same value read with weight ``sign`` (+1 or -1)."""
        return _Node(self.value, self.lo, self.hi, self.sign * sign, self.level, self.name,
                     self.key)


def _pair(nodes):
    """One tree level: the pairs to combine, and the node passed through (or ``None``).

    Positive nodes are paired with negative ones first, so a subtraction replaces a negation; a
    negative node survives to the root only when every operand has a negative weight.
    """
    pos = [n for n in nodes if n.sign > 0]
    neg = [n for n in nodes if n.sign < 0]
    mixed = min(len(pos), len(neg))
    pairs = list(zip(pos[:mixed], neg[:mixed]))
    rest = pos[mixed:] + neg[mixed:]
    pairs += list(zip(rest[0::2], rest[1::2]))
    return pairs, (rest[-1] if len(rest) % 2 else None)


def combine(ops, name, a, b, level, key=None):
    """The node ``a + b`` (made by ``ops`` as the signal ``name``), subtracting rather than
    negating where signs differ."""
    if a.sign == b.sign:
        lo, hi, sign, subtract = a.lo + b.lo, a.hi + b.hi, a.sign, False
    else:
        if a.sign < 0:
            a, b = b, a
        lo, hi, sign, subtract = a.lo - b.hi, a.hi - b.lo, +1, True
    value = ops.add(name, range_shape(lo, hi), a.value, b.value, subtract=subtract)
    return _Node(value, lo, hi, sign, level, name, key)


class AmaranthOps:
    """Builds adder-tree nodes as Amaranth signals of module ``m``; registers are enabled by
    ``en``. With ``keep``, adder outputs carry the ``keep`` attribute (so synthesis cannot merge
    adders into one multi-operand sum)."""

    def __init__(self, m, en, *, keep=False):
        self.m, self.en, self.keep = m, en, keep

    def add(self, name, shape, a, b, *, subtract):
        sig = Signal(shape, name=name, reset_less=True, attrs={"keep": 1} if self.keep else {})
        self.m.d.comb += sig.eq(a - b if subtract else a + b)
        return sig

    def reg(self, name, shape, value):
        sig = Signal(shape, name=name, reset_less=True)
        with self.m.If(self.en):
            self.m.d.sync += sig.eq(value)
        return sig

    def scale(self, name, shape, value, factor):
        """``value * factor`` (a positive constant): a shift for powers of two."""
        if factor & (factor - 1) == 0:
            return value << (factor.bit_length() - 1)
        return value * factor

    def neg(self, name, shape, value):
        return self.copy(name, shape, -value)

    def copy(self, name, shape, value):
        sig = Signal(shape, name=name)
        self.m.d.comb += sig.eq(value)
        return sig

    # Single bits, for compressor trees (:func:`compressor_sum`).
    def bit(self, value, index):
        return value[index]

    def invert(self, bit):
        return ~bit

    def one(self):
        return Const(1, 1)

    def constant_bit(self, value):
        return Const(value, 1)

    def and_(self, a, b):
        return a & b

    def or_(self, a, b):
        return a | b

    def full_adder(self, name, a, b, c):
        s, carry = Signal(name=f"{name}_s"), Signal(name=f"{name}_c")
        self.m.d.comb += [s.eq(a ^ b ^ c), carry.eq((a & b) | (a & c) | (b & c))]
        return s, carry

    def half_adder(self, name, a, b):
        s, carry = Signal(name=f"{name}_s"), Signal(name=f"{name}_c")
        self.m.d.comb += [s.eq(a ^ b), carry.eq(a & b)]
        return s, carry

    def add_rows(self, name, shape, row_a, row_b):
        """The sum of two rows of bits (``None`` for 0), least significant first, modulo
        ``2**shape.width``."""
        zero = Const(0, 1)
        sig = Signal(shape, name=name, attrs={"keep": 1} if self.keep else {})
        self.m.d.comb += sig.eq(Cat(*(b if b is not None else zero for b in row_a))
                                + Cat(*(b if b is not None else zero for b in row_b)))
        return sig


class VerilogOps:
    """Builds adder-tree nodes as lines of Verilog text in ``lines``: every node is a declared
    wire (``assign``) or register (clocked by ``clk``, enabled by ``en``), and a value is a
    :class:`VerilogValue`.

    Verilog arithmetic is unsigned as soon as one operand is; every operand is therefore made
    signed first (an unsigned one with a zero bit on top), and sums are computed in the width of
    the wire they are assigned to, which holds every value they take.
    """

    def __init__(self, lines, *, keep=False):
        self.lines, self.keep = lines, keep

    def declare(self, name, shape, kind="wire", *, init=None):
        if shape.width == 0:
            return VerilogValue(None, shape)
        sign = " signed" if shape.signed else ""
        keep = "(* keep *) " if self.keep and kind == "wire" else ""
        tail = f" = {shape.width}'h0" if init is not None else ""
        self.lines.append(f"  {keep}{kind}{sign} [{shape.width - 1}:0] {name}{tail};")
        return VerilogValue(name, shape)

    def assign(self, target, text):
        if target.name is not None:
            self.lines.append(f"  assign {target.name} = {text};")
        return target

    def add(self, name, shape, a, b, *, subtract):
        target = VerilogValue(None, shape) if shape.width == 0 else \
            self.declare(name, shape, "wire")
        return self.assign(target, f"{a.signed_text()} {'-' if subtract else '+'} "
                                   f"{b.signed_text()}")

    def reg(self, name, shape, value):
        if shape.width == 0:
            return VerilogValue(None, shape)
        target = self.declare(name, shape, "reg", init=0)
        self.lines.append(f"  always @(posedge clk) if (en) {name} <= {value.text()};")
        return target

    def scale(self, name, shape, value, factor):
        target = self.declare(name, shape, "wire")
        return self.assign(target, f"{value.signed_text()} * {literal(factor)}")

    def neg(self, name, shape, value):
        return self.assign(self.declare(name, shape), f"-{value.signed_text()}")

    def copy(self, name, shape, value):
        return self.assign(self.declare(name, shape), value.text())

    # Single bits are Verilog expressions (strings).
    def bit(self, value, index):
        return f"{value.name}[{index}]"

    def invert(self, bit):
        if bit.startswith("(~") and bit.endswith(")") and "(" not in bit[2:]:
            return bit[2:-1]
        return f"(~{bit})"

    def one(self):
        return "1'b1"

    def constant_bit(self, value):
        return f"1'b{value}"

    def and_(self, a, b):
        return f"({a} & {b})"

    def or_(self, a, b):
        return f"({a} | {b})"

    def full_adder(self, name, a, b, c):
        self.lines.append(f"  wire {name}_s = {a} ^ {b} ^ {c};")
        self.lines.append(f"  wire {name}_c = ({a} & {b}) | ({a} & {c}) | ({b} & {c});")
        return f"{name}_s", f"{name}_c"

    def half_adder(self, name, a, b):
        self.lines.append(f"  wire {name}_s = {a} ^ {b};")
        self.lines.append(f"  wire {name}_c = {a} & {b};")
        return f"{name}_s", f"{name}_c"

    def add_rows(self, name, shape, row_a, row_b):
        target = self.declare(name, shape)
        rows = ["{" + ", ".join(b if b is not None else "1'b0" for b in reversed(row)) + "}"
                for row in (row_a, row_b)]
        return self.assign(target, f"{rows[0]} + {rows[1]}")


class VerilogValue:
    """A named Verilog wire or register of Amaranth ``shape`` (``name`` is ``None`` for a value
    of width 0, which is the constant 0)."""

    __slots__ = ("name", "shape")

    def __init__(self, name, shape):
        self.name, self.shape = name, shape

    def text(self):
        """The value as an operand of its own width and signedness."""
        return self.name if self.name is not None else "1'b0"

    def signed_text(self):
        """The value as a signed operand (one bit wider when unsigned)."""
        if self.name is None:
            return "1'sb0"
        return self.name if self.shape.signed else f"$signed({{1'b0, {self.name}}})"


def literal(value):
    """A signed Verilog literal of ``value``, just wide enough."""
    width = abs(value).bit_length() + 1  # the magnitude as a positive signed number
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


class Pipeline:
    """Delayed copies of values for readers in later pipeline stages of one block.

    ``registers`` are the adder levels followed by a pipeline register (see
    :func:`register_levels`); ``ops`` makes the registers. A value made at level ``p`` and read at
    level ``l`` passes through ``stage_of(l) - stage_of(p)`` registers, named ``{name}_r{stage}``;
    copies of values with a ``key`` are made once for all readers.
    """

    def __init__(self, ops, registers):
        self._ops, self._registers = ops, tuple(registers)
        self._copies = {}

    def stage(self, level):
        return stage_of(level, self._registers)

    def at(self, node, level):
        """``node`` as read by logic at adder ``level``."""
        if not self._registers:
            return node
        have, want = self.stage(node.level), self.stage(level)
        value = node.value
        for stage in range(have + 1, want + 1):
            memo = None if node.key is None else (node.key, stage)
            reg = self._copies.get(memo) if memo is not None else None
            if reg is None:
                reg = self._ops.reg(f"{node.name}_r{stage}", range_shape(node.lo, node.hi), value)
                if memo is not None:
                    self._copies[memo] = reg
            value = reg
        return _Node(value, node.lo, node.hi, node.sign, level, node.name, node.key)


def sum_tree(ops, nodes, *, levels, pipeline, name):
    """Add ``nodes`` (:class:`_Node` s, each available after its ``level``) in a tree of
    exact-width adders laid out over ``levels`` levels; return the root as read after the last
    level (a :class:`_Node`; ``None`` for no nodes).

    At each level every pair of available nodes is added (positive with negative first, as a
    subtraction); node ``k`` of level ``l`` is the signal ``{name}_{l}_{k}``.
    """
    if not nodes:
        return None
    nodes = list(nodes)
    for level in range(1, levels + 1):
        ready = [n for n in nodes if n.level < level]
        if len(ready) < 2:
            continue
        ready = [pipeline.at(n, level) for n in ready]
        waiting = [n for n in nodes if n.level >= level]
        pairs, passed = _pair(ready)
        nodes = waiting + ([passed] if passed is not None else [])
        nodes += [combine(ops, f"{name}_{level}_{k}", a, b, level)
                  for k, (a, b) in enumerate(pairs)]
    (root,) = nodes
    return pipeline.at(root, levels + 1)


def _dadda_heights(tallest):
    """Dadda's column heights below ``tallest``, largest first, down to 2."""
    heights = [2]
    while heights[-1] * 3 // 2 < tallest:
        heights.append(heights[-1] * 3 // 2)
    return heights[::-1]


def compressor_sum(ops, nodes, lo, hi, *, name):
    """``sum(sign * value)`` over ``nodes`` (known to lie in ``[lo, hi]``) as a carry-save tree of
    full and half adders (3:2 and 2:2 counters, each output one 4-input LUT) reduced to two rows
    by Dadda's schedule, then one carry-chain adder; the result is the signal ``name`` of shape
    ``range_shape(lo, hi)``.

    Every operand's bits go into the columns of their weight: a negative operand as its inverted
    bits, a signed one with its sign bit inverted, and the constants this leaves are added as one
    constant's bits. Everything is computed modulo ``2**width``, which the result's interval fits.
    """
    shape = range_shape(lo, hi)
    width = shape.width
    columns = [[] for _ in range(width)]
    constant = 0
    for node in nodes:
        w = range_shape(node.lo, node.hi).width
        signed_value = node.lo < 0
        for i in range(min(w, width)):
            bit = ops.bit(node.value, i)
            top = signed_value and i == w - 1
            if (node.sign < 0) != top:  # negated, or a sign bit (weight -2**i): invert it
                bit = ops.invert(bit)
            columns[i].append(bit)
        # Constants left by the inversions: -(2**w - 1) for a negated unsigned value, -2**(w-1)
        # for a signed one, -(2**(w-1) - 1) for a negated signed one.
        if node.sign < 0:
            constant -= (1 << (w - 1)) - 1 if signed_value else (1 << w) - 1
        elif signed_value:
            constant -= 1 << (w - 1)
    constant %= 1 << max(width, 1)
    for i in range(width):
        if constant >> i & 1:
            columns[i].append(ops.one())
    count = 0
    for height in _dadda_heights(max((len(c) for c in columns), default=0)):
        carries = [[] for _ in range(width + 1)]
        for i in range(width):
            column = columns[i] + carries[i]
            while len(column) > height:
                if len(column) - height >= 2:
                    s, c = ops.full_adder(f"{name}_fa{count}", *column[:3])
                    column = column[3:] + [s]
                else:
                    s, c = ops.half_adder(f"{name}_ha{count}", *column[:2])
                    column = column[2:] + [s]
                count += 1
                carries[i + 1].append(c)
            columns[i] = column
    row_a = [c[0] if len(c) > 0 else None for c in columns]
    row_b = [c[1] if len(c) > 1 else None for c in columns]
    return ops.add_rows(name, shape, row_a, row_b)


def at_least(ops, value, lo, hi, t):
    """The bit ``value >= t`` for a ``value`` of ``range_shape(lo, hi)`` and a constant ``t``, as a
    chain of ANDs and ORs of its bits (least significant first: where ``t`` has a 1 the bit must
    be set too, where it has a 0 a set bit decides).

    A comparison written as ``>=`` becomes a subtractor on a carry chain, one logic cell per bit;
    this chain packs three bits into each 4-input LUT.
    """
    if t <= lo:
        return ops.constant_bit(1)
    if t > hi:
        return ops.constant_bit(0)
    shape = range_shape(lo, hi)
    width = shape.width
    if shape.signed:  # compare offset-binary: flip the sign bit, shift t alike
        t += 1 << (width - 1)
    decided = None  # the comparison of the bits so far; None while it is "equal, so >="
    for i in range(width):
        bit = ops.bit(value, i)
        if shape.signed and i == width - 1:
            bit = ops.invert(bit)
        if t >> i & 1:
            decided = bit if decided is None else ops.and_(bit, decided)
        elif decided is not None:
            decided = ops.or_(bit, decided)
    return decided


def weighted_nodes(ops, operands, ranges, weights, names, *, levels=None):
    """:class:`_Node` s for ``w * x`` over ``operands`` (values made by ``ops``) with ``ranges``
    and ``names``, available after ``levels`` (default 0); weights of magnitude above 1 become
    shifts (powers of two) or constant multiplies."""
    nodes = []
    for k, (x, w, (lo, hi), name) in enumerate(zip(operands, weights, ranges, names)):
        mag = abs(w)
        level = 0 if levels is None else levels[k]
        if mag != 1:
            x = ops.scale(f"{name}_x{mag}", range_shape(mag * lo, mag * hi), x, mag)
        nodes.append(_Node(x, mag * lo, mag * hi, 1 if w > 0 else -1, level, name,
                           name if mag == 1 else None))
    return nodes


class AdderTree(wiring.Component):
    """``sum(w[k] * x[k])`` over the operands of one neuron, as a balanced tree of adders.

    Every node of the tree is exactly as wide as the interval of values it can hold, computed from
    the operand ranges; a ``-1`` weight becomes a subtraction at the node where its operand meets a
    positive one. Weights of magnitude above 1 are constant multiplies (shifts for powers of two).
    No operands gives the constant 0.

    Parameters
    ----------
    ranges : sequence of (int, int)
        ``(lo, hi)`` of each operand; operand ``k`` has the shape ``range_shape(lo, hi)``.
    weights : sequence of int
        One nonzero weight per operand.
    register_every : int or None
        Place a register after every this many adder levels (never after the last level: the
        reader registers the sum). ``None`` gives a purely combinational tree.
    levels : int or None
        Number of levels to lay the tree out over (default: its own depth). A shallower tree
        passes its root through the extra levels, so trees laid out over the same levels have the
        same latency.
    name : str
        Prefix of node signal names: node ``k`` of level ``l`` is ``{name}_{l}_{k}``.

    Members
    -------
    x0, x1, ... : ``In(range_shape(*ranges[k]))``
        The operands.
    en : ``In(1, init=1)``
        Clock enable of the pipeline registers (hold everything while low).
    sum : ``Out(range_shape(*sum_range))``
        The weighted sum, ``latency`` cycles (of ``en`` high) after its operands.
    """

    def __init__(self, ranges, weights, *, register_every=None, levels=None, name="tree"):
        ranges = tuple((lo, hi) for lo, hi in ranges)
        weights = tuple(weights)
        if len(ranges) != len(weights):
            raise ValueError(f"{len(ranges)} operand ranges for {len(weights)} weights")
        for w in weights:
            if not isinstance(w, int) or isinstance(w, bool) or w == 0:
                raise ValueError(f"Weights must be nonzero integers, not {w!r}")
        _check_register_every(register_every)
        depth = tree_depth(len(weights))
        if levels is None:
            levels = depth
        if not (isinstance(levels, int) and levels >= depth):
            raise ValueError(f"levels must be an integer >= the tree depth {depth}, "
                             f"not {levels!r}")
        self._ranges = ranges
        self._weights = weights
        self._levels = levels
        self._registers = register_levels(levels, register_every) if weights else ()
        self._name = name
        self._sum_range = weighted_sum_range(ranges, weights)
        members = {f"x{k}": In(range_shape(lo, hi)) for k, (lo, hi) in enumerate(ranges)}
        members["en"] = In(1, init=1)
        members["sum"] = Out(range_shape(*self._sum_range))
        super().__init__(wiring.Signature(members))

    @property
    def sum_range(self):
        """``(lo, hi)``: the exact interval of ``sum``."""
        return self._sum_range

    @property
    def latency(self):
        """Cycles from operands to ``sum`` (0 when combinational)."""
        return len(self._registers)

    @property
    def operands(self):
        """The operand ports ``(x0, x1, ...)``."""
        return tuple(getattr(self, f"x{k}") for k in range(len(self._weights)))

    def elaborate(self, platform):
        m = Module()
        ops = AmaranthOps(m, self.en)
        pipeline = Pipeline(ops, self._registers)
        nodes = weighted_nodes(ops, self.operands, self._ranges, self._weights,
                               [f"{self._name}_x{k}" for k in range(len(self._weights))])
        root = sum_tree(ops, nodes, levels=self._levels, pipeline=pipeline, name=self._name)
        if root is None:
            m.d.comb += self.sum.eq(0)
        else:
            m.d.comb += self.sum.eq(root.value if root.sign > 0 else -root.value)
        return m
