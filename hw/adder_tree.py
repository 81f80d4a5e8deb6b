"""Adder trees for neurons: exact-width, optionally pipelined every N levels.

The trees are built into a :class:`~lwc.hw.netlist.Netlist` (the one description from which both
the Amaranth design and the written Verilog come): :func:`sum_tree` (a balanced tree over operands
that may arrive at different levels, as shared sums do), :class:`Pipeline` (registered copies of
values read in later stages) and :func:`compressor_sum` (a carry-save tree for one-bit operands).
:class:`AdderTree` is one tree as a component.
"""

from collections import deque

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lwc.semantics import range_bits, weighted_sum_range

from .netlist import Netlist, to_amaranth
from .plan import check_register_every, register_levels, schedule_depth, stage_of, tree_depth

__all__ = ["AdderTree", "check_adder_tree", "range_shape", "weighted_sum_range", "tree_depth",
           "register_levels", "schedule_depth", "stage_of", "Term", "Pipeline", "combine",
           "sum_tree", "compressor_cuts", "compressor_sum", "at_least", "weighted_nodes"]


_SHAPES = {}


def range_shape(lo, hi):
    """The narrowest shape that holds every integer in ``[lo, hi]``
    (:func:`lwc.semantics.range_bits`): unsigned when ``lo >= 0`` (zero bits wide for ``[0, 0]``),
    otherwise signed."""
    bits = range_bits(lo, hi)
    shape = _SHAPES.get(bits)
    if shape is None:  # shapes are immutable: one object per width and signedness
        shape = _SHAPES[bits] = signed(bits[0]) if bits[1] else unsigned(bits[0])
    return shape


