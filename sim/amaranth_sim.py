"""Run a lowered network in ``amaranth.sim`` (the Python simulator) and collect its outputs."""

import time

import numpy as np
from amaranth.sim import Simulator

__all__ = ["simulate"]


def simulate(component, vectors):
    """Stream ``vectors`` (``(n, input_count)`` ints) through ``component``, one per clock, with the
    output always ready; return ``(labels, scores, setup_seconds, run_seconds)``.

    ``component`` has the network contract of :class:`lwc.hw.network.TernaryNetwork`. Outputs are
    collected in order; compare them with :func:`lwc.compiler.golden.evaluate`.
    """
    results = []

    async def testbench(ctx):
        ctx.set(component.o.ready, 1)
        for t in range(len(vectors) + component.latency):
            if t < len(vectors):
                ctx.set(component.i.valid, 1)
                ctx.set(component.i.payload, [int(v) for v in vectors[t]])
            else:
                ctx.set(component.i.valid, 0)
            *_, valid, payload = await ctx.tick().sample(component.o.valid, component.o.payload)
            if valid:
                results.append((payload.label, list(payload.scores)))

    start = time.perf_counter()
    sim = Simulator(component)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    setup = time.perf_counter() - start
    sim.run()
    seconds = time.perf_counter() - start - setup
    labels = np.array([label for label, _ in results], dtype=np.int64)
    scores = np.array([s for _, s in results], dtype=np.int64).reshape(len(results), -1)
    return labels, scores, setup, seconds
