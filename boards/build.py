"""Synthesis, place-and-route and bitstream packing of an Amaranth design for a board.

:func:`build` runs the three steps (Yosys ``synth_<family>``, nextpnr, packer; see
:mod:`lwc.boards.family`) itself rather than through Amaranth's build script, so that it can show
progress, stop an oversized design before place-and-route, fix the nextpnr seed, and ask nextpnr
for its JSON report. The commands are Amaranth's own (so ``AMARANTH_synth_opts``,
``AMARANTH_nextpnr_opts`` and the other overrides still apply) plus ``--seed``, ``--freq``,
``--report`` and ``--timing-allow-fail``; they are written to ``build_<name>.sh`` in ``out_dir``.

nextpnr names the nets of its critical path after the cells Yosys made (``l0_n3_sum_SB_LUT4_O_I2``:
an input of the LUT that drives ``l0_n3_sum``); :func:`signal_name` maps them back to the
Amaranth signal names, so the report reads ``network.l0_n3_sum -> network.l0_n3_act``.
"""

import dataclasses
import json
import os
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from lwc.errors import BuildError, UsageError

from .board import Board
from .family import ICE40
from .pll import report_line as pll_report_line
from .registry import get_board
from .toolchain import run_tool, tool_path, tool_versions, toolchain_env

__all__ = ["Usage", "BuildReport", "build", "check_args", "check_fit", "synth_estimate",
           "signal_name", "critical_path", "REPORT_FILE"]

REPORT_FILE = "report.json"


@dataclass(frozen=True)
class Usage:
    """How many of a resource a design uses out of how many the device has."""

    used: int
    available: int

    @property
    def percent(self):
        return 100.0 * self.used / self.available if self.available else 0.0


def synth_estimate(cells, family=ICE40):
    """Resource use implied by Yosys' ``synth_<family>`` cell counts.

    Parameters
    ----------
    cells : mapping of str to int
        Cell type -> count, as Yosys ``stat`` reports (``SB_LUT4``, ``SB_DFFE``, ``SB_CARRY``...).
    family : Family
        Which cell types make up which resource (:attr:`~lwc.boards.family.Family.resources`).

    Returns
    -------
    dict of str to int
        Keys ``lut4``, ``ff``, ``carry``, ``block_ram``, ``spram``, ``dsp``.
    """
    return {key: sum(n * weight for cell, n in cells.items()
                     for prefix, weight in slots.items() if cell.startswith(prefix))
            for key, _, slots in family.resources}


def _available(board, key):
    cap = board.capacity
    return {"lut4": cap.lut4, "ff": cap.ff, "carry": cap.carry, "block_ram": cap.block_rams,
            "spram": cap.spram, "dsp": cap.dsp}[key]


def check_fit(cells, board):
    """Refuse a synthesized design that cannot fit ``board``'s device.

    Each iCE40 logic cell holds one LUT4, one flip-flop and one carry, so a design with more of
    any of these than the device has logic cells cannot be placed (nextpnr would work for minutes
    and then fail); the same holds for block RAM, SPRAM and DSP blocks. On ECP5 the LUT4 count
    includes two per carry cell (both LUTs of a slice), against the device's LUT4.

    Raises
    ------
    BuildError
        One line naming the first resource that does not fit, the estimate and the capacity.
    """
    estimate = synth_estimate(cells, board.family)
    for key, label, _ in board.family.resources:
        available = _available(board, key)
        if estimate[key] > available:
            raise BuildError(
                f"design does not fit the {board.name} ({board.part}): synthesis needs "
                f"{estimate[key]} {label}, the device has {available}; choose a larger board "
                f"or a smaller network")


def packing_error(exc, board):
    """The error to raise for a failed nextpnr run: a one-line fit error when nextpnr ran out of
    logic cells (packing can need more cells than the LUT4 count, for carries and flip-flops that
    share no cell with a LUT), else ``exc`` itself."""
    needed = re.search(board.family.out_of_cells, str(exc))
    if not needed:
        return exc
    count = f"{needed.group(1)} logic cells" if needed.lastindex else "more logic cells"
    return BuildError(f"design does not fit the {board.name} ({board.part}): packing needs "
                      f"{count}, the device has {board.capacity.logic_cells}; choose a larger "
                      f"board or a smaller network")


