"""``lwc compile``: a net to Verilog, or to a board bitstream behind the UART front end.

Products in the output directory: ``net.v`` (the bare network, module ``lwc_net``, for use in
another project); for a board target also the board top as RTLIL (``top.il``), the bitstream
``top.bin``, the toolchain logs, and ``report.json`` (the network facts under ``"network"`` next
to the FPGA figures of :class:`~lwc.boards.build.BuildReport`); and ``lwc-build.json``, the
manifest of every file the build wrote (see :func:`compile_net` for how an existing directory is
treated).
"""

import gc
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from amaranth.hdl import UnusedElaboratable

from .. import __version__
from ..compiler import passes
from ..compiler.lower import lower, write_verilog
from ..errors import UsageError
from ..hw.top import UartNetworkTop
from .build import REPORT_FILE, _check_args, build
from .registry import DEFAULT_BOARD, get_board

__all__ = ["NetworkFacts", "CompileResult", "network_facts", "compile_net", "TARGETS", "MANIFEST"]

TARGETS = ("verilog", "ice40")
#: The file in an output directory that lists what lwc wrote there.
MANIFEST = "lwc-build.json"
_MANIFEST_TAG = "lwc-build"


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
                baud=115200, register_every=None, force=False, progress=print):
    """Compile ``net`` (an IR network as loaded from ``net.pt``) into ``out_dir``.

    ``target`` is ``"verilog"`` (just ``net.v``) or ``"ice40"`` (bitstream for ``board``, by
    default :data:`~lwc.boards.DEFAULT_BOARD`). Returns a :class:`CompileResult`.

    Every option is checked, and the design lowered in memory, before anything is written.
    ``out_dir`` then gets the manifest :data:`MANIFEST` listing every file this compilation wrote
    (rewritten at the end, also when the build fails: ``"complete": false`` and the error). An
    existing ``out_dir`` is treated so that two builds never mix: the files an earlier lwc build
    listed in its manifest are removed first, and a directory holding anything else (files lwc did
    not write, or an unreadable manifest) is refused unless ``force``, which keeps those files
    and writes next to them. A failed build never leaves a bitstream.

    Raises
    ------
    UsageError
        Bad option, a net the board top cannot serve, or ``out_dir`` not usable (see above).
    ToolchainError, BuildError
        From :func:`~lwc.boards.build.build`.
    """
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r} (choose from: {', '.join(TARGETS)})")
    if target == "verilog" and board is not None:
        raise UsageError("--board needs a board target such as --target ice40, not verilog")
    board_obj = get_board(board or DEFAULT_BOARD) if target == "ice40" else None
    if board_obj is not None:
        _check_args(board_obj, seed, clock_mhz, "top")
    out = Path(out_dir)
    stale = _claim(out, force)

    if board_obj is not None and board is None:
        progress(f"target ice40: using the default board {board_obj.name} ({board_obj.title})")
    progress("compiler: running passes")
    compiled = passes.run(net)
    top = None
    if board_obj is not None:
        top = _board_top(compiled, register_every, board_obj, baud)
    network = lower(compiled, register_every=register_every)
    try:
        return _write(out, stale, target, board_obj, compiled, network, top, clock_mhz, seed,
                      baud, progress)
    except BaseException:
        # Designs left unbuilt by the error: Amaranth would warn, once they are collected,
        # that they were never used; the error already says why.
        for design in (network, top, top and top.network):
            if design is not None:
                design._MustUse__silence = True
        raise


