"""lwc and da4ml side by side on the same constant ternary matrix ``y = W @ x``.

For each matrix, lwc builds its datapath (the compiler passes, with sharing where lwc shares, then
one :class:`~lwc.hw.TernaryLayer` of linear neurons: adder trees, or compressor trees for one-bit
inputs) and da4ml (PyPI ``da4ml``, ``pip install -e '.[peers]'``) its adder graph, traced with its
default solver options and written as its combinational Verilog. Both become the same bare block,
``lwc_net`` with stream ports: the input payload (``x``, unsigned ``bits`` each) straight into the
arithmetic, every output registered (one cycle of latency), sign-extended to one common width.
Both are then

* simulated with Icarus Verilog on random and adversarial vectors (all zeros, all ones, all
  largest) and compared with ``W @ x`` (a mismatch stops the benchmark);
* synthesized with the same Yosys ``synth_ice40`` inside ``bench/fpga.py``'s wrapper (lwc from
  Amaranth's RTLIL, as the bitstream build does; da4ml from its Verilog) and, where the LUT4s fit,
  placed and routed with nextpnr on the UP5K (``--device``).

``adders`` counts two-input adders: for lwc :func:`lwc.compiler.stats.adder_count` (one per shared
node and ``terms - 1`` per neuron; a one-bit compressor tree is counted the same way, though it is
built of full adders), for da4ml the add/subtract operations of its traced graph. FF and logic
cells leave out the wrapper's input shift register (one per input bit), as ``bench/compiler.py``
does; LUT4 includes the wrapper's XOR of the outputs, the same for both designs. Run it as::

    nice -n 10 python bench/da4ml_compare.py --quick                  # a few minutes
    nice -n 10 python bench/da4ml_compare.py --sizes 784x256 --densities 0.05,0.1,0.2 --bits 1,4
    nice -n 10 python bench/da4ml_compare.py --sizes none --net build/bench/digits-demo.pt
    nice -n 10 python bench/da4ml_compare.py --sizes none --sweep build/sweep-mnist  # its fronts
    nice -n 10 python bench/da4ml_compare.py --quick --sharing-only   # adders of each sharing
    nice -n 10 python bench/da4ml_compare.py --quick --share-tries 16 --share-refine

``--sharing-only`` synthesizes nothing: it prints lwc's adders with each way of sharing (greedy,
the best of several randomized greedy runs, the ILP over their sub-sums, the ILP over every
sub-sum two neurons can share and its lower bound) next to da4ml's; ``--share-*`` build lwc's
design with those options of the ``share`` pass.

Figures are cached in ``build/bench`` by the hash of each design (``bench/fpga.py``).
"""

import argparse
import dataclasses
import functools
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from amaranth.back import rtlil, verilog  # noqa: E402
from amaranth.hdl import Cat, Module, Signal, signed, unsigned  # noqa: E402
from amaranth.lib import stream, wiring  # noqa: E402
from amaranth.lib.wiring import In, Out  # noqa: E402
from fpga import DEVICES, place, synthesize  # noqa: E402
from iverilog_check import simulate_stream  # noqa: E402

from lwc.compiler import ir, netfile, passes  # noqa: E402
from lwc.compiler.lower import layer_specs  # noqa: E402
from lwc.compiler.stats import adder_count  # noqa: E402
from lwc.hw import TernaryLayer  # noqa: E402

#: The da4ml release these figures are measured with (the ``peers`` extra pins it).
DA4ML_VERSION = "0.6.0"


@dataclass(frozen=True)
class Case:
    """One benchmark matrix: ``weights`` (outputs x inputs, in -1/0/+1) over unsigned inputs of
    ``bits`` bits."""

    name: str
    weights: np.ndarray
    bits: int

    @property
    def shape(self):
        return self.weights.shape

    @property
    def nonzero(self):
        return int(np.count_nonzero(self.weights))

    @property
    def output_width(self):
        """Bits of each output in the payload: the two's complement of the widest row's sums."""
        top = (1 << self.bits) - 1
        pos = (self.weights > 0).sum(axis=1) * top
        neg = (self.weights < 0).sum(axis=1) * top
        return max(int(max(pos.max(initial=0), neg.max(initial=0))).bit_length() + 1, 1)


