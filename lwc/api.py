"""The Python API: a net loaded, compiled once, run on the golden model and in simulation,
built for a board and flashed, in the shape hls4ml users know (convert, compile, predict, build,
read the report)::

    import lwc

    model = lwc.load("net.pt")                      # or lwc.convert(train_result)
    design = model.compile(board="icebreaker")      # the passes and the plan, once
    labels = design.predict(x)                      # the golden model; raw features quantized
    same = design.predict_hw(x[:20])                # cocotb + Verilator, checked against golden
    design.write_verilog("build/v")                 # net.v (or write_asic: generic gates)
    built = design.build(out_dir="build/api")       # Yosys + nextpnr: bitstream and report
    print(built.logic_cells.used, built.fmax_mhz, built.timing_met, built.bitstream)
    built.flash()                                   # with the board on USB

Every step is the library function the ``lwc`` command calls (:func:`lwc.compiler.netfile.load`,
:func:`lwc.compile.design_for` and :func:`lwc.compile.write_design` as ``lwc compile``,
:func:`lwc.sim.cocotb_sim.simulate` as ``lwc sim``, :func:`lwc.boards.flash.flash` as ``lwc
flash``), so the options mean the same and a mistake raises the same one-line
:class:`~lwc.errors.LwcError` the command prints. Nothing here imports Amaranth, cocotb or torch
until a step needs it.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .compiler import golden
from .compiler.ir import Network, VerifyError, verify
from .errors import LwcError, UsageError

__all__ = ["load", "convert", "Model", "CompiledModel", "BuildResult", "HardwareMismatchError"]


class HardwareMismatchError(LwcError):
    """The simulated hardware does not compute what the golden model computes."""


def _quiet(_line):
    pass


def _progress(progress):
    return _quiet if progress is None else progress


def load(path):
    """The net in the ``net.pt`` at ``path`` (as ``lwc train`` writes it) as a :class:`Model`.

    The file is read with weights-only loading and validated; nothing in it is run.

    Raises
    ------
    NetFileError
        One line naming ``path``: missing, unreadable, or not a valid network.
    """
    from .compiler import netfile

    return Model(netfile.load(path), str(path))


def convert(source):
    """A :class:`Model` of a net in memory: a :class:`~lwc.compiler.ir.Network` (as
    :func:`lwc.compiler.netfile.load` returns it) or the :class:`~lwc.train.TrainResult` of
    :func:`lwc.train.train` or :func:`lwc.train.train_to_file` (its proven integer ``net``).

    Raises
    ------
    UsageError
        ``source`` is neither, or not a valid network.
    """
    if not isinstance(source, Network):
        from .train.loop import TrainResult

        if not isinstance(source, TrainResult):
            raise UsageError(f"convert needs a Network or a TrainResult, not "
                             f"{type(source).__name__}")
        source = source.net
    try:
        verify(source)
    except VerifyError as exc:
        raise UsageError(f"not a valid network: {exc}") from None
    return Model(source)


@dataclass(frozen=True)
class Model:
    """A net as trained: what :func:`load` and :func:`convert` return.

    Attributes
    ----------
    net : Network
        The integer network; the golden model's reference.
    path : str or None
        The ``net.pt`` it was loaded from.
    """

    net: Network
    path: str | None = None

    def __repr__(self):
        from .compiler.stats import nonzero_count

        sizes = "-".join(str(layer.size) for layer in self.net.layers)
        return (f"<Model {self.path or 'in memory'}: {self.net.input.count} inputs x "
                f"{self.net.input.bits} bit -> {sizes}, {nonzero_count(self.net)} nonzero "
                f"weights>")

    def default_dir(self, kind):
        """The directory the ``lwc`` command uses by default for ``kind`` (a board name,
        ``"verilog"``, ``"asic"``, ``"sim"``) on this net: ``build/<name>-<fingerprint>-<kind>``
        (:func:`lwc.outdir.default_dir`; ``<name>`` is ``net`` for a net in memory), so that
        different nets never share one."""
        from .outdir import default_dir

        return Path(default_dir(self.path or "net", self.net, kind))

    @property
    def classes(self):
        """The class names, in the order of the outputs."""
        return self.net.classes

    def summary(self):
        """The text ``lwc inspect`` prints: layers, sparsity, fan-in, provenance."""
        from .compiler.stats import format_stats

        return format_stats(self.net, self.path)

    def quantize(self, x):
        """The network's integer inputs for ``x``, as ``lwc sim`` reads vectors.

        ``x`` is ``(n, inputs)``: integers in the input range, or, when the net has an input
        quantizer, raw float features, which it quantizes
        (:func:`lwc.compiler.golden.quantize`, the one definition). Returns ``int64``.

        Raises
        ------
        DataError
            Wrong shape, type or range.
        """
        from .sim.vectors import check_vectors

        return check_vectors(self.net, np.asarray(x))

    def predict(self, x, *, scores=False):
        """The golden model's predicted class index for each row of ``x`` (see
        :meth:`quantize`); with ``scores``, ``(labels, scores)``, the scores ``(n, classes)``
        being the output layer's integers. Ties go to the lowest index, as in hardware."""
        trace = golden.evaluate(self.net, self.quantize(x))
        return (trace.predictions, trace.scores) if scores else trace.predictions

    def test_data(self, *, data_dir=None, csv=None):
        """``(inputs, labels)``: the test split the net was measured on, rebuilt from its
        provenance as ``lwc sim`` rebuilds it (:func:`lwc.sim.vectors.test_set`; the inputs
        quantized). ``data_dir``: the folder of the IDX files for mnist or fashion; ``csv``: the
        CSV of a net trained on one (``lwc sim --csv``), by default the one its provenance names
        if it lies next to the ``net.pt`` with the recorded SHA-256.

        Raises
        ------
        DataError
            The net does not record its dataset and split, its CSV is not confirmed, or the
            data cannot be read.
        """
        from .sim.vectors import test_set

        return test_set(self.net, data_dir=data_dir, csv=csv, net_path=self.path)

    def compile(self, architecture="auto", board=None, *, register_every=None, share=True,
                tables=None, features_per_cycle=None, lanes=None, weights=None, tail=None,
                dsp=None, progress=print):
        """Compile the net once, as ``lwc compile`` does, into a :class:`CompiledModel`.

        Parameters
        ----------
        architecture : str
            ``"parallel"`` (every layer in logic, one inference per cycle), ``"streaming"``
            (first layer from block RAM) or ``"auto"``: with a ``board``, parallel when the
            resource estimate fits it, else streaming; without one, parallel.
        board : str, Board or None
            The board the design is planned for (``lwc compile --board``), and the one
            :meth:`CompiledModel.build` builds for by default.
        register_every : int or None
            A pipeline register every this many adder levels; ``None`` leaves it to be chosen
            for the board's clock when building (one register per layer otherwise).
        share : bool
            Build sub-sums that several neurons of a layer share once (``--no-share`` is
            ``False``).
        tables : str or None
            Which neurons are built as truth tables (``lwc compile --tables``): ``"off"``,
            ``"auto"`` (where the cost model finds them cheaper) or ``"all"`` (every one that
            fits); ``None`` for :data:`lwc.compiler.passes.DEFAULT_TABLES`.
        features_per_cycle, lanes : int or None
            Streaming: input features per transfer, first-layer neurons at once.
        weights : str or None
            Streaming: where the first layer's table is stored, ``"bram"`` (default) or
            ``"spram"`` (loaded from flash at boot; ``lwc compile --weights``).
        tail : str or None
            Streaming: the layer after the first ``"parallel"``, ``"fold"``, ``"sequential"``
            or ``"auto"`` (the default; ``lwc compile --tail``).
        dsp : str or None
            Streaming: ``"auto"`` puts accumulators in the board's DSP blocks where the
            estimate finds that saves logic; ``"off"`` (the default) keeps them in logic
            (``lwc compile --dsp``).
        progress : callable or None
            Told each step in one line (like :func:`print`); ``None`` for silence.

        Raises
        ------
        UsageError
            Unknown board or architecture, streaming options that do not apply or are not
            positive integers, ``register_every`` not a positive integer.
        """
        from .compile import design_for, resolve_target

        progress = _progress(progress)
        board_obj = resolve_target(None, board)[1] if board is not None else None
        design = design_for(self.net, board_obj, architecture=architecture,
                            features_per_cycle=features_per_cycle, lanes=lanes,
                            weights=weights, tail=tail, dsp=dsp,
                            register_every=register_every,
                            share=share,
                            progress=progress, **({} if tables is None else {"tables": tables}))
        return CompiledModel(self, design, board_obj)


