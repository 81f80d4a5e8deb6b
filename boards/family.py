"""What differs between the FPGA families lwc builds for: tools, cells, constraints, bitstream.

One :class:`Family` per device family; :mod:`lwc.boards.build` runs the same flow (Yosys
``synth_<family>``, nextpnr, packer) for each, reading everything family-specific from here.
"""

import re
from dataclasses import dataclass

__all__ = ["Family", "ICE40", "ECP5", "FAMILIES"]


@dataclass(frozen=True)
class Family:
    """An FPGA family and the open tools that build for it.

    Attributes
    ----------
    name : str
        Short name, also the ``--target`` that builds for its boards (``ice40``).
    title : str
        Vendor's name for it (``iCE40``).
    nextpnr, packer : str
        Keys of :data:`lwc.boards.toolchain.TOOLS`: the place-and-route tool and the bitstream
        packer.
    bitstream_suffix : str
        Suffix of the bitstream file the packer writes (``.bin``).
    constraints_suffix : str
        Suffix of the constraint file Amaranth writes (``.pcf``), in which the main clock's
        frequency is replaced by the timing target.
    resources : tuple of (str, str, dict)
        ``(key, label, {Yosys cell type prefix: logic slots it takes})``: how the cells Yosys'
        ``synth_<family>`` makes add up to each resource of :class:`~lwc.boards.Capacity`, in the
        order the fit check reports them.
    placed : dict of str to str or None
        Report key -> nextpnr utilization entry (``logic_cells``, ``block_ram``, ``spram``,
        ``dsp``, ``io``); ``None`` where the family has no such block.
    out_of_cells : str
        Regular expression for nextpnr's error when the design needs more logic cells than the
        device has; group 1, when the pattern has it, is how many it needs.
    """

    name: str
    title: str
    nextpnr: str
    packer: str
    bitstream_suffix: str
    constraints_suffix: str
    resources: tuple
    placed: dict
    out_of_cells: str

    @property
    def synth(self):
        """The Yosys synthesis command (``synth_ice40``)."""
        return f"synth_{self.name}"

    @property
    def tools(self):
        """The tools a build runs, in order."""
        return ("yosys", self.nextpnr, self.packer)

    def retarget_clock(self, text, port, clock_mhz):
        """The constraint file ``text`` with the frequency of clock port ``port`` (Amaranth's
        ``default_clk``) set to ``clock_mhz``.

        Amaranth constrains the board oscillator's port to its own frequency; nextpnr prefers
        that over ``--freq``, so the requested target must replace it for timing to be judged
        against it.
        """
        if self.constraints_suffix == ".pcf":
            pattern = re.compile(rf"^(set_frequency {re.escape(port)}_\S*) \S+$", re.M)
            return pattern.sub(lambda m: f"{m.group(1)} {clock_mhz:g}", text)
        pattern = re.compile(rf'^(FREQUENCY PORT "{re.escape(port)}_[^"]*") \S+ HZ;$', re.M)
        return pattern.sub(lambda m: f"{m.group(1)} {clock_mhz * 1e6:.1f} HZ;", text)

    def signal_constraints(self, text, top):
        """The constraint file ``text`` with the clock constraints Amaranth writes for signals
        (``add_clock_constraint``: ``set_frequency top.clk 48.0``) named as nextpnr knows them
        once the design ``top`` is flattened (``clk``; in an ``.lpf``, where Amaranth names the
        signal by its place in the hierarchy, ``FREQUENCY NET "clock.pll.clk"`` becomes
        ``FREQUENCY NET "clk"``, the net Yosys keeps); port constraints are kept as they are."""
        if self.constraints_suffix != ".pcf":
            return re.sub(r'^(FREQUENCY NET ")[^"]*\.([^".]+")', r"\1\2", text, flags=re.M)
        return re.sub(rf"^set_frequency {re.escape(top)}\.", "set_frequency ", text, flags=re.M)


#: Lattice iCE40: a logic cell is one LUT4, one flip-flop and one carry.
ICE40 = Family(
    name="ice40",
    title="iCE40",
    nextpnr="nextpnr-ice40",
    packer="icepack",
    bitstream_suffix=".bin",
    constraints_suffix=".pcf",
    resources=(
        ("lut4", "LUT4", {"SB_LUT4": 1}),
        ("ff", "flip-flops", {"SB_DFF": 1}),
        ("carry", "carry", {"SB_CARRY": 1}),
        ("block_ram", "block RAM", {"SB_RAM40_4K": 1}),
        ("spram", "SPRAM", {"SB_SPRAM256KA": 1}),
        ("dsp", "DSP", {"SB_MAC16": 1}),
    ),
    placed={"logic_cells": "ICESTORM_LC", "block_ram": "ICESTORM_RAM",
            "spram": "ICESTORM_SPRAM", "dsp": "ICESTORM_DSP", "io": "SB_IO"},
    out_of_cells=(r"Failed to expand region .* of (\d+) ICESTORM_LCs"
                  r"|no BELs remaining to implement cell type 'ICESTORM_LC'"),
)

#: Lattice ECP5: a slice holds two LUT4 and two flip-flops; a CCU2C (two bits of carry chain)
#: takes both LUT4 of a slice, and a TRELLIS_DPR16X4 (distributed RAM) two slices' LUT4.
ECP5 = Family(
    name="ecp5",
    title="ECP5",
    nextpnr="nextpnr-ecp5",
    packer="ecppack",
    bitstream_suffix=".bit",
    constraints_suffix=".lpf",
    resources=(
        ("lut4", "LUT4 (a carry cell counts 2)", {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4}),
        ("ff", "flip-flops", {"TRELLIS_FF": 1}),
        ("carry", "carry cells", {"CCU2C": 1}),
        ("block_ram", "block RAM (DP16KD)", {"DP16KD": 1}),
        ("spram", "SPRAM", {}),
        ("dsp", "DSP (MULT18X18D)", {"MULT18X18D": 1}),
    ),
    placed={"logic_cells": "TRELLIS_COMB", "block_ram": "DP16KD", "spram": None,
            "dsp": "MULT18X18D", "io": "TRELLIS_IO"},
    out_of_cells=r"no BELs remaining to implement cell type 'TRELLIS_COMB'",
)

#: Family name -> :class:`Family`.
FAMILIES = {family.name: family for family in (ICE40, ECP5)}
