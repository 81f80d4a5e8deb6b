"""The ``lwc`` command: thin glue over the library (``lwc.train``, ``lwc.compiler``, ``lwc.sim``,
``lwc.boards``). Every user error prints one line and exits non-zero, without a traceback."""

import argparse
import os
import sys
import time

from . import __version__
from .errors import LwcError, UsageError

__all__ = ["main", "build_parser", "minority_f1_text"]


def _say(*args):
    print(*args, flush=True)


def _positive(kind, most=None):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not value > 0 or value == float("inf"):  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most}, not {text}")
        return value
    return parse


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**31-1, not {text}")
    return value


def _sizes(text):
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers like 64,32, not {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"must be positive sizes like 64,32, not {text!r}")
    return sizes


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), not {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def _load_net(path):
    from .compiler import netfile

    return netfile.load(path)


def _add_net(p):
    p.add_argument("net", help="the network file (net.pt) written by 'lwc train'")


def _default_dir(args, net, kind):
    """The default directory of this command on ``net`` (:func:`lwc.outdir.default_dir`)."""
    from .outdir import default_dir

    return default_dir(args.net, net, kind)


# --- lwc train -----------------------------------------------------------------------------------

def _cmd_train(args):
    from dataclasses import fields

    from .outdir import net_file
    from .train.config import TrainConfig

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    output = net_file(args.output)  # before training: a finished run is never lost to a bad -o
    data = config.check().load_data()  # NumPy only: bad data is refused before torch is imported
    from .train import train_to_file

    result = train_to_file(config, output, plots=not args.no_plots, progress=_say,
                           on_data=_say, data=data)
    m, s = result.test_metrics, result.summary
    _say(f"wrote {output}: test accuracy {100 * result.test_accuracy:.2f}%, "
         f"macro F1 {100 * m['f1']:.2f}%, {minority_f1_text(m, result.net.classes)}, "
         f"G-mean {100 * m['g_mean']:.2f}% (integer net, golden model), "
         f"{100 * result.zero_fraction:.1f}% zero weights, {s['bits_per_weight']:.2f} bits/weight, "
         f"{s['dropped_neurons']} neurons and {s['dropped_inputs']} inputs dropped; "
         f"{config.method}, trained in {result.seconds:.1f} s ({result.device})")


def minority_f1_text(metrics, classes):
    """``minority-class F1 x% (class c, n test samples)``: the F1 of the class with the fewest
    test samples (the first of them on a tie), from
    :func:`~lwc.train.metrics.classification_metrics`' ``metrics``."""
    support = metrics["support"]
    present = [k for k, n in enumerate(support) if n > 0]
    if not present:
        return "minority-class F1 -"
    k = min(present, key=lambda c: support[c])
    return (f"minority-class F1 {100 * metrics['f1_per_class'][k]:.2f}% (class {classes[k]}, "
            f"{support[k]} test samples)")


def _add_train(sub):
    from dataclasses import fields

    from .train.config import OPTION_GROUPS, TrainConfig, default_text, flag, help_text

    p = sub.add_parser("train", help="train a sparse ternary network and export net.pt",
                       description="Train a sparse ternary network, export it as the exact "
                       "integer net (proven against the golden model on the whole test set) to "
                       "net.pt, with train_report.json and PNG plots next to it.")
    p.add_argument("-o", "--output", default="net.pt", metavar="PATH",
                   help="where to write the net (default net.pt); a directory (one that exists, "
                   "or a path ending in /) gets net.pt inside it; train_report.json and the "
                   "plots go next to the net")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    groups = {name: p.add_argument_group(name) for name in OPTION_GROUPS}
    kinds = {"int": int, "float": float, "fraction": _fraction, "sizes": _sizes, "seed": _seed,
             "positive_int": int, "positive_float": float}
    # Every TrainConfig field is an option, described by its metadata (lwc.train.config); left
    # out, it is None and the config takes its default.
    for f in fields(TrainConfig):
        meta = f.metadata
        kind = meta["kind"]
        default = default_text(f)
        text = help_text(f) + ("" if default == "-" else f" (default {default})")
        options = {"dest": f.name, "default": None, "help": text.replace("%", "%%")}
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        else:
            if kind in ("positive_int", "positive_float"):
                options["type"] = _positive(kinds[kind], most=meta["most"])
            elif kind in kinds:
                options["type"] = kinds[kind]
            if meta["metavar"]:
                options["metavar"] = meta["metavar"]
        groups[meta["group"]].add_argument(flag(f), **options)
        for alias in meta.get("aliases", ()):  # former names: accepted, not shown
            groups[meta["group"]].add_argument(alias, **{**options, "help": argparse.SUPPRESS})
    p.set_defaults(func=_cmd_train)


# --- lwc inspect ---------------------------------------------------------------------------------

def _cmd_inspect(args):
    from .compiler import dump, passes
    from .compiler.stats import format_stats

    net = _load_net(args.net)
    sys.stdout.write(format_stats(net, args.net))
    if args.ir:
        sys.stdout.write("\n" + dump(passes.run(net)))


def _add_inspect(sub):
    p = sub.add_parser("inspect", help="show layers, sparsity, fan-in and dead neurons of net.pt")
    _add_net(p)
    p.add_argument("--ir", action="store_true", help="also print the compiled IR")
    p.set_defaults(func=_cmd_inspect)


# --- lwc compile ---------------------------------------------------------------------------------

def _cmd_compile(args):
    from .boards.registry import DEFAULT_BOARDS
    from .compile import compile_net

    net = _load_net(args.net)
    where = (args.target if args.target in ("verilog", "asic") else
             args.board or DEFAULT_BOARDS[args.target or "ice40"])
    out = args.output or _default_dir(args, net, where)
    # Sharing is on by default; only --no-share passes the option (see compile_net's share).
    sharing = {"share": False} if args.no_share else {}
    result = compile_net(net, out, target=args.target, board=args.board, clock_mhz=args.fmax,
                         tables=args.tables,
                         seed=args.seed, baud=args.baud, register_every=args.register_every,
                         architecture=args.architecture,
                         features_per_cycle=args.features_per_cycle, lanes=args.lanes,
                         weights=args.weights, tail=args.tail, dsp=args.dsp,
                         force=args.force,
                         source=args.net,
                         progress=_say, **sharing)
    _say("")
    _say(result.table())


def _add_compile(sub):
    from .boards.registry import BOARDS
    from .compile import TARGETS

    p = sub.add_parser("compile", help="compile net.pt to Verilog, an FPGA bitstream or "
                       "generic ASIC gates")
    _add_net(p)
    p.add_argument("--target", default=None, choices=TARGETS,
                   help="default: the family of --board, else ice40")
    p.add_argument("--board", default=None, help=f"board ({', '.join(BOARDS)}); default for "
                   "ice40: icebreaker, for ecp5: ulx3s")
    p.add_argument("-o", "--output", default=None, metavar="DIR", help="output directory "
                   "(default build/<name>-<fingerprint>-<board or target>: the net's file name, "
                   "or its folder's for net.pt, and 8 hex digits of what the net computes)")
    p.add_argument("--force", action="store_true", help="build into a directory that holds "
                   "files lwc did not write (they are kept), or the build of another net "
                   "(replaced), or build a design the estimate says does not fit")
    _add_fmax(p)
    p.add_argument("--register-every", type=_positive(int), default=None,
                   help="pipeline register every N adder-tree levels (default: chosen for "
                   "--fmax on a board, one per layer otherwise)")
    p.add_argument("--no-share", action="store_true",
                   help="do not share sub-sums between the neurons of a layer")
    p.add_argument("--baud", type=_positive(int), default=115200,
                   help="UART line rate (default 115200)")
    p.add_argument("--seed", type=_seed, default=1, help="nextpnr placement seed (default 1)")
    _add_architecture_options(p)
    p.set_defaults(func=_cmd_compile)


def _add_fmax(p, built=""):
    p.add_argument("--fmax", type=_positive(float, most=1000), default=None,
                   help=f"timing target in MHz (default: the board clock){built}; pipeline "
                   "registers are chosen to reach it unless --register-every is given. On a "
                   "board whose clock pin feeds a PLL (icebreaker), a target above the "
                   "oscillator also runs the design from the PLL, at the closest frequency it "
                   "makes at or below it")


def _add_architecture_options(p):
    from .compiler.architecture import CHOICES, DSPS, TAILS, WEIGHTS
    from .compiler.passes import DEFAULT_TABLES, TABLES
    from .semantics import MAX_TABLE_BITS

    p.add_argument("--tables", choices=TABLES, default=DEFAULT_TABLES,
                   help="neurons built as truth tables over their input bits: off, auto (where "
                   "a LUT4 cost model finds the table cheaper than the sum and threshold) or "
                   f"all (every neuron of at most {MAX_TABLE_BITS} input bits); "
                   f"default {DEFAULT_TABLES}")

    p.add_argument("--architecture", default="auto", choices=CHOICES,
                   help="datapath: parallel (every layer in logic, 1 inference per cycle), "
                   "streaming (first layer from block RAM, for nets too big to be parallel), or "
                   "auto (default: parallel when the estimate fits the board, else streaming)")
    p.add_argument("--features-per-cycle", type=_positive(int), default=None, metavar="F",
                   help="streaming: input features per transfer (default 8)")
    p.add_argument("--lanes", type=_positive(int), default=None, metavar="L",
                   help="streaming: first-layer neurons computed at once (default: the most of "
                   "8, 4, 2, 1 that fits the board)")
    p.add_argument("--weights", default=None, choices=WEIGHTS,
                   help="streaming: where the first layer's weight table is stored: bram "
                   "(default; block RAM initialised by the bitstream) or spram (iCE40 UltraPlus "
                   "SPRAM, loaded at boot from weights.bin in the board's flash; implies "
                   "streaming)")
    p.add_argument("--tail", default=None, choices=TAILS,
                   help="streaming: the layer after the first in logic (parallel); folded "
                   "into the lanes, an accumulator per neuron fed as the lanes make their "
                   "activations (fold: no trees, 3 cycles more); or one first-layer neuron per "
                   "lane per cycle after the lanes from a ROM of output weights (sequential: "
                   "the fewest logic cells, about as many more cycles per inference as the "
                   "longest lane has neurons; only when the output layer follows the first). "
                   "fold and sequential imply streaming. auto (default): sequential when only "
                   "it fits the board, folded when a --fmax target needs it")
    p.add_argument("--dsp", default=None, choices=DSPS,
                   help="streaming: accumulators (the lanes', then the sequential or folded "
                   "layer's) in the board's DSP blocks (iCE40 UltraPlus SB_MAC16, two 16-bit "
                   "ones a block) where the estimate finds that saves logic cells (auto), or "
                   "all in logic (off, the default)")


def _design(net, args, board, register_every=None):
    """``net`` compiled once, with the datapath that 'lwc compile' with these options (and
    ``register_every``) would build for ``board`` (a Board, or None for plain Verilog)."""
    import functools

    from .boards.plan import plan_architecture
    from .compiler.driver import compile_design

    planner = functools.partial(plan_architecture, board=board, architecture=args.architecture,
                                features_per_cycle=args.features_per_cycle, lanes=args.lanes,
                                weights=args.weights, tail=args.tail, dsp=args.dsp,
                                progress=_say)
    return compile_design(net, planner=planner, tables=args.tables,
                          register_every=register_every)


# --- lwc flash -----------------------------------------------------------------------------------

def _cmd_flash(args):
    from .boards.flash import flash

    flash(args.dir, args.board, progress=_say)


def _add_flash(sub):
    from .boards.registry import BOARDS

    p = sub.add_parser("flash", help="program a bitstream built by 'lwc compile' onto a board")
    p.add_argument("dir", help="the build directory of 'lwc compile' (holds top.bin or top.bit "
                   "and lwc-build.json)")
    p.add_argument("--board", default=None, help=f"board ({', '.join(BOARDS)}); default: the "
                   "one the build was made for (its lwc-build.json), which a --board given "
                   "must match")
    p.set_defaults(func=_cmd_flash)


# --- vectors for lwc sim / lwc run ---------------------------------------------------------------

def _add_vector_options(p):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--vectors", type=_positive(int), default=None, metavar="N",
                       help="N random input vectors instead of the net's own test set")
    group.add_argument("--npy", default=None, metavar="FILE",
                       help="input vectors from a .npy file (integers, or raw float features)")
    group.add_argument("--csv", default=None, metavar="FILE",
                       help="the training CSV of a CSV-trained net, to rebuild its test set from "
                       "(the one its provenance names is read only from the net's folder)")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (mnist, fashion)")
    p.add_argument("--seed", type=_seed, default=0,
                   help="seed for random vectors and stalls (default 0)")


