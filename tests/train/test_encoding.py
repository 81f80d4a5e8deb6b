"""``--input-encoding``: the encoder is the net's first layer over the raw pixels, exported and
proven like any layer, compiled and built like any layer, and a host sends the pixels as they
are."""

import dataclasses

import numpy as np
import pytest
import torch

from lwc.boards.uart_host import encode_request
from lwc.compiler import golden, passes
from lwc.compiler.ir import dense_weights
from lwc.errors import UsageError
from lwc.train import TrainConfig, train
from lwc.train.encoding import Encoder, encoder_layer, fixed_thresholds, make_encoder, on_grid
from lwc.train.export import prove, to_network
from lwc.train.inputs import raw_input_spec
from lwc.train.model import TernaryMLP

from ..helpers import check_against_golden

CONFIG = TrainConfig(dataset="digits", hidden=(32,), epochs=10, seed=0, method="ste",
                     sparsity=0.8, max_fan_in=(4,), input_encoding="learned", levels=3)


def test_thermometer_cuts_are_those_of_the_uniform_quantizer():
    x = np.zeros((4, 2))
    assert fixed_thresholds("thermometer", x, 3, 255).tolist() == [[64, 128, 192]] * 2
    assert fixed_thresholds("thermometer", x, 1, 255).tolist() == [[128]] * 2
    assert fixed_thresholds("thermometer", x, 3, 16).tolist() == [[4, 8, 13]] * 2


def test_distributive_cuts_are_each_pixels_quantiles_at_least_one():
    x = np.array([[0, 0, 10], [0, 4, 20], [0, 8, 30], [0, 12, 40]])
    t = fixed_thresholds("distributive", x, 3, 255)
    assert t[0].tolist() == [1, 1, 1]  # never set: cuts it never reaches
    assert t[1].tolist() == [3, 6, 9]
    assert t[2].tolist() == [18, 25, 33]


def test_cuts_on_a_grid_read_only_the_high_bits():
    x = np.array([[0, 4, 10], [0, 8, 20], [0, 12, 30], [0, 16, 40]])
    t = fixed_thresholds("distributive", x, 3, 255, grid=16)
    assert t.tolist() == [[16, 16, 16], [16, 16, 16], [32, 32, 48]]
    assert on_grid(np.array([0.0, 0.5, 250.0]), 32, 255).tolist() == [0, 32, 256]
    assert on_grid(torch.tensor([3.0, 17.5]), 8, 16).tolist() == [8, 17]


def test_encoder_compares_with_the_integer_cuts_and_learns_them():
    enc = Encoder(np.array([[0.5, 2.2], [3.0, 9.9]]), top=16, learn=True)
    x = torch.tensor([[0.0, 3.0], [1.0, 10.0], [3.0, 9.0]])
    want = torch.tensor([[0, 0, 1, 0], [1, 0, 1, 1], [1, 1, 1, 0]], dtype=torch.float32)
    enc.eval()
    assert torch.equal(enc(x), want)
    enc.train()
    bits = enc(x)
    assert torch.equal(bits, want)  # the same function: x >= t is x >= ceil(t) for integer x
    bits.sum().backward()
    # A cut near pixels gets a gradient (raising it clears bits), one far from all gets none.
    assert (enc.thresholds.grad[0] < 0).all() and enc.thresholds.grad[1, 0] < 0
    weight, thresholds = encoder_layer(enc)
    assert weight.tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]]
    assert thresholds.tolist() == [1, 3, 3, 10]


def test_exported_encoder_is_proven_on_every_raw_input():
    """An untrained net with every kind of encoder: the golden model of the exported net equals
    the PyTorch model on all pixel values."""
    spec = raw_input_spec("digits")
    x = np.repeat(np.arange(17)[:, None], 64, axis=1)
    x = np.concatenate([x, np.random.default_rng(0).integers(0, 17, (50, 64))])
    for kind in ("thermometer", "distributive", "learned"):
        torch.manual_seed(0)
        enc = make_encoder(kind, x, 3, 16)
        model = TernaryMLP(enc.outputs, (8,), 3, 0.5, encoder=enc).eval()
        net = to_network(model, spec, ("a", "b", "c"))
        prove(net, model, x)
        assert net.layers[0].size == 192 and net.input.bits == 5 and net.input.quantizer is None


