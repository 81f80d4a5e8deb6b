"""lwc.sim.formal: Yosys proves the generated design equal to the naive reference for all inputs.

Small random nets prove in a few seconds each; a reference written from a net with one parameter
moved by 1 must yield a counterexample that is real (the golden model of the two nets differs on
its input vector).
"""

from dataclasses import replace

import numpy as np
import pytest

from lwc import cli
from lwc.compiler import golden, ir, netfile, passes
from lwc.errors import UsageError
from lwc.sim import formal

KINDS = ("step", "ternary", "clip")


def quiet(line):
    pass


def small_net(make_network, seed=0, **kwargs):
    """The first random net (from ``seed`` on) whose compiled hidden layers keep 2+ neurons."""
    for s in range(seed, seed + 300):
        net = make_network(np.random.default_rng(s), **kwargs)
        if all(layer.size >= 2 for layer in passes.run(net).layers[:-1]):
            return net
    raise AssertionError(f"no nontrivial network for {kwargs}")


def prove(net, yosys, work_dir, **options):
    return formal.prove_equivalent(net, yosys=yosys[0], env=yosys[1], work_dir=work_dir,
                                   progress=quiet, **options)


@pytest.mark.parametrize("kinds, inputs, bits, hidden, register_every", [
    (KINDS, 8, 2, (4, 3), None),
    (("ternary",), 12, 1, (5,), 1),
    (("clip",), 5, 3, (4,), None),
])
def test_small_nets_prove(make_network, yosys, tmp_path, kinds, inputs, bits, hidden,
                          register_every):
    net = small_net(make_network, inputs=inputs, hidden=hidden, outputs=3, bits=bits,
                    density=0.5, kinds=kinds)
    report = prove(net, yosys, tmp_path, register_every=register_every)
    assert report.proved, report.format()
    assert report.verdicts == {"pipeline": "proved", "back-pressure": "proved"}
    assert report.counterexample is None
    text = report.format()
    assert "PROVED: the generated design equals the naive reference for all inputs" in text
    for name in ("lwc_net.v", "lwc_naive.v", "lwc_miter.v", "pipeline.ys", "pipeline.log"):
        assert (tmp_path / name).is_file()


def _shift_one_parameter(net, x):
    """A copy of ``net`` with one hidden parameter moved by 1 that changes some outputs on ``x``."""
    want = golden.evaluate(net, x)
    for li, layer in enumerate(net.layers[:-1]):
        for ni, neuron in enumerate(layer.neurons):
            neurons = list(layer.neurons)
            neurons[ni] = replace(neuron, params=tuple(p + 1 for p in neuron.params))
            bad = replace(net, layers=(*net.layers[:li], replace(layer, neurons=tuple(neurons)),
                                       *net.layers[li + 1:]))
            got = golden.evaluate(bad, x)
            if ((got.scores != want.scores).any(axis=1) | (got.predictions
                                                           != want.predictions)).any():
                return bad
    raise AssertionError("no single parameter change alters an output")


def test_a_wrong_reference_gives_a_real_counterexample(make_network, make_vectors, yosys,
                                                       tmp_path):
    net = small_net(make_network, inputs=6, hidden=(5,), outputs=3, bits=2, density=0.6,
                    kinds=("ternary",))
    bad = _shift_one_parameter(net, make_vectors(net, np.random.default_rng(0)))
    report = prove(net, yosys, tmp_path, reference=bad)
    assert not report.proved
    assert report.verdicts["pipeline"] == "counterexample"
    cex = report.counterexample
    assert cex.proof == "pipeline" and cex.vector is not None
    assert 1 <= cex.cycle <= len(cex.steps)
    # The counterexample is real: the two nets' golden models disagree on its vector, the
    # generated design gave the original's outputs and the reference the shifted one's.
    x = np.asarray([cex.vector], dtype=np.int64)
    right, wrong = golden.evaluate(net, x), golden.evaluate(bad, x)
    def label_scores(trace):
        return int(trace.predictions[0]), tuple(int(s) for s in trace.scores[0])

    assert label_scores(right) != label_scores(wrong)
    bad_step = cex.steps[cex.cycle - 1]
    assert bad_step.generated[1] == bad_step.reference[1] == 1  # both outputs valid
    assert bad_step.generated[2:] == label_scores(right) == cex.golden
    assert bad_step.reference[2:] == label_scores(wrong)
    text = report.format()
    assert "NOT PROVED" in text and f"input     {list(cex.vector)}" in text
    assert f"golden    label {cex.golden[0]} scores {list(cex.golden[1])}" in text


def test_size_limits(make_network, yosys, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=9, hidden=(4,), outputs=2, bits=2)
    with pytest.raises(UsageError) as err:
        prove(net, yosys, tmp_path)
    assert str(err.value) == ("the net is too large for a formal proof: 18 input bits (the limit "
                              "is 16); use 'lwc sim' (with --netlist) instead")
    assert not any(tmp_path.iterdir())
    assert formal.check_size(net, {"input_bits": 18})["input_bits"] == 18
    dense = ir.from_dense(ir.InputSpec(13, 1), [(np.ones((1, 13), dtype=int), ir.Activation(
        "linear"), [0])], ["a"])
    with pytest.raises(UsageError, match=r": 13 inputs to one neuron \(the limit is 12\)"):
        formal.check_size(dense)


def test_reference_must_match(make_network, yosys, tmp_path):
    net = make_network(np.random.default_rng(0), inputs=4, hidden=(3,), outputs=2, bits=2)
    other = make_network(np.random.default_rng(0), inputs=4, hidden=(3,), outputs=3, bits=2)
    with pytest.raises(UsageError, match="^the reference must have the inputs and classes"):
        prove(net, yosys, tmp_path, reference=other)


def test_cli_verify(make_network, yosys, tmp_path, capsys):
    net = small_net(make_network, inputs=5, hidden=(4,), outputs=2, bits=2, density=0.5)
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    code = cli.main(["verify", "--formal", str(path), "--work-dir", str(tmp_path / "w")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PROVED: the generated design equals the naive reference for all inputs" in out
    big = make_network(np.random.default_rng(0), inputs=40, bits=4)
    netfile.save(big, tmp_path / "big.pt")
    assert cli.main(["verify", "--formal", str(tmp_path / "big.pt"), "--work-dir",
                     str(tmp_path / "big")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lwc: error: the net is too large for a formal proof: 160 input bits")
    assert err.count("\n") == 1
    # formal is the default: the flag may be left out
    assert cli.main(["verify", str(path), "--work-dir", str(tmp_path / "w2")]) == 0
    assert "PROVED" in capsys.readouterr().out
