"""The resource estimator and the architecture choice (no synthesis: bench/estimate.py compares
the estimates with nextpnr)."""

import numpy as np
import pytest

from lwc.boards.estimate import (
    block_rams,
    comparator_bits,
    estimate_parallel,
    estimate_streaming,
    input_register_bits,
    model_for,
)
from lwc.boards.plan import plan_architecture
from lwc.boards.registry import get_board
from lwc.compile import compile_net
from lwc.compiler import ir, passes
from lwc.compiler.architecture import Streaming
from lwc.compiler.lower import plan
from lwc.errors import UsageError


def _net(inputs, hidden, density, bits=2, seed=0, compiled=True):
    rng = np.random.default_rng(seed)
    sizes = (inputs, hidden, 10)
    layers = []
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([-1, 0, 1], size=(n_out, n_in), p=[density / 2, 1 - density, density / 2])
        if li == 1:
            layers.append((w, ir.Activation("linear"), np.zeros(n_out, dtype=np.int64)))
        else:
            layers.append((w, ir.Activation("step"), np.abs(w).sum(axis=1)))
    net = ir.from_dense(ir.InputSpec(inputs, bits, None), layers,
                        tuple(str(k) for k in range(10)), (("dataset", "random"),))
    return passes.run(net) if compiled else net


@pytest.mark.parametrize("width, depth, blocks", [
    (6, 17709, 27),  # 3 blocks of 2 x 2048 side by side, 9 deep
    (16, 98, 1), (8, 512, 1), (8, 513, 2), (2, 784, 1), (17, 256, 2), (0, 100, 0)])
def test_block_rams_take_the_best_geometry(width, depth, blocks):
    assert block_rams(width, depth) == blocks


@pytest.mark.parametrize("width, depth, blocks", [
    # Yosys 0.70's synth_ice40 on registered-read ROMs (boards/estimate.py, _ROM_BITS_PER_BLOCK).
    (16, 66, 0), (4, 264, 0), (7, 118, 0), (16, 67, 1), (2, 540, 1), (32, 64, 0), (32, 70, 2),
    (6, 4000, 6),
])
def test_small_roms_go_to_logic(width, depth, blocks):
    assert block_rams(width, depth, rom=True) == blocks
    assert block_rams(width, depth) == max(blocks, block_rams(width, depth))  # a RAM: blocks


@pytest.mark.yosys
def test_rom_rule_is_yosys_own(tmp_path):
    """Yosys puts a ROM just under the rule's bound in logic and one just over it in a block."""
    import subprocess

    from lwc.boards.toolchain import tool_path, toolchain_env

    env = toolchain_env()
    for depth, blocks in ((66, 0), (67, 1)):
        words = "\n".join(f"  m[{i}] = 16'd{(i * 40503) & 0xFFFF};" for i in range(depth))
        (tmp_path / "rom.v").write_text(
            "module rom(input clk, input [6:0] a, output reg [15:0] q);\n"
            f"reg [15:0] m [0:{depth - 1}];\ninitial begin\n{words}\nend\n"
            "always @(posedge clk) q <= m[a];\nendmodule\n")
        subprocess.run([tool_path("yosys", env), "-q", "-p", "read_verilog rom.v; synth_ice40 "
                        "-top rom; tee -q -o stat.txt stat"], cwd=tmp_path, env=env, check=True)
        placed = (tmp_path / "stat.txt").read_text().count("SB_RAM40_4K")
        assert bool(placed) == bool(blocks) == bool(block_rams(16, depth, rom=True))


def test_parallel_estimate_grows_with_the_weights():
    small, large = _net(32, 16, 0.2), _net(32, 64, 0.2)
    assert 0 < estimate_parallel(small).logic_cells < estimate_parallel(large).logic_cells
    bare = estimate_parallel(small, with_top=False)
    assert bare.logic_cells < estimate_parallel(small).logic_cells
    assert bare.cycles_per_inference == 1 and bare.block_rams == 0


def _encoded(thresholds):
    """Four 8-bit pixels, an encoder of comparators (+1 weight, step threshold) on pixels 1 and 3,
    and two outputs over the cuts."""
    net = ir.from_dense(ir.InputSpec(4, 8, None), [
        (np.array([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]), ir.Activation("step"),
         np.array(thresholds)),
        (np.array([[1, -1, 1], [0, 1, -1]]), ir.Activation("linear"), np.zeros(2, np.int64)),
    ], ("a", "b"), (("dataset", "random"),))
    return passes.run(net, passes.pipeline(tables="off"))


