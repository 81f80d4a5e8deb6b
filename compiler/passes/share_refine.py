"""The cheapest choice of shared sub-sums among candidates, by integer linear programming.

Greedy sharing (:func:`.share.share_layer`) commits to the most frequent pair at each step. This
module takes the sub-sums that one or more greedy runs made (the *pool*: each a signed set of
inputs), every way of building each from two smaller ones of the pool (or inputs), and every way a
neuron may read them, and lets ``scipy.optimize.milp`` choose which to build and which each neuron
reads, minimising the adders: one per built sub-sum, ``pieces - 1`` per neuron. The greedy runs'
own choices are feasible there, so the result is never worse than the best of them; it is the
optimum over the pool (when the solver finishes within its time limit), not over every possible
sub-sum. It ignores adder depth (a chosen sub-sum may be deeper than a balanced tree).

Model, for pool patterns ``p`` (binary ``y_p``: built), their decompositions ``d = (q, r)``
(binary ``u_pd``: ``p`` built as ``q +- r``) and the patterns ``q`` that fit in neuron ``n``
(binary ``z_nq``: ``n`` reads ``q``)::

    min  sum_p y_p - sum_nq (|q| - 1) z_nq
    s.t. sum_d u_pd = y_p,  u_pd <= y_q,  u_pd <= y_r        (a built pattern has its parts)
         z_nq <= y_q;  sum_{q holding i} z_nq <= 1           (each term of n read once)

Only ``+1``/``-1`` weights take part, as in greedy sharing.
"""

from dataclasses import replace
from itertools import combinations

import numpy as np

from ..ir import SharedNode

__all__ = ["node_patterns", "common_patterns", "refine_layer", "MAX_POOL"]

#: The most sub-sums the ILP chooses among: beyond it, the patterns two neurons can share are not
#: added (the model's size and the solver's time grow with the pool).
MAX_POOL = 5000
#: Patterns of at most this many inputs find their parts among their subsets, not by a scan.
_SUBSETS = 12


def _normal(terms):
    """``terms`` (``{input: +1 or -1}``) as a pattern, the sign of its lowest input made +1, and
    that sign: ``(pattern, sign)`` with ``terms == sign * pattern``."""
    sign = terms[min(terms)]
    return tuple(sorted((i, s * sign) for i, s in terms.items())), sign


def node_patterns(layer, n_in):
    """The normalised pattern (see :func:`_normal`) of every shared node of ``layer``."""
    expanded = []
    for node in layer.shared:
        terms = {}
        for ref, w in zip(node.inputs, node.weights):
            for i, s in ({ref: 1} if ref < n_in else expanded[ref - n_in]).items():
                terms[i] = s * w
        expanded.append(terms)
    return [_normal(t)[0] for t in expanded]


def common_patterns(rows, *, largest=12):
    """Every pattern that two neurons (``rows``: ``{input: +1 or -1}`` each) can share: the
    subsets of two or more inputs of each pair's common part (the inputs where one row is ``s``
    times the other, for ``s = +1`` and ``-1``), for common parts of at most ``largest`` inputs;
    and whether none was larger.

    A sub-sum read twice or more in a sharing without cancelling terms lies in such a common part
    (its readers lie in two different neurons: a neuron's terms read no input twice), and one read
    once can be inlined into its reader, so with every subset in the pool the ILP's optimum is the
    optimum over all such sharings.
    """
    found, complete = set(), True
    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            ra, rb = rows[a], rows[b]
            for s in (1, -1):
                common = sorted(i for i, w in ra.items() if rb.get(i) == s * w)
                if len(common) > largest:
                    complete = False
                    continue
                for size in range(2, len(common) + 1):
                    for subset in combinations(common, size):
                        found.add(_normal({i: ra[i] for i in subset})[0])
    return found, complete


def _fit(pattern, terms):
    """The sign ``s`` with ``s * pattern`` a part of ``terms`` (``{input: sign}``), or 0."""
    i0, s0 = pattern[0]
    if i0 not in terms:
        return 0
    s = terms[i0] * s0
    return s if all(terms.get(i) == s * w for i, w in pattern) else 0


