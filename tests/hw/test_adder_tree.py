"""AdderTree against plain Python sums: widths, signs, widest fan-in, pipelining and stalls."""

import random

import pytest
from amaranth.hdl import Elaboratable, Fragment, Module, Shape, Signal, signed, unsigned
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from lwc.hw import AdderTree, range_shape, register_levels, tree_depth, weighted_sum_range
from lwc.hw.adder_tree import (
    Term,
    at_least,
    check_adder_tree,
    compressor_cuts,
    compressor_sum,
    schedule_depth,
)
from lwc.hw.netlist import Netlist, to_amaranth

# Operand ranges as the network produces them: inputs of 1..8 bits, step, ternary, clip outputs.
KINDS = [(0, 1), (0, 15), (0, 255), (-1, 1), (-1, 0), (0, 7), (2, 5), (0, 0), (-3, 3)]


def ref_sum(weights, xs):
    return sum(w * x for w, x in zip(weights, xs))


def corner_vectors(ranges, weights, rng, n_random=24):
    """Operands at the sum's minimum and maximum, all-lo, all-hi, alternating, then random."""
    lo = [a if w > 0 else b for (a, b), w in zip(ranges, weights)]
    hi = [b if w > 0 else a for (a, b), w in zip(ranges, weights)]
    vectors = [lo, hi, [a for a, _ in ranges], [b for _, b in ranges],
               [r[k % 2] for k, r in enumerate(ranges)]]
    vectors += [[rng.randint(a, b) for a, b in ranges] for _ in range(n_random)]
    return vectors


def rtl_sums(tree, vectors, *, en_rng=None):
    """Drive ``vectors`` into ``tree``, one per enabled clock; return the sum seen for each.

    With ``en_rng``, ``en`` is low on random cycles and the operands are held, as a stalled
    pipeline holds them; the result for vector ``k`` is read ``latency`` enabled clocks later.
    """
    results = {}

    async def testbench(ctx):
        accepted = 0
        while accepted < len(vectors) + tree.latency:
            vector = vectors[min(accepted, len(vectors) - 1)]
            for port, x in zip(tree.operands, vector):
                ctx.set(port, x)
            en = en_rng is None or en_rng.random() < 0.6
            ctx.set(tree.en, en)
            if accepted >= tree.latency:
                value = ctx.get(tree.sum)
                assert results.setdefault(accepted - tree.latency, value) == value, \
                    "sum changed while the tree was stalled"
            if tree.latency:
                await ctx.tick()
            else:
                await ctx.delay(1e-6)  # a combinational tree has no clock domain
            accepted += en

    sim = Simulator(tree)
    if tree.latency:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return [results[k] for k in range(len(vectors))]


def built(*args, **kwargs):
    """An AdderTree, elaborated."""
    tree = AdderTree(*args, **kwargs)
    Fragment.get(tree, None)
    return tree


def check_tree(ranges, weights, register_every=None, *, en_rng=None, seed=0):
    tree = AdderTree(ranges, weights, register_every=register_every)
    assert tree.sum_range == weighted_sum_range(ranges, weights)
    assert tree.sum.shape() == range_shape(*tree.sum_range)
    vectors = corner_vectors(ranges, weights, random.Random(seed))
    got = rtl_sums(tree, vectors, en_rng=en_rng)
    assert got == [ref_sum(weights, v) for v in vectors]
    # The corner vectors reach both ends of the interval, so no width can be too narrow.
    assert min(got) == tree.sum_range[0] and max(got) == tree.sum_range[1]
    return tree


@pytest.mark.parametrize("register_every", [None, 1, 2])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_random_mixed_weights(count, register_every):
    rng = random.Random(count)
    ranges = [rng.choice(KINDS) for _ in range(count)]
    weights = [rng.choice([-1, 1]) for _ in range(count)]
    check_tree(ranges, weights, register_every, seed=count)