def _write(out, stale, target, board_obj, compiled, network, top, clock_mhz, seed, baud,
           progress):
    """The writing half of :func:`compile_net`, once everything has been checked."""
    facts = network_facts(compiled, network)
    progress(f"compiler: {facts.nonzero_weights} nonzero weights, {facts.adders} adders, "
             f"latency {facts.latency} cycles")
    manifest = {"target": target, "board": board_obj.name if board_obj else None}
    try:
        for name in stale:
            (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        before = _snapshot(out)
        _write_manifest(out, manifest, [], complete=False)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the output directory: {exc.strerror or exc}") \
            from None
    error = "interrupted"
    try:
        text = write_verilog(network, out / "net.v")
        progress(f"wrote {out / 'net.v'}")
        if board_obj is None:
            (out / REPORT_FILE).write_text(json.dumps({"network": asdict(facts)}, indent=2) + "\n")
            error = None
            return CompileResult(str(out), facts, text)
        report = build(top, board_obj, out, name="top", clock_mhz=clock_mhz, seed=seed,
                       progress=progress)
        merged = {"network": asdict(facts), "baud": baud, **report.to_dict()}
        (out / REPORT_FILE).write_text(json.dumps(merged, indent=2) + "\n")
        error = None
        return CompileResult(str(out), facts, text, report)
    except OSError as exc:  # disk full, directory removed under us, ...
        error = f"cannot write in {out}: {exc.strerror or exc}"
        raise UsageError(error) from None
    except Exception as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise
    finally:
        try:
            written = sorted(n for n, stat in _snapshot(out).items()
                             if n != MANIFEST and before.get(n) != stat)
            _write_manifest(out, manifest, written, complete=error is None, error=error)
        except OSError:
            pass  # the error being raised already says what is wrong with the directory


def _board_top(compiled, register_every, board, baud):
    """The UART board top around a lowering of ``compiled``, or :class:`UsageError` when the
    front end cannot serve this net or line rate."""
    network = lower(compiled, register_every=register_every)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        try:
            return UartNetworkTop(network, clk_freq=board.clock_mhz * 1e6, baud=baud)
        except ValueError as exc:
            problem = str(exc)
        # The refused top (half made, in reference cycles) and its network were never
        # elaborated: let them go now, without Amaranth's warning after the one-line error.
        del network
        gc.collect()
    raise UsageError(f"cannot build the {board.name} UART top: {problem}")


def _snapshot(out):
    """name -> (inode, size, mtime) of the plain entries of ``out``."""
    snap = {}
    for entry in os.scandir(out):
        st = entry.stat(follow_symlinks=False)
        snap[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return snap


def _read_manifest(out):
    """The file names an earlier lwc build listed in ``out``'s manifest, or ``None`` when the
    manifest is missing, unreadable or lists something that is not a plain name in ``out``."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_TAG:
        return None
    files = data.get("files")
    if not isinstance(files, list):
        return None
    for name in files:
        # Only plain names: a doctored manifest must not make lwc delete outside ``out``.
        if (not isinstance(name, str) or name in ("", ".", "..", MANIFEST) or "/" in name
                or os.sep in name or "\0" in name):
            return None
    return set(files)


def _claim(out, force):
    """The names in ``out`` to remove before building there; refuse a directory lwc does not own.

    Nothing is changed here: the caller removes them once every check has passed.
    """
    if not out.exists() and not out.is_symlink():
        return []
    if not out.is_dir():
        raise UsageError(f"{out}: not a directory; choose another output directory (-o)")
    try:
        entries = list(os.scandir(out))
    except OSError as exc:
        raise UsageError(f"{out}: cannot read the output directory: {exc.strerror or exc}") \
            from None
    present = {entry.name for entry in entries}
    if not present:
        return []
    listed = _read_manifest(out) if MANIFEST in present else None
    # A listed name that is now a directory is not lwc's to remove.
    files = {entry.name for entry in entries if not entry.is_dir(follow_symlinks=False)}
    own = (listed or set()) & files
    foreign = sorted(present - own - ({MANIFEST} if listed is not None else set()))
    if foreign and not force:
        what = "has no lwc manifest" if listed is None else "holds files lwc did not write"
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise UsageError(f"{out}: output directory {what} ({shown}); choose an empty or new "
                         f"directory, or pass --force to build next to them")
    stale = sorted(own)
    if listed is not None:
        stale.append(MANIFEST)
    return stale


def _write_manifest(out, manifest, files, *, complete, error=None):
    data = {"format": _MANIFEST_TAG, "lwc_version": __version__, **manifest,
            "complete": complete, "error": error, "files": files}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, out / MANIFEST)
