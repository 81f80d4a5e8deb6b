"""Accumulators in the iCE40 UltraPlus DSP blocks (``SB_MAC16``), or in logic elsewhere.

An iCE40UP5K has eight ``SB_MAC16`` blocks, and a design that multiplies nothing leaves them
idle. Each block's two 16-bit adder/subtracters with output registers are accumulators
(Lattice, *DSP Function Usage Guide for iCE40 Devices*, "16-bit Adder/Accumulator"): the top
one adds or subtracts input ``A`` to or from its register ``Q`` and loads ``C``; the bottom one
does the same with ``B``, ``S`` and ``D``; cascaded, they are one 32-bit accumulator. An
accumulator built in logic takes a carry chain and, for its load and its add-or-subtract, about
one to four logic cells a bit (docs/benchmarks.md, "DSP blocks"); in a block it takes none.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ice40 import ultraplus
from .plan import DSP_HALF_WIDTH, DSP_WIDTH, dsp_blocks

__all__ = ["Accumulators", "accumulator_signature"]


def accumulator_signature(width):
    """The ports of one accumulator of ``width`` bits, as seen by the component (see
    :class:`Accumulators`)."""
    return wiring.Signature({
        "load": In(1),
        "init": In(signed(width)),
        "en": In(1),
        "sub": In(1),
        "operand": In(signed(width)),
        "value": Out(signed(width)),
    })


class Accumulators(wiring.Component):
    """``count`` accumulators of ``width`` bits (two's complement), each a register ``value``
    that in every cycle loads ``init`` (``load`` high), else adds ``operand`` to itself or, with
    ``sub`` high, subtracts it (``en`` high), else holds. ``value`` is the register: a load or an
    addition shows in the next cycle. Reset clears every register. Results wrap modulo
    ``2**width``, which never happens to a caller that sized ``width`` for its range.

    Mapping: on an iCE40 UltraPlus (``dsp=None`` and a :class:`LatticeICE40Platform` whose device
    is ``iCE40UP*``, or ``dsp=True``) ``SB_MAC16`` blocks (:attr:`dsp_blocks`), configured as
    Lattice's DSP guide gives the adder/accumulator: no input registers, the accumulator register
    as output (``*OUTPUT_SELECT = 01``), its own register as the adder's upper input
    (``*ADDSUB_UPPERINPUT = 0``), ``A``/``B`` as the lower one, ``ADDSUB*`` choosing add or
    subtract, ``OLOAD*`` loading ``C``/``D``, ``OHOLD*`` holding, ``ORST*`` on the domain's reset,
    the multiplier off (``MODE_8x8 = 1``). Up to :data:`DSP_HALF_WIDTH` bits accumulator ``2b``
    is block ``b``'s top half and ``2b + 1`` its bottom half; wider, each is a block with its
    halves cascaded (``TOPADDSUB_CARRYSELECT = 10``). Otherwise registers and adders in logic,
    cycle for cycle the same.

    Parameters
    ----------
    count : int
        Accumulators, at least 1.
    width : int
        Bits of each, 1 to :data:`DSP_WIDTH`.
    dsp : bool or None
        ``SB_MAC16`` instances (``True``), logic (``False``), or decided by the platform at
        elaboration (``None``).

    Members
    -------
    acc : ``Out(accumulator_signature(width)).array(count)``
        Each accumulator: ``load``, ``init``, ``en``, ``sub`` and ``operand`` in, ``value`` out.
    """

    def __init__(self, count, width, *, dsp=None):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= DSP_WIDTH:
            raise ValueError(f"width must be an integer from 1 to {DSP_WIDTH}, not {width!r}")
        if dsp not in (None, True, False):
            raise ValueError(f"dsp must be None, True or False, not {dsp!r}")
        self._count, self._width, self._dsp = count, width, dsp
        super().__init__({"acc": Out(accumulator_signature(width)).array(count)})

    @property
    def count(self):
        return self._count

    @property
    def width(self):
        return self._width

    @property
    def dsp_blocks(self):
        """``SB_MAC16`` blocks the accumulators take when they are mapped to them."""
        return dsp_blocks(self._count, self._width)

    def elaborate(self, platform):
        m = Module()
        if not ultraplus(platform, self._dsp):
            for k, a in enumerate(self.acc):
                value = Signal(signed(self._width), name=f"acc{k}")
                with m.If(a.load):
                    m.d.sync += value.eq(a.init)
                with m.Elif(a.en):
                    m.d.sync += value.eq(Mux(a.sub, value - a.operand, value + a.operand))
                m.d.comb += a.value.eq(value)
            return m

        wide = self._width > DSP_HALF_WIDTH

        def extended(value, name):  # sign-extended to a half, or to both halves
            wire = Signal(signed(DSP_WIDTH if wide else DSP_HALF_WIDTH), name=name)
            m.d.comb += wire.eq(value)
            return wire

        common = dict(
            i_CLK=ClockSignal(), i_CE=1,
            i_AHOLD=0, i_BHOLD=0, i_CHOLD=0, i_DHOLD=0, i_IRSTTOP=0, i_IRSTBOT=0,
            i_ORSTTOP=ResetSignal(), i_ORSTBOT=ResetSignal(),
            i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
            p_NEG_TRIGGER=Const(0, 1), p_A_REG=Const(0, 1), p_B_REG=Const(0, 1),
            p_C_REG=Const(0, 1), p_D_REG=Const(0, 1),
            p_TOP_8x8_MULT_REG=Const(0, 1), p_BOT_8x8_MULT_REG=Const(0, 1),
            p_PIPELINE_16x16_MULT_REG1=Const(0, 1), p_PIPELINE_16x16_MULT_REG2=Const(0, 1),
            p_TOPOUTPUT_SELECT=Const(0b01, 2), p_BOTOUTPUT_SELECT=Const(0b01, 2),
            p_TOPADDSUB_LOWERINPUT=Const(0b00, 2), p_BOTADDSUB_LOWERINPUT=Const(0b00, 2),
            p_TOPADDSUB_UPPERINPUT=Const(0, 1), p_BOTADDSUB_UPPERINPUT=Const(0, 1),
            p_BOTADDSUB_CARRYSELECT=Const(0b00, 2),
            p_MODE_8x8=Const(1, 1), p_A_SIGNED=Const(0, 1), p_B_SIGNED=Const(0, 1),
        )
        groups = ([[a] for a in self.acc] if wide else
                  [list(self.acc)[k:k + 2] for k in range(0, self._count, 2)])
        for b, group in enumerate(groups):
            out = Signal(DSP_WIDTH, name=f"mac{b}_o")
            hold = [~(a.load | a.en) for a in group]
            if wide:  # one 32-bit accumulator: high half on top, low half at the bottom
                (a,) = group
                operand = extended(a.operand, f"mac{b}_operand")
                init = extended(a.init, f"mac{b}_init")
                ports = dict(
                    i_A=operand[16:], i_B=operand[:16], i_C=init[16:], i_D=init[:16],
                    i_OLOADTOP=a.load, i_OLOADBOT=a.load, i_ADDSUBTOP=a.sub,
                    i_ADDSUBBOT=a.sub, i_OHOLDTOP=hold[0], i_OHOLDBOT=hold[0],
                    p_TOPADDSUB_CARRYSELECT=Const(0b10, 2))
                m.d.comb += a.value.eq(out[:self._width])
            else:  # two 16-bit accumulators: 2b on top, 2b + 1 (if any) at the bottom
                top, bottom = group[0], group[1] if len(group) > 1 else None
                ports = dict(
                    i_A=extended(top.operand, f"mac{b}_a"),
                    i_C=extended(top.init, f"mac{b}_c"), i_OLOADTOP=top.load,
                    i_ADDSUBTOP=top.sub, i_OHOLDTOP=hold[0],
                    p_TOPADDSUB_CARRYSELECT=Const(0b00, 2))
                m.d.comb += top.value.eq(out[16:16 + self._width])
                if bottom is None:
                    ports.update(i_B=0, i_D=0, i_OLOADBOT=0, i_ADDSUBBOT=0, i_OHOLDBOT=1)
                else:
                    ports.update(i_B=extended(bottom.operand, f"mac{b}_b"),
                                 i_D=extended(bottom.init, f"mac{b}_d"),
                                 i_OLOADBOT=bottom.load, i_ADDSUBBOT=bottom.sub,
                                 i_OHOLDBOT=hold[1])
                    m.d.comb += bottom.value.eq(out[:self._width])
            m.submodules[f"mac{b}"] = Instance("SB_MAC16", **common, **ports,
                                               o_O=out, o_CO=Signal(name=f"mac{b}_co"),
                                               o_ACCUMCO=Signal(name=f"mac{b}_accumco"),
                                               o_SIGNEXTOUT=Signal(name=f"mac{b}_signextout"))
        return m
