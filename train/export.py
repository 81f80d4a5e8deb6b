"""Export a trained :class:`~lwc.train.model.TernaryMLP` to the IR, prove it, write ``net.pt``.

The proof: the golden model (:func:`lwc.compiler.golden.evaluate`) run on the quantized test set
gives the same integer scores, hence the same prediction, as the PyTorch model in eval mode, on
every test sample. :func:`export` writes no file unless the proof holds.
"""

import math

import numpy as np
import torch

from lwc.compiler import golden, netfile
from lwc.compiler.ir import MAX_WEIGHT, Activation, from_dense
from lwc.errors import LwcError

from .encoding import encoder_layer
from .model import TernaryMLP

__all__ = ["ExportMismatchError", "fold_step_layer", "to_network", "prove", "export",
           "layer_zero_fractions", "total_zero_fraction", "pruned", "network_summary"]


class ExportMismatchError(LwcError):
    """The exported integer network does not compute what the trained PyTorch model computes."""


def _integer_matrix(w):
    w = w.detach().cpu()
    assert bool((w == torch.round(w)).all()), "exported weights must be integers"
    assert bool((w.abs() <= MAX_WEIGHT).all()), f"exported weights must be in +-{MAX_WEIGHT}"
    return w.to(torch.int64).numpy()


def _step_threshold(thr, lo, hi, direction):
    """Integer ``t`` with ``(s >= t) == (s >= thr)`` (``direction > 0``) or
    ``(s <= thr)`` (``direction < 0``; the caller negates the weights, so ``t`` is for ``-s``), for
    every integer ``s`` in ``[lo, hi]`` (the range of the original sum). ``t`` is clamped to the
    sum's range (plus one) so infinite thresholds stay small."""
    if direction > 0:
        if not thr <= hi:  # above every reachable sum, +inf or NaN: never fires
            return hi + 1
        return lo if thr <= lo else math.ceil(thr)
    # a = s <= thr  <=>  -s >= -floor(thr); -s ranges over [-hi, -lo].
    if not thr >= lo:  # below every reachable sum, -inf or NaN: never fires
        return -lo + 1
    return -hi if thr >= hi else -math.floor(thr)


def fold_step_layer(layer, in_max):
    """Fold a :class:`~lwc.train.model.StepLayer` into ``(weight, thresholds)`` integer arrays.

    ``in_max`` is the largest value an input of the layer takes (inputs are ``0..in_max``).
    Neurons with ``gamma < 0`` get negated weights; a neuron with ``gamma == 0`` is constant and
    gets a threshold outside its sum range (``beta >= 0``: always 1, else always 0).
    """
    w = _integer_matrix(layer.linear.ternary_weight())
    thr, direction = layer.folded()
    thr = thr.cpu().numpy()  # float32; float(...) of each is exact
    direction = direction.cpu().numpy()
    beta = layer.bn.bias.detach().cpu().numpy()
    weight = w.copy()
    thresholds = np.zeros(w.shape[0], dtype=np.int64)
    for n in range(w.shape[0]):
        lo = int(in_max * w[n][w[n] < 0].sum())
        hi = int(in_max * w[n][w[n] > 0].sum())
        d = int(direction[n])
        if d == 0:
            thresholds[n] = lo if beta[n] >= 0 else hi + 1
            continue
        thresholds[n] = _step_threshold(float(thr[n]), lo, hi, d)
        if d < 0:
            weight[n] = -w[n]
    return weight, thresholds


