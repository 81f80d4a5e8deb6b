"""lwc.sim.cocotb_sim: the generated Verilog of random networks equals the golden model.

Verilator builds cost ~15 s of CPU each, so there are two here (one reused by the test that
corrupts the golden side); Icarus builds are cheap and cover activation kinds and bit widths.
"""

from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from lwc.compiler import golden, passes
from lwc.compiler.driver import CompiledDesign, compile_design
from lwc.compiler.lower import write_verilog
from lwc.errors import DataError, ToolchainError, UsageError
from lwc.sim import cocotb_sim, network_tb, runner

from helpers import KINDS, nontrivial_network, quiet


def small_network(make_network, kind):
    """The 10-8-3 net (3-bit inputs, hidden activation ``kind``) of the testbench checks below."""
    return nontrivial_network(inputs=10, hidden=(8,), outputs=3, bits=3,
                              density=0.5, kinds=(kind,))


def vectors_for(net, make_vectors, seed=0):
    return make_vectors(net, np.random.default_rng(seed))


def assert_equal_to_golden(report, net, x):
    assert report.vectors == report.received == len(x)
    assert report.mismatches == 0, report.format()
    assert report.first_mismatch is None
    assert report.protocol_errors == 0, report.format()
    assert report.measured_latency == report.latency
    assert report.ok
    assert report.cycles >= len(x)
    text = report.format()
    assert f"0 mismatches: hardware equals the golden model on all {len(x)} vectors" in text
    assert "vectors/s" in text


def hardware_of(design, other):
    """``design`` (its golden side) with the hardware built from the net ``other``."""
    return replace(design, hardware=compile_design(other).hardware)


def replace_hardware(monkeypatch, make):
    """Make :func:`simulate` simulate the Verilog of ``make(component of the design)``."""
    monkeypatch.setattr(CompiledDesign, "verilog",
                        lambda self, path=None: write_verilog(make(self.lower()), path))


def flip_one_threshold(net, x):
    """A copy of ``net`` with one neuron parameter moved so that some, but not all, of ``x`` get
    different outputs; with the index of the first such vector and how many there are."""
    want = golden.evaluate(net, x)
    for li, layer in enumerate(net.layers):
        for ni, neuron in enumerate(layer.neurons):
            for delta in (1, -1, 2, -2, 3, -3):
                params = tuple(p + delta for p in neuron.params)  # keeps lo < hi
                neurons = list(layer.neurons)
                neurons[ni] = replace(neuron, params=params)
                layers = list(net.layers)
                layers[li] = replace(layer, neurons=tuple(neurons))
                bad = replace(net, layers=tuple(layers))
                got = golden.evaluate(bad, x)
                differ = ((got.predictions != want.predictions)
                          | (got.scores != want.scores).any(axis=1))
                if 0 < differ.sum() < len(x):
                    return bad, int(np.argmax(differ)), int(differ.sum())
    raise AssertionError("no single-parameter change alters some but not all outputs")


class IgnoresReady(wiring.Component):
    """A network whose output stream ignores ``o.ready``: it breaks the stream rules."""

    def __init__(self, inner):
        self._inner = inner
        super().__init__(inner.signature)

    plan = property(lambda self: self._inner.plan)
    latency = property(lambda self: self._inner.latency)
    input_bits = property(lambda self: self._inner.input_bits)
    label_width = property(lambda self: self._inner.label_width)
    score_width = property(lambda self: self._inner.score_width)

    def elaborate(self, platform):
        m = Module()
        m.submodules.net = inner = self._inner
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        m.d.comb += [self.o.payload.eq(inner.o.payload), self.o.valid.eq(inner.o.valid),
                     inner.o.ready.eq(1)]
        return m


@pytest.fixture(scope="module")
def verilator_dir(tmp_path_factory):
    """One build directory for the Verilator tests, so identical builds are reused."""
    return tmp_path_factory.mktemp("verilator")


@pytest.mark.verilator
def test_verilator_all_kinds(make_network, make_vectors, verilator_dir):
    net = nontrivial_network(all_kinds=True, inputs=16, hidden=(16, 12, 8),
                             outputs=4, bits=3, density=0.5)
    x = np.vstack([vectors_for(net, make_vectors), cocotb_sim.random_vectors(net, 200, seed=1)])
    report = cocotb_sim.simulate(compile_design(net), x, build_dir=verilator_dir, seed=1,
                                 progress=quiet)
    assert report.simulator == "verilator" and not report.build_reused
    assert_equal_to_golden(report, net, x)
    assert (report.build_dir / "lwc_net.v").is_file()


