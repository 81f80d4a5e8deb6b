# amaranth: UnusedElaboratable=no
"""StreamingNetwork with its entry table in SPRAM (``weights="spram"``): the table's layout, the
boot from the flash model, and a network that never answers after a bad load; against the golden
model in amaranth.sim."""

import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from amaranth_boards.icebreaker import ICEBreakerPlatform

from lwc import weights_image as wi
from lwc.compiler import golden, passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.lower import plan, write_verilog
from lwc.errors import UsageError
from lwc.hw import StreamingNetwork
from lwc.hw.plan import SPRAM_LANES
from lwc.hw.spram_table import LoadFault
from lwc.sim.spi_flash_model import FlashModel, amaranth_flash
from lwc.sim.streams import run_network

from helpers import transfers


def _net(make_network, seed=5, **kwargs):
    options = dict(inputs=19, hidden=(10, 6), outputs=4, bits=3, density=0.5)
    options.update(kwargs)
    return make_network(np.random.default_rng(seed), **options)


def _plan(net, features=1, lanes=1, weights="spram"):
    return plan(passes.compile_network(net), Streaming(features, lanes, weights))


@pytest.mark.parametrize("lanes, width, per_word", [
    (1, 16, 2), (2, 16, 1), (3, 32, 1), (4, 32, 1), (5, 64, 1), (8, 64, 1)])
def test_table_layout(make_network, lanes, width, per_word):
    """Every lane's entry ``pc`` is where ``table_slot`` says, in a word of the narrowest width
    with a byte per lane; the block-RAM plan's entries are the same entries."""
    net = _net(make_network, inputs=40, hidden=(24,), density=0.4)
    design = _plan(net, 3, lanes)
    rom = _plan(net, 3, lanes, "bram")
    assert design.lanes == lanes
    assert (design.table_width, design.entries_per_word) == (width, per_word)
    payload = design.table_payload()
    assert len(payload) == design.table_bytes == design.table_words * width // 8
    assert design.table_words == -(-max(design.entry_counts) // per_word)
    assert design.spram_blocks == width // 16
    for k, (lane, rom_lane) in enumerate(zip(design.lane_plans, rom.lane_plans)):
        assert lane.entries == rom_lane.entries
        for pc, entry in enumerate(lane.entries):
            word, byte = design.table_slot(k, pc)
            assert payload[word * width // 8 + byte] == entry
    # The entries leave block RAM; the parameter ROMs and image buffers stay.
    assert [m for m in rom.memories if not m[0].endswith("_entries")] == list(design.memories)
    assert rom.table_bytes == rom.table_width == rom.spram_blocks == 0


def test_spram_limits(make_network):
    net = _net(make_network, seed=2, inputs=40, hidden=(24,), density=0.4)
    assert _plan(net, 1, 9, "bram").lanes == 9
    with pytest.raises(UsageError, match=rf"^--weights spram: an SPRAM table serves at most "
                                         rf"{SPRAM_LANES} lanes \(a byte each of a 64-bit word\), "
                                         rf"not 9$"):
        _plan(net, 1, 9)
    with pytest.raises(UsageError, match=r"^unknown weight storage 'dram' \(choose from: bram, "
                                         r"spram\)$"):
        Streaming(1, 1, "dram")


def _boot_and_run(dut, vectors, image, *, cut_after=None, p=0.2):
    model = FlashModel(image, wi.ICEBREAKER_OFFSET, cut_after=cut_after)
    payloads = transfers(dut, vectors, (1 << dut.input_bits) - 1)
    limit = dut.boot_cycles + (len(vectors) + 1) * (dut.cycles_per_inference + dut.latency + 8) * 3
    results = run_network(dut, payloads, len(vectors), limit=limit, rng=random.Random(0),
                          p_in=p, p_out=p, flash=model)
    assert model.violations == []
    labels = np.array([r.label for r in results])
    scores = np.array([list(r.scores) for r in results]).reshape(len(results), dut.n_classes)
    return labels, scores


@pytest.mark.parametrize("features, lanes", [(1, 1), (3, 3), (8, 2), (2, 5)])
def test_boot_then_golden(make_network, make_vectors, features, lanes):
    net = _net(make_network, seed=features + lanes, inputs=23, hidden=(12, 5))
    design = _plan(net, features, lanes)
    dut = StreamingNetwork(design, spram=False)
    x = make_vectors(net, np.random.default_rng(lanes), n_random=10)
    labels, scores = _boot_and_run(dut, x, wi.weights_image(design.table_payload()))
    trace = golden.evaluate(net, x)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)


def _watch(dut, image, cycles, cut_after=None):
    """Offer one vector from reset on with the flash holding ``image``; return the first cycles
    ``i.ready`` and ``boot.ready`` were high (None: never), ``boot.error``/``fault`` at the end,
    and whether ``o.valid`` ever rose."""
    seen = {"i_ready": None, "ready": None, "valid": False}
    model = FlashModel(image, wi.ICEBREAKER_OFFSET, cut_after=cut_after)

    async def bench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 1)
        for cycle in range(1, cycles + 1):
            await ctx.tick()
            if ctx.get(dut.i.ready) and seen["i_ready"] is None:
                seen["i_ready"] = cycle
            if ctx.get(dut.boot.ready) and seen["ready"] is None:
                seen["ready"] = cycle
            seen["valid"] |= bool(ctx.get(dut.o.valid))
        seen["error"], seen["fault"] = ctx.get(dut.boot.error), ctx.get(dut.boot.fault)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(amaranth_flash(model, dut.flash, 1e-8), background=True)
    sim.run()
    return seen