def _vectors(net, args):
    """``(vectors, labels or None, description)`` chosen by the options of _add_vector_options."""
    from .sim.cocotb_sim import load_vectors, random_vectors, test_set

    if args.npy is not None:
        x = load_vectors(args.npy, net)
        return x, None, f"{len(x)} vectors from {args.npy}"
    if args.vectors is not None:
        return random_vectors(net, args.vectors, seed=args.seed), None, \
            f"{args.vectors} random vectors"
    x, y = test_set(net, data_dir=args.data_dir, csv=args.csv, net_path=args.net)
    return x, y, f"the {net.meta('dataset')} test set ({len(x)} vectors)"


# --- lwc sim -------------------------------------------------------------------------------------

def _cmd_sim(args):
    from .outdir import check_dir
    from .sim.cocotb_sim import simulate

    if args.fmax is not None and args.board is None:
        raise UsageError("--fmax needs --board: the clock target is that board's")
    if args.waves and args.processes > 1:
        raise UsageError("--waves records one simulation: leave out --processes")
    net = _load_net(args.net)
    x, _, what = _vectors(net, args)
    build_dir = args.build_dir or _default_dir(args, net, "netlist" if args.netlist else "sim")
    check_dir(build_dir, "build directory")
    board = None
    if args.board is not None:
        from .boards.registry import get_board
        board = get_board(args.board)
    design = _design(net, args, board, args.register_every)
    if args.fmax is not None:
        from .compile import clock_design
        design, _, _ = clock_design(design, board, args.fmax, progress=_say)
    if args.netlist:
        report = _sim_netlist(design, x, what, build_dir, args)
    else:
        simulator = args.simulator or "verilator"
        _say(f"simulating {args.net} on {what} with {simulator}")
        report = simulate(design, x, simulator=simulator, waves=args.waves, build_dir=build_dir,
                          seed=args.seed, processes=args.processes, progress=_say)
    _say(report.format())
    return 0 if report.ok else 1


