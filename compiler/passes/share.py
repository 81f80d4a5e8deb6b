"""Build sub-sums that several neurons of a layer read once, and let every reader use them.

Ternary common-subexpression elimination, greedy most-frequent-pair first (Hartley's method for
constant multiplications): the candidates are pairs of terms ``(t_a, t_b)`` that occur in several
neurons of one layer with the *same relative sign*. ``x_i + x_j`` serves the neurons holding
``+x_i +x_j`` or ``-x_i -x_j``, ``x_i - x_j`` those holding ``+x_i -x_j`` or ``-x_i +x_j`` (a
node is read with either sign). The most frequent pair becomes a :class:`~lwc.compiler.ir.
SharedNode`, replaces the two terms in each neuron holding it, and takes part in later pairs, so
pairs of pairs (and larger sums) emerge. A pair found in ``c`` neurons saves ``c - 1`` adders.

Counting is incremental, never a full recount: pairs of inputs are counted once, with a matrix
product, and only pairs found in at least two neurons are kept (a pair's count can only fall once
both its terms exist, so a pair seen once never matters). Making a node counts the new pairs it
forms in the neurons it enters. The candidates wait in a bucket queue by count; a popped pair is
recounted exactly (an AND of the bit masks of the neurons holding each term) and put back at its
true, lower count when others took its terms meanwhile (lazy greedy). Ties go to the lowest terms,
then to the pairs made last, so a shared sum grows while its neurons still share terms.

Depth: a node ``t_a + t_b`` is made only when its adder level (one more than its deeper term's)
is no more than a balanced tree over its ``leaves`` inputs needs (``ceil(log2(leaves))``) plus
``slack``, so sharing cannot turn a neuron's tree into a long chain.

Weights other than ``+1``/``-1`` are left out of sharing. Work is bounded by ``budget``: the number
of term updates (each neuron term visited when a node replaces two terms of its neuron) the pass
may spend on the whole net, split between layers by their weights; when a layer's part is spent,
it keeps the nodes made so far (the most frequent pairs come first, so the first work saves the
most adders). The default, :data:`DEFAULT_BUDGET`, is reached only by nets of several hundred
thousand weights (about 20 s of CPU; see ``docs/benchmarks.md``). Memory is bounded too: a layer
counts the pairs of at most ``sqrt(2 * pairs)`` inputs (:data:`DEFAULT_PAIRS`; the inputs in the
most neurons when it has more), which every ordinary layer stays within, so a layer of 65,536
inputs read by each of its neurons does not build its 2**31 pairs.

Beyond one greedy run (options, off by default; measured in ``docs/benchmarks.md``, "da4ml side by
side"): ``tries`` runs greedy sharing that many times, the first as above and the others with ties
among pairs of one count broken at random (from ``seed``), and keeps the cheapest; ``refine`` then
lets an ILP choose among the sub-sums of those runs (:mod:`.share_refine`), and keeps its answer
when it needs fewer adders. Both save 0-3% of the adders of random matrices, so they are not the
default; the ILP's lower bound shows how little more any sharing of this kind could save.
"""

import math
from array import array
from collections import Counter
from dataclasses import replace

import numpy as np

from lwc import semantics

from ..ir import Network, SharedNode, layer_ranges_step, unshare, without_widths
from .base import Pass, Phase
from .share_refine import refine_layer

__all__ = ["share", "share_layer", "DEFAULT_BUDGET", "DEFAULT_PAIRS", "DEFAULT_CELLS"]

#: Term updates for a whole net (see the module docstring).
DEFAULT_BUDGET = 30_000_000
#: Input pairs whose counts one layer may hold (a count table of this many entries and their keys
#: in the queue take about 200 MB).
DEFAULT_PAIRS = 1 << 21
#: Entries of the ``neurons x inputs`` matrices the pair counting multiplies (two float32 ones).
DEFAULT_CELLS = 1 << 24


def _share(net, *, budget=DEFAULT_BUDGET, slack=0, one_bit=False, pairs=DEFAULT_PAIRS,
           cells=DEFAULT_CELLS, tries=1, seed=0, refine=False, refine_limit=60.0):
    """``net`` with shared nodes in its layers (computing the same function), without widths.

    Layers whose inputs are all one bit wide are left alone unless ``one_bit``: lowering builds
    their neurons as compressor trees, which add bits one by one, so a shared pair saves nothing
    there and costs its adder (measured in ``docs/benchmarks.md``). The pass accepts a net in any
    phase and starts from its expansion (shared nodes it already has are expanded, widths are
    dropped), so it is idempotent; the passes that need plain receptive fields refuse its output.
    Neurons built as truth tables (``Neuron.table``) are left alone. ``tries``, ``seed``,
    ``refine`` and ``refine_limit`` (the ILP's seconds per layer) choose among several sharings
    (see the module docstring); each try gets the layer's whole part of ``budget``.
    """
    assert isinstance(net, Network)
    net = unshare(without_widths(net))
    # The budget is for the whole net: each layer gets its share by weights.
    total = max(sum(len(n.inputs) for layer in net.layers for n in layer.neurons), 1)
    ranges = [(0, net.input.max_value)] * len(net.input_map)
    layers = []
    for li, layer in enumerate(net.layers):
        # The hardware's rule for compressor trees, from its one home.
        if one_bit or not semantics.one_bit_inputs(ranges):
            # Table neurons read their inputs themselves: the others share among them.
            summed = replace(layer, neurons=tuple(n for n in layer.neurons if not n.table))
            part = budget * sum(len(n.inputs) for n in summed.neurons) // total
            summed = _best_sharing(summed, net.layer_input_count(li), budget=part, slack=slack,
                                   pairs=pairs, cells=cells, tries=tries, seed=(seed, li),
                                   refine=refine, refine_limit=refine_limit)
            made = iter(summed.neurons)
            layer = replace(summed, neurons=tuple(n if n.table else next(made)
                                                  for n in layer.neurons))
        layers.append(layer)
        ranges = [out for _, out in layer_ranges_step(layer, ranges)]
    return replace(net, layers=tuple(layers))


