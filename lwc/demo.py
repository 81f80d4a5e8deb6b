"""``lwc demo``: the whole path in one go — train (or load) a net, prove its generated hardware
bit-exact against the golden model on the whole test set (cocotb, and optionally the synthesized
iCE40 netlist), build the board bitstream behind the UART front end, and print one table.

Each demo has a *recipe*: the dataset, the training options that make a net which fits the board,
and where its weights live. The recipes are the documented way to reproduce the README's figures
(``docs/benchmarks.md``).
"""

import functools
import os
import time
from dataclasses import dataclass, field

__all__ = ["RECIPES", "DemoResult", "run_demo", "uart_images_per_second"]

#: The demos by name: ``dataset``, training options (``train``, see :class:`lwc.train.TrainConfig`),
#: whether the demo also simulates the netlist (``gate_level``), and where a streaming network's
#: first-layer table is stored (``weights``: ``"bram"``, or ``"spram"`` loaded from flash at boot).
RECIPES = {
    # 64 hidden neurons at 87% zeros: fully parallel, about 70% of the UP5K's logic cells with
    # the UART front end; about 95% test accuracy.
    "digits": {"dataset": "digits", "train": {"hidden": (64,), "sparsity": 0.87},
               "gate_level": False, "weights": "bram"},
    # MNIST: 784 inputs do not fit the UP5K in parallel; the streaming architecture keeps the
    # first layer's weights in block RAM (about 6 bits per nonzero weight, in 4 kbit blocks). A
    # wide, very sparse first layer (512 neurons at 98.85% zeros: the per-layer cut starves
    # about half of them, and the net keeps the ones it needs) and a 20% dense output layer give
    # about 5,600 nonzero weights; training images shifted by up to 1 pixel (2 cost this net 1.4
    # points); batch 256 (a quarter of the steps of the default 64: 98.01 / 98.01 / 97.92% for
    # seeds 0-2 against 98.24 / 97.95% for seeds 0 / 1 at 64). 98.01% test accuracy; training
    # took 82.5 s on one CPU core in the measured demo (523.6 s at batch 64 before).
    "mnist": {
        "dataset": "mnist",
        "train": {"method": "ste", "hidden": (512,), "sparsity": 0.9885, "output_sparsity": 0.8,
                  "input_bits": 2, "augment": 1, "epochs": 60, "lr": 0.03, "batch_size": 256,
                  "threads": 1},
        "gate_level": True, "weights": "bram",
    },
    # MNIST with the first layer's table in SPRAM, loaded from the board's flash at boot: four
    # times the weights of "mnist" (95% zeros, about 20,000 nonzero: a 23 kB table, more than the
    # UP5K's 30 block RAMs hold at the streaming datapath's 6 bits an entry) for 98.40% (the
    # MNIST sweep's point of these options, examples/sweep_mnist.toml); 4 lanes fit beside the
    # loader, about 2,000 images/s at 12 MHz.
    "mnist-spram": {
        "dataset": "mnist",
        "train": {"method": "ste", "hidden": (512,), "sparsity": 0.95, "output_sparsity": 0.8,
                  "input_bits": 2, "augment": 1, "epochs": 30, "lr": 0.03, "batch_size": 256,
                  "threads": 1},
        "gate_level": True, "weights": "spram",
    },
}


def uart_images_per_second(request_bytes, response_bytes, baud, cycles, clock_hz):
    """Inferences per second through an 8N1 UART when the host keeps requests back to back (the
    board computes one while the next arrives): the slower of the request line, the response
    line and the network."""
    line = baud / 10  # bytes per second, each way
    return min(line / request_bytes, line / response_bytes, clock_hz / cycles)


@dataclass
class DemoResult:
    """What :func:`run_demo` did: ``rows`` of the summary table, ``ok`` when every proof held."""

    ok: bool = True
    rows: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    def table(self):
        return "\n".join(f"{key:<24} {value}" for key, value in self.rows)


