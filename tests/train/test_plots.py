"""The training plots a user reads (issue 15, point 8): the event line has a legend entry, the
title names the CSV file, and sparsity.png is large enough to read."""

import matplotlib.image

from lwc.compiler import ir
from lwc.train.plots import layer_sparsity, plot_title, training_curve


def _history(notes):
    return [{"epoch": e, "train_error": 0.5 / e, "val_accuracy": 0.5 + 0.04 * e,
             "not_discrete": 1 - 0.1 * e, "loss": 2.0 / e, **({"note": notes[e]} if e in notes
                                                                else {})}
            for e in range(1, 9)]


def test_event_lines_have_one_legend_entry(tmp_path):
    fig = training_curve(_history({3: "rounded 20%", 6: "rounded all"}), tmp_path / "c.png")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["training error", "validation error (ternary net)",
                      "weights not yet discrete", "method event (rounding, pruning...)"]
    fig = training_curve(_history({}), tmp_path / "d.png")
    assert len(fig.axes[0].get_legend().get_texts()) == 3  # no events, no entry


def _net(**meta):
    net = ir.from_dense(ir.InputSpec(2, 1), [([[1, -1], [1, 1]], ir.Activation("linear"),
                                              [0, 0])], ["a", "b"])
    return net.with_meta(**meta)


def test_title_names_the_csv_file():
    assert plot_title(_net(method="lwn", dataset="csv", csv_path="/data/imbal.csv")) == \
        "lwn on imbal.csv"
    assert plot_title(_net(method="ste", dataset="digits")) == "ste on digits"


def test_sparsity_plot_is_readable(tmp_path):
    path = tmp_path / "sparsity.png"
    layer_sparsity([0.87, 0.5], path, dropped=[3], sizes=[64])
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= 750 and height >= 600  # was 320 x 320 pixels for two layers
