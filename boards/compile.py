"""A :class:`~lwc.compiler.driver.CompiledDesign` built for a board: the UART front end around the
network, the bitstream, and the pipelining chosen for the clock target.

When the design leaves ``register_every`` to be chosen, the least pipelined choice that the delay
model of :mod:`lwc.boards.timing` predicts to meet the target is built first; while nextpnr
reports the target missed with the critical path inside the network, the build is repeated with
more pipeline registers (at most :data:`MAX_TIMING_TRIES` builds). Each try is a new design value
(:meth:`~lwc.compiler.driver.CompiledDesign.with_register_every`) and a new :class:`Pipelining`
value with the attempt added; nothing is threaded through a mutable record.
"""

from dataclasses import dataclass, replace

from .. import semantics
from ..compiler import lower as lowering
from ..compiler.architecture import Streaming
from ..compiler.ir import layer_ranges
from ..errors import UsageError
from ..hw.top import UartNetworkTop, check_front_end
from . import timing
from .build import build
from .pll import PllClock
from .toolchain import tool_path, toolchain_env

__all__ = ["MAX_TIMING_TRIES", "Attempt", "Pipelining", "BoardBuild", "check_toolchain",
           "plan_pipelining", "board_top", "build_design"]

#: Builds at most this many bitstreams to reach the timing target when ``register_every`` is
#: chosen automatically.
MAX_TIMING_TRIES = 3


@dataclass(frozen=True)
class Attempt:
    """One bitstream built on the way to the timing target."""

    register_every: int | None
    latency: int
    predicted_mhz: float | None
    fmax_mhz: float
    timing_met: bool | None
    critical_path: tuple

    def to_dict(self):
        return {"register_every": self.register_every, "latency": self.latency,
                "predicted_mhz": self.predicted_mhz, "fmax_mhz": self.fmax_mhz,
                "timing_met": self.timing_met, "critical_path": list(self.critical_path)}


@dataclass(frozen=True)
class Pipelining:
    """How ``register_every`` was chosen for a board: the ``target_mhz``, whether it was chosen
    (``auto``) or given, the ``choices`` to build in order (``(register_every, predicted_mhz)``),
    the ``attempts`` built so far, and the ``register_every`` of the last one; for a streaming
    design, the ``lane_registers`` chosen for the target (:func:`lwc.boards.timing.
    lane_registers`), the lanes' ``lane_mhz`` predicted with them, and whether the second layer
    is ``fold``-ed into the lanes."""

    target_mhz: float
    auto: bool
    register_every: int | None
    choices: tuple
    attempts: tuple = ()
    lane_registers: tuple | None = None
    lane_mhz: float | None = None
    fold: bool = False

    def after(self, attempt):
        """This pipelining with ``attempt`` built."""
        return replace(self, attempts=(*self.attempts, attempt),
                       register_every=attempt.register_every)

    def to_dict(self):
        """The ``"pipelining"`` entry of ``report.json``."""
        return {"target_mhz": self.target_mhz, "auto": self.auto,
                "register_every": self.register_every,
                "plan": [{"register_every": r, "predicted_mhz": round(mhz, 1)}
                         for r, mhz in self.choices],
                "attempts": [a.to_dict() for a in self.attempts],
                **({} if self.lane_registers is None else {
                    "lane_registers": list(self.lane_registers),
                    "lane_predicted_mhz": round(self.lane_mhz, 1), "fold": self.fold})}


def pipelining_text(pipelining):
    """The lines of the summary table about a ``"pipelining"`` report entry (a dict)."""
    every = pipelining["register_every"]
    how = "chosen for" if pipelining["auto"] else "given; target"
    shown = "one register per layer" if every is None else f"register every {every} levels"
    lines = [f"pipelining   {shown} ({how} {pipelining['target_mhz']:g} MHz)"]
    if "lane_registers" in pipelining:
        lanes = ", ".join(pipelining["lane_registers"]) or "none"
        lines.append(f"  lane registers: {lanes} (predicted "
                     f"{pipelining['lane_predicted_mhz']:.0f} MHz)"
                     + ("; second layer folded into the lanes" if pipelining["fold"] else ""))
    for k, attempt in enumerate(pipelining["attempts"], 1):
        predicted = attempt["predicted_mhz"]
        lines.append(f"  build {k}: register_every {attempt['register_every']}, latency "
                     f"{attempt['latency']}, predicted "
                     f"{'-' if predicted is None else f'{predicted:.0f}'} MHz, achieved "
                     f"{attempt['fmax_mhz']:.1f} MHz")
    return "\n".join(lines)