def _yosys():
    """``(yosys executable, its environment)`` as lwc.boards.toolchain chooses them."""
    from .boards.toolchain import is_cold, tool_path, toolchain_env

    env = toolchain_env()
    yosys = tool_path("yosys", env)
    if is_cold("yosys", env):
        _say("  yosys: first run compiles the WebAssembly toolchain (about a minute, once)")
    return yosys, env


def _sim_netlist(design, x, what, build_dir, args):
    from .sim import gatelevel

    simulator = args.simulator or gatelevel.default_simulator()
    _say(f"simulating the iCE40 netlist of {args.net} on {what} with {simulator}")
    yosys, env = _yosys()
    return gatelevel.simulate(design, x, yosys=yosys, env=env, build_dir=build_dir,
                              simulator=simulator, waves=args.waves, seed=args.seed,
                              processes=args.processes, progress=_say)


def _add_sim(sub):
    p = sub.add_parser("sim", help="prove the generated Verilog against the golden model (cocotb)")
    _add_net(p)
    _add_vector_options(p)
    p.add_argument("--simulator", default=None, choices=("verilator", "icarus"),
                   help="default verilator; icarus with --netlist (when installed)")
    p.add_argument("--netlist", action="store_true", help="simulate the iCE40 netlist Yosys "
                   "synthesizes (synth_ice40) with its cell models, not the Verilog")
    p.add_argument("--waves", action="store_true", help="write a waveform (FST or VCD)")
    p.add_argument("--build-dir", default=None, metavar="DIR", help="default "
                   "build/<name>-<fingerprint>-sim (-netlist with --netlist; see lwc compile -o)")
    p.add_argument("--board", default=None, help="with --architecture auto: simulate the "
                   "datapath 'lwc compile' builds for this board (without it: parallel)")
    p.add_argument("--register-every", type=_positive(int), default=None,
                   help="pipeline register every N adder-tree levels, as 'lwc compile' "
                   "built it (see the pipelining line of its report; default one per layer, "
                   "or chosen for --fmax)")
    _add_fmax(p, built=", with --board: the design 'lwc compile --fmax' builds first")
    p.add_argument("--processes", type=_positive(int), default=1, metavar="N",
                   help="split the vectors over N simulator processes (default 1)")
    _add_architecture_options(p)
    p.set_defaults(func=_cmd_sim)