def random_case(rows, cols, density, bits, seed=0):
    """A random ternary ``rows x cols`` matrix with ``density`` of nonzero entries, half -1."""
    rng = np.random.default_rng(seed)
    w = rng.choice([-1, 0, 1], size=(rows, cols), p=[density / 2, 1 - density, density / 2])
    return Case(f"random {cols}x{rows} {density:.0%} {bits}b", w.astype(np.int64), bits)


def net_case(path):
    """The first layer of the trained net at ``path``: its weights over every input feature."""
    net = netfile.load(str(path))
    w = ir.dense_weights(ir.unshare(net), 0, full_inputs=True)
    if np.abs(w).max(initial=0) > 1:
        sys.exit(f"{path}: the first layer has weights beyond -1/0/+1; this benchmark compares "
                 f"ternary matrices")
    path = Path(path)
    name = path.parent.name if path.name == "net.pt" else path.stem  # lwc train -o DIR/
    return Case(f"{name} layer 0", np.asarray(w, dtype=np.int64), net.input.bits)


def sweep_nets(out_dir):
    """The trained nets (``net.pt`` paths, each once, in front order) of the points on the fronts
    of the sweep in ``out_dir`` (``lwc sweep -o DIR``: its ``results.json``)."""
    import json

    from lwc.sweep import DEFAULT_FRONT, front_rows

    out_dir = Path(out_dir)
    try:
        result = json.loads((out_dir / "results.json").read_text())
        rows, figures = result["rows"], result.get("front", DEFAULT_FRONT)
    except (OSError, ValueError, KeyError) as exc:
        sys.exit(f"{out_dir}: not a finished sweep ({exc})")
    return list(dict.fromkeys(out_dir / r["net"] for r in front_rows(rows, figures)))


def golden(case, x):
    """``W @ x`` for the rows of ``x``: the one reference both designs must match."""
    return x @ case.weights.T


def vectors(case, count, seed=1):
    """Random inputs, then all zeros, all ones and all at the largest value."""
    rng = np.random.default_rng(seed)
    n = case.shape[1]
    top = (1 << case.bits) - 1
    x = rng.integers(0, top + 1, size=(count, n))
    return np.vstack([x, np.zeros(n, np.int64), np.ones(n, np.int64), np.full(n, top)])


# lwc


