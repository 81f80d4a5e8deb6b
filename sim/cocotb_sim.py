"""``lwc sim``: prove a network's generated Verilog equal to the golden model, vector by vector.

:func:`simulate` takes a :class:`~lwc.compiler.driver.CompiledDesign` (the net compiled once) and
runs the chain after it: the design's Verilog (from its hardware plan), a
Verilator or Icarus build, the cocotb testbench
(:mod:`lwc.sim.network_tb`, random input gaps and back-pressure), and a comparison of every output
with :func:`lwc.compiler.golden.evaluate`. :func:`load_vectors`, :func:`random_vectors` and
:func:`test_set` (from :mod:`lwc.sim.vectors`) make its input.

Speed: a whole test set through a streaming network is hundreds of millions of cycles, so the
simulation is built to cost as little as possible per cycle. The design runs under the testbench
top of :func:`lwc.sim.network_tb.bench_verilog`, whose clock is made in Verilog (Verilator with
``--timing``; where its C++ compiler lacks coroutines, cocotb's clock instead); Verilator makes
only the ports visible to cocotb and compiles the rest of the model at full optimization (see
:mod:`lwc.sim.runner`); and the testbench wakes Python only at transfers. The vectors can also be
split over several simulator processes (``processes``).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lwc import weights_image
from lwc.compiler import golden
from lwc.compiler.architecture import Parallel, Streaming
from lwc.compiler.lower import TOPLEVEL
from lwc.errors import UsageError
from lwc.hw.spram_table import LoadFault

from . import network_tb, runner
from .vectors import check_vectors, load_vectors, random_vectors, test_set

__all__ = ["Mismatch", "SimReport", "simulate", "check_vectors", "load_vectors",
           "random_vectors", "test_set"]



@dataclass(frozen=True)
class Mismatch:
    """The first vector whose hardware output differs from the golden model.

    ``golden_sums[k]`` holds ``(origin, sum)`` for each neuron of layer ``k`` of the compiled
    (passed) network; ``hardware_label`` and ``hardware_scores`` are ``None`` when the hardware gave
    no output for the vector.
    """

    index: int
    inputs: tuple[int, ...]
    golden_sums: tuple[tuple[tuple[int, int], ...], ...]
    golden_label: int
    golden_scores: tuple[int, ...]
    hardware_label: int | None
    hardware_scores: tuple[int, ...] | None


@dataclass(frozen=True)
class SimReport:
    """What :func:`simulate` found.

    ``build_reused`` tells that an identical earlier build was kept (``build_seconds`` is then
    only the check); ``run_seconds`` is the wall
    time of the whole simulator process, ``stream_seconds`` that of streaming the vectors through
    the design (``vectors_per_second`` is measured over it). ``latency`` is the design's
    ``latency`` property, ``measured_latency`` the cycles the testbench saw between the first
    accepted input and the first ``o.valid`` (-1 if none). ``protocol_errors`` counts stream rule
    breaks (payload changed or valid dropped while stalled, outputs nobody asked for).
    ``received`` is the number of outputs taken before the testbench gave up waiting (outputs
    that never came count as mismatches). ``architecture`` is the design's (a
    :class:`~lwc.compiler.architecture.Parallel` or ``Streaming`` value); for a streaming
    network ``latency`` counts from the vector's last input transfer, and ``features_per_cycle``,
    ``lanes`` and ``cycles_per_inference`` are the design's; a parallel network takes a
    vector per transfer and per cycle. ``processes`` is the number of simulator processes that
    shared the vectors (``cycles`` is their sum, ``stream_seconds`` the longest of them).
    ``labels`` and ``scores`` are what the hardware output for each vector (``int64``, ``(n,)``
    and ``(n, classes)``; -1 for vectors that had no output). A network that loads its weight
    table from flash at boot has ``boot_cycles`` (the cycle after reset its ``boot.ready`` rose;
    ``None`` if it never did), ``boot_fault`` (its :class:`~lwc.hw.spram_table.LoadFault` at the
    end: ``NONE`` after a good load; ``None`` when undefined) and ``flash_violations`` (SPI
    protocol breaks the flash model saw); ``None``, ``None`` and ``()`` for others.
    """

    simulator: str
    vectors: int
    received: int
    mismatches: int
    first_mismatch: Mismatch | None
    build_seconds: float
    run_seconds: float
    stream_seconds: float
    cycles: int
    latency: int
    measured_latency: int
    protocol_errors: int
    build_dir: Path
    build_reused: bool = False
    waves: Path | None = None
    architecture: Parallel | Streaming = Parallel()
    features_per_cycle: int | None = None
    lanes: int = 0
    cycles_per_inference: int = 1
    processes: int = 1
    boot_cycles: int | None = None
    boot_fault: LoadFault | None = None
    flash_violations: tuple = ()
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def vectors_per_second(self):
        return self.vectors / self.stream_seconds if self.stream_seconds > 0 else float("inf")

    @property
    def ok(self):
        """Every output matched, the stream rules held, and the latency is the promised one."""
        return (self.mismatches == 0 and self.protocol_errors == 0
                and self.received == self.vectors and self.measured_latency == self.latency
                and not self.flash_violations
                and self.boot_fault in (None, LoadFault.NONE))

    def boot_text(self):
        """One line on the weight table's load from flash."""
        if self.boot_cycles is not None and self.boot_fault is LoadFault.NONE:
            text = (f"boot: weight table loaded from flash and checked after "
                    f"{self.boot_cycles:,} cycles")
        else:
            why = "undefined" if self.boot_fault is None else self.boot_fault.name
            text = f"boot: the weight table did NOT load (fault {why}): the design never answered"
        if self.flash_violations:
            text += f"; flash protocol: {self.flash_violations[0]}"
        return text

    def format(self):
        """A few lines for the CLI: speed and verdict, then the first mismatch in detail."""
        build = "build reused" if self.build_reused else f"build {self.build_seconds:.1f} s"
        shared = f" in {self.processes} processes" if self.processes > 1 else ""
        lines = [
            f"{self.simulator}: {self.vectors} vectors in {self.stream_seconds:.2f} s{shared} "
            f"({self.vectors_per_second:.0f} vectors/s, {self.cycles} cycles); "
            f"{build}, run {self.run_seconds:.1f} s",
            f"latency {self.measured_latency} cycles (expected {self.latency}); "
            f"{self.protocol_errors} stream protocol errors",
            *([self.boot_text()] if self.boot_fault is not None or self.boot_cycles is not None
              else []),
            *([f"streaming: {self.features_per_cycle} features per transfer, {self.lanes} "
               f"lanes, {self.cycles_per_inference} cycles per inference"]
              if isinstance(self.architecture, Streaming) else []),
            f"{self.mismatches} of {self.vectors} vectors mismatch" if self.mismatches else
            f"0 mismatches: hardware equals the golden model on all {self.vectors} vectors",
        ]
        if self.received < self.vectors:
            lines.append(f"only {self.received} of {self.vectors} outputs came out: the design "
                         f"stopped producing them")
        m = self.first_mismatch
        if m is not None:
            lines.append(f"first mismatch: vector {m.index}")
            lines.append(f"  input            {list(m.inputs)}")
            for k, sums in enumerate(m.golden_sums):
                text = " ".join(f"n{origin}={s}" for origin, s in sums) or "(no neurons)"
                lines.append(f"  layer {k} sums     {text}")
            lines.append(f"  golden   label {m.golden_label} scores {list(m.golden_scores)}")
            if m.hardware_label is None:
                lines.append("  hardware no output")
            else:
                lines.append(f"  hardware label {m.hardware_label} scores "
                             f"{list(m.hardware_scores)}")
        if self.waves is not None:
            lines.append(f"waveform: {self.waves}")
        return "\n".join(lines)