# --- lwc verify ----------------------------------------------------------------------------------

def _cmd_verify(args):
    from .compiler.driver import compile_design
    from .outdir import check_dir
    from .sim.formal import check_size, prove_equivalent

    net = _load_net(args.net)
    work_dir = args.work_dir or _default_dir(args, net, "formal")
    check_dir(work_dir, "work directory")
    check_size(net)  # before compiling: a proof is for small nets
    design = compile_design(net, register_every=args.register_every)
    _say(f"proving the generated design of {args.net} equal to its naive reference")
    yosys, env = _yosys()
    report = prove_equivalent(design, yosys=yosys, env=env, work_dir=work_dir,
                              timeout=args.timeout, progress=_say)
    _say(report.format())
    return 0 if report.proved else 1


def _add_verify(sub):
    p = sub.add_parser("verify", help="prove the generated design equal to a naive reference "
                       "for all inputs (Yosys SAT; small nets)")
    _add_net(p)
    # Formal equivalence is the one check verify runs, so it is the default; --formal is kept as
    # a no-op for the command lines written when it was required.
    p.add_argument("--formal", action="store_true", default=True,
                   help="formal equivalence (the default; accepted for compatibility)")
    p.add_argument("--register-every", type=_positive(int), default=None,
                   help="pipeline register every N adder-tree levels (default: one per layer)")
    p.add_argument("--timeout", type=_positive(float), default=600.0,
                   help="seconds each proof may take (default 600)")
    p.add_argument("--work-dir", default=None, metavar="DIR",
                   help="default build/<name>-<fingerprint>-formal (see lwc compile -o)")
    p.set_defaults(func=_cmd_verify)


