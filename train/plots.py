"""PNG plots of a training run (matplotlib, Agg; no pyplot, so no global backend state).

:func:`write_all` writes, next to ``net.pt``:

``train_curve.png``
    the training figure of the Lightweight Neural Networks paper: training error, validation
    error (of the ternary net as exported) and the share of weights not yet discrete, per epoch,
    with the method's events (rounding, pruning) marked; below, the training loss.
``sparsity.png``
    the share of zero weights per layer, with the hidden neurons the compiler drops.
``receptive_fields.png`` (image data only)
    each first-layer neuron's weights as a small image, +1 red, -1 blue.
``unused_inputs.png``
    how many first-layer neurons of the compiled net read each input: a map for image data, a
    bar per feature for tabular data; inputs no neuron reads are marked.
"""

import os

import numpy as np

from lwc.compiler.ir import dense_weights

from .export import layer_zero_fractions, pruned

__all__ = ["training_curve", "receptive_fields", "layer_sparsity", "unused_inputs", "plot_title",
           "write_all"]


#: Resolution of sparsity.png (its figure is small, so it is drawn denser than the others).
_SPARSITY_DPI = 150


def _figure(width, height, dpi=100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def training_curve(history, path, title="training"):
    """Training error, validation error and non-discrete weight ratio per epoch; loss below."""
    fig = _figure(6.4, 5.2)
    ax, ax_loss = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_error"] for h in history], color="tab:red",
            label="training error")
    ax.plot(epochs, [1 - h["val_accuracy"] for h in history], color="tab:blue",
            label="validation error (ternary net)")
    ax.plot(epochs, [h["not_discrete"] for h in history], color="tab:green", linestyle="--",
            label="weights not yet discrete")
    marked = False
    for h in history:
        if h.get("note"):
            # One legend entry for all of them; what each was is in train_report.json.
            ax.axvline(h["epoch"], color="tab:gray", linewidth=0.8, linestyle=":",
                       label=None if marked else "method event (rounding, pruning...)")
            marked = True
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    ax_loss.plot(epochs, [max(h["loss"], 1e-6) for h in history], color="tab:purple")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path)
    return fig


def receptive_fields(net, image_shape, path, max_neurons=64):
    """First-layer weights of up to ``max_neurons`` neurons as small images (+1 red, -1 blue;
    integer weights on a scale up to each neuron's largest magnitude).

    Weights are shown as the exported net computes them (neurons whose batch-norm scale was
    negative have negated weights and fire below, not above, their threshold). A net with an
    input encoder (:mod:`lwc.train.encoding`, its layer 0) shows layer 1 through it: each pixel
    the sum of the weights on its cuts.
    """
    layer = 0
    w = dense_weights(net, 0, full_inputs=True)
    if net.meta("input_encoding") is not None and len(net.layers) > 1:
        layer = 1
        w = dense_weights(net, 1, full_inputs=True) @ w
    w = w[:max_neurons]
    n = len(w)
    cols = int(np.ceil(np.sqrt(max(n, 1))))
    rows = int(np.ceil(max(n, 1) / cols))
    fig = _figure(1.0 * cols + 0.5, 1.0 * rows + 0.6)
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        top = max(1, int(np.abs(w[k]).max(initial=0)))  # integer weights (sample): own scale
        ax.imshow(w[k].reshape(image_shape), cmap="bwr", vmin=-top, vmax=top,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"n{k}", fontsize=6, pad=1)
    through = ", over the pixels through the encoder" if layer else ""
    fig.suptitle(f"layer {layer} receptive fields (+1 red, -1 blue{through})", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / fig.get_figheight(),
                        wspace=0.15, hspace=0.3)
    fig.savefig(path)


