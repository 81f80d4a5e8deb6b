"""lwc.sim.gatelevel: the iCE40 netlist Yosys synthesizes equals the golden model.

The netlist runs with the cell models that ship with Yosys, through the testbench of
lwc.sim.cocotb_sim (reset at the start, input gaps, back-pressure). A small net synthesizes in a
second or two and simulates in Icarus in about one; the trained digits net (about 20,000 LUTs)
takes minutes and is marked slow, as is the Verilator build.
"""


import numpy as np
import pytest

from lwc import cli
from lwc.compiler import golden, netfile, passes
from lwc.compiler.driver import compile_design
from lwc.compiler.lower import TOPLEVEL, plan, write_verilog
from lwc.errors import BuildError, ToolchainError, UsageError
from lwc.sim import cocotb_sim, gatelevel

from helpers import nontrivial_network, quiet

SMALL = dict(inputs=10, hidden=(8, 6), outputs=3, bits=3, density=0.5)


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory):
    """One build directory for the small net, so its netlist is synthesized once."""
    return tmp_path_factory.mktemp("gatelevel")


def vectors(net, make_vectors):
    x = make_vectors(net, np.random.default_rng(1))
    return np.vstack([x, cocotb_sim.random_vectors(net, 100, seed=2)])


def assert_equal_to_golden(report, x):
    assert report.vectors == report.received == len(x)
    assert report.mismatches == 0 and report.first_mismatch is None, report.format()
    assert report.protocol_errors == 0 and report.measured_latency == report.latency
    assert report.ok
    assert f"0 mismatches: hardware equals the golden model on all {len(x)} vectors" in \
        report.format()


def netlist_of(net, build_dir, yosys):
    """Synthesize ``net`` (as the simulation does) in ``build_dir``; the netlist's path."""
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{TOPLEVEL}.v"
    write_verilog(plan(passes.run(net)), source)
    netlist, _, _ = gatelevel.synthesize(source, build_dir, yosys=yosys[0], env=yosys[1])
    return netlist


@pytest.mark.yosys
@pytest.mark.icarus
@pytest.mark.parametrize("init", gatelevel.INITS)
def test_icarus_netlist_equals_golden(make_network, make_vectors, shared_dir, yosys, init):
    net = nontrivial_network(**SMALL)
    x = vectors(net, make_vectors)
    report = gatelevel.simulate(compile_design(net), x, yosys=yosys[0], env=yosys[1],
                                build_dir=shared_dir, simulator="icarus", init=init, seed=3,
                                progress=quiet)
    assert_equal_to_golden(report, x)
    start = {"zero": "0", "x": "x"}[init]
    assert report.simulator == f"icarus, iCE40 netlist, FFs start at {start}"
    assert report.build_dir == shared_dir / init / "icarus"
    netlist = (shared_dir / gatelevel.NETLIST).read_text()
    # Mapped cells only: no behavioural code and no attributes survive in what ran.
    assert "SB_LUT4" in netlist and "SB_DFF" in netlist
    assert "always" not in netlist and "(*" not in netlist
    models = shared_dir / ("cells_sim.v" if init == "zero" else "cells_sim_noinit.v")
    assert ("initial Q = 0" in models.read_text()) == (init == "zero")


@pytest.mark.yosys
@pytest.mark.icarus
def test_netlist_is_reused(make_network, shared_dir, yosys):
    net = nontrivial_network(**SMALL)
    first = netlist_of(net, shared_dir, yosys)
    again = gatelevel.synthesize(shared_dir / f"{TOPLEVEL}.v", shared_dir, yosys=yosys[0],
                                 env=yosys[1])
    assert again == (first, 0.0, True)


