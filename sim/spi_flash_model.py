"""A behavioural model of the iCEBreaker's SPI flash (W25Q128JV), for any simulator.

:class:`FlashModel` is plain Python: a testbench calls :meth:`FlashModel.update` whenever ``/CS``
or SCK may have changed (each clock cycle in ``amaranth.sim``, each edge in cocotb) and drives
CIPO with what it returns. One model serves both, so the Amaranth-simulator and the cocotb proofs
of :class:`lwc.hw.spram_table.SpramTable` check the reader against the same flash.

What it models (the W25Q128JV datasheet): SPI mode 0 (COPI taken at SCK's rising edge, CIPO
shifted out at its falling edge), deep power-down at start (as ``iceprog`` leaves the part: every
command but Release Power-down ``0xAB`` is ignored), tRES1 (a command sooner than 3 us after the
``/CS`` rise that ends ``0xAB`` is ignored), and Read Data ``0x03`` with a 24-bit address over the
whole 16 MiB, erased (``0xFF``) outside the images it holds. Anything else it sees is recorded in
:attr:`FlashModel.violations`.
"""

__all__ = ["FlashModel", "FLASH_BYTES", "amaranth_flash"]

#: Bytes in a W25Q128JV.
FLASH_BYTES = 1 << 24

_RELEASE_POWER_DOWN = 0xAB
_READ_DATA = 0x03


class FlashModel:
    """A W25Q128JV holding ``image`` at ``offset`` (the rest erased).

    Parameters
    ----------
    image : bytes-like
        The bytes stored from ``offset`` on.
    offset : int
        Flash address of ``image[0]``.
    powered_down : bool
        Start in deep power-down (only ``0xAB`` wakes the part).
    t_res1 : float
        Seconds the part needs after ``0xAB`` (tRES1).
    cut_after : int or None
        Stop serving after this many data bytes of a read: CIPO then floats high (reads as
        ``0xFF`` bytes), as when a read is cut short.

    Attributes
    ----------
    commands : list of int
        Every command byte the part accepted, in order.
    served : int
        Data bytes shifted out (over all reads).
    violations : list of str
        What the host did that the part does not allow (each once per kind and time).
    """

    def __init__(self, image, offset=0, *, powered_down=True, t_res1=3e-6, cut_after=None):
        image = bytes(image)
        if not 0 <= offset <= FLASH_BYTES - len(image):
            raise ValueError(f"offset must place the image inside the flash, not {offset!r}")
        self._image = image
        self._offset = offset
        self._t_res1 = t_res1
        self._cut_after = cut_after
        self.powered_down = powered_down
        self.commands = []
        self.served = 0
        self.violations = []
        self._cs_n = 1
        self._sck = 0
        self._ready_at = None  # time the part accepts commands again after 0xAB
        self._state = "idle"
        self._shift = 0
        self._bits = 0
        self._address = 0
        self._out = 0
        self._out_bits = 0
        self._cipo = 1
        self._read_served = 0

    def read(self, address):
        """The byte the part holds at ``address``."""
        index = address - self._offset
        return self._image[index] if 0 <= index < len(self._image) else 0xFF

    def update(self, now, cs_n, sck, copi):
        """Take the pins at time ``now`` (seconds) and return the value to drive on CIPO."""
        cs_n, sck, copi = int(cs_n), int(sck), int(copi)
        if cs_n != self._cs_n:
            if sck:
                self.violations.append(f"/CS changed with SCK high at {now:.9f} s (mode 0)")
            if cs_n:
                self._deselect(now)
            else:
                self._select(now)
        elif not cs_n and sck != self._sck:
            if sck:
                self._rising(copi)
            else:
                self._falling()
        self._cs_n, self._sck = cs_n, sck
        return self._cipo

    def _select(self, now):
        self._shift = self._bits = 0
        if self._ready_at is not None and now < self._ready_at - 1e-12:
            self.violations.append(f"command at {now:.9f} s, before tRES1 ended at "
                                   f"{self._ready_at:.9f} s")
            self._state = "ignore"
        else:
            self._ready_at = None
            self._state = "command"

    def _deselect(self, now):
        if self._state == "release":
            self.powered_down = False
            self._ready_at = now + self._t_res1
        self._state = "idle"
        self._cipo = 1

    def _rising(self, copi):
        if self._state not in ("command", "address"):
            return
        self._shift = (self._shift << 1) | copi
        self._bits += 1
        if self._state == "command" and self._bits == 8:
            command, self._shift, self._bits = self._shift, 0, 0
            if self.powered_down and command != _RELEASE_POWER_DOWN:
                self._state = "ignore"
                return
            self.commands.append(command)
            if command == _RELEASE_POWER_DOWN:
                self._state = "release"
            elif command == _READ_DATA:
                self._state = "address"
            else:
                self.violations.append(f"command 0x{command:02X} is not modelled")
                self._state = "ignore"
        elif self._state == "address" and self._bits == 24:
            self._address, self._state = self._shift, "data"
            self._out_bits, self._read_served = 0, 0

    def _falling(self):
        if self._state != "data":
            return
        if self._out_bits == 0:
            cut = self._cut_after is not None and self._read_served >= self._cut_after
            self._out = 0xFF if cut else self.read(self._address)
            self._address = (self._address + 1) % FLASH_BYTES
            self._out_bits = 8
            self._read_served += 1
            self.served += not cut
        self._cipo = (self._out >> 7) & 1
        self._out = (self._out << 1) & 0xFF
        self._out_bits -= 1


def amaranth_flash(model, dut, period):
    """A background ``amaranth.sim`` testbench that connects ``model`` to the SPI members
    (``cs_n``, ``sck``, ``copi``, ``cipo``) of ``dut``, clocked with ``period`` seconds.

    The pins are read after each clock edge and CIPO set at once, so the design sees it at the
    next edge, as it would a real part's output.
    """
    async def testbench(ctx):
        cycle = 0
        while True:  # plain ticks: a background testbench is abandoned at the end of a run
            await ctx.tick()
            cycle += 1
            ctx.set(dut.cipo, model.update(cycle * period, ctx.get(dut.cs_n), ctx.get(dut.sck),
                                           ctx.get(dut.copi)))
    return testbench