# --- lwc run -------------------------------------------------------------------------------------

def _cmd_run(args):
    from .boards.run import run_vectors

    net = _load_net(args.net)
    x, y, what = _vectors(net, args)
    _say(f"sending {what} to {args.port} at {args.baud} baud")
    report = run_vectors(args.port, net, x, baud=args.baud, timeout=args.timeout,
                         scores=args.scores, labels=y)
    _say(report.summary())
    return 0 if report.disagreements == 0 else 1


def _add_run(sub):
    p = sub.add_parser("run", help="classify vectors on a board over its UART, compare with "
                       "the golden model")
    _add_net(p)
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1")
    _add_vector_options(p)
    p.add_argument("--baud", type=_positive(int), default=115200,
                   help="line rate the bitstream was built for (lwc compile --baud; default "
                   "115200)")
    p.add_argument("--timeout", type=_positive(float), default=1.0,
                   help="seconds the board may take for the oldest request in flight, from its "
                   "sending or the board's previous answer, before it is resent (default 1)")
    p.add_argument("--scores", action="store_true", help="also read and compare the scores")
    p.set_defaults(func=_cmd_run)


# --- lwc demo ------------------------------------------------------------------------------------

def _cmd_demo(args):
    from .demo import run_demo

    overrides = {key: value for key, value in (("hidden", args.hidden),
                                               ("sparsity", args.sparsity)) if value is not None}
    result = run_demo(args.dataset, args.output or os.path.join("build", args.dataset),
                      board=args.board, data_dir=args.data_dir, net_path=args.net,
                      simulator=args.simulator, gate_level=args.gate_level,
                      architecture=args.architecture, weights=args.weights, baud=args.baud,
                      seed=args.seed, force=args.force, train_options=overrides, progress=_say)
    if not result.ok:
        return 1
    _say("\n== summary " + "=" * 62)
    _say(result.table())
    return 0


