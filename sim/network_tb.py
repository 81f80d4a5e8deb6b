"""cocotb testbench for a network top (``lwc_net``): streams vectors, checks every output.

The host side (:mod:`lwc.sim.cocotb_sim`) writes a job file with :func:`write_job` and points
``LWC_SIM_JOB`` at it; the test writes its findings to ``LWC_SIM_RESULT`` (read back with
:func:`read_result`). Both are ``.npz`` files, so the testbench needs neither the IR nor Amaranth.

Job file:

``inputs``
    ``(n, input_count)`` unsigned integer vectors.
``features_per_cycle``, ``transfers``
    How a vector goes into ``i``: as ``transfers`` transfers of ``features_per_cycle`` features,
    in order, the last padded with all-ones features (which the network must ignore); feature
    ``k`` of a transfer goes to payload bits ``[k*input_bits, (k+1)*input_bits)``. A
    :class:`~lwc.hw.TernaryNetwork` takes the whole vector in one transfer.
``labels``, ``scores``
    Golden label ``(n,)`` and scores ``(n, n_classes)`` every output is compared with.
``sums_<k>``, ``origins_<k>``
    Golden sums of layer ``k`` ``(n, neurons)`` and the neurons' ``origin`` s; only logged next to
    the first mismatch.
``input_bits``, ``label_width``, ``score_width``
    Port layout: the output payload is the label in the low ``label_width`` bits, then each score
    in ``score_width`` bits, two's complement.
``seed``, ``gap``, ``stall``, ``max_idle``
    Input gaps (probability ``gap`` that a transfer waits 1..3 cycles before ``i.valid``) and
    back-pressure (probability ``stall`` that ``o.ready`` is low in a cycle), from
    ``random.Random(seed)``; the run gives up after ``max_idle`` cycles without a transfer.
``offset``
    Index of the first vector among all that are being simulated (when several processes share
    them), for the log.
``hdl_clock``
    The toplevel makes its own clock (the wrapper of :func:`bench_verilog`); otherwise the
    testbench starts cocotb's :class:`~cocotb.clock.Clock` on ``clk``.
``flash_image``, ``flash_offset``, ``flash_cut_after``
    For a network that loads its weight table from SPI flash at boot (the ports
    :data:`FLASH_PORTS`): the bytes the flash model (:class:`lwc.sim.spi_flash_model.FlashModel`)
    holds at ``flash_offset``, and where it stops serving (``-1``: never). Empty for others.

The toplevel is the network itself, or, faster, the wrapper :func:`bench_verilog` writes around
it, whose Verilog clock costs the simulator no VPI calls at all (cocotb's GPI clock, though
written in C, is a timed callback and a VPI write every half period). Either way the testbench
sees the ports :data:`PORTS`. Inputs change only at the falling edge, and ports are sampled in the
read-only phase right after, so every sample shows what the next rising edge acts on, on any
simulator. While the testbench can only wait — its offered transfer is refused and no output is
valid, or every transfer is sent and no output is valid — it sleeps until ``i.ready`` or
``o.valid`` rises, so a streaming network's thousands of computing cycles cost no Python.
"""

import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from lwc.sim.spi_flash_model import FlashModel
from lwc.sim.spram_boot_tb import serve_flash

__all__ = ["PORTS", "FLASH_PORTS", "BENCH_TOPLEVEL", "stream_vectors", "bench_verilog", "write_job",
           "read_result", "pack_inputs", "transfer_rows", "unpack_outputs"]

JOB_ENV = "LWC_SIM_JOB"
RESULT_ENV = "LWC_SIM_RESULT"
#: The toplevel's signals the testbench reads or drives (what the simulator must make visible).
PORTS = ("clk", "rst", "i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready")
#: The further ports of a network whose weight table is loaded from flash at boot.
FLASH_PORTS = ("flash__sck", "flash__cs_n", "flash__copi", "flash__cipo", "boot__ready",
               "boot__error", "boot__fault")
#: Module name of the wrapper :func:`bench_verilog` writes.
BENCH_TOPLEVEL = "lwc_bench"
_HALF_PERIOD_NS = 5  # a 10 ns clock, as in the waveforms


