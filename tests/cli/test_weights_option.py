"""``lwc compile --weights spram|bram`` (issue 20): where a streaming network's first-layer table
is stored, chosen once by the compile driver; ``weights.bin`` is written beside the bitstream."""

import json

import numpy as np
import pytest

from lwc.cli import main
from lwc.compile import design_for
from lwc.compiler import golden, netfile
from lwc.compiler.architecture import Parallel, Streaming
from lwc.weights_image import ICEBREAKER_OFFSET, parse_weights_image


def one_error_line(err):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lwc: error: "), err
    return lines[0][len("lwc: error: "):]


@pytest.fixture
def net(make_network, rng):
    for _ in range(100):
        net = make_network(rng, inputs=12, hidden=(9,), outputs=3, bits=3, density=0.6)
        x = rng.integers(0, 8, size=(32, 12))
        if len(set(golden.predict(net, x))) > 1:
            return net
    raise AssertionError("no lively net")


def test_spram_implies_streaming_and_default_is_unchanged(net):
    spram = design_for(net, weights="spram", progress=lambda line: None)
    assert spram.architecture == Streaming(8, 1, "spram") and spram.weights == "spram"
    assert design_for(net, progress=lambda line: None).architecture == Parallel()
    bram = design_for(net, architecture="streaming", progress=lambda line: None)
    assert bram.architecture == Streaming(8, 1, "bram") and bram.weights_image() is None
    payload = parse_weights_image(spram.weights_image())
    assert payload == spram.hardware.table_payload()
    facts = spram.facts
    assert (facts.weights, facts.table_bytes, facts.spram_blocks) == (
        "spram", len(payload), 1)
    assert f"a {len(payload):,}-byte table in 1 SPRAM block (loaded from flash at boot)" in \
        facts.architecture_text()


def test_compile_writes_weights_bin(net, tmp_path, capsys):
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    out = tmp_path / "v"
    assert main(["compile", str(path), "--target", "verilog", "--weights", "spram", "-o",
                 str(out)]) == 0
    stdout = capsys.readouterr().out
    image = (out / "weights.bin").read_bytes()
    design = design_for(net, weights="spram", progress=lambda line: None)
    assert image == design.weights_image()
    assert f"wrote {out / 'weights.bin'} ({len(image):,} bytes" in stdout
    manifest = json.loads((out / "lwc-build.json").read_text())
    assert "weights.bin" in manifest["files"]
    assert manifest["weights"] == {"file": "weights.bin", "offset": ICEBREAKER_OFFSET,
                                   "bytes": len(image)}
    report = json.loads((out / "report.json").read_text())
    assert report["network"]["weights"] == "spram"
    text = (out / "net.v").read_text()
    assert "flash__cs_n" in text and "boot__ready" in text
    # Without --weights nothing changes: no image.
    assert main(["compile", str(path), "--target", "verilog", "--architecture", "streaming",
                 "-o", str(tmp_path / "b")]) == 0
    assert not (tmp_path / "b" / "weights.bin").exists()


@pytest.mark.parametrize("args, message", [
    (["--architecture", "parallel", "--weights", "spram"],
     "--weights spram stores the streaming architecture's first-layer table; a parallel "
     "network has no table"),
    (["--board", "icestick", "--weights", "spram"],
     "--weights spram needs a board with SPRAM (an iCE40 UltraPlus, such as the icebreaker); "
     "the icestick (iCE40HX1K-TQ144) has none"),
    (["--board", "ulx3s", "--weights", "spram"],
     "--weights spram needs a board with SPRAM"),
])
def test_weights_option_errors(net, tmp_path, capsys, args, message):
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    assert main(["compile", str(path), *args, "-o", str(tmp_path / "o")]) == 1
    assert message in one_error_line(capsys.readouterr().err)


def test_bad_weights_choice_exits_2(net, tmp_path, capsys):
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(path), "--weights", "flash"])
    assert exit_.value.code == 2
    assert "invalid choice: 'flash'" in capsys.readouterr().err


