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
