"""Helpers shared by the test modules: random networks and vectors, the hypothesis strategy for
networks, the tool checks behind the ``icarus``/``verilator`` markers, and the comparison of
simulated hardware with the golden model.

Importable as ``helpers`` from every test module (``pythonpath = ["tests"]`` in pyproject.toml).
Nothing here imports torch, cocotb or a simulator at import time: ``python -m pytest -m unit``
collects every module, so collection has to stay cheap.
"""

import importlib.util
import random
import sys
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lwc.compiler import golden, ir, passes
from lwc.sim.vectors import adversarial_vectors  # noqa: F401 (the tests import it from here)

KINDS = ("step", "ternary", "clip")
TESTS = Path(__file__).resolve().parent


def quiet(line):
    """A ``progress`` callback that prints nothing."""


# --- random networks and vectors ------------------------------------------------------------------

def random_network(rng, *, inputs=12, hidden=(8,), outputs=3, bits=4, density=0.3,
                   kinds=KINDS, quantizer=None):
    """A random valid :class:`~lwc.compiler.ir.Network` (dense form, before any pass).

    Hidden activation kinds are drawn from ``kinds``; thresholds are drawn around and beyond the
    reachable range so constant and dead neurons occur.
    """
    sizes = [inputs, *hidden, outputs]
    layers = []
    in_max = (1 << bits) - 1
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([-1, 0, 1], size=(n_out, n_in), p=[density / 2, 1 - density, density / 2])
        reach = max(1, int(np.abs(w).sum(axis=1).max(initial=0)) * in_max)
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-3, 4, n_out)))
            break
        kind = kinds[rng.integers(len(kinds))]
        if kind == "step":
            act, params, out_max = ir.Activation("step"), rng.integers(-reach, reach + 2, n_out), 1
        elif kind == "ternary":
            lo = rng.integers(-reach - 1, reach + 1, n_out)
            hi = lo + rng.integers(1, 4, n_out)
            act, params = ir.Activation("ternary"), np.stack([lo, hi], 1)
            out_max = 1
        else:
            cbits = int(rng.integers(1, 4))
            act = ir.Activation("clip", shift=int(rng.integers(0, 3)), bits=cbits)
            params, out_max = rng.integers(-reach, reach + 1, n_out), (1 << cbits) - 1
        layers.append((w, act, params))
        in_max = out_max
    return ir.from_dense(ir.InputSpec(inputs, bits, quantizer), layers,
                         [f"c{k}" for k in range(outputs)], {"dataset": "random"})


def fan_in_network(rng, *, inputs=12, hidden=(8,), outputs=3, bits=1, fan_in=3, kinds=KINDS):
    """A random :class:`~lwc.compiler.ir.Network` in which every neuron reads exactly ``fan_in``
    values (fewer where its layer reads fewer), with ternary weights and parameters drawn inside
    each neuron's reachable sums, so that few neurons are constant: the nets whose neurons are
    small enough to be truth tables."""
    sizes = [inputs, *hidden, outputs]
    layers, in_range = [], (0, (1 << bits) - 1)
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = np.zeros((n_out, n_in), dtype=np.int64)
        for row in range(n_out):
            cols = rng.choice(n_in, size=min(fan_in, n_in), replace=False)
            w[row, cols] = rng.choice([-1, 1], size=len(cols))
        extent = max(abs(in_range[0]), abs(in_range[1]))
        reach = max(1, min(fan_in, n_in) * extent)
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-2, 3, n_out)))
            break
        kind = kinds[rng.integers(len(kinds))]
        if kind == "step":
            act, params, in_range = ir.Activation("step"), rng.integers(-reach + 1, reach,
                                                                        n_out), (0, 1)
        elif kind == "ternary":
            lo = rng.integers(-reach, reach - 1, n_out)
            act, params, in_range = (ir.Activation("ternary"),
                                     np.stack([lo, lo + rng.integers(1, 3, n_out)], 1), (-1, 1))
        else:
            act = ir.Activation("clip", shift=int(rng.integers(0, 2)), bits=2)
            params, in_range = rng.integers(-reach, 1, n_out), (0, 3)
        layers.append((w, act, params))
    return ir.from_dense(ir.InputSpec(inputs, bits), layers, [f"c{k}" for k in range(outputs)],
                         {"dataset": "random"})


