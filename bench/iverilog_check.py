"""Simulate a Verilog ``lwc_net`` with Icarus Verilog and compare it with the golden model.

Used by ``bench/compiler.py`` to prove each Verilog it synthesizes (naive or lwc) computes the net
before its figures are reported, and (:func:`simulate_stream`) by ``bench/da4ml_compare.py`` for
bare matrix datapaths. Streams one vector per clock with ``o.ready`` high.
"""

import subprocess
import tempfile
from pathlib import Path

from lwc.compiler import golden

__all__ = ["check_verilog", "simulate_stream"]

_TB = """
`timescale 1ns/1ps
module tb;
  reg clk = 0; reg rst = 1;
  reg [{inw}:0] payload; reg valid = 0;
  wire ready; wire [{outw}:0] out; wire out_valid;
  reg [{inw}:0] mem [0:{last}];
  integer k, fd;
  lwc_net dut(.clk(clk), .rst(rst), .i__payload(payload), .i__valid(valid), .i__ready(ready),
              .o__payload(out), .o__valid(out_valid), .o__ready(1'b1));
  always #5 clk = ~clk;
  initial begin
    $readmemh("{vectors}", mem);
    fd = $fopen("{result}", "w");
    @(negedge clk); rst = 0;
    for (k = 0; k < {count} + {latency} + 2; k = k + 1) begin
      valid = k < {count};
      payload = k < {count} ? mem[k] : 0;
      @(posedge clk); #1;
      if (out_valid) $fdisplay(fd, "%h", out);
      @(negedge clk);
    end
    $fclose(fd);
    $finish;
  end
endmodule
"""


def simulate_stream(sources, words, *, input_width, output_width, latency):
    """Stream the integers ``words`` (one ``input_width``-bit payload each) through the Verilog
    ``lwc_net`` in ``sources`` (texts, in order) with Icarus Verilog; return the output payloads
    (integers), one per input."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for k, text in enumerate([sources] if isinstance(sources, str) else sources):
            files.append(tmp / f"src{k}.v")
            files[-1].write_text(text)
        (tmp / "vectors.hex").write_text("".join(f"{w:x}\n" for w in words))
        (tmp / "tb.v").write_text(_TB.format(
            inw=input_width - 1, outw=output_width - 1, last=len(words) - 1, count=len(words),
            latency=latency, vectors=tmp / "vectors.hex", result=tmp / "result.txt"))
        subprocess.run(["iverilog", "-g2005", "-o", str(tmp / "sim"), str(tmp / "tb.v"),
                        *map(str, files)], check=True, capture_output=True)
        subprocess.run(["vvp", "-n", str(tmp / "sim")], check=True, capture_output=True,
                       cwd=tmp)
        lines = (tmp / "result.txt").read_text().split()
    assert len(lines) == len(words), f"{len(lines)} outputs for {len(words)} inputs"
    return [int(line, 16) for line in lines]


def check_verilog(net, text, x, *, latency, label_width, score_width):
    """Raise ``AssertionError`` unless Verilog ``text`` gives the golden labels and scores on
    integer inputs ``x`` ``(batch, input.count)``."""
    bits, n_classes = net.input.bits, net.output_count
    trace = golden.evaluate(net, x)
    words = []
    for row in x:
        word = 0
        for k, v in enumerate(row):
            word |= int(v) << (k * bits)
        words.append(word)
    outw = label_width + n_classes * score_width
    outputs = simulate_stream(text, words, input_width=net.input.count * bits,
                              output_width=outw, latency=latency)
    mask = (1 << score_width) - 1
    for b, word in enumerate(outputs):
        label = word & ((1 << label_width) - 1)
        scores = []
        for c in range(n_classes):
            v = (word >> (label_width + c * score_width)) & mask
            scores.append(v - (1 << score_width) if v >> (score_width - 1) else v)
        assert scores == trace.scores[b].tolist(), (b, scores, trace.scores[b].tolist())
        assert label == trace.predictions[b], (b, label, trace.predictions[b])
    return len(outputs)
