"""The compile driver: a net compiled once into one planned, immutable :class:`CompiledDesign`.

:func:`compile_design` runs the compiler passes once (:func:`lwc.compiler.passes.
compile_network`), plans the architecture (a given value, or a planner that chooses one from the
compiled net, such as :func:`lwc.boards.plan.plan_architecture` for a board), and returns the
design. Everything downstream takes that object: ``lwc compile`` writes its Verilog and builds it
for a board or an ASIC, ``lwc sim`` and gate-level simulation prove it against the golden model,
``lwc demo`` does all of these with one design. None of them runs the passes again; a design
with other pipelining is a new value (:meth:`CompiledDesign.with_register_every`).

The design holds the hardware plan (:func:`lwc.compiler.lower.plan`: widths, latencies, lanes and
memories), so its facts and its Verilog come without building a component; a component is built
(:meth:`CompiledDesign.lower`) only where one is elaborated, inside a board top.
"""

import time
from dataclasses import dataclass, replace

from lwc import weights_image

from . import lower as lowering
from . import passes
from .architecture import PARALLEL, ArchitecturePlan, Parallel, Streaming
from .ir import CompiledNetwork, Network
from .stats import adder_count, nonzero_count

__all__ = ["CompiledDesign", "NetworkFacts", "compile_design", "Stopwatch", "QUIET_SECONDS"]

#: A compile says how long each of its steps took once it has run this long (seconds); shorter
#: compiles print nothing more.
QUIET_SECONDS = 2.0


class Stopwatch:
    """Progress lines with the time since a compile started, once it has run
    :data:`QUIET_SECONDS`: ``stopwatch(step)`` says ``"compiler: {step} done after 12.3 s"``
    through ``progress`` (nothing when ``progress`` is ``None`` or the compile is still quick)."""

    def __init__(self, progress=None, *, quiet=QUIET_SECONDS):
        self.progress, self.quiet, self.start = progress, quiet, time.monotonic()

    @property
    def elapsed(self):
        return time.monotonic() - self.start

    def __call__(self, step):
        elapsed = self.elapsed
        if self.progress is not None and elapsed >= self.quiet:
            self.progress(f"compiler: {step} done after {elapsed:.1f} s")



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
    architecture: str = Parallel.name
    cycles_per_inference: int = 1
    features_per_cycle: int = 0
    lanes: int = 0
    memory_bits: int = 0
    description: str = Parallel().describe()
    weights: str = "bram"
    table_bytes: int = 0
    spram_blocks: int = 0
    dsp_blocks: int = 0

    def architecture_text(self):
        """One line: the architecture and what it costs in cycles and memory."""
        return self.description

    def table(self, fmax_mhz=None):
        rate = ("1 inference per cycle" if self.cycles_per_inference == 1 else
                f"1 inference every {self.cycles_per_inference:,} cycles")
        lines = [
            f"network      {self.inputs} inputs ({self.inputs_used} used) x {self.input_bits} bit"
            f" -> {'-'.join(map(str, self.layer_sizes))}",
            f"weights      {self.nonzero_weights} nonzero, {self.adders} two-input adders",
            f"datapath     {self.architecture_text()}",
            f"latency      {self.latency:,} cycles, {rate}",
        ]
        if fmax_mhz:
            lines.append(f"throughput   {fmax_mhz * 1e6 / self.cycles_per_inference:,.0f} "
                         f"inferences/s at Fmax")
        return "\n".join(lines)