def nontrivial_network(*, seed=0, all_kinds=False, **kwargs):
    """The first :func:`random_network` from seeds ``seed``, ``seed + 1``, ... whose compiled
    hidden layers all keep two or more neurons (and, with ``all_kinds``, whose hidden layers use
    every activation kind).

    Random thresholds often make whole layers constant, which the passes fold away; such a net
    would prove little about the hardware.
    """
    for s in range(seed, seed + 500):
        net = random_network(np.random.default_rng(s), **kwargs)
        if all_kinds and {layer.activation.kind for layer in net.layers[:-1]} != set(KINDS):
            continue
        if all(layer.size >= 2 for layer in passes.run(net).layers[:-1]):
            return net
    raise AssertionError(f"no nontrivial network for {kwargs}; has random_network changed?")


# --- the hypothesis strategy for networks ---------------------------------------------------------

@st.composite
def networks(draw, *, inputs=None, hidden=None, outputs=None, bits=None, kinds=KINDS):
    """A valid :class:`~lwc.compiler.ir.Network` (dense form, before any pass), every part of it
    drawn: sizes, input bits, each weight, each activation and each parameter.

    ``inputs`` (default 1 to 12), ``hidden`` (a list of sizes; default up to two layers of 0 to
    8), ``outputs`` (1 to 5) and ``bits`` (1 to 8) are strategies; hidden activation kinds are
    drawn from ``kinds``. Weights are sparse (mostly 0, a few drawn +1/-1) or dense (each drawn);
    parameters range around and beyond each layer's reachable sums so that constant and dead
    neurons occur. It shrinks towards fewer inputs, layers, neurons and nonzero weights, smaller
    parameters and the first activation kind: a failing example shrinks to a minimal net.
    """
    n_in = draw(st.integers(1, 12) if inputs is None else inputs)
    n_bits = draw(st.integers(1, 8) if bits is None else bits)
    sizes = [n_in, *draw(st.lists(st.integers(0, 8), max_size=2) if hidden is None else hidden),
             draw(st.integers(1, 5) if outputs is None else outputs)]
    sparse = draw(st.booleans(), label="sparse")
    layers = []
    in_max = (1 << n_bits) - 1
    for li, (n_prev, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = draw(hnp.arrays(np.int64, (n_out, n_prev), elements=st.sampled_from([0, 1, -1]),
                            fill=st.just(0) if sparse else st.nothing()), label=f"weights {li}")
        reach = max(1, int(np.abs(w).sum(axis=1).max(initial=0)) * in_max)

        def params(lo, hi, label, li=li, n_out=n_out):
            return draw(hnp.arrays(np.int64, n_out, elements=st.integers(lo, hi)),
                        label=f"{label} {li}")

        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), params(-3, 3, "bias")))
            break
        kind = draw(st.sampled_from(kinds), label=f"kind {li}")
        if kind == "step":
            act, p, out_max = ir.Activation("step"), params(-reach, reach + 1, "threshold"), 1
        elif kind == "ternary":
            lo = params(-reach - 1, reach, "lo")
            act, p, out_max = ir.Activation("ternary"), np.stack([lo, lo + params(1, 3, "gap")],
                                                                 1), 1
        else:
            cbits = draw(st.integers(1, 3), label=f"clip bits {li}")
            act = ir.Activation("clip", shift=draw(st.integers(0, 2), label=f"shift {li}"),
                                bits=cbits)
            p, out_max = params(-reach, reach, "offset"), (1 << cbits) - 1
        layers.append((w, act, p))
        in_max = out_max
    return ir.from_dense(ir.InputSpec(n_in, n_bits), layers,
                         [f"c{k}" for k in range(sizes[-1])], {"dataset": "random"})


# --- simulators ----------------------------------------------------------------------------------

