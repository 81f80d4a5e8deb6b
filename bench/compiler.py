"""lwc against Yosys on naive Verilog: logic cells, carries, flip-flops and Fmax on iCE40.

For each net, three designs with the same ports, latency and results:

``naive``
    :func:`lwc.compiler.naive.write_verilog`: dense sums with the constant weights written as
    multiplications, comparisons, a linear argmax, then the pipeline registers; Yosys is free to
    restructure all of it.
``lwc``
    ``lwc compile`` without sharing (``lwc compile --no-share``): exact-width adder trees.
``lwc+share``
    ``lwc compile`` (sharing on): the same, with sub-sums shared between the neurons of a layer.

lwc designs are synthesized as the bitstream build does, from Amaranth's RTLIL (adders marked
``keep``); the Verilog ``lwc compile --target verilog`` writes is the same logic without that
attribute. Every design is simulated with Icarus Verilog against the golden model on 48 random
vectors, as Verilog and, for lwc designs (unless ``--no-gate-level``), as the iCE40 netlist Yosys
makes of that RTLIL; then synthesized with ``synth_ice40`` and, when it fits, placed and routed
with nextpnr on the UP5K or HX8K inside a small wrapper (``bench/fpga.py``; its input shift
register, one logic cell per input bit, is not counted in the figures). Nets that fit no iCE40 get
synthesis figures only. Run it as::

    nice -n 10 python bench/compiler.py                 # the table in docs/benchmarks.md
    nice -n 10 python bench/compiler.py --nets digits-demo,rand-64-4b-20
    python bench/compiler.py --adders                   # adders vs weights, MNIST-sized nets
    python bench/compiler.py --speed                    # compile time of 10k/100k/1M weights
    python bench/compiler.py --fan-in 14,15,16,17,18    # compile time of one wide neuron

Results are cached in ``build/bench`` (by the hash of each Verilog), so a rerun only does what
changed.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from amaranth.back import rtlil  # noqa: E402
from fpga import CACHE, DEVICES, netlist, place, synthesize  # noqa: E402
from iverilog_check import check_verilog  # noqa: E402

from lwc.compiler import ir, naive, netfile, passes  # noqa: E402
from lwc.compiler.driver import compile_design  # noqa: E402
from lwc.compiler.lower import lower, plan, write_verilog  # noqa: E402
from lwc.compiler.stats import adder_count, nonzero_count  # noqa: E402
from lwc.sim.gatelevel import cells_sim_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def random_net(seed, sizes, bits, density):
    """A random sparse ternary net: ``step`` hidden layers with thresholds near the middle of
    each neuron's sums, a linear output layer; every hidden neuron is read by some output (so the
    passes keep every neuron) and every neuron has an input."""
    rng = np.random.default_rng(seed)
    layers, in_max = [], (1 << bits) - 1
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([-1, 0, 1], size=(n_out, n_in), p=[density / 2, 1 - density, density / 2])
        for row in np.flatnonzero(~w.any(axis=1)):
            w[row, rng.integers(n_in)] = rng.choice([-1, 1])
        if li:  # every neuron of the previous layer is read
            for col in np.flatnonzero(~w.any(axis=0)):
                w[rng.integers(n_out), col] = rng.choice([-1, 1])
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), np.zeros(n_out, dtype=np.int64)))
            break
        mid = (w.clip(0, None).sum(axis=1) - (-w).clip(0, None).sum(axis=1)) * in_max // 2
        layers.append((w, ir.Activation("step"), mid + rng.integers(-2, 3, n_out)))
        in_max = 1
    return ir.from_dense(ir.InputSpec(sizes[0], bits), layers,
                         [f"c{k}" for k in range(sizes[-1])], {"dataset": "random"})


def limited_net(seed, sizes, fan_in, group=None):
    """A random net of one-bit inputs whose hidden neurons each read exactly ``fan_in`` values
    (every value of the layer before read by some neuron), ``step`` with thresholds near the
    middle of their sums; each output sums its own ``group`` of the last hidden layer's neurons
    with +-1 weights (DWN's group sum), by default as many as there are per class."""
    rng = np.random.default_rng(seed)
    layers = []
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = np.zeros((n_out, n_in), dtype=np.int64)
        last = li == len(sizes) - 2
        k = (group or n_in // n_out) if last else fan_in
        reads = rng.permutation(np.resize(rng.permutation(n_in), n_out * k).reshape(n_out, k),
                                axis=0) if not last else np.arange(n_out * k).reshape(n_out, k)
        for row, cols in enumerate(reads):
            cols = np.unique(cols)
            while len(cols) < k:  # a repeat from the wrap-around: another input instead
                cols = np.unique(np.append(cols, rng.integers(n_in)))
            w[row, cols] = rng.choice([-1, 1], size=k)
        if last:
            layers.append((w, ir.Activation("linear"), np.zeros(n_out, dtype=np.int64)))
            break
        mid = (w.clip(0, None).sum(axis=1) - (-w).clip(0, None).sum(axis=1)) // 2
        layers.append((w, ir.Activation("step"), mid + rng.integers(0, 2, n_out)))
    return ir.from_dense(ir.InputSpec(sizes[0], 1), layers,
                         [f"c{k}" for k in range(sizes[-1])], {"dataset": "random"})


def digits_net(name, **config):
    """A net trained on the bundled digits data (cached in ``build/bench``)."""
    path = CACHE / f"{name}.pt"
    if not path.is_file():
        from lwc.train import TrainConfig, train_to_file

        CACHE.mkdir(parents=True, exist_ok=True)
        train_to_file(TrainConfig(dataset="digits", seed=0, **config), path, plots=False)
    return netfile.load(path)


#: name -> (description, builder)
NETS = {
    "digits": ("digits, default training (64-256-10, 4 bit)", lambda: digits_net("digits")),
    "digits-demo": ("digits, demo config (hidden 64, sparsity 0.87)",
                    lambda: digits_net("digits-demo", hidden=(64,), sparsity=0.87)),
    "rand-64-4b-20": ("random 64-64-10, 4 bit, 20%",
                      lambda: random_net(1, (64, 64, 10), 4, 0.2)),
    "rand-256-1b-10": ("random 256-64-10, 1 bit, 10%",
                       lambda: random_net(2, (256, 64, 10), 1, 0.1)),
    **{f"mnist-{b}b-{int(d * 100)}": (f"random 784-256-10, {b} bit, {int(d * 100)}%",
                                      lambda b=b, d=d: random_net(3, (784, 256, 10), b, d))
       for b in (1, 4) for d in (0.05, 0.1, 0.2)},
    # Fan-in-limited nets of one-bit inputs (issue 18's truth-table neurons).
    **{f"fan{k}-1b": (f"random 64-128-60-10, 1 bit, fan-in {k}, group sums of 6",
                      lambda k=k: limited_net(4, (64, 128, 60, 10), k))
       for k in range(2, 9)},
    # MNIST's inputs with a quarter of the hidden layer: Yosys needs over half an hour of CPU for
    # the naive design of the smallest (docs/benchmarks.md), so the table has a subset.
    **{f"mnist64-{b}b-{int(d * 100)}": (f"random 784-64-10, {b} bit, {int(d * 100)}%",
                                        lambda b=b, d=d: random_net(3, (784, 64, 10), b, d))
       for b in (1, 4) for d in (0.05, 0.1, 0.2)},
}
DEFAULT_NETS = ("digits-demo", "digits", "rand-64-4b-20", "rand-256-1b-10", "mnist64-4b-5",
                "mnist64-1b-5")
#: The MNIST-sized nets of the issue's goals (``--adders``; their synthesis does not fit the time).
MNIST_NETS = tuple(f"mnist-{b}b-{d}" for b in (1, 4) for d in (5, 10, 20))
#: The designs compared: naive, and lwc without / with sharing (the defaults otherwise); then the
#: hardware choices measured in docs/benchmarks.md: "tree" builds every neuron as an adder tree
#: (no compressor trees), "merged" leaves the adders without the keep attribute (so Yosys'
#: alumacc merges each tree into one $macc), "share1" shares also in layers of one-bit inputs;
#: "lwc+tables" builds the neurons the tabulate pass's cost model picks as truth tables
#: (``lwc compile --tables auto``), "tables-all" every neuron whose table fits.
VARIANTS = {
    "naive": None,
    "lwc": dict(share=False),
    "lwc+share": dict(share=True),
    "tree-merged": dict(share=False, keep_adders=False, compress=False),
    "tree": dict(share=False, compress=False),
    "share-tree-merged": dict(share=True, keep_adders=False, compress=False),
    "share-tree": dict(share=True, compress=False),
    "share1-tree-merged": dict(share=True, one_bit=True, keep_adders=False, compress=False),
    "share1-tree": dict(share=True, one_bit=True, compress=False),
    "share1-csa": dict(share=True, one_bit=True),
    "lwc+tables": dict(share=True, tables="auto"),
    "tables-all": dict(share=True, tables="all"),
}
DEFAULT_VARIANTS = ("naive", "lwc", "lwc+share")


def designs(net, variants=DEFAULT_VARIANTS):
    """``(variant, verilog, rtlil, facts, compiled net)`` for each variant.

    ``verilog`` is what ``lwc compile --target verilog`` writes (for the naive design, its
    reference Verilog; ``compiled`` is then ``None``); ``rtlil`` is what the bitstream build
    synthesizes (Amaranth's RTLIL of the same component, whose adders carry the ``keep``
    attribute), ``None`` for the naive design. ``facts`` holds the ``latency``, ``label_width``,
    ``score_width`` and ``n_classes`` every variant shares (the naive design is written with the
    generated one's default latency, one stage per layer and one for the argmax).
    """
    plain = passes.run(net, passes.pipeline(share=False))
    for variant in variants:
        if VARIANTS[variant] is None:
            facts = dict(latency=len(net.layers) + 1, label_width=naive.label_width(net),
                         score_width=naive.score_width(net), n_classes=net.output_count)
            yield variant, naive.write_verilog(net, latency=facts["latency"]), None, facts, None
            continue
        options = dict(VARIANTS[variant])
        share, one_bit = options.pop("share"), options.pop("one_bit", False)
        tables = options.pop("tables", "off")
        compiled = plain
        if tables != "off":
            compiled = passes.run(net, passes.pipeline(share=share, tables=tables))
        elif share:
            compiled = passes.infer_widths(passes.share(plain, one_bit=one_bit))
        component = lower(compiled, **options)
        facts = dict(latency=component.latency, label_width=component.label_width,
                     score_width=component.score_width, n_classes=component.n_classes)
        text = write_verilog(component)
        il = rtlil.convert(component, name="lwc_net", emit_src=False)
        yield variant, text, il, facts, compiled


def measure(net, variants=DEFAULT_VARIANTS, *, check=True, gate_level=True, device=None,
            progress=print):
    """Figures of every variant of ``net``: a list of dicts (see :func:`format_table`).

    With ``check``, the Verilog of each variant is simulated against the golden model; with
    ``gate_level`` too, the iCE40 netlist Yosys makes of what is synthesized (lwc: the RTLIL the
    bitstream build uses; naive: its Verilog). Every variant is placed on the same device, so
    their Fmax compare: the UP5K when all of them fit it, else the HX8K (a variant that does not
    fit it has synthesis figures only).
    """
    rows, netlists = [], []
    in_bits = net.input.count * net.input.bits
    rng = np.random.default_rng(0)
    x = rng.integers(0, net.input.max_value + 1, size=(48, net.input.count))
    for variant, text, il, facts, compiled in designs(net, variants):
        n_classes = facts.pop("n_classes")
        if check:
            check_verilog(net, text, x, **facts)
        if check and gate_level and il is not None:
            cells = Path(cells_sim_path()).read_text()
            gates = netlist(il, rtlil=True).read_text()
            check_verilog(net, f"`define NO_ICE40_DEFAULT_ASSIGNMENTS\n{cells}\n{gates}", x,
                          **facts)
        out_bits = facts["label_width"] + n_classes * facts["score_width"]
        source = il if il is not None else text
        syn = synthesize(source, rtlil=il is not None, input_width=in_bits, output_width=out_bits)
        rows.append({"variant": variant, "lut4": syn["lut4"], "carry": syn["carry"],
                     "ff": syn["ff"] - in_bits - 1, "synth_s": syn["seconds"],
                     "adders": adder_count(compiled) if compiled is not None else None,
                     "lcs": None, "fmax": None, "device": None})
        netlists.append(syn)
        progress(f"  {variant:<10} LUT4 {syn['lut4']:>6} carry {syn['carry']:>6} "
                 f"FF {rows[-1]['ff']:>5} (synthesis {syn['seconds']:.0f} s)")
    # At least one logic cell per LUT4, and one per flip-flop of the wrapper's shift register.
    need = [syn["lut4"] + in_bits for syn in netlists]
    for choice in ([device] if device else ["up5k", "hx8k"]):
        placed = [place(syn, choice) if cells <= DEVICES[choice][2] else {"fits": False}
                  for syn, cells in zip(netlists, need)]
        if all(p["fits"] for p in placed) or choice == "hx8k":
            break
    for row, pnr in zip(rows, placed):
        if pnr["fits"]:
            row.update(lcs=pnr["lcs"] - in_bits, fmax=pnr["fmax"], device=choice)
        progress(f"  {row['variant']:<10} {choice}: LC {row['lcs']} Fmax {row['fmax']}")
    return rows


def _relative(row, base, key):
    """``row[key]``, with its ratio to ``base[key]`` when ``row`` is not the base.

    A base design that was not placed has no logic cell count, but needs at least one cell per
    LUT4: logic cells are then compared with its LUT4 count, as an upper bound (``<=``).
    """
    v, b = row[key], base[key]
    if v is None:
        return "—"
    if row is base:
        return f"{v}"
    if key == "lcs" and b is None and base["lut4"]:
        return f"{v} (≤{v / base['lut4']:.2f}x)"
    return f"{v}" if not b else f"{v} ({v / b:.2f}x)"


def format_table(results):
    """Markdown table of ``[(net name, description, nonzero, rows)]``."""
    head = ("| net | nonzero weights | design | adders | LUT4 | carry | FF | logic cells | "
            "Fmax MHz | device |")
    lines = [head, "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, _, nonzero, rows in results:
        base = rows[0]
        for k, row in enumerate(rows):
            adders = "—" if row["adders"] is None else \
                f"{row['adders']} ({row['adders'] / nonzero:.2f}x)"
            lines.append(f"| {name if k == 0 else ''} | {nonzero if k == 0 else ''} | "
                         f"{row['variant']} | {adders} | {_relative(row, base, 'lut4')} | "
                         f"{row['carry']} | {row['ff']} | {_relative(row, base, 'lcs')} | "
                         f"{row['fmax'] if row['fmax'] else '—'} | {row['device'] or '—'} |")
    return "\n".join(lines)


def adders_table(names, *, progress=print):
    """Two-input adders without and with sharing, against nonzero weights, for ``names``."""
    lines = ["| net | nonzero weights | adders without sharing | adders with sharing | "
             "(one-bit layers too) | share pass s |", "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        description, build = NETS[name]
        net = build()
        nonzero = nonzero_count(net)
        plain = passes.run(net, passes.pipeline(share=False))
        t = time.process_time()
        shared = passes.share(plain)
        seconds = time.process_time() - t
        everywhere = passes.share(plain, one_bit=True)
        cells = [f"{adder_count(n)} ({adder_count(n) / nonzero:.2f}x)"
                 for n in (plain, shared, everywhere)]
        line = f"| {name} | {nonzero} | {' | '.join(cells)} | {seconds:.1f} |"
        progress(line)
        lines.append(line)
    return "\n".join(lines)


def phases(path, net=None):
    """CPU seconds of each step of ``lwc compile --target verilog`` on the net file ``path``, run
    in this process in the order the command runs them: ``load``, ``passes`` (all but ``share``,
    each followed by ``verify``), ``share``, ``widths`` (``infer_widths`` and ``verify`` after the
    share pass), ``lower`` (the hardware plan, what ``lwc compile`` lowers to) and ``verilog``
    (the netlist and its text); and the
    adder counts without and with sharing."""
    seconds = {}

    def timed(key, fn, *args):
        t = time.process_time()
        result = fn(*args)
        seconds[key] = time.process_time() - t
        return result

    if net is None:
        net = timed("load", netfile.load, path)
    else:  # a net over the net file's limits, measured in memory
        seconds["load"] = float("nan")
    plain = timed("passes", passes.run, net, passes.pipeline(share=False))
    shared = timed("share", passes.share, plain)
    compiled = timed("widths", lambda n: ir.verify(passes.infer_widths(n)), shared)
    design = timed("lower", plan, compiled)
    timed("verilog", write_verilog, design)
    return seconds, adder_count(plain), adder_count(compiled)


def speed(sizes, *, progress=print):
    """Wall time and peak memory of ``lwc compile --target verilog`` on random 784-H-10 nets at
    10% density with about ``size`` nonzero weights (4-bit inputs, sharing on), and the CPU time
    of each of its steps (:func:`phases`). A net over the net file's limit of nonzero weights
    (1M) has only the steps after loading, run in memory (``-`` for the rest)."""
    steps = ("load", "passes", "share", "widths", "lower", "verilog")
    lines = ["| nonzero weights | net | adders without / with sharing | `lwc compile` wall s | "
             "CPU s | peak MB | " + " | ".join(steps) + " |",
             "|---:|---|---|---:|---:|---:|" + "---:|" * len(steps)]
    for size in sizes:
        hidden = max(1, round(size / 79.4))
        net = random_net(4, (784, hidden, 10), 4, 0.1)
        if nonzero_count(net) > netfile.LIMITS["nonzero"]:
            steps_s, plain, shared = phases(None, net)
            line = (f"| {nonzero_count(net)} | 784-{hidden}-10 | {plain} / {shared} | - | - | - | "
                    + " | ".join("-" if steps_s[k] != steps_s[k] else f"{steps_s[k]:.1f}"
                                 for k in steps) + " |")
            progress(line)
            lines.append(line)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "net.pt"
            netfile.save(net, path)
            cmd = [sys.executable, "-m", "lwc", "compile", str(path), "--target", "verilog",
                   "-o", str(Path(tmp) / "out")]
            t = time.monotonic()
            run = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *cmd], capture_output=True,
                                 text=True)
            seconds = time.monotonic() - t
            if run.returncode:
                raise RuntimeError(run.stderr[-3000:])
            peak, user, system = run.stderr.strip().splitlines()[-1].split()
            peak, cpu = int(peak) / 1024, float(user) + float(system)
            steps_s, plain, shared = phases(path)
        line = (f"| {nonzero_count(net)} | 784-{hidden}-10 | {plain} / {shared} | "
                f"{seconds:.1f} | {cpu:.1f} | {peak:.0f} | "
                + " | ".join(f"{steps_s[k]:.1f}" for k in steps) + " |")
        progress(line)
        lines.append(line)
    return "\n".join(lines)


def fan_in_net(exponent, bits, seed=5):
    """One linear neuron reading all of ``2**exponent`` inputs of ``bits`` bits with random
    +-1 weights (``bits`` 1: a compressor tree; more: an adder tree)."""
    n = 1 << exponent
    w = np.random.default_rng(seed).choice([-1, 1], size=(1, n))
    return ir.from_dense(ir.InputSpec(n, bits), [(w, ir.Activation("linear"), [0])], ["a"])


def fan_in(exponents, *, progress=print):
    """Seconds (wall, in this process) to compile one neuron of fan-in ``2**e`` for each ``e`` in
    ``exponents`` and write its Verilog, on one-bit and two-bit inputs, with sharing on (what
    ``lwc compile --target verilog`` does after loading; fan-ins above the net file's 65,536
    inputs are built in memory)."""
    lines = ["| fan-in | bits | passes + plan s | Verilog s | total s |",
             "|---:|---:|---:|---:|---:|"]
    for exponent in exponents:
        for bits in (1, 2):
            net = fan_in_net(exponent, bits)
            t = time.monotonic()
            design = compile_design(net)
            middle = time.monotonic()
            design.verilog()
            end = time.monotonic()
            line = (f"| 2^{exponent} | {bits} | {middle - t:.1f} | {end - middle:.1f} | "
                    f"{end - t:.1f} |")
            progress(line)
            lines.append(line)
    return "\n".join(lines)


def table_cost(bits_list, *, neurons=8, progress=print):
    """LUT4s per neuron of a step layer of ``neurons`` random neurons, each reading all ``b``
    one-bit inputs with +-1 weights and a threshold near the middle, for each ``b`` of
    ``bits_list``: built as truth tables and as compressor trees with comparisons
    (``synth_ice40`` of the layer alone, registers included). What the ``tabulate`` pass's cost
    model (:func:`lwc.compiler.passes.tabulate.table_luts`) was read from."""
    import json

    from fpga import _cells, _yosys

    from lwc.compiler.lower import layer_specs
    from lwc.hw import TernaryLayer

    lines = ["| input bits | table LUT4 / neuron | sum LUT4 / neuron | sum carry / neuron |",
             "|---:|---:|---:|---:|"]
    for bits in bits_list:
        rng = np.random.default_rng(bits)
        w = rng.choice([-1, 1], size=(neurons, bits))
        mid = (w.clip(0, None).sum(axis=1) - (-w).clip(0, None).sum(axis=1)) // 2
        net = ir.from_dense(ir.InputSpec(bits, 1), [
            (w, ir.Activation("step"), mid + rng.integers(0, 2, neurons)),
            (np.eye(1, neurons, dtype=np.int64), ir.Activation("linear"), [0])], ["a"])
        row = []
        for tables in ("all", "off"):
            compiled = passes.run(net, passes.pipeline(share=False, tables=tables))
            spec = layer_specs(compiled)[0]
            assert all(n.table == (tables == "all") for n in spec.neurons)
            layer = TernaryLayer(spec, [(0, 1)] * bits, index=0)
            with tempfile.TemporaryDirectory() as work:
                Path(work, "layer.il").write_text(rtlil.convert(layer, name="layer",
                                                                emit_src=False))
                _yosys(["read_rtlil layer.il", "synth_ice40 -top layer",
                        "tee -q -o stat.json stat -json"], work)
                cells = _cells(json.loads(Path(work, "stat.json").read_text()))
            row.append((cells.get("SB_LUT4", 0) / len(spec.neurons),
                        cells.get("SB_CARRY", 0) / len(spec.neurons)))
        line = (f"| {bits} | {row[0][0]:.1f} | {row[1][0]:.1f} | {row[1][1]:.1f} |")
        progress(line)
        lines.append(line)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=None,
                        help=f"comma-separated, from: {', '.join(NETS)} (default: "
                             f"{','.join(DEFAULT_NETS)}; with --adders "
                             f"{','.join(MNIST_NETS)},digits,digits-demo)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--device", choices=list(DEVICES), default=None,
                        help="place on this device only (default: the smallest that fits)")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the Icarus simulations (RTL and gate level)")
    parser.add_argument("--no-gate-level", action="store_true",
                        help="skip the gate-level simulation (a second synthesis of each design)")
    parser.add_argument("--speed", action="store_true", help="compile-time figures instead")
    parser.add_argument("--adders", action="store_true",
                        help="adder counts without / with sharing instead (no synthesis)")
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="nonzero weights of the --speed nets")
    parser.add_argument("--fan-in", default=None, metavar="E,...",
                        help="compile time of one neuron of fan-in 2**E instead (e.g. "
                             "14,15,16,17,18)")
    parser.add_argument("--table-cost", default=None, metavar="B,...",
                        help="LUT4s of neurons over B one-bit inputs as truth tables and as "
                             "sums instead (e.g. 2,3,4,5,6,7,8,9,10)")
    args = parser.parse_args()
    for option, given, known in (("--nets", args.nets, NETS), ("--variants", args.variants,
                                                               VARIANTS)):
        unknown = [k for k in (given or "").split(",") if k and k not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (choose from "
                         f"{', '.join(known)})")
    if args.table_cost:
        print(table_cost([int(b) for b in args.table_cost.split(",")],
                         progress=lambda line: None))
        return
    if args.fan_in:
        print(fan_in([int(e) for e in args.fan_in.split(",")], progress=lambda line: None))
        return
    if args.speed:
        print(speed([int(s) for s in args.sizes.split(",")]))
        return
    if args.adders:
        names = args.nets.split(",") if args.nets else [*MNIST_NETS, "digits", "digits-demo"]
        print(adders_table(names, progress=lambda line: None))
        return
    results = []
    for name in (args.nets.split(",") if args.nets else DEFAULT_NETS):
        description, build = NETS[name]
        net = build()
        nonzero = nonzero_count(net)
        print(f"{name}: {description}, {nonzero} nonzero weights", flush=True)
        rows = measure(net, args.variants.split(","), check=not args.no_check,
                       gate_level=not args.no_gate_level, device=args.device,
                       progress=lambda s: print(s, flush=True))
        results.append((name, description, nonzero, rows))
    print()
    print(format_table(results))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"\n(tool CPU time {usage.ru_utime + usage.ru_stime:.0f} s)")


if __name__ == "__main__":
    main()