@dataclass(frozen=True)
class CompiledDesign:
    """A net compiled once: what every consumer (Verilog, board build, simulators) takes.

    Attributes
    ----------
    source : Network
        The net as trained or loaded: the golden model's reference.
    network : CompiledNetwork
        The net after the passes (shared sums, every width known).
    architecture : Parallel or Streaming
        The datapath (:mod:`lwc.compiler.architecture`).
    hardware : ParallelPlan or StreamingPlan
        The hardware plan of ``network`` in that architecture with that pipelining
        (:func:`lwc.compiler.lower.plan`): every width, latency, lane and memory.
    register_every : int or None
        Pipeline registers every this many adder / comparator levels (see
        :func:`~lwc.compiler.lower.plan`).
    estimate : object
        The resource estimate the architecture was chosen on, or ``None``.
    """

    source: Network
    network: CompiledNetwork
    architecture: Parallel | Streaming
    hardware: object
    register_every: int | None = None
    estimate: object = None

    def __post_init__(self):
        assert isinstance(self.network, CompiledNetwork)
        assert isinstance(self.architecture, (Parallel, Streaming))

    def lower(self):
        """A new Amaranth component of this design's hardware plan (for a board top, which
        elaborates it); an unused-component warning names the caller of this method."""
        return lowering.component(self.hardware, src_loc_at=1)

    def verilog(self, path=None, *, spram=None, dsp=None):
        """The Verilog of this design (module ``lwc_net``), written to ``path`` if given
        (:func:`~lwc.compiler.lower.write_verilog` of the plan: no component is built);
        ``spram=True`` writes an SPRAM weight table as ``SB_SPRAM256KA`` instances, ``dsp=True``
        the accumulators in DSP blocks as ``SB_MAC16`` instances."""
        return lowering.write_verilog(self.hardware, path, spram=spram, dsp=dsp)

    @property
    def weights(self):
        """Where the first layer's weight table is stored: ``"spram"`` (loaded from flash at
        boot) or ``"bram"`` (also for a parallel network, whose weights are logic)."""
        return self.architecture.weights if isinstance(self.architecture, Streaming) else "bram"

    def weights_image(self):
        """The flash image of the SPRAM table (:func:`lwc.weights_image.weights_image` of the
        plan's :meth:`~lwc.hw.plan.StreamingPlan.table_payload`: ``weights.bin``), or ``None``
        when the design keeps its weights in the bitstream."""
        if self.weights != "spram":
            return None
        return weights_image.weights_image(self.hardware.table_payload())

    def with_register_every(self, register_every):
        """The same design with other pipelining (the passes are not run again)."""
        if register_every == self.register_every:
            return self
        return replace(self, register_every=register_every,
                       hardware=_hardware(self.network, self.architecture, register_every))

    def with_lanes(self, lane_registers, fold):
        """The same streaming design with these lane pipeline registers, and its second layer
        folded into the lanes if ``fold`` (:attr:`~lwc.compiler.architecture.Streaming.
        lane_registers`, ``tail="fold"``; otherwise its tail as it was)."""
        assert isinstance(self.architecture, Streaming)
        architecture = replace(self.architecture, lane_registers=tuple(lane_registers),
                               tail="fold" if fold else self.architecture.tail)
        if architecture == self.architecture:
            return self
        return replace(self, architecture=architecture,
                       hardware=_hardware(self.network, architecture, self.register_every))

    @property
    def facts(self):
        """The :class:`NetworkFacts` of this design, read from its hardware plan.

        ``adders`` counts the two-input adders built in logic: a streaming network's first layer
        has none (it is one accumulator per lane), so only its parallel layers count.
        """
        net, hardware = self.network, self.hardware
        common = dict(
            inputs=net.input.count, inputs_used=len(net.input_map), input_bits=net.input.bits,
            classes=net.output_count, layer_sizes=tuple(layer.size for layer in net.layers),
            nonzero_weights=nonzero_count(net), latency=hardware.latency,
            score_width=hardware.score_width)
        if isinstance(self.architecture, Streaming):
            lanes, features = hardware.lanes, hardware.features_per_cycle
            if hardware.weights == "spram":
                source = (f"a {hardware.table_bytes:,}-byte table in {hardware.spram_blocks} "
                          f"SPRAM block{'s' if hardware.spram_blocks != 1 else ''} (loaded "
                          f"from flash at boot) and {hardware.memory_bits:,} bits of block RAM")
            else:
                source = f"{hardware.memory_bits:,} bits of block RAM"
            text = (f"streaming: first layer from {source}, "
                    f"{lanes} lane{'s' if lanes != 1 else ''}, {features} "
                    f"feature{'s' if features != 1 else ''} per transfer")
            if hardware.dsp_blocks:
                tail = (f" and {hardware.dsp_tail} of the "
                        f"{'classes' if hardware.tail == 'sequential' else 'folded neurons'}"
                        if hardware.dsp_tail else "")
                blocks = hardware.dsp_blocks
                text += (f"; the accumulators of {hardware.dsp_lanes} lane"
                         f"{'s' if hardware.dsp_lanes != 1 else ''}{tail} in "
                         f"{blocks} DSP block{'s' if blocks != 1 else ''}")
            # The layers built in logic: none after a sequential output layer.
            logic = net.layers[len(net.layers) if hardware.tail == "sequential"
                               else hardware.first_parallel:]
            return NetworkFacts(
                **common,
                adders=adder_count(replace(net, layers=logic)),
                architecture=Streaming.name,
                cycles_per_inference=hardware.cycles_per_inference,
                features_per_cycle=features, lanes=lanes, memory_bits=hardware.memory_bits,
                description=text, weights=hardware.weights, table_bytes=hardware.table_bytes,
                spram_blocks=hardware.spram_blocks, dsp_blocks=hardware.dsp_blocks)
        return NetworkFacts(**common, adders=adder_count(net))


def compile_design(net, architecture=PARALLEL, *, planner=None, register_every=None,
                   share=True, tables=passes.DEFAULT_TABLES, progress=None):
    """Compile ``net`` (as trained or loaded) once into a :class:`CompiledDesign`.

    Parameters
    ----------
    net : Network
    architecture : Parallel or Streaming
        The datapath, unless ``planner`` chooses it.
    planner : callable or None
        ``planner(compiled) -> ArchitecturePlan``: chooses the architecture from the compiled
        net (e.g. :func:`lwc.boards.plan.plan_architecture` for a board).
    register_every : int or None
        Pipelining (see :func:`~lwc.compiler.lower.lower`).
    share : bool
        Build sub-sums that several neurons of a layer share once (the ``share`` pass).
    tables : str
        Which neurons are built as truth tables: ``"off"`` none, ``"auto"`` those the cost model
        of the ``tabulate`` pass finds cheaper, ``"all"`` every one whose table fits
        (:data:`lwc.compiler.passes.TABLES`; by default
        :data:`~lwc.compiler.passes.DEFAULT_TABLES`).
    progress : callable, Stopwatch or None
        Told each pass and the plan as they finish, with the time since the start, once the
        compile has run :data:`QUIET_SECONDS` (a :class:`Stopwatch` of it; give one to count from
        an earlier start).
    """
    watch = progress if isinstance(progress, Stopwatch) else Stopwatch(progress)
    steps = len(passes.pipeline(share=share, tables=tables))
    done = iter(range(1, steps + 1))
    compiled = passes.compile_network(
        net, share=share, tables=tables,
        on_pass=lambda pass_, before, after: watch(f"pass {next(done)}/{steps} {pass_.name}"))
    plan = planner(compiled) if planner is not None else ArchitecturePlan(architecture)
    hardware = _hardware(compiled, plan.architecture, register_every)
    watch("hardware plan")
    return CompiledDesign(source=net, network=compiled, architecture=plan.architecture,
                          hardware=hardware, register_every=register_every,
                          estimate=plan.estimate)


def _hardware(compiled, architecture, register_every):
    return lowering.plan(compiled, architecture, register_every=register_every)
