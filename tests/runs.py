"""Runs for the smoke tests: ``mmm-report ARGS`` in a new process and an artifact it wrote, stand-in notebooks that
take the real ones' place, and the kernel processes a run started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "mmmhelpers.cli"]
TINY = ROOT / "tests" / "params" / "tiny.yaml"


def cli(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``mmm-report ARGS`` from the checkout (``env``: variables set for it); with ``check``, a non-zero exit fails
    the test with the run's output."""
    proc = subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"mmm-report {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def load(out: Path, name: str) -> dict:
    """The JSON artifact ``name`` of the report in ``out``."""
    return json.loads((out / "artifacts" / name).read_text())


def stand_in_notebooks(folder: Path, code: dict[str, str]) -> Path:
    """Five notebooks with papermill's parameters cell; a stage's code is ``code[stage]`` (default: nothing)."""
    import nbformat

    from mmmhelpers.pipeline import STAGES

    folder.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        params = nbformat.v4.new_code_cell('params_path = ""\nrun_dir = ""\nquick = False\nworkers = 0\nscheduler = ""\n'
                                           'folds_ahead = True')
        params.metadata["tags"] = ["parameters"]
        nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(code.get(stage, "pass"))])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{stage}.ipynb")
    return folder


def kernels_of(pid: int) -> list[psutil.Process]:
    """The ipykernel processes started by process ``pid`` (and their children): kernels started as new processes,
    and kernels forked by its kernel server (:mod:`mmmhelpers.kernel_forks`), which is not one of them."""
    from mmmhelpers.kernel_forks import SERVER_MODULE

    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    forked = {k.pid: k for k in kids if SERVER_MODULE in " ".join(_cmdline(k))}  # the servers and their forks
    servers = {pid for pid, k in forked.items() if _ppid(k) not in forked}
    kids = [k for k in kids if k.pid not in servers]
    return kids if any("ipykernel" in " ".join(_cmdline(k)) or _ppid(k) in servers for k in kids) else []


def _ppid(p: psutil.Process) -> int | None:
    try:
        return p.ppid()
    except psutil.Error:
        return None


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def running(procs: list[psutil.Process]) -> list[int]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return alive