def to_network(model, input_spec, classes, provenance=()):
    """The :class:`~lwc.compiler.ir.Network` that ``model`` (in eval mode) computes.

    ``input_spec`` describes the integer inputs the model was trained on (with an encoder: the
    raw features, which the net's first layer, the encoder, reads).
    """
    assert isinstance(model, TernaryMLP)
    encoder = model.encoder
    count = model.sizes[0] if encoder is None else encoder.count
    assert count == input_spec.count, "model inputs must match the input spec"
    assert len(classes) == model.sizes[-1], "one class name per output"
    layers = []
    in_max = input_spec.max_value
    if encoder is not None:
        # The encoder is the first hidden layer, over the raw features (lwc.train.encoding).
        assert encoder.top <= in_max, "the encoder's cuts are for the input's whole range"
        weight, thresholds = encoder_layer(encoder)
        layers.append((weight, Activation("step"), thresholds))
        in_max = 1
    for layer in model.hidden:
        weight, thresholds = fold_step_layer(layer, in_max)
        layers.append((weight, Activation("step"), thresholds))
        in_max = 1
    weight = _integer_matrix(model.output.linear.ternary_weight())
    bias = torch.round(model.output.bias.detach().cpu()).to(torch.int64).numpy()
    layers.append((weight, Activation("linear"), bias))
    return from_dense(input_spec, layers, classes, provenance)


def _torch_eval(model, x_int):
    """Integer scores and predictions of ``model`` in eval mode on CPU (batch by batch)."""
    was_training = model.training
    model.eval()
    scores, preds = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(x_int), 4096):
                x = torch.from_numpy(x_int[start:start + 4096].astype(np.float32))
                scores.append(model.integer_scores(x).numpy())
                preds.append(model(x).argmax(dim=1).numpy())
    finally:
        model.train(was_training)
    n_out = model.sizes[-1]
    if not scores:
        return np.zeros((0, n_out)), np.zeros(0, dtype=np.int64)
    return np.concatenate(scores), np.concatenate(preds)


def prove(net, model, x_int):
    """Check that ``net`` (golden model) and ``model`` (PyTorch, eval mode, CPU) give the same
    integer scores and the same prediction on every row of ``x_int`` (quantized inputs).

    Returns the golden predictions. Raises :class:`ExportMismatchError` naming the first sample
    that differs.
    """
    trace = golden.evaluate(net, x_int)
    scores_t, preds_t = _torch_eval(model, x_int)
    preds_g = trace.predictions
    bad_pred = np.flatnonzero(preds_g != preds_t)
    if bad_pred.size:
        i = int(bad_pred[0])
        raise ExportMismatchError(
            f"exported network disagrees with the PyTorch model on {bad_pred.size} of "
            f"{len(x_int)} test samples (first: sample {i}, golden model predicts "
            f"{int(preds_g[i])}, PyTorch {int(preds_t[i])}); net.pt not written")
    bad_score = np.flatnonzero((trace.scores != scores_t).any(axis=1))
    if bad_score.size:
        i = int(bad_score[0])
        raise ExportMismatchError(
            f"exported network's scores differ from the PyTorch model's on {bad_score.size} of "
            f"{len(x_int)} test samples (first: sample {i}, golden {trace.scores[i].tolist()}, "
            f"PyTorch {scores_t[i].astype(np.int64).tolist()}); net.pt not written")
    return preds_g


def _plain(key, value):
    """``value`` as an exact builtin type: ``net.pt`` is read weights-only, which refuses
    subclasses (``torch.__version__`` is a ``str`` subclass, NumPy scalars are not builtins)."""
    for kind in (bool, str, int, float):
        if isinstance(value, kind) or (kind is not str and isinstance(value, np.generic)
                                       and isinstance(value.item(), kind)):
            return kind(value.item() if isinstance(value, np.generic) else value)
    if value is None:
        return None
    raise TypeError(f"provenance {key!r} must be str, int, float, bool or None, "
                    f"not {type(value).__name__}")


