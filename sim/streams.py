"""``amaranth.sim`` helpers for ``lib.stream`` interfaces: the one set every testbench uses.

Each helper is an ``async`` function taking the testbench context ``ctx``. ``idle`` adds random
idle cycles (valid or ready low) before each transfer, drawn from a ``random.Random``-like ``rng``
with probability ``p`` per cycle, to exercise back-pressure.
"""

__all__ = ["stream_put", "stream_get", "stream_put_all", "stream_get_all", "stream_check_source"]


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
