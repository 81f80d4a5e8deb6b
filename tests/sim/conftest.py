"""Fixtures shared by the simulation tests."""

import pytest

from lwc.boards.toolchain import tool_path, toolchain_env


@pytest.fixture(scope="module")
def yosys():
    """``(yosys executable, environment)`` as the CLI selects them."""
    env = toolchain_env()
    return tool_path("yosys", env), env
