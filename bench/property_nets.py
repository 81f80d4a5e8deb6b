"""Property check over random sparse ternary networks: golden model vs the hardware, net by net.

Each net comes from :func:`random_net`: 1 to 4 layers, 1 to 8 input bits, fan-ins from 0 to every
input, every hidden activation kind, thresholds at and beyond the reachable extremes, dead
(constant) neurons, duplicate neurons, inputs and neurons no one reads. Each is lowered twice
(:func:`lwc.compiler.lower.lower` as it is and with ``register_every=1``), simulated in
``amaranth.sim`` on adversarial vectors (all zero, all max, alternating, one-hot, random), and
compared with :func:`lwc.compiler.golden.evaluate` output by output; every ``--hdl-every``-th net
is also simulated from its generated Verilog in Icarus (cocotb, with input gaps and
back-pressure). Any exception on a valid net counts as a crash. Example::

    nice -n 10 python bench/property_nets.py 500

prints nets tried, vectors compared, mismatches and crashes (the goal is 0 and 0). The test
``tests/sim/test_property_nets.py`` runs a fixed-seed sample of this same check.
"""

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from lwc.compiler import golden, ir
from lwc.compiler.driver import compile_design
from lwc.compiler.lower import lower
from lwc.compiler.passes import compile_network
from lwc.sim.amaranth_sim import simulate as amaranth_simulate
from lwc.sim.vectors import adversarial_vectors

KINDS = ("step", "ternary", "clip")


def _interesting(rng, lo, hi):
    """A threshold at or beyond the ends of the reachable interval ``[lo, hi]``, or inside it."""
    choices = [lo - 3, lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, hi + 3,
               int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))]
    return int(choices[rng.integers(len(choices))])


def random_net(rng):
    """A random valid :class:`~lwc.compiler.ir.Network` with the corner cases above."""
    bits = int(rng.integers(1, 9))
    count = int(rng.integers(1, 11))
    n_layers = int(rng.integers(1, 5))
    n_in, in_ranges = count, [(0, (1 << bits) - 1)] * count
    layers = []
    for li in range(n_layers):
        last = li == n_layers - 1
        size = int(rng.integers(1, 7)) if last else int(rng.integers(1, 9))
        kind = "linear" if last else KINDS[rng.integers(len(KINDS))]
        if kind == "clip":
            act = ir.Activation("clip", shift=int(rng.integers(0, 4)), bits=int(rng.integers(1, 6)))
        else:
            act = ir.Activation(kind)
        unread = rng.random(n_in) < 0.15  # columns (inputs, neurons) no neuron here reads
        w = np.zeros((size, n_in), dtype=np.int64)
        params = []
        for row in range(size):
            if row and rng.random() < 0.1:  # a duplicate of an earlier neuron
                w[row], p = w[row - 1], params[-1]
                params.append(p)
                continue
            mode = rng.random()
            if mode < 0.1:
                fan_in = 0
            elif mode < 0.25:
                fan_in = n_in
            else:
                fan_in = int(rng.integers(1, n_in + 1))
            cols = rng.choice(n_in, size=fan_in, replace=False)
            w[row, cols] = rng.choice([-1, 1], size=fan_in)
            if fan_in < n_in:
                w[row, unread] = 0
            neuron = ir.Neuron(tuple(int(i) for i in np.nonzero(w[row])[0]),
                               tuple(int(x) for x in w[row][np.nonzero(w[row])[0]]), (), 0)
            lo, hi = ir.sum_range(neuron, in_ranges)
            if kind == "step" or kind == "clip":
                p = (_interesting(rng, lo, hi),)
            elif kind == "ternary":
                t_lo = _interesting(rng, lo, hi)
                p = (t_lo, t_lo + int(rng.integers(1, 4)))
            else:
                p = (int(rng.integers(-5, 6)) if rng.random() < 0.9
                     else int(rng.integers(-1000, 1001)),)
            params.append(p)
        layers.append((w, act, np.asarray(params, dtype=np.int64).reshape(size, -1)))
        if not last:
            probe = ir.from_dense(ir.InputSpec(count, bits), layers + [
                (np.zeros((1, size), dtype=np.int64), ir.Activation("linear"), np.zeros(1))],
                ["c"])
            in_ranges = [out for _, out in ir.layer_ranges(probe)[li]]
        n_in = size
    return ir.from_dense(ir.InputSpec(count, bits), layers,
                         [f"c{k}" for k in range(layers[-1][0].shape[0])],
                         {"dataset": "random"})