@pytest.mark.yosys
@pytest.mark.icarus
def test_reset_is_exercised(make_network, make_vectors, tmp_path, yosys):
    # Cut the reset out of the netlist. With flip-flops starting at 0 (as the FPGA configures
    # them) nothing shows; with flip-flops starting at x, only the reset could have made the
    # valid bits known, so the testbench meets x and fails.
    net = nontrivial_network(**SMALL)
    x = make_vectors(net, np.random.default_rng(1))
    netlist = netlist_of(net, tmp_path, yosys)
    text = netlist.read_text()
    assert text.count("(rst)") >= 1
    cut = tmp_path / "no_reset.v"
    cut.write_text(text.replace("(rst)", "(1'h0)"))
    args = gatelevel.build_args("icarus")
    zero = cocotb_sim.simulate(compile_design(net), x, simulator="icarus",
                               build_dir=tmp_path / "zero",
                               sources=[cut, gatelevel.cell_models(tmp_path, "zero")],
                               build_args=args, progress=quiet)
    assert_equal_to_golden(zero, x)
    with pytest.raises(ToolchainError, match=r"icarus: 1 of 1 cocotb tests .* failed"):
        cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path / "x",
                            sources=[cut, gatelevel.cell_models(tmp_path, "x")],
                            build_args=args, progress=quiet)


@pytest.mark.yosys
@pytest.mark.icarus
def test_wrong_netlist_is_caught(make_network, make_vectors, tmp_path, yosys):
    # The netlist of a net with one threshold moved, run against the golden model of the
    # original: the comparison must see every vector whose outputs differ.
    from dataclasses import replace

    net = nontrivial_network(**SMALL)
    x = vectors(net, make_vectors)
    want = golden.evaluate(net, x)

    def moved():
        """Nets with one neuron's thresholds moved by a small amount, nearest first."""
        for delta in (1, -1, 2, -2, 3, -3):
            for li, layer in enumerate(net.layers[:-1]):
                for ni, neuron in enumerate(layer.neurons):
                    neurons = list(layer.neurons)
                    neurons[ni] = replace(neuron, params=tuple(p + delta for p in neuron.params))
                    yield replace(net, layers=(*net.layers[:li],
                                               replace(layer, neurons=tuple(neurons)),
                                               *net.layers[li + 1:]))

    for bad in moved():
        got = golden.evaluate(bad, x)
        differ = (got.predictions != want.predictions) | (got.scores != want.scores).any(1)
        if 0 < differ.sum() < len(x):
            break
    else:
        raise AssertionError("no single threshold change alters some outputs")
    netlist = netlist_of(bad, tmp_path, yosys)
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus",
                                 build_dir=tmp_path / "sim",
                                 sources=[netlist, gatelevel.cell_models(tmp_path)],
                                 build_args=gatelevel.build_args("icarus"), progress=quiet)
    assert report.mismatches == int(differ.sum()) and not report.ok
    assert report.first_mismatch.index == int(np.argmax(differ))


def test_x_init_needs_icarus(make_network, tmp_path, yosys):
    net = nontrivial_network(**SMALL)
    with pytest.raises(UsageError) as err:
        gatelevel.simulate(compile_design(net), cocotb_sim.random_vectors(net, 3), yosys=yosys[0],
                           env=yosys[1], build_dir=tmp_path, simulator="verilator", init="x",
                           progress=quiet)
    assert str(err.value) == "init='x' needs a four-state simulator (icarus), not 'verilator'"
    with pytest.raises(UsageError, match=r"^init must be one of zero, x, not 'one'$"):
        gatelevel.simulate(compile_design(net), cocotb_sim.random_vectors(net, 3), yosys=yosys[0],
                           env=yosys[1], build_dir=tmp_path, simulator="verilator", init="one",
                           progress=quiet)
    assert not any(tmp_path.iterdir())


@pytest.mark.yosys
def test_synthesis_errors_are_one_line(tmp_path, yosys):
    source = tmp_path / "broken.v"
    source.write_text("module lwc_net(input a, output b); assign b = ; endmodule\n")
    with pytest.raises(BuildError) as err:
        gatelevel.synthesize(source, tmp_path / "out", yosys=yosys[0], env=yosys[1])
    message = str(err.value)
    assert message.startswith("yosys synth_ice40 failed (exit 1): ") and "\n" not in message
    assert "ERROR: syntax error" in message
    assert str(tmp_path / "out" / "synth.log") in message
    with pytest.raises(ToolchainError, match=r"^yosys \(.*missing-yosys\) could not be started"):
        gatelevel.synthesize(source, tmp_path / "out", yosys=tmp_path / "missing-yosys")