def plan_pipelining(design, board, clock_mhz=None, progress=print):
    """The :class:`Pipelining` of ``design`` on ``board`` at ``clock_mhz`` (default: the board
    clock), no attempt built yet: ``auto`` when the design leaves ``register_every`` to be
    chosen (``None``). A streaming design's lanes get the lane registers the timing model
    predicts to reach the target (its first layer is no adder tree: the model times the layers
    after it), and its second layer is folded into the lanes (:attr:`~lwc.compiler.
    architecture.Streaming.fold`) when its tail is ``parallel``, it can be, and the model
    predicts its trees, unpipelined, to miss the target."""
    compiled = design.network
    target_mhz = float(clock_mhz if clock_mhz is not None else board.clock_mhz)
    every = design.register_every
    auto = every is None
    first = 1 if isinstance(design.architecture, Streaming) else 0
    lanes = lane_mhz = None
    fold = False
    if first:
        hardware = design.hardware
        fold = design.architecture.fold
        if design.architecture.tail == "parallel" and \
                timing.estimate(compiled, None, board.family, first=1)[0] < target_mhz:
            try:
                hardware = lowering.plan(compiled, replace(design.architecture, tail="fold"))
                fold = True
            except (ValueError, UsageError):  # a second layer that cannot fold (fold_error)
                pass
        first = hardware.first_parallel
        lanes, lane_mhz = timing.lane_registers(hardware, target_mhz, board.family)
        progress(f"timing: {target_mhz:g} MHz target on {board.family.title}: lane registers "
                 f"{', '.join(lanes) or 'none'} (predicted {lane_mhz:.0f} MHz)"
                 + ("; second layer folded into the lanes" if fold else ""))
    if auto:
        choices = timing.plan(compiled, target_mhz, board.family, first=first)
        every, predicted = choices[0]
        shown = "one register per layer" if every is None else \
            f"register every {every} levels"
        progress(f"timing: {target_mhz:g} MHz target on {board.family.title}: {shown} "
                 f"(predicted {predicted:.0f} MHz)")
    else:
        choices = [(every, timing.estimate(compiled, every, board.family, first=first)[0])]
    return Pipelining(target_mhz, auto, every, tuple((r, round(mhz, 1)) for r, mhz in choices),
                      lane_registers=lanes, lane_mhz=lane_mhz, fold=fold)


def check_toolchain(board):
    """Refuse (:class:`~lwc.errors.ToolchainError`) a board whose family's tools are missing,
    before any design is made for it."""
    env = toolchain_env()
    for tool in board.family.tools:
        tool_path(tool, env)


def board_top(design, board, baud, pll=None):
    """The UART board top around ``design`` (lowered once, here); or :class:`UsageError`, before
    anything is built, when the front end cannot serve this net or line rate
    (:func:`~lwc.hw.top.check_front_end`). With ``pll`` (a :class:`~lwc.boards.pll.Pll`) the top
    runs from it (:class:`~lwc.boards.pll.PllClock`) and the UART's divisor is reckoned from its
    output frequency, else from the board's oscillator."""
    clk_freq = (board.clock_mhz if pll is None else pll.mhz) * 1e6
    net = design.network
    try:
        check_front_end(input_count=net.input.count, input_bits=net.input.bits,
                        n_classes=net.output_count,
                        score_width=semantics.score_width(
                            [out for _, out in layer_ranges(net)[-1]]),
                        clk_freq=clk_freq, baud=baud)
    except ValueError as exc:
        raise UsageError(f"cannot build the {board.name} UART top: {exc}") from None
    return UartNetworkTop(design.lower(), clk_freq=clk_freq, baud=baud,
                          clock=None if pll is None else PllClock(pll))


@dataclass(frozen=True)
class BoardBuild:
    """The build :func:`build_design` kept: its :class:`~lwc.boards.build.BuildReport`, the
    design it was made of, that design's Verilog, and the :class:`Pipelining`."""

    report: object
    design: object
    verilog: str
    pipelining: Pipelining


def build_design(design, board, out, *, top, verilog, pipelining, clock_mhz=None, seed=1,
                 baud=115200, pll=None, progress=print):
    """Build ``top`` (the board top of ``design``, whose Verilog ``verilog`` is in
    ``out/net.v``) for ``board`` into ``out``; while the target is missed inside the network and
    choices and tries are left, build again with more pipelining (rewriting ``net.v``). With
    ``pll``, ``top`` runs from that PLL and its output is the target. Returns the
    :class:`BoardBuild` of the last build."""
    choices = pipelining.choices
    target = pipelining.target_mhz
    index = 0
    while True:
        every, predicted = choices[index]
        report = build(top, board, out, name="top", seed=seed, progress=progress,
                       **({"clock_mhz": clock_mhz} if pll is None else {"pll": pll}))
        pipelining = pipelining.after(Attempt(
            every, design.hardware.latency, predicted, report.fmax_mhz, report.timing_met,
            tuple(report.critical_path[:1] + report.critical_path[-1:])))
        kept = BoardBuild(report, design, verilog, pipelining)
        if report.timing_met is not False or not pipelining.auto:
            return kept
        in_network = any(name.startswith("network.") for name in report.critical_path)
        # Scale the model by how far off it was on this build, and skip the choices it still
        # predicts to fall short.
        scale = report.fmax_mhz / predicted if predicted else 1.0
        later = list(range(index + 1, len(choices)))
        nxt = next((k for k in later if choices[k][1] * scale >= target),
                   later[-1] if later else None)
        tries = len(pipelining.attempts)
        if not in_network or nxt is None or tries >= MAX_TIMING_TRIES:
            why = ("the critical path is outside the network" if not in_network else
                   "no more pipelining to add" if nxt is None else
                   f"{MAX_TIMING_TRIES} builds tried")
            progress(f"timing: {report.fmax_mhz:.1f} MHz, target {target:g} MHz missed; "
                     f"keeping this build ({why})")
            return kept
        index = nxt
        every = choices[index][0]
        progress(f"timing: {report.fmax_mhz:.1f} MHz < {target:g} MHz target, critical path "
                 f"{report.critical_path[0]} -> {report.critical_path[-1]}; retrying with "
                 f"register every {every} levels ({tries + 1}/{MAX_TIMING_TRIES})")
        design = design.with_register_every(every)
        top = board_top(design, board, baud, pll)
        verilog = design.verilog(out / "net.v")
