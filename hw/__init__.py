"""Amaranth components that lwc instantiates. Imports only Amaranth, never the compiler or torch."""

from .adder_tree import AdderTree, range_shape, register_levels, tree_depth, weighted_sum_range
from .layer import ACTIVATION_PARAMS, ActivationSpec, LayerSpec, NeuronSpec, TernaryLayer
from .network import Argmax, TernaryNetwork
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
    "LayerSpec",
    "ACTIVATION_PARAMS",
    "range_shape",
    "weighted_sum_range",
    "tree_depth",
    "register_levels",
]
