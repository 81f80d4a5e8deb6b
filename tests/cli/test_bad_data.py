"""The hostile data corpus (tests/corpus/make_bad_data.py) against ``lwc train``: one line naming
the file and the problem, no traceback, no control character, nothing on stdout, nothing written,
at once (no FIFO waited on, no device read) and in bounded memory."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from lwc.cli import main

from helpers import TESTS, load_script

CORPUS_SCRIPT = TESTS / "corpus" / "make_bad_data.py"
CORPUS = load_script("tests/corpus/make_bad_data.py", "make_bad_data")
# Control characters, DEL, C1 controls, Unicode separators and bidirectional controls.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# Cases that would hang the test process if a regression opened them: subprocess only.
BLOCKING = {"fifo", "idx_fifo"}
IN_PROCESS = sorted(set(CORPUS.CASES) - BLOCKING)


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    made = CORPUS.make_bad_data(tmp_path_factory.mktemp("bad-data"))
    return {bad.name: bad for bad in made}


def one_clean_line(err, start):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(start), lines[0]
    assert not FORBIDDEN.search(lines[0]), repr(lines[0])
    assert len(lines[0]) < len(start) + 300, lines[0]
    return lines[0]


def test_corpus_covers_the_kinds():
    names = set(CORPUS.CASES)
    assert len(names) >= 50
    assert {bad for bad in CORPUS.CASES if bad.startswith("idx_")} >= {
        "idx_images_count_0", "idx_bad_magic", "idx_count_mismatch", "idx_truncated",
        "idx_dev_zero", "idx_fifo", "idx_over_size_limit", "idx_header_claims_terabytes"}
    assert {"int_column_word", "float_column_typo", "inf_string", "nul_in_number",
            "magnitude_1e200", "label_ansi_escape", "dev_zero", "fifo", "directory",
            "file_over_size_limit", "row_over_limit"} <= names
    assert BLOCKING <= names


@pytest.mark.parametrize("name", IN_PROCESS)
def test_train_refuses_bad_data(bad_data, name, tmp_path, capsys):
    bad = bad_data[name]
    out = tmp_path / "out"
    assert main(["train", *bad.argv, "-o", str(out / "net.pt"), "--no-plots"]) == 1
    captured = capsys.readouterr()
    line = one_clean_line(captured.err, f"lwc: error: {bad.path}: ")
    assert bad.expect in line, line
    assert captured.out == ""
    assert not out.exists()


MEASURE = textwrap.dedent("""
    import contextlib, io, json, resource, sys
    sys.path.insert(0, sys.argv[1])
    import make_bad_data as corpus
    from lwc.cli import main

    out_dir = sys.argv[2]
    results = {}
    for bad in corpus.make_bad_data(out_dir + "/c"):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(["train", *bad.argv, "-o", out_dir + "/o/net.pt", "--no-plots"])
        results[bad.name] = [rc, err.getvalue(), out.getvalue(), str(bad.path), bad.expect]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak, "results": results}))
""")


@pytest.mark.subprocess
def test_whole_corpus_in_bounded_memory_and_time(tmp_path):
    """Every case, the FIFOs included, in one fresh process capped at 3 GiB of address space and
    two minutes: each refused with its one line, and the peak resident memory of the whole run
    (torch included) under 1 GB."""
    def cap():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run([sys.executable, "-c", MEASURE, str(CORPUS_SCRIPT.parent),
                           str(tmp_path)], capture_output=True, text=True, timeout=120,
                          preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert sorted(report["results"]) == sorted(CORPUS.CASES)
    for name, (rc, err, out, path, expect) in report["results"].items():
        assert rc == 1 and out == "", (name, rc, out)
        assert expect in one_clean_line(err, f"lwc: error: {path}: "), name
    assert not (tmp_path / "o").exists()
    assert report["peak"] < 1e9, f"peak resident memory {report['peak'] / 1e6:.0f} MB"


@pytest.mark.subprocess
def test_the_corpus_script_writes_and_counts(tmp_path):
    out = subprocess.run([sys.executable, str(CORPUS_SCRIPT), str(tmp_path / "c")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == f"{len(CORPUS.CASES)} bad data cases in {tmp_path / 'c'}"
    # Files over the size limits are sparse: the corpus takes little disk.
    used = sum(p.lstat().st_blocks * 512 for p in (tmp_path / "c").rglob("*"))
    assert used < 50e6, used


@pytest.mark.subprocess
def test_bad_data_is_refused_before_torch_is_imported(bad_data, tmp_path):
    """``lwc train`` reads and checks the data (lwc.data, NumPy only) before it imports torch, so a
    refusal does not wait for torch (``time lwc train --csv /dev/zero --label y``: 0.4 s, was 4 s
    with torch imported first)."""
    argvs = [list(bad_data[name].argv) for name in ("dev_zero", "fifo", "idx_fifo")]
    code = textwrap.dedent("""
        import json, sys
        from lwc.cli import main
        out = sys.argv[2]
        for argv in json.loads(sys.argv[1]):
            assert main(["train", *argv, "-o", out]) == 1, argv
            assert "torch" not in sys.modules, argv
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(argvs), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert not (tmp_path / "o").exists()