@dataclass
class Tally:
    """Running totals. ``vectors`` counts input vectors, ``comparisons`` vector-design pairs
    (each vector runs on two lowerings, and on the Verilog of the nets run in Icarus);
    ``mismatches`` counts mismatching pairs; ``failures`` holds ``(net, what, detail)``."""

    nets: int = 0
    vectors: int = 0
    comparisons: int = 0
    mismatches: int = 0
    crashes: int = 0
    hdl_nets: int = 0
    hdl_vectors: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)


def check_amaranth(net, x):
    """Golden model vs ``amaranth.sim`` of ``lower(net)`` and ``lower(net, register_every=1)`` on
    ``x``; return ``(comparisons, mismatching comparisons, [(what, detail), ...])``.

    Exceptions propagate (on a valid net they are crashes).
    """
    want = golden.evaluate(net, x)
    compiled = compile_network(net)
    compared, bad, notes = 0, 0, []
    for register_every in (None, 1):
        labels, scores, _, _ = amaranth_simulate(lower(compiled, register_every=register_every), x)
        if len(labels) == len(x):
            wrong = (labels != want.predictions) | (scores != want.scores).any(axis=1)
        else:
            wrong = np.ones(len(x), dtype=bool)
        compared += len(x)
        if wrong.any():
            bad += int(wrong.sum())
            i = int(np.argmax(wrong))
            notes.append((f"amaranth register_every={register_every}",
                          f"{int(wrong.sum())} of {len(x)} vectors differ, first {x[i].tolist()}"))
    return compared, bad, notes


def check_icarus(net, x, build_dir):
    """Golden model vs the generated Verilog in Icarus (cocotb, gaps and back-pressure), built in
    ``build_dir``; the same triple as :func:`check_amaranth`."""
    from lwc.sim import cocotb_sim

    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=build_dir,
                                 progress=lambda line: None)
    if report.ok:
        return report.vectors, 0, []
    return report.vectors, max(report.mismatches, 1), [("icarus", report.format())]


def run(n, *, seed=0, hdl_every=10, progress=None):
    """Check ``n`` nets (net ``k`` from ``numpy.random.default_rng((seed, k))``); a :class:`Tally`.

    Every ``hdl_every``-th net also runs in Icarus when ``iverilog`` is installed (``0``: never).
    """
    tally = Tally()
    use_hdl = hdl_every > 0 and shutil.which("iverilog") is not None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lwc-property-") as tmp:
        for k in range(n):
            rng = np.random.default_rng((seed, k))
            tally.nets += 1
            hdl = use_hdl and k % hdl_every == 0
            try:
                net = random_net(rng)
                x = adversarial_vectors(net, rng)
                compared, bad, notes = check_amaranth(net, x)
                if hdl:
                    more = check_icarus(net, x, f"{tmp}/{k}")
                    compared, bad, notes = compared + more[0], bad + more[1], notes + more[2]
            except Exception:  # any exception on a valid net is a crash
                tally.crashes += 1
                tally.failures.append((k, "crash", traceback.format_exc(limit=3)))
                continue
            tally.vectors += len(x)
            tally.comparisons += compared
            tally.mismatches += bad
            if hdl:
                tally.hdl_nets += 1
                tally.hdl_vectors += len(x)
            tally.failures += [(k, what, detail) for what, detail in notes]
            if progress is not None and (k + 1) % 50 == 0:
                progress(f"  {k + 1} nets, {tally.comparisons} comparisons, {tally.mismatches} "
                         f"mismatches, {tally.crashes} crashes")
    tally.seconds = time.perf_counter() - started
    return tally


def table(tally):
    """The summary table as text."""
    rows = [("nets tried", tally.nets), ("input vectors", tally.vectors),
            ("vectors compared", f"{tally.comparisons} (2 lowerings in amaranth.sim, "
                                 f"{tally.hdl_vectors} in Icarus over {tally.hdl_nets} nets)"),
            ("mismatches", tally.mismatches), ("crashes", tally.crashes),
            ("time", f"{tally.seconds:.1f} s")]
    return "\n".join(f"{name:<22} {value}" for name, value in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=500, help="nets to try (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hdl-every", type=int, default=10,
                        help="simulate every K-th net in Icarus too (0: never; default 10)")
    args = parser.parse_args(argv)
    tally = run(args.n, seed=args.seed, hdl_every=args.hdl_every, progress=print)
    print(table(tally))
    for k, what, detail in tally.failures[:10]:
        print(f"net {k} ({what}): {detail}")
    return 0 if tally.mismatches == 0 and tally.crashes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