def test_comparators_and_the_input_register_count_the_bits_they_read():
    """An encoder's cut ``x >= t`` reads the bits of ``x`` above the trailing zeros of ``t``: a
    LUT4 per three of them, and only those bits of the input register are kept (each bit
    position a chain from the input down to the first pixel that reads it)."""
    net = _encoded([96, 128, 64])  # reads bits 5-7 of pixel 1 and 6-7 of pixel 3
    assert net.input_map == (1, 3)
    layer, ranges = net.layers[0], [(0, 255)] * 2
    assert [comparator_bits(layer, n, ranges) for n in layer.neurons] == [3, 1, 2]
    assert comparator_bits(net.layers[1], net.layers[1].neurons[0], [(0, 1)] * 3) is None
    assert input_register_bits(net) == 3 * (4 - 1)  # bits 5, 6 and 7 from pixel 1 on
    full = _encoded([97, 128, 65])  # odd thresholds: every bit of both pixels
    assert input_register_bits(full) == 8 * (4 - 1)
    assert estimate_parallel(net).logic_cells < estimate_parallel(full).logic_cells
    assert (estimate_parallel(full).logic_cells - estimate_parallel(full, with_top=False)
            .logic_cells) - (estimate_parallel(net).logic_cells - estimate_parallel(
                net, with_top=False).logic_cells) == 8 * 3 - 3 * 3


def test_streaming_estimate_counts_lanes_and_memories():
    net = _net(200, 64, 0.1)
    one, four = (plan(net, Streaming(8, k)) for k in (1, 4))
    e1, e4 = estimate_streaming(net, one), estimate_streaming(net, four)
    assert e1.lanes == 1 and e4.lanes == 4
    assert e4.logic_cells > e1.logic_cells and e4.block_rams >= e1.block_rams
    assert e1.cycles_per_inference == one.cycles_per_inference > e4.cycles_per_inference
    assert e1.block_rams >= sum(block_rams(w, d) for _, w, d in one.memories)


def test_auto_takes_parallel_when_it_fits():
    net = _net(16, 8, 0.3)
    plan = plan_architecture(net, get_board("icebreaker"), "auto", progress=lambda *_: None)
    assert plan.architecture.name == "parallel"
    assert plan_architecture(net, None, "auto").architecture.name == "parallel"


def test_auto_streams_a_net_too_big_for_the_board():
    net = _net(784, 128, 0.08)
    said = []
    board = get_board("icebreaker")
    plan = plan_architecture(net, board, "auto", progress=said.append)
    assert plan.architecture.name == "streaming" and plan.estimate.fits(board.capacity)
    assert plan.architecture.lanes >= 1 and plan.architecture.features_per_cycle == 8
    assert "streaming" in said[0] and "fits" in said[-1]
    # The most lanes that fit: one more step up would not.
    bigger = {1: 2, 2: 4, 4: 8}.get(plan.architecture.lanes)
    if bigger:
        over = plan_architecture(net, board, "streaming", lanes=bigger, progress=said.append)
        assert not over.estimate.fits(board.capacity)


def test_architecture_options_are_checked():
    net = _net(16, 8, 0.3)
    with pytest.raises(UsageError, match="unknown architecture 'folded'"):
        plan_architecture(net, None, "folded")
    with pytest.raises(UsageError, match="apply to the streaming architecture"):
        plan_architecture(net, None, "parallel", lanes=2)
    with pytest.raises(UsageError, match="lanes must be a positive integer"):
        plan_architecture(net, None, "streaming", lanes=0)


@pytest.mark.yosys
def test_compile_streaming_verilog(tmp_path):
    net = _net(40, 12, 0.3, compiled=False)
    result = compile_net(net, tmp_path / "out", target="verilog", architecture="streaming",
                         features_per_cycle=4, lanes=2, progress=lambda *_: None)
    facts = result.facts
    assert facts.architecture == "streaming" and facts.lanes == 2
    assert facts.features_per_cycle == 4 and facts.cycles_per_inference > 1
    assert "streaming" in result.table() and "1 inference every" in result.table()
    assert "module lwc_net" in (tmp_path / "out" / "net.v").read_text()


def test_estimator_is_per_family():
    """Only iCE40 has a fitted model; on ECP5 nothing is decided from iCE40's numbers: auto is
    parallel even for a net iCE40's model would stream, and streaming lanes are not chosen."""
    net = _net(784, 128, 0.08)
    assert model_for("ice40") is not None and model_for(get_board("ulx3s").family) is None
    said = []
    plan = plan_architecture(net, get_board("ulx3s"), "auto", progress=said.append)
    assert plan.architecture.name == "parallel" and plan.estimate is None
    assert said == ["architecture: parallel (no resource model is fitted for ECP5: nothing "
                    "estimated)"]
    plan = plan_architecture(net, get_board("ulx3s"), "streaming", progress=said.append)
    assert plan.architecture == Streaming(8, 1) and plan.estimate is None