@pytest.mark.verilator
def test_verilator_reports_the_first_mismatch(make_network, make_vectors, verilator_dir,
                                              monkeypatch):
    # The hardware is built from ``net`` (the build of the test above is reused); the golden side
    # uses ``bad``, one parameter off. Every differing vector must be caught, the first reported.
    net = nontrivial_network(all_kinds=True, inputs=16, hidden=(16, 12, 8),
                             outputs=4, bits=3, density=0.5)
    x = vectors_for(net, make_vectors, seed=2)
    bad, first, count = flip_one_threshold(net, x)
    report = cocotb_sim.simulate(hardware_of(compile_design(bad), net), x,
                                 build_dir=verilator_dir, seed=2, progress=quiet)
    assert report.mismatches == count and not report.ok
    m = report.first_mismatch
    right, wrong = golden.evaluate(net, x), golden.evaluate(bad, x)
    assert m.index == first
    assert m.inputs == tuple(x[first])
    assert (m.hardware_label, m.hardware_scores) == (right.predictions[first],
                                                     tuple(right.scores[first]))
    assert (m.golden_label, m.golden_scores) == (wrong.predictions[first],
                                                 tuple(wrong.scores[first]))
    compiled = passes.run(bad)
    assert len(m.golden_sums) == len(compiled.layers)
    assert m.golden_sums[0] == tuple(
        (n.origin, int(s)) for n, s in zip(compiled.layers[0].neurons,
                                           golden.evaluate(compiled, x).sums[0][first]))
    text = report.format()
    assert f"{count} of {len(x)} vectors mismatch" in text
    assert f"first mismatch: vector {first}" in text
    assert f"hardware label {m.hardware_label} scores {list(m.hardware_scores)}" in text
    assert f"golden   label {m.golden_label} scores {list(m.golden_scores)}" in text
    assert "layer 0 sums" in text


@pytest.mark.verilator
def test_verilator_digits_sized_net_with_waves(make_network, make_vectors, tmp_path):
    net = nontrivial_network(inputs=64, hidden=(32,), outputs=10, bits=4,
                             density=0.3, kinds=("clip",))
    x = vectors_for(net, make_vectors)
    lines = []
    report = cocotb_sim.simulate(compile_design(net), x, waves=True, build_dir=tmp_path,
                                 progress=lines.append)
    assert_equal_to_golden(report, net, x)
    assert report.build_dir == tmp_path / "verilator-waves"
    suffix = ".fst" if runner.verilator_fst_supported() else ".vcd"
    assert report.waves == report.build_dir / f"dump{suffix}"
    assert report.waves.stat().st_size > 0
    assert f"waveform: {report.waves}" in report.format()
    assert any("building lwc_net" in line for line in lines)


ICARUS_NETS = [
    # (kinds, bits, hidden, outputs)
    (("step",), 1, (8,), 3),
    (("ternary",), 2, (8, 6), 3),
    (("clip",), 3, (8, 6), 3),
    (("step",), 4, (12,), 1),
    (("ternary",), 5, (8,), 2),
    (("clip",), 6, (8, 6), 4),
    (KINDS, 7, (10, 8), 3),
    (("clip",), 8, (8,), 10),
]


@pytest.mark.icarus
@pytest.mark.parametrize("kinds, bits, hidden, outputs", ICARUS_NETS)
def test_icarus_random_nets(make_network, make_vectors, tmp_path, kinds, bits, hidden, outputs):
    net = nontrivial_network(inputs=10, hidden=hidden, outputs=outputs, bits=bits,
                             density=0.5, kinds=kinds)
    x = vectors_for(net, make_vectors)
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 seed=bits, progress=quiet)
    assert report.simulator == "icarus"
    assert_equal_to_golden(report, net, x)


