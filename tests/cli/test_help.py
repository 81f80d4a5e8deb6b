"""What ``lwc <command> --help`` says (issue 15, point 7), the training summary's metrics, and the
messages of point 8 that need no tool."""

import re

import numpy as np
import pytest

from lwc.cli import main, minority_f1_text


def help_of(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    return re.sub(r"\s+", " ", capsys.readouterr().out)


def option_help(command, option):
    """The help text of ``option`` (or of the positional argument so named) of ``command``."""
    import argparse

    from lwc.cli import build_parser

    parser = build_parser(command)
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in sub.choices[command]._actions:
        if option in action.option_strings or (not action.option_strings
                                               and action.dest == option):
            assert action.help, f"{command} {option} has no help"
            return action.help
    raise AssertionError(f"{command} has no {option}")


@pytest.mark.parametrize("command", ["inspect", "compile", "sim", "verify", "run"])
def test_positional_net_is_described(command, capsys):
    assert option_help(command, "net") == "the network file (net.pt) written by 'lwc train'"
    assert "net the network file (net.pt)" in help_of(command, capsys)


@pytest.mark.parametrize(("command", "option", "says"), [
    ("flash", "--board", "default: the one the build was made for"),
    ("run", "--baud", "default 115200"),
    ("run", "--timeout", "default 1"),
    ("demo", "--board", "default icebreaker"),
    ("demo", "--simulator", "default verilator"),
    ("demo", "--architecture", "default auto"),
    ("demo", "--seed", "default 0"),
    ("compile", "--seed", "default 1"),
    ("train", "--epochs", "(default 40)"),
    ("train", "--batch-size", "(default 64)"),
    ("train", "--lr", "(default 0.01)"),
    ("train", "--seed", "(default 0)"),
    ("train", "--output", "gets net.pt inside it"),
    ("compile", "--force", "does not fit"),
])
def test_options_have_help_and_defaults(command, option, says):
    assert says in option_help(command, option)


def test_equal_fan_in_is_not_class_balancing(capsys):
    from lwc.cli import build_parser

    text = help_of("train", capsys)
    assert "not class balancing (--balance)" in option_help("train", "--equal-fan-in")
    assert "class balancing:" in option_help("train", "--balance")
    assert "[--balanced" not in text and " --balanced," not in text  # the old name is hidden
    parser = build_parser("train")
    assert parser.parse_args(["train", "--equal-fan-in"]).balanced is True
    assert parser.parse_args(["train", "--no-equal-fan-in"]).balanced is False
    assert parser.parse_args(["train", "--balanced"]).balanced is True  # still accepted
    assert parser.parse_args(["train"]).balanced is None


def test_minority_class_f1_is_labelled():
    metrics = {"support": [50, 0, 7, 7], "f1_per_class": [0.9, 0.0, 0.5, 0.25]}
    assert minority_f1_text(metrics, ["no", "gone", "yes", "maybe"]) == \
        "minority-class F1 50.00% (class yes, 7 test samples)"


def test_sim_npy_that_is_not_a_plain_array(tmp_path, make_network, rng, capsys):
    from lwc.compiler import netfile

    path = tmp_path / "net.pt"
    netfile.save(make_network(rng, inputs=4, hidden=(3,), outputs=2, bits=2), path)
    csv = tmp_path / "vectors.csv"
    csv.write_text("1,2,3,0\n")
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}, 2], dtype=object), allow_pickle=True)
    plain = "cannot read a .npy array: it is not a plain .npy array"
    for bad, why in ((csv, "no .npy header"),
                     (objects, "it holds Python objects, which lwc does not unpickle")):
        assert main(["sim", str(path), "--npy", str(bad)]) == 1
        err = capsys.readouterr().err
        assert err == f"lwc: error: {bad}: {plain} ({why})\n"
        assert "allow_pickle" not in err