def simulate(design, vectors, *, simulator="verilator", waves=False, build_dir, seed=0,
             progress=print, gap=0.25, stall=0.25, sources=None, build_args=(), processes=1,
             flash_image=None, flash_cut_after=None):
    """Simulate the generated Verilog of ``design`` on ``vectors``; compare with the golden model.

    Parameters
    ----------
    design : CompiledDesign
        The net compiled once (:func:`lwc.compiler.driver.compile_design`): its architecture and
        pipelining are built; its ``source`` net is the golden reference.
    vectors : array_like
        ``(n, input count)`` integer inputs (see :func:`load_vectors`).
    simulator : str
        ``"verilator"`` or ``"icarus"``.
    waves : bool
        Record a waveform (FST; VCD from Verilator without lz4) in the build directory; its path
        is in the report.
    build_dir : path-like
        Parent of this configuration's build directory, ``<build_dir>/<simulator>[-waves]``; an
        identical earlier build there is reused.
    seed : int
        Seed of the testbench's input gaps and back-pressure.
    progress : callable
        Called with one line of text at each step.
    gap, stall : float
        Probability that an input transfer waits 1..3 cycles before ``valid``, and that
        ``o.ready`` is low in a cycle.
    sources : sequence of path-like, optional
        Verilog files to simulate instead of the generated Verilog (a synthesized netlist and its
        cell models, a reference design). They must define the module ``lwc_net`` with the ports
        and latency of the generated one: the design's hardware plan gives those facts, and no
        component is built.
    build_args : sequence of str
        Extra arguments for the simulator's compiler (see :func:`lwc.sim.runner.build`).
    processes : int
        Split the vectors into this many contiguous shares (at most one a vector), each streamed
        from reset by its own simulator process, all at once, on as many CPU cores; process ``k``
        draws its gaps and stalls from ``seed + k``. The report adds their cycles and counts,
        and times them together.
    flash_image, flash_cut_after : bytes or None, int or None
        For a design whose weight table is in SPRAM (``design.weights == "spram"``): each
        process boots from a flash model holding ``flash_image`` (default: the design's own
        :meth:`~lwc.compiler.driver.CompiledDesign.weights_image`, ``weights.bin``) at the
        iCEBreaker offset, which stops serving after ``flash_cut_after`` bytes of a read
        (``None``: never); the design must not answer before the load has checked, nor ever
        after a bad one.

    Returns
    -------
    SimReport

    Raises
    ------
    UsageError, ToolchainError
        Unknown or missing simulator, ``gap`` or ``stall`` not in ``[0, 1)``, ``processes`` not
        a positive int or more than one with ``waves``, or a failed build or simulation.
    DataError
        ``vectors`` has the wrong shape, type, or range.
    """
    runner.check_simulator(simulator)
    for name, p in (("gap", gap), ("stall", stall)):
        if not 0 <= p < 1:
            raise UsageError(f"{name} must be a probability in [0, 1), not {p!r}")
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise UsageError(f"processes must be a positive int, not {processes!r}")
    if waves and processes > 1:
        raise UsageError("waves records one simulation: use processes=1")
    net, compiled = design.source, design.network
    x = check_vectors(net, np.asarray(vectors))

    component = design.hardware  # the facts of the design and its Verilog: no component
    streaming = isinstance(design.architecture, Streaming)
    booting = design.weights == "spram"
    if booting and flash_image is None:
        flash_image = design.weights_image()
    elif not booting and (flash_image is not None or flash_cut_after is not None):
        raise UsageError("flash_image and flash_cut_after apply to a design with its weights "
                         "in SPRAM")
    # A generous bound on the boot: 16 cycles a byte (SCK at half the clock) and the wake-up.
    boot_bound = 16 * (len(flash_image) + 64) + 2000 if booting else 0
    work = Path(build_dir).resolve() / (simulator + ("-waves" if waves else ""))
    work.mkdir(parents=True, exist_ok=True)
    if sources is None:
        source = work / f"{TOPLEVEL}.v"
        progress(f"writing Verilog: {source}")
        design.verilog(source)
        sources = [source]

    hdl_clock = runner.timing_supported(simulator)
    toplevel = TOPLEVEL
    if hdl_clock:
        bench = runner.write_if_changed(
            work / f"{network_tb.BENCH_TOPLEVEL}.v",
            network_tb.bench_verilog(
                component.features_per_cycle * component.input_bits,
                component.label_width + component.n_classes * component.score_width,
                dut=TOPLEVEL, flash=booting))
        sources, toplevel = [*sources, bench], network_tb.BENCH_TOPLEVEL
    else:
        progress(f"{simulator}: the C++ compiler lacks coroutines (Verilator --timing); the "
                 f"clock is cocotb's (slower)")

    progress(f"{simulator}: building {TOPLEVEL} in {work}")
    sim_build = runner.build(sources, toplevel=toplevel, build_dir=work, simulator=simulator,
                             waves=waves, args=build_args,
                             public=network_tb.PORTS + (network_tb.FLASH_PORTS if booting else ()),
                             timing=hdl_clock)
    if sim_build.reused:
        progress(f"{simulator}: reusing the earlier build (same Verilog, same settings)")
    if waves and sim_build.waves.suffix == ".vcd":
        progress(f"{simulator}: recording VCD (FST needs the lz4 library, e.g. liblz4-dev)")

    want = golden.evaluate(net, x)
    inside = golden.evaluate(compiled, x)
    origins = [[n.origin for n in layer.neurons] for layer in compiled.layers]
    shares = np.array_split(np.arange(len(x)), min(processes, len(x)))
    envs = []
    for k, share in enumerate(shares):
        suffix = "" if len(shares) == 1 else f"-{k}"
        job, result = work / f"job{suffix}.npz", work / f"result{suffix}.npz"
        result.unlink(missing_ok=True)
        network_tb.write_job(
            job, x[share], want.predictions[share], want.scores[share],
            sums=[s[share] for s in inside.sums], origins=origins,
            input_bits=component.input_bits, label_width=component.label_width,
            score_width=component.score_width,
            features_per_cycle=component.features_per_cycle if streaming else None,
            seed=seed + k, gap=gap, stall=stall,
            max_idle=1000 + 4 * component.latency + boot_bound,
            offset=int(share[0]), hdl_clock=hdl_clock,
            flash_image=flash_image if booting else b"",
            flash_offset=weights_image.ICEBREAKER_OFFSET, flash_cut_after=flash_cut_after)
        envs.append({network_tb.JOB_ENV: str(job), network_tb.RESULT_ENV: str(result)})
    if len(shares) == 1:
        progress(f"{simulator}: streaming {len(x)} vectors")
        run_seconds = runner.test(sim_build, "lwc.sim.network_tb", seed=seed, env=envs[0])
    else:
        progress(f"{simulator}: streaming {len(x)} vectors in {len(shares)} processes")
        run_seconds = runner.test_parallel(sim_build, "lwc.sim.network_tb", envs, seed=seed)
    got = _merge_results([network_tb.read_result(env[network_tb.RESULT_ENV]) for env in envs])

    bad = (got["labels"] != want.predictions) | (got["scores"] != want.scores).any(axis=1)
    assert int(bad.sum()) == got["mismatches"], "testbench and host disagree on mismatches"
    first = None
    if bad.any():
        i = int(np.argmax(bad))
        assert i == got["first_mismatch"]
        received = bool(got["came"][i])
        first = Mismatch(
            index=i,
            inputs=tuple(int(v) for v in x[i]),
            golden_sums=tuple(tuple(zip(o, (int(s) for s in sums[i])))
                              for o, sums in zip(origins, inside.sums)),
            golden_label=int(want.predictions[i]),
            golden_scores=tuple(int(s) for s in want.scores[i]),
            hardware_label=int(got["labels"][i]) if received else None,
            hardware_scores=tuple(int(s) for s in got["scores"][i]) if received else None,
        )
    return SimReport(
        simulator=simulator, vectors=len(x), received=got["received"],
        mismatches=got["mismatches"], first_mismatch=first,
        build_seconds=sim_build.seconds, run_seconds=run_seconds,
        stream_seconds=got["stream_seconds"], cycles=got["cycles"], latency=component.latency,
        measured_latency=got["first_latency"], protocol_errors=got["protocol_errors"],
        build_dir=work, build_reused=sim_build.reused, waves=sim_build.waves,
        architecture=design.architecture,
        features_per_cycle=component.features_per_cycle if streaming else net.input.count,
        lanes=component.lanes if streaming else 0,
        cycles_per_inference=component.cycles_per_inference if streaming else 1,
        processes=len(shares),
        boot_cycles=(None if not booting or got["boot_ready"] < 0 else got["boot_ready"]),
        boot_fault=(None if not booting or got["boot_fault"] < 0
                    else LoadFault(got["boot_fault"])),
        flash_violations=tuple(got["flash_violations"]),
        labels=np.asarray(got["labels"], dtype=np.int64),
        scores=np.asarray(got["scores"], dtype=np.int64),
    )