def test_streaming_estimate_of_a_folded_second_layer():
    """A folded second layer (accumulators in the lanes) is estimated without its adder trees or
    the lanes' chains of activations, with its weight ROMs in logic and its 3 cycles."""
    net = _net(100, 256, 0.3)
    plain, folded = (plan(net, Streaming(8, 4, tail=tail)) for tail in ("parallel", "fold"))
    e_plain, e_fold = estimate_streaming(net, plain), estimate_streaming(net, folded)
    assert e_fold.logic_cells < e_plain.logic_cells
    assert e_fold.cycles_per_inference == e_plain.cycles_per_inference + 3
    assert e_fold.block_rams == e_plain.block_rams
    assert sum(1 for name, _, _ in folded.memories if name.endswith("_next")) == 4


def test_sequential_tail_estimate():
    """A sequential output layer trades the parallel tail's cells for its weight ROM and
    ``tail_plan.cycles`` more cycles per inference."""
    net = _net(200, 256, 0.5)
    parallel, sequential = (plan(net, Streaming(8, 4, tail=t))
                            for t in ("parallel", "sequential"))
    ep, es = estimate_streaming(net, parallel), estimate_streaming(net, sequential)
    assert es.logic_cells < ep.logic_cells / 2
    added = sequential.memories[len(parallel.memories):]
    assert [name for name, _, _ in added] == ["lane0_acts", "lane1_acts", "lane2_acts",
                                              "lane3_acts", "tail_weights"]
    assert es.block_rams == ep.block_rams + sum(block_rams(w, d, rom=name == "tail_weights")
                                                for name, w, d in added) > 5
    assert es.cycles_per_inference == ep.cycles_per_inference + sequential.tail_plan.cycles


def test_auto_tail_is_sequential_when_only_it_fits():
    net = _net(784, 1024, 0.12)
    board = get_board("icebreaker")
    said = []
    chosen = plan_architecture(net, board, "auto", weights="spram", progress=said.append)
    assert chosen.architecture.tail == "sequential" and chosen.estimate.fits(board.capacity)
    assert "sequential output layer" in said[-1]
    small = plan_architecture(_net(784, 32, 0.05), board, "streaming", progress=said.append)
    assert small.architecture.tail == "parallel"
    with pytest.raises(UsageError, match="^--tail sequential builds the streaming "
                                         "architecture's layer after the lanes"):
        plan_architecture(net, None, "parallel", tail="sequential")
    assert plan_architecture(net, None, "auto", tail="sequential").architecture == Streaming(
        8, 1, "bram", tail="sequential")


def test_dsp_blocks_save_logic_cells_and_are_counted():
    """Accumulators in DSP blocks: fewer logic cells by the estimate, the blocks counted against
    the board's (the UP5K has eight); ``--dsp auto`` takes them on the UP5K only, ``off`` never."""
    net = _net(200, 256, 0.5)
    logic, mapped = (plan(net, Streaming(8, 8, tail="sequential", dsp=d)) for d in (0, 8))
    assert (mapped.dsp_lanes, mapped.dsp_tail, mapped.dsp_blocks) == (8, 8, 8)
    e_logic, e_dsp = estimate_streaming(net, logic), estimate_streaming(net, mapped)
    assert e_dsp.logic_cells < e_logic.logic_cells and e_dsp.dsp_blocks == 8
    assert (e_dsp.block_rams, e_dsp.cycles_per_inference) == (e_logic.block_rams,
                                                              e_logic.cycles_per_inference)
    assert "DSP blocks" not in [o[0] for o in e_dsp.overruns(get_board("icebreaker").capacity)]
    assert ("DSP blocks", 8, 0, 0) in e_dsp.overruns(get_board("icestick").capacity)
    said = []
    up5k = plan_architecture(net, get_board("icebreaker"), "streaming", lanes=8,
                             tail="sequential", dsp="auto", progress=said.append)
    assert up5k.architecture.dsp == 8 and up5k.estimate.dsp_blocks == 8
    assert "8/8 DSP blocks" in said[-1]
    assert plan_architecture(net, get_board("icebreaker"), "streaming", lanes=8,
                             tail="sequential", dsp="off",
                             progress=said.append).architecture.dsp == 0
    assert plan_architecture(net, get_board("hx8k"), "streaming", lanes=8, tail="sequential",
                             dsp="auto", progress=said.append).architecture.dsp == 0
    assert plan_architecture(net, None, "streaming", dsp="auto").architecture.dsp == 0
    with pytest.raises(UsageError, match=r"^unknown dsp 'on' \(choose from: off, auto\)$"):
        plan_architecture(net, None, "streaming", dsp="on")