class MatrixDatapath(wiring.Component):
    """lwc's datapath for ``y = W @ x`` alone: the compiled one-layer linear net's
    :class:`~lwc.hw.TernaryLayer` (lwc's hardware defaults: adders kept apart, compressor trees
    for one-bit inputs), each output sign-extended to ``width`` bits in the output payload.

    Members
    -------
    i : ``In(stream.Signature(inputs * bits))``
        ``x``, input ``k`` in bits ``[k * bits, (k + 1) * bits)``; always ready.
    o : ``Out(stream.Signature(outputs * width))``
        ``y``, one cycle after ``x``.
    """

    def __init__(self, compiled, width):
        self._net = compiled
        self._width = width
        bits = compiled.input.bits
        ranges = [(0, compiled.input.max_value)] * len(compiled.input_map)
        (spec,) = layer_specs(compiled)
        self._layer = TernaryLayer(spec, ranges, index=0)
        assert self._layer.latency == 1
        super().__init__({
            "i": In(stream.Signature(unsigned(compiled.input.count * bits))),
            "o": Out(stream.Signature(unsigned(compiled.output_count * width))),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.layer = layer = self._layer
        bits = self._net.input.bits
        for j, k in enumerate(self._net.input_map):
            m.d.comb += getattr(layer, f"x{j}").eq(self.i.payload[k * bits:(k + 1) * bits])
        outputs = [None] * self._net.output_count
        for neuron, y in zip(self._net.layers[0].neurons, layer.outputs):
            wide = Signal(signed(self._width), name=f"y{neuron.origin}")
            m.d.comb += wide.eq(y)
            outputs[neuron.origin] = wide
        assert all(y is not None for y in outputs)
        m.d.comb += [layer.en.eq(1), self.i.ready.eq(1), self.o.payload.eq(Cat(*outputs))]
        m.d.sync += self.o.valid.eq(self.i.valid)
        return m


def share_pass(**options):
    """The ``share`` pass with ``options`` (:func:`lwc.compiler.passes.share`'s: ``one_bit``,
    ``tries``, ``refine``, ...); the pass itself when there are none."""
    if not options:
        return passes.share
    return dataclasses.replace(passes.share,
                               function=functools.partial(passes.share.function, **options))


def lwc_design(case, sharing=None):
    """``(rtlil, verilog, adders)`` of lwc's datapath for ``case``, its sub-sums shared by the
    ``share`` pass with the options ``sharing`` (a dict; lwc's defaults when ``None``)."""
    rows, cols = case.shape
    net = ir.from_dense(ir.InputSpec(cols, case.bits),
                        [(case.weights, ir.Activation("linear"), np.zeros(rows, np.int64))],
                        [str(j) for j in range(rows)], (("dataset", "matrix"),))
    chosen = tuple(share_pass(**(sharing or {})) if p is passes.share else p
                   for p in passes.pipeline())
    compiled = passes.run(net, chosen)
    assert compiled.output_count == rows
    top = MatrixDatapath(compiled, case.output_width)
    il = rtlil.convert(top, name="lwc_net", emit_src=False)
    text = verilog.convert(MatrixDatapath(compiled, case.output_width), name="lwc_net",
                           emit_src=False)
    return il, text, adder_count(compiled)


# da4ml


def da4ml_design(case):
    """``(verilog, adders)`` of da4ml's adder graph for ``case``, in the same ``lwc_net`` block."""
    from da4ml.codegen.rtl.verilog import comb_logic_gen
    from da4ml.trace import FixedVariableArrayInput, comb_trace
    from da4ml.types import minimal_kif

    rows, cols = case.shape
    inp = FixedVariableArrayInput((cols,))
    x = inp.quantize(k=0, i=case.bits, f=0)
    comb = comb_trace(inp, x @ case.weights.T.astype(np.float64))
    adders = sum(1 for op, refs in zip(comb.ops, comb.ref_count) if op.opcode in (0, 1) and refs)
    in_kif = [minimal_kif(q) for q in comb.inp_qint]
    out_kif = [minimal_kif(q) for q in comb.out_qint]
    # Its Verilog writes each output in units of its interval's step (the output shifts are
    # already in the interval): integers when no output has fractional bits.
    if any(comb.inp_shifts) or any(f for _, _, f in in_kif + out_kif):
        raise RuntimeError("da4ml gave an input or output of an integer matrix fractional bits; "
                           "this benchmark's block does not undo that")
    core = comb_logic_gen(comb, "da4ml_core")
    # The static modules the graph instantiates (shift_adder, negative, ...), from da4ml itself.
    import da4ml.codegen.rtl as rtl
    static = [p.read_text() for p in sorted((Path(rtl.__file__).parent / "verilog" /
                                             "source").glob("*.v"))
              if re.search(rf"\b{p.stem}\s+#", core)]
    width = case.output_width
    in_widths = [sum(kif) for kif in in_kif]
    assert all(w in (0, case.bits) for w in in_widths), in_widths
    model_in = [f"i__payload[{k * case.bits + w - 1}:{k * case.bits}]"
                for k, w in enumerate(in_widths) if w]
    out_widths = [sum(kif) for kif in out_kif]
    fields, at = [], 0
    for (keep_neg, _, _), w in zip(out_kif, out_widths):
        if w == 0:
            fields.append(f"{width}'d0")
        elif w < width:
            top = f"out_r[{at + w - 1}]" if keep_neg else "1'b0"
            fields.append(f"{{{{{width - w}{{{top}}}}}, out_r[{at + w - 1}:{at}]}}")
        else:  # da4ml's interval may be wider than the sums: W @ x fits the low `width` bits
            fields.append(f"out_r[{at + width - 1}:{at}]")
        at += w
    block = f"""
module lwc_net(input clk, input rst, input [{cols * case.bits - 1}:0] i__payload,
               input i__valid, output i__ready, output [{rows * width - 1}:0] o__payload,
               output reg o__valid, input o__ready);
  wire [{max(at, 1) - 1}:0] model_out;
  reg [{max(at, 1) - 1}:0] out_r = 0;
  initial o__valid = 0;
  da4ml_core core(.model_inp({{{", ".join(reversed(model_in))}}}), .model_out(model_out));
  always @(posedge clk) out_r <= model_out;
  always @(posedge clk) if (rst) o__valid <= 0; else o__valid <= i__valid;
  assign i__ready = 1'b1;
  assign o__payload = {{{", ".join(reversed(fields))}}};
endmodule
"""
    return "\n".join([core, *static, block]), adders


# The comparison


def check(case, sources, x, label):
    """Simulate ``sources`` (an ``lwc_net``) on ``x``; raise unless every output is ``W @ x``."""
    bits, width = case.bits, case.output_width
    words = [sum(int(v) << (k * bits) for k, v in enumerate(row)) for row in x]
    outputs = simulate_stream(sources, words, input_width=case.shape[1] * bits,
                              output_width=case.shape[0] * width, latency=1)
    want = golden(case, x)
    mask = (1 << width) - 1
    for b, word in enumerate(outputs):
        got = [(word >> (j * width)) & mask for j in range(case.shape[0])]
        got = [v - (1 << width) if v >> (width - 1) else v for v in got]
        bad = np.flatnonzero(np.array(got) != want[b])
        if len(bad):
            j = int(bad[0])
            raise AssertionError(f"{label} on {case.name}: vector {b}, output {j} is {got[j]}, "
                                 f"W @ x is {want[b][j]} ({len(bad)} outputs differ)")
    return len(outputs)


def measure(case, *, device="up5k", count=32, do_place=True, progress=print, sharing=None):
    """The figures of both designs for ``case``: ``{"lwc": {...}, "da4ml": {...}}`` (lwc's
    ``share`` pass with the options ``sharing``, see :func:`lwc_design`)."""
    in_bits = case.shape[1] * case.bits
    out_bits = case.shape[0] * case.output_width
    x = vectors(case, count)
    result = {}
    t = time.monotonic()
    il, text, adders = lwc_design(case, sharing)
    result["lwc"] = dict(source=il, rtlil=True, adders=adders, build_s=time.monotonic() - t)
    check(case, text, x, "lwc")
    t = time.monotonic()
    text, adders = da4ml_design(case)
    result["da4ml"] = dict(source=text, rtlil=False, adders=adders, build_s=time.monotonic() - t)
    check(case, text, x, "da4ml")
    progress(f"{case.name}: both designs equal W @ x on {len(x)} vectors; adders lwc "
             f"{result['lwc']['adders']}, da4ml {result['da4ml']['adders']}")
    for side, row in result.items():
        syn = synthesize(row.pop("source"), rtlil=row.pop("rtlil"), input_width=in_bits,
                         output_width=out_bits)
        row.update(lut4=syn["lut4"], carry=syn["carry"], ff=syn["ff"] - in_bits - 1,
                   synth_s=syn["seconds"], lcs=None, fmax=None)
        if do_place and syn["lut4"] + in_bits <= DEVICES[device][2]:
            pnr = place(syn, device)
            if pnr["fits"]:
                row.update(lcs=pnr["lcs"] - in_bits, fmax=pnr["fmax"])
        progress(f"  {side:<6} LUT4 {row['lut4']} carry {row['carry']} FF {row['ff']} "
                 f"LC {row['lcs']} Fmax {row['fmax']}")
    return result


def _ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "—"


def format_table(results, device):
    """Markdown table of ``[(case, figures)]``: both designs and lwc/da4ml per figure."""
    keys = ("adders", "lut4", "carry", "ff", "lcs", "fmax")
    head = ("| matrix | nonzero | design | adders | LUT4 | carry | FF | "
            f"logic cells ({device}) | Fmax MHz |")
    lines = [head, "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for case, fig in results:
        for k, side in enumerate(("lwc", "da4ml")):
            cells = ["—" if fig[side][key] is None else str(fig[side][key]) for key in keys]
            lines.append(f"| {case.name if k == 0 else ''} | {case.nonzero if k == 0 else ''} "
                         f"| {side} | {' | '.join(cells)} |")
        ratios = [_ratio(fig["lwc"][key], fig["da4ml"][key]) for key in keys]
        lines.append(f"| | | lwc/da4ml | {' | '.join(ratios)} |")
    return "\n".join(lines)


def sharing_figures(case, *, tries=16, time_limit=120.0, progress=print, memo=None):
    """Adders of ``case``'s matrix as lwc shares it, each way (no synthesis): ``plain`` (no
    sharing), ``greedy`` (the default pass), ``best_of`` (the cheapest of ``tries`` randomized
    greedy runs), ``refined`` (the ILP over their sub-sums), ``ilp`` (the ILP over every sub-sum
    two neurons can share, ``time_limit`` seconds; ``None`` when they are more than
    :data:`~lwc.compiler.passes.share_refine.MAX_POOL`), ``bound`` (the solver's lower bound on any
    sharing without cancelling terms, when that pool is complete; equal to ``ilp`` when proved
    optimal) and ``da4ml``; ``None`` where a figure is unknown. ``memo`` (a dict) keeps lwc's
    figures of each matrix for its other input widths (they do not depend on them; da4ml's do)."""
    from lwc.compiler.passes.share import share_layer
    from lwc.compiler.passes.share_refine import refine_layer

    memo = {} if memo is None else memo
    key = case.weights.tobytes()
    if key in memo:
        fig = dict(memo[key], da4ml=da4ml_design(case)[1])
        progress(f"{case.name}: {fig}")
        return fig
    rows, cols = case.shape
    net = ir.from_dense(ir.InputSpec(cols, case.bits),
                        [(case.weights, ir.Activation("linear"), np.zeros(rows, np.int64))],
                        [str(j) for j in range(rows)], (("dataset", "matrix"),))
    layer = net.layers[0]

    def adders(layer):
        return len(layer.shared) + sum(max(len(n.inputs) - 1, 0) for n in layer.neurons)

    greedy = share_layer(layer, cols)
    rng = np.random.default_rng(0)
    runs = [greedy] + [share_layer(layer, cols, rng=rng) for _ in range(tries - 1)]
    t = time.monotonic()
    refined = refine_layer(layer, cols, runs, time_limit=time_limit)
    refine_s = time.monotonic() - t
    info = {}
    t = time.monotonic()
    exact = refine_layer(layer, cols, runs, time_limit=time_limit, exhaustive=True, info=info)
    exact_s = time.monotonic() - t
    best = min(runs, key=adders)
    fig = dict(plain=adders(layer), greedy=adders(greedy), best_of=adders(best),
               refined=min(adders(refined), adders(best)) if refined else None,
               ilp=min(adders(exact), adders(best)) if exact and info["complete"] else None,
               optimal=info.get("optimal") and info.get("complete"),
               bound=(int(np.ceil(info["bound"] - 1e-6)) if info.get("complete")
                      and info.get("bound") is not None else None),
               pool=info.get("pool"), refine_s=refine_s, ilp_s=exact_s,
               da4ml=da4ml_design(case)[1])
    for name, shared in (("best_of", best), ("refined", refined), ("ilp", exact)):
        if shared is not None:  # the function is the same: the matrix of the expansion is W
            got = ir.dense_weights(ir.unshare(replace_layer(net, shared)), 0, full_inputs=True)
            assert np.array_equal(got, case.weights), name
    memo[key] = fig
    progress(f"{case.name}: {fig}")
    return fig


def replace_layer(net, layer):
    """``net`` with its (only) layer replaced by ``layer``."""
    return dataclasses.replace(net, layers=(layer,))


def format_sharing(results, tries):
    """Markdown table of ``[(case, sharing_figures)]``."""
    lines = [f"| matrix | nonzero | plain | greedy | best of {tries} | ILP over their sub-sums | "
             "ILP over all | lower bound | da4ml | greedy/da4ml | best/da4ml |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case, f in results:
        best = min(v for v in (f["best_of"], f["refined"], f["ilp"]) if v is not None)
        cells = [f["plain"], f["greedy"], f["best_of"], f["refined"],
                 None if f["ilp"] is None else f"{f['ilp']}{' (optimal)' if f['optimal'] else ''}",
                 f["bound"], f["da4ml"]]
        cells = ["—" if c is None else str(c) for c in cells]
        lines.append(f"| {case.name} | {case.nonzero} | {' | '.join(cells)} | "
                     f"{_ratio(f['greedy'], f['da4ml'])} | {_ratio(best, f['da4ml'])} |")
    return "\n".join(lines)


QUICK = dict(sizes="64x16,128x32", densities="0.1,0.2", bits="1,4")


def cases_from(sizes, densities, bits, nets, seed=0):
    """The benchmark's :class:`Case` s: every size x density x bits, then each net's layer 0."""
    cases = []
    for size in [s for s in sizes.split(",") if s and s != "none"]:
        cols, rows = (int(v) for v in size.split("x"))
        for d in (float(v) for v in densities.split(",")):
            for b in (int(v) for v in bits.split(",")):
                cases.append(random_case(rows, cols, d, b, seed))
    return cases + [net_case(path) for path in nets]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256x64",
                        help="comma-separated INPUTSxOUTPUTS of random matrices ('none': none)")
    parser.add_argument("--densities", default="0.05,0.1,0.2", help="nonzero fractions")
    parser.add_argument("--bits", default="1,4", help="input bits")
    parser.add_argument("--net", action="append", default=[],
                        help="a trained net.pt whose first layer is compared (repeatable)")
    parser.add_argument("--sweep", action="append", default=[], metavar="DIR",
                        help="compare the first layer of every net on the fronts of the sweep in "
                             "DIR (lwc sweep -o DIR; repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help=f"small matrices: {QUICK['sizes']} at {QUICK['densities']}, "
                             f"{QUICK['bits']} bit")
    parser.add_argument("--device", default="up5k", choices=sorted(DEVICES))
    parser.add_argument("--no-place", action="store_true", help="synthesis figures only")
    parser.add_argument("--vectors", type=int, default=32, help="random vectors per check")
    parser.add_argument("--sharing-only", action="store_true",
                        help="no synthesis: lwc's adders with each sharing method (greedy, best "
                             "of --share-tries runs, ILPs, lower bound) against da4ml's")
    parser.add_argument("--ilp-seconds", type=float, default=120.0,
                        help="time limit of each ILP solve (--sharing-only, --share-refine)")
    parser.add_argument("--share-one-bit", action="store_true",
                        help="lwc: share sub-sums in one-bit layers too (share pass one_bit)")
    parser.add_argument("--share-tries", type=int, default=None, metavar="N",
                        help="lwc: N randomized greedy sharing runs, the cheapest kept "
                             "(share pass tries)")
    parser.add_argument("--share-refine", action="store_true",
                        help="lwc: refine the sharing with an ILP over the candidates of the "
                             "greedy runs (share pass refine; small layers only)")
    args = parser.parse_args()
    sharing = {}
    if args.share_one_bit:
        sharing["one_bit"] = True
    if args.share_tries is not None:
        sharing["tries"] = args.share_tries
    if args.share_refine:
        sharing.update(refine=True, refine_limit=args.ilp_seconds)
    try:
        import da4ml
    except ImportError:
        sys.exit("da4ml is not installed: pip install -e '.[peers]'")
    if da4ml.__version__ != DA4ML_VERSION:
        print(f"note: da4ml {da4ml.__version__}, the figures in docs/benchmarks.md are "
              f"{DA4ML_VERSION}'s", file=sys.stderr)
    if args.quick:
        args.sizes, args.densities, args.bits = QUICK["sizes"], QUICK["densities"], QUICK["bits"]
    nets = args.net + [path for out_dir in args.sweep for path in sweep_nets(out_dir)]
    cases = cases_from(args.sizes, args.densities, args.bits, nets)
    if args.sharing_only:
        tries, memo = args.share_tries or 16, {}
        rows = [(case, sharing_figures(case, tries=tries, time_limit=args.ilp_seconds, memo=memo,
                                       progress=lambda line: print(line, file=sys.stderr,
                                                                   flush=True)))
                for case in cases]
        print(format_sharing(rows, tries))
        return
    results = []
    for case in cases:
        fig = measure(case, device=args.device, count=args.vectors, do_place=not args.no_place,
                      progress=lambda line: print(line, file=sys.stderr, flush=True),
                      sharing=sharing)
        results.append((case, fig))
    print(format_table(results, args.device))
    seconds = Counter()
    for _, fig in results:
        for side in fig:
            seconds[side] += fig[side]["build_s"]
    print(f"\nbuild time (lwc passes + Amaranth; da4ml trace): lwc {seconds['lwc']:.0f} s, "
          f"da4ml {seconds['da4ml']:.0f} s")


if __name__ == "__main__":
    main()
