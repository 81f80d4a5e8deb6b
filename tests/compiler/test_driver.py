"""The compile driver: a net is compiled once into a :class:`CompiledDesign`, and ``lwc sim``,
gate-level simulation, ``lwc demo`` and ``lwc compile`` take that design without running the
compiler passes again."""

import types

import numpy as np
import pytest
from amaranth.hdl import Fragment

import lwc.boards.compile as board_compile
from lwc.cli import main
from lwc.compiler import ir, netfile, passes
from lwc.compiler.architecture import PARALLEL, ArchitecturePlan, Streaming
from lwc.compiler.driver import CompiledDesign, compile_design
from lwc.sim import gatelevel, network_tb, runner


@pytest.fixture
def pass_runs(monkeypatch):
    """Counts the runs of the compiler pipeline (each call of :func:`lwc.compiler.passes.run`)."""
    calls = []
    real = passes.run

    def counting(net, *args, **kwargs):
        calls.append(args)
        return real(net, *args, **kwargs)

    monkeypatch.setattr(passes, "run", counting)
    return calls


@pytest.fixture
def perfect_simulator(monkeypatch):
    """Stands in for the simulator build and the cocotb run (everything before them is real):
    the "hardware" answers exactly what the golden model expects, with the promised latency."""
    def build(sources, *, toplevel, build_dir, **options):
        return types.SimpleNamespace(reused=False, seconds=0.0, waves=None)

    def answer(env):
        with np.load(env[network_tb.JOB_ENV]) as job:
            n = len(job["labels"])
            np.savez(env[network_tb.RESULT_ENV], labels=job["labels"], scores=job["scores"],
                     received=n, mismatches=0, first_mismatch=-1, cycles=n,
                     first_latency=(int(job["max_idle"]) - 1000) // 4, protocol_errors=0,
                     stalled=False, stream_seconds=0.1)

    def test(sim_build, module, *, seed, env):
        answer(env)
        return 0.1

    def test_parallel(sim_build, module, envs, *, seed):
        for env in envs:
            answer(env)
        return 0.1

    monkeypatch.setattr(runner, "check_simulator", lambda simulator: None)
    monkeypatch.setattr(runner, "timing_supported", lambda simulator: False)
    monkeypatch.setattr(runner, "build", build)
    monkeypatch.setattr(runner, "test", test)
    monkeypatch.setattr(runner, "test_parallel", test_parallel)


class StopBuild(Exception):
    """Raised by the stand-in for the bitstream build: the passes have all run by then."""


def test_design_is_compiled_once_and_immutable(make_network, rng, pass_runs):
    net = make_network(rng, inputs=12, hidden=(8,), outputs=3, bits=2)
    design = compile_design(net, Streaming(4, 2), register_every=1)
    assert len(pass_runs) == 1
    assert isinstance(design.network, ir.CompiledNetwork) and design.source is net
    assert design.architecture == Streaming(4, 2) and design.register_every == 1
    with pytest.raises(AttributeError):
        design.register_every = 2
    again = design.with_register_every(None)
    assert again.register_every is None and again.network is design.network
    assert again.hardware.latency < design.hardware.latency
    facts = design.facts
    assert facts.architecture == "streaming" and facts.features_per_cycle == 4
    assert facts.latency == design.hardware.latency and facts.lanes == design.hardware.lanes
    component = design.lower()
    assert component.plan is design.hardware
    Fragment.get(component, None)  # used: elaborated
    assert "module lwc_net(" in design.verilog()
    assert len(pass_runs) == 1


def test_planner_sees_the_compiled_net(make_network, rng):
    seen = []

    def planner(compiled):
        seen.append(compiled)
        return ArchitecturePlan(PARALLEL, estimate="estimated")

    design = compile_design(make_network(rng), planner=planner)
    assert seen == [design.network] and design.estimate == "estimated"


def test_design_needs_a_compiled_net(make_network, rng):
    net = make_network(rng)
    with pytest.raises(AssertionError):
        CompiledDesign(net, net, PARALLEL, None)


def test_lwc_sim_runs_the_passes_once(digits_net_path, tmp_path, pass_runs, perfect_simulator,
                                      capsys):
    code = main(["sim", str(digits_net_path), "--vectors", "20", "--build-dir",
                 str(tmp_path / "sim"), "--board", "icebreaker"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 mismatches: hardware equals the golden model on all 20 vectors" in out
    assert len(pass_runs) == 1


def test_gate_level_takes_the_design(digits_net_path, tmp_path, pass_runs, perfect_simulator,
                                     monkeypatch):
    def synthesize(source, build_dir, *, yosys, env=None, top="lwc_net", reuse=True):
        netlist = build_dir / gatelevel.NETLIST
        netlist.write_text("// stand-in netlist\n")
        return netlist, 0.0, False

    monkeypatch.setattr(gatelevel, "synthesize", synthesize)
    net = netfile.load(digits_net_path)
    design = compile_design(net)
    x = np.random.default_rng(0).integers(0, net.input.max_value + 1, (10, net.input.count))
    report = gatelevel.simulate(design, x, yosys="yosys", build_dir=tmp_path,
                                simulator="verilator", progress=lambda line: None)
    assert report.ok and len(pass_runs) == 1


def test_lwc_demo_runs_the_passes_once(digits_net_path, tmp_path, pass_runs, perfect_simulator,
                                       monkeypatch):
    """The demo simulates, simulates the netlist and builds the bitstream of one design: the
    passes run once (they ran up to four times before the driver)."""
    from lwc.demo import run_demo

    def synthesize(source, build_dir, *, yosys, env=None, top="lwc_net", reuse=True):
        netlist = build_dir / gatelevel.NETLIST
        netlist.write_text("// stand-in netlist\n")
        return netlist, 0.0, False

    def build(top, board, out_dir, **options):
        Fragment.get(top, None)  # elaborated, as the real build does first
        raise StopBuild(top.network.latency)

    monkeypatch.setattr(gatelevel, "synthesize", synthesize)
    monkeypatch.setattr(board_compile, "build", build)
    with pytest.raises(StopBuild):
        run_demo("digits", tmp_path / "demo", net_path=str(digits_net_path), gate_level=True,
                 progress=lambda line: None)
    assert len(pass_runs) == 1
    assert (tmp_path / "demo" / "icebreaker" / "net.v").is_file()


def test_lwc_compile_runs_the_passes_once_across_timing_retries(make_network, rng, tmp_path,
                                                                pass_runs, monkeypatch):
    """Each retry with more pipelining is a new design value from the same compiled net."""
    from lwc.compile import compile_net

    built = []

    def build(top, board, out_dir, **options):
        Fragment.get(top, None)
        built.append(top.network.latency)
        return types.SimpleNamespace(fmax_mhz=1.0, timing_met=False, to_dict=dict,
                                     critical_path=["network.layer0.a", "network.layer0.b"],
                                     table=lambda: "fake build")

    monkeypatch.setattr(board_compile, "build", build)
    net = make_network(rng, inputs=24, hidden=(24,), outputs=6, bits=4, density=0.4,
                       kinds=("clip",))
    result = compile_net(net, tmp_path / "out", board="icebreaker", clock_mhz=12,
                         progress=lambda line: None)
    assert len(built) >= 2 and built == sorted(set(built))  # more registers each time
    assert len(result.pipelining["attempts"]) == len(built)
    assert len(pass_runs) == 1
    compile_net(net, tmp_path / "v", target="verilog", progress=lambda line: None)
    assert len(pass_runs) == 2
