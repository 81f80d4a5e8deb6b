"""``--target asic``: the network's Verilog sized for an ASIC by Yosys' generic synthesis.

No liberty file: Yosys flattens and optimizes the design (``synth -flatten``), turns every
flip-flop into a plain positive-edge one with its enable and reset as logic (``dfflegalize``),
then ABC maps the logic onto the standard two-input gate set plus the 2:1 multiplexer
(``abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX``; ABC adds inverters as it needs). The report counts
gates per type, flip-flops, and the logic depth: the most gates on a path between registers or
ports (Yosys ``ltp -noff``), which bounds the clock an ASIC of this netlist can reach.
"""

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from lwc.errors import BuildError

from .toolchain import run_tool, tool_path, tool_versions, toolchain_env

__all__ = ["GATES", "AsicReport", "synthesize"]

#: The gate set ABC maps onto (besides the inverters it always may use).
GATES = ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "MUX")

SCRIPT = "asic.ys"
NETLIST = "netlist.v"


@dataclass
class AsicReport:
    """What generic synthesis made of a design; :meth:`to_dict` goes into ``report.json``.

    ``gates`` counts each gate type (``AND``, ..., ``NOT``), ``total_gates`` their sum (without
    flip-flops), ``flip_flops`` the ``$_DFF_P_`` cells, ``logic_depth`` the gates on the longest
    register-to-register (or port) path, which runs from ``depth_from`` to ``depth_to``.
    """

    top: str
    gates: dict
    total_gates: int
    flip_flops: int
    logic_depth: int
    depth_from: str | None
    depth_to: str | None
    netlist: str
    tool_versions: dict
    logs: dict
    step_seconds: dict = field(default_factory=dict)

    def to_dict(self):
        return dataclasses.asdict(self)

    def table(self):
        """A plain-text summary: gates per type, total, flip-flops and logic depth."""
        lines = [f"asic (generic gates), design {self.top}",
                 f"{'gate':<10} {'count':>8}"]
        lines += [f"{gate:<10} {count:>8}" for gate, count in self.gates.items()]
        lines.append(f"{'total':<10} {self.total_gates:>8}")
        lines.append(f"{'flip-flops':<10} {self.flip_flops:>8}")
        path = (f" ({self.depth_from} -> {self.depth_to})"
                if self.depth_from and self.depth_to else "")
        lines.append(f"logic depth {self.logic_depth} gates{path}")
        lines.append(f"netlist: {self.netlist}")
        return "\n".join(lines)


def _script(verilog, top):
    return "\n".join([
        "# The generic synthesis lwc ran for --target asic.",
        f"read_verilog {verilog}",
        f"synth -flatten -top {top}",
        # Enables and resets become gates, so every flip-flop is one plain cell.
        "dfflegalize -cell $_DFF_P_ 01",
        f"abc -g {','.join(GATES)}",
        "opt_clean -purge",
        "tee -q -o asic.stat.json stat -json",
        "tee -q -o asic.ltp.txt ltp -noff",
        f"write_verilog -noattr {NETLIST}",
    ]) + "\n"


def _signal(text):
    """``\\l1_n0_act [0]`` -> ``l1_n0_act[0]``; ``None`` for a name Yosys or ABC made up."""
    text = text.strip().split(" (via ")[0].strip()
    if text.startswith("$"):
        return None
    return text.lstrip("\\").replace(" [", "[")


def _read_ltp(path):
    text = Path(path).read_text()
    found = re.search(r"Longest topological path in \S+ \(length=(\d+)\)", text)
    if not found:
        raise BuildError(f"yosys ltp printed no longest path (see {path})")
    nodes = re.findall(r"^\s+(\d+|ff): (.*)$", text, re.M)
    names = [_signal(name) for _, name in nodes]
    named = [n for n in names if n]
    return int(found.group(1)), (named[0] if named else None), (named[-1] if named else None)


def synthesize(verilog, out_dir, *, top="lwc_net", progress=print):
    """Synthesize ``verilog`` (a file) to generic gates in ``out_dir``.

    Products in ``out_dir``: :data:`NETLIST` (the gate-level netlist), :data:`SCRIPT` (the Yosys
    script), ``asic.rpt`` (Yosys log), ``asic.stat.json`` and ``asic.ltp.txt``.

    Returns
    -------
    AsicReport

    Raises
    ------
    ToolchainError
        Yosys is missing.
    BuildError
        Yosys failed.
    """
    out_dir = Path(out_dir).resolve()
    env = toolchain_env()
    tool_path("yosys", env)
    source = Path(verilog).resolve()
    (out_dir / SCRIPT).write_text(_script(source.name if source.parent == out_dir else source,
                                          top))
    start = time.monotonic()
    run_tool("yosys", ["-q", "-l", "asic.rpt", SCRIPT], cwd=out_dir, env=env,
             console=out_dir / "asic.yosys.log", step="yosys synth + abc (generic gates)",
             progress=progress, extra_logs=[out_dir / "asic.rpt"])
    seconds = time.monotonic() - start
    stat = json.loads((out_dir / "asic.stat.json").read_text())
    section = stat.get("design") or stat["modules"][f"\\{top}"]
    cells = section.get("num_cells_by_type", {})
    unknown = sorted(c for c in cells
                     if c != "$scopeinfo" and c.strip("$_") not in (*GATES, "NOT", "DFF_P"))
    if unknown:
        raise BuildError(f"generic synthesis left cells that are not gates: {', '.join(unknown)} "
                         f"(see {out_dir / 'asic.rpt'})")
    gates = {gate: cells.get(f"$_{gate}_", 0) for gate in (*GATES, "NOT")}
    depth, depth_from, depth_to = _read_ltp(out_dir / "asic.ltp.txt")
    report = AsicReport(
        top=top, gates=gates, total_gates=sum(gates.values()),
        flip_flops=cells.get("$_DFF_P_", 0), logic_depth=depth, depth_from=depth_from,
        depth_to=depth_to, netlist=str(out_dir / NETLIST),
        tool_versions={k: v for k, v in tool_versions(env, ("yosys",)).items()},
        logs={"yosys": str(out_dir / "asic.rpt"), "script": str(out_dir / SCRIPT)},
        step_seconds={"yosys": round(seconds, 1)},
    )
    progress(f"  asic: {report.total_gates} gates, {report.flip_flops} flip-flops, logic depth "
             f"{report.logic_depth}")
    return report
