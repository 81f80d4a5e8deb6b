"""bench/da4ml_compare.py: lwc and da4ml build, simulate equal to ``W @ x`` and synthesize a tiny
matrix; a wrong design is caught."""

import dataclasses
import sys

import numpy as np
import pytest

pytest.importorskip("da4ml", reason="da4ml is not installed (pip install -e '.[peers]')")

pytestmark = [pytest.mark.peers, pytest.mark.icarus, pytest.mark.yosys]


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("da4ml_compare")


@pytest.mark.parametrize("bits", [1, 3])
def test_both_designs_equal_the_matrix_and_synthesize(bench, bits, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["fpga"], "CACHE", tmp_path)
    case = bench.random_case(6, 20, 0.4, bits, seed=bits)
    lines = []
    figures = bench.measure(case, count=8, do_place=False, progress=lines.append)
    assert lines[0] == (f"{case.name}: both designs equal W @ x on 11 vectors; adders lwc "
                        f"{figures['lwc']['adders']}, da4ml {figures['da4ml']['adders']}")
    for side in ("lwc", "da4ml"):
        row = figures[side]
        # At most one adder per nonzero weight; every output of a nonzero row is registered.
        assert 0 < row["adders"] < case.nonzero
        assert row["lut4"] > 0 and row["ff"] >= case.output_width
        assert row["lcs"] is None and row["fmax"] is None
    table = bench.format_table([(case, figures)], "up5k").splitlines()
    assert [line.split("|")[3].strip() for line in table[2:]] == ["lwc", "da4ml", "lwc/da4ml"]


def test_a_wrong_design_is_an_error(bench):
    case = bench.random_case(5, 16, 0.5, 2, seed=7)
    weights = case.weights.copy()
    row = int(np.flatnonzero(np.abs(weights).sum(axis=1))[0])
    weights[row, np.flatnonzero(weights[row])[0]] *= -1
    wrong, _ = bench.da4ml_design(dataclasses.replace(case, weights=weights))
    x = bench.vectors(case, 4)
    with pytest.raises(AssertionError, match=rf"^da4ml on {case.name}: vector \d+, output {row}"):
        bench.check(case, wrong, x, "da4ml")
    _, right, _ = bench.lwc_design(case)
    assert bench.check(case, right, x, "lwc") == len(x)


def test_cases_and_first_layer(bench, tmp_path):
    from lwc.compiler import ir, netfile

    cases = bench.cases_from("20x6,8x4", "0.1,0.5", "1", [])
    assert [c.shape for c in cases] == [(6, 20), (6, 20), (4, 8), (4, 8)]
    w = np.array([[1, 0, -1], [0, 1, 1]])
    net = ir.from_dense(ir.InputSpec(3, 2), [(w, ir.Activation("linear"), [0, 0])], ["a", "b"])
    netfile.save(net, str(tmp_path / "net.pt"))
    (case,) = bench.cases_from("none", "0.1", "1", [tmp_path / "net.pt"])
    assert case.bits == 2 and (case.weights == w).all()
    assert case.name == f"{tmp_path.name} layer 0"
    # Sums of 3-bit range [-3, 6]: 4 bits of two's complement.
    assert case.output_width == 4


def test_the_nets_on_a_sweeps_fronts(bench, tmp_path):
    import json

    def row(net, board, accuracy, lc, **more):
        return {"hash": f"{net}{board}{lc}", "status": "ok", "net": f"nets/{net}/net.pt",
                "options": {"board": board}, "accuracy": accuracy, "lc_estimate": lc,
                "images_per_s": 1.0, "bram_estimate": 0, **more}

    rows = [row("a", "icebreaker", 0.9, 100), row("b", "icebreaker", 0.95, 200),
            row("c", "icebreaker", 0.8, 300), row("d", "icebreaker", 0.99, 900, fits=False),
            row("a", "ulx3s", 0.9, 500)]
    (tmp_path / "results.json").write_text(json.dumps({"rows": rows}))
    # On the fronts: a and b (c is dominated, d does not fit); a once though on two boards.
    assert bench.sweep_nets(tmp_path) == [tmp_path / "nets/a/net.pt", tmp_path / "nets/b/net.pt"]
    with pytest.raises(SystemExit, match="not a finished sweep"):
        bench.sweep_nets(tmp_path / "missing")


def test_sharing_figures_are_ordered(bench):
    """Each sharing method is no worse than the one before it; the lower bound is below them."""
    pytest.importorskip("scipy", reason="the ILP needs scipy")
    case = bench.random_case(8, 24, 0.3, 2, seed=4)
    memo, lines = {}, []
    fig = bench.sharing_figures(case, tries=4, time_limit=20, memo=memo, progress=lines.append)
    assert fig["plain"] >= fig["greedy"] >= fig["best_of"] >= fig["refined"] >= fig["ilp"]
    assert fig["optimal"] and fig["bound"] == fig["ilp"] and fig["da4ml"] > 0
    again = bench.sharing_figures(dataclasses.replace(case, bits=1), memo=memo,
                                  progress=lines.append)
    assert {k: v for k, v in again.items() if k != "da4ml"} == {
        k: v for k, v in fig.items() if k != "da4ml"}
    table = bench.format_sharing([(case, fig)], 4).splitlines()
    assert len(table) == 3 and "(optimal)" in table[2]


def test_share_options_reach_the_design(bench):
    """lwc's design is built with the share pass's options: one-bit layers shared on request."""
    case = bench.random_case(6, 20, 0.5, 1, seed=2)
    *_, plain = bench.lwc_design(case)
    *_, shared = bench.lwc_design(case, {"one_bit": True, "tries": 3})
    assert shared < plain


def test_sharing_table_marks_unknown_figures(bench):
    case = bench.random_case(4, 8, 0.5, 1, seed=0)
    fig = dict(plain=5, greedy=4, best_of=4, refined=4, ilp=None, optimal=False, bound=None,
               da4ml=4)
    row = bench.format_sharing([(case, fig)], 2).splitlines()[2]
    assert [c.strip() for c in row.split("|")[3:-1]] == [
        "5", "4", "4", "4", "—", "—", "4", "1.00", "1.00"]
