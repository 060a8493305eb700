"""The tree stays ruff-clean and type-checks (both pinned in requirements.txt), and the package is free of import
cycles and long functions."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
def test_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    proc = subprocess.run([ruff, "check", "mmmhelpers", "tests", "notebooks", "benchmarks"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.skipif(shutil.which("mypy", path=str(Path(sys.executable).parent)) is None, reason="mypy not installed")
def test_the_package_type_checks():
    """mypy (pinned in requirements.txt, configured in pyproject.toml) finds no error in the package."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    proc = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


def package_imports() -> dict[str, set[str]]:
    """Each module of ``mmmhelpers`` and the package modules it imports, at the top or inside a function."""
    import ast

    modules = {p.stem: p for p in (ROOT / "mmmhelpers").glob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mmmhelpers"):
                inner = node.module.removeprefix("mmmhelpers").lstrip(".")
                found |= {t.split(".")[0] for t in ([inner] if inner else [a.name for a in node.names])}
        graph[name] = (found & modules.keys()) - {name}
    return graph


def test_the_package_has_no_import_cycle():
    """No module reaches itself through the package's imports, lazy ones included (they only hide a cycle)."""
    graph = package_imports()

    def reach(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return seen

    cycles = sorted(name for name in graph if name in reach(name))
    assert cycles == [], f"modules on an import cycle: {cycles}"


def test_no_function_of_the_package_is_over_60_lines():
    """A function that long does several things: split it (its docstring and signature count)."""
    import ast

    long = [f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in sorted((ROOT / "mmmhelpers").glob("*.py"))
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60]
    assert long == []


def readme_layers() -> dict[str, int]:
    """Each module of the README's tour and the index of its layer (" names and schema", " data and model", ...)."""
    import re

    text = (ROOT / "README.md").read_text()
    tour = text[text.index("## Tour"):text.index("### The cases")]
    layer, out = -1, {}
    for line in tour.splitlines():
        if re.match(r"^ [a-z]", line):
            layer += 1
        found = re.match(r"^  ([a-z_0-9]+)\.py", line)
        if found and layer >= 0:
            assert found.group(1) not in out, f"{found.group(1)} is listed twice in the README's tour"
            out[found.group(1)] = layer
    return out


def test_the_readme_tour_lists_every_module_and_no_import_runs_back_up_a_layer():
    """The tour is the architecture: every module in one layer, and a module imports only from its own layer or
    the layers above it in the tour (lazy imports included)."""
    layers, graph = readme_layers(), package_imports()
    assert sorted(set(graph) - {"__init__"}) == sorted(layers), "modules missing from (or extra in) the README tour"
    upward = sorted(f"{a} -> {b}" for a, deps in graph.items() if a in layers
                    for b in deps if layers[b] > layers[a])
    assert upward == [], f"imports that run back up a layer: {upward}"

