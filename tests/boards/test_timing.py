"""Clock-target pipelining: the stage model of :mod:`lwc.boards.timing` and the retries of
``compile_net`` when nextpnr reports the target missed (with a stand-in for the build)."""

import json

import numpy as np
import pytest
from amaranth.hdl import Fragment

import lwc.boards.compile as compile_module
from lwc.boards import BOARDS, timing
from lwc.boards.compile import MAX_TIMING_TRIES
from lwc.compile import compile_net
from lwc.compiler import passes
from lwc.compiler.lower import plan
from lwc.errors import UsageError


@pytest.fixture
def deep_net(make_network):
    # 24 inputs at 40% density: first-layer trees of about 4 levels, 6 classes (3 argmax levels).
    return make_network(np.random.default_rng(7), inputs=24, hidden=(24,), outputs=6, bits=4,
                        density=0.4, kinds=("clip",))


@pytest.mark.parametrize("seed", range(6))
def test_one_stage_per_register(make_network, seed):
    net = passes.run(make_network(np.random.default_rng(seed), inputs=16, hidden=(12,),
                                  outputs=4, bits=3, density=0.4, kinds=("clip", "step")))
    for every in timing.register_choices(net):
        stages = timing.stages(net, every)
        component = plan(net, register_every=every)
        # Every stage ends in a register, and every register closes a stage.
        assert len(stages) == component.latency, every
        if every is not None:
            assert all(stage.levels <= every for stage in stages)


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_more_registers_never_predicted_slower(deep_net, family):
    net = passes.run(deep_net)
    choices = timing.register_choices(net)
    assert choices[0] is None and choices[-1] == 1 and len(choices) >= 3
    predicted = [timing.estimate(net, every, family)[0] for every in choices]
    assert predicted == sorted(predicted)
    assert predicted[-1] > predicted[0]


def test_plan_starts_at_the_least_pipelining_that_meets_the_target(deep_net):
    net = passes.run(deep_net)
    family = BOARDS["icebreaker"].family
    assert [every for every, _ in timing.plan(net, 12, family)] == \
        timing.register_choices(net)
    slowest = timing.estimate(net, None, family)[0]
    fastest = timing.estimate(net, 1, family)[0]
    target = (slowest + fastest) / 2
    plan = timing.plan(net, target, family)
    assert plan[0][1] >= target and plan[0][0] is not None
    assert all(mhz < target for every, mhz in
               ((e, timing.estimate(net, e, family)[0]) for e in timing.register_choices(net))
               if every is None or every > plan[0][0])
    assert timing.plan(net, 1000, family) == [(1, fastest)]


def test_ecp5_argmax_registered_every_level_at_100mhz(make_network):
    """On the ECP5 a comparator level of the argmax (a carry-chain comparison, then multiplexers
    that the next level waits for) takes about as long as two adder levels: the MNIST demo net
    with its 10-class argmax in one stage placed at 47 MHz for a predicted 101. At 100 MHz the
    plan registers the argmax after every level, whatever its trees would allow."""
    net = passes.run(make_network(np.random.default_rng(3), inputs=40, hidden=(32,), outputs=10,
                                  bits=2, density=0.3, kinds=("step",)))
    family = BOARDS["ulx3s"].family
    assert timing.plan(net, 100, family)[0][0] == 1
    mhz, stage = timing.estimate(net, 2, family)
    assert mhz < 100 and stage.kind == "compare" and stage.levels == 2


# --- retries in compile_net, with a stand-in for the build ---------------------------------

class FakeReport:
    """What ``compile_net`` reads of a :class:`~lwc.boards.build.BuildReport`."""

    def __init__(self, fmax, path, clock_mhz):
        self.fmax_mhz = fmax
        self.timing_met = fmax >= clock_mhz
        self.critical_path = path

    def to_dict(self):
        return {"fmax_mhz": self.fmax_mhz, "timing_met": self.timing_met}

    def table(self):
        return f"fake build, Fmax {self.fmax_mhz} MHz"


def fake_build(fmax_of_latency, path=("network.layer0.l0_n0_sum", "network.layer0.y0")):
    """A build whose Fmax is ``fmax_of_latency(latency of the top's network)``."""
    latencies = []

    def build(top, board, out_dir, *, name, seed, progress, clock_mhz=None, pll=None):
        Fragment.get(top, None)  # elaborated, as the real build does first
        latency = top.network.latency
        latencies.append(latency)
        clock_mhz = pll.mhz if pll is not None else clock_mhz
        return FakeReport(fmax_of_latency(latency), list(path), clock_mhz or board.clock_mhz)
    build.latencies = latencies
    return build