@dataclass
class BuildReport:
    """What a build produced and how well it went; written to ``report.json`` in ``out_dir``.

    ``logic_cells``, ``block_ram``, ``spram``, ``dsp`` and ``io`` are nextpnr's placed counts
    (ECP5: ``TRELLIS_COMB``, ``DP16KD``, none, ``MULT18X18D``, ``TRELLIS_IO``); ``lut4``, ``ff``
    and ``carry`` are Yosys' counts after synthesis (nextpnr may add a few LUTs when packing),
    each out of what the device has (:func:`synth_estimate`). ``fmax_mhz`` is nextpnr's estimate
    for the main clock (``clock_net``); ``timing_met`` is true when it reaches ``clock_mhz`` and
    every other clock meets its own constraint, ``None`` when the design has no clock.
    ``critical_path`` is the slowest path of that clock as the signals it crosses, start to end
    (:func:`critical_path`), and ``critical_path_ns`` its delay. ``pll`` is
    :meth:`~lwc.boards.pll.Pll.to_dict` of the PLL that clocks the design (``clock_mhz`` is its
    output), ``None`` when the board's oscillator does.
    """

    board: str
    device: str
    name: str
    seed: int
    clock_mhz: float
    fmax_mhz: float | None
    timing_met: bool | None
    clock_net: str | None
    clocks: dict
    logic_cells: Usage
    lut4: Usage
    ff: Usage
    carry: Usage
    block_ram: Usage
    spram: Usage
    dsp: Usage
    io: Usage
    critical_path: list
    cells: dict
    tool_versions: dict
    bitstream: str
    logs: dict
    step_seconds: dict = field(default_factory=dict)
    critical_path_ns: float | None = None
    pll: dict | None = None

    _USAGE = ("logic_cells", "lut4", "ff", "carry", "block_ram", "spram", "dsp", "io")

    def to_dict(self):
        """A JSON-ready ``dict`` (usages become ``{"used": n, "available": m}``)."""
        return dataclasses.asdict(self)

    def to_json(self):
        """The report as JSON text (what :meth:`write` writes)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def write(self, path):
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json())

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        for key in cls._USAGE:
            data[key] = Usage(**data[key])
        return cls(**data)

    @classmethod
    def read(cls, path):
        """The report in a ``report.json`` written by :meth:`write`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def table(self):
        """A plain-text summary: resource use, clock, seed, steps and bitstream."""
        rows = [("logic cells", self.logic_cells), ("LUT4", self.lut4), ("flip-flops", self.ff),
                ("carry", self.carry), ("block RAM", self.block_ram), ("SPRAM", self.spram),
                ("DSP", self.dsp), ("I/O", self.io)]
        lines = [f"{self.board} ({self.device}), design {self.name}, seed {self.seed}",
                 f"{'resource':<12} {'used':>7} {'available':>10} {'use':>5}"]
        for label, usage in rows:
            if usage.available:
                lines.append(f"{label:<12} {usage.used:>7} {usage.available:>10} "
                             f"{usage.percent:>4.0f}%")
        if self.fmax_mhz is None:
            lines.append(f"clock: {self.clock_mhz:g} MHz requested; the design has no clock")
        else:
            verdict = "timing met" if self.timing_met else "TIMING NOT MET"
            lines.append(f"clock: {self.clock_mhz:g} MHz requested, {self.fmax_mhz:.2f} MHz "
                         f"achieved ({self.clock_net}): {verdict}")
        if self.pll is not None:
            lines.append(f"PLL: {pll_report_line(self.pll)}")
        if self.critical_path:
            delay = f" {self.critical_path_ns:.2f} ns" if self.critical_path_ns else ""
            lines.append(f"critical path{delay}: {_path_text(self.critical_path)}")
        lines.append("steps: " + ", ".join(f"{step} {secs:.1f} s"
                                           for step, secs in self.step_seconds.items()))
        lines.append(f"bitstream: {self.bitstream}")
        return "\n".join(lines)