def export(model, input_spec, classes, x_test, y_test, *, provenance=(), path=None, x_int=None,
           predictions=False):
    """Export ``model``, prove it on the test set, add ``test_accuracy``, and optionally save.

    Parameters
    ----------
    model : TernaryMLP
        The trained model (any device; it is copied to the CPU for the proof).
    input_spec : lwc.compiler.ir.InputSpec
        How raw features become the model's integer inputs.
    classes : sequence of str
    x_test, y_test : numpy.ndarray
        Raw test features ``(n, count)`` and labels ``(n,)``.
    provenance : mapping or sequence of pairs
        Stored in the network; ``test_accuracy`` (of the integer network, by the golden model) is
        added.
    path : str or os.PathLike, optional
        Where to write ``net.pt`` (only after the proof holds).
    x_int : numpy.ndarray, optional
        ``golden.quantize(input_spec, x_test)``, where the caller has it already.
    predictions : bool
        Also return the golden model's test predictions.

    Returns
    -------
    (lwc.compiler.ir.Network, float)
        The network and its test accuracy (and the predictions, with ``predictions``).
    """
    import copy

    provenance = {key: _plain(key, value) for key, value in dict(provenance).items()}
    cpu_model = copy.deepcopy(model).cpu().eval()
    net = to_network(cpu_model, input_spec, classes, provenance)
    if x_int is None:
        x_int = golden.quantize(input_spec, x_test)
    preds = prove(net, cpu_model, x_int)
    accuracy = float(np.mean(preds == np.asarray(y_test))) if len(preds) else 0.0
    net = net.with_meta(test_accuracy=accuracy)
    if path is not None:
        netfile.save(net, path)
    return (net, accuracy, preds) if predictions else (net, accuracy)


def _layer_counts(net):
    """``(zero, total)`` weight counts per layer, dense over all original inputs."""
    counts = []
    n_in = net.input.count
    for layer in net.layers:
        nonzero = sum(len(neuron.weights) for neuron in layer.neurons)
        counts.append((n_in * layer.size - nonzero, n_in * layer.size))
        n_in = layer.size
    return counts


def layer_zero_fractions(net):
    """Share of zero weights in each layer of ``net`` (dense, over all original inputs)."""
    return [zero / total if total else 1.0 for zero, total in _layer_counts(net)]


def total_zero_fraction(net):
    """Share of zero weights over all layers of ``net``."""
    counts = _layer_counts(net)
    total = sum(t for _, t in counts)
    return sum(z for z, _ in counts) / total if total else 1.0


def pruned(net):
    """``net`` after the compiler pipeline without sub-sum sharing
    (:data:`lwc.compiler.passes.PIPELINE_UNSHARED`: what computes nothing removed, widths
    inferred): every neuron's ``inputs`` index the previous layer (or ``input_map``) directly."""
    from lwc.compiler import passes

    return passes.compile_network(net, share=False)


def network_summary(net):
    """Size facts of ``net`` as exported and as the compiler will build it (JSON-ready).

    ``weights``, ``nonzero``, ``zero_fraction`` and ``bits_per_weight`` (the entropy of the
    weight values, :func:`lwc.compiler.stats.weight_entropy`) count every weight slot of the
    exported net (what ``lwc inspect`` shows). ``dropped_neurons`` (per hidden layer in
    ``dropped_per_layer``) and ``dropped_inputs`` are the hidden neurons and input features that
    the compiler's passes remove (constant, unread, or read by no neuron); ``mean_fan_in`` and
    ``compiled_nonzero`` describe the neurons left.
    """
    from lwc.compiler.stats import network_stats

    st = network_stats(net)
    compiled = pruned(net)
    dropped = [a.size - b.size for a, b in zip(net.layers[:-1], compiled.layers[:-1])]
    fan_in = [len(n.inputs) for layer in compiled.layers for n in layer.neurons]
    return {
        "weights": st.weights,
        "nonzero": st.nonzero,
        "zero_fraction": st.zero_fraction,
        "bits_per_weight": st.bits_per_weight,
        "layer_sizes": [layer.size for layer in net.layers],
        "hidden_neurons": sum(layer.size for layer in net.layers[:-1]),
        "dropped_neurons": sum(dropped),
        "dropped_per_layer": dropped,
        "inputs": net.input.count,
        "dropped_inputs": net.input.count - len(compiled.input_map),
        "mean_fan_in": float(np.mean(fan_in)) if fan_in else 0.0,
        "compiled_nonzero": int(sum(fan_in)),
    }
