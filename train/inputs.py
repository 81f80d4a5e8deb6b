"""The network's input quantizer: the integers a net reads, made from a dataset's raw features.

Images get a fixed quantizer (:func:`make_input_spec`); tabular data one fitted on the training
split (:func:`fit_input_spec`): binary (and one-hot) features become ``0`` or ``2**bits - 1``;
continuous ones are standardised with the training mean and standard deviation, clipped to
``+-clip`` standard deviations and cut into ``2**bits`` equal steps (``affine``, an
:class:`~lwc.compiler.ir.AffineQuantizer`), or cut at the training split's quantiles
(``quantile``, a :class:`~lwc.compiler.ir.ThresholdQuantizer`). The quantizer is stored in
``net.pt``, so a host quantizes new data exactly as training did.
"""

import math

import numpy as np

from lwc.compiler.ir import AffineQuantizer, InputSpec, ThresholdQuantizer
from lwc.data.datasets import (
    IMAGE_SHAPE,
    PIXEL_MAX,
    TABULAR_DATASETS,
    default_input_bits,
)
from lwc.errors import DataError

__all__ = ["QUANTIZERS", "make_input_spec", "raw_input_spec", "fit_input_spec", "input_spec"]

#: Quantizers :func:`fit_input_spec` can fit to continuous features.
QUANTIZERS = ("affine", "quantile")


def make_input_spec(dataset_name, bits=None):
    """The :class:`~lwc.compiler.ir.InputSpec` that quantizes ``dataset_name``'s raw pixels.

    ``digits`` (0..16) uses ``AffineQuantizer(scale=((2**bits - 1) / 16,), offset=(0.5,))``, so
    4 bits gives ``floor(x * 15/16 + 0.5)`` in 0..15. MNIST-style data (0..255) uses evenly spaced
    thresholds ``256 * j / 2**bits`` (1 bit: ``x >= 128``; 2 bits: 64, 128, 192).

    Tabular datasets have no fixed input spec (it is fitted on the training split): use
    :func:`input_spec`.
    """
    default_input_bits(dataset_name)  # refuses unknown names
    if dataset_name in TABULAR_DATASETS:
        raise DataError(f"dataset {dataset_name!r} has no fixed input spec; it is fitted on the "
                        "training split (lwc.train.inputs.input_spec)")
    bits = default_input_bits(dataset_name) if bits is None else bits
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise DataError(f"input bits must be an integer 1..8, not {bits!r}")
    levels = (1 << bits) - 1
    if dataset_name == "digits":
        quantizer = AffineQuantizer(scale=(levels / PIXEL_MAX["digits"],), offset=(0.5,))
    else:
        step = 256.0 / (1 << bits)
        quantizer = ThresholdQuantizer((tuple(step * j for j in range(1, levels + 1)),))
    count = IMAGE_SHAPE[dataset_name][0] * IMAGE_SHAPE[dataset_name][1]
    return InputSpec(count=count, bits=bits, quantizer=quantizer)


def raw_input_spec(dataset_name):
    """The :class:`~lwc.compiler.ir.InputSpec` of an image dataset's raw pixels, for a net whose
    first layer is an input encoder (:mod:`lwc.train.encoding`): no quantizer, and as many bits as
    the largest pixel value needs (digits 0..16: 5, MNIST 0..255: 8), so a host sends the pixels
    as they are."""
    if dataset_name not in IMAGE_SHAPE:
        raise DataError(f"dataset {dataset_name!r} has no raw pixels; input encodings are for "
                        f"{', '.join(IMAGE_SHAPE)}")
    rows, cols = IMAGE_SHAPE[dataset_name]
    return InputSpec(count=rows * cols, bits=int(PIXEL_MAX[dataset_name]).bit_length(),
                     quantizer=None)


@np.errstate(all="ignore")  # overflow shows as a non-finite parameter, refused by name
def fit_input_spec(x_train, kinds, bits, quantizer="affine", clip=2.5, names=None):
    """A per-feature :class:`~lwc.compiler.ir.InputSpec` fitted on the training split.

    ``kinds[k]`` is ``"binary"`` (values 0/1, quantized to ``0`` / ``2**bits - 1``) or
    ``"continuous"``. Continuous features: ``affine`` maps ``mean - clip * std`` .. ``mean +
    clip * std`` of the training split onto ``2**bits`` equal steps (values outside clamp to the
    end steps; one bit is ``x >= mean``); ``quantile`` puts the ``2**bits - 1`` thresholds at the
    training split's quantiles ``j / 2**bits``. A feature that is constant on the training split
    is always 0. A feature whose quantizer would not be finite (values too large, or spread too
    thinly, for float64) is a :class:`~lwc.errors.DataError` naming it (``names[k]``, else its
    index).
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise DataError(f"input bits must be an integer 1..8, not {bits!r}")
    if quantizer not in QUANTIZERS:
        raise DataError(f"quantizer must be one of {', '.join(QUANTIZERS)}, not {quantizer!r}")
    if not (isinstance(clip, (int, float)) and 0 < clip and math.isfinite(clip)):
        raise DataError(f"clip must be a positive number of standard deviations, not {clip!r}")
    x = np.asarray(x_train, dtype=np.float64)
    levels = (1 << bits) - 1
    count = x.shape[1]
    if quantizer == "affine":
        scale, offset = np.zeros(count), np.zeros(count)
        for k in range(count):
            if kinds[k] == "binary":
                scale[k], offset[k] = levels, 0.5
                continue
            mean, std = float(x[:, k].mean()), float(x[:, k].std())
            if not std > 0:
                continue  # constant on the training split: always 0
            scale[k] = (levels + 1) / (2 * clip * std)
            offset[k] = -(mean - clip * std) * scale[k]
        _check_finite(np.stack([scale, offset], axis=1), names)
        q = AffineQuantizer(scale=tuple(float(v) for v in scale),
                            offset=tuple(float(v) for v in offset))
    else:
        rows = []
        fractions = np.arange(1, levels + 1) / (levels + 1)
        for k in range(count):
            if kinds[k] == "binary":
                rows.append((0.5,) * levels)
                continue
            col = x[:, k]
            if not col.std() > 0:
                rows.append((float(col.max()) + 1.0,) * levels)  # never reached: always 0
                continue
            t = np.quantile(col, fractions, method="linear")
            rows.append(tuple(float(v) for v in np.maximum.accumulate(t)))
        _check_finite(np.array(rows, dtype=np.float64), names)
        q = ThresholdQuantizer(tuple(rows))
    return InputSpec(count=count, bits=bits, quantizer=q)


def _check_finite(params, names):
    """Refuse a quantizer with a NaN or infinite parameter (row ``k``: feature ``k``): a net.pt
    holding it would not load."""
    bad = np.flatnonzero(~np.isfinite(params).all(axis=1))
    if bad.size:
        k = int(bad[0])
        name = repr(names[k]) if names is not None else str(k)
        raise DataError(f"input feature {name} cannot be quantized: its training values are too "
                        "large or too close together for float64 arithmetic")


def input_spec(dataset, bits=None, quantizer="affine", clip=2.5):
    """The input spec of a :class:`~lwc.data.Dataset` (``bits=None``: the dataset's default).

    Images: :func:`make_input_spec` (``quantizer`` and ``clip`` are not used). Tabular data:
    :func:`fit_input_spec` on the training split.
    """
    if not dataset.tabular:
        return make_input_spec(dataset.name, bits)
    bits = default_input_bits(dataset.name) if bits is None else bits
    return fit_input_spec(dataset.x_train, dataset.feature_kinds, bits, quantizer, clip,
                          names=dataset.feature_names)
