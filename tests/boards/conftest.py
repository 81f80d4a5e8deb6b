"""Fixtures shared by the board tests."""

import gc
import warnings

import pytest


@pytest.fixture(scope="module")
def collect_unbuilt_designs():
    """For modules whose fake builds never elaborate the board tops they are given: collect
    those designs at the module's end, so Amaranth does not warn about them in a later module
    when a cycle is collected there."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
