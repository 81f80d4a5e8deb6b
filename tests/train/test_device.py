"""Training honours ``device``: on a CUDA GPU (when there is one) every method trains, exports and
proves its net (golden model == PyTorch eval on every test sample, which :func:`train` checks),
and the same seed on the same device gives the same net."""

import pytest
import torch

from lwc.compiler import dump, netfile
from lwc.train import TrainConfig, train, train_to_file
from lwc.train.config import METHODS

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU on this machine (torch.cuda."
                                "is_available() is False); the CUDA path runs where there is one")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


def small(method, device, **extra):
    return TrainConfig(method=method, dataset="digits", hidden=(32,), epochs=4, seed=3,
                       device=device, **extra)


def tensors(path):
    """The tensors of a saved net.pt (its provenance holds times, which differ run to run)."""
    net = netfile.load(path)
    return dump(net.with_meta(created=None, train_seconds=None))


@pytest.mark.train
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_device_same_net(device, precision, tmp_path):
    config = small("ste", device, augment=1, precision=precision)
    a = train_to_file(config, tmp_path / "a.pt", plots=False)
    b = train_to_file(config, tmp_path / "b.pt", plots=False)
    assert a.device == b.device == device
    assert dump(a.net) == dump(b.net)
    assert tensors(tmp_path / "a.pt") == tensors(tmp_path / "b.pt")
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


@needs_cuda
@pytest.mark.parametrize("method", METHODS)
def test_cuda_trains_and_proves_every_method(method):
    result = train(small(method, "cuda"))
    assert result.device == "cuda" and result.net.meta("device") == "cuda"
    # Far above chance (10%) after 4 epochs; prune reaches 46% then, on the CPU as on an H200.
    assert result.test_accuracy > 0.3, result.test_accuracy


@pytest.mark.train
@pytest.mark.parametrize("method", METHODS)
def test_bf16_trains_and_proves_every_method(method):
    """bf16 training steps (the export proof runs on the float32 / integer evaluation path)."""
    result = train(small(method, "cpu", precision="bf16"))
    assert result.net.meta("device") == "cpu"
    assert result.test_accuracy > 0.3, result.test_accuracy


def test_unavailable_device_is_a_usage_error():
    from lwc.errors import UsageError

    if CUDA:
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(UsageError, match="device 'cuda' is not available on this machine"):
        train(small("ste", "cuda"))
