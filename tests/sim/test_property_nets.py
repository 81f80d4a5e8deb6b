"""Property test: random sparse ternary networks, golden model vs hardware, net by net.

The generator and the checks are those of ``bench/property_nets.py`` (which runs any number of
nets); here a fixed-seed sample of 60 nets runs in ``amaranth.sim`` (two lowerings each) and every
tenth in Icarus. The generator's corner cases are asserted to occur in the sample, so the property
cannot quietly shrink to easy nets.
"""


import numpy as np
import pytest

from lwc.compiler import golden, ir, passes

SEED = 2024
COUNT = 60
HDL_EVERY = 10


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("property_nets")


@pytest.fixture(scope="module")
def sample(bench):
    """``(net, rng)`` pairs; each rng continues the stream its net was drawn from."""
    pairs = []
    for k in range(COUNT):
        rng = np.random.default_rng((SEED, k))
        pairs.append((bench.random_net(rng), rng))
    return pairs


def _duplicates(layer):
    keys = [(n.inputs, n.weights, n.params) for n in layer.neurons]
    return len(keys) - len(set(keys))


def _constant_hidden(net):
    """Hidden neurons whose output is the same for every input (dead, or always on)."""
    return sum(lo == hi for info in ir.layer_ranges(net)[:-1] for _, (lo, hi) in info)


def test_generator_covers_the_corner_cases(sample):
    nets = [net for net, _ in sample]
    for net in nets:
        ir.verify(net)
    assert {len(net.layers) for net in nets} == {1, 2, 3, 4}
    assert {net.input.bits for net in nets} >= {1, 8}
    kinds = {layer.activation.kind for net in nets for layer in net.layers[:-1]}
    assert kinds == {"step", "ternary", "clip"}
    fan_ins = [(len(n.inputs), net.layer_input_count(li)) for net in nets
               for li, layer in enumerate(net.layers) for n in layer.neurons]
    assert any(f == 0 for f, _ in fan_ins), "no neuron without inputs"
    assert any(f == n > 1 for f, n in fan_ins), "no neuron reading all of several inputs"
    assert sum(_duplicates(layer) for net in nets for layer in net.layers) >= 5
    assert sum(_constant_hidden(net) for net in nets) >= 10
    compiled = [passes.run(net) for net in nets]
    assert sum(len(c.input_map) < net.input.count for net, c in zip(nets, compiled)) >= 5, \
        "too few nets with inputs no one reads"
    assert sum(sum(layer.size for layer in c.layers) < sum(layer.size for layer in net.layers)
               for net, c in zip(nets, compiled)) >= 10, "too few nets the passes shrink"
    # Thresholds beyond both ends of the reachable sums: neurons always on and always off.
    outputs = [(lo, hi) for net in nets for info in ir.layer_ranges(net)[:-1]
               for _, (lo, hi) in info]
    assert any(lo == hi == 0 for lo, hi in outputs) and any(lo == hi != 0 for lo, hi in outputs)


def test_random_nets_equal_golden_in_amaranth(bench, sample, make_vectors):
    compared = 0
    for k, (net, rng) in enumerate(sample):
        x = make_vectors(net, rng)
        count, bad, notes = bench.check_amaranth(net, x)
        assert (bad, notes) == (0, []), f"net {k}:\n{ir.dump(net)}"
        compared += count
    assert compared >= 2 * 60 * COUNT


@pytest.mark.icarus
def test_random_nets_equal_golden_in_icarus(bench, sample, make_vectors, tmp_path):
    for k, (net, rng) in enumerate(sample[::HDL_EVERY]):
        x = make_vectors(net, rng)
        count, bad, notes = bench.check_icarus(net, x, tmp_path / str(k))
        assert (count, bad, notes) == (len(x), 0, []), f"net {k * HDL_EVERY}:\n{ir.dump(net)}"


def test_check_amaranth_catches_a_wrong_golden_side(bench, sample, make_vectors, monkeypatch):
    # The check must be able to fail: a golden model that adds 1 to every score.
    net, rng = next((net, rng) for net, rng in sample if len(net.layers) > 1)
    real = golden.evaluate

    def shifted(network, x):
        trace = real(network, x)
        return golden.Trace(trace.inputs, trace.sums, (*trace.outputs[:-1], trace.scores + 1))

    monkeypatch.setattr(golden, "evaluate", shifted)
    x = make_vectors(net, rng)
    count, bad, notes = bench.check_amaranth(net, x)
    assert bad == count == 2 * len(x)
    assert [what for what, _ in notes] == ["amaranth register_every=None",
                                           "amaranth register_every=1"]


def test_bench_prints_the_table(bench, capsys):
    assert bench.main(["4", "--hdl-every", "0", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "nets tried             4" in out
    assert "mismatches             0" in out and "crashes                0" in out
