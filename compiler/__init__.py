"""The lwc compiler: IR, golden model, passes, and lowering to :mod:`lwc.hw`.

Only :mod:`lwc.compiler.lower` imports Amaranth; everything else is NumPy (``netfile`` imports torch
when it reads or writes a file).
"""

from . import golden, ir, netfile
from .ir import Network, dump, verify

__all__ = ["ir", "golden", "netfile", "Network", "verify", "dump"]
