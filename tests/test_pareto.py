"""The Pareto front (lwc.pareto.front) on constructed points, the peers' table and the plot."""

import pytest

from lwc import pareto

ACC_LC = ("max", "min")


def test_front_keeps_the_undominated_points_in_input_order():
    points = [(0.90, 500), (0.95, 900), (0.85, 600), (0.97, 2000), (0.80, 300), (0.95, 1000)]
    # (0.85, 600) is beaten by (0.90, 500); (0.95, 1000) by (0.95, 900): tied in accuracy, more
    # cells.
    assert pareto.front(points, ACC_LC) == [0, 1, 3, 4]


def test_ties_in_one_objective_keep_only_the_better_in_the_other():
    assert pareto.front([(0.9, 100), (0.9, 200), (0.9, 150)], ACC_LC) == [0]
    assert pareto.front([(0.8, 100), (0.9, 100), (0.85, 100)], ACC_LC) == [1]


def test_duplicates_are_all_on_the_front_together():
    points = [(0.9, 100), (0.9, 100), (0.8, 50), (0.8, 60)]
    assert pareto.front(points, ACC_LC) == [0, 1, 2]


def test_points_missing_a_figure_are_on_no_front_and_dominate_nothing():
    points = [(None, 10), (0.9, None), (0.5, 1000)]
    assert pareto.front(points, ACC_LC) == [2]
    assert pareto.front([], ACC_LC) == []


def test_both_maximised():
    points = [(0.9, 1e6), (0.95, 1e5), (0.9, 1e5), (0.8, 1.2e7)]
    assert pareto.front(points, ("max", "max")) == [0, 1, 3]


def test_objectives_are_checked():
    with pytest.raises(ValueError, match="objective must be 'max' or 'min', not 'up'"):
        pareto.front([(1, 2)], ("max", "up"))
    with pytest.raises(ValueError, match="point 0 has 1 values for 2 objectives"):
        pareto.front([(1,)], ACC_LC)


def test_peer_table_names_every_source_and_the_lut_caveat():
    text = pareto.peer_table()
    for peer in pareto.PEERS:
        assert peer.name in text and peer.source in text
    assert "arXiv 2410.11112" in text and "2,419 LUT4" in text and "41.8 MHz" in text
    assert text.endswith(pareto.LUT_CAVEAT)
    assert "LUT6 is not an iCE40 LUT4" in pareto.LUT_CAVEAT


def test_plot_writes_a_png_with_the_peers(tmp_path):
    rows = [{"accuracy": 0.9, "lc_estimate": 1000, "images_per_s": 1e6},
            {"accuracy": 0.95, "lc_estimate": 3000, "images_per_s": 1e5},
            {"accuracy": None, "lc_estimate": None, "images_per_s": None}]
    path = tmp_path / "p.png"
    pareto.plot(rows, path, title="t", peers=pareto.PEERS)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pareto.plot([], tmp_path / "empty.png")  # a sweep whose every point failed
    assert (tmp_path / "empty.png").is_file()


def test_a_saved_front_is_drawn_beside_the_new_one(tmp_path):
    """A front saved to CSV comes back as it was written and is drawn dashed, in its board's
    colour, beside the new front of that board; a bad file is one line naming it."""
    rows = [{"board": "ulx3s", "accuracy": 0.9, "lc_estimate": 1000, "images_per_s": 1e6,
             "placed_lut4": 800, "placed_lc": 900},
            {"board": "icebreaker", "accuracy": 0.95, "lc_estimate": 3000, "images_per_s": None}]
    saved = tmp_path / "front.csv"
    saved.write_text(pareto.front_csv(rows, group=lambda r: r["board"]))
    old = pareto.load_front(saved)
    assert old == [{"group": "ulx3s", "accuracy": 0.9, "lc_estimate": 1000.0,
                    "images_per_s": 1e6, "placed_lut4": 800.0, "placed_lc": 900.0},
                   {"group": "icebreaker", "accuracy": 0.95, "lc_estimate": 3000.0,
                    "images_per_s": None, "placed_lut4": None, "placed_lc": None}]
    new = [{"board": "ulx3s", "accuracy": 0.96, "lc_estimate": 500, "images_per_s": 2e6}]
    fig = pareto.plot(new, tmp_path / "p.png", group=lambda r: r["board"], previous=old,
                      previous_label="old")
    cells = fig.axes[0]
    labels = [t.get_text() for t in cells.get_legend().get_texts()]
    assert labels.count("old: ulx3s") == 1 and labels.count("old: icebreaker") == 1
    dashed = {line.get_label(): line for line in cells.get_lines() if line.get_linestyle() == "--"}
    assert list(dashed["old: ulx3s"].get_xdata()) == [1000.0]
    assert list(dashed["old: ulx3s"].get_ydata()) == [90.0]
    front_line = next(line for line in cells.get_lines() if line.get_label() == "front: ulx3s")
    assert dashed["old: ulx3s"].get_color() == front_line.get_color()
    # The images/s panel has the one old point that gave a rate.
    rates = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "old: ulx3s" in rates and "old: icebreaker" not in rates
    bad = tmp_path / "bad.csv"
    bad.write_text("group,accuracy,lc_estimate\nulx3s,high,10\n")
    with pytest.raises(ValueError, match=r"bad.csv: line 2: accuracy 'high' is not a number"):
        pareto.load_front(bad)
    bad.write_text("group,accuracy,lc_estimate\nulx3s,,10\n")
    with pytest.raises(ValueError, match=r"bad.csv: line 2: no accuracy"):
        pareto.load_front(bad)
    (tmp_path / "short.csv").write_text("group,accuracy\nulx3s,0.9\n")
    with pytest.raises(ValueError, match=r"short.csv: no column 'lc_estimate'"):
        pareto.load_front(tmp_path / "short.csv")