def test_undefined_inputs():
    netlist = """module lwc_net(clk, a, q);
  SB_DFFE \\l2_n0_act_SB_DFFE_Q  (
    .C(clk),
    .D(1'hx),
    .E(a),
    .Q(q[0])
  );
  SB_LUT4 #(
    .LUT_INIT(16'h00ff)
  ) lut (
    .I0(1'h0),
    .I1({ a, 2'bx0 }),
    .O(q[1])
  );
  SB_DFF ok (
    .C(clk),
    .D(a),
    .Q(q[2])
  );
  assign w = { 1'hx, a };
endmodule
"""
    assert gatelevel.undefined_inputs(netlist) == ["\\l2_n0_act_SB_DFFE_Q.D (SB_DFFE)",
                                                   "lut.I1 (SB_LUT4)"]


def test_cells_sim_path():
    path = gatelevel.cells_sim_path()
    assert path.name == "cells_sim.v" and path.parent.name == "ice40"
    assert "module SB_LUT4" in path.read_text()


@pytest.mark.yosys
@pytest.mark.icarus
def test_cli_sim_netlist(make_network, tmp_path, capsys):
    net = nontrivial_network(**SMALL)
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    code = cli.main(["sim", str(path), "--netlist", "--vectors", "50", "--simulator", "icarus",
                     "--build-dir", str(tmp_path / "build")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "simulating the iCE40 netlist of" in out
    assert "icarus, iCE40 netlist, FFs start at 0: 50 vectors" in out
    assert "0 mismatches: hardware equals the golden model on all 50 vectors" in out
    assert (tmp_path / "build" / gatelevel.NETLIST).is_file()


@pytest.mark.yosys
@pytest.mark.slow
@pytest.mark.verilator
def test_verilator_netlist_equals_golden(make_network, make_vectors, tmp_path, yosys):
    net = nontrivial_network(**SMALL)
    x = vectors(net, make_vectors)
    report = gatelevel.simulate(compile_design(net), x, yosys=yosys[0], env=yosys[1],
                                build_dir=tmp_path, simulator="verilator", progress=quiet)
    assert_equal_to_golden(report, x)
    assert report.simulator == "verilator, iCE40 netlist, FFs start at 0"


@pytest.mark.yosys
@pytest.mark.slow
@pytest.mark.icarus
def test_digits_netlist_on_its_whole_test_set(digits_net_path, tmp_path, yosys):
    # Two Icarus processes, one a core (one took 140 s of the suite's 20 minutes; Verilator's
    # build of this flat netlist takes longer than Icarus's whole run).
    net = netfile.load(digits_net_path)
    x, y = cocotb_sim.test_set(net)
    report = gatelevel.simulate(compile_design(net), x, yosys=yosys[0], env=yosys[1],
                                build_dir=tmp_path, simulator="icarus", processes=2,
                                progress=quiet)
    assert_equal_to_golden(report, x)
    assert len(x) == len(y) >= 400


@pytest.mark.yosys
@pytest.mark.slow  # ~40 s: synthesis of the digits net, its netlist in four-state Icarus
@pytest.mark.icarus
def test_digits_netlist_with_dsp_blocks(digits_net_path, tmp_path, yosys):
    """The digits net streaming through eight lanes and a sequential output layer, its
    accumulators in the UP5K's eight DSP blocks: the netlist's SB_MAC16 cells, flip-flops
    starting unknown, equal the golden model on the first test images."""
    from lwc.compiler.architecture import Streaming

    net = netfile.load(digits_net_path)
    x = cocotb_sim.test_set(net)[0][:8]
    design = compile_design(net, Streaming(8, 8, tail="sequential", dsp=8))
    report = gatelevel.simulate(design, x, yosys=yosys[0], env=yosys[1], build_dir=tmp_path,
                                simulator="icarus", init="x", progress=quiet)
    assert_equal_to_golden(report, x)
    assert (tmp_path / gatelevel.NETLIST).read_text().count("SB_MAC16 ") == 8
