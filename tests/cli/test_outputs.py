"""Where the ``lwc`` commands write (issue 15, points 1 and 4): every output path is checked
before any work starts, a directory given as ``lwc train -o`` gets ``net.pt`` inside it, and
builds of different nets never replace each other silently."""

import json
import shutil

import pytest

from lwc.cli import main
from lwc.compile import MANIFEST
from lwc.compiler import netfile
from lwc.errors import UsageError
from lwc.outdir import NET_FILE, check_dir, default_dir, fingerprint, net_file, net_name


def one_error_line(err):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lwc: error: "), err
    return lines[0][len("lwc: error: "):]


TINY = ["--epochs", "1", "--hidden", "8", "--no-plots"]


# --- lwc train -o ------------------------------------------------------------------------------

@pytest.mark.train
def test_train_into_an_existing_directory(tmp_path, capsys):
    out = tmp_path / "existdir"
    out.mkdir()
    assert main(["train", *TINY, "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out / NET_FILE}: " in stdout
    assert netfile.load(out / NET_FILE).layers[0].size == 8
    assert (out / "train_report.json").is_file()


@pytest.mark.train
def test_train_into_a_new_directory_ending_in_slash(tmp_path, capsys):
    out = tmp_path / "outdir" / "deeper"
    assert main(["train", *TINY, "-o", f"{out}/"]) == 0
    assert f"wrote {out / NET_FILE}: " in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [NET_FILE, "train_report.json"]


@pytest.mark.parametrize("kind", ["file on the way", "file on the way, slash", "not writable"])
def test_train_refuses_an_unwritable_output_before_training(tmp_path, capsys, kind):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    if kind == "not writable":
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        output = str(locked / "net.pt")
        if shutil.os.access(locked, shutil.os.W_OK):  # root writes everywhere
            pytest.skip("running as a user who may write into a read-only folder")
    else:
        output = str(blocker / "net.pt") + ("/" if kind.endswith("slash") else "")
    assert main(["train", *TINY, "-o", output]) == 1
    captured = capsys.readouterr()
    assert "epoch" not in captured.out  # refused before training
    line = one_error_line(captured.err)
    assert "afile is a file, not a directory" in line or "not writable" in line
    assert blocker.read_text() == "not a folder\n"


def test_net_file_policy(tmp_path):
    existing = tmp_path / "d"
    existing.mkdir()
    assert net_file(existing) == str(existing / NET_FILE)
    assert net_file(f"{tmp_path}/new/") == str(tmp_path / "new" / NET_FILE)
    assert net_file(tmp_path / "n.pt") == str(tmp_path / "n.pt")
    assert not (tmp_path / "new").exists()  # nothing is created by the check
    (existing / NET_FILE).mkdir()
    with pytest.raises(UsageError, match="is a directory; choose another output file"):
        net_file(existing)


def test_check_dir(tmp_path):
    check_dir(tmp_path / "a" / "b")
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError) as err:
        check_dir(tmp_path / "f" / "b", "build directory")
    assert str(err.value) == (f"{tmp_path / 'f' / 'b'}: cannot create the build directory: "
                              f"{tmp_path / 'f'} is a file, not a directory")
    with pytest.raises(UsageError, match=r"f: not a directory; choose another output directory"):
        check_dir(tmp_path / "f")


def test_sim_and_verify_refuse_a_file_as_build_directory(tmp_path, make_network, rng, capsys):
    path = tmp_path / "net.pt"
    netfile.save(make_network(rng, inputs=4, hidden=(3,), outputs=2, bits=2), path)
    blocker = tmp_path / "afile"
    blocker.write_text("")
    for argv in (["sim", str(path), "--vectors", "2", "--build-dir", str(blocker / "b")],
                 ["verify", str(path), "--work-dir", str(blocker)]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert str(blocker) in one_error_line(captured.err)
        assert "simulating" not in captured.out and "proving" not in captured.out


def test_demo_refuses_an_unwritable_output_before_training(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert main(["demo", "digits", "-o", str(blocker)]) == 1
    captured = capsys.readouterr()
    assert "== train" not in captured.out
    assert one_error_line(captured.err) == f"{blocker}: not a directory; choose another " \
                                           f"output directory"


def test_demo_refuses_foreign_files_before_training(tmp_path, capsys):
    (tmp_path / "d" / "icebreaker").mkdir(parents=True)
    (tmp_path / "d" / "icebreaker" / "notes.txt").write_text("mine\n")
    assert main(["demo", "digits", "-o", str(tmp_path / "d")]) == 1
    captured = capsys.readouterr()
    assert "== train" not in captured.out
    assert "has no lwc manifest (notes.txt)" in one_error_line(captured.err)


# --- default build directories and builds of other nets ----------------------------------------

@pytest.fixture
def two_nets(tmp_path, make_network, rng):
    """``imb/net.pt`` and ``bc/net.pt``: two different nets under the file name lwc train
    writes."""
    paths = []
    for name in ("imb", "bc"):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "net.pt"
        netfile.save(make_network(rng, inputs=6, hidden=(4,), outputs=3, bits=3), path)
        paths.append(path)
    assert fingerprint(netfile.load(paths[0])) != fingerprint(netfile.load(paths[1]))
    return paths


def test_default_build_directories_of_different_nets_differ(two_nets, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    for path in two_nets:
        assert main(["compile", str(path), "--target", "verilog"]) == 0
    outs = sorted((tmp_path / "build").iterdir())
    assert [p.name.split("-")[0] for p in outs] == ["bc", "imb"]
    for path in two_nets:
        net = netfile.load(path)
        out = tmp_path / default_dir(path, net, "verilog")
        assert out.name == f"{path.parent.name}-{fingerprint(net)[:8]}-verilog"
        data = json.loads((out / MANIFEST).read_text())
        assert data["net"] == {"fingerprint": fingerprint(net), "source": str(path)}
    assert f"wrote {outs[0] / 'net.v'}".replace(str(tmp_path) + "/", "") in capsys.readouterr().out


def test_net_name():
    assert net_name("runs/bc/net.pt") == "bc"
    assert net_name("mnist.pt") == "mnist"
    assert net_name("a b/net.pt") == "a_b"


def test_build_of_another_net_is_refused_without_force(two_nets, tmp_path, capsys):
    first, second = two_nets
    out = tmp_path / "o"
    assert main(["compile", str(first), "--target", "verilog", "-o", str(out)]) == 0
    before = (out / "net.v").read_text()
    capsys.readouterr()
    assert main(["compile", str(second), "--target", "verilog", "-o", str(out)]) == 1
    fp_first = fingerprint(netfile.load(first))[:8]
    fp_second = fingerprint(netfile.load(second))[:8]
    assert one_error_line(capsys.readouterr().err) == (
        f"{out}: holds the build of another net ({first} fingerprint {fp_first}, this one is "
        f"{fp_second}); choose another output directory (-o), or pass --force to replace it")
    assert (out / "net.v").read_text() == before
    # The same net from another file is the same net; --force replaces another net's build.
    copy = tmp_path / "copy.pt"
    shutil.copy(first, copy)
    assert main(["compile", str(copy), "--target", "verilog", "-o", str(out)]) == 0
    assert main(["compile", str(second), "--target", "verilog", "-o", str(out), "--force"]) == 0
    assert (out / "net.v").read_text() != before
    assert json.loads((out / MANIFEST).read_text())["net"]["source"] == str(second)


@pytest.mark.train
def test_train_to_file_follows_the_same_rule(tmp_path):
    """The library call (what the Python API uses) checks and resolves its path the same way."""
    from lwc.train import TrainConfig, train_to_file

    blocker = tmp_path / "afile"
    blocker.write_text("")
    started = []
    with pytest.raises(UsageError, match="afile is a file, not a directory"):
        train_to_file(TrainConfig(epochs=1, hidden=(8,)), blocker / "net.pt", plots=False,
                      progress=started.append)
    assert started == []
    train_to_file(TrainConfig(epochs=1, hidden=(8,)), tmp_path, plots=False)
    assert netfile.load(tmp_path / NET_FILE).layers[0].size == 8