def refine_layer(layer, n_in, candidates, *, time_limit=60.0, exhaustive=False, info=None):
    """``layer`` (plain, reading ``n_in`` values) with the cheapest sharing over the pool of the
    shared nodes of ``candidates`` (the same layer, shared by greedy runs), or ``None`` when the
    solver found nothing (scipy missing, or no solution within ``time_limit`` seconds).

    With ``exhaustive`` the pool also holds every pattern two neurons can share
    (:func:`common_patterns`). ``info``, a dict when given, receives ``pool`` (its size),
    ``optimal`` (the solver proved its solution optimal over the pool), ``complete`` (the pool
    holds every shareable pattern) and ``bound`` (a lower bound on the adders over the pool).
    """
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array
    except ImportError:
        return None
    assert not layer.shared
    n_in = int(n_in)
    rows = [{i: w for i, w in zip(n.inputs, n.weights) if w in (1, -1)} for n in layer.neurons]
    pool = {p for c in candidates for p in node_patterns(c, n_in)}
    complete = False
    if exhaustive:
        common, complete = common_patterns(rows)
        if len(pool | common) <= MAX_POOL:
            pool |= common
        else:
            complete = False
    pool = sorted(pool, key=lambda p: (len(p), p))
    if not pool:
        return None
    index = {p: k for k, p in enumerate(pool)}
    masks = [sum(1 << i for i, _ in p) for p in pool]
    # Decompositions: p = sq * q + sr * r, q and r patterns of the pool or single inputs.
    decomps = []  # (p, part, part, sign, sign), a part ("pool", index) or ("in", input)
    for k, p in enumerate(pool):
        terms = dict(p)
        seen = set()
        if len(p) <= _SUBSETS:  # look the parts up among the subsets of p
            parts = (index.get(_normal(dict(c))[0]) for size in range(2, len(p) - 1 + 1)
                     for c in combinations(p, size))
            parts = sorted({j for j in parts if j is not None})
        else:  # or scan the pool
            parts = [j for j in range(k) if not masks[j] & ~masks[k] and len(pool[j]) < len(p)]
        for j in parts:
            sq = _fit(pool[j], terms)
            if not sq:
                continue
            rest = {i: s for i, s in p if not masks[j] >> i & 1}
            r, sr = _normal(rest)
            if len(r) == 1:
                part = ("in", r[0][0])
            elif r in index:
                part = ("pool", index[r])
            else:
                continue
            key = frozenset([("pool", j), part])
            if key in seen:
                continue
            seen.add(key)
            decomps.append((k, ("pool", j), part, sq, sr))
        # Two single inputs.
        if len(p) == 2:
            (a, sa), (b, sb) = p
            decomps.append((k, ("in", a), ("in", b), sa, sb))
    reads = []  # (neuron, pattern index, sign)
    for r, terms in enumerate(rows):
        row_mask = sum(1 << i for i in terms)
        for k, p in enumerate(pool):
            if masks[k] & ~row_mask:
                continue
            s = _fit(p, terms)
            if s:
                reads.append((r, k, s))
    ny, nu, nz = len(pool), len(decomps), len(reads)
    cost = np.concatenate([np.ones(ny), np.zeros(nu),
                           -np.array([len(pool[k]) - 1 for _, k, _ in reads], dtype=float)])
    entries, lo, hi = [], [], []

    def row(coefs, low, high):
        r = len(lo)
        entries.extend((r, col, v) for col, v in coefs)
        lo.append(low)
        hi.append(high)

    by_pattern = [[] for _ in pool]
    for d, (k, q, part, _, _) in enumerate(decomps):
        by_pattern[k].append(ny + d)
        for kind, ref in (q, part):
            if kind == "pool":
                row([(ny + d, 1), (ref, -1)], -np.inf, 0)
    for k in range(ny):
        row([(k, -1)] + [(col, 1) for col in by_pattern[k]], 0, 0)
    per_term = {}
    for z, (r, k, _) in enumerate(reads):
        row([(ny + nu + z, 1), (k, -1)], -np.inf, 0)
        for i, _ in pool[k]:
            per_term.setdefault((r, i), []).append(ny + nu + z)
    for cols in per_term.values():
        if len(cols) > 1:
            row([(c, 1) for c in cols], -np.inf, 1)
    r_idx, c_idx, vals = zip(*entries)
    a = coo_array((vals, (r_idx, c_idx)), shape=(len(lo), ny + nu + nz)).tocsr()
    result = milp(cost, constraints=LinearConstraint(a, lo, hi), integrality=np.ones(len(cost)),
                  bounds=Bounds(0, 1), options={"time_limit": time_limit})
    if info is not None:
        base = sum(max(len(t) - 1, 0) for t in rows)  # before sharing, +-1 terms only
        bound = getattr(result, "mip_dual_bound", None)
        info.update(pool=len(pool), optimal=result.status == 0, complete=complete,
                    bound=None if bound is None else base + bound)
    if result.x is None:
        return None
    x = np.round(result.x).astype(bool)
    chosen = {decomps[d][0]: decomps[d] for d in np.flatnonzero(x[ny:ny + nu])}
    read_by = [[] for _ in rows]
    for z in np.flatnonzero(x[ny + nu:]):
        r, k, s = reads[z]
        read_by[r].append((k, s))
    # Build only what a neuron reads, directly or through other patterns (a solution stopped by
    # the time limit may hold patterns nothing reads).
    needed, stack = set(), [k for picks in read_by for k, _ in picks]
    while stack:
        k = stack.pop()
        if k not in needed:
            needed.add(k)
            stack.extend(ref for kind, ref in chosen[k][1:3] if kind == "pool")
    built, made = {}, []
    for k in sorted(needed):  # pool order: parts before the patterns built of them
        _, q, part, sq, sr = chosen[k]
        refs = [ref if kind == "in" else built[ref] for kind, ref in (q, part)]
        signs = [sq, sr]
        if signs[0] < 0:  # first term +1, as greedy sharing makes them
            refs, signs = refs[::-1], signs[::-1]
        built[k] = n_in + len(made)
        made.append(SharedNode(tuple(refs), tuple(signs)))
    neurons = []
    for neuron, terms, picks in zip(layer.neurons, rows, read_by):
        merged = [(i, w) for i, w in zip(neuron.inputs, neuron.weights) if w not in (1, -1)]
        covered = set()
        for k, s in picks:
            merged.append((built[k], s))
            covered.update(i for i, _ in pool[k])
        merged += [(i, w) for i, w in terms.items() if i not in covered]
        merged.sort()
        neurons.append(replace(neuron, inputs=tuple(i for i, _ in merged),
                               weights=tuple(w for _, w in merged), sum_range=None))
    return replace(layer, neurons=tuple(neurons), shared=tuple(made))
