"""Formal equivalence: the generated ``lwc_net`` equals the naive reference for *all* inputs.

:func:`prove_equivalent` writes three Verilog modules into a work directory: the generated design
(a :class:`~lwc.compiler.driver.CompiledDesign`'s Verilog, from its hardware plan),
the naive reference (:func:`lwc.compiler.naive.write_verilog` from the IR as given, no pass run,
with the generated design's latency) and a miter that drives both with the same ``rst``,
``i.valid``, ``i.payload`` and ``o.ready`` and outputs ``ok``: the two agree on ``i.ready`` and
``o.valid``, and, whenever ``o.valid`` is high, on the label and every score. Yosys
(``prep -flatten``, ``opt -full``, then ``sat``) proves ``ok`` always high, in two parts:

``pipeline`` (unbounded)
    With ``o.ready`` held high, k-induction (``sat -tempinduct``) from power-up (every register
    zero, as the iCE40 configures them and as both designs declare): for every sequence of inputs,
    valid bits and resets, of any length, ``ok`` holds at every cycle. The induction closes at
    about the latency: by then every register of a stall-free pipeline is a function of the
    inputs alone.
``back-pressure`` (bounded)
    With ``o.ready`` free as well, every sequence of ``latency + 3`` cycles from power-up
    (``sat -seq``): an output is held while ``o.ready`` is low, the pipeline stalls, and resumes.
    Unbounded stalls are not proven by induction (an arbitrary held state defeats it); both
    designs freeze every register while stalled, and the cocotb tests exercise long stalls.

A failed proof yields a :class:`Counterexample`: the cycle-by-cycle inputs Yosys found, the input
vector whose output disagrees, both designs' outputs for it, and the golden model's. SAT on
arithmetic grows quickly with width, so nets above :data:`LIMITS` are refused before anything
runs; the caller passes the Yosys executable (the CLI passes the one :mod:`lwc.boards.toolchain`
selects; lwc's simulation code does not choose synthesis tools).
"""

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lwc.compiler import golden, naive
from lwc.compiler.ir import dense_weights
from lwc.compiler.lower import TOPLEVEL
from lwc.errors import BuildError, ToolchainError, UsageError

__all__ = ["LIMITS", "PROOFS", "Step", "Counterexample", "FormalReport", "check_size",
           "prove_equivalent"]

#: The largest network :func:`prove_equivalent` takes by default, counted on the net as given
#: (before any pass): input bits (``count * bits``), the largest fan-in (nonzero weights of one
#: neuron), nonzero weights and neurons. Bit-level SAT on sums grows steeply with fan-in and input
#: width: a net at these limits proves in seconds to tens of seconds.
LIMITS = {"input_bits": 16, "fan_in": 12, "weights": 96, "neurons": 32}
#: The proofs, in the order they run (see the module docstring).
PROOFS = ("pipeline", "back-pressure")

REFERENCE = "lwc_naive"
MITER = "lwc_miter"


@dataclass(frozen=True)
class Step:
    """One cycle of a counterexample: the miter's inputs and each design's outputs.

    ``inputs`` is the input vector on ``i.payload`` (one int per feature). ``generated`` and
    ``reference`` are ``(i.ready, o.valid, label, scores)``.
    """

    rst: int
    valid: int
    ready: int
    inputs: tuple[int, ...]
    generated: tuple[int, int, int, tuple[int, ...]]
    reference: tuple[int, int, int, tuple[int, ...]]


