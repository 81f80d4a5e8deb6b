"""Good Stuff Department OrangeCrab r0.2, 25F variant: ECP5 LFE5U-25F-8MG285C, 48 MHz oscillator.

The board has no USB serial bridge (its USB port goes straight to the FPGA), so lwc's platform
adds the Feather header's serial pins as the ``uart`` resource: ``0`` receives and ``1`` sends
(the Feather convention), for a 3.3 V USB serial adapter. It is programmed over USB DFU through its
bootloader with ``dfu-util -a 0 -D``, as amaranth-boards does; the bootloader checks for a DFU
suffix, which lwc does not add (run ``dfu-suffix -v 1209 -p 5af0 -a top.bit`` first).
"""

from amaranth.build import Attrs
from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_25FPlatform
from amaranth_boards.resources import UARTResource

from .board import Board, Capacity
from .family import ECP5

__all__ = ["ORANGECRAB", "OrangeCrabUartPlatform"]


class OrangeCrabUartPlatform(OrangeCrabR0_2_25FPlatform):
    """The amaranth-boards OrangeCrab r0.2 (25F) with a ``uart`` on the Feather pins 0 and 1."""

    resources = [
        *OrangeCrabR0_2_25FPlatform.resources,
        UARTResource(0, rx="0", tx="1", conn=("io", 0), attrs=Attrs(IO_TYPE="LVCMOS33")),
    ]


ORANGECRAB = Board(
    name="orangecrab",
    title="OrangeCrab r0.2 (25F)",
    platform=OrangeCrabUartPlatform,
    clock_mhz=48.0,
    capacity=Capacity(logic_cells=24288, block_rams=56, dsp=28, carries=12144),
    programmer="dfu-util",
    program_args=("-a 0", "-D"),
    uart=True,
    family=ECP5,
)