def layer_sparsity(fractions, path, dropped=None, sizes=None):
    """Bar chart of the share of zero weights per layer (and dropped hidden neurons)."""
    fig = _figure(max(5.0, 1.5 + 1.2 * len(fractions)), 4.0, dpi=_SPARSITY_DPI)
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"layer {k}" for k in range(len(fractions))]
    bars = ax.bar(labels, fractions, color="tab:green")
    for k, (bar, value) in enumerate(zip(bars, fractions)):
        text = f"{value:.1%}"
        if dropped is not None and sizes is not None and k < len(dropped):
            text += f"\n-{dropped[k]}/{sizes[k]} n"
        ax.text(bar.get_x() + bar.get_width() / 2, value, text, ha="center", va="bottom",
                fontsize=10)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("zero weights", fontsize=10)
    ax.tick_params(labelsize=10)
    ax.set_title("zero weights per layer", fontsize=11)
    if dropped is not None:
        ax.set_xlabel("-k/n n: k of n hidden neurons dropped", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return fig


def input_fan_out(net):
    """For every original input, how many first-layer neurons of the compiled net read it."""
    compiled = pruned(net)
    counts = np.zeros(net.input.count, dtype=np.int64)
    for neuron in compiled.layers[0].neurons:
        for i in neuron.inputs:
            counts[compiled.input_map[i]] += 1
    return counts


def unused_inputs(net, path, image_shape=None, feature_names=None):
    """Map (images) or bars (features) of how many neurons read each input; unread ones marked."""
    counts = input_fan_out(net)
    unused = int((counts == 0).sum())
    title = f"inputs read by no neuron: {unused} of {len(counts)}"
    if image_shape is not None:
        fig = _figure(4.2, 3.8)
        ax = fig.add_subplot(1, 1, 1)
        image = counts.reshape(image_shape).astype(float)
        shown = ax.imshow(np.where(image > 0, image, np.nan), cmap="viridis",
                          interpolation="nearest")
        ys, xs = np.nonzero(image == 0)
        ax.scatter(xs, ys, marker="x", color="tab:red", s=12 if image.size < 200 else 3,
                   linewidths=0.8)
        fig.colorbar(shown, ax=ax, label="first-layer neurons reading it")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title + " (x)", fontsize=9)
    else:
        names = list(feature_names or [f"x{k}" for k in range(len(counts))])
        height = min(0.9 + 0.18 * len(counts), 30.0)
        fig = _figure(6.0, height)
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(len(counts))
        colors = ["tab:red" if c == 0 else "tab:blue" for c in counts]
        ax.barh(y, np.maximum(counts, 0.05 * max(1, counts.max())), color=colors)
        ax.set_yticks(y, [n[:40] for n in names], fontsize=6 if len(counts) > 40 else 7)
        ax.invert_yaxis()
        ax.set_xlabel("first-layer neurons reading it (red: none)")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def plot_title(net):
    """``<method> on <data>``: the dataset's name, or the CSV file's for CSV data."""
    data = net.meta("dataset", "?")
    if data == "csv" and net.meta("csv_path"):
        data = os.path.basename(str(net.meta("csv_path")))
    return f"{net.meta('method', 'training')} on {data}"


def write_all(result, directory, names):
    """Write every plot that applies to ``result`` into ``directory``; return ``{kind: file}``."""
    written = {}
    ds = result.dataset
    image_shape = getattr(ds, "image_shape", None)
    training_curve(result.history, os.path.join(directory, names["curve"]),
                   plot_title(result.net))
    written["curve"] = names["curve"]
    if image_shape:
        receptive_fields(result.net, image_shape,
                         os.path.join(directory, names["receptive_fields"]))
        written["receptive_fields"] = names["receptive_fields"]
    summary = result.summary or {}
    layer_sparsity(layer_zero_fractions(result.net), os.path.join(directory, names["sparsity"]),
                   summary.get("dropped_per_layer"), summary.get("layer_sizes"))
    written["sparsity"] = names["sparsity"]
    unused_inputs(result.net, os.path.join(directory, names["unused_inputs"]), image_shape,
                  getattr(ds, "feature_names", None))
    written["unused_inputs"] = names["unused_inputs"]
    return written