@dataclass(frozen=True)
class CompiledModel:
    """A net compiled once (:meth:`Model.compile`): predict, simulate, write Verilog, build.

    Attributes
    ----------
    model : Model
        The net it was compiled from.
    design : CompiledDesign
        The compile driver's design (:func:`lwc.compiler.driver.compile_design`): the passed
        network, its architecture and its hardware plan.
    board : Board or None
        The board it was planned for.
    """

    model: Model
    design: object
    board: object = None

    def __repr__(self):
        board = f"; planned for the {self.board.name}" if self.board is not None else ""
        return f"<CompiledModel ({self.facts.architecture_text()}{board}) of {self.model!r}>"

    @property
    def facts(self):
        """The :class:`~lwc.compiler.driver.NetworkFacts`: sizes, adders, architecture,
        latency and cycles per inference (``facts.table()`` is ``lwc compile``'s summary)."""
        return self.design.facts

    @property
    def architecture(self):
        """``"parallel"`` or ``"streaming"``: the datapath chosen."""
        return self.design.architecture.name

    def verilog(self):
        """The Verilog text of the network (module ``lwc_net``), as ``net.v`` holds it."""
        return self.design.verilog()

    def predict(self, x, *, scores=False):
        """The golden model's predictions: :meth:`Model.predict` of the net compiled."""
        return self.model.predict(x, scores=scores)

    def simulate(self, x, *, simulator="verilator", build_dir=None, seed=0, waves=False,
                 processes=1, progress=print):
        """Simulate the generated Verilog on ``x`` in cocotb and compare every output with the
        golden model, as ``lwc sim`` does; return the
        :class:`~lwc.sim.cocotb_sim.SimReport` (``report.format()`` is what ``lwc sim``
        prints, ``report.ok`` its verdict).

        ``x`` is as for :meth:`Model.quantize`; ``simulator`` ``"verilator"`` or ``"icarus"``;
        ``build_dir`` defaults to ``lwc sim``'s (:meth:`Model.default_dir`), where an identical
        earlier build is reused; ``seed`` draws the testbench's input gaps and back-pressure;
        ``processes`` splits the vectors over that many simulators.

        Raises
        ------
        UsageError, ToolchainError
            Unknown or missing simulator, or a failed build.
        DataError
            ``x`` has the wrong shape, type or range.
        """
        from .sim.cocotb_sim import simulate

        if build_dir is None:
            build_dir = self.model.default_dir("sim")
        return simulate(self.design, self.model.quantize(x), simulator=simulator, waves=waves,
                        build_dir=build_dir, seed=seed, processes=processes,
                        progress=_progress(progress))

    def predict_hw(self, x, *, scores=False, simulator="verilator", check=True, build_dir=None,
                   seed=0, progress=print):
        """What the generated hardware outputs for each row of ``x``, from its cocotb simulation
        (:meth:`simulate`): the labels, or ``(labels, scores)`` with ``scores``, as
        :meth:`predict` returns them.

        With ``check`` (the default), anything but the golden model's outputs, at the promised
        latency and by the stream rules, raises :class:`HardwareMismatchError`.
        """
        report = self.simulate(x, simulator=simulator, build_dir=build_dir, seed=seed,
                               progress=progress)
        if check and not report.ok:
            raise HardwareMismatchError(_mismatch_line(report))
        return (report.labels, report.scores) if scores else report.labels

    def write_verilog(self, out_dir=None, *, force=False, progress=print):
        """Write the network's Verilog as ``lwc compile --target verilog`` does: ``net.v``
        (module ``lwc_net``), ``report.json`` and the manifest ``lwc-build.json`` in
        ``out_dir`` (default: the command's, :meth:`Model.default_dir`); return the path of
        ``net.v``.

        Raises
        ------
        UsageError
            ``out_dir`` holds files lwc did not write (``force`` writes next to them).
        """
        from .compile import write_design

        done = write_design(self.design, out_dir or self.model.default_dir("verilog"),
                            target="verilog", force=force, source=self.model.path,
                            progress=_progress(progress))
        return Path(done.out_dir) / "net.v"

    def write_asic(self, out_dir=None, *, force=False, progress=print):
        """Synthesize the network to generic gates, as ``lwc compile --target asic`` does
        (Yosys and ABC: ``net.v``, the gate netlist ``netlist.v``, ``report.json``, in
        ``out_dir``, by default the command's, :meth:`Model.default_dir`); return the
        :class:`~lwc.boards.asic.AsicReport` (gates per type, flip-flops, logic depth).

        Raises
        ------
        UsageError
            ``out_dir`` holds files lwc did not write (``force`` writes next to them).
        ToolchainError, BuildError
            Yosys is missing or failed.
        """
        from .compile import write_design

        return write_design(self.design, out_dir or self.model.default_dir("asic"),
                            target="asic", force=force, source=self.model.path,
                            progress=_progress(progress)).asic

    def build(self, board=None, *, out_dir=None, clock_mhz=None, seed=1, baud=115200, force=False,
              progress=print):
        """Build the design behind the UART front end into a bitstream for ``board``, as
        ``lwc compile --board`` does (Yosys, nextpnr and the packer; the YoWASP builds unless
        the environment names others), and return its :class:`BuildResult`.

        Parameters
        ----------
        board : str, Board or None
            Default: the board the design was compiled for, else the iCE40 default
            (``icebreaker``). The architecture is the design's: compile with ``board`` to have
            ``auto`` choose it for that board.
        out_dir : path-like or None
            Where the bitstream, ``report.json``, logs and ``lwc-build.json`` go; by default
            the command's (:meth:`Model.default_dir` of the board's name). The build of
            another net there is refused unless ``force``.
        clock_mhz : float or None
            Timing target (default: the board clock); pipelining left to be chosen is chosen
            for it, and rebuilt with more registers when nextpnr misses it.
        seed : int
            nextpnr placement seed.
        baud : int
            UART line rate.
        force : bool
            Build into a directory holding files lwc did not write (they are kept) or the
            build of another net (replaced), or a design the estimate says does not fit.
        progress : callable or None
            Told each step in one line; ``None`` for silence.

        Raises
        ------
        UsageError
            Bad option, a net the UART top cannot serve, or ``out_dir`` not usable.
        ToolchainError, BuildError
            A tool is missing or failed; the design does not fit the board.
        """
        from .compile import resolve_target, write_design

        target, board_obj = resolve_target(None, board if board is not None else self.board)
        out_dir = out_dir or self.model.default_dir(board_obj.name)
        done = write_design(self.design, out_dir, target=target, board=board_obj,
                            clock_mhz=clock_mhz, seed=seed, baud=baud, force=force,
                            source=self.model.path, progress=_progress(progress))
        return BuildResult.of(done, board_obj.name)