def accumulator_stimuli(count, width, cycles, seed):
    """Random cycles of ``(load, init, en, sub, operand)`` per accumulator (of
    :class:`lwc.hw.dsp.Accumulators`), with the extremes of the range (the most negative init
    and operand, the most positive) often."""
    rnd = random.Random(seed)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1

    def value():
        return rnd.choice([lo, hi, -1, 0, 1, rnd.randint(lo, hi)])

    return [[(rnd.random() < 0.15, value(), rnd.random() < 0.7, rnd.random() < 0.5, value())
             for _ in range(count)] for _ in range(cycles)]


def accumulator_reference(width, cycles):
    """What each accumulator holds after each cycle (from 0 after reset), wrapped to ``width``
    bits."""
    count = len(cycles[0])
    values, seen = [0] * count, []
    for cycle in cycles:
        for k, (load, init, en, sub, operand) in enumerate(cycle):
            if load:
                values[k] = init
            elif en:
                values[k] = values[k] - operand if sub else values[k] + operand
            values[k] = (values[k] + (1 << (width - 1))) % (1 << width) - (1 << (width - 1))
        seen.append(list(values))
    return seen


def missing_simulator(simulator):
    """Why ``simulator`` (``"icarus"`` or ``"verilator"``) cannot run here, or ``None`` when it
    can: the one line :func:`lwc.sim.runner.check_simulator` gives."""
    from lwc.errors import ToolchainError
    from lwc.sim import runner

    try:
        runner.check_simulator(simulator)
    except ToolchainError as exc:
        return str(exc)
    return None


# --- hardware against the golden model (amaranth.sim) ---------------------------------------------

def transfers(dut, vectors, pad):
    """Each vector as the streaming network ``dut`` takes it: ``transfers_per_vector`` payloads
    of ``features_per_cycle`` features, the last one padded with ``pad``."""
    f, t = dut.features_per_cycle, dut.transfers_per_vector
    out = []
    for row in vectors:
        row = [int(v) for v in row] + [pad] * (f * t - len(row))
        out.extend(row[k * f:(k + 1) * f] for k in range(t))
    return out


def rtl_outputs(dut, vectors, *, seed=0, p_in=0.0, p_out=0.0):
    """Stream ``vectors`` through the network ``dut`` (parallel or streaming) with random input
    gaps (probability ``p_in`` a cycle, before each transfer) and random output back-pressure
    (``p_out``); return ``(labels, scores)`` arrays.

    A streaming network takes each vector as its :func:`transfers`, the last one padded with all
    ones. The output stream is checked against the ``lib.stream`` source rules on every clock.
    """
    from lwc.hw.plan import StreamingPlan
    from lwc.sim.streams import run_network

    slack = 1 + int(8 * max(p_in, p_out))
    if isinstance(dut.plan, StreamingPlan):
        payloads = transfers(dut, vectors, (1 << dut.input_bits) - 1)
        limit = (len(vectors) + 1) * (dut.cycles_per_inference + dut.latency + 8) * slack
    else:
        payloads = [[int(v) for v in row] for row in vectors]
        limit = (len(vectors) + dut.latency + 8) * slack
    results = run_network(dut, payloads, len(vectors), limit=limit, rng=random.Random(seed),
                          p_in=p_in, p_out=p_out)
    labels = np.array([r.label for r in results], dtype=np.int64)
    scores = np.array([list(r.scores) for r in results], dtype=np.int64)
    return labels, scores.reshape(len(results), dut.n_classes)


def compiled(net):
    """``net`` through the compiler passes, unless it is compiled already."""
    return net if isinstance(net, ir.CompiledNetwork) else passes.compile_network(net)


