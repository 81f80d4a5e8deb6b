"""Synthesis and place-and-route of a bare ``lwc_net`` for the benchmarks (iCE40, YoWASP tools).

A network's ports are far wider than any iCE40 has pins, so it is placed inside ``bench_top``: a
shift register fed from one pin loads the input payload, the output payload is XOR-reduced into one
registered pin. The wrapper costs one flip-flop (one logic cell) per input bit and a few LUTs; it
is the same for every variant of a net, and its flip-flops are reported apart.

Results are cached under ``build/bench/`` by a hash of the Verilog and the flow, so re-running a
benchmark only synthesizes what changed.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from lwc.boards.toolchain import tool_path, toolchain_env

__all__ = ["wrapper_verilog", "synthesize", "netlist", "place", "DEVICES", "CACHE"]

CACHE = Path(__file__).resolve().parents[1] / "build" / "bench"
#: nextpnr device option, package, logic cells.
DEVICES = {"up5k": ("--up5k", "sg48", 5280), "hx8k": ("--hx8k", "ct256", 7680)}
_FLOW = 1  # bump to invalidate cached results when the flow changes


def wrapper_verilog(input_width, output_width):
    """``bench_top(clk, din, dout)`` around ``lwc_net``."""
    return f"""
module bench_top(input clk, input din, output reg dout);
  reg [{input_width - 1}:0] shift;
  wire [{output_width - 1}:0] payload;
  wire ready, valid;
  always @(posedge clk) shift <= {{shift[{input_width - 2 if input_width > 1 else 0}:0], din}};
  lwc_net net(.clk(clk), .rst(1'b0), .i__payload(shift), .i__valid(1'b1), .i__ready(ready),
              .o__payload(payload), .o__valid(valid), .o__ready(din));
  always @(posedge clk) dout <= ^{{payload, valid, ready}};
endmodule
"""


def _cached(kind, key_text, compute):
    CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{kind}\n{_FLOW}\n{key_text}".encode()).hexdigest()[:24]
    path = CACHE / f"{kind}-{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = compute(CACHE / f"{kind}-{digest}")
    path.write_text(json.dumps(result, indent=1))
    return result


def _cells(stat):
    cells = {}
    for module in stat.get("modules", {}).values():
        for cell, n in module.get("num_cells_by_type", {}).items():
            cells[cell] = cells.get(cell, 0) + n
    return cells


def synthesize(source, *, rtlil=False, input_width, output_width):
    """Run ``synth_ice40`` on ``bench_top`` around ``lwc_net`` (``source``: Verilog text, or RTLIL
    text with ``rtlil``).

    Returns a dict: ``cells`` (type -> count), ``lut4``, ``carry``, ``ff``, ``seconds``, ``json``
    (the netlist for :func:`place`).
    """
    wrapper = wrapper_verilog(input_width, output_width)
    name = "net.il" if rtlil else "net.v"

    def compute(stem):
        stem.mkdir(parents=True, exist_ok=True)
        (stem / name).write_text(source)
        (stem / "top.v").write_text(wrapper)
        script = [f"read_{'rtlil' if rtlil else 'verilog'} {name}", "read_verilog top.v",
                  "synth_ice40 -top bench_top -json net.json", "tee -q -o stat.json stat -json"]
        t = time.monotonic()
        _yosys(script, stem)
        seconds = time.monotonic() - t
        cells = _cells(json.loads((stem / "stat.json").read_text()))
        return {
            "cells": cells, "seconds": round(seconds, 1),
            "lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
            "ff": sum(n for c, n in cells.items() if c.startswith("SB_DFF")),
            "json": str(stem / "net.json"),
        }

    return _cached("synth", f"bench_top\n{wrapper}\n{'rtlil' + chr(10) if rtlil else ''}{source}",
                   compute)


def netlist(source, *, rtlil=False):
    """``synth_ice40`` of ``lwc_net`` alone, written as a gate-level Verilog netlist (without
    attributes), for simulation with the iCE40 cell models; returns its path."""
    name = "net.il" if rtlil else "net.v"

    def compute(stem):
        stem.mkdir(parents=True, exist_ok=True)
        (stem / name).write_text(source)
        _yosys([f"read_{'rtlil' if rtlil else 'verilog'} {name}", "synth_ice40 -top lwc_net",
                "write_verilog -noattr netlist.v"], stem)
        return {"netlist": str(stem / "netlist.v")}

    return Path(_cached("netlist", f"{name}\n{source}", compute)["netlist"])


def _yosys(script, cwd):
    # YoWASP Yosys, with the larger stack big nets need (bench/yosys_stack.py).
    subprocess.run([sys.executable, str(Path(__file__).with_name("yosys_stack.py")), "-q",
                    "-l", "yosys.log", "-p", "; ".join(script)],
                   cwd=cwd, check=True, env=toolchain_env(), capture_output=True)


def place(synth, device, *, seed=1, freq=12):
    """Place and route a ``bench_top`` netlist from :func:`synthesize` on ``device``; returns
    ``lcs``, ``fmax`` (MHz), ``seconds`` (or ``{"fits": False}`` when it does not fit)."""
    flag, package, _ = DEVICES[device]
    design = Path(synth["json"])

    def compute(stem):
        stem.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        run = subprocess.run(
            [tool_path("nextpnr-ice40"), flag, "--package", package, "--json", str(design),
             "--pcf-allow-unconstrained", "--seed", str(seed), "--freq", str(freq),
             "--report", "report.json", "--timing-allow-fail", "-q", "-l", "nextpnr.log"],
            cwd=stem, env=toolchain_env(), capture_output=True, text=True)
        seconds = time.monotonic() - t
        if run.returncode:
            log = (stem / "nextpnr.log").read_text() if (stem / "nextpnr.log").exists() else ""
            if re.search(r"Unable to place|not enough|exceeds|too many|Failed to expand region",
                         log + run.stderr, re.I):
                return {"fits": False, "seconds": round(seconds, 1)}
            raise RuntimeError(f"nextpnr failed: {run.stderr[-2000:]}")
        report = json.loads((stem / "report.json").read_text())
        util = report.get("utilization", {})
        fmax = [v["achieved"] for v in report.get("fmax", {}).values()]
        return {"fits": True, "lcs": util.get("ICESTORM_LC", {}).get("used"),
                "fmax": round(min(fmax), 1) if fmax else None, "seconds": round(seconds, 1)}

    key = f"{device}\n{seed}\n{freq}\n{design}"
    return _cached("place", key, compute)


if os.environ.get("LWC_BENCH_CACHE"):
    CACHE = Path(os.environ["LWC_BENCH_CACHE"])
