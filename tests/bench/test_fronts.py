"""bench/fronts.py: a sweep's fronts as Markdown, weight-bits from the nets, and the smallest
placed and proven design at an accuracy."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def fronts(bench_script):
    return bench_script("fronts")


def test_fronts_tables_and_the_smallest_design(fronts, tmp_path, capsys):
    from lwc.compiler import ir, netfile

    # Two 2-bit inputs into a hidden 1-bit (step) neuron, which two outputs read.
    net = ir.from_dense(ir.InputSpec(2, 2), [
        (np.array([[1, -1]]), ir.Activation("step"), [1]),
        (np.array([[1], [-1]]), ir.Activation("linear"), [0, 0]),
    ], ["a", "b"])
    (tmp_path / "nets" / "n").mkdir(parents=True)
    netfile.save(net, str(tmp_path / "nets" / "n" / "net.pt"))

    def row(name, accuracy, lc, lut4, proved=True, datapath="parallel", **more):
        return {"hash": name * 8, "status": "ok", "net": "nets/n/net.pt",
                "options": {"board": "ulx3s", "hidden": 1, "sparsity": accuracy},
                "accuracy": accuracy, "lc_estimate": lc, "bram_estimate": 0,
                "images_per_s": 25e6, "nonzero_weights": 4, "datapath": datapath,
                "placed_lut4": lut4,
                "placed_lc": lut4 + 10, "placed_bram": 0, "placed_fmax_mhz": 50.0,
                "placed_images_per_s": 50e6, "proved": proved, "proof_vectors": 10,
                "proof_mismatches": 0 if proved else 1, **more}

    rows = [row("a", 0.95, 100, 90, datapath="streaming"), row("b", 0.97, 200, 180),
            row("c", 0.98, 300, 250, proved=False)]
    (tmp_path / "results.json").write_text(json.dumps({"name": "t", "rows": rows}))
    name, loaded, figures = fronts.load_rows(tmp_path)
    # 2 weights on 2-bit inputs, then 2 on the 1-bit hidden neuron.
    assert name == "t" and [r["weight_bits"] for r in loaded] == [6, 6, 6]
    assert figures == ("accuracy", "logic_cells", "block_ram", "images_per_s")
    assert fronts.smallest(loaded, 0.96)["hash"] == "b" * 8
    assert fronts.smallest(loaded, 0.98) is None  # the only one there failed its proof
    fronts.main([str(tmp_path), "--goals", "94,96,98"])
    out = capsys.readouterr().out
    assert "t, ulx3s: 3 of 3 points on the front of accuracy, logic_cells, block_ram, " \
           "images_per_s" in out
    assert "| sparsity | accuracy |" in out and "| 0.95 | 95.00% | 4 | 6 | 100 | 90 |" in out
    assert "9/10" in out and "10/10" in out
    assert "smallest at >= 96%: 97.00%, 180 LUT4, 190 logic cells" in out
    assert "30.00 LUT4 per weight-bit" in out
    # Streaming keeps its weights in block RAM: no LUT4 per weight-bit.
    assert "smallest at >= 94%: 95.00%, 90 LUT4, 100 logic cells, 4 nonzero weights, 6 " \
           "weight-bits (streaming, point aaaaaaaa)" in out
    assert "smallest at >= 98%: none placed and proven" in out


def test_fronts_over_other_figures(fronts, tmp_path, capsys):
    """``--front`` weighs other figures than the spec's: accuracy against images/s keeps the
    faster of two equally accurate points and the more accurate of two equally fast ones."""
    rows = [{"hash": name * 8, "status": "ok", "options": {"board": "icebreaker", "lanes": lanes},
             "accuracy": accuracy, "lc_estimate": lc, "bram_estimate": 4,
             "images_per_s": rate, "datapath": "streaming"}
            for name, lanes, accuracy, lc, rate in [("a", 1, 0.97, 100, 1000.0),
                                                     ("b", 4, 0.97, 300, 4000.0),
                                                     ("c", 2, 0.98, 200, 2000.0)]]
    (tmp_path / "results.json").write_text(json.dumps({"name": "t", "rows": rows,
                                                       "front": ["accuracy", "logic_cells"]}))
    fronts.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "t, icebreaker: 2 of 3 points on the front of accuracy, logic_cells" in out
    fronts.main([str(tmp_path), "--front", "accuracy,images_per_s"])
    out = capsys.readouterr().out
    assert "t, icebreaker: 2 of 3 points on the front of accuracy, images_per_s" in out
    assert "| 4 | 97.00% |" in out and "| 1 | 97.00% |" not in out
    # The estimated images/s, the figure this front weighs, is a column.
    assert "images/s est." in out and "| 4,000 |" in out and "| 1,000 |" not in out
    with pytest.raises(SystemExit):
        fronts.main([str(tmp_path), "--front", "accuracy,speed"])
    assert "unknown figure 'speed'" in capsys.readouterr().err


def test_fronts_plot_with_an_earlier_front(fronts, tmp_path, capsys):
    """``--save-front`` keeps a sweep's front as CSV and ``--plot --previous`` draws a new sweep
    with that front beside it; both take one sweep folder."""
    rows = [{"hash": name * 8, "status": "ok", "options": {"board": "ulx3s", "hidden": h},
             "accuracy": accuracy, "lc_estimate": lc, "bram_estimate": 0,
             "images_per_s": 1e6, "datapath": "parallel"}
            for name, h, accuracy, lc in [("a", 8, 0.90, 100), ("b", 16, 0.95, 300),
                                          ("c", 32, 0.94, 400)]]
    (tmp_path / "results.json").write_text(json.dumps(
        {"name": "t", "dataset": "mnist", "rows": rows, "front": ["accuracy", "logic_cells"]}))
    saved = tmp_path / "old.csv"
    fronts.main([str(tmp_path), "--save-front", str(saved)])
    assert [r["lc_estimate"] for r in pareto_rows(saved)] == [100.0, 300.0]  # c is dominated
    fronts.main([str(tmp_path), "--plot", str(tmp_path / "f.png"), "--previous", str(saved)])
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    for argv in ([str(tmp_path), str(tmp_path), "--plot", "x.png"],
                 [str(tmp_path), "--previous", str(saved)]):
        with pytest.raises(SystemExit):
            fronts.main(argv)
    (tmp_path / "bad.csv").write_text("group,accuracy,lc_estimate\nulx3s,,x\n")
    with pytest.raises(SystemExit, match="bad.csv: line 2: lc_estimate 'x' is not a number"):
        fronts.main([str(tmp_path), "--plot", str(tmp_path / "g.png"),
                     "--previous", str(tmp_path / "bad.csv")])
    assert not (tmp_path / "g.png").exists()


def pareto_rows(path):
    from lwc import pareto

    return pareto.load_front(path)