def _add_demo(sub):
    from .boards.registry import BOARDS
    from .compiler.architecture import CHOICES, WEIGHTS
    from .demo import RECIPES

    p = sub.add_parser("demo", help="train, verify in cocotb and build a bitstream, in one go")
    p.add_argument("dataset", nargs="?", default="digits", metavar="recipe",
                   help=f"one of {', '.join(RECIPES)}: digits (default, bundled), mnist (needs "
                   "--data-dir), or mnist-spram (the same, a larger net whose weights are loaded "
                   "from flash at boot into the UP5K's SPRAM)")
    p.add_argument("-o", "--output", default=None,
                   help="output directory (default build/<recipe>)")
    p.add_argument("--board", default="icebreaker", choices=tuple(BOARDS),
                   help="board to build the bitstream for (default icebreaker)")
    p.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"),
                   help="simulator of the cocotb proof (default verilator)")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (mnist)")
    p.add_argument("--net", default=None, metavar="FILE",
                   help="use this net.pt (trained on the same dataset) instead of training one")
    # The recipe's sizes (lwc.demo.RECIPES) fit the board; these override them.
    p.add_argument("--hidden", type=_sizes, default=None, help="hidden sizes (default: the "
                   "recipe's, 64 for digits)")
    p.add_argument("--sparsity", type=_fraction, default=None,
                   help="target zero-weight fraction (default: the recipe's, 0.87 for digits)")
    p.add_argument("--gate-level", default=None, action=argparse.BooleanOptionalAction,
                   help="also simulate the synthesized iCE40 netlist on the whole test set "
                   "(default: on for the mnist recipes)")
    p.add_argument("--architecture", default="auto", choices=CHOICES,
                   help="datapath, as for lwc compile (default auto: parallel when the "
                   "estimate fits the board, else streaming)")
    p.add_argument("--weights", default=None, choices=WEIGHTS,
                   help="where a streaming first layer's weight table is stored, as for lwc "
                   "compile: bram or spram (default: the recipe's; spram for mnist-spram)")
    p.add_argument("--baud", type=_positive(int), default=115200,
                   help="UART line rate (default 115200)")
    p.add_argument("--seed", type=_seed, default=0, help="training seed, also of the "
                   "simulation's random stalls (default 0)")
    p.add_argument("--force", action="store_true", help="build the bitstream into a directory "
                   "that holds files lwc did not write, or a design the estimate says does not "
                   "fit the board")
    p.set_defaults(func=_cmd_demo)


# --- lwc sweep -----------------------------------------------------------------------------------

def _cmd_sweep(args):
    from .sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    out = args.output or os.path.join("build", f"sweep-{spec.name}")
    status = _StatusLine() if sys.stdout.isatty() else _say
    try:
        result = run_sweep(spec, out, backend="serial" if args.no_ray else "ray",
                           address=args.address, num_cpus=args.cpus,
                           cpus_per_task=args.cpus_per_task, place=args.place, prove=args.prove,
                           simulator=args.simulator, retry_failed=args.retry_failed,
                           progress=_say, status=status)
    finally:
        if isinstance(status, _StatusLine):
            status.end()
    _say("")
    _say(result.table())
    _say(f"wrote {os.path.join(out, 'results.csv')}, results.json and pareto.png")
    return 0


class _StatusLine:
    """A progress line redrawn in place on a terminal."""

    def __init__(self):
        self.shown = False

    def __call__(self, line):
        sys.stdout.write("\r\x1b[K" + line)
        sys.stdout.flush()
        self.shown = True

    def end(self):
        if self.shown:
            sys.stdout.write("\n")
            self.shown = False