@pytest.mark.parametrize("register_every", [None, 1, 2])
def test_widest_fan_in(register_every):
    # Every input of a 64-feature, 8-bit layer, weights of both signs.
    rng = random.Random(64)
    tree = check_tree([(0, 255)] * 64, [rng.choice([-1, 1]) for _ in range(64)], register_every)
    assert tree.latency == len(register_levels(6, register_every))


@pytest.mark.parametrize("register_every", [None, 1, 2])
@pytest.mark.parametrize("sign", [-1, 1])
def test_all_same_sign(sign, register_every):
    tree = check_tree([(0, 15)] * 9, [sign] * 9, register_every)
    assert tree.sum_range == ((0, 135) if sign > 0 else (-135, 0))
    assert tree.sum.shape() == (unsigned(8) if sign > 0 else signed(9))


@pytest.mark.parametrize("register_every", [None, 1])
def test_signed_operands_all_negative(register_every):
    check_tree([(-1, 1), (-1, 0), (-3, 3), (-1, 1)], [-1, -1, -1, -1], register_every)


@pytest.mark.parametrize("register_every", [None, 2])
def test_integer_weights(register_every):
    check_tree([(0, 15), (-1, 1), (0, 7), (0, 3), (0, 15)], [2, -3, 4, -8, 5], register_every)


@pytest.mark.parametrize("register_every", [1, 2])
def test_stall_holds_pipeline(register_every):
    rng = random.Random(7)
    ranges = [rng.choice(KINDS) for _ in range(11)]
    weights = [rng.choice([-1, 1]) for _ in range(11)]
    tree = check_tree(ranges, weights, register_every, en_rng=random.Random(3))
    assert tree.latency > 0


def test_no_operands_is_zero():
    tree = built([], [])
    assert tree.sum_range == (0, 0)
    assert tree.sum.shape() == unsigned(0)
    assert tree.latency == 0


def test_latency_and_levels():
    assert [tree_depth(n) for n in (0, 1, 2, 3, 4, 5, 8, 9, 64, 65)] == \
        [0, 0, 1, 2, 2, 3, 3, 4, 6, 7]
    assert built([(0, 1)] * 64, [1] * 64).latency == 0
    assert built([(0, 1)] * 64, [1] * 64, register_every=1).latency == 5
    assert built([(0, 1)] * 64, [1] * 64, register_every=2).latency == 2
    assert built([(0, 1)] * 64, [1] * 64, register_every=6).latency == 0
    # Laid out over more levels than it needs, a tree gets the latency of the deeper ones.
    assert built([(0, 1)] * 2, [1] * 2, register_every=1, levels=6).latency == 5
    check = AdderTree([(0, 3)], [-1], register_every=1, levels=3)
    assert check.latency == 2 and rtl_sums(check, [[0], [3], [2]]) == [0, -3, -2]


def test_node_names_and_widths():
    from amaranth.back import rtlil

    tree = AdderTree([(0, 15)] * 5, [1, 1, -1, 1, 1], name="tree_l0_n3")
    text = rtlil.convert(tree)
    for name in ("tree_l0_n3_1_0", "tree_l0_n3_1_1", "tree_l0_n3_2_0", "tree_l0_n3_3_0"):
        assert f"\\{name}" in text
    # Level 1 pairs +x0 with -x2 first: [-15, 15] is 5 bits signed, not the 6 of a - b naively.
    assert "wire width 5 signed \\tree_l0_n3_1_0" in text


@pytest.mark.parametrize("lo, hi, shape", [
    (0, 0, unsigned(0)), (0, 1, unsigned(1)), (0, 255, unsigned(8)), (0, 256, unsigned(9)),
    (-1, 0, signed(1)), (-1, 1, signed(2)), (-128, 127, signed(8)), (-129, 0, signed(9)),
    (-1, 128, signed(9)), (-5, -3, signed(4)), (3, 5, unsigned(3)),
])
def test_range_shape(lo, hi, shape):
    assert range_shape(lo, hi) == shape


