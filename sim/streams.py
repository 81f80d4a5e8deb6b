"""``amaranth.sim`` helpers for ``lib.stream`` interfaces: the one set every testbench uses.

Each helper is an ``async`` function taking the testbench context ``ctx``. ``idle`` adds random
idle cycles (valid or ready low) before each transfer, drawn from a ``random.Random``-like ``rng``
with probability ``p`` per cycle, to exercise back-pressure.
"""

__all__ = ["stream_put", "stream_get", "stream_put_all", "stream_get_all"]


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
