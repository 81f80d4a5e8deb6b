"""The streaming (folded) network of a trained net: entries, memory and cycles per lane count.

For each ``--lanes`` value: the first layer's entries (most in one lane / all), the entry and
parameter ROM bits, all memory bits (with the image buffers), the cycles of the sequential phase,
cycles per inference and latency, and the time to write the Verilog. With ``--synth``, each
design also goes through Yosys ``synth_ice40`` (the YoWASP build lwc uses) and the table gets
its LUT4, flip-flop, carry and block RAM counts. Example::

    python bench/streaming.py /tmp/mn/A.pt --lanes 1 2 4 --features 1 --synth 1
"""

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from lwc.compiler import netfile, passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.ir import expand_layer
from lwc.compiler.lower import lower, write_verilog


def synth_ice40(component):
    """Cell counts of ``component`` after Yosys ``synth_ice40`` (top ``lwc_net``), and seconds."""
    from amaranth.back import rtlil

    from lwc.boards.toolchain import tool_path, toolchain_env

    env = toolchain_env()
    with tempfile.TemporaryDirectory() as tmp:
        # Relative names: the YoWASP Yosys sees only its working directory.
        (Path(tmp) / "net.il").write_text(rtlil.convert(component, name="lwc_net"))
        start = time.perf_counter()
        subprocess.run([tool_path("yosys", env), "-q", "-p",
                        "read_rtlil net.il; synth_ice40 -top lwc_net; tee -q -o stat.txt stat"],
                       cwd=tmp, env=env, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        text = (Path(tmp) / "stat.txt").read_text()
    cells = {name: int(count) for count, name in re.findall(r"^\s+(\d+)\s+(SB_\w+)", text, re.M)}
    return cells, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", help="a net.pt")
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--features", type=int, default=1, help="features per input transfer")
    parser.add_argument("--synth", type=int, nargs="*", default=[],
                        help="lane counts to synthesize with yosys synth_ice40")
    args = parser.parse_args()

    net = passes.run(netfile.load(args.net))
    layer = expand_layer(net.layers[0], len(net.input_map))  # as the streaming layer reads it
    print(f"{args.net}: {net.input.count} inputs x {net.input.bits} bit, "
          f"{'-'.join(str(lay.size) for lay in net.layers)} after the passes, first layer "
          f"{sum(abs(w) for n in layer.neurons for w in n.weights)} weight entries; "
          f"{args.features} feature(s) per transfer")
    head = (f"{'lanes':>5} {'entries':>13} {'ROM bits':>9} {'mem bits':>9} {'run':>6} "
            f"{'cycles/inf':>10} {'latency':>7} {'verilog s':>9}")
    if args.synth:
        head += f" {'LUT4':>6} {'FF':>5} {'carry':>5} {'BRAM':>4} {'yosys s':>7}"
    print(head)
    for lanes in args.lanes:
        dut = lower(net, Streaming(args.features, lanes))
        start = time.perf_counter()
        write_verilog(dut)
        verilog_s = time.perf_counter() - start
        entries = f"{max(dut.entry_counts)}/{sum(dut.entry_counts)}"
        row = (f"{dut.lanes:>5} {entries:>13} {dut.rom_bits:>9} {dut.memory_bits:>9} "
               f"{dut.run_cycles:>6} {dut.cycles_per_inference:>10} {dut.latency:>7} "
               f"{verilog_s:>9.1f}")
        if lanes in args.synth:
            dut = lower(net, Streaming(args.features, lanes))
            cells, seconds = synth_ice40(dut)
            row += (f" {cells.get('SB_LUT4', 0):>6} "
                    f"{sum(v for k, v in cells.items() if k.startswith('SB_DFF')):>5} "
                    f"{cells.get('SB_CARRY', 0):>5} {cells.get('SB_RAM40_4K', 0):>4} "
                    f"{seconds:>7.1f}")
        print(row, flush=True)


if __name__ == "__main__":
    main()
