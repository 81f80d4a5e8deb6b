"""A trained digits net whose neurons are truth tables, in Icarus against the golden model."""

import pytest

from lwc.compiler.driver import compile_design
from lwc.sim import cocotb_sim, vectors
from lwc.train import TrainConfig, train

from helpers import quiet


@pytest.fixture(scope="module")
def fan_in_net():
    """digits, 64-32-16-10, at most three weights per hidden neuron (``--max-fan-in 3``)."""
    config = TrainConfig(dataset="digits", hidden=(32, 16), epochs=3, seed=0, method="ste",
                         sparsity=0.8, max_fan_in=(3,))
    return train(config).net


@pytest.mark.train
@pytest.mark.icarus
@pytest.mark.parametrize("tables, register_every", [("all", None), ("auto", 1)])
def test_icarus_digits_net_with_table_neurons(fan_in_net, tables, register_every, tmp_path):
    design = compile_design(fan_in_net, tables=tables, register_every=register_every)
    count = sum(n.table for layer in design.network.layers for n in layer.neurons)
    # Every second-layer neuron reads at most three one-bit values: a table either way.
    assert all(n.table for n in design.network.layers[1].neurons if len(n.inputs) >= 2)
    assert count >= len(design.network.layers[1].neurons)
    x, _ = vectors.test_set(fan_in_net)
    report = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path,
                                 progress=quiet)
    assert report.vectors == report.received == len(x)
    assert report.mismatches == 0, report.format()
    assert report.protocol_errors == 0, report.format()
    assert report.measured_latency == report.latency == design.hardware.latency
