"""The fit decision before place-and-route (issue 15, point 5): the estimate's verdict names the
resource that does not fit and by how much, and a design it says does not fit is refused before
anything is built unless forced."""

import numpy as np
import pytest
from amaranth.hdl import Fragment

import lwc.boards.compile as compile_module
from lwc.boards.estimate import Estimate
from lwc.boards.plan import fit_text
from lwc.boards.registry import get_board
from lwc.cli import main
from lwc.compile import compile_net
from lwc.compiler import netfile
from lwc.errors import BuildError

from helpers import random_network

# Streaming on the icestick, 1 lane: estimated 1,234 of its 1,280 logic cells, more than the
# 90% place-and-route can fill (the case: 1,171/1,280 said "does NOT fit", then built).
# The figures are of the design without truth-table neurons (TABLES: ``--tables off``).
NEAR_MISS = ("the streaming design does not fit the icestick (iCE40HX1K-TQ144) by the estimate: "
             "1,234 logic cells is 82 more than the 1,152 place-and-route can fill (90% of "
             "1,280); choose a larger board or a smaller network, or pass --force to try "
             "place-and-route anyway")


TABLES = {"tables": "off"}


@pytest.fixture
def near_miss():
    return random_network(np.random.default_rng(1), inputs=16, hidden=(64, 64), outputs=4,
                          bits=4, density=0.5, kinds=("step",))


class _Placed(Exception):
    pass


def _no_build(top, *args, **kwargs):
    Fragment.get(top, None)  # elaborated, as the real build does first
    raise _Placed("place-and-route was reached")


def test_does_not_fit_is_refused_before_anything_is_built(near_miss, tmp_path, monkeypatch):
    monkeypatch.setattr(compile_module, "build", _no_build)
    lines = []
    out = tmp_path / "out"
    with pytest.raises(BuildError) as err:
        compile_net(near_miss, out, board="icestick", progress=lines.append, **TABLES)
    assert str(err.value) == NEAR_MISS
    assert not out.exists()
    said = next(line for line in lines if line.startswith("architecture: streaming"))
    assert said.endswith("estimated 1,234/1,280 logic cells, 5/16 block RAMs: does NOT fit: "
                         "1,234 logic cells is 82 more than the 1,152 place-and-route can fill "
                         "(90% of 1,280)")


def test_force_builds_what_does_not_fit_and_says_so(near_miss, tmp_path, monkeypatch):
    monkeypatch.setattr(compile_module, "build", _no_build)
    lines = []
    with pytest.raises(_Placed):
        compile_net(near_miss, tmp_path / "out", board="icestick", force=True, **TABLES,
                    progress=lines.append)
    assert ("estimate: the streaming design does NOT fit the icestick (iCE40HX1K-TQ144): 1,234 "
            "logic cells is 82 more than the 1,152 place-and-route can fill (90% of 1,280); "
            "building anyway (--force)") in lines


def test_explicit_parallel_is_checked_too(near_miss, tmp_path, monkeypatch):
    monkeypatch.setattr(compile_module, "build", _no_build)
    with pytest.raises(BuildError, match=r"^the parallel design does not fit the icestick "
                                         r"\(iCE40HX1K-TQ144\) by the estimate: 1,741 logic "
                                         r"cells is 589 more than the 1,152"):
        compile_net(near_miss, tmp_path / "out", board="icestick", architecture="parallel",
                    progress=lambda line: None, **TABLES)


def test_what_fits_is_said_to_fit(near_miss, tmp_path, monkeypatch):
    class Built(Exception):
        pass

    def build(top, board, out_dir, **kwargs):
        Fragment.get(top, None)
        raise Built

    monkeypatch.setattr(compile_module, "build", build)
    lines = []
    with pytest.raises(Built):
        compile_net(near_miss, tmp_path / "out", board="hx8k", progress=lines.append, **TABLES)
    assert lines[1] == ("architecture: parallel, 1 inference per cycle: estimated "
                        "1,741/7,680 logic cells: fits")


def test_block_ram_shortfall_is_named():
    board = get_board("icestick")
    estimate = Estimate("streaming", logic_cells=1200, block_rams=19, cycles_per_inference=9)
    assert fit_text(estimate, board) == (
        "does NOT fit: 1,200 logic cells is 48 more than the 1,152 place-and-route can fill "
        "(90% of 1,280); 19 block RAMs is 3 more than the 16 the icestick has")
    assert fit_text(Estimate("parallel", 1152, 16, 1), board) == "fits"


def test_cli_refuses_with_one_line(near_miss, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compile_module, "build", _no_build)
    path = tmp_path / "net.pt"
    netfile.save(near_miss, path)
    assert main(["compile", str(path), "--board", "icestick", "-o", str(tmp_path / "o"),
                 "--tables", "off"]) == 1
    err = capsys.readouterr().err
    assert err == f"lwc: error: {NEAR_MISS}\n"
