"""Runs of the real CLI for the smoke tests: ``mmm-report ARGS`` in a new process, and an artifact it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "mmmhelpers.cli"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``mmm-report ARGS`` from the checkout; with ``check``, a non-zero exit fails the test with the run's output."""
    proc = subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    if check and proc.returncode != 0:
        raise AssertionError(f"mmm-report {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def load(out: Path, name: str) -> dict:
    """The JSON artifact ``name`` of the report in ``out``."""
    return json.loads((out / "artifacts" / name).read_text())
