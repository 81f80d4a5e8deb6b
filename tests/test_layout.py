"""The architecture as the layout shows it: which package may import which (STYLE.md, 1)."""

import ast
import pathlib
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# folder -> what its modules must never import (top-level module names or lwc subpackages)
FORBIDDEN = {
    "hw": {"torch", "numpy", "lwc.compiler", "lwc.train", "lwc.sim", "lwc.boards", "cocotb"},
    "train": {"amaranth", "lwc.hw", "lwc.sim", "lwc.boards", "cocotb"},
    "compiler": {"torch", "cocotb", "lwc.train", "lwc.sim", "lwc.boards"},
    "boards": {"lwc.sim", "cocotb"},
    "sim": {"lwc.boards", "lwc.train"},
    "data": {"torch", "amaranth", "cocotb", "lwc.hw", "lwc.compiler", "lwc.train", "lwc.sim",
             "lwc.boards"},
}
# The compiler's one lowering module may instantiate hw; nothing else in the compiler may.
COMPILER_HW = {"lower.py"}
# net.pt is a torch.save archive: only its reader/writer imports torch (inside its functions).
COMPILER_TORCH = {"netfile.py"}
SUBPACKAGE = {"hw": "lwc.hw", "train": "lwc.train", "compiler": "lwc.compiler",
              "sim": "lwc.sim", "boards": "lwc.boards", "data": "lwc.data", "lwc": "lwc"}


def imports(path):
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    rel = path.relative_to(ROOT)
    package = SUBPACKAGE[rel.parts[0]] + "".join(f".{p}" for p in rel.parts[1:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            # ``from lwc import semantics`` imports lwc.semantics: name both, the rules see both.
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def violates(name, rule):
    return name == rule or name.startswith(rule + ".")


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_import_direction(folder):
    rules = set(FORBIDDEN[folder])
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        allowed, extra = set(), set()
        if folder == "compiler":
            extra = set() if path.name in COMPILER_HW else {"amaranth", "lwc.hw"}
            allowed = {"torch"} if path.name in COMPILER_TORCH else set()
        for name in imports(path):
            for rule in (rules | extra) - allowed:
                if violates(name, rule):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_nothing_imports_tests_or_is_installed_top_level():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "lwc" or p.startswith("lwc.") for p in config["packages"])
    for folder in SUBPACKAGE:
        for path in (ROOT / folder).rglob("*.py"):
            assert not any(violates(n, "tests") for n in imports(path)), path


# The integer semantics: one leaf module that every package may import.
SEMANTICS = ROOT / "lwc" / "semantics.py"


def test_semantics_imports_only_the_standard_library():
    names = {name for name in imports(SEMANTICS) if not name.startswith("__future__")}
    outside = sorted(n for n in names if n.split(".")[0] not in sys.stdlib_module_names)
    assert not outside, f"lwc/semantics.py imports {outside}"


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_semantics_is_importable_by_every_package(folder):
    rules = FORBIDDEN[folder] | ({"amaranth", "lwc.hw"} if folder == "compiler" else set())
    assert not any(violates("lwc.semantics", rule) for rule in rules)
