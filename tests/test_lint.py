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