def _add_sweep(sub):
    p = sub.add_parser("sweep", help="train and estimate many points, on Ray; the "
                       "accuracy-versus-hardware front, placed and proven if asked",
                       description="Run every point of a sweep spec (TOML: a dataset, a grid "
                       "and/or a list of points over lwc train and compile options) through "
                       "training, the compiler passes and the resource estimate; write "
                       "results.csv, results.json and pareto.png to DIR. Points are cached by "
                       "the hash of their options: a re-run resumes. See examples/"
                       "sweep_digits.toml.")
    p.add_argument("spec", help="the sweep spec (TOML)")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="output directory (default build/sweep-<the spec's name>)")
    p.add_argument("--no-ray", action="store_true",
                   help="run the points one after another in this process, without Ray")
    p.add_argument("--address", default=None, help="join the Ray cluster at this address "
                   "(default: start a local Ray on this machine's cores)")
    p.add_argument("--cpus", type=_positive(int), default=None, metavar="N",
                   help="CPUs of the local Ray (default: all of this machine's)")
    p.add_argument("--cpus-per-task", type=_positive(int), default=1, metavar="N",
                   help="CPUs, and torch threads, of each training (default 1)")
    p.add_argument("--place", nargs="?", const="front", default=None, choices=("front", "all"),
                   help="synthesize and place-and-route the front points (or all): LUT4, "
                   "logic cells and Fmax")
    p.add_argument("--prove", action="store_true", help="simulate each front point's Verilog "
                   "in cocotb on its whole test set against the golden model (lwc sim)")
    p.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"),
                   help="simulator of --prove (default verilator)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the points recorded as failed")
    p.set_defaults(func=_cmd_sweep)


# --- entry point ---------------------------------------------------------------------------------

_COMMANDS = {"demo": _add_demo, "train": _add_train, "inspect": _add_inspect, "sim": _add_sim,
             "verify": _add_verify, "compile": _add_compile, "flash": _add_flash, "run": _add_run,
             "sweep": _add_sweep}
# The one-line help of every command, for the command list. A command's own parser is built only
# when that command runs (its options import what the command needs: the boards, training), so
# `lwc --help` and `lwc train` import neither Amaranth nor amaranth-boards. Each line is the help
# its _add_* function gives (tests/cli/test_cli.py checks that they agree).
_SUMMARIES = {
    "demo": "train, verify in cocotb and build a bitstream, in one go",
    "train": "train a sparse ternary network and export net.pt",
    "inspect": "show layers, sparsity, fan-in and dead neurons of net.pt",
    "sim": "prove the generated Verilog against the golden model (cocotb)",
    "verify": "prove the generated design equal to a naive reference for all inputs (Yosys SAT; "
              "small nets)",
    "compile": "compile net.pt to Verilog, an FPGA bitstream or generic ASIC gates",
    "flash": "program a bitstream built by 'lwc compile' onto a board",
    "run": "classify vectors on a board over its UART, compare with the golden model",
    "sweep": "train and estimate many points, on Ray; the accuracy-versus-hardware front, placed "
             "and proven if asked",
}


def build_parser(command=None):
    """The ``lwc`` parser: every command's options, or with ``command``, only that one's (the
    others listed by name and help)."""
    parser = argparse.ArgumentParser(
        prog="lwc",
        description="Compile trained sparse ternary neural networks into FPGA gateware.")
    parser.add_argument("--version", action="version", version=f"lwc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, add in _COMMANDS.items():
        if command is None or name == command:
            add(sub)
        else:
            sub.add_parser(name, help=_SUMMARIES[name])
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # The command is the first word that is not an option (lwc's own options take no value).
    command = next((a for a in argv if not a.startswith("-")), "")
    parser = build_parser(command)
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        status = args.func(args) or 0
    except LwcError as exc:
        # One line, whatever the message quotes (a path may hold a newline).
        text = str(exc).replace("\r", "\\r").replace("\n", "\\n")
        print(f"lwc: error: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lwc: interrupted", file=sys.stderr)
        return 130
    if os.environ.get("LWC_TIMING"):
        print(f"lwc {args.command}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
