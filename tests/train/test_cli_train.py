"""``lwc train`` with the methods, tabular data and balancing options (in-process, for speed)."""

import json

import pytest

from lwc.cli import main
from lwc.compiler import netfile


def split_data_lines(stdout):
    """``(data summary lines, the lines after them)`` of what ``lwc train`` printed."""
    lines = stdout.strip().splitlines()
    count = next(k for k, line in enumerate(lines) if not line.startswith("data: "))
    return lines[:count], lines[count:]


@pytest.mark.train
def test_train_breast_cancer_prune_oversample(tmp_path, capsys):
    out = tmp_path / "bc" / "net.pt"
    code = main(["train", "--dataset", "breast-cancer", "--method", "prune", "--balance",
                 "oversample", "--epochs", "4", "--hidden", "8", "--input-bits", "2",
                 "--select", "f1", "-o", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    # The data summary comes first (tests/train/test_data_report.py checks it), then the epochs.
    data_lines, lines = split_data_lines(stdout)
    assert data_lines[0].startswith("data: breast-cancer: 569 rows (") and len(data_lines) == 2
    assert "after balancing (oversample)" in data_lines[1]
    assert lines[0].startswith("epoch   1/4  loss ") and " f1 " in lines[0]
    assert "not discrete" in lines[0]
    final = lines[-1]
    assert final.startswith(f"wrote {out}: test accuracy ") and "F1 " in final
    assert "G-mean " in final and "bits/weight" in final and "prune" in final
    net = netfile.load(out)
    assert net.meta("method") == "prune" and net.input.bits == 2 and net.input.count == 30
    report = json.loads((out.parent / "train_report.json").read_text())
    assert report["class_counts"]["after"] == [max(report["class_counts"]["before"])] * 2
    assert report["config"]["select"] == "f1"


@pytest.mark.train
def test_train_lwn_options_and_dropneuron(tmp_path, capsys):
    out = tmp_path / "net.pt"
    code = main(["train", "--epochs", "3", "--hidden", "16", "--dropneuron", "1e-3",
                 "--lwn-float", "0", "--lwn-radius", "0.3", "--ste-window", "2", "--no-plots",
                 "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    net = netfile.load(out)
    assert net.meta("method") == "lwn" and net.meta("dropneuron") == 1e-3
    report = json.loads((tmp_path / "train_report.json").read_text())
    assert report["config"]["lwn_radius"] == 0.3 and report["config"]["ste_window"] == 2.0


def test_train_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n1,2\n")
    for args, text in ((["--csv", str(bad), "--label", "y"], f"{bad}: line 3 has 2 fields"),
                       (["--csv", str(bad)], "a CSV file needs its label column"),
                       (["--method", "magic"], "method must be one of lwn, ste"),
                       (["--samples", "8"], "samples is an option of method 'sample', not 'lwn'"),
                       (["--input-bits", "9"], "input_bits must be an integer 1..8, not 9")):
        code = main(["train", *args, "-o", str(tmp_path / "n.pt")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and err[0].startswith("lwc: error: ")
        assert text in err[0], err
    assert not (tmp_path / "n.pt").exists()


@pytest.mark.train
def test_train_sample_with_samples(tmp_path, capsys):
    out = tmp_path / "net.pt"
    code = main(["train", "--method", "sample", "--samples", "6", "--sample-penalty", "2",
                 "--epochs", "4", "--hidden", "16", "--no-plots", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    _, lines = split_data_lines(capsys.readouterr().out)
    assert "real-valued" in lines[0] and any("sampled 6/" in line for line in lines)
    net = netfile.load(out)
    assert net.meta("method") == "sample" and net.meta("samples").startswith("6,")
    # Every hidden neuron drew 6 samples: its |weights| add up to 6.
    assert all(sum(map(abs, n.weights)) == 6 for n in net.layers[0].neurons)
    report = json.loads((tmp_path / "train_report.json").read_text())
    assert report["config"]["samples"] == 6 and report["config"]["sample_penalty"] == 2.0


@pytest.mark.train
def test_train_paths_with_plain_dropout(tmp_path, capsys):
    out = tmp_path / "net.pt"
    code = main(["train", "--method", "paths", "--hidden", "32,16", "--fan-in", "8,6,4",
                 "--path-sampling", "magnitude", "--dropout", "4", "--dropout-mode", "plain",
                 "--epochs", "2", "--no-plots", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    net = netfile.load(out)
    assert net.meta("method") == "paths" and net.meta("fan_in") == "8,6,4"
    assert net.meta("dropout") == 4 and net.meta("dropout_mode") == "plain"
    report = json.loads((out.parent / "train_report.json").read_text())
    assert all(entry["dropout_random"] > 0 for entry in report["history"])
    assert [len(layer.neurons) for layer in net.layers] == [32, 16, 10]
    assert all(len(n.weights) <= k for layer, k in zip(net.layers, (8, 6, 4))
               for n in layer.neurons)
    assert main(["train", "--method", "paths", "--hidden", "300", "--fan-in", "8,20",
                 "--epochs", "1", "-o", str(out)]) != 0
    assert "fan-in at least 30" in capsys.readouterr().err
