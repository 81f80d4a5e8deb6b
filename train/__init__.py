"""PyTorch training of sparse ternary networks; exports ``net.pt``.

Typical use::

    from lwc.train import TrainConfig, train_to_file
    result = train_to_file(TrainConfig(dataset="digits", seed=1), "out/net.pt", progress=print)
    print(result.test_accuracy, result.zero_fraction)

    # any method, any dataset: the same export, proven against the golden model
    config = TrainConfig(method="prune", csv="data.csv", label="class", balance="smote",
                         select="g_mean", hidden=(32, 32))
    result = train_to_file(config, "out/net.pt")
    print(result.test_metrics["f1"], result.test_metrics["g_mean"], result.summary)

:class:`TrainConfig` has one field per ``lwc train`` option. Methods (``lwn``, ``ste``,
``dropneuron``, ``prune``, ``distribution``, ``sample``) are described in :mod:`lwc.train.methods`;
datasets in :mod:`lwc.data`, input quantizers in :mod:`lwc.train.inputs`, the plots in
:mod:`lwc.train.plots`.

The names below are imported lazily: ``import lwc.train`` imports nothing heavy, and the training
path imports torch, NumPy and the compiler, never Amaranth, amaranth-boards, cocotb or YoWASP
(``tests/train/test_imports.py``).
"""

import importlib

__all__ = ["TrainConfig", "TrainResult", "train", "train_to_file", "ExportMismatchError",
           "REPORT_NAME", "PLOT_NAMES", "METHODS"]

_HOME = {
    "TrainConfig": ".config",
    "TrainResult": ".loop",
    "train": ".loop",
    "train_to_file": ".loop",
    "REPORT_NAME": ".loop",
    "PLOT_NAMES": ".loop",
    "ExportMismatchError": ".export",
    "METHODS": ".config",
}


def __getattr__(name):
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
