"""``--target asic``: generic gates from Yosys and ABC, with gate counts and logic depth."""

import json

import pytest

from lwc.boards.asic import GATES, AsicReport, _read_ltp
from lwc.cli import main
from lwc.compile import compile_net


def test_longest_path_is_read_from_ltp(tmp_path):
    (tmp_path / "ltp.txt").write_text(
        "Longest topological path in lwc_net (length=3):\n"
        "    0: \\l1_n0_act [0]\n"
        "    1: $abc$1041$new_n65 (via $abc$1041$blif$1041$0)\n"
        "    2: $abc$1041$new_n66 (via $abc$1041$blif$1041$1)\n"
        "    3: $abc$1041$new_n67 (via $abc$1041$blif$1041$2)\n"
        "   ff: \\o__payload [0] (via $auto$ff.cc:337:slice$316)\n")
    assert _read_ltp(tmp_path / "ltp.txt") == (3, "l1_n0_act[0]", "o__payload[0]")


def test_report_table():
    gates = {gate: 1 for gate in (*GATES, "NOT")}
    report = AsicReport(top="lwc_net", gates=gates, total_gates=8, flip_flops=5, logic_depth=4,
                        depth_from="x[0]", depth_to="y", netlist="/o/netlist.v",
                        tool_versions={}, logs={})
    table = report.table()
    assert "total             8" in table and "flip-flops        5" in table
    assert "logic depth 4 gates (x[0] -> y)" in table


def test_asic_with_a_board_is_refused(tmp_path, capsys, make_network, rng):
    from lwc.compiler import netfile

    netfile.save(make_network(rng, inputs=4, hidden=(3,), outputs=2, bits=2), tmp_path / "n.pt")
    assert main(["compile", str(tmp_path / "n.pt"), "--target", "asic", "--board", "ulx3s",
                 "-o", str(tmp_path / "out")]) != 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "lwc: error: --board needs a board target such as --target ice40, not asic"


@pytest.mark.yosys
@pytest.mark.slow
def test_small_net_to_gates(tmp_path, make_network, rng):
    net = make_network(rng, inputs=8, hidden=(6,), outputs=3, bits=2, density=0.5,
                       kinds=("clip",))
    lines = []
    result = compile_net(net, tmp_path / "out", target="asic", register_every=1,
                         progress=lines.append)
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    asic = report["asic"]
    assert asic == result.asic.to_dict()
    assert set(asic["gates"]) == {*GATES, "NOT"}
    assert asic["total_gates"] == sum(asic["gates"].values()) > 0
    assert asic["logic_depth"] > 0
    # Every register of the design is one flip-flop: payload bits plus the valid chain.
    latency = report["network"]["latency"]
    assert asic["flip_flops"] >= latency
    netlist = (out / "netlist.v").read_text()
    assert "module lwc_net(" in netlist
    assert "$_DFF_P_" not in netlist or "always" in netlist
    assert any(line.startswith("  asic: ") for line in lines)
    # Less pipelining: fewer flip-flops and deeper logic between them.
    flat = compile_net(net, tmp_path / "flat", target="asic", progress=lambda line: None)
    assert flat.asic.flip_flops < asic["flip_flops"]
    assert flat.asic.logic_depth > asic["logic_depth"]
    assert "logic depth" in flat.table()
