"""The work of the points, as functions of plain values (options, an encoded net) that run in a
Ray worker or in the sweeping process alike: :func:`run_group` trains once and estimates each
compile variant, :func:`place_point` builds one point for its board, :func:`prove_point`
simulates one in cocotb. None raises for a point that fails: the failure is its result."""

import shutil
import tempfile
import time

from ..errors import LwcError

__all__ = ["run_group", "place_point", "prove_point"]

def _error_text(exc):
    """The one line a failure is recorded with: an LwcError's own line, anything else with its
    type (a bug, not a user error)."""
    text = str(exc) if isinstance(exc, LwcError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _failure(exc, stage):
    """The record of a point that failed at ``stage``; ``lwc_error``: a user error (kept on a
    re-run), not a bug or a crash (tried again)."""
    return {"status": "failed", "error": _error_text(exc), "stage": stage,
            "lwc_error": isinstance(exc, LwcError)}


def quiet(_line):
    pass


def _train(train_options, threads):
    """Train one net; ``(figures, encoded net)``. Raises what :func:`lwc.train.train` raises."""
    from ..compiler import netfile
    from ..train import loop
    from ..train.config import TrainConfig

    options = dict(train_options)
    options.setdefault("threads", threads)
    config = TrainConfig(**options)
    result = loop.train(config)
    data = netfile.encode(result.net)
    m = result.test_metrics
    figures = {
        "accuracy": result.test_accuracy, "f1": m.get("f1"), "g_mean": m.get("g_mean"),
        "val_accuracy": result.val_accuracy, "best_epoch": result.best_epoch,
        "zero_fraction": result.zero_fraction,
        "bits_per_weight": result.summary.get("bits_per_weight"),
        "train_seconds": result.seconds, "device": result.device,
    }
    return figures, data


def _compiled(net, opts):
    """``(design, board)`` of ``net`` for the compile options ``opts``."""
    from ..boards.registry import get_board
    from ..compile import design_for

    board = get_board(opts["board"])
    design = design_for(net, board, architecture=opts["architecture"],
                        features_per_cycle=opts["features_per_cycle"], lanes=opts["lanes"],
                        weights=opts["weights"], tail=opts["tail"],
                        register_every=opts["register_every"],
                        share=opts["share"], tables=opts["tables"], progress=quiet)
    return design, board


def _estimate(net, opts):
    """The compile figures of one point: passes, plan and resource estimate (no synthesis)."""
    from ..boards.build import check_args
    from ..boards.estimate import MODELS, model_for
    from ..boards.plan import design_estimate
    from ..compiler.architecture import Streaming

    start = time.monotonic()
    design, board = _compiled(net, opts)
    check_args(board, opts["place_seed"], opts["fmax"])
    estimate = design_estimate(design, board)
    model = "fitted" if estimate is not None else "ice40 (no model for this family)"
    if estimate is None:  # no model fitted for the family: the iCE40 one says what it would take
        ice40 = MODELS["ice40"] if model_for(board.family) is None else model_for(board.family)
        estimate = (ice40.streaming(design.network, design.hardware)
                    if isinstance(design.architecture, Streaming)
                    else ice40.parallel(design.network))
    # Against the board's capacity; by the iCE40 model's proxy (a LUT4 and its carry per logic
    # cell, as in half an ECP5 slice) with no margin: a design it puts beyond the whole board is
    # not sent to place-and-route.
    fits = not estimate.overruns(board.capacity, **({} if model == "fitted" else {"margin": 1}))
    facts = design.facts
    clock = opts["fmax"] or board.clock_mhz
    return {
        "datapath": facts.architecture, "layer_sizes": list(facts.layer_sizes),
        "inputs_used": facts.inputs_used, "nonzero_weights": facts.nonzero_weights,
        "adders": facts.adders, "latency": facts.latency,
        "cycles_per_inference": facts.cycles_per_inference, "datapath_lanes": facts.lanes,
        "datapath_features_per_cycle": facts.features_per_cycle,
        "memory_bits": facts.memory_bits,
        "lc_estimate": estimate.logic_cells, "bram_estimate": estimate.block_rams,
        "estimate_model": model, "fits": fits, "clock_mhz": clock,
        "images_per_s": clock * 1e6 / facts.cycles_per_inference,
        "compile_seconds": time.monotonic() - start,
    }


def run_group(train_options, variants, net_data=None, threads=1):
    """Train ``train_options`` once (unless ``net_data``, an encoded net, is given) and estimate
    each of ``variants`` (``(hash, compile options)``). Never raises an LwcError: a failed
    training fails every variant, a failed compile its own. Returns a dict: ``train`` (figures,
    or ``None``), ``net`` (the encoded net when trained here), ``trained``, ``points`` (hash ->
    result)."""
    from ..compiler import netfile

    out = {"train": None, "net": None, "trained": False, "points": {}}
    try:
        if net_data is None:
            out["train"], net_data = _train(train_options, threads)
            out["net"], out["trained"] = net_data, True
        net = netfile.from_dict(net_data)
    except Exception as exc:
        failure = _failure(exc, "train")
        for digest, _ in variants:
            out["points"][digest] = dict(failure)
        return out
    for digest, opts in variants:
        try:
            out["points"][digest] = {"status": "ok", **_estimate(net, opts)}
        except Exception as exc:
            out["points"][digest] = _failure(exc, "compile")
    return out


def place_point(net_data, opts, build_dir=None):
    """Synthesize and place-and-route one point as ``lwc compile --board`` does; its figures
    (LUT4, logic cells, Fmax...) or ``{"place_error": line}``."""
    from ..compile import write_design
    from ..compiler import netfile

    start = time.monotonic()
    temp = None
    try:
        net = netfile.from_dict(net_data)
        design, board = _compiled(net, opts)
        if build_dir is None:
            temp = build_dir = tempfile.mkdtemp(prefix="lwc-sweep-place-")
        shutil.rmtree(build_dir, ignore_errors=True)  # an interrupted build is started over
        done = write_design(design, build_dir, board=board, clock_mhz=opts["fmax"],
                            seed=opts["place_seed"], replace=True, progress=quiet)
    except Exception as exc:
        return {"place_error": _error_text(exc)}
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    report, facts = done.build, done.facts
    fmax = report.fmax_mhz
    return {
        "placed_lut4": report.lut4.used, "placed_lc": report.logic_cells.used,
        "placed_ff": report.ff.used, "placed_carry": report.carry.used,
        "placed_bram": report.block_ram.used, "placed_fmax_mhz": fmax,
        "placed_timing_met": report.timing_met,
        "placed_images_per_s": None if not fmax else fmax * 1e6 / facts.cycles_per_inference,
        "placed_latency": facts.latency, "place_seconds": time.monotonic() - start,
        "place_dir": None if temp is not None else str(build_dir),
    }


def prove_point(net_data, opts, data_dir=None, csv=None, simulator="verilator", build_dir=None):
    """Simulate one point's Verilog in cocotb on its whole test set against the golden model,
    as ``lwc sim`` does; ``{"proved": bool, ...}`` or ``{"prove_error": line}``."""
    from ..compiler import netfile
    from ..sim.cocotb_sim import simulate
    from ..sim.vectors import test_set

    start = time.monotonic()
    temp = None
    try:
        net = netfile.from_dict(net_data)
        design, _ = _compiled(net, opts)
        x, _ = test_set(net, data_dir=data_dir, csv=csv)
        if build_dir is None:
            temp = build_dir = tempfile.mkdtemp(prefix="lwc-sweep-prove-")
        report = simulate(design, x, simulator=simulator, build_dir=build_dir, progress=quiet)
    except Exception as exc:
        return {"prove_error": _error_text(exc)}
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return {"proved": bool(report.ok), "proof_vectors": report.vectors,
            "proof_mismatches": report.mismatches, "proof_simulator": simulator,
            "prove_seconds": time.monotonic() - start}