def _merge_results(parts):
    """The results of testbenches that each streamed a share of the vectors, in order, as one
    (see :func:`lwc.sim.network_tb.read_result`), plus ``came``: which vectors had an output.

    Counts and cycles add up; the first mismatch is the first share's that has one, as an index
    into all vectors; the latency is the first share's; ``stream_seconds`` is the longest, as the
    shares stream at the same time.
    """
    got = {key: sum(part[key] for part in parts)
           for key in ("received", "mismatches", "cycles", "protocol_errors")}
    got["labels"] = np.concatenate([part["labels"] for part in parts])
    got["scores"] = np.concatenate([part["scores"] for part in parts])
    got["came"] = np.concatenate([np.arange(len(part["labels"])) < part["received"]
                                  for part in parts])
    got["first_mismatch"], offset = -1, 0
    for part in parts:
        if part["first_mismatch"] >= 0:
            got["first_mismatch"] = offset + part["first_mismatch"]
            break
        offset += len(part["labels"])
    got["first_latency"] = parts[0]["first_latency"]
    # Each process booted on its own: the first one's boot, the worst fault of any.
    got["boot_ready"] = parts[0]["boot_ready"]
    faults = [part["boot_fault"] for part in parts]
    got["boot_fault"] = -1 if -1 in faults else max(faults)
    got["flash_violations"] = [v for part in parts for v in part["flash_violations"]]
    got["stalled"] = any(part["stalled"] for part in parts)
    got["stream_seconds"] = max(part["stream_seconds"] for part in parts)
    return got