@dataclass(frozen=True)
class Counterexample:
    """Inputs from power-up under which the two designs disagree, at cycle ``cycle`` (1-based).

    ``vector`` is the input vector whose output disagrees (``None`` when the designs disagree on
    the handshake instead); ``golden`` is the golden model's ``(label, scores)`` for it.
    """

    proof: str
    cycle: int
    steps: tuple[Step, ...]
    vector: tuple[int, ...] | None
    golden: tuple[int, tuple[int, ...]] | None

    def format(self):
        """A few lines: what disagrees, on which input, and the trace."""
        bad = self.steps[self.cycle - 1]
        gen, ref = bad.generated, bad.reference
        lines = [f"counterexample ({self.proof} proof), cycle {self.cycle} from power-up:"]
        if gen[:2] != ref[:2]:
            lines.append(f"  handshake differs: generated i.ready={gen[0]} o.valid={gen[1]}, "
                         f"reference i.ready={ref[0]} o.valid={ref[1]}")
        if self.vector is not None:
            lines.append(f"  input     {list(self.vector)}")
            lines.append(f"  generated label {gen[2]} scores {list(gen[3])}")
            lines.append(f"  reference label {ref[2]} scores {list(ref[3])}")
            lines.append(f"  golden    label {self.golden[0]} scores {list(self.golden[1])}")
        lines.append("  cycle rst i.valid o.ready i.payload")
        for t, step in enumerate(self.steps, 1):
            lines.append(f"  {t:5} {step.rst:3} {step.valid:7} {step.ready:7} "
                         f"{list(step.inputs)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class FormalReport:
    """What :func:`prove_equivalent` found.

    ``verdicts`` maps each proof of :data:`PROOFS` to ``"proved"``, ``"counterexample"`` or
    ``"undecided"`` (the solver timed out, or the induction did not close within
    ``induction_limit`` steps); ``counterexample`` is that of the first proof that found one.
    ``size`` is what :func:`check_size` counted.
    """

    proved: bool
    verdicts: dict
    counterexample: Counterexample | None
    latency: int
    induction_limit: int
    depth: int
    seconds: float
    work_dir: Path
    size: dict

    def format(self):
        """Lines for the CLI: the verdict of each proof, then the counterexample if any."""
        z = self.size
        size = (f"{z['input_bits']} input bits, fan-in up to {z['fan_in']}, {z['weights']} "
                f"weights, {z['neurons']} neurons")
        lines = [f"formal equivalence of the generated lwc_net and the naive reference ({size}; "
                 f"latency {self.latency}): {self.seconds:.1f} s"]
        what = {"pipeline": f"all input sequences, o.ready high (k-induction, up to "
                            f"{self.induction_limit} steps)",
                "back-pressure": f"all input and o.ready sequences of {self.depth} cycles"}
        for proof in PROOFS:
            if proof in self.verdicts:
                lines.append(f"  {proof:<13} {self.verdicts[proof]:<14} {what[proof]}")
        lines.append("PROVED: the generated design equals the naive reference for all inputs"
                     if self.proved else "NOT PROVED")
        if self.counterexample is not None:
            lines.append(self.counterexample.format())
        lines.append(f"work directory: {self.work_dir}")
        return "\n".join(lines)


_LABELS = {"input_bits": "input bits", "fan_in": "inputs to one neuron",
           "weights": "nonzero weights", "neurons": "neurons"}


def _size(net):
    rows = [np.count_nonzero(dense_weights(net, k), axis=1) for k in range(len(net.layers))]
    return {"input_bits": net.input.count * net.input.bits,
            "fan_in": int(max((r.max(initial=0) for r in rows), default=0)),
            "weights": int(sum(r.sum() for r in rows)),
            "neurons": sum(layer.size for layer in net.layers)}


def check_size(net, limits=None):
    """The size of ``net`` as :data:`LIMITS` counts it, or :class:`UsageError` when it is over
    ``limits`` (a dict like :data:`LIMITS`; ``None`` for :data:`LIMITS`)."""
    size = _size(net)
    for key, limit in (LIMITS if limits is None else limits).items():
        if size[key] > limit:
            label = _LABELS[key]
            raise UsageError(f"the net is too large for a formal proof: {size[key]} {label} "
                             f"(the limit is {limit}); use 'lwc sim' (with --netlist) instead")
    return size


def _miter(count, bits, classes, gen_widths, ref_widths):
    """The miter module: both designs on the same inputs, ``ok`` and their outputs as ports."""
    n_in = count * bits
    ports = []
    for side, (lw, sw) in (("gen", gen_widths), ("ref", ref_widths)):
        ports.append((side, lw, sw, lw + classes * sw))
    lines = [f"module {MITER}(clk, rst, i__payload, i__valid, o__ready, ok, gen_ready, gen_valid, "
             "gen_payload, ref_ready, ref_valid, ref_payload);",
             "  input clk;", "  input rst;", f"  input [{n_in - 1}:0] i__payload;",
             "  input i__valid;", "  input o__ready;", "  output ok;"]
    for side, _, _, width in ports:
        lines += [f"  output {side}_ready;", f"  output {side}_valid;",
                  f"  output [{width - 1}:0] {side}_payload;"]
    for side, _, _, _ in ports:
        module = TOPLEVEL if side == "gen" else REFERENCE
        lines.append(f"  {module} {side}(.clk(clk), .rst(rst), .i__payload(i__payload), "
                     f".i__valid(i__valid), .i__ready({side}_ready), "
                     f".o__payload({side}_payload), .o__valid({side}_valid), "
                     f".o__ready(o__ready));")
    for side, lw, sw, _ in ports:
        lines.append(f"  wire [{lw - 1}:0] {side}_label = {side}_payload[{lw - 1}:0];")
        for k in range(classes):
            lines.append(f"  wire signed [{sw - 1}:0] {side}_score{k} = "
                         f"{side}_payload[{lw + (k + 1) * sw - 1}:{lw + k * sw}];")
    # Scores of different widths are compared as signed values (sign-extended).
    same = " && ".join(["gen_label == ref_label"]
                       + [f"gen_score{k} == ref_score{k}" for k in range(classes)])
    lines.append("  assign ok = (gen_ready == ref_ready) && (gen_valid == ref_valid) && "
                 f"(!gen_valid || ({same}));")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _script(proof, induction_limit, depth):
    """The Yosys script of one proof: read and flatten the miter, then one ``sat`` call."""
    sat = "sat -prove ok 1 -set-init-zero -show-ports"
    if proof == "pipeline":
        sat += f" -set o__ready 1 -tempinduct -maxsteps {induction_limit}"
    else:
        sat += f" -seq {depth}"
    return "\n".join([
        f"read_verilog {TOPLEVEL}.v",
        f"read_verilog {REFERENCE}.v",
        f"read_verilog {MITER}.v",
        f"prep -flatten -top {MITER}",
        # Constant weights become wires and negations; registers become plain $dff for sat.
        "opt -full",
        "wreduce",
        "opt_clean",
        "dffunmap",
        "opt_clean",
        f"tee -q -o {proof}.log {sat} -dump_json {proof}.json",
    ]) + "\n"


def _run_yosys(yosys, env, work, script, timeout):
    """Run ``script`` (a file in ``work``); ``False`` when it ran out of time."""
    try:
        done = subprocess.run([str(yosys), "-q", "-l", f"{script}.log", "-s", script], cwd=work,
                              env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    except OSError as err:
        raise ToolchainError(f"yosys ({yosys}) could not be started: {err.strerror}") from None
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        first = next((line.strip() for line in lines if "ERROR" in line),
                     lines[-1].strip() if lines else "no output")
        raise BuildError(f"yosys failed (exit {done.returncode}): {first} "
                         f"(see {work / (script + '.log')})")
    return True


def _verdict(log_text):
    if "SUCCESS!" in log_text:
        return "proved"
    if "FAIL!" in log_text and "model found" in log_text:
        return "counterexample"
    return "undecided"


def _waves(path):
    """WaveJSON from ``sat -dump_json``: signal name -> list of values (str, or None when the
    step has none), index 0 being the initial state."""
    doc = json.loads(Path(path).read_text())
    waves = {}
    for signal in doc["signal"]:
        data, k, values, last = signal.get("data", []), 0, [], None
        for ch in signal["wave"]:
            if ch == ".":
                values.append(last)
                continue
            if ch == "=":
                last = data[k]
            elif ch == "4":
                last = None
            else:
                last = ch
            if ch in "=4" and data:
                k += 1
            values.append(last)
        waves[signal["name"]] = values
    return waves


def _unpack(bits, lw, sw, classes):
    value = int(bits, 2) if bits else 0
    label = value & ((1 << lw) - 1)
    scores = []
    for k in range(classes):
        s = (value >> (lw + k * sw)) & ((1 << sw) - 1)
        scores.append(s - ((s >> (sw - 1)) << sw))
    return label, tuple(scores)


def _counterexample(proof, path, net, latency, gen_widths, ref_widths):
    waves = _waves(path)
    ok = waves["ok"]
    first = 1 if ok[0] is None else 0  # index of step 1 (index 0 holds the initial state)
    count, bits, classes = net.input.count, net.input.bits, net.output_count
    mask = (1 << bits) - 1
    steps = []
    for i in range(first, len(ok)):
        def bit(name, i=i):
            return int(waves[name][i] or "0") if name in waves else 1  # o.ready may be fixed

        raw = int(waves["i__payload"][i] or "0", 2)
        inputs = tuple((raw >> (k * bits)) & mask for k in range(count))
        gen = (bit("gen_ready"), bit("gen_valid"),
               *_unpack(waves["gen_payload"][i], *gen_widths, classes))
        ref = (bit("ref_ready"), bit("ref_valid"),
               *_unpack(waves["ref_payload"][i], *ref_widths, classes))
        steps.append(Step(rst=bit("rst"), valid=bit("i__valid"), ready=bit("o__ready"),
                          inputs=inputs, generated=gen, reference=ref))
    cycle = next((t for t, v in enumerate(ok[first:], 1) if v == "0"), None)
    assert cycle is not None, f"{path}: a counterexample in which ok never falls"
    # Replay the shared stream timing to find the vector behind the output at ``cycle``.
    stages = [None] * latency  # (vector, valid) per stage, output stage last
    vector = None
    for t, step in enumerate(steps, 1):
        out = stages[-1]
        out_valid = out is not None and out[1]
        if t == cycle:
            vector = out[0] if out_valid else None
            break
        if not out_valid or step.ready:
            stages = [(step.inputs, bool(step.valid))] + stages[:-1]
        if step.rst:
            stages = [None if s is None else (s[0], False) for s in stages]
    if vector is None or steps[cycle - 1].generated[:2] != steps[cycle - 1].reference[:2]:
        vector = None
        want = None
    else:
        trace = golden.evaluate(net, np.asarray([vector], dtype=np.int64))
        want = (int(trace.predictions[0]), tuple(int(s) for s in trace.scores[0]))
    return Counterexample(proof=proof, cycle=cycle, steps=tuple(steps), vector=vector,
                          golden=want)


def prove_equivalent(design, *, yosys, env=None, work_dir, reference=None, timeout=600,
                     limits=None, progress=print):
    """Prove ``design`` (a :class:`~lwc.compiler.driver.CompiledDesign`, with its pipelining)
    equal to the naive reference of its net for all inputs.

    Parameters
    ----------
    design : CompiledDesign
        The net compiled once; its ``source`` net (as trained or loaded) is within ``limits``.
    yosys : str or path-like
        The Yosys executable (e.g. ``lwc.boards.toolchain.tool_path("yosys")``); ``env`` its
        environment (``None``: this process's).
    work_dir : path-like
        Where the Verilog, the Yosys script (``prove.ys``), its logs and any counterexample
        (``<proof>.json``, WaveJSON) go; created if needed.
    reference : Network or None
        The network the naive reference is written from; ``None`` for the design's net (a
        different one is for testing that a wrong design is caught). Same inputs and classes.
    timeout : float
        Wall seconds each proof may take; a proof that runs out is ``"undecided"``.
    limits : dict or None
        The size limits (see :data:`LIMITS`, the default); larger limits mean longer proofs.
    progress : callable
        Called with one line of text at each step.

    Returns
    -------
    FormalReport

    Raises
    ------
    UsageError
        ``net`` (or ``reference``) is above the limits, or ``reference`` does not have the
        inputs and classes of ``net``.
    ToolchainError, BuildError
        Yosys cannot be started, or fails for another reason than a failed proof.
    """
    started = time.perf_counter()
    net = design.source
    reference = net if reference is None else reference
    size = check_size(net, limits)
    check_size(reference, limits)
    if (reference.input.count, reference.input.bits, reference.output_count) != (
            net.input.count, net.input.bits, net.output_count):
        raise UsageError("the reference must have the inputs and classes of the net")
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)

    component = design.hardware  # the facts of the design: no component is built
    latency = component.latency
    gen_widths = (component.label_width, component.score_width)
    ref_widths = (naive.label_width(reference), naive.score_width(reference))
    progress(f"writing {TOPLEVEL}.v, {REFERENCE}.v and {MITER}.v in {work}")
    design.verilog(work / f"{TOPLEVEL}.v")
    naive.write_verilog(reference, work / f"{REFERENCE}.v", latency=latency, name=REFERENCE)
    (work / f"{MITER}.v").write_text(_miter(net.input.count, net.input.bits, net.output_count,
                                            gen_widths, ref_widths))
    induction_limit, depth = latency + 2, latency + 3
    verdicts, counterexample = {}, None
    for proof in PROOFS:
        for stale in (f"{proof}.log", f"{proof}.json"):
            (work / stale).unlink(missing_ok=True)
        script = f"{proof}.ys"
        (work / script).write_text(_script(proof, induction_limit, depth))
        progress(f"yosys: {proof} proof ...")
        t = time.perf_counter()
        finished = _run_yosys(yosys, env, work, script, timeout)
        log = work / f"{proof}.log"
        verdicts[proof] = _verdict(log.read_text(errors="replace")) if finished else "undecided"
        progress(f"yosys: {proof} proof: {verdicts[proof]} ({time.perf_counter() - t:.1f} s"
                 + ("" if finished else ", out of time") + ")")
        if verdicts[proof] == "counterexample" and counterexample is None:
            counterexample = _counterexample(proof, work / f"{proof}.json", net, latency,
                                             gen_widths, ref_widths)
    proved = all(verdicts.get(proof) == "proved" for proof in PROOFS)
    return FormalReport(proved=proved, verdicts=verdicts, counterexample=counterexample,
                        latency=latency, induction_limit=induction_limit, depth=depth,
                        seconds=time.perf_counter() - started, work_dir=work, size=size)