def _mismatch_line(report):
    """One line saying how a :class:`~lwc.sim.cocotb_sim.SimReport` that is not ``ok`` failed."""
    problems = []
    if report.mismatches:
        m = report.first_mismatch
        got = "no output" if m.hardware_label is None else f"label {m.hardware_label}"
        problems.append(f"{report.mismatches} of {report.vectors} vectors differ (first: "
                        f"vector {m.index}, golden label {m.golden_label}, hardware {got})")
    if report.received < report.vectors:
        problems.append(f"only {report.received} of {report.vectors} outputs came out")
    if report.protocol_errors:
        problems.append(f"{report.protocol_errors} stream protocol errors")
    if report.measured_latency != report.latency:
        problems.append(f"latency {report.measured_latency} cycles, expected {report.latency}")
    return (f"the {report.simulator} simulation in {report.build_dir} differs from the golden "
            f"model: {'; '.join(problems)}")


@dataclass(frozen=True)
class BuildResult:
    """What :meth:`CompiledModel.build` built: the figures of its ``report.json``.

    Attributes
    ----------
    board, device : str
        The board's name and its FPGA.
    out_dir : Path
        The build directory.
    bitstream : Path
        The bitstream (``top.bin`` on iCE40, ``top.bit`` on ECP5).
    logic_cells, lut4, ff, carry, block_ram : Usage
        Used out of available (``.used``, ``.available``, ``.percent``): nextpnr's placed logic
        cells and block RAMs, Yosys' LUT4s, flip-flops and carries.
    fmax_mhz : float
        nextpnr's estimate for the main clock.
    clock_mhz : float
        The timing target.
    timing_met : bool
        ``fmax_mhz`` reaches the target.
    latency, cycles_per_inference : int
        Of the network as built (pipelining may have been added to meet the target).
    result : CompileResult
        What :func:`lwc.compile.write_design` returned: the network ``facts`` as built, the
        whole :class:`~lwc.boards.build.BuildReport` (``build``: critical path, tool versions,
        logs) and how ``register_every`` was chosen (``pipelining``).
    """

    board: str
    device: str
    out_dir: Path
    bitstream: Path
    logic_cells: object
    lut4: object
    ff: object
    carry: object
    block_ram: object
    fmax_mhz: float | None
    clock_mhz: float
    timing_met: bool | None
    latency: int
    cycles_per_inference: int
    result: object = field(repr=False, compare=False)

    @classmethod
    def of(cls, result, board):
        """The build result of a :class:`~lwc.compile.CompileResult` for a board."""
        report, facts = result.build, result.facts
        return cls(board=board, device=report.device, out_dir=Path(result.out_dir),
                   bitstream=Path(report.bitstream), logic_cells=report.logic_cells,
                   lut4=report.lut4, ff=report.ff, carry=report.carry,
                   block_ram=report.block_ram, fmax_mhz=report.fmax_mhz,
                   clock_mhz=report.clock_mhz, timing_met=report.timing_met,
                   latency=facts.latency, cycles_per_inference=facts.cycles_per_inference,
                   result=result)

    @property
    def report(self):
        """The :class:`~lwc.boards.build.BuildReport` (``report.json``'s FPGA figures)."""
        return self.result.build

    def table(self):
        """The summary ``lwc compile`` prints: network, pipelining and build."""
        return self.result.table()

    def flash(self, *, progress=print):
        """Program the bitstream onto the board it was built for, as ``lwc flash`` does.

        Raises
        ------
        UsageError
            The bitstream is missing or not one for the board.
        ToolchainError
            The programmer is not installed, no board is attached, or programming failed.
        """
        from .boards.flash import flash

        flash(self.out_dir, self.board, progress=_progress(progress))