def _path_text(signals, most=8):
    if len(signals) > most:
        signals = [*signals[:most // 2], f"... {len(signals) - most} more ...",
                   *signals[-(most // 2):]]
    return " -> ".join(signals)


def _stale_products(out_dir, name):
    return [out_dir / f for f in (f"{name}.bin", f"{name}.bin.tmp", f"{name}.asc",
                                  f"{name}.bit", f"{name}.bit.tmp", f"{name}.config",
                                  f"{name}.svf", f"{name}.json", f"{name}.stat.json",
                                  f"{name}.nextpnr.json", REPORT_FILE)]


def _read_cells(out_dir, name):
    stat_path = out_dir / f"{name}.stat.json"
    if stat_path.exists():
        stat = json.loads(stat_path.read_text())
        section = stat.get("design") or stat["modules"].get(f"\\{name}", {})
        return dict(section.get("num_cells_by_type", {}))
    netlist = json.loads((out_dir / f"{name}.json").read_text())
    cells = {}
    for cell in netlist["modules"][name]["cells"].values():
        cells[cell["type"]] = cells.get(cell["type"], 0) + 1
    return cells


def _main_clock(fmax):
    if not fmax:
        return None
    # nextpnr-ecp5 names a clock after its global buffer: ``$glbnet$cd_sync.clk``.
    sync = [net for net in fmax if net == "cd_sync.clk" or net.endswith("$cd_sync.clk")]
    if sync:
        return sync[0]
    return min(fmax, key=lambda net: fmax[net]["achieved"])


# What Yosys' ``autoname`` appends to a signal name to name a net next to a cell it made:
# ``_<cell type>_<port>`` (``_SB_LUT4_O_I2``, ``_CCU2C_S0``, ``_TRELLIS_FF_Q_DI``...), repeated.
_CELL_SUFFIX = re.compile(
    r"_(?:SB_[A-Z0-9]+|LUT4|CCU2C|TRELLIS_[A-Z0-9]+|PFUMX|L6MUX21|DP16KD|MULT18X18D)"
    r"_[A-Z][A-Z0-9]*(?:_\d+)?(?=_|\[|$)")


def signal_name(net):
    """The design signal a nextpnr net name stands for, or ``None`` for a net of nextpnr's own.

    A net Yosys named after a signal keeps that name (``network.argmax_score6[0]``); a net it named
    after the cells around a signal (``l0_n3_act_SB_DFFE_Q_D_SB_LUT4_O_I1``: logic feeding the
    register ``l0_n3_act``) gives that signal's name, without bit index.
    """
    if not net or net.startswith("$"):
        return None
    suffix = _CELL_SUFFIX.search(net)
    return net[:suffix.start()] if suffix else net


def critical_path(paths, clock):
    """The signals along the critical path of ``clock`` in nextpnr's ``--report`` JSON.

    Parameters
    ----------
    paths : list of dict
        The report's ``critical_paths``.
    clock : str or None
        Clock net; its register-to-register path is chosen (the first path when it has none).

    Returns
    -------
    (list of str, float or None)
        Signal names from the launching register to the capturing one (:func:`signal_name`,
        each once, in order), and the path's delay in ns.
    """
    if not paths:
        return [], None
    edge = f"posedge {clock}"
    path = next((p for p in paths if p.get("from") == edge and p.get("to") == edge), paths[0])
    signals = []
    for step in path.get("path", []):
        name = signal_name(step.get("net"))
        if name is None or name in signals:
            continue
        # ``sum`` then ``sum[3]``: the same signal, named once (with the bit when known).
        if signals and name.split("[")[0] == signals[-1].split("[")[0]:
            signals[-1] = name if "[" in name else signals[-1]
            continue
        signals.append(name)
    steps = path.get("path", [])
    delay = round(sum(step.get("delay", 0.0) for step in steps), 3) if steps else None
    return signals, delay


def check_args(board, seed, clock_mhz, name="top"):
    """``(Board, clock_mhz as float)`` for :func:`build`'s arguments, or :class:`UsageError`
    naming the bad one (``board`` may be a name; ``clock_mhz`` ``None`` is the board clock)."""
    if not isinstance(board, Board):
        board = get_board(board)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise UsageError(f"seed must be an integer from 0 to 2**31-1, not {seed!r}")
    if clock_mhz is None:
        clock_mhz = board.clock_mhz
    elif (isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float))
          or not 0 < clock_mhz <= 1000):
        raise UsageError(f"clock must be a frequency in MHz above 0 and at most 1000, "
                         f"not {clock_mhz!r}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"design name must be a Verilog identifier, not {name!r}")
    return board, float(clock_mhz)


def build(top, board, out_dir, *, name="top", clock_mhz=None, seed=1, pll=None,
          progress=print):
    """Synthesize, place, route and pack ``top`` for ``board``; write the products to ``out_dir``.

    Products in ``out_dir``: ``<name>.bin`` (the bitstream, ``<name>.bit`` on ECP5; written under
    a temporary name and
    renamed only when every step succeeded, and removed at the start, so a failed build never
    leaves one), ``report.json`` (:class:`BuildReport`), the Yosys log ``<name>.rpt``, the
    nextpnr log ``<name>.tim`` and report ``<name>.nextpnr.json``, each tool's console output
    ``<name>.<tool>.log``, Amaranth's inputs (``<name>.il``, ``.ys``, ``.pcf``) and
    ``build_<name>.sh`` with the exact commands.

    Parameters
    ----------
    top : Elaboratable
        The design; its ``elaborate(platform)`` receives the board's Amaranth platform (to
        request pins). A missing ``sync`` domain is driven by the board clock.
    board : Board or str
        A board or its name (see :data:`~lwc.boards.BOARDS`).
    out_dir : path
        Created if needed.
    name : str
        Top-level module name and stem of the product files.
    clock_mhz : float or None
        Timing target for the main clock; the board's oscillator frequency when ``None``. It
        does not change the clock the board runs at.
    pll : Pll or None
        The PLL (:class:`~lwc.boards.pll.Pll`) that ``top`` runs from (its ``sync`` domain
        driven by a :class:`~lwc.boards.pll.PllClock`); its output is then the timing
        target (``clock_mhz`` must be ``None`` or that frequency), the oscillator's pin keeps its
        own frequency in the constraints, and the PLL's output is constrained to its frequency.
    seed : int
        nextpnr placement seed; the same design, seed and tools give the same bitstream.
    progress : callable
        Called with one line of text at each step.

    Returns
    -------
    BuildReport

    Raises
    ------
    UsageError
        Unknown board, or bad ``seed`` / ``clock_mhz`` / ``name``.
    ToolchainError
        Yosys, nextpnr or the packer of the board's family is missing.
    BuildError
        The synthesized design does not fit the device (raised before place-and-route), or a
        tool failed.
    """
    if pll is not None:
        if clock_mhz is not None and clock_mhz != pll.mhz:
            raise UsageError(f"clock must be the PLL's {pll.mhz:g} MHz, not {clock_mhz!r}")
        clock_mhz = pll.mhz
    board, clock_mhz = check_args(board, seed, clock_mhz, name)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in _stale_products(out_dir, name):
        stale.unlink(missing_ok=True)
    env = toolchain_env()
    for tool in board.family.tools:
        tool_path(tool, env)
    progress(f"build {name} for {board.name} ({board.part}) in {out_dir}: seed {seed}, "
             f"target {clock_mhz:g} MHz" + (f" ({pll.text()})" if pll is not None else ""))
    steps = {}
    start = time.monotonic()
    try:
        report = _build(top, board, out_dir, name, clock_mhz, seed, env, steps, progress, pll)
    except BaseException:
        (out_dir / f"{name}{board.family.bitstream_suffix}.tmp").unlink(missing_ok=True)
        raise
    steps["total"] = time.monotonic() - start
    report.step_seconds = steps
    report.write(out_dir / REPORT_FILE)
    met = "met" if report.timing_met else "NOT met"
    verdict = ("no clock" if report.fmax_mhz is None else
               f"Fmax {report.fmax_mhz:.1f} MHz, timing {met}")
    progress(f"  done in {steps['total']:.1f} s: {report.logic_cells.used}/"
             f"{report.logic_cells.available} logic cells, {verdict}")
    return report


def _build(top, board, out_dir, name, clock_mhz, seed, env, steps, progress, pll):
    family = board.family
    pnr_tool, packer = family.nextpnr, family.packer
    progress("  elaborate ...")
    t = time.monotonic()
    platform = board.make_platform()
    plan = platform.prepare(top, name=name)
    commands = {argv[0]: argv for argv in
                json.loads(plan.files[f"build_{name}.json"])["commands"]}
    for filename, content in plan.files.items():
        if filename.startswith(f"build_{name}."):
            continue
        if filename == f"{name}.ys":
            content += f"\ntee -q -o {name}.stat.json stat -json\n"
        elif filename == f"{name}{family.constraints_suffix}":
            # With a PLL the oscillator keeps its frequency; the PLL's output is constrained.
            content = (family.retarget_clock(content, platform.default_clk, clock_mhz)
                       if pll is None else family.signal_constraints(content, name))
        (out_dir / filename).write_text(content)
    steps["elaborate"] = time.monotonic() - t
    progress(f"  elaborate: {steps['elaborate']:.1f} s")

    bitstream_name = f"{name}{family.bitstream_suffix}"
    yosys = commands["yosys"][1:]
    nextpnr = [*commands[pnr_tool][1:], "--seed", str(seed), "--freq", f"{clock_mhz:g}",
               "--report", f"{name}.nextpnr.json", "--timing-allow-fail"]
    pack = [f"{bitstream_name}.tmp" if arg == bitstream_name else arg
            for arg in commands[packer][1:]]
    script = ["#!/bin/sh", "# The commands lwc ran for this build, in this directory.", "set -e"]
    script += [shlex.join([tool_path(tool, env), *args])
               for tool, args in (("yosys", yosys), (pnr_tool, nextpnr), (packer, pack))]
    script.append(f"mv {bitstream_name}.tmp {bitstream_name}")
    (out_dir / f"build_{name}.sh").write_text("\n".join(script) + "\n")

    def run(tool, args, step, key, log=None):
        steps[key] = run_tool(tool, args, cwd=out_dir, env=env, step=step, progress=progress,
                              console=out_dir / f"{name}.{key}.log",
                              extra_logs=[out_dir / log] if log else ())

    run("yosys", yosys, f"yosys {family.synth}", "yosys", f"{name}.rpt")
    cells = _read_cells(out_dir, name)
    estimate = synth_estimate(cells, family)
    progress(f"  yosys {family.synth}: {steps['yosys']:.1f} s (LUT4 {estimate['lut4']}, "
             f"FF {estimate['ff']}, carry {estimate['carry']}, "
             f"block RAM {estimate['block_ram']})")
    check_fit(cells, board)

    try:
        run(pnr_tool, nextpnr, f"{pnr_tool} place & route", "nextpnr", f"{name}.tim")
    except BuildError as exc:
        raise packing_error(exc, board) from None
    pnr = json.loads((out_dir / f"{name}.nextpnr.json").read_text())
    util = pnr.get("utilization", {})
    fmax = {net: {"achieved": v["achieved"], "constraint": v["constraint"]}
            for net, v in pnr.get("fmax", {}).items()}
    clock_net = _main_clock(fmax)
    fmax_mhz = fmax[clock_net]["achieved"] if clock_net else None
    timing_met = None if clock_net is None else (
        fmax_mhz >= clock_mhz and all(v["achieved"] >= v["constraint"] for v in fmax.values()))
    path, path_ns = critical_path(pnr.get("critical_paths", []), clock_net)
    progress(f"  {pnr_tool} place & route: {steps['nextpnr']:.1f} s"
             + (f" (Fmax {fmax_mhz:.1f} MHz)" if clock_net else ""))

    run(packer, pack, packer, packer)
    tmp = out_dir / f"{bitstream_name}.tmp"
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise BuildError(f"{packer} wrote no bitstream (see {out_dir / f'{name}.{packer}.log'})")
    bitstream = out_dir / bitstream_name
    os.replace(tmp, bitstream)
    progress(f"  {packer}: {steps[packer]:.1f} s ({bitstream.stat().st_size} bytes)")

    def placed(key):
        entry = util.get(family.placed[key], {}) if family.placed[key] else {}
        return Usage(entry.get("used", 0), entry.get("available", 0))

    lcs = placed("logic_cells")
    capacity = board.capacity
    return BuildReport(
        board=board.name, device=board.part, name=name, seed=seed, clock_mhz=clock_mhz,
        fmax_mhz=fmax_mhz, timing_met=timing_met, clock_net=clock_net, clocks=fmax,
        logic_cells=lcs,
        lut4=Usage(estimate["lut4"], lcs.available),
        ff=Usage(estimate["ff"], lcs.available),
        carry=Usage(estimate["carry"],
                    lcs.available if capacity.carries is None else capacity.carries),
        block_ram=placed("block_ram"), spram=placed("spram"),
        dsp=placed("dsp"), io=placed("io"),
        critical_path=path,
        cells=dict(sorted(cells.items())),
        tool_versions=tool_versions(env, family.tools),
        bitstream=str(bitstream),
        logs={"yosys": str(out_dir / f"{name}.rpt"), "nextpnr": str(out_dir / f"{name}.tim"),
              "nextpnr_report": str(out_dir / f"{name}.nextpnr.json"),
              packer: str(out_dir / f"{name}.{packer}.log"),
              "script": str(out_dir / f"build_{name}.sh")},
        step_seconds=steps,
        critical_path_ns=path_ns,
        pll=None if pll is None else pll.to_dict(),
    )
