"""Wide nets compile in bounded memory, and the share pass's pair counting is exact.

Issue 16: one neuron of fan-in 2**16 took time quadratic in its fan-in (the compressor tree of
one-bit inputs), and a 65,536-input layer of 7 dense neurons made the share pass build its 2**31
input pairs (more than 20 GB). Timings are in ``bench/compiler.py --fan-in``, not here.
"""

import importlib
import itertools
import json
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

from lwc.compiler import golden, ir, netfile, passes
from lwc.compiler.stats import adder_count

# The module, which the package's ``share`` (the pass) hides.
share_module = importlib.import_module("lwc.compiler.passes.share")


def brute_pair_counts(rows, min_count=2, inputs=None):
    """``{(a, b, differ): count}`` over every pair of inputs ``a < b`` (of ``inputs`` when given)
    that appear together in ``>= min_count`` neurons with the same (``differ`` 0) or opposite (1)
    relative sign."""
    counts = Counter()
    for terms in rows:
        for a, b in itertools.combinations(sorted(terms), 2):
            if inputs is None or (a in inputs and b in inputs):
                counts[a, b, int(terms[a] != terms[b])] += 1
    return {k: c for k, c in counts.items() if c >= min_count}


def counted(rows, n_in, **limits):
    keys, counts = share_module._input_pair_counts(rows, n_in, **limits)
    assert len(set(keys.tolist())) == len(keys)
    return {(k >> 33, (k >> 1) & 0xFFFFFFFF, k & 1): c
            for k, c in zip(keys.tolist(), counts.tolist())}


def random_rows(rng, neurons, n_in, density):
    rows = []
    for _ in range(neurons):
        idx = np.flatnonzero(rng.random(n_in) < density)
        rows.append({int(i): int(rng.choice([-1, 1])) for i in idx})
    return rows


@pytest.mark.parametrize("seed", range(8))
def test_pair_counts_are_exact_on_small_layers(seed):
    rng = np.random.default_rng(seed)
    neurons, n_in = int(rng.integers(1, 30)), int(rng.integers(1, 60))
    rows = random_rows(rng, neurons, n_in, float(rng.choice([0.05, 0.3, 0.9])))
    assert counted(rows, n_in) == brute_pair_counts(rows)


def test_pair_counts_over_the_bounded_candidates_are_exact():
    """With a budget of ``pairs`` below what the layer has, the pairs of the inputs in the most
    neurons (then the lowest) are counted, exactly."""
    rng = np.random.default_rng(7)
    rows = random_rows(rng, 20, 50, 0.4)
    cols = Counter(i for terms in rows for i in terms)
    used = sorted((i for i in cols if cols[i] >= 2), key=lambda i: (-cols[i], i))
    for pairs, cells in ((45, 1 << 24), (10, 1 << 24), (1 << 21, 20 * 12)):
        allowed = min(int(np.sqrt(2 * pairs)), cells // 20)
        chosen = set(used[:allowed])
        assert len(chosen) < len(used)
        got = counted(rows, 50, pairs=pairs, cells=cells)
        assert got == brute_pair_counts(rows, inputs=chosen)
        assert len(got) <= allowed * (allowed - 1)


def test_share_with_a_small_pair_budget_keeps_scores(make_network, make_vectors, rng):
    """Sharing over a bounded candidate set computes the same scores and still shares."""
    net = make_network(rng, inputs=40, hidden=(24,), outputs=3, bits=3, density=0.5)
    plain = passes.run(net, passes.PRUNE)
    x = make_vectors(net, rng)
    for pairs in (3, 45, share_module.DEFAULT_PAIRS):
        shared = ir.verify(passes.share(plain, pairs=pairs))
        compiled = ir.verify(passes.infer_widths(shared))
        assert np.array_equal(golden.evaluate(compiled, x).scores,
                              golden.evaluate(net, x).scores)
        if pairs > 3:
            assert adder_count(compiled) < adder_count(passes.infer_widths(plain))


MEASURE = textwrap.dedent("""
    import contextlib, io, json, resource, sys
    from lwc.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(["compile", *sys.argv[1:], "--target", "verilog"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rc": rc, "peak": peak, "out": out.getvalue()}))
""")


def compile_in_bounded_memory(path, out_dir, *options):
    """``lwc compile --target verilog`` of ``path`` in a fresh process capped at 3 GiB of address
    space: its output and its peak resident memory (torch included) in bytes."""
    def cap():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run([sys.executable, "-c", MEASURE, str(path), "-o", str(out_dir),
                           *options], capture_output=True, text=True, timeout=1200,
                          preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["rc"] == 0, report["out"][-2000:]
    assert (out_dir / "net.v").is_file()
    return report


@pytest.mark.slow
def test_fan_in_2_16_neuron_compiles_in_bounded_memory(tmp_path):
    """One neuron over 65,536 one-bit inputs (a compressor tree of 65,536 rows)."""
    n = 1 << 16
    w = np.random.default_rng(3).choice([-1, 1], size=(1, n))
    net = ir.from_dense(ir.InputSpec(n, 1), [(w, ir.Activation("linear"), [0])], ["a"])
    netfile.save(net, tmp_path / "net.pt")
    report = compile_in_bounded_memory(tmp_path / "net.pt", tmp_path / "out")
    assert "65536 nonzero weights" in report["out"]
    assert report["peak"] < 1e9, f"peak resident memory {report['peak'] / 1e6:.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("options", [(), ("--no-share",)], ids=["share", "no-share"])
def test_65536_inputs_by_7_dense_neurons_compile_in_bounded_memory(tmp_path, options):
    """Every pair of the 65,536 inputs is found in all 7 neurons: 2**31 candidate pairs, of
    which the share pass counts a bounded set."""
    n, m = 1 << 16, 7
    assert n * m <= netfile.LIMITS["nonzero"] and n <= netfile.LIMITS["inputs"]
    w = np.random.default_rng(4).choice([-1, 1], size=(m, n))
    net = ir.from_dense(ir.InputSpec(n, 2), [(w, ir.Activation("linear"), np.zeros(m, int))],
                        [f"c{k}" for k in range(m)])
    netfile.save(net, tmp_path / "net.pt")
    del net, w
    report = compile_in_bounded_memory(tmp_path / "net.pt", tmp_path / "out", *options)
    assert f"{n * m} nonzero weights" in report["out"]
    assert report["peak"] < 1e9, f"peak resident memory {report['peak'] / 1e6:.0f} MB"


def test_compile_reports_each_step_once_slow(make_network, rng):
    """A compile past the quiet time says each pass and the plan with its elapsed time; a quick
    one says nothing."""
    from lwc.compiler.driver import Stopwatch, compile_design

    net = make_network(rng, inputs=12, hidden=(6,), outputs=3, bits=3, density=0.5)
    quick = []
    compile_design(net, progress=quick.append)
    assert quick == []
    lines = []
    compile_design(net, progress=Stopwatch(lines.append, quiet=0))
    names = [p.name for p in passes.pipeline()]
    assert [line.split(" done after ")[0] for line in lines] == [
        *(f"compiler: pass {k}/{len(names)} {name}" for k, name in enumerate(names, 1)),
        "compiler: hardware plan"]
    seconds = [float(line.split(" done after ")[1].removesuffix(" s")) for line in lines]
    assert seconds == sorted(seconds)
