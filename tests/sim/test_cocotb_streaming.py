"""lwc.sim.cocotb_sim on streaming networks: chunked input transfers, Verilator and Icarus."""


import numpy as np
import pytest

from lwc.compiler import passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.driver import compile_design
from lwc.compiler.lower import plan
from lwc.sim import cocotb_sim

from helpers import quiet


def streaming_net(make_network, *, kinds, **kwargs):
    """The first network from seeds 0, 1, ... whose first layer keeps at least three neurons that
    are not constant and whose later hidden layers keep two."""
    for seed in range(500):
        net = make_network(np.random.default_rng(seed), kinds=kinds, **kwargs)
        dut = plan(passes.compile_network(net), Streaming(lanes=3))  # facts: nothing is built
        if sum(len(p.neurons) for p in dut.lane_plans) >= 3 and \
                all(layer.size >= 2 for layer in passes.run(net).layers[1:-1]):
            return net
    raise AssertionError(f"no nontrivial network for {kwargs}")


def assert_equal_to_golden(report, x, *, features, lanes):
    assert report.vectors == report.received == len(x)
    assert report.mismatches == 0, report.format()
    assert report.protocol_errors == 0, report.format()
    assert report.measured_latency == report.latency
    assert report.ok
    assert report.architecture.name == "streaming"
    assert (report.features_per_cycle, report.lanes) == (features, lanes)
    # Every vector needs its transfers and the lanes' cycles, one after the other.
    assert report.cycles >= len(x) * report.cycles_per_inference
    text = report.format()
    assert f"0 mismatches: hardware equals the golden model on all {len(x)} vectors" in text
    assert f"streaming: {features} features per transfer, {lanes} lanes" in text


@pytest.mark.yosys
@pytest.mark.verilator
def test_verilator_streaming(make_network, make_vectors, tmp_path):
    net = streaming_net(make_network, inputs=50, hidden=(12, 8), outputs=4, bits=3, density=0.3,
                        kinds=("step", "ternary", "clip"))
    x = np.vstack([make_vectors(net, np.random.default_rng(0), n_random=32),
                   cocotb_sim.random_vectors(net, 100, seed=1)])
    report = cocotb_sim.simulate(compile_design(net, Streaming(7, 3)), x, build_dir=tmp_path,
                                 seed=1, progress=quiet)
    assert report.simulator == "verilator"
    assert_equal_to_golden(report, x, features=7, lanes=3)


@pytest.mark.yosys
@pytest.mark.verilator
def test_verilator_sequential_tail_digits_test_set(digits_net_path, tmp_path):
    """The trained digits net with a sequential output layer, four lanes, on its whole test set
    (random input gaps and output stalls)."""
    from lwc.compiler import netfile

    net = netfile.load(digits_net_path)
    x, _ = cocotb_sim.test_set(net)
    design = compile_design(net, Streaming(8, 4, tail="sequential"))
    assert design.hardware.tail == "sequential" and design.hardware.lanes == 4
    report = cocotb_sim.simulate(design, x, build_dir=tmp_path, seed=3, progress=quiet)
    assert_equal_to_golden(report, x, features=8, lanes=4)


@pytest.mark.slow  # ~45 s: the Verilator build with the cell models
@pytest.mark.yosys
@pytest.mark.verilator
def test_verilator_dsp_accumulators_digits_test_set(digits_net_path, tmp_path, yosys):
    """The trained digits net with eight lanes and a sequential output layer, its accumulators
    in all eight DSP blocks (the lanes' four, then eight of the ten classes'), written as
    SB_MAC16 instances and run on Yosys's cell model, on its whole test set."""
    from lwc.compiler import netfile
    from lwc.sim import gatelevel

    net = netfile.load(digits_net_path)
    x, _ = cocotb_sim.test_set(net)
    design = compile_design(net, Streaming(8, 8, tail="sequential", dsp=8))
    hardware = design.hardware
    assert (hardware.lanes, hardware.dsp_lanes, hardware.dsp_tail, hardware.dsp_blocks) == \
        (8, 8, 8, 8)
    source = tmp_path / "lwc_net.v"
    assert design.verilog(source, dsp=True).count("SB_MAC16 #(") == 8
    report = cocotb_sim.simulate(
        design, x, build_dir=tmp_path, seed=4, progress=quiet,
        sources=[source, gatelevel.cell_models(tmp_path, "zero", yosys[0])],
        build_args=gatelevel.build_args("verilator"))
    assert_equal_to_golden(report, x, features=8, lanes=8)


@pytest.mark.yosys
@pytest.mark.icarus
@pytest.mark.parametrize("kinds, bits, features, lanes, hidden, tail", [
    (("ternary",), 2, 1, 2, (10, 6), "parallel"),
    (("clip",), 8, 4, 1, (8,), "parallel"),
    (("step",), 1, 16, 3, (), "parallel"),
    (("step", "ternary", "clip"), 3, 5, 3, (12,), "sequential"),
])
def test_icarus_streaming(make_network, make_vectors, tmp_path, kinds, bits, features, lanes,
                          hidden, tail):
    net = streaming_net(make_network, inputs=23, hidden=hidden, outputs=3, bits=bits,
                        density=0.4, kinds=kinds)
    x = make_vectors(net, np.random.default_rng(bits), n_random=24)
    design = compile_design(net, Streaming(features, lanes, tail=tail))
    assert design.hardware.tail == tail
    report = cocotb_sim.simulate(design, x,
                                 simulator="icarus", build_dir=tmp_path, seed=bits, stall=0.4,
                                 progress=quiet)
    assert report.simulator == "icarus"
    assert_equal_to_golden(report, x, features=features, lanes=lanes)


@pytest.mark.yosys
@pytest.mark.icarus
@pytest.mark.parametrize("registers, fold", [(("entry", "index", "pixel"), True),
                                             (("index", "pixel"), False)])
def test_icarus_pipelined_streaming(make_network, make_vectors, tmp_path, registers, fold):
    """The generated Verilog of a pipelined streaming design (lane registers, second layer
    folded into the lanes, argmax registered at every level) equals the golden model under
    stalls, as the board build's design must."""
    net = streaming_net(make_network, inputs=30, hidden=(12,), outputs=5, bits=2, density=0.3,
                        kinds=("step", "ternary"))
    x = make_vectors(net, np.random.default_rng(5), n_random=24)
    tail = "fold" if fold else "parallel"
    design = compile_design(net, Streaming(4, 3, lane_registers=registers, tail=tail),
                            register_every=1)
    assert design.hardware.fold == fold and design.hardware.lane_registers == registers
    report = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path, seed=5,
                                 stall=0.4, progress=quiet)
    assert_equal_to_golden(report, x, features=4, lanes=3)