def test_retries_with_more_registers_until_the_target_is_met(deep_net, tmp_path, monkeypatch):
    net = passes.run(deep_net)
    family = BOARDS["icebreaker"].family
    choices = timing.register_choices(net)
    latency = {every: plan(net, register_every=every).latency for every in choices}
    # The model predicts None meets 12 MHz; the "board" only reaches it with register_every 1.
    fake = fake_build(lambda lat: 13.0 if lat == latency[1] else 5.0)
    monkeypatch.setattr(compile_module, "build", fake)
    lines = []
    result = compile_net(deep_net, tmp_path / "out", board="icebreaker", clock_mhz=12,
                         progress=lines.append)
    attempts = result.pipelining["attempts"]
    assert 2 <= len(attempts) <= MAX_TIMING_TRIES
    assert attempts[0]["register_every"] is None and attempts[-1]["register_every"] == 1
    assert [a["timing_met"] for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert fake.latencies == [a["latency"] for a in attempts]
    assert fake.latencies[0] < fake.latencies[-1] == latency[1]
    assert any(line.startswith("timing: 5.0 MHz < 12 MHz target, critical path "
                               "network.layer0.l0_n0_sum -> network.layer0.y0; retrying with "
                               "register every") for line in lines)
    # The facts, net.v and report.json describe the build that was kept.
    assert result.facts.latency == latency[1]
    assert result.verilog == (tmp_path / "out" / "net.v").read_text()
    assert f"reg valid_{latency[1]} " in result.verilog
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["network"]["latency"] == latency[1]
    assert report["pipelining"]["register_every"] == 1 and report["pipelining"]["auto"]
    assert "pipelining   register every 1 levels (chosen for 12 MHz)" in result.table()
    assert family.name == "ice40"


def test_retries_are_bounded(deep_net, tmp_path, monkeypatch):
    # Just short of the target each time: the model, scaled by what was achieved, always
    # expects the next choice to make it.
    fake = fake_build(lambda lat: 11.9)
    monkeypatch.setattr(compile_module, "build", fake)
    lines = []
    result = compile_net(deep_net, tmp_path / "out", board="icebreaker", clock_mhz=12,
                         progress=lines.append)
    assert len(fake.latencies) == MAX_TIMING_TRIES
    assert result.build.timing_met is False
    assert lines[-1] == (f"timing: 11.9 MHz, target 12 MHz missed; keeping this build "
                         f"({MAX_TIMING_TRIES} builds tried)")
    assert fake.latencies == sorted(set(fake.latencies))


def test_retry_goes_to_the_most_pipelined_choice_when_nothing_else_would_do(
        deep_net, tmp_path, monkeypatch):
    fake = fake_build(lambda lat: 1.0)
    monkeypatch.setattr(compile_module, "build", fake)
    lines = []
    result = compile_net(deep_net, tmp_path / "out", board="icebreaker", clock_mhz=12,
                         progress=lines.append)
    assert [a["register_every"] for a in result.pipelining["attempts"]] == [None, 1]
    assert lines[-1] == ("timing: 1.0 MHz, target 12 MHz missed; keeping this build (no more "
                         "pipelining to add)")


def test_no_retry_when_the_critical_path_is_outside_the_network(deep_net, tmp_path,
                                                                monkeypatch):
    fake = fake_build(lambda lat: 40.0, path=("silence[11]", "uart_req_state"))
    monkeypatch.setattr(compile_module, "build", fake)
    # The board's oscillator at a 100 MHz target, as on a board without a PLL: this is about the
    # retries, not the clock (the icebreaker's PLL would make 99 MHz of it).
    monkeypatch.setattr("lwc.compile.board_pll", lambda board, clock_mhz: None)
    lines = []
    result = compile_net(deep_net, tmp_path / "out", board="icebreaker", clock_mhz=100,
                         progress=lines.append)
    assert len(fake.latencies) == 1
    assert result.pipelining["attempts"][0]["critical_path"] == ["silence[11]",
                                                                 "uart_req_state"]
    assert lines[-1] == ("timing: 40.0 MHz, target 100 MHz missed; keeping this build (the "
                         "critical path is outside the network)")


def test_retries_run_from_the_pll(deep_net, tmp_path, monkeypatch):
    fake = fake_build(lambda lat: 40.0, path=("silence[11]", "uart_req_state"))
    monkeypatch.setattr(compile_module, "build", fake)
    lines = []
    result = compile_net(deep_net, tmp_path / "out", board="icebreaker", clock_mhz=100,
                         progress=lines.append)
    assert result.pipelining["target_mhz"] == 99.0  # the PLL's closest at or below 100 MHz
    assert "clock: 99 MHz from the PLL (SB_PLL40_PAD: 12 MHz / 1 x 66 / 8)" in lines
    assert lines[-1] == ("timing: 40.0 MHz, target 99 MHz missed; keeping this build (the "
                         "critical path is outside the network)")


def test_given_register_every_is_built_once(deep_net, tmp_path, monkeypatch):
    fake = fake_build(lambda lat: 1.0)
    monkeypatch.setattr(compile_module, "build", fake)
    result = compile_net(deep_net, tmp_path / "out", board="icebreaker", register_every=2,
                         progress=lambda line: None)
    assert len(fake.latencies) == 1
    assert result.pipelining["register_every"] == 2 and not result.pipelining["auto"]


# --- targets and boards ----------------------------------------------------------------------

def test_board_chooses_the_target(deep_net, tmp_path, monkeypatch):
    boards = []

    def build(top, board, out_dir, *, name, clock_mhz, seed, progress):
        Fragment.get(top, None)
        boards.append((board.name, clock_mhz))
        return FakeReport(100.0, [], clock_mhz or board.clock_mhz)
    monkeypatch.setattr(compile_module, "build", build)
    lines = []
    compile_net(deep_net, tmp_path / "a", board="ulx3s", progress=lines.append)
    compile_net(deep_net, tmp_path / "b", target="ecp5", progress=lines.append)
    assert boards == [("ulx3s", None), ("ulx3s", None)]
    assert "target ecp5: using the default board ulx3s (Radiona ULX3S (85F))" in lines
    assert json.loads((tmp_path / "a" / "lwc-build.json").read_text())["target"] == "ecp5"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": "ice40", "board": "ulx3s"},
     "board ulx3s is an ECP5 board, not ice40: use --target ecp5 or leave --target out"),
    ({"target": "ecp5", "board": "icestick"},
     "board icestick is an iCE40 board, not ecp5: use --target ice40 or leave --target out"),
    ({"target": "asic", "board": "icebreaker"},
     "--board needs a board target such as --target ice40, not asic"),
    ({"target": "gates"}, "unknown target 'gates' (choose from: verilog, ice40, ecp5, asic)"),
])
def test_bad_target_and_board(deep_net, tmp_path, kwargs, message):
    with pytest.raises(UsageError) as err:
        compile_net(deep_net, tmp_path / "out", progress=lambda line: None, **kwargs)
    assert str(err.value) == message
    assert not (tmp_path / "out").exists()


