"""A balanced adder tree for one neuron: exact-width, optionally pipelined every N levels."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AdderTree", "range_shape", "weighted_sum_range", "tree_depth", "register_levels"]


def range_shape(lo, hi):
    """The narrowest shape that holds every integer in ``[lo, hi]``.

    Unsigned when ``lo >= 0`` (zero bits wide for ``[0, 0]``), otherwise signed.
    """
    if not (isinstance(lo, int) and isinstance(hi, int) and lo <= hi):
        raise ValueError(f"Range must be a pair of integers lo <= hi, not {(lo, hi)!r}")
    if lo >= 0:
        return unsigned(hi.bit_length())
    return signed(max((~lo).bit_length(), hi.bit_length() if hi >= 0 else 0) + 1)


def weighted_sum_range(ranges, weights):
    """Exact interval of ``sum(w * x)`` when each ``x`` ranges over its ``(lo, hi)``."""
    lo = hi = 0
    for (a, b), w in zip(ranges, weights, strict=True):
        lo += min(w * a, w * b)
        hi += max(w * a, w * b)
    return lo, hi


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


class _Node:
    """A tree value: ``sign * value`` where ``value`` lies in ``[lo, hi]``."""

    __slots__ = ("value", "lo", "hi", "sign")

    def __init__(self, value, lo, hi, sign):
        self.value, self.lo, self.hi, self.sign = value, lo, hi, sign


def _combine(a, b):
    """The node for ``a + b``, subtracting rather than negating where signs differ."""
    if a.sign == b.sign:
        return _Node(a.value + b.value, a.lo + b.lo, a.hi + b.hi, a.sign)
    if a.sign < 0:
        a, b = b, a
    return _Node(a.value - b.value, a.lo - b.hi, a.hi - b.lo, +1)


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
        if not self._weights:
            m.d.comb += self.sum.eq(0)
            return m
        nodes = []
        for x, w, (lo, hi) in zip(self.operands, self._weights, self._ranges):
            mag = abs(w)
            if mag == 1:
                value = x
            elif mag & (mag - 1) == 0:
                value = x << (mag.bit_length() - 1)
            else:
                value = x * mag
            nodes.append(_Node(value, mag * lo, mag * hi, 1 if w > 0 else -1))
        for level in range(1, self._levels + 1):
            pairs, passed = _pair(nodes)
            registered = level in self._registers
            nodes = []
            for k, node in enumerate([_combine(a, b) for a, b in pairs] + [passed]):
                if node is None:
                    continue
                if node is passed and not registered:
                    nodes.append(node)
                    continue
                sig = Signal(range_shape(node.lo, node.hi), name=f"{self._name}_{level}_{k}",
                             reset_less=True)
                if registered:
                    with m.If(self.en):
                        m.d.sync += sig.eq(node.value)
                else:
                    m.d.comb += sig.eq(node.value)
                nodes.append(_Node(sig, node.lo, node.hi, node.sign))
        (root,) = nodes
        m.d.comb += self.sum.eq(root.value if root.sign > 0 else -root.value)
        return m

