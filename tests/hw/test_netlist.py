"""One description of the hardware: the Verilog ``lwc compile`` writes (``net.v``) and the Amaranth
design the bitstream is built from are the same circuit.

Both are printed from one netlist (:mod:`lwc.hw.netlist`); these tests prove them equivalent with
Yosys (a check that fails if they drift, shown failing on a one-operator change), and build the
written Verilog in Verilator against the golden model, on hypothesis-drawn nets with integer
weights duplicated across neurons and signs (issue 16).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import unsigned
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwc.boards.toolchain import tool_path, toolchain_env
from lwc.compiler import golden, ir, passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.lower import plan, write_verilog
from lwc.hw import ParallelPlan, StreamingNetwork, TernaryNetwork, network_verilog
from lwc.hw.netlist import Netlist
from lwc.sim import runner

from helpers import fan_in_network

# --- nets --------------------------------------------------------------------------------------


def issue16_net():
    """The minimal case of issue 16: one 2-bit input read with weight 3 by two step neurons."""
    return ir.from_dense(ir.InputSpec(1, 2), [
        (np.array([[3], [3]]), ir.Activation("step"), np.array([3, 3])),
        (np.array([[1, 0], [0, 1]]), ir.Activation("linear"), np.array([0, 0])),
    ], ["a", "b"])


def _params(draw, kind, w, in_max):
    """Per-neuron parameters of ``kind`` around and beyond the reachable sums of ``w``."""
    reach = int(np.abs(w).sum(axis=1).max(initial=0)) * in_max
    t = st.integers(-reach - 1, reach + 1)
    if kind == "ternary":
        lo = np.array([draw(t) for _ in range(len(w))], dtype=np.int64)
        gap = np.array([draw(st.integers(1, 3)) for _ in range(len(w))], dtype=np.int64)
        return np.stack([lo, lo + gap], 1)
    return np.array([draw(t) for _ in range(len(w))], dtype=np.int64)


@st.composite
def integer_nets(draw, max_inputs=4, max_hidden=4):
    """Small nets whose weights are ``+-m`` for a few magnitudes ``m`` up to 127; a neuron's row is
    often a copy of an earlier neuron's, negated or not, so the same scaled input is read by
    several neurons with both signs."""
    n_in, bits = draw(st.integers(1, max_inputs)), draw(st.integers(1, 3))
    sizes = [n_in, *draw(st.lists(st.integers(1, max_hidden), min_size=1, max_size=2)),
             draw(st.integers(1, 3))]
    mags = draw(st.lists(st.integers(1, 127), min_size=1, max_size=3))
    weight = st.one_of(st.just(0), st.sampled_from(mags).flatmap(lambda m: st.sampled_from(
        [m, -m])))

    def rows(n_out, n_in):
        out = []
        for _ in range(n_out):
            if out and draw(st.booleans()):
                source = out[draw(st.integers(0, len(out) - 1))]
                sign = draw(st.sampled_from([1, -1]))
                out.append([sign * w for w in source])
            else:
                out.append([draw(weight) for _ in range(n_in)])
        return np.array(out, dtype=np.int64).reshape(n_out, n_in)

    layers, in_max = [], (1 << bits) - 1
    for li, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = rows(b, a)
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"),
                           np.array([draw(st.integers(-5, 5)) for _ in range(b)])))
            break
        kind = draw(st.sampled_from(["step", "ternary", "clip"]))
        if kind == "clip":
            act = ir.Activation("clip", shift=draw(st.integers(0, 3)),
                                bits=draw(st.integers(1, 3)))
            out_max = (1 << act.bits) - 1
        else:
            act, out_max = ir.Activation(kind), 1
        layers.append((w, act, _params(draw, kind, w, in_max)))
        in_max = out_max
    return ir.from_dense(ir.InputSpec(n_in, bits), layers, [f"c{k}" for k in range(sizes[-1])])


def _seeded(seed, *, inputs=6, hidden=(6, 5), outputs=3, bits=2):
    """A fixed net with weights +-2, +-3, +-5 and +-127, half its rows copies of earlier ones
    (negated or not); step then ternary hidden layers."""
    rng = np.random.default_rng(seed)
    sizes = [inputs, *hidden, outputs]
    layers, in_max = [], (1 << bits) - 1
    for li, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([2, 3, 5, 127], size=(b, a)) * rng.choice([-1, 1], size=(b, a))
        w *= rng.random((b, a)) < 0.6
        for row in range(1, b, 2):
            w[row] = w[rng.integers(row)] * rng.choice([-1, 1])
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-5, 6, b)))
            break
        mid = (np.clip(w, 0, None).sum(axis=1) + np.clip(w, None, 0).sum(axis=1)) * in_max // 2
        if li % 2:
            layers.append((w, ir.Activation("ternary"), np.stack([mid - 3, mid + 3], 1)))
        else:
            layers.append((w, ir.Activation("step"), mid + rng.integers(-3, 4, b)))
        in_max = 1
    return ir.from_dense(ir.InputSpec(inputs, bits), layers, [f"c{k}" for k in range(outputs)])


def _all_kinds_net(rng, make_network):
    net = make_network(rng, inputs=9, hidden=(7, 6, 5), outputs=3, bits=2, density=0.7,
                       kinds=("step",))
    # One hidden layer of each kind: re-draw until the three differ.
    while [layer.activation.kind for layer in net.layers[:-1]] != ["step", "ternary", "clip"]:
        net = make_network(rng, inputs=9, hidden=(7, 6, 5), outputs=3, bits=2, density=0.7)
    return net


# --- Yosys equivalence ---------------------------------------------------------------------------

EQUIV_SCRIPT = """read_rtlil gold.il
read_verilog gate.v
proc
setattr -mod -unset top
flatten -nocleanup
cd gold
{renames}
cd ..
memory
opt_clean
equiv_make gold gate equiv
hierarchy -top equiv
equiv_simple -seq 2
equiv_induct -seq 2
equiv_status -assert
"""


def _part_renames(gold_il, gate_v):
    """Yosys ``rename`` commands that give the signals of the Amaranth design's parts their own
    names once it is flattened (``layer0.l0_n3_sum`` is ``l0_n3_sum``), as net.v (one flat
    module) names them. Amaranth names every wire after the signal whose value it carries, so a
    name stands for one value wherever it occurs; a name the top module has keeps its own.
    Where net.v has the same parts (it is Amaranth's own design, written by Yosys), both
    flattened designs have the same names: nothing is renamed."""
    modules = dict(re.findall(r"^module \\(\S+)\n(.*?)^end$", gold_il, re.MULTILINE | re.DOTALL))
    wire = re.compile(r"^  wire [^\\\n]*\\(\S+)$", re.MULTILINE)
    taken = set(wire.findall(modules["gold"]))
    gate_names = set(re.findall(r"[A-Za-z_]\w*", gate_v))
    renames = []
    for module, instance in re.findall(r"^  cell \\(gold\.\S+) \\(\S+)$", modules["gold"],
                                       re.MULTILINE):
        if f"module \\gate.{instance}" in gate_v:
            continue
        for name in wire.findall(modules[module]):
            if name in gate_names and name not in taken:
                taken.add(name)
                renames.append(f"rename {instance}.{name} {name}")
    return "\n".join(renames)


@pytest.fixture(scope="module")
def yosys():
    env = toolchain_env()
    return tool_path("yosys", env), env


def _proven(gold_il, gate_v, work, yosys):
    """Whether Yosys proves the Amaranth design ``gold_il`` (RTLIL, module ``gold``) and the
    Verilog ``gate_v`` (module ``gate``) equivalent: every signal of one name equal in both, for
    every reachable state."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "gold.il").write_text(gold_il)
    (work / "gate.v").write_text(gate_v)
    (work / "equiv.ys").write_text(EQUIV_SCRIPT.format(renames=_part_renames(gold_il, gate_v)))
    exe, env = yosys
    run = subprocess.run([exe, "-q", "-l", "equiv.log", "equiv.ys"], cwd=work, env=env,
                         capture_output=True, text=True)
    log = (work / "equiv.log").read_text()
    return run.returncode == 0 and "Equivalence successfully proven!" in log


def _designs(design):
    """``(RTLIL of the component the bitstream is built from, net.v)`` of a plan."""
    component = (TernaryNetwork if isinstance(design, ParallelPlan) else StreamingNetwork)(design)
    return (rtlil.convert(component, name="gold", emit_src=False),
            write_verilog(design, name="gate"))


def _cases(rng, make_network):
    shared = make_network(rng, inputs=10, hidden=(9, 6), outputs=4, bits=3, density=0.8,
                          kinds=("ternary", "clip"))
    one_bit = make_network(rng, inputs=16, hidden=(10,), outputs=3, bits=1, density=0.6,
                           kinds=("step",))
    kinds = _all_kinds_net(rng, make_network)
    integer = _seeded(1)
    tables = fan_in_network(rng, inputs=12, hidden=(10, 8), outputs=3, bits=1, fan_in=3,
                            kinds=("step", "ternary", "clip"))
    return {
        "tables": (tables, {}),
        "tables-pipelined": (tables, {"register_every": 1}),
        "issue16": (issue16_net(), {}),
        "shared": (shared, {}),
        "shared-pipelined": (shared, {"register_every": 1}),
        "compressor": (one_bit, {}),
        "all-kinds": (kinds, {"register_every": 2}),
        "integer": (integer, {}),
        "integer-pipelined": (integer, {"register_every": 1}),
        "streaming": (kinds, {"architecture": Streaming(4, 2)}),
        "streaming-integer": (integer, {"architecture": Streaming(2)}),
    }


CASES = ["issue16", "shared", "shared-pipelined", "compressor", "all-kinds", "integer",
         "integer-pipelined", "streaming", "streaming-integer", "tables", "tables-pipelined"]


@pytest.mark.yosys
@pytest.mark.parametrize("case", CASES)
def test_net_v_is_the_bitstream_design(case, rng, make_network, yosys, tmp_path):
    net, options = _cases(rng, make_network)[case]
    compiled = passes.run(net, passes.pipeline(tables="all" if case.startswith("tables")
                                               else "off"))
    if case.startswith("tables"):
        assert any(n.table for layer in compiled.layers for n in layer.neurons)
    if case == "shared":
        assert any(layer.shared for layer in compiled.layers)
    if case.startswith("integer"):
        assert any(abs(w) > 1 for layer in compiled.layers for n in layer.neurons
                   for w in n.weights)
    gold, gate = _designs(plan(compiled, **options))
    assert _proven(gold, gate, tmp_path, yosys)


@pytest.mark.yosys
def test_the_equivalence_check_fails_on_drift(rng, make_network, yosys, tmp_path):
    """One changed operator in net.v, and the proof fails: the check would notice a drift."""
    net, options = _cases(rng, make_network)["shared"]
    gold, gate = _designs(plan(passes.run(net), **options))
    assert _proven(gold, gate, tmp_path / "same", yosys)
    drifted = re.sub(r"(assign tree_\w+ = [^;]*?) \+ ", r"\1 - ", gate, count=1)
    assert drifted != gate
    assert not _proven(gold, drifted, tmp_path / "drifted", yosys)


# --- parts: the design's hierarchy --------------------------------------------------------------

def test_layers_and_argmax_are_parts():
    """Each layer and the argmax is a submodule of the Amaranth design (named in timing reports
    and seen by synthesis as when they were components); net.v is one flat module with the same
    signal names."""
    design = plan(passes.run(issue16_net()))
    gold = rtlil.convert(TernaryNetwork(design), name="gold", emit_src=False)
    modules = re.findall(r"^module \\(\S+)$", gold, re.M)
    assert modules == ["gold", "gold.layer0", "gold.layer1", "gold.argmax"]
    layer0 = gold.split("module \\gold.layer0\n")[1].split("\nend\n")[0]
    assert re.search(r"wire width \d+ \\l0_n0_sum$", layer0, re.M)
    text = network_verilog(design)
    assert text.count("module ") == 1 and "l0_n0_sum" in text


def test_parts_do_not_nest_and_hold_no_ports():
    nl = Netlist()
    with nl.scope("layer0"):
        with pytest.raises(AssertionError, match="part 'argmax' inside part 'layer0'"):
            nl.scope("argmax").__enter__()
        with pytest.raises(AssertionError, match="port 'x' inside part 'layer0'"):
            nl.input("x", unsigned(1))
    assert nl.input("x", unsigned(1)).scope is None


# --- issue 16: names are given once ---------------------------------------------------------

def _declarations(text):
    return re.findall(r"^\s*(?:input|output|wire|reg)\b[^;=]*?(\w+)\s*[;=]", text, re.M)


def test_issue16_scaled_input_is_declared_once():
    text = network_verilog(plan(passes.run(issue16_net())))
    names = _declarations(text)
    assert names.count("l0_x0_x3") == 1
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(net=integer_nets())
def test_every_signal_is_declared_once(net):
    for options in ({}, {"register_every": 1}):
        text = network_verilog(plan(passes.run(net), **options))
        names = _declarations(text)
        assert len(names) == len(set(names))


# --- Verilator against the golden model -------------------------------------------------------

needs_verilator_timing = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("c++") is None
    or not runner.verilator_timing_supported(),
    reason="Verilator --timing needs make and a C++20 compiler with coroutines")