# --- streaming: the lanes, and the layers after them ------------------------------------------

@pytest.fixture
def streaming_hardware(make_network):
    from lwc.compiler.architecture import Streaming

    net = passes.run(make_network(np.random.default_rng(3), inputs=40, hidden=(12,), outputs=4,
                                  bits=2, density=0.3, kinds=("step",)))
    return net, plan(net, Streaming(8, 2))


def test_streaming_stages_skip_the_sequential_layer(streaming_hardware):
    from lwc.compiler.architecture import Streaming

    net, _ = streaming_hardware
    for every in timing.register_choices(net, first=1):
        stages = timing.stages(net, every, first=1)
        hardware = plan(net, Streaming(8, 2), register_every=every)
        assert not any(stage.where.startswith("layer 0") for stage in stages)
        # One stage per register after the lanes: each later layer's and the argmax's.
        assert len(stages) == sum(hardware.layer_latencies[1:]) + hardware.argmax_latency
    assert timing.plan(net, 1000, "ice40", first=1)[0][0] == 1


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_lane_registers_cut_the_lane(streaming_hardware, family):
    _, hardware = streaming_hardware
    bare = timing.lane_stages(hardware, (), family)
    full = timing.lane_stages(hardware, ("entry", "index", "pixel"), family)
    # The image buffer's read always splits the lane; each register cuts one stage more.
    assert len(bare) == 2 and len(full) == 5
    assert max(ns for _, ns in full) < max(ns for _, ns in bare)
    slowest = timing.lane_estimate(hardware, (), family)[0]
    assert timing.lane_registers(hardware, slowest, family) == ((), slowest)
    registers, mhz = timing.lane_registers(hardware, slowest + 1, family)
    assert registers and mhz >= slowest + 1
    # The fewest registers that reach it: no set of fewer does.
    from itertools import combinations
    assert all(timing.lane_estimate(hardware, fewer, family)[0] < slowest + 1
               for fewer in combinations(("entry", "index", "pixel"), len(registers) - 1))
    # Out of reach: every register, the fastest lanes the model knows.
    assert timing.lane_registers(hardware, 10_000, family)[1] == \
        max(timing.lane_estimate(hardware, r, family)[0]
            for k in range(4) for r in combinations(("entry", "index", "pixel"), k))


