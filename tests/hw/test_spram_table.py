# amaranth: UnusedElaboratable=no
"""SpramTable: the boot load of a weights image from the flash model, in amaranth.sim.

The reference is the image writer (:func:`lwc.weights_image.weights_image`) and the payload
itself: after a good boot the table holds the payload byte for byte and ``ready`` rises at
``boot_cycles``; after a bad one ``error`` rises, ``fault`` says why, and ``ready`` never rises.
"""

import random

import pytest
from amaranth.hdl import Fragment, Instance
from amaranth.sim import Simulator
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.icestick import ICEStickPlatform

from lwc import weights_image as wi
from lwc.hw.spram_table import LoadFault, SpramTable
from lwc.sim.spi_flash_model import FlashModel, amaranth_flash

CLK = 12e6
OFFSET = wi.ICEBREAKER_OFFSET


def payload(size, seed=0):
    return random.Random(seed).randbytes(size)


def boot(dut, model, *, extra=200):
    """Simulate from reset for ``boot_cycles + extra`` cycles; return a dict: the first cycle
    ``ready`` and ``error`` were high (or None), ``fault`` at the end, whether ``ready`` ever
    fell, and the table's bytes read back."""
    seen = {"ready": None, "error": None, "fell": False}

    async def watch(ctx):
        was_ready = False
        for cycle in range(1, dut.boot_cycles + extra + 1):
            await ctx.tick()  # `cycle` edges after reset
            ready, error = ctx.get(dut.ready), ctx.get(dut.error)
            if ready and seen["ready"] is None:
                seen["ready"] = cycle
            if error and seen["error"] is None:
                seen["error"] = cycle
            seen["fell"] |= was_ready and not ready
            was_ready = ready
        seen["fault"] = ctx.get(dut.fault)
        words = []
        for address in range(dut.depth):
            ctx.set(dut.addr, address)
            await ctx.tick()  # read_latency
            words.append(ctx.get(dut.data))
        seen["table"] = b"".join(w.to_bytes(dut.width // 8, "little") for w in words)

    sim = Simulator(dut)
    sim.add_clock(1 / CLK)
    sim.add_testbench(watch)
    sim.add_testbench(amaranth_flash(model, dut, 1 / CLK), background=True)
    sim.run()
    return seen


@pytest.mark.parametrize("size,width,divisor", [(37, 16, 2), (64, 32, 2), (41, 64, 4), (2, 16, 2)])
def test_good_image_loads_and_ready_rises_at_boot_cycles(size, width, divisor):
    data = payload(size, seed=size)
    model = FlashModel(wi.weights_image(data), OFFSET)
    dut = SpramTable(size, clk_freq=CLK, width=width, divisor=divisor, spram=False)
    seen = boot(dut, model)
    assert seen["ready"] == dut.boot_cycles
    assert seen["error"] is None and seen["fault"] == LoadFault.NONE and not seen["fell"]
    assert seen["table"][:size] == data
    assert model.violations == []


def _flipped(image, index, bit=0):
    image = bytearray(image)
    image[index] ^= 1 << bit
    return bytes(image)


SIZE = 40
IMAGE = wi.weights_image(payload(SIZE))
BAD_IMAGES = {
    "magic byte flipped": (_flipped(IMAGE, 2), LoadFault.MAGIC),
    "length byte flipped": (_flipped(IMAGE, 4, 3), LoadFault.LENGTH),
    "first payload byte flipped": (_flipped(IMAGE, wi.HEADER_BYTES), LoadFault.CRC),
    "middle payload byte flipped": (_flipped(IMAGE, wi.HEADER_BYTES + SIZE // 2, 7), LoadFault.CRC),
    "last payload byte flipped": (_flipped(IMAGE, wi.HEADER_BYTES + SIZE - 1, 4), LoadFault.CRC),
    "CRC byte flipped": (_flipped(IMAGE, len(IMAGE) - 1, 6), LoadFault.CRC),
    "image cut short in flash": (IMAGE[:-6], LoadFault.CRC),
    "image for another size": (wi.weights_image(payload(SIZE + 1)), LoadFault.LENGTH),
    "erased flash": (b"", LoadFault.MAGIC),
}


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_bad_image_raises_error_and_never_ready(name):
    image, fault = BAD_IMAGES[name]
    model = FlashModel(image, OFFSET)
    dut = SpramTable(SIZE, clk_freq=CLK, spram=False)
    seen = boot(dut, model)
    assert seen["ready"] is None
    assert seen["fault"] == fault
    assert seen["error"] is not None
    if fault == LoadFault.CRC:  # found after the last byte, when the CRC is known
        assert seen["error"] == dut.boot_cycles
    with pytest.raises(ValueError):
        wi.parse_weights_image(image + b"\xff" * 8, expected_length=SIZE)


@pytest.mark.parametrize("cut_after", [0, 5, wi.HEADER_BYTES + SIZE // 2, len(IMAGE) - 1])
def test_flash_that_stops_serving_raises_error(cut_after):
    model = FlashModel(IMAGE, OFFSET, cut_after=cut_after)
    dut = SpramTable(SIZE, clk_freq=CLK, spram=False)
    seen = boot(dut, model)
    assert seen["ready"] is None and seen["error"] is not None
    assert seen["fault"] == (LoadFault.MAGIC if cut_after < 4 else
                             LoadFault.LENGTH if cut_after < wi.HEADER_BYTES else LoadFault.CRC)


def test_boot_cycles_at_12mhz_for_the_issue_table():
    # 460 kbit (57,500 bytes): the first-layer table of the 98.78 % net (issue 20).
    dut = SpramTable(57_500, clk_freq=12e6)
    Fragment.get(dut, None)
    assert dut.image_bytes == 57_512
    # start, 0xAB (8 bits of 2 cycles), tRES1 (36), 0x03 and address and data (2 cycles a bit),
    # less the last bit's SCK-high half, then the CRC's 8 bits of the last byte and `ready`.
    assert dut.boot_cycles == 1 + 16 + 36 + (32 + 8 * 57_512) * 2 - 1 + 10 == 920_318
    assert dut.spram_blocks == 2 and dut.depth == 28_750


def test_spram_layout():
    for size, width, blocks in ((1, 16, 1), (32_768, 16, 1), (32_769, 16, 2), (131_072, 16, 4),
                                (65_536, 32, 2), (65_537, 32, 4), (8, 64, 4)):
        dut = SpramTable(size, clk_freq=CLK, width=width)
        Fragment.get(dut, None)
        assert dut.spram_blocks == blocks, (size, width)


def _instances(fragment):
    found = [fragment.type] if isinstance(fragment, Instance) else []
    for sub, *_ in fragment.subfragments:
        found += _instances(sub)
    return found


def test_storage_is_spram_on_the_ultraplus_only():
    # 40,000 bytes of 16-bit words: two rows of one block.
    assert _instances(Fragment.get(SpramTable(40_000, clk_freq=CLK), ICEBreakerPlatform())) == \
        ["SB_SPRAM256KA"] * 2
    assert _instances(Fragment.get(SpramTable(40_000, clk_freq=CLK), ICEStickPlatform())) == []
    assert _instances(Fragment.get(SpramTable(40_000, clk_freq=CLK), None)) == []
    assert _instances(Fragment.get(SpramTable(8, clk_freq=CLK, width=64, spram=True), None)) == \
        ["SB_SPRAM256KA"] * 4


@pytest.mark.parametrize("size", [0, 131_073, 1.5, True])
def test_size_must_fit_the_up5k(size):
    with pytest.raises(ValueError, match=r"^size must be an integer from 1 to 131072 bytes, not "):
        SpramTable(size, clk_freq=CLK)


def test_width_and_offset_are_checked():
    with pytest.raises(ValueError, match=r"^width must be 16, 32 or 64, not 8$"):
        SpramTable(4, clk_freq=CLK, width=8)
    with pytest.raises(ValueError, match=r"^offset must be an integer from 0 to 16777200, not "
                                         r"16777201$"):
        SpramTable(4, clk_freq=CLK, offset=(1 << 24) - 15)
    with pytest.raises(ValueError, match=r"^spram must be None, True or False, not 'yes'$"):
        SpramTable(4, clk_freq=CLK, spram="yes")
