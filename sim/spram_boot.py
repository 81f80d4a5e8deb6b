"""Simulate a boot in cocotb: a :class:`~lwc.hw.spram_table.SpramTable` reads a weights image
from the flash model, in its generated Verilog (RTL) or its iCE40 netlist (gate level).

:func:`simulate_boot` writes the table's Verilog (``SB_SPRAM256KA`` instances run on the iCE40
cell models of Yosys, ``ice40/cells_sim.v``), builds it once per build directory, and runs
:mod:`lwc.sim.spram_boot_tb` with a flash holding ``image``. Gate level: the Verilog is first
mapped with ``synth_ice40`` (:func:`lwc.sim.gatelevel.synthesize`), so the netlist of LUTs,
flip-flops and SPRAM blocks that goes on the FPGA is what loads the image.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

from lwc.hw.spram_table import LoadFault

from . import gatelevel, runner, spram_boot_tb

__all__ = ["TOPLEVEL", "BootReport", "table_verilog", "simulate_boot"]

#: Name of the table's Verilog module.
TOPLEVEL = "spram_table"


@dataclass(frozen=True)
class BootReport:
    """What the testbench saw: the first cycles ``ready`` and ``error`` were high (``None``:
    never), whether ``ready`` fell again or was ever undefined, ``fault`` (``None`` when
    undefined), the table read back byte by byte (``None`` for a byte with an undefined bit), and
    the flash model's accepted commands and protocol violations."""

    ready: int | None
    error: int | None
    ready_fell: bool
    undefined: bool
    fault: LoadFault | None
    table: tuple
    commands: tuple
    violations: tuple


def table_verilog(table):
    """The Verilog of ``table`` (module :data:`TOPLEVEL`)."""
    return verilog.convert(table, name=TOPLEVEL, emit_src=False)


def _sources(table, build_dir, gate_level, init, yosys, env):
    build_dir.mkdir(parents=True, exist_ok=True)
    rtl = runner.write_if_changed(build_dir / f"{TOPLEVEL}.v", table_verilog(table))
    models = gatelevel.cell_models(build_dir, init, yosys=yosys)
    if not gate_level:
        return [rtl, models]
    netlist, _, _ = gatelevel.synthesize(rtl, build_dir, yosys=yosys, env=env, top=TOPLEVEL)
    return [netlist, models]


def simulate_boot(table, image, build_dir, *, clk_freq, cut_after=None, extra=200,
                  simulator="icarus", gate_level=False, init="zero", yosys=None, env=None):
    """Boot ``table`` from a flash holding ``image`` at ``table.offset``; return a
    :class:`BootReport`.

    Parameters
    ----------
    table : SpramTable
        The loader (its Verilog is what runs; ``spram=True`` for the iCE40 SPRAM models).
    image : bytes
        The flash contents from the table's offset on (the rest erased).
    build_dir : path-like
        One directory per table configuration and ``gate_level``: a build there is reused.
    clk_freq : float
        The clock the table was made for; the simulated period is rounded up to a picosecond.
    cut_after : int or None
        The flash stops serving after this many bytes (see :class:`FlashModel`).
    extra : int
        Cycles to watch after ``table.boot_cycles``.
    simulator : str
        One of :data:`lwc.sim.runner.SIMULATORS`; the tests use Icarus, whose four states show
        undefined pins and table bytes as such.
    gate_level : bool
        Simulate the ``synth_ice40`` netlist (needs ``yosys``).
    init : str
        Flip-flop initial values of the netlist (:data:`lwc.sim.gatelevel.INITS`): ``"x"``
        leaves them unknown, so only the reset (two cycles) can start the loader; use a build
        directory of its own.
    yosys, env
        The Yosys executable and its environment (:mod:`lwc.boards.toolchain`).
    """
    build_dir = Path(build_dir).resolve()
    if init not in gatelevel.INITS:
        raise ValueError(f"init must be one of {', '.join(gatelevel.INITS)}, not {init!r}")
    sources = _sources(table, build_dir, gate_level, init, yosys, env)
    sim_build = runner.build(sources, toplevel=TOPLEVEL, build_dir=build_dir / simulator,
                             simulator=simulator, args=gatelevel.build_args(simulator),
                             public=spram_boot_tb.PORTS)
    job = build_dir / "job.json"
    result = build_dir / "result.json"
    result.unlink(missing_ok=True)
    job.write_text(json.dumps({
        "image": bytes(image).hex(), "offset": table.offset, "cut_after": cut_after,
        "period_ps": math.ceil(1e12 / clk_freq), "cycles": table.boot_cycles + extra,
        "depth": table.depth, "width": table.width, "result": str(result),
    }))
    runner.test(sim_build, "lwc.sim.spram_boot_tb", env={spram_boot_tb.JOB_ENV: str(job)},
                name="boot")
    found = json.loads(result.read_text())
    return BootReport(
        ready=found["ready"], error=found["error"], ready_fell=found["ready_fell"],
        undefined=found["undefined"],
        fault=None if found["fault"] is None else LoadFault(found["fault"]),
        table=tuple(found["table"]),
        commands=tuple(found["commands"]), violations=tuple(found["violations"]))