@pytest.mark.icarus
def test_icarus_deep_pipeline(make_network, make_vectors, tmp_path):
    # A register after every adder level: a long pipeline must still honour back-pressure.
    net = nontrivial_network(inputs=12, hidden=(10, 8), outputs=5, bits=4,
                             density=0.6, kinds=("ternary", "clip"))
    x = vectors_for(net, make_vectors)
    report = cocotb_sim.simulate(compile_design(net, register_every=1), x, simulator="icarus",
                                 build_dir=tmp_path, seed=3, stall=0.5, progress=quiet)
    assert report.latency > 3
    assert_equal_to_golden(report, net, x)


@pytest.mark.icarus
def test_icarus_constant_network(make_network, make_vectors, tmp_path):
    # Every hidden neuron folds to a constant: the hardware reads no input at all.
    for seed in range(100):
        net = make_network(np.random.default_rng(seed), inputs=6, hidden=(4, 4), outputs=3,
                           bits=2, density=0.3, kinds=("step",))
        if not passes.run(net).input_map:
            break
    else:
        raise AssertionError("no constant network found")
    x = vectors_for(net, make_vectors)
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 progress=quiet)
    assert_equal_to_golden(report, net, x)


@pytest.mark.icarus
def test_icarus_catches_wrong_hardware(make_network, make_vectors, tmp_path, monkeypatch):
    net = small_network(make_network, "ternary")
    x = vectors_for(net, make_vectors)
    bad, first, count = flip_one_threshold(net, x)
    report = cocotb_sim.simulate(hardware_of(compile_design(net), bad), x, simulator="icarus",
                                 build_dir=tmp_path, progress=quiet)
    assert (report.mismatches, report.first_mismatch.index) == (count, first)
    assert report.first_mismatch.hardware_label == golden.evaluate(bad, x).predictions[first]
    assert f"first mismatch: vector {first}" in report.format()


@pytest.mark.icarus
def test_icarus_catches_ignored_back_pressure(make_network, make_vectors, tmp_path,
                                              monkeypatch):
    net = small_network(make_network, "clip")
    x = vectors_for(net, make_vectors)
    replace_hardware(monkeypatch, IgnoresReady)
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 progress=quiet)
    # Outputs are lost while o.ready is low, so the rest arrive out of place and some never.
    assert report.protocol_errors > 0 and report.mismatches > 0 and not report.ok
    assert report.received < report.vectors
    assert f"only {report.received} of {len(x)} outputs came out" in report.format()


@pytest.mark.icarus
def test_icarus_reuses_a_build_for_new_vectors(make_network, tmp_path):
    net = nontrivial_network(inputs=10, hidden=(8,), outputs=3, bits=4,
                             density=0.5, kinds=("clip",))
    first = cocotb_sim.simulate(compile_design(net), cocotb_sim.random_vectors(net, 30, seed=1),
                                simulator="icarus", build_dir=tmp_path, progress=quiet)
    x = cocotb_sim.random_vectors(net, 40, seed=2)
    second = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 seed=5, gap=0.0, stall=0.0, progress=quiet)
    assert not first.build_reused and second.build_reused
    assert "build reused" in second.format()
    assert_equal_to_golden(second, net, x)
    assert second.cycles == len(x) + second.latency  # no gaps or stalls: one vector a cycle


def test_simulate_checks_the_simulator_first(make_network, monkeypatch, tmp_path):
    net = make_network(np.random.default_rng(0))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"^icarus: 'iverilog' not found on PATH"):
        cocotb_sim.simulate(compile_design(net), cocotb_sim.random_vectors(net, 3),
                            simulator="icarus", build_dir=tmp_path / "b", progress=quiet)
    assert not (tmp_path / "b").exists()


def test_simulate_checks_vectors(make_network, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=12, bits=4)
    with pytest.raises(DataError) as err:
        cocotb_sim.simulate(compile_design(net), np.zeros((3, 11), dtype=np.int64),
                            build_dir=tmp_path, progress=quiet)
    assert str(err.value) == "vectors must have shape (n >= 1, 12), not (3, 11)"
    with pytest.raises(UsageError) as err:
        cocotb_sim.simulate(compile_design(net), np.zeros((3, 12), dtype=np.int64),
                            build_dir=tmp_path, stall=1.0, progress=quiet)
    assert str(err.value) == "stall must be a probability in [0, 1), not 1.0"
    assert not any(tmp_path.iterdir())