def _verilator_outputs(cases, work):
    """Build the written Verilog of each ``(net, x)`` in ``cases`` (as modules ``net0``, ...) into
    one Verilator binary that streams ``x`` through it, one vector per clock; return the
    ``(labels, scores)`` of each."""
    work.mkdir(parents=True, exist_ok=True)
    tb = ["module tb;", "  reg clk = 0;", "  integer t;"]
    stimulus, shown, sources, total, designs = [], [], ["tb.v"], 0, []
    for k, (net, x) in enumerate(cases):
        design = plan(passes.run(net))
        designs.append(design)
        (work / f"net{k}.v").write_text(network_verilog(design, f"net{k}"))
        sources.append(f"net{k}.v")
        bits, width = design.input_bits, design.input_count * design.input_bits
        out = design.label_width + design.n_classes * design.score_width
        words = [sum(int(v) << (j * bits) for j, v in enumerate(row)) for row in x]
        (work / f"net{k}.hex").write_text("".join(f"{w:x}\n" for w in words))
        tb += [f"  reg [{width - 1}:0] mem{k} [0:{len(x) - 1}];",
               f"  reg [{width - 1}:0] in{k} = 0;", f"  reg v{k} = 0;",
               f"  wire r{k}, ov{k};", f"  wire [{out - 1}:0] o{k};",
               f"  net{k} dut{k}(.clk(clk), .rst(1'b0), .i__payload(in{k}), .i__valid(v{k}), "
               f".i__ready(r{k}), .o__payload(o{k}), .o__valid(ov{k}), .o__ready(1'b1));"]
        stimulus.append(f'    $readmemh("net{k}.hex", mem{k});')
        shown += [f"      v{k} = t < {len(x)};", f"      in{k} = t < {len(x)} ? mem{k}[t] : 0;"]
        total = max(total, len(x) + design.latency + 1)
    tb += ["  initial begin", *stimulus, f"    for (t = 0; t < {total}; t = t + 1) begin",
           *shown, "      #1 clk = 1;", "      #1 clk = 0;",
           *(f'      if (ov{k}) $display("{k} %h", o{k});' for k in range(len(cases))),
           "    end", "    $finish;", "  end", "endmodule"]
    (work / "tb.v").write_text("\n".join(tb) + "\n")
    verilator = Path(sys.executable).parent / "verilator-cli"
    build = subprocess.run([str(verilator) if verilator.exists() else "verilator", "--binary",
                            "--timing", "-Wno-fatal", "-Wno-lint", "--top-module", "tb",
                            "-Mdir", "obj", "-o", "sim", *sources],
                           cwd=work, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "Duplicate declaration" not in build.stdout + build.stderr
    lines = subprocess.run(["obj/sim"], cwd=work, check=True, capture_output=True,
                           text=True).stdout.splitlines()
    results = []
    for k, design in enumerate(designs):
        lw, sw = design.label_width, design.score_width
        labels, scores = [], []
        for line in lines:
            index, _, word = line.partition(" ")
            if index != str(k):
                continue
            word = int(word, 16)
            labels.append(word & ((1 << lw) - 1))
            fields = [(word >> (lw + c * sw)) & ((1 << sw) - 1) for c in range(design.n_classes)]
            scores.append([f - (1 << sw) if f >> (sw - 1) else f for f in fields])
        results.append((np.array(labels), np.array(scores).reshape(-1, design.n_classes)))
    return results


def _check_in_verilator(nets, work, make_vectors):
    rng = np.random.default_rng(16)
    cases = [(net, make_vectors(net, rng, n_random=24)) for net in nets]
    for (net, x), (labels, scores) in zip(cases, _verilator_outputs(cases, work)):
        trace = golden.evaluate(net, x)
        np.testing.assert_array_equal(scores, trace.scores, err_msg=ir.dump(net))
        np.testing.assert_array_equal(labels, trace.predictions, err_msg=ir.dump(net))


@pytest.mark.verilator
@needs_verilator_timing
def test_issue16_minimal_case_in_verilator(make_network, make_vectors, tmp_path):
    """Issue 16's net, a fixed integer-weight net, and nets of every activation kind over one-bit
    values (bits of one-bit signals), in one Verilator build."""
    rng = np.random.default_rng(5)
    nets = [issue16_net(), _seeded(2), _all_kinds_net(rng, make_network),
            make_network(rng, inputs=12, hidden=(8, 6), outputs=3, bits=1, density=0.4)]
    _check_in_verilator(nets, tmp_path, make_vectors)


@pytest.mark.verilator
@needs_verilator_timing
@settings(max_examples=2, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(nets=st.lists(integer_nets(), min_size=4, max_size=4))
def test_integer_weight_nets_in_verilator(nets, make_vectors, tmp_path_factory):
    """Hypothesis-drawn nets with integer weights up to +-127, duplicated across neurons and
    signs, built in Verilator (four nets a build) and compared with the golden model."""
    _check_in_verilator(nets, tmp_path_factory.mktemp("verilator"), make_vectors)