@pytest.mark.parametrize("change, message", [
    ({"input_encoding": "gray"}, "input_encoding must be one of uniform, thermometer, "
                                 "distributive, learned, not 'gray'"),
    ({"input_encoding": "uniform"}, "levels is an option of the input encodings other than "
                                    "'uniform'"),
    ({"levels": 0}, "levels must be an integer 1..255, not 0"),
    ({"cut_bits": 9}, "cut_bits must be an integer 1..8, not 9"),
    ({"input_encoding": "uniform", "levels": None, "cut_bits": 2},
     "cut_bits is an option of the input encodings other than 'uniform'"),
    ({"dataset": "breast-cancer"}, "input encoding 'learned' is for image data (digits, mnist, "
                                   "fashion-mnist), not 'breast-cancer'"),
    ({"input_bits": 2}, "input encoding 'learned' reads the raw pixels; input_bits is for "
                        "'uniform'"),
    ({"method": "paths", "max_fan_in": ()}, "input encoding 'learned' is not available with "
                                            "method 'paths'"),
])
def test_bad_encoding(change, message):
    with pytest.raises(UsageError) as info:
        dataclasses.replace(CONFIG, **change).check()
    assert str(info.value) == message


def test_levels_default():
    assert CONFIG.encoding_levels == 3
    assert dataclasses.replace(CONFIG, levels=None).encoding_levels == 3
    assert TrainConfig().encoding_levels is None


@pytest.mark.train
@pytest.mark.parametrize("encoding, cut_bits", [("thermometer", None), ("distributive", None),
                                                ("learned", None), ("learned", 2)])
def test_digits_encoded_net_exports_exactly_and_reads_raw_pixels(encoding, cut_bits):
    result = train(dataclasses.replace(CONFIG, input_encoding=encoding, cut_bits=cut_bits).check())
    net = result.net
    cuts = {n.params[0] for n in net.layers[0].neurons}
    if cut_bits:  # digits pixels are 5 bits: cuts on multiples of 8 (or 17, never reached)
        assert cuts <= {0, 8, 16, 17}, cuts
    # The first layer is the encoder: one +1 weight on one pixel per comparator, three a pixel.
    enc = dense_weights(net, 0)
    assert enc.shape == (192, 64) and (enc.sum(axis=1) == 1).all() and (enc >= 0).all()
    assert (np.argmax(enc, axis=1) == np.arange(192) // 3).all()
    assert net.layers[0].activation.kind == "step"
    assert (dense_weights(net, 1) != 0).sum(axis=1).max() <= 4
    assert net.meta("input_encoding") == encoding and net.meta("levels") == 3
    # The proof ran on the whole test set; the inputs are the raw pixels, which a host sends
    # as they are.
    ds = result.dataset
    x = golden.quantize(net.input, ds.x_test)
    assert np.array_equal(x, ds.x_test)
    assert float(np.mean(golden.predict(net, x) == ds.y_test)) == result.test_accuracy
    assert result.test_accuracy > 0.6
    assert list(encode_request(x[0])[4:-1]) == x[0].tolist()


@pytest.mark.train
@pytest.mark.parametrize("tables", ["off", "auto", "all"])
def test_digits_encoded_net_compiles_and_matches_the_golden_model(tables):
    """Through the whole pipeline (unread comparators removed, constants folded, sub-sums
    shared, tables) and the hardware, on test images and on all-max pixels."""
    result = train(CONFIG)
    net = result.net
    compiled = passes.compile_network(net, tables=tables)
    assert compiled.layers[0].size < net.layers[0].size  # comparators nobody reads are dropped
    x = np.concatenate([result.dataset.x_test[:40], np.full((1, 64), 16), np.zeros((1, 64))])
    check_against_golden(compiled, golden.quantize(net.input, x))