def bench_verilog(input_width, output_width, *, dut="lwc_net", flash=False):
    """Verilog of the testbench toplevel :data:`BENCH_TOPLEVEL`: the module ``dut`` (a network
    top with ``i``/``o`` streams of ``input_width`` and ``output_width`` payload bits) under a
    clock made in Verilog, with the ports :data:`PORTS` (``clk`` an output) passed through, and
    :data:`FLASH_PORTS` too with ``flash``.

    The clock starts low and rises every 10 ns from 5 ns, as cocotb's
    ``Clock(clk, 10, unit="ns").start(start_high=False)`` would; the file sets its own
    ``timescale``, so it may follow cell models that set another.
    """
    assert input_width >= 1 and output_width >= 1, "a network top has payload bits"
    flash_ports = flash_connections = ""
    if flash:
        flash_ports = (",\n  output flash__sck,\n  output flash__cs_n,\n  output flash__copi,"
                       "\n  input flash__cipo,\n  output boot__ready,\n  output boot__error,"
                       "\n  output [1:0] boot__fault")
        flash_connections = "".join(f",\n    .{name}({name})" for name in FLASH_PORTS)
    return f"""`timescale 1ns / 1ps
// lwc testbench top: {dut} under a clock made here, so that no clock edge costs a VPI call.
module {BENCH_TOPLEVEL}(
  output reg clk,
  input rst,
  input [{input_width - 1}:0] i__payload,
  input i__valid,
  output i__ready,
  output [{output_width - 1}:0] o__payload,
  output o__valid,
  input o__ready{flash_ports}
);
  initial clk = 1'b0;
  always #{_HALF_PERIOD_NS} clk = ~clk;
  {dut} dut (
    .clk(clk), .rst(rst),
    .i__payload(i__payload), .i__valid(i__valid), .i__ready(i__ready),
    .o__payload(o__payload), .o__valid(o__valid), .o__ready(o__ready){flash_connections}
  );
endmodule
"""


