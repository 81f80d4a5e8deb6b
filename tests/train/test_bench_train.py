"""bench/train.py: each row's configuration and one quick table (no data files needed)."""

import json

import pytest

from lwc.train.methods import DROPNEURON_DEFAULT


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("train")


def test_presets_reach_the_config(bench):
    args = bench.make_parser().parse_args(["--data-root", "/data"])
    mnist = bench.make_config("mnist", "dropneuron", 0, args)
    assert mnist.group_lasso == bench.PRESETS["mnist"]["dropneuron"] != DROPNEURON_DEFAULT
    assert mnist.data_dir == "/data/mnist" and mnist.hidden == (256,) and mnist.epochs == 10
    # Only dropneuron takes the preset's strength; digits keeps the library default.
    assert bench.make_config("mnist", "ste", 0, args).group_lasso == 0.0
    assert bench.make_config("digits", "dropneuron", 0, args).group_lasso == DROPNEURON_DEFAULT
    args = bench.make_parser().parse_args(["--hidden", "64,32", "--quick"])
    config = bench.make_config("breast-cancer", "lwn", 3, args)
    assert (config.hidden, config.epochs, config.seed, config.data_dir) == ((64, 32), 10, 3, None)


@pytest.mark.train
def test_quick_table(bench, tmp_path, capsys):
    out = tmp_path / "rows.json"
    argv = ["--datasets", "breast-cancer", "--methods", "ste,sample", "--quick", "--json", str(out)]
    assert bench.main(argv) == 0
    rows = json.loads(out.read_text())
    assert [(r["dataset"], r["method"]) for r in rows] == [("breast-cancer", "ste"),
                                                            ("breast-cancer", "sample")]
    for r in rows:
        assert 0.8 < r["test acc"] <= 1.0 and r["nonzero"] > 0 and r["epochs"] == 10
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "python bench/train.py " + " ".join(argv)
    assert [line.split()[:2] for line in table[-2:]] == [["breast-cancer", "ste"],
                                                          ["breast-cancer", "sample"]]


def test_study_rows(bench):
    # The paths study: 1x, 4x and 16x the width of 784-300-300-10 with the same weights.
    for width in (1, 4, 16):
        hidden, fan_in, weights = bench.path_sizes(width)
        assert hidden == (300 * width,) * 2 and weights == 24000
        sparsity, out = bench.same_count_sparsity(width)
        dense_hidden = 784 * hidden[0] + hidden[0] * hidden[1]
        kept = round((1 - sparsity) * dense_hidden) + round((1 - out) * 10 * hidden[1])
        assert kept == weights  # ste at the same weight count
    assert bench.dense_size(16) == 784 * 4800 + 4800 * 4800 + 48000
    args = bench.make_parser().parse_args(["--study", "dropout", "--seeds", "0,1",
                                           "--partitions", "2,8", "--data-dir", "/d"])
    runs = bench.dropout_rows(args)
    assert runs == [(0, "none", 0), (0, "none", 1), (2, "partition", 0), (2, "partition", 1),
                    (2, "plain", 0), (2, "plain", 1), (8, "partition", 0), (8, "partition", 1),
                    (8, "plain", 0), (8, "plain", 1)]
    config = bench.dropout_config(8, "plain", 1, args)
    assert (config.dataset, config.method, config.hidden, config.epochs) == ("mnist", "ste",
                                                                             (256,), 10)
    assert (config.dropout, config.dropout_mode, config.data_dir) == (8, "plain", "/d")
    assert bench.dropout_config(0, "none", 1, args).dropout is None


@pytest.mark.train
def test_quick_studies(bench, tmp_path, capsys):
    out = tmp_path / "rows.json"
    argv = ["--study", "dropout", "--dataset", "digits", "--quick", "--seeds", "0,1",
            "--partitions", "2", "--json", str(out)]
    assert bench.main(argv) == 0
    rows = json.loads(out.read_text())
    assert [(r["P"], r["mode"]) for r in rows] == [(0, "none")] * 2 + [(2, "partition")] * 2 + [
        (2, "plain")] * 2
    # Plain dropout draws a number per sample and neuron, partitions one per neuron per 2 steps.
    assert rows[4]["random/epoch"] > 100 * rows[2]["random/epoch"] > 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in table[-3:]] == [["0", "0", "none"],
                                                          ["2", "1/2", "partition"],
                                                          ["2", "1/2", "plain"]]
    argv = ["--study", "paths", "--dataset", "digits", "--quick", "--widths", "1,2",
            "--dense-widths", "1", "--dense-step-widths", "2", "--json", str(out)]
    assert bench.main(argv) == 0
    rows = json.loads(out.read_text())
    assert [(r["width"], r["method"]) for r in rows] == [
        (1, "paths uniform"), (2, "paths uniform"), (1, "paths magnitude"), (1, "ste"),
        (2, "ste")]
    assert all(r["nonzero"] <= 24000 and r["test acc"] > 0.5 for r in rows[:4])
    assert rows[4]["test acc"] is None and rows[4]["step ms"] > 0 and rows[4]["step MB"] > 0


def test_deep_presets_train_mnist_with_the_triangle(bench, tmp_path):
    args = bench.make_parser().parse_args(["--data-dir", "/data/mnist"])
    deep = bench.make_config("deep16", "ste", 0, args)
    assert (deep.dataset, deep.data_dir, deep.hidden) == ("mnist", "/data/mnist", (256,) * 16)
    assert (deep.ste_shape, deep.ste_window, deep.input_bits) == ("triangle", 3.0, 2)
    box = bench.make_config("deep8-box", "ste", 0, args)
    assert (box.hidden, box.ste_shape, box.ste_window) == ((256,) * 8, "box", 1.0)
    # The command line still overrides a preset's options.
    args = bench.make_parser().parse_args(["--data-dir", "/d", "--ste-window", "2"])
    assert bench.make_config("deep8", "ste", 0, args).ste_window == 2.0