def run_demo(name, out, *, board="icebreaker", data_dir=None, net_path=None, simulator=None,
             gate_level=None, architecture="auto", weights=None, baud=115200, seed=0,
             force=False, train_options=None, processes=None, progress=print):
    """Run the demo ``name`` (a key of :data:`RECIPES`) into the directory ``out``; return a
    :class:`DemoResult`.

    ``net_path`` loads that net instead of training one (its dataset must be the recipe's);
    ``train_options`` override the recipe's. ``gate_level`` (default: the recipe's) also
    simulates the synthesized iCE40 netlist on the whole test set. ``weights`` (default: the
    recipe's) is where a streaming network's first-layer table is stored, as for ``lwc compile
    --weights``; with ``"spram"`` the simulations boot it from the flash model and the table gains
    a ``boot`` row: the simulated load's cycles at the board's clock. ``simulator`` defaults to
    Verilator (the fast one; 10,000 MNIST images take minutes, not hours); ``processes``
    (default: two where the machine has two cores) splits the test set over that many
    simulator processes.
    """
    from .boards.plan import check_estimate, plan_architecture
    from .boards.registry import get_board
    from .compile import write_design
    from .compiler import netfile
    from .compiler.driver import compile_design
    from .errors import UsageError
    from .outdir import NET_FILE, check_dir, claim, net_file
    from .sim.cocotb_sim import simulate, test_set
    from .train import TrainConfig, train_to_file

    if name not in RECIPES:
        raise UsageError(f"no demo named {name!r} (choose from: {', '.join(RECIPES)})")
    recipe = RECIPES[name]
    dataset = recipe["dataset"]
    gate_level = recipe["gate_level"] if gate_level is None else gate_level
    weights = recipe["weights"] if weights is None else weights
    simulator = simulator or "verilator"
    processes = processes or min(2, os.cpu_count() or 1)
    board_obj = get_board(board)
    # Every output path is checked before any work: the net file, the simulation folders, and
    # the build folder (files lwc did not write there are refused unless force).
    check_dir(out)
    for folder in ("sim", "netlist"):
        check_dir(os.path.join(out, folder), "build directory")
    claim(os.path.join(out, board), force)
    result = DemoResult()

    def step(title):
        progress(f"\n== {title} " + "=" * max(0, 70 - len(title)))
        result.seconds[title] = time.monotonic()

    def done(title):
        result.seconds[title] = time.monotonic() - result.seconds[title]

    accuracy = zero_fraction = None
    if net_path is None:
        step("train")
        net_path = net_file(os.path.join(out, NET_FILE))
        options = {**recipe["train"], **(train_options or {})}
        trained = train_to_file(TrainConfig(dataset=dataset, data_dir=data_dir, seed=seed,
                                            **options), net_path, progress=progress)
        accuracy, zero_fraction = trained.test_accuracy, trained.zero_fraction
        done("train")
    net = netfile.load(net_path)
    if net.meta("dataset") != dataset:
        raise UsageError(f"{net_path}: a net trained on {net.meta('dataset')!r}, not {dataset!r}")
    x, y = test_set(net, data_dir=data_dir)
    if accuracy is None:
        from .compiler import golden
        accuracy = float((golden.predict(net, x) == y).mean())
    # Compiled once: the simulations and the board build all take this design.
    design = compile_design(net, planner=functools.partial(
        plan_architecture, board=board_obj, architecture=architecture, weights=weights,
        progress=progress))
    check_estimate(design, board_obj, force=force, progress=progress)  # before the simulations

    step("verify (cocotb)")
    sim = simulate(design, x, simulator=simulator, build_dir=os.path.join(out, "sim"), seed=seed,
                   progress=progress, processes=processes)
    progress(sim.format())
    done("verify (cocotb)")
    result.ok = sim.ok
    netlist = None
    if gate_level and result.ok:
        step("verify (gate level)")
        netlist = _gate_level(design, x, os.path.join(out, "netlist"), seed, processes, progress)
        progress(netlist.format())
        done("verify (gate level)")
        result.ok = netlist.ok
    if not result.ok:
        return result

    compile_step = f"compile ({board_obj.family.name})"
    step(compile_step)
    # The build folder is the demo's own: it holds the build of the net the demo made before.
    compiled_build = write_design(design, os.path.join(out, board), board=board_obj, seed=1,
                                  baud=baud, force=force, replace=True, source=net_path,
                                  progress=progress)
    done(compile_step)
    build, facts = compiled_build.build, compiled_build.facts
    clock_hz = build.clock_mhz * 1e6
    cycles = facts.cycles_per_inference
    top_bytes = (5 + net.input.count, 4)
    result.rows = [
        ("dataset", f"{dataset}: {len(x)} test images"),
        ("test accuracy", f"{100 * accuracy:.2f}% (integer net, golden model)"),
        ("nonzero weights", f"{facts.nonzero_weights}"
                            + ("" if zero_fraction is None else
                               f" ({100 * zero_fraction:.1f}% zeros)")),
        ("architecture", facts.architecture_text()),
        ("cocotb", f"{sim.vectors - sim.mismatches}/{sim.vectors} identical to the golden model "
                   f"({simulator}, {sim.vectors_per_second:,.0f} images/s)"),
    ]
    if netlist is not None:
        result.rows.append(("gate level", f"{netlist.vectors - netlist.mismatches}/"
                                          f"{netlist.vectors} identical (synth_ice40 netlist, "
                                          f"{netlist.simulator})"))
    result.rows += [
        ("board", f"{build.board} ({build.device})"),
        ("logic cells", f"{build.logic_cells.used} / {build.logic_cells.available} "
                        f"({build.logic_cells.percent:.0f}%)"),
        ("block RAM", f"{build.block_ram.used} / {build.block_ram.available}"),
        *([("SPRAM", f"{build.spram.used} / {build.spram.available}")]
          if design.weights == "spram" else []),
        ("LUT4 / FF / carry", f"{build.lut4.used} / {build.ff.used} / {build.carry.used}"),
        ("Fmax", f"{build.fmax_mhz:.1f} MHz (clock {build.clock_mhz:g} MHz, "
                 f"{'met' if build.timing_met else 'NOT met'})"),
        ("cycles per image", f"{cycles:,} (latency {facts.latency:,} cycles)"),
        ("images/s at Fmax", f"{build.fmax_mhz * 1e6 / cycles:,.0f}"),
        ("images/s at the clock", f"{clock_hz / cycles:,.0f}"),
        ("images/s over UART", f"{uart_images_per_second(*top_bytes, baud, cycles, clock_hz):,.1f}"
                               f" ({baud} baud, {top_bytes[0]}-byte requests)"),
    ]
    if design.weights == "spram":
        # The load as simulated, in the proof above (tests/sim/test_cocotb_spram_network.py
        # proves it equal to the loader's rule, StreamingNetwork.boot_cycles).
        result.rows.append(("boot", f"{1e3 * sim.boot_cycles / clock_hz:.1f} ms "
                                    f"({sim.boot_cycles:,} cycles: {facts.table_bytes:,}-byte "
                                    f"table read from flash and checked)"))
    result.rows += [
        ("bitstream", build.bitstream),
    ]
    result.rows += [(f"time: {name}", f"{secs:.1f} s") for name, secs in result.seconds.items()]
    return result


def _gate_level(design, x, build_dir, seed, processes, progress):
    from .boards.toolchain import tool_path, toolchain_env
    from .sim import gatelevel

    env = toolchain_env()
    return gatelevel.simulate(design, x, yosys=tool_path("yosys", env), env=env,
                              build_dir=build_dir, simulator="verilator", seed=seed,
                              processes=processes, progress=progress)