def test_streaming_build_folds_and_pipelines_its_lanes_for_a_fast_target(make_network, tmp_path,
                                                                         monkeypatch):
    """``compile_net`` of a streaming net: at the board clock nothing changes (no fold, no lane
    registers); at a PLL target the second layer is folded and the lanes get the registers the
    lane model chose, and the design built, its facts and report say so."""
    net = make_network(np.random.default_rng(3), inputs=40, hidden=(12,), outputs=4, bits=2,
                       density=0.3, kinds=("step",))
    fake = fake_build(lambda lat: 60.0, path=("network.lane0_index", "network.lane0_acc"))
    monkeypatch.setattr(compile_module, "build", fake)
    slow = compile_net(net, tmp_path / "slow", board="icebreaker", architecture="streaming",
                       lanes=2, progress=lambda line: None)
    assert slow.pipelining["lane_registers"] == [] and not slow.pipelining["fold"]
    lines = []
    fast = compile_net(net, tmp_path / "fast", board="icebreaker", architecture="streaming",
                       lanes=2, clock_mhz=48, progress=lines.append)
    pipelining = fast.pipelining
    assert pipelining["fold"] and pipelining["lane_registers"]
    assert pipelining["lane_predicted_mhz"] >= 48
    assert any(line.startswith("timing: 48 MHz target on iCE40: lane registers ")
               and line.endswith("; second layer folded into the lanes") for line in lines)
    # The facts are the built design's: the second layer's adders are gone, the cycles longer.
    assert fast.facts.adders == 0 < slow.facts.adders
    assert fast.facts.cycles_per_inference == (slow.facts.cycles_per_inference + 3
                                               + len(pipelining["lane_registers"]))
    assert fake.latencies[-1] == fast.facts.latency


def test_argmax_split_when_every_level_is_registered(make_network):
    """At a target that needs a register after every comparator level (``register_every`` 1,
    the MNIST fold net at 48 MHz on the UP5K), the argmax is split: a stage per level, each the
    previous level's multiplexers then a comparison, and the last multiplexer's; the model
    times them so, and the plan built has the split argmax with its register more."""
    net = passes.run(make_network(np.random.default_rng(3), inputs=40, hidden=(32,), outputs=10,
                                  bits=2, density=0.3, kinds=("step",)))
    argmax = [s for s in timing.stages(net, 1) if s.where.startswith("argmax")]
    assert [s.kind for s in argmax] == ["split"] * 5 and argmax[-1].levels == 0
    assert plan(net, register_every=1).argmax_split
    assert not plan(net, register_every=2).argmax_split
    assert plan(net, register_every=1).argmax_latency == 5 == plan(net, register_every=2) \
        .argmax_latency + 3
    assert all(s.kind == "compare" for s in timing.stages(net, 2) if s.where.startswith("argmax"))


def test_up5k_lane_model_at_48_mhz(make_network):
    """The UP5K lane model as fitted to the MNIST fold net (784 x 2-bit inputs, 8 per transfer:
    a 10-bit index): ``index, pixel`` leaves the entry read, decoder, index adder and
    multiplexer in one stage, measured 21.0 ns, which misses 48 MHz; the model then chooses
    ``entry, pixel`` (measured 19.0-19.6 ns)."""
    from lwc.compiler.architecture import Streaming

    net = passes.run(make_network(np.random.default_rng(5), inputs=784, hidden=(16,),
                                  outputs=10, bits=2, density=0.05, kinds=("ternary",)))
    hardware = plan(net, Streaming(8, 4, tail="fold"))
    assert hardware.position(hardware.input_count - 1).bit_length() == 10
    assert timing.lane_estimate(hardware, ("index", "pixel"), "ice40")[0] < 48
    assert timing.lane_registers(hardware, 48, "ice40")[0] == ("entry", "pixel")
