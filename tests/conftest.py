"""Shared fixtures: random sparse networks and vectors for tests across the package tree."""

import importlib.util
import pathlib

import numpy as np
import pytest

from lwc.compiler import ir


def random_network(rng, *, inputs=12, hidden=(8,), outputs=3, bits=4, density=0.3,
                   kinds=("step", "ternary", "clip"), quantizer=None):
    """A random valid :class:`~lwc.compiler.ir.Network` (dense form, before any pass).

    Hidden activation kinds are drawn from ``kinds``; thresholds are drawn around and beyond the
    reachable range so constant and dead neurons occur.
    """
    sizes = [inputs, *hidden, outputs]
    layers = []
    in_max = (1 << bits) - 1
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([-1, 0, 1], size=(n_out, n_in), p=[density / 2, 1 - density, density / 2])
        reach = max(1, int(np.abs(w).sum(axis=1).max(initial=0)) * in_max)
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-3, 4, n_out)))
            break
        kind = kinds[rng.integers(len(kinds))]
        if kind == "step":
            act, params, out_max = ir.Activation("step"), rng.integers(-reach, reach + 2, n_out), 1
        elif kind == "ternary":
            lo = rng.integers(-reach - 1, reach + 1, n_out)
            hi = lo + rng.integers(1, 4, n_out)
            act, params = ir.Activation("ternary"), np.stack([lo, hi], 1)
            out_max = 1
        else:
            cbits = int(rng.integers(1, 4))
            act = ir.Activation("clip", shift=int(rng.integers(0, 3)), bits=cbits)
            params, out_max = rng.integers(-reach, reach + 1, n_out), (1 << cbits) - 1
        layers.append((w, act, params))
        in_max = out_max
    return ir.from_dense(ir.InputSpec(inputs, bits, quantizer), layers,
                         [f"c{k}" for k in range(outputs)], {"dataset": "random"})


def adversarial_vectors(net, rng, n_random=64):
    """All-zero, all-max, alternating, each one-hot (up to 64), and random integer input vectors."""
    count, top = net.input.count, net.input.max_value
    rows = [np.zeros(count), np.full(count, top), np.arange(count) % 2 * top,
            (1 - np.arange(count) % 2) * top]
    eye = np.eye(count)[: min(count, 64)] * top
    rand = rng.integers(0, top + 1, size=(n_random, count))
    return np.vstack([np.array(rows), eye, rand]).astype(np.int64)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def make_network():
    return random_network


@pytest.fixture
def make_vectors():
    return adversarial_vectors


@pytest.fixture(scope="session")
def bench_script():
    """``bench_script(name)``: the script ``bench/<name>.py`` loaded as a module (once)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    loaded = {}

    def load(name):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(f"bench_{name}",
                                                          root / "bench" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def digits_net_path(tmp_path_factory):
    """A digits net trained once per test session with the default configuration (a few s)."""
    from lwc.train import TrainConfig, train_to_file

    path = tmp_path_factory.mktemp("digits") / "net.pt"
    train_to_file(TrainConfig(dataset="digits", seed=0), path, plots=False)
    return path
