"""lwc: compile trained sparse ternary neural networks into FPGA gateware.

Subpackages: :mod:`lwc.train` (PyTorch training, writes ``net.pt``), :mod:`lwc.compiler` (IR,
passes, golden model, lowering), :mod:`lwc.hw` (Amaranth components), :mod:`lwc.sim` (cocotb
proofs), :mod:`lwc.boards` (FPGA targets).
"""

from .errors import LwcError

__version__ = "0.1.0"
__all__ = ["LwcError", "__version__"]
