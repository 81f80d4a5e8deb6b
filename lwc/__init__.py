"""lwc: compile trained sparse ternary neural networks into FPGA gateware.

The Python API (:mod:`lwc.api`): :func:`load` a ``net.pt`` (or :func:`convert` a net in
memory) into a :class:`~lwc.api.Model`; ``model.compile(board=...)`` compiles it once;
``predict`` (golden model), ``predict_hw`` (cocotb), ``build`` (bitstream and report) and
``flash`` follow; :func:`run_sweep` runs a design-space sweep (:mod:`lwc.sweep`, ``lwc
sweep``). Subpackages: :mod:`lwc.train` (PyTorch training, writes ``net.pt``),
:mod:`lwc.compiler` (IR, passes, golden model, lowering), :mod:`lwc.hw` (Amaranth components),
:mod:`lwc.sim` (cocotb proofs), :mod:`lwc.boards` (FPGA targets).

``import lwc`` imports neither torch, NumPy nor Amaranth: the API's names are imported when first
used.
"""

import importlib

from .errors import LwcError

__version__ = "0.1.0"
__all__ = ["LwcError", "__version__", "load", "convert", "flash", "Model", "CompiledModel",
           "BuildResult", "HardwareMismatchError", "run_sweep", "load_spec"]

# Name -> (module, attribute): imported on first use, so that `lwc --help` and `lwc train` stay
# free of the hardware stack (tests/train/test_imports.py).
_LAZY = {
    **{name: (".api", name) for name in ("load", "convert", "Model", "CompiledModel",
                                         "BuildResult", "HardwareMismatchError")},
    "flash": (".boards.flash", "flash"),
    "run_sweep": (".sweep", "run_sweep"),
    "load_spec": (".sweep", "load_spec"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module, __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
