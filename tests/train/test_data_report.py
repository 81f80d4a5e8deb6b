"""What training says about its data (issue 15): the summary printed before the first epoch, the
``data`` section of ``train_report.json``, and that no net is written that would not load."""

import json

import pytest

from lwc import data
from lwc.cli import main
from lwc.compiler import netfile
from lwc.errors import DataError, NetFileError
from lwc.train import TrainConfig, train_to_file

from ..data.test_tabular import write_csv


@pytest.mark.train
def test_csv_training_prints_and_reports_its_data(tmp_path, capsys):
    path = tmp_path / "t.csv"
    write_csv(path, n=240, minority=0.25)
    out = tmp_path / "run" / "net.pt"
    assert main(["train", "--csv", str(path), "--label", "outcome", "--ignore", "id",
                 "--balance", "oversample", "--epochs", "2", "--hidden", "8", "--no-plots",
                 "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads((out.parent / "train_report.json").read_text())
    summary = report["data"]
    assert lines[:4] == data.summary_lines(summary)
    assert lines[4].startswith("epoch   1/2  loss ")
    assert summary["rows"] == 240 and summary["features"] == 9
    assert summary["class_counts"]["train"] == report["class_counts"]["before"]
    assert summary["class_counts"]["balanced"] == report["class_counts"]["after"]
    assert summary["balance"] == "oversample" and summary["dropped"] == [
        {"column": "id", "why": "ignored"}]
    assert [(i["column"], i["cells"], i["how"]) for i in summary["imputed"]] == [
        ("age", 15, "median"), ("smoker", 11, "category")]
    assert lines[2].startswith("data: imputed missing cells: age: 15 cells set to the median ")


@pytest.mark.train
def test_a_net_that_would_not_load_is_not_written(tmp_path, monkeypatch):
    def refuse(data, path="<memory>"):
        raise NetFileError(path, "offset holds NaN or infinite values")

    monkeypatch.setattr(netfile, "from_dict", refuse)
    with pytest.raises(DataError, match="^the trained net would not load, so it is not written: "
                       "offset holds NaN or infinite values$"):
        train_to_file(TrainConfig(epochs=1, hidden=(8,)), tmp_path / "o" / "net.pt",
                      plots=False)
    assert not (tmp_path / "o").exists()
