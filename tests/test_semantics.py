"""lwc.semantics against docs/semantics.md and docs/netfile.md: the activation kinds, their
parameters and layer settings, and the settings' limits are written once, in the module."""

import re
from pathlib import Path

import pytest

from lwc import semantics

DOCS = Path(__file__).resolve().parents[1] / "docs"


def tables(path, marker):
    """The tables right after ``marker`` in ``path`` (up to the first other text), each a list of
    its rows (header first), each row a list of its cells."""
    found, previous = [], ""
    for line in path.read_text().split(marker, 1)[1].splitlines()[1:]:
        if line.startswith("|") and not previous.startswith("|"):
            found.append([])
        if line.startswith("|") and "---" not in line:
            found[-1].append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif not line.startswith("|") and line.strip():
            break
        previous = line
    return found


def test_the_semantics_doc_lists_each_kind_with_its_settings():
    table = tables(DOCS / "semantics.md", "<!-- activations:")[0][1:]
    kinds = {re.match(r"`(\w+)`", row[0]).group(1): row for row in table}
    assert set(kinds) == set(semantics.KINDS)
    for name, kind in semantics.KINDS.items():
        assert re.findall(r"`(\w+)`", kinds[name][2]) == list(kind.settings), name
        assert ("output layer only" in kinds[name][0]) == (not kind.hidden), name


def test_the_semantics_doc_lists_each_setting_with_its_limits_and_meaning():
    table = tables(DOCS / "semantics.md", "<!-- activations:")[1][1:]
    settings = {row[0]: row[1:] for row in table}
    assert settings == {f"`{name}`": [f"{s.least} .. {s.most}", s.meaning]
                        for name, s in semantics.SETTINGS.items()}


def test_the_format_doc_lists_each_kind_with_its_tensors_and_settings():
    table = tables(DOCS / "netfile.md", "<!-- activations:")[0][1:]
    assert [row[0] for row in table] == [f'`"{name}"`' for name in semantics.KINDS]
    for row, (name, kind) in zip(table, semantics.KINDS.items()):
        assert re.findall(r"`(\w+)`", row[1].split("(")[0]) == list(kind.params), name
        settings = [f"`{s}`: int in {semantics.SETTINGS[s].least}..{semantics.SETTINGS[s].most}"
                    for s in kind.settings]
        assert row[2] == ", ".join(settings), name
        assert row[3] == ("hidden layers" if kind.hidden else "the last layer only"), name


@pytest.mark.parametrize("kind,settings,error", [
    ("clip", {"shift": 3, "bits": 16}, None),
    ("clip", {"shift": 63, "bits": 2}, "clip shift must be 0..62, not 63"),
    ("clip", {"shift": 0, "bits": 0}, "clip bits must be 1..16, not 0"),
    ("clip", {"shift": 0, "bits": 2.0}, "clip bits must be 1..16, not 2.0"),
    ("step", {"shift": 0, "bits": 1}, None),
    ("step", {"shift": 1, "bits": 1}, "step has no shift (it must stay 0, not 1)"),
    ("linear", {"shift": 0, "bits": 4}, "linear has no bits (it must stay 1, not 4)"),
])
def test_settings_are_held_to_the_table(kind, settings, error):
    assert semantics.settings_error(kind, settings) == error


@pytest.mark.parametrize("kind", semantics.KINDS)
def test_offset_params_move_the_sum(kind):
    """What ``fold_constants`` relies on: a constant ``delta`` added to every sum is the same as
    the parameters :func:`~lwc.semantics.offset_params` gives."""
    params = tuple(range(-2, -2 + 3 * len(semantics.ACTIVATIONS[kind]), 3))
    settings = {name: semantics.SETTINGS[name].least + 1 for name in semantics.KINDS[kind].settings}
    for delta in (-5, 0, 3):
        moved = semantics.offset_params(kind, params, delta)
        for s in range(-12, 13):
            assert semantics.activation(kind, moved, s, **settings) == \
                semantics.activation(kind, params, s + delta, **settings)


@pytest.mark.parametrize("kind", semantics.KINDS)
def test_activation_range_is_exact(kind):
    """The interval of each kind over every sum interval is the exact min and max."""
    params = tuple(range(-2, -2 + 3 * len(semantics.ACTIVATIONS[kind]), 3))
    settings = {name: semantics.SETTINGS[name].least + 1 for name in semantics.KINDS[kind].settings}
    for lo in range(-10, 11):
        for hi in range(lo, 11):
            values = [semantics.activation(kind, params, s, **settings) for s in range(lo, hi + 1)]
            assert semantics.activation_range(kind, params, (lo, hi), **settings) == \
                (min(values), max(values))
