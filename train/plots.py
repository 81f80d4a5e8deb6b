"""PNG plots of a training run (matplotlib, Agg; no pyplot, so no global backend state)."""

import os

import numpy as np

from lwc.compiler.ir import dense_weights

from .export import layer_zero_fractions

__all__ = ["training_curve", "receptive_fields", "layer_sparsity", "write_all"]


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def training_curve(history, path):
    """Train loss (left axis) and train / validation accuracy (right axis) per epoch."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["loss"] for h in history], color="tab:red", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["train_accuracy"] for h in history], color="tab:gray", linestyle="--",
             label="train accuracy (STE)")
    ax2.plot(epochs, [h["val_accuracy"] for h in history], color="tab:blue",
             label="val accuracy (integer)")
    ax2.set_ylabel("accuracy", color="tab:blue")
    ax2.set_ylim(0, 1)
    lines = ax.get_lines() + ax2.get_lines()
    ax2.legend(lines, [ln.get_label() for ln in lines], loc="center right")
    ax.set_title("training curve")
    fig.tight_layout()
    fig.savefig(path)


def receptive_fields(net, image_shape, path, max_neurons=64):
    """First-layer weights of up to ``max_neurons`` neurons as small images (+1 red, -1 blue).

    Weights are shown as the exported net computes them (neurons whose batch-norm scale was
    negative have negated weights and fire below, not above, their threshold).
    """
    w = dense_weights(net, 0, full_inputs=True)[:max_neurons]
    n = len(w)
    cols = int(np.ceil(np.sqrt(max(n, 1))))
    rows = int(np.ceil(max(n, 1) / cols))
    fig = _figure(1.0 * cols + 0.5, 1.0 * rows + 0.6)
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(w[k].reshape(image_shape), cmap="bwr", vmin=-1, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"n{k}", fontsize=6, pad=1)
    fig.suptitle("layer 0 receptive fields (+1 red, -1 blue)", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / fig.get_figheight(),
                        wspace=0.15, hspace=0.3)
    fig.savefig(path)


def layer_sparsity(fractions, path):
    """Bar chart of the share of zero weights per layer."""
    fig = _figure(max(3.0, 1.0 + 0.8 * len(fractions)), 3.2)
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"layer {k}" for k in range(len(fractions))]
    bars = ax.bar(labels, fractions, color="tab:green")
    for bar, value in zip(bars, fractions):
        ax.text(bar.get_x() + bar.get_width() / 2, value, f"{value:.1%}", ha="center",
                va="bottom", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("zero weights")
    ax.set_title("sparsity per layer")
    fig.tight_layout()
    fig.savefig(path)


def write_all(result, directory, names):
    """Write every plot that applies to ``result`` into ``directory``; return ``{kind: file}``."""
    written = {}
    path = os.path.join(directory, names["curve"])
    training_curve(result.history, path)
    written["curve"] = names["curve"]
    ds = result.dataset
    if ds is not None and getattr(ds, "image_shape", None):
        receptive_fields(result.net, ds.image_shape,
                         os.path.join(directory, names["receptive_fields"]))
        written["receptive_fields"] = names["receptive_fields"]
    fractions = layer_zero_fractions(result.net)
    layer_sparsity(fractions, os.path.join(directory, names["sparsity"]))
    written["sparsity"] = names["sparsity"]
    return written
