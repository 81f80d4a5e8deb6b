"""A weight table in the iCE40 UltraPlus SPRAM, loaded from SPI flash at boot and checked.

SPRAM powers up undefined and a bitstream cannot initialise it, so the table is read from flash
after configuration: :class:`SpramTable` reads a weights image (:mod:`lwc.weights_image`: magic,
length, payload, CRC-32) with a :class:`~lwc.hw.spi_flash.SpiFlashReader`, writes the payload into
the table as it arrives, and raises ``ready`` only once the whole image has been read and its
magic, length and CRC all check. A bad or short image raises ``error`` instead and ``ready``
never rises, so a network behind the table cannot answer with wrong weights.
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import crc, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lwc import weights_image

from .ice40 import ultraplus
from .spi_flash import SpiFlashReader, read_cycles

__all__ = ["LoadFault", "SpramTable", "boot_cycles", "SPRAM_WORDS", "SPRAM_BLOCKS", "SPRAM_WIDTH"]

#: Words of one SB_SPRAM256KA block.
SPRAM_WORDS = 16384
#: Bits of a word of one block.
SPRAM_WIDTH = 16
#: Blocks in an iCE40UP5K (1 Mbit in all).
SPRAM_BLOCKS = 4
_WIDTHS = (16, 32, 64)


class LoadFault(enum.Enum, shape=2):
    """Why a load failed; ``NONE`` while loading and after a good load."""

    NONE = 0
    #: The image does not start with :data:`lwc.weights_image.MAGIC` (no image, or erased flash).
    MAGIC = 1
    #: The image's length field is not the table's size (an image for another design).
    LENGTH = 2
    #: The CRC-32 does not match (a flipped byte, or an image cut short).
    CRC = 3


def boot_cycles(size, *, clk_freq, divisor=2):
    """:attr:`SpramTable.boot_cycles` of a ``size``-byte table at ``clk_freq`` Hz and SCK
    ``divisor``, known without building one."""
    # The last byte is offered half an SCK period before the read ends; the loader takes it
    # that cycle, the CRC has its 8 bits 8 cycles later, and `ready` is registered after that.
    return (read_cycles(weights_image.image_bytes(size), clk_freq=clk_freq, divisor=divisor)
            - divisor // 2 + 10)


class SpramTable(wiring.Component):
    """A ``size``-byte table of ``width``-bit words, loaded from the weights image at ``offset``.

    After reset the table reads :func:`lwc.weights_image.image_bytes` ``(size)`` bytes from the
    flash (one read, see :class:`~lwc.hw.spi_flash.SpiFlashReader`) and writes payload byte ``k``
    into byte lane ``k % (width // 8)`` of word ``k // (width // 8)`` (lane 0 is bits 0-7). The
    header is checked as it arrives; the CRC-32 after the last byte. ``ready`` rises
    :attr:`boot_cycles` cycles after reset when all three check, ``error`` rises (and ``fault``
    says why) as soon as one fails; neither ever falls again. Bytes of the last word beyond
    ``size`` stay undefined.

    Storage: on an iCE40 UltraPlus (``spram=None`` and a :class:`LatticeICE40Platform` whose
    device is ``iCE40UP*``, or ``spram=True``) ``SB_SPRAM256KA`` blocks, ``width // 16`` side by
    side and as many rows of 16,384 words as ``size`` needs (:attr:`spram_blocks`); bytes are
    written through the blocks' nibble masks, one per cycle. Otherwise an Amaranth memory with
    8-bit write granularity and the same read timing.

    Parameters
    ----------
    size : int
        Payload bytes (the table), 1 to 131,072 (the UP5K's 1 Mbit).
    clk_freq : int or float
        Clock frequency in Hz (for the flash's wake-up time).
    width : int
        Bits per word read: 16, 32 or 64 (one, two or four blocks side by side).
    offset : int
        Flash address of the image; default :data:`lwc.weights_image.ICEBREAKER_OFFSET`.
    divisor : int
        Clock cycles per SPI clock period (even, at least 2).
    spram : bool or None
        Use ``SB_SPRAM256KA`` instances (``True``), a behavioural memory (``False``), or decide
        from the platform at elaboration (``None``).

    Members
    -------
    sck, cs_n, copi : Out(1)
        The SPI pins to the flash.
    cipo : In(1)
        The flash's data output.
    ready : Out(1)
        High once the table is loaded and checked.
    error : Out(1)
        High once the image is found bad (``fault`` is not ``NONE``).
    fault : Out(LoadFault)
        What was wrong with the image.
    addr : In(range(depth))
        Word address to read (once ``ready``; during the load the table's port is busy).
    data : Out(width)
        The word at the ``addr`` of the previous cycle (:attr:`read_latency` is 1).
    """

    def __init__(self, size, *, clk_freq, width=16, offset=weights_image.ICEBREAKER_OFFSET,
                 divisor=2, spram=None):
        capacity = SPRAM_BLOCKS * SPRAM_WORDS * SPRAM_WIDTH // 8
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= capacity:
            raise ValueError(f"size must be an integer from 1 to {capacity} bytes, not {size!r}")
        if width not in _WIDTHS:
            raise ValueError(f"width must be 16, 32 or 64, not {width!r}")
        end = offset + weights_image.image_bytes(size) if isinstance(offset, int) else None
        if isinstance(offset, bool) or end is None or offset < 0 or end > 1 << 24:
            raise ValueError(f"offset must be an integer from 0 to "
                             f"{(1 << 24) - weights_image.image_bytes(size)}, not {offset!r}")
        if spram not in (None, True, False):
            raise ValueError(f"spram must be None, True or False, not {spram!r}")
        self._size = size
        self._width = width
        self._offset = offset
        self._spram = spram
        self._reader = SpiFlashReader(
            clk_freq=clk_freq, divisor=divisor,
            length_width=weights_image.image_bytes(size).bit_length())
        super().__init__({
            "sck": Out(1),
            "cs_n": Out(1, init=1),
            "copi": Out(1),
            "cipo": In(1),
            "ready": Out(1),
            "error": Out(1),
            "fault": Out(LoadFault),
            "addr": In(range(self.depth)),
            "data": Out(width),
        })

    @property
    def size(self):
        """Payload bytes."""
        return self._size

    @property
    def width(self):
        """Bits per word."""
        return self._width

    @property
    def offset(self):
        """Flash address of the image."""
        return self._offset

    @property
    def depth(self):
        """Words in the table (``ceil(size / (width / 8))``)."""
        return -(-self._size // (self._width // 8))

    @property
    def image_bytes(self):
        """Bytes read from the flash: header, payload and CRC."""
        return weights_image.image_bytes(self._size)

    @property
    def spram_blocks(self):
        """``SB_SPRAM256KA`` blocks the table takes when it is in SPRAM."""
        return (self._width // SPRAM_WIDTH) * -(-self.depth // SPRAM_WORDS)

    @property
    def read_latency(self):
        """Cycles from ``addr`` to ``data``."""
        return 1

    @property
    def reader(self):
        """The :class:`~lwc.hw.spi_flash.SpiFlashReader` inside."""
        return self._reader

    @property
    def boot_cycles(self):
        """Cycles from the end of reset until ``ready`` (or a CRC ``fault``) rises."""
        return boot_cycles(self._size, clk_freq=self._reader.clk_freq,
                           divisor=self._reader.divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = self._reader
        m.d.comb += [
            self.sck.eq(reader.sck),
            self.cs_n.eq(reader.cs_n),
            self.copi.eq(reader.copi),
            reader.cipo.eq(self.cipo),
        ]

        started = Signal(name="boot_started")
        m.d.sync += started.eq(1)
        # The CRC takes a byte bit by bit (least significant first, as CRC-32 is reflected): on
        # its own a byte-wide amaranth.lib.crc CRC-32 maps to 142 LUTs, a bit-serial one to 57,
        # and bytes come only every 8 * divisor cycles. A byte is taken once the previous one's
        # 8 bits are in.
        crc_bits = Signal(8, name="boot_crc_bits")
        crc_left = Signal(range(9), name="boot_crc_left")
        m.d.comb += [
            reader.start.eq(~started),
            reader.offset.eq(self._offset),
            reader.length.eq(self.image_bytes),
            reader.o.ready.eq(crc_left == 0),
        ]
        byte = reader.o.payload
        take = reader.o.valid & reader.o.ready

        m.submodules.crc = checker = crc.Processor(crc.catalog.CRC32_ETHERNET(1))
        m.d.comb += [  # its register starts at the initial CRC after reset: `start` stays low
            checker.data.eq(crc_bits[0]),
            checker.valid.eq(crc_left != 0),
        ]
        with m.If(take):
            m.d.sync += [crc_bits.eq(byte), crc_left.eq(8)]
        with m.Elif(crc_left != 0):
            m.d.sync += [crc_bits.eq(crc_bits >> 1), crc_left.eq(crc_left - 1)]

        fault = Signal(LoadFault, name="boot_fault")
        done = Signal(name="boot_done")
        m.d.comb += [
            self.fault.eq(fault),
            self.error.eq(fault != LoadFault.NONE),
            self.ready.eq(done & (fault == LoadFault.NONE)),
        ]

        def fail(why):
            with m.If(fault == LoadFault.NONE):
                m.d.sync += fault.eq(why)

        header = weights_image.header(self._size)
        header_index = Signal(range(len(header)), name="boot_header_index")
        write_addr = Signal(range(max(2, self._size)), name="boot_write_addr")  # payload byte index
        write = Signal(name="boot_write")
        trailer_left = Signal(range(weights_image.TRAILER_BYTES), name="boot_trailer_left")

        with m.FSM(name="boot"):
            with m.State("HEADER"):
                with m.If(take):
                    expected = Const(int.from_bytes(header, "little"), 8 * len(header))
                    with m.If(byte != expected.word_select(header_index, 8)):
                        with m.If(header_index < len(weights_image.MAGIC)):
                            fail(LoadFault.MAGIC)
                        with m.Else():
                            fail(LoadFault.LENGTH)
                    m.d.sync += header_index.eq(header_index + 1)
                    with m.If(header_index == len(header) - 1):
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                m.d.comb += write.eq(take)
                with m.If(take):
                    m.d.sync += write_addr.eq(write_addr + 1)
                    with m.If(write_addr == self._size - 1):
                        m.d.sync += trailer_left.eq(weights_image.TRAILER_BYTES - 1)
                        m.next = "TRAILER"
            with m.State("TRAILER"):
                with m.If(take):
                    m.d.sync += trailer_left.eq(trailer_left - 1)
                    with m.If(trailer_left == 0):
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(crc_left == 0):  # the CRC register holds the last byte
                    with m.If(~checker.match_detected):
                        fail(LoadFault.CRC)
                    m.d.sync += done.eq(1)
                    m.next = "DONE"
            with m.State("DONE"):
                pass

        self._storage(m, platform, write, write_addr, byte, loading=~done)
        return m

    def _storage(self, m, platform, write, write_addr, byte, *, loading):
        lanes = self._width // 8
        lane_bits = lanes.bit_length() - 1
        word_addr = write_addr[lane_bits:]
        lane = write_addr[:lane_bits]

        if not ultraplus(platform, self._spram):
            m.submodules.table = table = Memory(shape=self._width, depth=self.depth, init=[])
            wp = table.write_port(granularity=8)
            rp = table.read_port(transparent_for=())
            m.d.comb += [
                wp.addr.eq(word_addr),
                wp.data.eq(Cat(byte for _ in range(lanes))),
                wp.en.eq(Mux(write, 1 << lane, 0)),
                rp.addr.eq(self.addr),
                self.data.eq(rp.data),
            ]
            return

        columns = self._width // SPRAM_WIDTH
        rows = -(-self.depth // SPRAM_WORDS)
        address = Signal(range(max(2, rows * SPRAM_WORDS)), name="spram_address")
        m.d.comb += address.eq(Mux(loading, word_addr, self.addr))
        read_row = Signal(range(max(2, rows)), name="spram_read_row")
        m.d.sync += read_row.eq(address[14:])
        row_data = []
        for row in range(rows):
            words = []
            for column in range(columns):
                out = Signal(SPRAM_WIDTH, name=f"spram_r{row}_c{column}_data")
                # This block holds byte lanes 2 * column and 2 * column + 1 of its row.
                here = write & (lane[1:] == column) if lanes > 2 else write
                if rows > 1:
                    here = here & (address[14:] == row)
                m.submodules[f"spram_r{row}_c{column}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=address[:14],
                    i_DATAIN=Cat(byte, byte),
                    i_MASKWREN=Mux(lane[0], 0b1100, 0b0011),
                    i_WREN=here,
                    i_CHIPSELECT=1,
                    i_CLOCK=ClockSignal(),
                    i_STANDBY=0,
                    i_SLEEP=0,
                    i_POWEROFF=1,  # active low: 1 keeps the block powered
                    o_DATAOUT=out,
                )
                words.append(out)
            row_data.append(Cat(*words))
        if rows == 1:
            m.d.comb += self.data.eq(row_data[0])
        else:
            with m.Switch(read_row):
                for row, value in enumerate(row_data):
                    with m.Case(row):
                        m.d.comb += self.data.eq(value)