def test_ready_waits_for_the_boot(make_network):
    design = _plan(_net(make_network), 3, 2)
    dut = StreamingNetwork(design, spram=False)
    seen = _watch(dut, wi.weights_image(design.table_payload()), dut.boot_cycles + 50)
    assert seen["ready"] == seen["i_ready"] == dut.boot_cycles
    assert seen["error"] == 0 and seen["fault"] == LoadFault.NONE


@pytest.mark.parametrize("damage, fault", [
    ("flip a payload byte", LoadFault.CRC),
    ("cut short", LoadFault.CRC),
    ("erased", LoadFault.MAGIC),
    ("another design", LoadFault.LENGTH),
])
def test_bad_load_never_answers(make_network, damage, fault):
    design = _plan(_net(make_network), 3, 2)
    dut = StreamingNetwork(design, spram=False)
    image = wi.weights_image(design.table_payload())
    cut_after = None
    if damage == "flip a payload byte":
        image = bytearray(image)
        image[wi.HEADER_BYTES + len(design.table_payload()) // 2] ^= 0x01
    elif damage == "cut short":
        cut_after = len(image) - 7
    elif damage == "erased":
        image = b""
    else:
        image = wi.weights_image(design.table_payload() + bytes(4))
    seen = _watch(dut, bytes(image), dut.boot_cycles + 400, cut_after=cut_after)
    assert seen["i_ready"] is None and seen["ready"] is None and not seen["valid"]
    assert seen["error"] == 1 and seen["fault"] == fault


def test_spram_cells_on_the_up5k(make_network):
    """On an iCE40 UltraPlus the table is SB_SPRAM256KA blocks; the Verilog names them when asked,
    and a behavioural memory otherwise."""
    design = _plan(_net(make_network), 3, 3)
    assert "SB_SPRAM256KA" in write_verilog(design, spram=True)
    assert "SB_SPRAM256KA" not in write_verilog(design)
    dut = StreamingNetwork(design)
    fragment = Fragment.get(dut, ICEBreakerPlatform())  # the platform's SPRAM choice
    table = fragment.subfragments[[name for _, name, _ in fragment.subfragments].index(
        "weights")][0]
    blocks = [name for _, name, _ in table.subfragments if name.startswith("spram_r")]
    assert len(blocks) == design.spram_blocks == 2


def test_bram_design_is_unchanged(make_network):
    net = _net(make_network)
    design = _plan(net, 3, 2, "bram")
    dut = StreamingNetwork(design)
    assert dut.boot_cycles == 0
    assert set(dut.signature.members) == {"i", "o"}
    assert design == replace(_plan(net, 3, 2), weights="bram")