def test_estimate_knows_the_table_is_in_spram(make_network, rng):
    """A table in SPRAM takes its blocks and the loader's cells, and none of the block RAMs the
    same table takes as a ROM (one large enough for Yosys to put it in block RAM)."""
    from lwc.boards.estimate import block_rams, estimate_streaming

    net = make_network(rng, inputs=64, hidden=(40,), outputs=3, bits=3, density=0.6)
    spram = design_for(net, weights="spram", progress=lambda line: None)
    bram = design_for(net, architecture="streaming", progress=lambda line: None)
    a = estimate_streaming(spram.network, spram.hardware)
    b = estimate_streaming(bram.network, bram.hardware)
    assert a.spram_blocks == 1 and b.spram_blocks == 0
    table = [block_rams(w, d, rom=True) for name, w, d in bram.hardware.memories
             if name.endswith("_entries")]
    assert table[0] > 0 and a.block_rams == b.block_rams - sum(table)
    assert np.isclose(a.logic_cells - b.logic_cells, 300, atol=1)


def test_tail_option(net, tmp_path, capsys, make_network, rng):
    """``--tail sequential`` (issue 20) implies streaming and reaches the plan; it does not
    apply to a parallel network or to a net whose output layer does not follow the first."""
    design = design_for(net, tail="sequential", progress=lambda line: None)
    assert design.architecture == Streaming(8, 1, "bram", tail="sequential")
    assert design.hardware.tail == "sequential"
    # Nothing after the lanes is built of adders.
    assert design.facts.adders == 0
    assert design_for(net, architecture="streaming", progress=lambda line: None
                      ).hardware.tail == "parallel"
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    assert main(["compile", str(path), "--target", "verilog", "--tail", "sequential", "-o",
                 str(tmp_path / "v")]) == 0
    assert "tail_weights" in (tmp_path / "v" / "net.v").read_text()
    capsys.readouterr()
    assert main(["compile", str(path), "--target", "verilog", "--architecture", "parallel",
                 "--tail", "sequential", "-o", str(tmp_path / "p")]) != 0
    assert one_error_line(capsys.readouterr().err) == (
        "--tail sequential builds the streaming architecture's layer after the lanes; a parallel "
        "network has no lanes")
    # --tail fold: the second layer folded into the lanes, also streaming; this net's 3-bit
    # hidden activations cannot be, a 1-bit one's can.
    capsys.readouterr()
    assert main(["compile", str(path), "--target", "verilog", "--tail", "fold", "-o",
                 str(tmp_path / "f")]) != 0
    assert one_error_line(capsys.readouterr().err) == (
        "--tail fold: fold needs first-layer activations between -1 and 1")
    one_bit = make_network(rng, inputs=12, hidden=(9,), outputs=3, bits=1, density=0.6)
    design = design_for(one_bit, tail="fold", progress=lambda line: None)
    assert design.architecture == Streaming(8, 1, "bram", tail="fold") and design.hardware.fold
    netfile.save(one_bit, path)
    assert main(["compile", str(path), "--target", "verilog", "--tail", "fold", "-o",
                 str(tmp_path / "f")]) == 0
    assert "lane0_next" in (tmp_path / "f" / "net.v").read_text()


def test_dsp_option(net, tmp_path, capsys):
    """``--dsp auto`` (issue 20) puts a streaming network's accumulators in the UP5K's DSP
    blocks; without a board there are none, and ``off`` is the default."""
    from lwc.boards.registry import get_board

    up5k = get_board("icebreaker")
    design = design_for(net, up5k, architecture="streaming", lanes=2, dsp="auto",
                        progress=lambda line: None)
    assert design.architecture.dsp == design.hardware.dsp_blocks == 1
    assert design.hardware.dsp_lanes == 2
    assert design.facts.architecture_text().endswith(
        "; the accumulators of 2 lanes in 1 DSP block")
    assert design.verilog(dsp=True).count("SB_MAC16 #(") == 1
    assert "SB_MAC16" not in design.verilog()  # logic for the RTL simulators
    assert design_for(net, up5k, architecture="streaming", lanes=2,
                      progress=lambda line: None).architecture.dsp == 0
    path = tmp_path / "net.pt"
    netfile.save(net, path)
    assert main(["compile", str(path), "--target", "verilog", "--architecture", "streaming",
                 "--dsp", "auto", "-o", str(tmp_path / "v")]) == 0
    assert "SB_MAC16" not in (tmp_path / "v" / "net.v").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(path), "--target", "verilog", "--dsp", "on"])
    assert exit_.value.code == 2
    assert "invalid choice: 'on'" in capsys.readouterr().err