def test_random_vectors(make_network):
    net = make_network(np.random.default_rng(0), inputs=7, bits=3)
    x = cocotb_sim.random_vectors(net, 500, seed=4)
    assert x.shape == (500, 7) and x.dtype == np.int64
    assert x.min() == 0 and x.max() == 7
    assert np.array_equal(x, cocotb_sim.random_vectors(net, 500, seed=4))
    assert not np.array_equal(x, cocotb_sim.random_vectors(net, 500, seed=5))


def test_load_vectors(make_network, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=5, bits=2)
    good = np.array([[0, 1, 2, 3, 0], [3, 3, 3, 3, 3]], dtype=np.uint8)
    np.save(tmp_path / "good.npy", good)
    x = cocotb_sim.load_vectors(tmp_path / "good.npy", net)
    assert x.dtype == np.int64 and np.array_equal(x, good)


@pytest.mark.parametrize("name, array, problem", [
    ("shape.npy", np.zeros((4, 6), dtype=np.int64),
     "vectors must have shape (n >= 1, 5), not (4, 6)"),
    ("flat.npy", np.zeros(5, dtype=np.int64), "vectors must have shape (n >= 1, 5), not (5,)"),
    ("empty.npy", np.zeros((0, 5), dtype=np.int64),
     "vectors must have shape (n >= 1, 5), not (0, 5)"),
    ("float.npy", np.zeros((2, 5)), "vectors must be integers, not dtype float64"),
    ("high.npy", np.full((2, 5), 4), "vector elements must be in 0..3 (2-bit inputs), found 4..4"),
    ("low.npy", np.array([[0, -1, 0, 0, 0]]),
     "vector elements must be in 0..3 (2-bit inputs), found -1..0"),
])
def test_load_vectors_rejects(make_network, tmp_path, name, array, problem):
    net = make_network(np.random.default_rng(0), inputs=5, bits=2)
    path = tmp_path / name
    np.save(path, array)
    with pytest.raises(DataError) as err:
        cocotb_sim.load_vectors(path, net)
    assert str(err.value) == f"{path}: {problem}"


def test_load_vectors_unreadable(make_network, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=5, bits=2)
    missing = tmp_path / "missing.npy"
    with pytest.raises(DataError, match=r"missing\.npy: cannot read a \.npy array") as err:
        cocotb_sim.load_vectors(missing, net)
    assert str(err.value).startswith(str(missing)) and "\n" not in str(err.value)
    junk = tmp_path / "junk.npy"
    junk.write_text("not numpy")
    with pytest.raises(DataError, match=r"junk\.npy: cannot read a \.npy array"):
        cocotb_sim.load_vectors(junk, net)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"objects\.npy: cannot read a \.npy array"):
        cocotb_sim.load_vectors(objects, net)
    archive = tmp_path / "archive.npz"
    np.savez(archive, x=np.zeros((1, 5), dtype=np.int64))
    with pytest.raises(DataError) as err:
        cocotb_sim.load_vectors(archive, net)
    assert str(err.value) == f"{archive}: expected a .npy array, not an .npz archive"


def test_load_vectors_quantizes_raw_features(make_network, tmp_path):
    from lwc.compiler.ir import AffineQuantizer

    quantizer = AffineQuantizer(scale=(4.0,), offset=(0.0,))
    net = make_network(np.random.default_rng(0), inputs=3, bits=2, quantizer=quantizer)
    raw = np.array([[0.1, 0.3, 0.9], [-1.0, 0.5, 2.0]])
    np.save(tmp_path / "raw.npy", raw)
    x = cocotb_sim.load_vectors(tmp_path / "raw.npy", net)
    assert np.array_equal(x, golden.quantize(net.input, raw))
    assert np.array_equal(x, [[0, 1, 3], [0, 2, 3]])


@pytest.mark.icarus
def test_icarus_processes_share_the_vectors(make_network, make_vectors, tmp_path):
    net = small_network(make_network, "clip")
    x = vectors_for(net, make_vectors)
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 seed=4, processes=3, progress=quiet)
    assert_equal_to_golden(report, net, x)
    assert report.processes == 3
    assert f"{len(x)} vectors in {report.stream_seconds:.2f} s in 3 processes" in report.format()
    for k in range(3):
        assert (report.build_dir / f"test-{k}.log").is_file()
    # One vector per process at most.
    few = cocotb_sim.simulate(compile_design(net), x[:2], simulator="icarus", build_dir=tmp_path,
                              processes=8, progress=quiet)
    assert_equal_to_golden(few, net, x[:2])
    assert few.processes == 2 and few.build_reused


