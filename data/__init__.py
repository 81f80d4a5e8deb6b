"""Datasets: loading, deterministic splits, CSV encoding and class balancing (NumPy only).

Training (:mod:`lwc.train`) and simulation (:mod:`lwc.sim`, which rebuilds the test set a
``net.pt`` was measured on from its provenance) both read data through this package; it imports
neither torch nor any other part of lwc but :mod:`lwc.errors`. Nothing is ever downloaded: the
MNIST-style datasets are read from the original IDX files in a data directory. Only regular
files within documented size limits are read (``tabular.LIMITS``, :data:`IDX_MAX_BYTES`), through
:func:`open_regular`, the one rule for opening a file a user or a net names.
:func:`data_summary` and :func:`summary_lines` say what was read (rows, features, classes, what
was imputed or dropped), for ``lwc train``'s output and ``train_report.json``.
"""

from . import tabular
from ._files import FileRefused, open_regular
from .datasets import (
    DATASETS,
    IDX_FILES,
    IDX_MAX_BYTES,
    IMAGE_DATASETS,
    IMAGE_SHAPE,
    PIXEL_MAX,
    TABULAR_DATASETS,
    Dataset,
    data_summary,
    dataset_options,
    default_input_bits,
    default_test_fraction,
    load_dataset,
    read_idx,
    stratified_split,
    summary_lines,
)

__all__ = ["DATASETS", "IMAGE_DATASETS", "TABULAR_DATASETS", "IMAGE_SHAPE", "PIXEL_MAX",
           "IDX_FILES", "IDX_MAX_BYTES", "Dataset", "dataset_options", "default_input_bits",
           "default_test_fraction", "load_dataset", "read_idx", "stratified_split", "tabular",
           "data_summary", "summary_lines", "open_regular", "FileRefused"]