def _adders(layer):
    return len(layer.shared) + sum(max(len(n.inputs) - 1, 0) for n in layer.neurons)


def _best_sharing(layer, n_in, *, tries, seed, refine, refine_limit, **options):
    """The cheapest (fewest adders) of ``tries`` greedy sharings of ``layer``: the deterministic
    one, then randomized ones (ties among pairs of one count broken at random, from ``seed``);
    with ``refine``, the ILP over their nodes (:func:`.share_refine.refine_layer`) when cheaper.
    """
    runs = [share_layer(layer, n_in, **options)]
    rng = np.random.default_rng(seed)
    runs += [share_layer(layer, n_in, rng=rng, **options) for _ in range(tries - 1)]
    best = min(runs, key=_adders)  # the first of the cheapest
    if refine:
        refined = refine_layer(layer, n_in, runs, time_limit=refine_limit)
        if refined is not None and _adders(refined) < _adders(best):
            best = refined
    return best


#: Any phase in; a ``SHARED`` net (no widths) out.
share = Pass("share", _share, accepts=frozenset(Phase), gives=Phase.SHARED)


def _candidate_inputs(cols, neurons, *, pairs=DEFAULT_PAIRS, cells=DEFAULT_CELLS,
                      min_count=2):
    """The inputs whose pairs are counted (increasing): those in ``>= min_count`` neurons (``cols``
    holds each input's count), or, when they are more than ``pairs`` and ``cells`` allow (their
    pairs, and the ``neurons x inputs`` matrices the counting multiplies), as many of them as
    allowed: the ones in the most neurons, then the lowest."""
    used = np.flatnonzero(cols >= min_count)  # an input in one neuron pairs with nothing twice
    allowed = min(max(int(math.isqrt(2 * pairs)), 2), max(cells // max(neurons, 1), 2))
    if len(used) <= allowed:
        return used
    best = np.argsort(-cols[used], kind="stable")[:allowed]
    return np.sort(used[best])


def _input_pair_counts(rows, n_in, min_count=2, *, pairs=DEFAULT_PAIRS, cells=DEFAULT_CELLS):
    """Keys and counts (two ``int64`` arrays) of the pairs of inputs with one relative sign found
    in ``>= min_count`` neurons; ``rows`` holds each neuron's ``{input: +1 or -1}``.

    Only pairs of the inputs :func:`_candidate_inputs` chooses are counted, so the work and the
    memory stay bounded by ``pairs`` and ``cells``: every pair for the layers of ordinary nets
    (a 784-input layer has 307,000 pairs), the pairs of the most used inputs for a layer as wide
    as 65,536 inputs read by every neuron (2**31 pairs).
    """
    cols = np.zeros(n_in, dtype=np.int64)
    for terms in rows:
        cols[list(terms)] += 1
    used = _candidate_inputs(cols, len(rows), pairs=pairs, cells=cells, min_count=min_count)
    none = np.zeros(0, dtype=np.int64)
    if len(used) < 2:
        return none, none
    where = np.full(n_in, -1, dtype=np.int64)
    where[used] = np.arange(len(used))
    pos = np.zeros((len(rows), len(used)), dtype=np.float32)
    neg = np.zeros_like(pos)
    for r, terms in enumerate(rows):
        for i, w in terms.items():
            k = where[i]
            if k >= 0:
                (pos if w > 0 else neg)[r, k] = 1
    keys, counts = [none], [none]
    # Row blocks keep the count matrices small; float32 sums of 0/1 are exact up to 2**24
    # neurons, far beyond what LIMITS allows.
    block = max(1, (1 << 22) // len(used))
    for start in range(0, len(used), block):
        stop = min(start + block, len(used))
        p, n = pos[:, start:stop].T, neg[:, start:stop].T
        same = p @ pos[:, start:] + n @ neg[:, start:]
        opposite = p @ neg[:, start:] + n @ pos[:, start:]
        for flag, table in ((0, same), (1, opposite)):
            # Upper triangle only: row r, column c of the block are used inputs start + r, + c.
            r, c = np.nonzero(np.triu(table >= min_count, k=1))
            a, b = used[r + start], used[c + start]
            keys.append((a << 33) | (b << 1) | flag)
            counts.append(table[r, c].astype(np.int64))
    return np.concatenate(keys), np.concatenate(counts)


def share_layer(layer, n_in, *, budget=DEFAULT_BUDGET, slack=0, pairs=DEFAULT_PAIRS,
                cells=DEFAULT_CELLS, rng=None):
    """``layer`` (reading ``n_in`` values, no shared nodes yet) with shared nodes; ``pairs`` and
    ``cells`` bound the input pairs counted (:func:`_input_pair_counts`)."""
    assert not layer.shared
    rows = [{i: w for i, w in zip(n.inputs, n.weights) if w in (1, -1)} for n in layer.neurons]
    fixed = [[(i, w) for i, w in zip(n.inputs, n.weights) if w not in (1, -1)]
             for n in layer.neurons]
    keys, counts = _input_pair_counts(rows, n_in, pairs=pairs, cells=cells)
    if not len(keys):
        return layer
    # A pair key is (a << 33) | (b << 1) | (1 if the signs differ), for term indices a < b; a
    # term index is an input (below n_in) or a shared node (n_in + k).
    # Term index -> bit masks of the neurons holding it with weight +1, and with -1.
    pos, neg = [0] * n_in, [0] * n_in
    for r, terms in enumerate(rows):
        bit = 1 << r
        for i, w in terms.items():
            if w > 0:
                pos[i] |= bit
            else:
                neg[i] |= bit
    level = [0] * n_in  # adder level of each term (inputs: 0)
    leaves = [1] * n_in  # number of inputs each term sums
    nodes = []

    # Bucket queue of pair keys by count, smallest key popped first among equals. A pair's count
    # only falls once both its terms exist, so a stored count is an upper bound: a popped pair is
    # recounted (bit-mask intersections) and put back at its true count when that is lower
    # ("lazy greedy"); nothing is decremented eagerly.
    order = np.lexsort((-keys if rng is None else rng.permutation(len(keys)), counts))
    keys, counts = keys[order], counts[order]
    top = int(counts[-1])
    bounds = np.searchsorted(counts, np.arange(top + 2))
    # int64 arrays, not lists: a key takes 8 bytes instead of an int object's 40 (the fresh
    # pairs of a wide layer's nodes are millions).
    buckets = [array("q", keys[bounds[c]:bounds[c + 1]].tobytes()) for c in range(top + 1)]
    work = 0
    while top >= 2 and work < budget:
        bucket = buckets[top]
        if not bucket:
            top -= 1
            continue
        key = bucket.pop()
        a, b = key >> 33, (key >> 1) & 0xFFFFFFFF
        pa, na, pb, nb = pos[a], neg[a], pos[b], neg[b]
        if key & 1:  # opposite signs: +a -b or -a +b
            plus, minus = pa & nb, na & pb
        else:
            plus, minus = pa & pb, na & nb
        count = plus.bit_count() + minus.bit_count()
        if count < top:
            if count >= 2:
                buckets[count].append(key)
            continue
        size = leaves[a] + leaves[b]
        depth = max(level[a], level[b]) + 1
        if depth > (size - 1).bit_length() + slack:
            continue  # deeper than a balanced tree over its leaves: never made
        ref = n_in + len(nodes)
        nodes.append(SharedNode((a, b), (1, -1 if key & 1 else 1)))
        level.append(depth)
        leaves.append(size)
        # The node is read with +1 where a has +1 (plus), with -1 where a has -1 (minus).
        pos.append(plus)
        neg.append(minus)
        holders = plus | minus
        keep = ~holders
        pos[a], neg[a], pos[b], neg[b] = pa & keep, na & keep, pb & keep, nb & keep
        fresh = []
        ref_bits = ref << 1
        while holders:
            low = holders & -holders
            holders ^= low
            terms = rows[low.bit_length() - 1]
            wa = terms.pop(a)
            del terms[b]
            # Pair (t, ref) in this neuron: t < ref, relative sign negative when wa != wt.
            fresh += [(t << 33) | ref_bits | (wt != wa) for t, wt in terms.items()]
            work += len(terms) + 1
            terms[ref] = wa
        made = [(k, n) for k, n in Counter(fresh).items() if n >= 2]
        if rng is not None:
            made = [made[i] for i in rng.permutation(len(made))]
        for k, n in made:  # in a deterministic order: first seen first
            buckets[n].append(k)
    if not nodes:
        return layer
    neurons = []
    for neuron, terms, extra in zip(layer.neurons, rows, fixed):
        merged = sorted([*terms.items(), *extra])
        neurons.append(replace(neuron, inputs=tuple(i for i, _ in merged),
                               weights=tuple(w for _, w in merged), sum_range=None))
    return replace(layer, neurons=tuple(neurons), shared=tuple(nodes))