@pytest.mark.icarus
def test_icarus_processes_report_the_first_mismatch_of_all(make_network, make_vectors, tmp_path,
                                                            monkeypatch):
    net = small_network(make_network, "ternary")
    x = vectors_for(net, make_vectors)
    bad, _, count = flip_one_threshold(net, x)
    # Put the vectors that differ last, so the first mismatch lies in the last process's share.
    right, wrong = golden.evaluate(net, x), golden.evaluate(bad, x)
    differ = (right.predictions != wrong.predictions) | (right.scores != wrong.scores).any(1)
    x = np.vstack([x[~differ], x[differ]])
    first = len(x) - count
    report = cocotb_sim.simulate(hardware_of(compile_design(net), bad), x, simulator="icarus",
                                 build_dir=tmp_path, processes=2, progress=quiet)
    assert first >= len(x) // 2, "the first mismatch is not in the second process's share"
    assert (report.mismatches, report.first_mismatch.index) == (count, first)
    assert report.first_mismatch.inputs == tuple(x[first])
    assert report.first_mismatch.hardware_label == golden.evaluate(bad, x).predictions[first]
    # The second process's log names the vector by its index among all of them.
    assert f"vector {first} mismatches" in (report.build_dir / "test-1.log").read_text()


@pytest.mark.icarus
def test_cocotb_clock_equals_the_verilog_clock(make_network, make_vectors, tmp_path,
                                               monkeypatch):
    # Without Verilog delays (Verilator whose C++ compiler lacks coroutines) the testbench drives
    # the network's own clock with cocotb's: the same cycles, the same outputs.
    net = small_network(make_network, "ternary")
    x = vectors_for(net, make_vectors)
    bench = cocotb_sim.simulate(compile_design(net), x, simulator="icarus",
                                build_dir=tmp_path / "hdl", seed=6, progress=quiet)
    assert (bench.build_dir / "lwc_bench.v").is_file()
    monkeypatch.setattr(runner, "timing_supported", lambda simulator: False)
    lines = []
    plain = cocotb_sim.simulate(compile_design(net), x, simulator="icarus",
                                build_dir=tmp_path / "gpi", seed=6, progress=lines.append)
    assert not (plain.build_dir / "lwc_bench.v").exists()
    assert any("the clock is cocotb's" in line for line in lines)
    for report in (bench, plain):
        assert_equal_to_golden(report, net, x)
    assert (plain.cycles, plain.measured_latency) == (bench.cycles, bench.measured_latency)


def test_simulate_checks_processes(make_network, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=12, bits=4)
    x = np.zeros((3, 12), dtype=np.int64)
    for bad in (0, 1.5, True):
        with pytest.raises(UsageError) as err:
            cocotb_sim.simulate(compile_design(net), x, build_dir=tmp_path, processes=bad,
                                progress=quiet)
        assert str(err.value) == f"processes must be a positive int, not {bad!r}"
    with pytest.raises(UsageError, match=r"^waves records one simulation: use processes=1$"):
        cocotb_sim.simulate(compile_design(net), x, build_dir=tmp_path, waves=True, processes=2,
                            progress=quiet)
    assert not any(tmp_path.iterdir())


def test_bench_verilog():
    text = network_tb.bench_verilog(16, 64)
    assert text.startswith("`timescale 1ns / 1ps\n")
    assert f"module {network_tb.BENCH_TOPLEVEL}(" in text
    assert "input [15:0] i__payload" in text and "output [63:0] o__payload" in text
    assert "always #5 clk = ~clk;" in text and "lwc_net dut (" in text
    for port in network_tb.PORTS:
        assert f".{port}({port})" in text


@pytest.mark.icarus
def test_icarus_last_transfer_is_offered_once(make_network, tmp_path):
    # One vector, no gaps or stalls: the testbench has nothing left to send while the network
    # computes, and must lower i.valid before it sleeps, or the network takes the vector again
    # and answers twice.
    net = small_network(make_network, "clip")
    x = cocotb_sim.random_vectors(net, 1, seed=3)
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 gap=0.0, stall=0.0, progress=quiet)
    assert_equal_to_golden(report, net, x)
    assert report.cycles == 1 + report.latency