@given(st.integers(-5000, 5000), st.integers(0, 5000))
def test_range_shape_matches_amaranth(lo, span):
    assert range_shape(lo, lo + span) == Shape.cast(range(lo, lo + span + 1))


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from([-2, -1, 1, 3])), max_size=12),
    st.sampled_from([None, 1, 2, 3]),
)
def test_random_trees(operands, register_every):
    ranges = [r for r, _ in operands]
    weights = [w for _, w in operands]
    tree = AdderTree(ranges, weights, register_every=register_every)
    vectors = corner_vectors(ranges, weights, random.Random(len(operands)), n_random=6)
    assert rtl_sums(tree, vectors) == [ref_sum(weights, v) for v in vectors]


def test_errors():
    """An AdderTree's arguments are checked before one is made (:func:`check_adder_tree`)."""
    with pytest.raises(ValueError, match=r"^Weights must be nonzero integers, not 0$"):
        check_adder_tree([(0, 1)], [0])
    with pytest.raises(ValueError, match=r"^2 operand ranges for 1 weights$"):
        check_adder_tree([(0, 1), (0, 1)], [1])
    with pytest.raises(TypeError,
                       match=r"^register_every must be None or a positive integer, not 0$"):
        check_adder_tree([(0, 1)], [1], register_every=0)
    with pytest.raises(ValueError, match=r"^levels must be an integer >= the tree depth 2, "):
        check_adder_tree([(0, 1)] * 3, [1] * 3, levels=1)
    with pytest.raises(ValueError, match=r"^Range must be a pair of integers lo <= hi"):
        range_shape(2, 1)


def test_schedule_depth():
    assert all(schedule_depth([0] * n) == tree_depth(n) for n in range(70))
    assert schedule_depth([]) == 0 and schedule_depth([3]) == 3
    # x + y + z + (a 2-level node): 0,0,0 pair and pass at level 1, then 2 nodes at 2, one at 3.
    assert schedule_depth([0, 0, 0, 2]) == 3
    assert schedule_depth([2, 2, 1, 0, 0]) == 4  # ceil(log2(4 + 4 + 2 + 1 + 1))
    assert schedule_depth([1, 1, 1, 1]) == 3


class _Compressor(Elaboratable):
    """``compressor_sum`` over operands with the given ranges and signs, as a test fixture."""

    def __init__(self, ranges, signs, registers=0):
        self.ranges, self.signs, self.registers = ranges, signs, registers
        self.xs = [Signal(range_shape(lo, hi), name=f"x{k}") for k, (lo, hi) in enumerate(ranges)]
        lo, hi = weighted_sum_range(ranges, signs)
        self.range = (lo, hi)
        self.sum = Signal(range_shape(lo, hi))

    def elaborate(self, platform):
        m = Module()
        nl = Netlist()
        nl.en = nl.const(1, unsigned(1))
        xs = [nl.input(f"x{k}", x.shape()) for k, x in enumerate(self.xs)]
        nodes = [Term(x, lo, hi, s) for x, (lo, hi), s in zip(xs, self.ranges, self.signs)]
        out = nl.output("sum", self.sum.shape())
        nl.drive(out, compressor_sum(nl, nodes, *self.range, name="csa",
                                     registers=self.registers))
        self.netlist = nl
        to_amaranth(nl, m, {"sum": self.sum, **{f"x{k}": x for k, x in enumerate(self.xs)}})
        return m


@pytest.mark.parametrize("seed", range(6))
def test_compressor_sum(seed):
    """Popcounts of one-bit operands of both signs, and mixed widths and signednesses (as shared
    nodes and ternary activations give), at every corner and at random."""
    rng = random.Random(seed)
    kinds = [(0, 1)] * 6 + [(-1, 0), (-1, 1), (0, 3), (-6, 3), (0, 0)]
    count = rng.choice([3, 7, 20, 45])
    ranges = [rng.choice(kinds if seed % 2 else [(0, 1)]) for _ in range(count)]
    signs = [rng.choice([-1, 1]) for _ in range(count)]
    dut = _Compressor(ranges, signs)
    vectors = corner_vectors(ranges, signs, rng, n_random=40)
    got = []

    async def testbench(ctx):
        for vector in vectors:
            for x, v in zip(dut.xs, vector):
                ctx.set(x, v)
            await ctx.delay(1e-6)
            got.append(ctx.get(dut.sum))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    assert got == [ref_sum(signs, v) for v in vectors]
    assert min(got) == dut.range[0] and max(got) == dut.range[1]