def check_against_golden(net, vectors, *, architecture="parallel", features_per_cycle=1, lanes=1,
                         seed=0, p_in=0.0, p_out=0.0, **lowering):
    """Compile and lower ``net`` (``architecture``, ``features_per_cycle`` and ``lanes`` for a
    streaming one, and the options ``lowering`` of :func:`lwc.compiler.lower.lower`), stream
    ``vectors`` through it (see :func:`rtl_outputs`) and assert every label and score equal to the
    golden model's; return ``(dut, trace)``."""
    from lwc.compiler.architecture import PARALLEL, Streaming
    from lwc.compiler.lower import lower
    from lwc.hw.plan import ParallelPlan, StreamingPlan

    value = PARALLEL if architecture == "parallel" else Streaming(features_per_cycle, lanes)
    dut = lower(compiled(net), value, **lowering)
    assert isinstance(dut.plan, StreamingPlan if architecture == "streaming" else ParallelPlan)
    trace = golden.evaluate(net, vectors)
    labels, scores = rtl_outputs(dut, vectors, seed=seed, p_in=p_in, p_out=p_out)
    np.testing.assert_array_equal(scores, trace.scores)
    np.testing.assert_array_equal(labels, trace.predictions)
    return dut, trace


def iverilog_outputs(text, dut, x, tmp_path):
    """Run Verilog ``text`` (module ``lwc_net``) in Icarus on ``x``, one vector per clock with
    ``o.ready`` high; return ``(labels, scores)``. Its users are marked ``icarus``."""
    import subprocess

    bits, lw, sw = dut.input_bits, dut.label_width, dut.score_width
    words = [sum(int(v) << (k * bits) for k, v in enumerate(row)) for row in x]
    (tmp_path / "x.hex").write_text("".join(f"{w:x}\n" for w in words))
    (tmp_path / "net.v").write_text(text)
    (tmp_path / "tb.v").write_text(f"""
module tb;
  reg clk = 0; reg valid = 0; reg [{dut.input_count * bits - 1}:0] payload = 0;
  reg [{dut.input_count * bits - 1}:0] mem [0:{len(x) - 1}];
  wire ready, out_valid; wire [{lw + dut.n_classes * sw - 1}:0] out;
  integer k;
  lwc_net dut(.clk(clk), .rst(1'b0), .i__payload(payload), .i__valid(valid), .i__ready(ready),
              .o__payload(out), .o__valid(out_valid), .o__ready(1'b1));
  initial begin
    $readmemh("x.hex", mem);
    for (k = 0; k < {len(x) + dut.latency + 1}; k = k + 1) begin
      valid = k < {len(x)}; payload = k < {len(x)} ? mem[k] : 0;
      #1 clk = 1; #1 clk = 0;
      if (out_valid) $display("%h", out);
    end
  end
endmodule
""")
    subprocess.run(["iverilog", "-o", "sim", "tb.v", "net.v"], cwd=tmp_path, check=True)
    lines = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True,
                           text=True).stdout.split()
    labels, scores = [], []
    for line in lines:
        word = int(line, 16)
        labels.append(word & ((1 << lw) - 1))
        fields = [(word >> (lw + c * sw)) & ((1 << sw) - 1) for c in range(dut.n_classes)]
        scores.append([f - (1 << sw) if f >> (sw - 1) else f for f in fields])
    return np.array(labels), np.array(scores)


# --- training -------------------------------------------------------------------------------------

# The digits goal (tests/train/test_loop.py), trained once a session by the ``digits_run`` fixture
# (tests/conftest.py): the default configuration, seed 0.
DIGITS_GOAL = {"dataset": "digits", "seed": 0}


def torch_predictions(model, x_int):
    """The classes the PyTorch ``model`` predicts (eval mode) for the integer inputs ``x_int``."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x_int.astype(np.float32))).argmax(dim=1).numpy()


# --- scripts outside the package ------------------------------------------------------------------

def load_script(path, name=None):
    """The script at ``path`` (relative to the repository root) as a module, loaded once and
    registered in ``sys.modules`` as ``name`` (default: its path with ``_`` for ``/``)."""
    name = name or str(Path(path).with_suffix("")).replace("/", "_")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS.parent / path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def corpus_module():
    """tests/corpus/make_bad_netfiles.py, registered under its name (its pickles refer to it).

    Called at collection time by the modules that parametrize over its cases."""
    return load_script("tests/corpus/make_bad_netfiles.py", "make_bad_netfiles")


def transcripts_module():
    """docs/transcripts.py, which writes README.md's transcripts."""
    return load_script("docs/transcripts.py")
