"""TrainConfig is the one description of the training options: the CLI and train/README.md's
option table are generated from its fields (issue 13, item 7)."""

import pathlib
from dataclasses import fields

from lwc import cli
from lwc.train.config import TrainConfig, flag, option_table, with_option_table

README = pathlib.Path(__file__).resolve().parents[2] / "train" / "README.md"


def test_readme_holds_the_generated_table():
    text = README.read_text()
    assert option_table() in text
    assert with_option_table(text) == text, \
        "run: python -m lwc.train.config --write train/README.md"


def test_every_field_is_an_option_and_round_trips():
    parser = cli.build_parser("train")
    args = parser.parse_args(["train"])
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    assert config == TrainConfig()
    argv = ["train", "--method", "ste", "--hidden", "32,16", "--sparsity", "0.5", "--balanced",
            "--no-recalibrate", "--categorical", "a,b", "--lwn-round-at", "0.05",
            "--split-seed", "3", "--samples", "4"]
    args = parser.parse_args(argv)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    assert config.hidden == (32, 16) and config.balanced and not config.recalibrate
    assert config.categorical == ("a", "b") and config.lwn_round_at == 0.05
    assert config.split_seed == 3 and config.samples == 4 and config.method == "ste"
    options = {s for a in parser._subparsers._group_actions[0].choices["train"]._actions
               for s in a.option_strings}
    assert {flag(f) for f in fields(TrainConfig)} <= options
