"""cocotb testbench of a boot: :class:`~lwc.hw.spram_table.SpramTable` loading a weights image
from the flash model (:class:`lwc.sim.spi_flash_model.FlashModel`).

The host (:func:`lwc.sim.spram_boot.simulate_boot`) writes a JSON job and points ``LWC_BOOT_JOB``
at it: ``image`` (hex), ``offset`` and ``cut_after`` (the model's), ``period_ps`` (the clock),
``cycles`` (how long to watch after reset), ``depth`` and ``width`` (the table's read port) and
``result`` (where to write the findings, JSON): the first cycle after reset at which ``ready``
and ``error`` were high, whether ``ready`` fell again or was ever undefined, ``fault``, the
table's bytes read back through ``addr``/``data`` (``null`` for an undefined byte), and the
model's commands and violations. The host judges them; this test fails only when the simulation
itself cannot run.

Cycle ``k`` is the state after the ``k``-th rising clock edge with ``rst`` low, the count
:attr:`SpramTable.boot_cycles` uses.
"""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from lwc.sim.spi_flash_model import FlashModel

JOB_ENV = "LWC_BOOT_JOB"
#: The toplevel's ports the testbench uses.
PORTS = ("clk", "rst", "sck", "cs_n", "copi", "cipo", "ready", "error", "fault", "addr", "data")


def _bytes(signal):
    """The value of ``signal`` as its bytes, least significant first, ``None`` for a byte with an
    undefined bit."""
    bits = str(signal.value)  # most significant bit first
    chunks = [bits[max(0, end - 8):end] for end in range(len(bits), 0, -8)]
    return [int(c, 2) if set(c) <= {"0", "1"} else None for c in chunks]


def _int(signal):
    """The value of ``signal`` as an int, or ``None`` when any bit is undefined."""
    value = signal.value
    return int(value) if value.is_resolvable else None


async def serve_flash(model, *, cs_n, sck, copi, cipo, rst):
    """Serve the SPI pins (simulator handles) from ``model`` (a :class:`FlashModel`) forever:
    at every change of ``/CS`` or SCK the model takes the pins and CIPO is driven with its
    answer. Undefined pins outside reset are recorded as violations."""
    while True:
        await First(sck.value_change, cs_n.value_change)
        now = get_sim_time("ps") * 1e-12
        pins = [_int(cs_n), _int(sck), _int(copi)]
        if None in pins:
            # In reset a netlist whose flip-flops start unknown settles over delta cycles.
            if _int(rst) != 1:
                model.violations.append(f"undefined SPI pin at {now:.9f} s: {pins}")
            continue
        cipo.value = model.update(now, *pins)


def _serve(dut, model):
    return serve_flash(model, cs_n=dut.cs_n, sck=dut.sck, copi=dut.copi, cipo=dut.cipo,
                       rst=dut.rst)


@cocotb.test()
async def boot(dut):
    with open(os.environ[JOB_ENV]) as f:
        job = json.load(f)
    model = FlashModel(bytes.fromhex(job["image"]), job["offset"], cut_after=job["cut_after"])
    dut.rst.value = 1
    dut.cipo.value = 1
    dut.addr.value = 0
    Clock(dut.clk, job["period_ps"], unit="ps").start()
    await RisingEdge(dut.clk)
    # The flash sees the pins from the first reset cycle on: before it, a netlist's flip-flops
    # have not taken their initial values (on the FPGA, the pins are not yet driven at all).
    cocotb.start_soon(_serve(dut, model))
    await RisingEdge(dut.clk)
    dut.rst.value = 0

    # Event-driven (a boot is about a million cycles): woken only when `ready` or `error`
    # changes; cycle k's changes happen k periods after the edge at which `rst` was released.
    period = job["period_ps"]
    released = get_sim_time("ps")
    deadline = released + job["cycles"] * period
    found = {"ready": None, "error": None, "ready_fell": False, "undefined": False}
    was_ready = False
    while (left := deadline - get_sim_time("ps")) > 0:
        timeout = Timer(left, unit="ps")
        fired = await First(dut.ready.value_change, dut.error.value_change, timeout)
        if fired is timeout:
            break
        await ReadOnly()
        cycle = round((get_sim_time("ps") - released) / period)
        ready, error = _int(dut.ready), _int(dut.error)
        if ready is None or error is None:
            found["undefined"] = True
            continue
        if ready and found["ready"] is None:
            found["ready"] = cycle
        if error and found["error"] is None:
            found["error"] = cycle
        found["ready_fell"] |= was_ready and not ready
        was_ready = bool(ready)
        await RisingEdge(dut.clk)  # leave the read-only phase
    found["fault"] = _int(dut.fault)

    table = []
    for address in range(job["depth"]):
        await FallingEdge(dut.clk)
        dut.addr.value = address
        await RisingEdge(dut.clk)
        await ReadOnly()
        table.extend(_bytes(dut.data))
    found["table"] = table
    found["commands"] = model.commands
    found["violations"] = model.violations
    with open(job["result"], "w") as f:
        json.dump(found, f)