def write_job(path, inputs, labels, scores, *, sums=(), origins=(), input_bits, label_width,
              score_width, features_per_cycle=None, seed=0, gap=0.25, stall=0.25, max_idle=1000,
              offset=0, hdl_clock=False, flash_image=b"", flash_offset=0, flash_cut_after=None):
    """Write the job file the testbench reads (see the module docstring for the fields);
    ``features_per_cycle`` defaults to the whole vector in one transfer."""
    inputs = np.asarray(inputs, dtype=np.int64)
    count = inputs.shape[1]
    features = count if features_per_cycle is None else features_per_cycle
    arrays = {f"sums_{k}": np.asarray(s, dtype=np.int64) for k, s in enumerate(sums)}
    arrays.update({f"origins_{k}": np.asarray(o, dtype=np.int64) for k, o in enumerate(origins)})
    np.savez(path, inputs=inputs,
             labels=np.asarray(labels, dtype=np.int64), scores=np.asarray(scores, dtype=np.int64),
             input_bits=input_bits, label_width=label_width, score_width=score_width,
             features_per_cycle=features, transfers=-(-count // features), seed=seed,
             gap=gap, stall=stall, max_idle=max_idle, offset=offset, hdl_clock=bool(hdl_clock),
             flash_image=np.frombuffer(bytes(flash_image), dtype=np.uint8),
             flash_offset=flash_offset,
             flash_cut_after=-1 if flash_cut_after is None else flash_cut_after, **arrays)


def read_result(path):
    """The result file as a dict of plain values (NumPy arrays for ``labels`` and ``scores``).

    Keys: ``received`` (outputs taken), ``mismatches``, ``first_mismatch`` (vector index or -1),
    ``labels`` / ``scores`` (hardware outputs, -1 where none was received), ``cycles`` (clock
    cycles after reset), ``first_latency`` (cycles from the accepted last transfer of the first
    vector to the first ``o.valid``, -1 if none), ``protocol_errors`` (payload changed or valid
    dropped while stalled, or outputs no fully sent vector accounts for), ``stalled`` (gave up
    waiting), ``stream_seconds`` (wall time of the streaming loop); for a network that boots from
    flash, ``boot_ready`` (the cycle ``boot.ready`` rose, -1 if never), ``boot_error`` and
    ``boot_fault`` (at the end; -1 when undefined or not such a network) and ``flash_violations``
    (what the flash model saw the design do wrong).
    """
    with np.load(path) as f:
        out = {k: f[k] for k in f.files}
    for key in ("received", "mismatches", "first_mismatch", "cycles", "first_latency",
                "protocol_errors"):
        out[key] = int(out[key])
    # The boot fields are absent from a result of a network that does not boot.
    for key in ("boot_ready", "boot_error", "boot_fault"):
        out[key] = int(out.get(key, -1))
    out["stalled"] = bool(out["stalled"])
    out["stream_seconds"] = float(out["stream_seconds"])
    out["flash_violations"] = [str(v) for v in out.get("flash_violations", ())]
    return out


def pack_inputs(inputs, bits):
    """Vectors ``(n, count)`` to payload ints, element ``k`` at bits ``[k*bits, (k+1)*bits)``."""
    x = np.asarray(inputs, dtype=np.int64)
    if x.shape[0] == 0:
        return []
    planes = (x[:, :, None] >> np.arange(bits)) & 1  # (n, count, bits), LSB first
    packed = np.packbits(planes.reshape(len(x), -1).astype(np.uint8), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def transfer_rows(inputs, features, transfers, pad):
    """Vectors ``(n, count)`` as ``(n * transfers, features)`` transfer payloads: each vector's
    features in order, ``features`` at a time, the last transfer padded with ``pad``."""
    x = np.asarray(inputs, dtype=np.int64)
    padded = np.full((x.shape[0], features * transfers), pad, dtype=np.int64)
    padded[:, :x.shape[1]] = x
    return padded.reshape(x.shape[0] * transfers, features)


def unpack_outputs(payload, n_classes, label_width, score_width):
    """One output payload ``int`` to ``(label, [score, ...])``, scores two's complement."""
    label = payload & ((1 << label_width) - 1)
    mask, sign = (1 << score_width) - 1, 1 << (score_width - 1)
    scores = []
    for k in range(n_classes):
        s = (payload >> (label_width + k * score_width)) & mask
        scores.append(s - (s & sign) * 2)
    return label, scores


def _log_mismatch(log, job, index, label, scores):
    layers = sorted(int(k[5:]) for k in job if k.startswith("sums_"))
    log.error("vector %d mismatches: input %s", index + int(job["offset"]),
              job["inputs"][index].tolist())
    for k in layers:
        pairs = zip(job[f"origins_{k}"].tolist(), job[f"sums_{k}"][index].tolist())
        log.error("  layer %d golden sums: %s", k, " ".join(f"n{o}={s}" for o, s in pairs))
    log.error("  golden   label %d scores %s", int(job["labels"][index]),
              job["scores"][index].tolist())
    log.error("  hardware label %d scores %s", label, scores)


@cocotb.test()
async def stream_vectors(dut):
    """Stream every job vector through ``i``, take every output from ``o``, compare, report."""
    with np.load(os.environ[JOB_ENV]) as f:
        job = {key: f[key] for key in f.files}
    inputs, want_labels, want_scores = job["inputs"], job["labels"], job["scores"]
    n, n_classes = want_scores.shape
    bits, lw, sw = int(job["input_bits"]), int(job["label_width"]), int(job["score_width"])
    features, per_vector = int(job["features_per_cycle"]), int(job["transfers"])
    assert len(dut.i__payload) == features * bits, "i.payload width is not features * bits"
    assert len(dut.o__payload) == lw + n_classes * sw, "o.payload width is not label + scores"
    payloads = pack_inputs(transfer_rows(inputs, features, per_vector, (1 << bits) - 1), bits)
    total = len(payloads)
    rnd = random.Random(int(job["seed"]))
    gap, stall, max_idle = float(job["gap"]), float(job["stall"]), int(job["max_idle"])

    clk, rst = dut.clk, dut.rst
    i_payload, i_valid, i_ready = dut.i__payload, dut.i__valid, dut.i__ready
    o_payload, o_valid, o_ready = dut.o__payload, dut.o__valid, dut.o__ready
    period = 2 * _HALF_PERIOD_NS

    rst.value = 1
    i_valid.value = 0
    i_payload.value = 0
    o_ready.value = 0
    if not job["hdl_clock"]:
        Clock(clk, period, unit="ns").start(start_high=False)
    booting = len(job["flash_image"]) > 0
    boot = {"ready": -1}
    model = None
    if booting:
        cut = int(job["flash_cut_after"])
        model = FlashModel(job["flash_image"].tobytes(), int(job["flash_offset"]),
                           cut_after=None if cut < 0 else cut)
        dut.flash__cipo.value = 1
        await RisingEdge(clk)
        cocotb.start_soon(serve_flash(model, cs_n=dut.flash__cs_n, sck=dut.flash__sck,
                                      copi=dut.flash__copi, cipo=dut.flash__cipo, rst=rst))
    for _ in range(2):
        await FallingEdge(clk)
    rst.value = 0
    origin = get_sim_time(unit="ns")

    async def watch_boot():
        await RisingEdge(dut.boot__ready)
        boot["ready"] = round((get_sim_time(unit="ns") - origin) / period)

    if booting:
        cocotb.start_soon(watch_boot())

    def cycle_now():
        """Rising edges since reset was released, up to the next one."""
        return round((get_sim_time(unit="ns") - origin) / period)

    got_payloads = [None] * n
    sent = got = cycles = idle = protocol_errors = 0  # sent counts transfers, got vectors
    first_accept = first_latency = -1  # first_accept: the first vector's last transfer
    offering = False  # payloads[sent] is on i.payload with i.valid high
    valid = False  # what i.valid is driven to
    wait = rnd.randint(1, 3) if rnd.random() < gap else 0
    ready = False
    held = None  # payload of an output that was valid but not taken last cycle
    started = time.perf_counter()
    steps = 0  # cycles the testbench itself stepped through (the rest it slept through)
    while got < n and idle <= max_idle:
        steps += 1
        # clk has just fallen: drive this cycle's inputs.
        if not offering:
            if sent < total and not wait:
                i_payload.value = payloads[sent]
                offering = True
            elif wait:
                wait -= 1
            if offering != valid:
                i_valid.value = int(offering)
                valid = offering
        want_ready = rnd.random() >= stall
        if want_ready != ready:
            o_ready.value = int(want_ready)
            ready = want_ready
        await ReadOnly()
        cycles = cycle_now()
        # Ports have settled: whatever transfers now happens at the coming rising edge.
        idle += 1
        moved = False
        if offering and i_ready.value:
            if sent == per_vector - 1:
                first_accept = cycles
            sent += 1
            offering = False
            idle = 0
            moved = True
            wait = rnd.randint(1, 3) if rnd.random() < gap else 0
        out_valid = bool(o_valid.value)
        if out_valid:
            payload = o_payload.value.to_unsigned()
            complete = sent // per_vector  # vectors whose last transfer was accepted
            if got >= complete:  # an output no accepted vector accounts for
                protocol_errors += 1
            elif first_latency < 0:
                first_latency = cycles - first_accept
            if held is not None and payload != held:
                protocol_errors += 1
            if ready and got < complete:
                got_payloads[got] = payload
                got += 1
                idle = 0
                held = None
            else:
                held = payload
        elif held is not None:
            protocol_errors += 1  # valid dropped before the transfer
            held = None
        blocked = offering and not moved  # refused, and nothing changes until i.ready rises
        # Drained, and i.valid already low: right after the last transfer it is still high (it
        # falls at the next falling edge), and sleeping then would offer that transfer again.
        drained = sent == total and not offering and not valid
        if not out_valid and not wait and (blocked or drained) and idle <= max_idle:
            # Nothing to do until the network moves: let the simulator run on its own.
            before = cycle_now()
            woken = await First(RisingEdge(i_ready), RisingEdge(o_valid),
                                Timer(period * (max_idle - idle + 1), unit="ns"))
            slept = cycle_now() - before
            idle = 0 if not isinstance(woken, Timer) else idle + slept
        await FallingEdge(clk)
    cycles = cycle_now()
    stream_seconds = time.perf_counter() - started

    # Nothing more may come out: drain for a while with o.ready high and count strays.
    await FallingEdge(clk)
    o_ready.value = 1
    i_valid.value = 0
    for _ in range(max(8, min(max_idle, 64))):
        await ReadOnly()
        if o_valid.value:
            protocol_errors += 1
        await FallingEdge(clk)

    labels = np.full(n, -1, dtype=np.int64)
    scores = np.full((n, n_classes), -1, dtype=np.int64)
    mismatches, first = 0, -1
    for index in range(n):
        payload = got_payloads[index]
        if payload is None:
            ok = False
        else:
            label, score = unpack_outputs(payload, n_classes, lw, sw)
            labels[index], scores[index] = label, score
            ok = label == want_labels[index] and score == want_scores[index].tolist()
        if not ok:
            if first < 0:
                first = index
                _log_mismatch(dut._log, job, index, int(labels[index]), scores[index].tolist())
            mismatches += 1
    if got < n:
        dut._log.error("gave up after %d idle cycles: %d of %d outputs received", idle, got, n)
    dut._log.info("%d vectors, %d mismatches, %d cycles (%d stepped by the testbench), %.3f s "
                  "(%.0f vectors/s)", n, mismatches, cycles, steps, stream_seconds,
                  n / stream_seconds if stream_seconds else 0.0)
    boot_error = boot_fault = -1
    if booting:
        await ReadOnly()
        boot_error = int(dut.boot__error.value) if dut.boot__error.value.is_resolvable else -1
        boot_fault = int(dut.boot__fault.value) if dut.boot__fault.value.is_resolvable else -1
        dut._log.info("boot: ready at cycle %d, error %d, fault %d", boot["ready"], boot_error,
                      boot_fault)
    np.savez(os.environ[RESULT_ENV], received=got, mismatches=mismatches, first_mismatch=first,
             labels=labels, scores=scores, cycles=cycles, first_latency=first_latency,
             protocol_errors=protocol_errors, stalled=got < n, stream_seconds=stream_seconds,
             boot_ready=boot["ready"], boot_error=boot_error, boot_fault=boot_fault,
             flash_violations=np.array(model.violations if model else [], dtype=str))
