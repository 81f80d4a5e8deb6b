"""Amaranth components that lwc instantiates. Imports only Amaranth (and the standard-library
:mod:`lwc.semantics`), never the compiler or torch.

What to build is decided first, as a plan value (:mod:`lwc.hw.plan`); the datapaths are described
once, as a netlist (:mod:`lwc.hw.netlist`), from which both the Amaranth design and the exported
Verilog come.
"""

from .adder_tree import AdderTree, range_shape, register_levels, tree_depth, weighted_sum_range
from .layer import ACTIVATION_PARAMS, ActivationSpec, LayerSpec, NeuronSpec, TernaryLayer
from .network import Argmax, TernaryNetwork, network_verilog
from .plan import (
    LanePlan,
    LayerPlan,
    ParallelPlan,
    SharedSpec,
    StreamingPlan,
    parallel_plan,
    streaming_plan,
)
from .streaming import StreamingNetwork
from .top import UartNetworkTop, crc8
from .uart import UartRx, UartTx

__all__ = [
    "AdderTree",
    "TernaryLayer",
    "Argmax",
    "TernaryNetwork",
    "StreamingNetwork",
    "UartRx",
    "UartTx",
    "UartNetworkTop",
    "crc8",
    "ActivationSpec",
    "NeuronSpec",
    "SharedSpec",
    "LayerSpec",
    "ACTIVATION_PARAMS",
    "LayerPlan",
    "LanePlan",
    "ParallelPlan",
    "StreamingPlan",
    "parallel_plan",
    "streaming_plan",
    "network_verilog",
    "range_shape",
    "weighted_sum_range",
    "tree_depth",
    "register_levels",
]
