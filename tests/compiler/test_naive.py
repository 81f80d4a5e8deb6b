"""lwc.compiler.naive: the naive reference Verilog computes the golden model's outputs.

The text is checked for its form (ports, dense sums with the zero weights, linear argmax) and its
port widths against the lowered design; Icarus runs it through the cocotb testbench of
lwc.sim.cocotb_sim in place of the generated Verilog, on adversarial vectors.
"""

import re

import numpy as np
import pytest

from lwc.compiler import ir, naive
from lwc.compiler.driver import compile_design
from lwc.sim import cocotb_sim

from helpers import quiet


def test_text_form(make_network):
    net = make_network(np.random.default_rng(0), inputs=5, hidden=(4,), outputs=3, bits=2,
                       density=0.4)
    text = naive.write_verilog(net)
    assert text == naive.write_verilog(net)  # deterministic
    assert ("module lwc_net(clk, rst, i__payload, i__valid, i__ready, o__payload, o__valid, "
            "o__ready);") in text
    assert "  input [9:0] i__payload;" in text
    lw, sw = naive.label_width(net), naive.score_width(net)
    assert f"  output [{lw + 3 * sw - 1}:0] o__payload;" in text
    # Dense sums: every weight of every neuron, zeros included, as a multiplication.
    sums = re.findall(r"wire signed \[\d+:0\] l0_n\d+_sum = (.*);", text)
    assert len(sums) == 4
    assert all(s.count(" * x") == 5 for s in sums)
    zeros = int((ir.dense_weights(net, 0) == 0).sum())
    assert sum(len(re.findall(r"\b\d+'sd0 \* x", s)) for s in sums) == zeros
    # A linear argmax scan and a shell of len(layers) + 1 stages by default.
    assert "wire take2 = l1_n2_act > best1;" in text
    assert "reg valid3 = 1'b0;" in text and "reg valid4" not in text
    other = naive.write_verilog(net, latency=5, name="ref")
    assert other.startswith("// Naive") and "module ref(" in other and "reg valid5" in other


def test_widths_match_the_generated_design(make_network):
    for seed in range(8):
        net = make_network(np.random.default_rng(seed), inputs=6, hidden=(5, 4), outputs=4,
                           bits=1 + seed % 8, density=0.5)
        component = compile_design(net).hardware
        assert naive.label_width(net) == component.label_width
        assert naive.score_width(net) == component.score_width


def _nets(make_network):
    """Random nets over the corners: each kind, 1 and 8 input bits, wide clips, big biases."""
    nets = []
    for seed, (kinds, bits, hidden) in enumerate([
            (("step",), 1, (6,)), (("ternary",), 3, (5, 4)), (("clip",), 8, (4,)),
            (("step", "ternary", "clip"), 4, (5, 4, 3))]):
        nets.append(make_network(np.random.default_rng(seed), inputs=7, hidden=hidden,
                                 outputs=3, bits=bits, density=0.6, kinds=kinds))
    wide = ir.from_dense(
        ir.InputSpec(3, 8),
        [(np.array([[1, -1, 1], [1, 1, 1]]), ir.Activation("clip", shift=0, bits=16), [-5, 0]),
         (np.array([[1, -1], [-1, 0]]), ir.Activation("linear"), [-100000, 7])],
        ["a", "b"])
    return nets + [wide]


@pytest.mark.icarus
def test_naive_equals_golden_in_icarus(make_network, make_vectors, tmp_path):
    for k, net in enumerate(_nets(make_network)):
        design = compile_design(net)
        source = tmp_path / f"naive{k}.v"
        naive.write_verilog(net, source, latency=design.hardware.latency)
        x = make_vectors(net, np.random.default_rng(k))
        report = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path / str(k),
                                     sources=[source], seed=k, progress=quiet)
        assert report.ok, f"net {k}:\n{report.format()}\n{ir.dump(net)}"
        assert report.mismatches == 0 and report.received == len(x)


@pytest.mark.icarus
def test_latency_is_the_given_one(make_network, make_vectors, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=4, hidden=(3,), outputs=2, bits=2)
    source = tmp_path / "naive.v"
    naive.write_verilog(net, source, latency=1)
    x = make_vectors(net, np.random.default_rng(0))
    report = cocotb_sim.simulate(compile_design(net), x, simulator="icarus", build_dir=tmp_path,
                                 sources=[source], progress=quiet)
    assert report.mismatches == 0 and report.protocol_errors == 0
    assert report.measured_latency == 1 != report.latency


@pytest.mark.icarus
def test_a_wrong_reference_mismatches(make_network, make_vectors, tmp_path):
    # The naive Verilog of a net whose biases are all one higher, against the original's golden
    # model: every vector's scores differ.
    from dataclasses import replace

    net = make_network(np.random.default_rng(1), inputs=4, hidden=(3,), outputs=2, bits=2)
    out = net.layers[-1]
    bad = replace(net, layers=(*net.layers[:-1], replace(out, neurons=tuple(
        replace(n, params=(n.params[0] + 1,)) for n in out.neurons))))
    source = tmp_path / "naive.v"
    design = compile_design(net)
    naive.write_verilog(bad, source, latency=design.hardware.latency)
    x = make_vectors(net, np.random.default_rng(0))
    report = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path,
                                 sources=[source], progress=quiet)
    assert report.mismatches == len(x) and report.first_mismatch.index == 0


@pytest.mark.icarus
def test_long_sums_are_written_in_chains(make_network, make_vectors, tmp_path, monkeypatch):
    # Sums longer than CHAIN terms are parenthesised chains (Yosys' front end recurses once per
    # "+" of a chain); the value is the same.
    monkeypatch.setattr(naive, "CHAIN", 3)
    net = make_network(np.random.default_rng(2), inputs=7, hidden=(4,), outputs=3, bits=3,
                       density=0.7)
    design = compile_design(net)
    source = tmp_path / "naive.v"
    text = naive.write_verilog(net, source, latency=design.hardware.latency)
    sums = re.findall(r"wire signed \[\d+:0\] l0_n\d+_sum = (.*);", text)
    assert sums and all(s.count("(") - s.count("(-") == 3 and s.count(" * x") == 7
                        for s in sums)
    x = make_vectors(net, np.random.default_rng(2))
    report = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path,
                                 sources=[source], progress=quiet)
    assert report.mismatches == 0 and report.received == len(x)