@pytest.mark.parametrize("registers", [1, 2, 3, 5, 12])
@pytest.mark.parametrize("seed", range(3))
def test_compressor_sum_pipelined(seed, registers):
    """Registers spread over the counter stages: the sum of the vector fed ``registers`` clocks
    earlier, for a new vector every clock (every bit of a stage registered, none left behind)."""
    rng = random.Random(seed)
    kinds = [(0, 1)] * 6 + [(-1, 0), (-1, 1), (0, 3), (-6, 3)]
    count = rng.choice([7, 20, 56])
    ranges = [rng.choice(kinds if seed % 2 else [(0, 1)]) for _ in range(count)]
    signs = [rng.choice([-1, 1]) for _ in range(count)]
    dut = _Compressor(ranges, signs, registers)
    vectors = corner_vectors(ranges, signs, rng, n_random=30)
    got = []

    async def testbench(ctx):
        for edge in range(len(vectors) + registers):
            for x, v in zip(dut.xs, vectors[min(edge, len(vectors) - 1)]):
                ctx.set(x, v)
            if edge >= registers:
                got.append(ctx.get(dut.sum))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert got == [ref_sum(signs, v) for v in vectors]
    # Every path crosses the same number of registers: the cuts are at the places planned.
    regs = {n.name.split("_")[1] for n in dut.netlist.signals if n.op == "reg"}
    assert len(regs) == registers


def test_compressor_cuts():
    """The cuts split the steps (counter stages, then the final adder) evenly, the activation
    after them counted as one more step; beyond one cut per step, the result is delayed."""
    assert compressor_cuts(9, 0) == ()
    assert compressor_cuts(9, 1) == (5,)
    assert compressor_cuts(9, 3) == (3, 5, 8)
    assert compressor_cuts(2, 1) == (2,)
    assert compressor_cuts(2, 4) == (1, 2, 3, 3)
    for stages in range(1, 12):
        for registers in range(1, 16):
            cuts = compressor_cuts(stages, registers)
            assert len(cuts) == registers
            assert list(cuts) == sorted(cuts) and 1 <= cuts[0] and cuts[-1] <= stages + 1
            if registers <= stages + 1:
                assert len(set(cuts)) == registers  # never two in a row while steps are left


class _AtLeast(Elaboratable):
    def __init__(self, lo, hi, thresholds):
        self.lo, self.hi, self.thresholds = lo, hi, thresholds
        self.x = Signal(range_shape(lo, hi))
        self.ge = Signal(len(thresholds))

    def elaborate(self, platform):
        m = Module()
        nl = Netlist()
        x = nl.input("x", self.x.shape())
        out = nl.output("ge", self.ge.shape())
        nl.drive(out, nl.cat(*(at_least(nl, x, self.lo, self.hi, t) for t in self.thresholds)))
        to_amaranth(nl, m, {"x": self.x, "ge": self.ge})
        return m


@pytest.mark.parametrize("lo, hi", [(0, 1), (0, 15), (-1, 0), (-1, 1), (-8, 7), (-5, 20), (3, 9)])
def test_at_least_every_threshold(lo, hi):
    """The AND/OR chain that replaces ``x >= t``, for every ``x`` and every ``t`` around it."""
    thresholds = list(range(lo - 2, hi + 3))
    dut = _AtLeast(lo, hi, thresholds)
    got = {}

    async def testbench(ctx):
        for x in range(lo, hi + 1):
            ctx.set(dut.x, x)
            await ctx.delay(1e-6)
            got[x] = ctx.get(dut.ge)

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    for x in range(lo, hi + 1):
        assert [got[x] >> k & 1 for k in range(len(thresholds))] == \
            [int(x >= t) for t in thresholds], x
