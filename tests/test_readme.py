"""README.md's transcripts have the form of what their commands print now.

``python docs/transcripts.py`` writes them from real runs; figures may change from run to run,
the lines may not (:func:`shape`). The demo's summary is checked by the demo's own test
(tests/cli/test_cli.py), whose run it shares.
"""

import datetime
import re

import pytest

from helpers import transcripts_module

T = transcripts_module()
README = T.README.read_text()
SHOWN = T.readme_transcripts(README)


def test_every_transcript_is_in_the_readme_with_its_command():
    assert list(SHOWN) == list(T.TRANSCRIPTS)
    for name, lines in SHOWN.items():
        assert lines[0] == T.TRANSCRIPTS[name].command(), name
    (date,) = re.findall(r"<!-- transcripts-date -->(.*?)<!-- /transcripts-date -->", README)
    datetime.date.fromisoformat(date)


def test_cut_and_shape():
    t = T.Transcript(("lwc", "x"), head=1, tail_from=r"net")
    assert t.cut(["a", "b", "network 1", "c"]) == ["a", "...", "network 1", "c"]
    assert T.Transcript(("lwc", "x"), head=1, tail=1).cut(["a", "b", "c"]) == ["a", "...", "c"]
    assert T.Transcript(("lwc", "x"), head=2).cut(["a", "b", "c"]) == ["a", "b", "..."]
    assert T.Transcript(("lwc", "x"), head=2, tail=1).cut(["a", "b", "c"]) == ["a", "b", "c"]
    assert T.shape(["epoch   1/40  loss 2.1506  val -3.5%, 12,414 vectors/s"]) == \
        ["epoch #/# loss # val #%, # vectors/s"]
    assert T.labels(["time: train            4.4 s", "== summary ==="]) == \
        ["time: train", "== summary ==="]
    text = "x\n<!-- transcript a -->\n```\n$ lwc a\nold\n```\n<!-- /transcript -->\n" \
           "<!-- transcripts-date -->2000-01-01<!-- /transcripts-date -->\n"
    new = T.rewrite(text, {"a": ["$ lwc a", "new 1", "new 2"]}, "2026-12-04")
    assert T.readme_transcripts(new) == {"a": ["$ lwc a", "new 1", "new 2"]}
    assert "<!-- transcripts-date -->2026-12-04<!-- /transcripts-date -->" in new


def test_shape_ignores_the_net_fingerprint_of_a_build_directory():
    """Default build directories carry the net's fingerprint, which changes with every net."""
    assert T.shape(["wrote build/digits-1f0e9a2c-verilog/net.v"]) == \
        T.shape(["wrote build/digits-90ab3c4d-verilog/net.v"]) == \
        ["wrote build/digits-#-verilog/net.v"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The directory the transcripts run in, after the ``train`` one wrote the net there."""
    path = tmp_path_factory.mktemp("readme")
    return path, T.run("train", path)


def assert_same_form(name, lines):
    assert T.shape(lines) == T.shape(SHOWN[name]), \
        f"README.md's {name!r} transcript is stale: run python docs/transcripts.py {name}"


@pytest.mark.subprocess
@pytest.mark.train
def test_train_inspect_and_verilog_transcripts(workdir):
    path, train = workdir
    assert_same_form("train", train)
    assert_same_form("inspect", T.run("inspect", path))
    assert_same_form("compile-verilog", T.run("compile-verilog", path))


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.train
@pytest.mark.verilator
def test_sim_transcript(workdir):
    assert_same_form("sim", T.run("sim", workdir[0]))


@pytest.mark.subprocess
@pytest.mark.train
@pytest.mark.yosys
@pytest.mark.slow
def test_ice40_transcript(workdir):
    assert_same_form("compile-ice40", T.run("compile-ice40", workdir[0]))
