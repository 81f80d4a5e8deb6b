"""``amaranth.sim`` helpers for ``lib.stream`` interfaces: the one set every testbench uses.

Each helper is an ``async`` function taking the testbench context ``ctx``. ``idle`` adds random
idle cycles (valid or ready low) before each transfer, drawn from a ``random.Random``-like ``rng``
with probability ``p`` per cycle, to exercise back-pressure.
"""

__all__ = ["stream_put", "stream_get", "stream_put_all", "stream_get_all", "stream_check_source",
           "run_network"]


async def _idle(ctx, rng, p):
    while rng is not None and rng.random() < p:
        await ctx.tick()


async def stream_put(ctx, stream, payload, *, rng=None, p=0.0):
    """Offer ``payload`` on ``stream`` (a source seen from the testbench) until it is taken."""
    await _idle(ctx, rng, p)
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, rng=None, p=0.0):
    """Take one payload from ``stream`` (a sink seen from the testbench) and return it."""
    await _idle(ctx, rng, p)
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def stream_put_all(ctx, stream, payloads, *, rng=None, p=0.0):
    for payload in payloads:
        await stream_put(ctx, stream, payload, rng=rng, p=p)


async def stream_get_all(ctx, stream, count, *, rng=None, p=0.0):
    return [await stream_get(ctx, stream, rng=rng, p=p) for _ in range(count)]


async def stream_check_source(ctx, stream):
    """Assert, at every clock edge, the source rules of ``lib.stream`` on ``stream``: once
    ``valid`` is high it stays high, with ``payload`` unchanged, until ``ready`` takes it.

    It never returns: add it with ``sim.add_testbench(..., background=True)``.
    """
    held = None
    while True:
        # One-shot waits: a suspended `async for` would fail to close when the simulation ends.
        *_, valid, ready, payload = await ctx.tick().sample(
            stream.valid, stream.ready, stream.payload)
        if held is not None:
            assert valid, "valid dropped before the payload was taken"
            assert _bits(payload) == held, "payload changed while valid and not ready"
        held = _bits(payload) if valid and not ready else None


def _bits(payload):
    """A sampled payload as an int: layout payloads sample as ``data.Const``."""
    return payload.as_bits() if hasattr(payload, "as_bits") else payload


def run_network(dut, payloads, count, *, limit, rng=None, p_in=0.0, p_out=0.0, flash=None):
    """Simulate a network component ``dut`` (``i``/``o`` streams, a ``sync`` clock): offer the
    input ``payloads`` on ``i`` with random gaps (probability ``p_in`` a cycle), take ``count``
    outputs from ``o`` with random back-pressure (``p_out``) while :func:`stream_check_source`
    watches ``o``, and fail if they have not all come within ``limit`` cycles. Returns the output
    payloads in order. ``flash`` (a :class:`lwc.sim.spi_flash_model.FlashModel`) serves the
    ``flash`` pins of a network that loads its table at boot."""
    from amaranth.sim import Simulator

    from .spi_flash_model import amaranth_flash

    results = []

    async def producer(ctx):
        await stream_put_all(ctx, dut.i, payloads, rng=rng, p=p_in)

    async def consumer(ctx):
        results.extend(await stream_get_all(ctx, dut.o, count, rng=rng, p=p_out))

    async def checker(ctx):
        await stream_check_source(ctx, dut.o)

    async def watchdog(ctx):
        for _ in range(limit):  # not tick().repeat(): it cannot be closed while suspended
            await ctx.tick()
        raise AssertionError(f"no {count} outputs within {limit} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(checker, background=True)
    sim.add_testbench(watchdog, background=True)
    if flash is not None:
        sim.add_testbench(amaranth_flash(flash, dut.flash, 1e-6), background=True)
    sim.run()
    return results
