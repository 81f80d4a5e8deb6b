"""lwc sweep: the spec, the serial and Ray backends, the cache, resuming, failing points."""

import csv
import json
import re
from pathlib import Path

import pytest

from lwc import cli, sweep
from lwc.errors import UsageError
from lwc.sweep import SweepSpecError, load_spec, parse_spec, run_sweep
from lwc.train import loop

# Tiny digits points: well under a second of training each, well above chance (10%).
SPEC = """
name = "tiny"
dataset = "digits"

[fixed]
method = "ste"
epochs = 4
hidden = 16
board = "icebreaker"

[grid]
sparsity = [0.5, 0.7]
architecture = ["parallel", "streaming"]

[[points]]
sparsity = 1.5          # out of range: this point fails, the others go on
"""
# Three trainings (sparsity 0.5, 0.7, 1.5), five points.
POINTS, TRAININGS = 5, 3


def write_spec(tmp_path, text=SPEC, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- the spec ------------------------------------------------------------------------------------

def test_spec_grid_points_and_hashes(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert spec.name == "tiny" and spec.dataset == "digits" and len(spec.points) == POINTS
    assert spec.keys == ("method", "epochs", "hidden", "board", "sparsity", "architecture")
    first = spec.points[0]
    assert first.train == {"dataset": "digits", "method": "ste", "epochs": 4, "hidden": (16,),
                           "sparsity": 0.5}
    assert first.compile["architecture"] == "parallel" and first.compile["lanes"] is None
    # Points that differ only in compiling share their training.
    assert first.train_hash == spec.points[1].train_hash and first.hash != spec.points[1].hash
    assert len({p.train_hash for p in spec.points}) == TRAININGS
    # The hash is of what is computed: how it runs (threads, device) does not change it, a
    # default given explicitly neither.
    again = parse_spec({"fixed": {"method": "ste", "epochs": 4, "hidden": [16], "threads": 2,
                                  "device": "cpu", "lr": 0.01},
                        "grid": {"sparsity": [0.5], "architecture": ["parallel"]}})
    assert again.points[0].hash == first.hash


def test_an_added_option_at_its_default_leaves_the_hashes_alone():
    """Options added after hashing began (``added``) are left out of a hash at their defaults,
    so adding one does not retrain finished sweeps; set to anything else they are hashed."""
    import dataclasses

    from lwc.sweep._spec import point_hash
    from lwc.train.config import TrainConfig

    added = [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("added")]
    assert {"input_encoding", "dropout", "ste_shape", "max_fan_in"} <= {f.name for f in added}
    train = {"dataset": "digits", "method": "ste", "epochs": 4, "hidden": (16,)}
    base = point_hash(train, {})
    for f in added:
        assert point_hash({**train, f.name: f.default}, {}) == base, f.name
    assert point_hash({**train, "ste_shape": "triangle"}, {}) != base
    assert point_hash({**train, "dropout": 4}, {}) != base
    # A compile option added since (the tail) at the value points were built with before.
    assert point_hash(train, {"board": "icebreaker", "tail": "parallel"}) == \
        point_hash(train, {"board": "icebreaker"})
    assert point_hash(train, {"board": "icebreaker", "tail": "sequential"}) != \
        point_hash(train, {"board": "icebreaker"})
    # Not added: a default given explicitly is the same hash, another value another.
    assert point_hash({**train, "lr": 0.01}, {}) == base != point_hash({**train, "lr": 0.03}, {})


def test_the_example_spec_is_the_readmes_and_parses():
    root = Path(__file__).resolve().parents[1]
    example = root / "examples" / "sweep_digits.toml"
    (block,) = re.findall(r"<!-- example examples/sweep_digits\.toml -->\n```toml\n(.*?)```\n",
                          (root / "README.md").read_text(), re.S)
    assert block == example.read_text()
    spec = load_spec(example)
    assert len(spec.points) == 3 * 2 * 2 + 1 and spec.dataset == "digits"


def test_the_mnist_fronts_spec_parses():
    root = Path(__file__).resolve().parents[1]
    spec = load_spec(root / "examples" / "sweep_mnist.toml")
    assert spec.dataset == "mnist" and len(spec.points) == 30 * 3 + 2
    assert len({p.train_hash for p in spec.points}) == 31
    assert {p.compile["board"] for p in spec.points} == {"icebreaker", "ulx3s"}
    assert all(Path(p.train["data_dir"]).parts[-3:] == ("shared", "data", "mnist")
               for p in spec.points)


def test_the_mnist_tables_spec_parses():
    """The fan-in-limited front (docs/benchmarks.md, "Fronts", (e)): eight nets, each fully
    parallel with tables on both boards, every hidden neuron within its fan-in."""
    root = Path(__file__).resolve().parents[1]
    spec = load_spec(root / "examples" / "sweep_mnist_tables.toml")
    assert spec.dataset == "mnist" and len(spec.points) == 8 * 2
    assert len({p.train_hash for p in spec.points}) == 8
    assert all(p.compile["architecture"] == "parallel" and p.compile["tables"] == "auto"
               for p in spec.points)
    for p in spec.points:
        config = p.config().check()
        assert config.max_fan_in[0] in (4, 6) and config.method == "ste"


def _row(board, accuracy, lc, images=1000.0, **more):
    return {"hash": f"{board}-{accuracy}-{lc}", "status": "ok", "options": {"board": board},
            "accuracy": accuracy, "lc_estimate": lc, "images_per_s": images,
            "bram_estimate": 0, **more}


def test_each_board_has_its_own_front_of_points_that_fit():
    rows = [
        _row("icebreaker", 0.95, 3000),
        _row("icebreaker", 0.97, 6000, fits=False),    # does not fit: on no front
        _row("icebreaker", 0.96, 5000),
        _row("icebreaker", 0.94, 4000),                # dominated by 0.95 at 3000
        _row("ulx3s", 0.97, 20000),                    # another board: its own front, not
        _row("ulx3s", 0.93, 9000, place_error="x"),    # compared with the iCE40 points
        _row("ulx3s", 0.90, 10000),
        {"hash": "f", "status": "failed", "options": {"board": "ulx3s"}},
    ]
    front = sweep.front_rows(rows)
    assert [(sweep._run.board_of(r), r["accuracy"], r["lc_estimate"]) for r in front] == [
        ("icebreaker", 0.95, 3000), ("icebreaker", 0.96, 5000),
        ("ulx3s", 0.90, 10000), ("ulx3s", 0.97, 20000)]


def test_the_front_weighs_logic_cells_block_ram_and_speed_together():
    rows = [
        _row("icebreaker", 0.95, 3000, bram_estimate=8, images=5000.0),
        _row("icebreaker", 0.95, 3000, bram_estimate=8, images=5000.0),   # a tie: both stay
        _row("icebreaker", 0.95, 2000, bram_estimate=12, images=5000.0),  # fewer LC, more RAM
        _row("icebreaker", 0.95, 4000, bram_estimate=0, images=1e7),      # parallel: faster
        _row("icebreaker", 0.95, 4500, bram_estimate=0, images=1e7),      # same, but larger
        _row("icebreaker", 0.95, 3000, bram_estimate=9, images=5000.0),   # more RAM, no gain
    ]
    front = sweep.front_rows(rows)
    assert [(r["lc_estimate"], r["bram_estimate"]) for r in front] == [
        (2000, 12), (3000, 8), (3000, 8), (4000, 0)]
    # A spec's front may weigh fewer figures: accuracy against logic cells alone.
    front = sweep.front_rows(rows, ("accuracy", "logic_cells"))
    assert [(r["lc_estimate"], r["bram_estimate"]) for r in front] == [(2000, 12)]
    spec = parse_spec({"front": ["accuracy", "logic_cells"]})
    assert spec.front == ("accuracy", "logic_cells") and parse_spec({}).front == (
        "accuracy", "logic_cells", "block_ram", "images_per_s")


def test_a_front_point_that_fails_to_place_makes_way_for_the_next(tmp_path, monkeypatch):
    spec = parse_spec({"fixed": {"method": "ste", "epochs": 2, "hidden": 16,
                                 "architecture": "parallel"},
                       "grid": {"sparsity": [0.3, 0.5, 0.7, 0.9]}})
    placed = []

    def no_room(net_data, opts, build_dir=None):
        placed.append(build_dir)
        return {"place_error": "does not fit"}

    monkeypatch.setattr(sweep._run, "place_point", no_room)
    result = run_sweep(spec, tmp_path, backend="serial", place="front", progress=None)
    # Every point is on a front once the ones before it failed, so every one was tried, once.
    assert len(placed) == len(result.rows) == 4 and result.front == ()
    assert all(r["place_error"] == "does not fit" for r in result.rows)


def test_duplicate_points_run_once():
    spec = parse_spec({"grid": {"hidden": [16, [16]]}, "points": [{"hidden": 16}]})
    assert len(spec.points) == 1
    assert parse_spec({}).points[0].train == {"dataset": "digits"}


@pytest.mark.parametrize("text, message", [
    ("datset = 'digits'", "datset: unknown key"),
    ("[fixed]\nhiden = 3", "fixed.hiden: unknown option (not an lwc train option nor one of "
                           "board, architecture"),
    ("[grid]\nsparsity = 0.5", "grid.sparsity: must be a non-empty list of values, not 0.5"),
    ("[grid]\nsparsity = []", "grid.sparsity: must be a non-empty list of values, not []"),
    ("[grid]\nepochs = [1, 'x']", "grid.epochs: must be an integer, not 'x'"),
    ("[[points]]\nhidden = 'wide'", "points[0].hidden: must be a layer size or a list of sizes"),
    ("[[points]]\nboard = 3", "points[0].board: must be a string, not 3"),
    ("[fixed]\nshare = 1", "fixed.share: must be true or false, not 1"),
    ("[fixed]\ndataset = 'mnist'", "fixed.dataset: the dataset is named once"),
    ("fixed = 3", "fixed: must be a table, not int"),
    ("points = 3", "points: must be an array of tables"),
    ("name = [", "not valid TOML"),
    ("front = ['logic_cells']", "front: must list accuracy and at least one of logic_cells, "
                                "block_ram, images_per_s, each once, not ['logic_cells']"),
    ("front = ['accuracy', 'luts']", "front: must list accuracy"),
    ("front = ['accuracy', 'block_ram', 'block_ram']", "front: must list accuracy"),
    ("front = 'accuracy'", "front: must list accuracy"),
])
def test_spec_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = write_spec(tmp_path, text)
    with pytest.raises(SweepSpecError) as info:
        load_spec(path)
    line = str(info.value)
    assert line.startswith(f"{path}: ") and message in line and "\n" not in line


def test_missing_spec_and_cli_error_line(tmp_path, capsys):
    with pytest.raises(SweepSpecError, match="nope.toml: cannot read the spec"):
        load_spec(tmp_path / "nope.toml")
    bad = write_spec(tmp_path, "[fixed]\nhiden = 3")
    assert cli.main(["sweep", str(bad), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lwc: error: {bad}: fixed.hiden: unknown option") and \
        err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_ray_missing_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    spec = parse_spec({"fixed": {"epochs": 1, "hidden": 8}})
    with pytest.raises(UsageError) as info:
        run_sweep(spec, tmp_path, backend="ray", progress=None)
    assert str(info.value) == sweep.RAY_MISSING
    assert "pip install -e '.[sweep]'" in sweep.RAY_MISSING


def test_bad_run_options(tmp_path):
    spec = parse_spec({})
    with pytest.raises(UsageError, match="backend must be one of ray, serial, not 'x'"):
        run_sweep(spec, tmp_path, backend="x")
    with pytest.raises(UsageError, match="place must be one of front, all, not 'some'"):
        run_sweep(spec, tmp_path, place="some")


def test_a_crashed_task_is_recorded_and_tried_again(tmp_path, monkeypatch):
    from lwc.sweep import _backends

    # A worker that dies (out of memory, a crash) gives the driver a Crash, not a result.
    monkeypatch.setattr(_backends.Serial, "wait",
                        lambda self, pending: (pending[0], _backends.Crash("WorkerCrashedError")))
    spec = parse_spec({"fixed": {"epochs": 1, "hidden": 8}})
    result = run_sweep(spec, tmp_path, backend="serial", progress=None)
    (row,) = result.rows
    assert (row["status"], row["stage"], row["error"], row["lwc_error"]) == \
        ("failed", "task", "WorkerCrashedError", False)
    assert result.failed == 1 and result.front == ()
    again = run_sweep(spec, tmp_path, backend="serial", progress=None)
    assert again.cached == 0 and again.failed == 1  # not a user error: run again


# --- running -------------------------------------------------------------------------------------

def counting_trainings(monkeypatch):
    """Count the trainings this process runs (the serial backend runs them here)."""
    calls = []
    real = loop.train

    def train(config, **kwargs):
        calls.append(config)
        return real(config, **kwargs)

    monkeypatch.setattr(loop, "train", train)
    return calls


def interrupt_after(done):
    """A status callback that presses Ctrl-C once ``done`` points or more are done."""
    def status(line):
        if int(line.split("] ")[1].split("/")[0]) >= done:
            raise KeyboardInterrupt
    return status


def no_temporary_files(out):
    return [p for p in out.rglob("*") if ".tmp" in p.name]


def check_results(out, rows):
    assert len(rows) == POINTS
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["error"] == "sparsity must be in [0, 1), not 1.5"
    assert failed[0]["stage"] == "train" and failed[0]["lwc_error"]
    ok = [r for r in rows if r["status"] == "ok"]
    for r in ok:
        assert 0.25 < r["accuracy"] <= 1 and r["lc_estimate"] > 0 and r["images_per_s"] > 0
        assert r["datapath"] == r["options"]["architecture"]
        assert (out / r["net"]).is_file()
    streaming = [r for r in ok if r["datapath"] == "streaming"]
    assert all(r["bram_estimate"] > 0 and r["cycles_per_inference"] > 1 for r in streaming)
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["hash"] for t in table] == [r["hash"] for r in rows]
    assert json.loads((out / "results.json").read_text())["rows"] == rows
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert not no_temporary_files(out)


@pytest.mark.train
def test_serial_sweep_resumes_after_ctrl_c_without_redoing_points(tmp_path, monkeypatch):
    calls = counting_trainings(monkeypatch)
    spec = load_spec(write_spec(tmp_path))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, backend="serial", progress=None, status=interrupt_after(2))
    # Stopped after the first training (two points): those are written whole, nothing else.
    assert len(calls) == 1
    done = sorted(p.parent.name for p in out.glob("points/*/result.json"))
    assert len(done) == 2
    first = {h: (out / "points" / h / "result.json").stat().st_mtime_ns for h in done}
    with open(out / "results.csv", newline="") as f:
        assert sorted(r["hash"] for r in csv.DictReader(f)) == done
    assert not no_temporary_files(out)

    result = run_sweep(spec, out, backend="serial", progress=None)
    assert len(calls) == TRAININGS  # only the two trainings not done before
    # One net trained (the other training fails), one point failed.
    assert result.cached == 2 and result.trained == 1 and result.failed == 1
    assert {h: (out / "points" / h / "result.json").stat().st_mtime_ns for h in done} == first
    check_results(out, list(result.rows))
    assert result.front and all(r["status"] == "ok" for r in result.front)

    # Everything done: a re-run trains nothing, the failed point (a user error) is kept.
    again = run_sweep(spec, out, backend="serial", progress=None)
    assert len(calls) == TRAININGS and again.cached == POINTS and again.rows == result.rows
    text = again.table()
    assert "failed" in text and "sparsity must be in [0, 1), not 1.5" in text
    assert text.splitlines()[0].startswith(f"front: {len(again.front)} of {POINTS} points")


@pytest.mark.train
def test_a_new_compile_option_reuses_the_trained_net(tmp_path, monkeypatch):
    calls = counting_trainings(monkeypatch)
    base = {"fixed": {"method": "ste", "epochs": 1, "hidden": 8, "sparsity": 0.5}}
    out = tmp_path / "out"
    run_sweep(parse_spec(base), out, backend="serial", progress=None)
    wider = {**base, "grid": {"architecture": ["parallel", "streaming"], "lanes": [1, 0]}}
    result = run_sweep(parse_spec(wider), out, backend="serial", progress=None)
    assert len(calls) == 1 and result.trained == 0
    rows = {(r["options"].get("architecture"), r["options"].get("lanes")): r
            for r in result.rows}
    assert rows[("streaming", 1)]["status"] == "ok"
    # Out of range compile options fail their point alone, with lwc compile's line.
    assert rows[("streaming", 0)]["error"] == "lanes must be a positive integer, not 0"
    assert rows[("streaming", 0)]["stage"] == "compile"
    assert rows[("parallel", 1)]["status"] == "failed"
    # A failure caused by the user is kept on a re-run, unless retried.
    assert run_sweep(parse_spec(wider), out, backend="serial", progress=None).cached == 4
    retried = run_sweep(parse_spec(wider), out, backend="serial", progress=None,
                        retry_failed=True)
    assert retried.cached == 1 and retried.failed == 3 and len(calls) == 1


@pytest.mark.train
@pytest.mark.slow
@pytest.mark.icarus
def test_place_and_prove_the_front(tmp_path):
    spec = parse_spec({"fixed": {"method": "ste", "epochs": 4, "hidden": 16, "sparsity": 0.7,
                                 "architecture": "parallel"}})
    out = tmp_path / "out"
    result = run_sweep(spec, out, backend="serial", place="front", prove=True,
                       simulator="icarus", progress=None)
    (row,) = result.rows
    assert result.front == result.rows and result.placed == 1 and result.proved == 1
    assert row["placed_lut4"] > 0 and row["placed_lc"] > 0 and row["placed_fmax_mhz"] > 0
    assert row["proved"] is True and row["proof_vectors"] == 450 and row["proof_mismatches"] == 0
    assert (out / "points" / row["hash"] / "placed.json").is_file()
    # Placed and proven once: a re-run does neither again.
    again = run_sweep(spec, out, backend="serial", place="front", prove=True,
                      simulator="icarus", progress=None)
    assert again.placed == again.proved == 0 and again.rows == result.rows


@pytest.mark.train
@pytest.mark.subprocess
def test_digits_sweep_on_local_ray_resumes_after_ctrl_c(tmp_path, capsys):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[sweep]')")
    spec_path = write_spec(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec_path, out, num_cpus=2, progress=None, status=interrupt_after(2))
    assert not ray.is_initialized()  # the sweep's own Ray is shut down
    done = {p.parent.name for p in out.glob("points/*/result.json")}
    assert 2 <= len(done) < POINTS and not no_temporary_files(out)

    # The command, resuming: only the trainings not finished before run.
    assert cli.main(["sweep", str(spec_path), "-o", str(out), "--cpus", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"{POINTS} points, {len(done)} done before" in printed
    assert "failed" in printed and "front:" in printed
    rows = json.loads((out / "results.json").read_text())["rows"]
    check_results(out, rows)
    nets = {r["train_hash"] for r in rows if r["status"] == "ok"}
    nets_before = {r["train_hash"] for r in rows if r["status"] == "ok" and r["hash"] in done}
    assert f"({len(done)} cached, {len(nets - nets_before)} trainings run" in printed

    # Ray and the serial backend compute the same figures.
    serial = run_sweep(load_spec(spec_path), tmp_path / "serial", backend="serial",
                       progress=None)
    for a, b in zip(rows, serial.rows):
        assert (a["hash"], a.get("accuracy"), a.get("lc_estimate")) == \
            (b["hash"], b.get("accuracy"), b.get("lc_estimate"))


def test_compile_options_tables_and_weights_reach_the_compiler(tmp_path):
    spec = parse_spec({"fixed": {"method": "ste", "epochs": 2, "hidden": 8, "sparsity": 0.9,
                                 "input_bits": 1, "architecture": "parallel"},
                       "grid": {"tables": ["off", "all"]},
                       "points": [{"weights": "spram", "architecture": "parallel"}]})
    result = run_sweep(spec, tmp_path, backend="serial", progress=None)
    off, every, spram = result.rows
    assert len({r["train_hash"] for r in result.rows}) == 1  # one training for all three
    # Every neuron of at most 10 input bits is a table with "all": no adders left for them.
    assert off["status"] == every["status"] == "ok" and every["adders"] < off["adders"]
    # SPRAM holds a streaming table: asked of a parallel datapath, the point fails alone.
    assert spram["status"] == "failed" and "spram" in spram["error"]