class Term:
    """A tree operand: ``sign * value`` where ``value`` (a netlist node) lies in ``[lo, hi]``,
    made at adder ``level`` (0 for operands). ``name`` names its delayed copies; ``key`` (when
    set) lets every reader of the same value at the same stage share one copy."""

    __slots__ = ("value", "lo", "hi", "sign", "level", "name", "key")

    def __init__(self, value, lo, hi, sign, level=0, name=None, key=None):
        self.value, self.lo, self.hi, self.sign = value, lo, hi, sign
        self.level, self.name, self.key = level, name, key

    def signed(self, sign):
        """The same value read with weight ``sign`` (+1 or -1)."""
        return Term(self.value, self.lo, self.hi, self.sign * sign, self.level, self.name,
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


def combine(nl, name, a, b, level, key=None):
    """The term ``a + b`` (the netlist wire ``name``), subtracting rather than negating where
    signs differ."""
    if a.sign == b.sign:
        lo, hi, sign, subtract = a.lo + b.lo, a.hi + b.hi, a.sign, False
    else:
        if a.sign < 0:
            a, b = b, a
        lo, hi, sign, subtract = a.lo - b.hi, a.hi - b.lo, +1, True
    value = nl.add(name, range_shape(lo, hi), a.value, b.value, subtract=subtract)
    return Term(value, lo, hi, sign, level, name, key)


class Pipeline:
    """Delayed copies of values for readers in later pipeline stages of one block.

    ``registers`` are the adder levels followed by a pipeline register (see
    :func:`register_levels`); ``nl`` makes the registers. A value made at level ``p`` and read at
    level ``l`` passes through ``stage_of(l) - stage_of(p)`` registers, named ``{name}_r{stage}``;
    copies of values with a ``key`` are made once for all readers.
    """

    def __init__(self, nl, registers):
        self._nl, self._registers = nl, tuple(registers)
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
                reg = self._nl.reg(f"{node.name}_r{stage}", range_shape(node.lo, node.hi), value)
                if memo is not None:
                    self._copies[memo] = reg
            value = reg
        return Term(value, node.lo, node.hi, node.sign, level, node.name, node.key)


def sum_tree(nl, nodes, *, levels, pipeline, name):
    """Add ``nodes`` (:class:`Term` s, each available after its ``level``) in a tree of
    exact-width adders laid out over ``levels`` levels; return the root as read after the last
    level (a :class:`Term`; ``None`` for no nodes).

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
        nodes += [combine(nl, f"{name}_{level}_{k}", a, b, level)
                  for k, (a, b) in enumerate(pairs)]
    (root,) = nodes
    return pipeline.at(root, levels + 1)


def _dadda_heights(tallest):
    """Dadda's column heights below ``tallest``, largest first, down to 2."""
    heights = [2]
    while heights[-1] * 3 // 2 < tallest:
        heights.append(heights[-1] * 3 // 2)
    return heights[::-1]


def compressor_cuts(stages, registers):
    """Where ``registers`` pipeline registers go in a compressor tree of ``stages`` Dadda stages
    and its final adder: a tuple of cut positions, ``p`` meaning after step ``p`` (steps
    ``1..stages`` are the counter stages, ``stages + 1`` the final adder; a cut after it delays
    the result). The cuts split the steps, and the activation after them, as evenly as they can;
    cuts beyond one per step all delay the (narrow) result."""
    steps = stages + 1
    if registers >= steps:
        return tuple(range(1, steps)) + (steps,) * (registers - steps + 1)
    # Count the activation after the final adder as one more step, so the last stage is not the
    # longest.
    return tuple(min(max(1, (k * (steps + 1) + registers // 2) // (registers + 1)), steps)
                 for k in range(1, registers + 1))


def compressor_sum(nl, nodes, lo, hi, *, name, registers=0):
    """``sum(sign * value)`` over ``nodes`` (known to lie in ``[lo, hi]``) as a carry-save tree of
    full and half adders (3:2 and 2:2 counters, each output one 4-input LUT) reduced to two rows
    by Dadda's schedule, then one carry-chain adder; the result is the signal ``name`` of shape
    ``range_shape(lo, hi)``, ``registers`` clock cycles (registers made by ``nl``) after
    ``nodes``.

    Every operand's bits go into the columns of their weight: a negative operand as its inverted
    bits, a signed one with its sign bit inverted, and the constants this leaves are added as one
    constant's bits. Everything is computed modulo ``2**width``, which the result's interval fits.

    The registers are placed by :func:`compressor_cuts`: a cut between stages registers every
    bit still in the columns (``{name}_p{cut}_{column}_{k}``), one after the final adder the
    result (``{name}_r{k}``); constant bits need none.
    """
    shape = range_shape(lo, hi)
    width = shape.width
    columns = [[] for _ in range(width)]
    constant = 0
    for node in nodes:
        w = range_shape(node.lo, node.hi).width
        signed_value = node.lo < 0
        for i in range(min(w, width)):
            bit = nl.bit(node.value, i)
            top = signed_value and i == w - 1
            if (node.sign < 0) != top:  # negated, or a sign bit (weight -2**i): invert it
                bit = nl.invert(bit)
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
            columns[i].append(nl.one())
    count = 0
    heights = _dadda_heights(max((len(c) for c in columns), default=0))
    cuts = compressor_cuts(len(heights), registers)
    cut_count = 0

    def cut(step, columns):
        nonlocal cut_count
        for _ in range(cuts.count(step)):
            cut_count += 1
            columns = [[b if b.op == "const" else
                        nl.reg(f"{name}_p{cut_count}_{i}_{k}", unsigned(1), b)
                        for k, b in enumerate(column)] for i, column in enumerate(columns)]
        return columns

    for step, height in enumerate(heights, 1):
        carries = [[] for _ in range(width + 1)]
        for i in range(width):
            # A queue: the counters take bits from the front and put their sums at the back
            # (slicing a list here made a column of n bits cost n**2).
            column = deque(columns[i] + carries[i])
            while len(column) > height:
                take = column.popleft
                if len(column) - height >= 2:
                    s, c = nl.full_adder(f"{name}_fa{count}", take(), take(), take())
                else:
                    s, c = nl.half_adder(f"{name}_ha{count}", take(), take())
                column.append(s)
                count += 1
                carries[i + 1].append(c)
            columns[i] = list(column)
        columns = cut(step, columns)
    row_a = [c[0] if len(c) > 0 else None for c in columns]
    row_b = [c[1] if len(c) > 1 else None for c in columns]
    result = nl.add_rows(name, shape, row_a, row_b)
    for k in range(1, cuts.count(len(heights) + 1) + 1):
        result = nl.reg(f"{name}_r{k}", shape, result)
    return result


def at_least(nl, value, lo, hi, t):
    """The bit ``value >= t`` for a ``value`` of ``range_shape(lo, hi)`` and a constant ``t``, as a
    chain of ANDs and ORs of its bits (least significant first: where ``t`` has a 1 the bit must
    be set too, where it has a 0 a set bit decides).

    A comparison written as ``>=`` becomes a subtractor on a carry chain, one logic cell per bit;
    this chain packs three bits into each 4-input LUT.
    """
    if t <= lo:
        return nl.constant_bit(1)
    if t > hi:
        return nl.constant_bit(0)
    shape = range_shape(lo, hi)
    width = shape.width
    if shape.signed:  # compare offset-binary: flip the sign bit, shift t alike
        t += 1 << (width - 1)
    decided = None  # the comparison of the bits so far; None while it is "equal, so >="
    for i in range(width):
        bit = nl.bit(value, i)
        if shape.signed and i == width - 1:
            bit = nl.invert(bit)
        if t >> i & 1:
            decided = bit if decided is None else nl.and_(bit, decided)
        elif decided is not None:
            decided = nl.or_(bit, decided)
    return decided


def weighted_nodes(nl, operands, ranges, weights, names, *, levels=None):
    """:class:`Term` s for ``w * x`` over ``operands`` (netlist nodes) with ``ranges`` and
    ``names``, available after ``levels`` (default 0); weights of magnitude above 1 become the
    wires ``{name}_x{|w|}`` (shifts for powers of two, else constant multiplies)."""
    nodes = []
    for k, (x, w, (lo, hi), name) in enumerate(zip(operands, weights, ranges, names)):
        mag = abs(w)
        level = 0 if levels is None else levels[k]
        if mag != 1:
            name = f"{name}_x{mag}"
            x = nl.scale(name, range_shape(mag * lo, mag * hi), x, mag)
        nodes.append(Term(x, mag * lo, mag * hi, 1 if w > 0 else -1, level, name, name))
    return nodes


def check_adder_tree(ranges, weights, *, register_every=None, levels=None):
    """The arguments of an :class:`AdderTree`, checked before one is made: ``(ranges, weights,
    levels)`` (tuples, and the number of levels the tree is laid out over), or
    :class:`ValueError` (:class:`TypeError` for ``register_every``) when they are not valid."""
    ranges = tuple((lo, hi) for lo, hi in ranges)
    weights = tuple(weights)
    if len(ranges) != len(weights):
        raise ValueError(f"{len(ranges)} operand ranges for {len(weights)} weights")
    for w in weights:
        if not isinstance(w, int) or isinstance(w, bool) or w == 0:
            raise ValueError(f"Weights must be nonzero integers, not {w!r}")
    check_register_every(register_every)
    depth = tree_depth(len(weights))
    if levels is None:
        levels = depth
    if not (isinstance(levels, int) and levels >= depth):
        raise ValueError(f"levels must be an integer >= the tree depth {depth}, "
                         f"not {levels!r}")
    return ranges, weights, levels


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
        ranges, weights, levels = check_adder_tree(ranges, weights, register_every=register_every,
                                             levels=levels)
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
        nl = Netlist()
        nl.en = nl.input("en", unsigned(1))
        operands = [nl.input(f"x{k}", range_shape(*r)) for k, r in enumerate(self._ranges)]
        out = nl.output("sum", range_shape(*self._sum_range))
        pipeline = Pipeline(nl, self._registers)
        nodes = weighted_nodes(nl, operands, self._ranges, self._weights,
                               [f"{self._name}_x{k}" for k in range(len(self._weights))])
        root = sum_tree(nl, nodes, levels=self._levels, pipeline=pipeline, name=self._name)
        if root is None:
            nl.drive(out, nl.const(0, unsigned(0)))
        elif root.sign > 0:
            nl.drive(out, root.value)
        else:
            nl.drive(out, nl.neg(f"{self._name}_neg", out.shape, root.value))
        ports = {f"x{k}": x for k, x in enumerate(self.operands)}
        to_amaranth(nl, m, {**ports, "en": self.en, "sum": self.sum})
        return m
