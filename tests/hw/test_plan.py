"""The architecture plan: a plain, frozen value that says what will be built, read by the
components, the Verilog writer and the estimator without building anything."""

import dataclasses
import gc
import warnings

import pytest
from amaranth.hdl import Fragment

from lwc.boards.estimate import estimate_streaming
from lwc.compiler import passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.lower import lower, plan
from lwc.hw import ParallelPlan, StreamingNetwork, StreamingPlan, TernaryNetwork
from lwc.hw.plan import parallel_plan


def test_plans_say_what_they_are(rng, make_network):
    net = passes.run(make_network(rng, inputs=12, hidden=(8,), outputs=3, bits=2, density=0.6))
    parallel = plan(net)
    streaming = plan(net, Streaming(5, 2))
    assert isinstance(parallel, ParallelPlan) and not isinstance(parallel, StreamingPlan)
    assert isinstance(streaming, StreamingPlan) and not isinstance(streaming, ParallelPlan)
    assert parallel.cycles_per_inference == 1 and parallel.transfers_per_vector == 1
    active = sum(lo != hi for lo, hi in streaming.first_outputs)
    assert streaming.transfers_per_vector == 3 and streaming.lanes == min(2, active)
    assert streaming.cycles_per_inference == 3 + streaming.run_cycles
    with pytest.raises(dataclasses.FrozenInstanceError):
        parallel.register_every = 1


def test_plans_are_read_without_building_a_component(rng, make_network):
    """Planning and estimating build no component: with Amaranth's unused-component warning as an
    error, nothing is left to warn about."""
    net = passes.run(make_network(rng, inputs=20, hidden=(10,), outputs=3, bits=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        design = plan(net, Streaming(8, 3))
        estimate = estimate_streaming(net, design)
    assert estimate.lanes == design.lanes and estimate.features_per_cycle == 8
    assert estimate.cycles_per_inference == design.cycles_per_inference
    assert design.memory_bits == sum(w * d for _, w, d in design.memories)
    assert design.rom_bits + design.lanes * 3 * 8 * 2 == design.memory_bits


def test_components_take_their_plan(rng, make_network):
    net = passes.run(make_network(rng, inputs=10, hidden=(6,), outputs=3, bits=3))
    for options, cls in (({}, TernaryNetwork), ({"register_every": 1}, TernaryNetwork),
                         ({"architecture": Streaming(lanes=2)}, StreamingNetwork)):
        design = plan(net, **options)
        component = cls(design)
        assert component.plan is design
        assert (component.latency, component.score_width, component.sum_ranges) == \
            (design.latency, design.score_width, design.sum_ranges)
        lowered = lower(net, **options)
        assert lowered.plan == design  # equal values: the same decision
        for c in (component, lowered):
            Fragment.get(c, None)  # both build


def test_a_component_refuses_the_other_plan(rng, make_network):
    net = passes.run(make_network(rng, inputs=6, hidden=(4,), outputs=2, bits=2))
    # Refused before the component exists: nothing is left for Amaranth to report unused (the
    # collection would surface it here).
    with pytest.raises(TypeError, match="plan must be a StreamingPlan"):
        StreamingNetwork(plan(net))
    with pytest.raises(TypeError, match="plan must be a ParallelPlan"):
        TernaryNetwork(plan(net, Streaming()))
    gc.collect()


def test_parallel_plan_checks_its_arguments():
    with pytest.raises(ValueError, match="input_count must be a positive integer, not 0"):
        parallel_plan(input_count=0, input_bits=1, input_map=(), layers=())
    with pytest.raises(TypeError, match="register_every must be None or a positive integer"):
        parallel_plan(input_count=1, input_bits=1, input_map=(0,), layers=(
            plan_layer(),), register_every=0)


def plan_layer():
    from lwc.hw import ActivationSpec, LayerSpec, NeuronSpec

    return LayerSpec(ActivationSpec("linear"), (NeuronSpec((0,), (1,), (0,), 0),))
