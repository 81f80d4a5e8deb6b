"""The test tiers (markers by what a test needs) and the fixtures shared across the package tree.

Tiers: ``python -m pytest -m unit`` (no tool, no training, no fresh processes: about a minute),
``python -m pytest -m "not slow"`` (adds training, ``lwc`` in fresh processes, Yosys, Verilator
and Icarus runs), and ``python -m pytest`` (adds place-and-route and the long runs).
"""

import functools

import numpy as np
import pytest

import helpers

NEEDS = ("train", "subprocess", "verilator", "icarus", "yosys", "slow")

# Fixtures that do the work themselves: whichever test asks first pays for it.
FIXTURE_NEEDS = {"digits_run": "train", "digits_net_path": "train"}


@functools.cache
def _missing(simulator):
    return helpers.missing_simulator(simulator)


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers added here
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, need in FIXTURE_NEEDS.items():
            if fixture in item.fixturenames:
                item.add_marker(need)
        marked = {mark.name for mark in item.iter_markers()}
        if not marked.intersection(NEEDS):
            item.add_marker(pytest.mark.unit)
        for simulator in ("icarus", "verilator"):
            if simulator in marked and _missing(simulator):
                item.add_marker(pytest.mark.skip(reason=_missing(simulator)))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def make_network():
    return helpers.random_network


@pytest.fixture
def make_vectors():
    return helpers.adversarial_vectors


@pytest.fixture(scope="session")
def bench_script():
    """``bench_script(name)``: the script ``bench/<name>.py`` loaded as a module (once)."""
    return lambda name: helpers.load_script(f"bench/{name}.py")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """``{name: bad file}``: the hostile ``net.pt`` corpus (tests/corpus/make_bad_netfiles.py),
    written once a session; its users only read it."""
    made = helpers.corpus_module().make_bad_netfiles(tmp_path_factory.mktemp("bad-netfiles"))
    return {bad.name: bad for bad in made}


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """``(result, path, progress lines)`` of the one digits training of the test session,
    :data:`helpers.DIGITS_GOAL` (a few seconds), written with its report and plots."""
    from lwc.train import TrainConfig, train_to_file

    path = tmp_path_factory.mktemp("digits") / "run" / "net.pt"
    lines = []
    result = train_to_file(TrainConfig(**helpers.DIGITS_GOAL), path, progress=lines.append)
    return result, path, lines


@pytest.fixture(scope="session")
def digits_net_path(digits_run):
    """The ``net.pt`` of :func:`digits_run`."""
    return digits_run[1]
