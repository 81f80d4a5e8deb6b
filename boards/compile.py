"""``lwc compile``: a net to Verilog, or to a board bitstream behind the UART front end.

Products in the output directory: ``net.v`` (the bare network, module ``lwc_net``, for use in
another project); for a board target also the board top as RTLIL (``top.il``), the bitstream
``top.bin``, the toolchain logs, and ``report.json`` (the network facts under ``"network"`` next
to the FPGA figures of :class:`~lwc.boards.build.BuildReport`).
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..compiler import passes
from ..compiler.lower import lower, write_verilog
from ..errors import UsageError
from ..hw.top import UartNetworkTop
from .build import REPORT_FILE, build
from .registry import DEFAULT_BOARD, get_board

__all__ = ["NetworkFacts", "CompileResult", "network_facts", "compile_net", "TARGETS"]

TARGETS = ("verilog", "ice40")


@dataclass(frozen=True)
class NetworkFacts:
    """What the compiled datapath is: sizes, arithmetic and timing in cycles."""

    inputs: int
    inputs_used: int
    input_bits: int
    classes: int
    layer_sizes: tuple
    nonzero_weights: int
    adders: int
    latency: int
    score_width: int

    def table(self, fmax_mhz=None):
        lines = [
            f"network      {self.inputs} inputs ({self.inputs_used} used) x {self.input_bits} bit"
            f" -> {'-'.join(map(str, self.layer_sizes))}",
            f"weights      {self.nonzero_weights} nonzero, {self.adders} two-input adders",
            f"latency      {self.latency} cycles, 1 inference per cycle",
        ]
        if fmax_mhz:
            lines.append(f"throughput   {fmax_mhz * 1e6:,.0f} inferences/s at Fmax")
        return "\n".join(lines)


@dataclass(frozen=True)
class CompileResult:
    out_dir: str
    facts: NetworkFacts
    verilog: str
    build: object = None  # BuildReport for board targets

    def table(self):
        fmax = self.build.fmax_mhz if self.build is not None else None
        parts = [self.facts.table(fmax)]
        if self.build is not None:
            parts.append(self.build.table())
        return "\n".join(parts)


def network_facts(net, component):
    """Facts about ``net`` (after passes) and its lowered ``component``."""
    adders = sum(max(len(n.inputs) - 1, 0) for layer in net.layers for n in layer.neurons)
    return NetworkFacts(
        inputs=net.input.count, inputs_used=len(net.input_map), input_bits=net.input.bits,
        classes=net.output_count, layer_sizes=tuple(layer.size for layer in net.layers),
        nonzero_weights=sum(len(n.inputs) for layer in net.layers for n in layer.neurons),
        adders=adders, latency=component.latency, score_width=component.score_width,
    )


def compile_net(net, out_dir, *, target="ice40", board=None, clock_mhz=None, seed=1,
                baud=115200, register_every=None, progress=print):
    """Compile ``net`` (an IR network as loaded from ``net.pt``) into ``out_dir``.

    ``target`` is ``"verilog"`` (just ``net.v``) or ``"ice40"`` (bitstream for ``board``, by
    default :data:`~lwc.boards.DEFAULT_BOARD`). Returns a :class:`CompileResult`.
    """
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r} (choose from: {', '.join(TARGETS)})")
    if target == "verilog" and board is not None:
        raise UsageError("--board needs a board target such as --target ice40, not verilog")
    board_obj = get_board(board or DEFAULT_BOARD) if target == "ice40" else None
    if board_obj is not None and board is None:
        progress(f"target ice40: using the default board {board_obj.name} ({board_obj.title})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    progress("compiler: running passes")
    compiled = passes.run(net)
    network = lower(compiled, register_every=register_every)
    facts = network_facts(compiled, network)
    progress(f"compiler: {facts.nonzero_weights} nonzero weights, {facts.adders} adders, "
             f"latency {facts.latency} cycles")
    text = write_verilog(network, out / "net.v")
    progress(f"wrote {out / 'net.v'}")
    if board_obj is None:
        (out / REPORT_FILE).write_text(json.dumps({"network": asdict(facts)}, indent=2) + "\n")
        return CompileResult(str(out), facts, text)

    top = UartNetworkTop(lower(compiled, register_every=register_every),
                         clk_freq=board_obj.clock_mhz * 1e6, baud=baud)
    report = build(top, board_obj, out, name="top", clock_mhz=clock_mhz, seed=seed,
                   progress=progress)
    merged = {"network": asdict(facts), "baud": baud, **report.to_dict()}
    (out / REPORT_FILE).write_text(json.dumps(merged, indent=2) + "\n")
    return CompileResult(str(out), facts, text, report)
