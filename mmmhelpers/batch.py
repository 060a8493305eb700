"""Batches of cases: ``mmm-report run params/a.yaml params/b.yaml`` or ``mmm-report run params/``.

Each case is one task of :mod:`mmmhelpers.executor` running ``mmm-report run`` in its own process (its own
kernels and Ctrl-C handling), so a failed case does not stop the others. The summary table gives each case's
health, time and report path; the exit code is non-zero when any case failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

__all__ = ["case_files", "run_case", "run_batch", "summary_table"]


def case_files(args: list[str]) -> list[Path]:
    """The params files named, folders expanded to their ``*.yaml`` (sorted); a missing path is an error."""
    out = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            out += sorted(p.glob("*.yaml"))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{a}: no such params file or folder")
    return out


def run_case(path: str, out: str | None, flags: list[str]) -> dict:
    """``mmm-report run`` of one case in a subprocess: its status, health, time, report folder and last error."""
    from mmmhelpers.config import load_params

    t0 = time.perf_counter()
    folder = Path(out) if out else Path.cwd() / "reports" / load_params(path).case
    cmd = [sys.executable, "-m", "mmmhelpers.cli", "run", path, "--no-progress", *flags]
    if out:
        cmd += ["--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    diag = folder / "artifacts" / "diagnostics.json"
    health = json.loads(diag.read_text()).get("health", "?") if proc.returncode == 0 and diag.exists() else "–"
    lines = [ln.strip() for ln in proc.stderr.strip().splitlines() if ln.strip()]
    error = " ".join(lines[:4]) if proc.returncode else ""  # the message and its first problems
    return {"case": Path(path).stem, "status": "ok" if proc.returncode == 0 else "FAILED", "health": health,
            "seconds": round(time.perf_counter() - t0, 1), "report": str(folder / "index.html"), "error": error}


def run_batch(paths: list[Path], executor, flags: list[str], out_root: str | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Every case through ``executor``; one summary row per case, in the order given."""
    from mmmhelpers.executor import Task

    tasks = [Task(p.stem, run_case, {"path": str(p), "out": str(Path(out_root) / p.stem) if out_root else None,
                                     "flags": flags}) for p in paths]
    rows = []
    for o in executor.map(tasks, desc="cases", progress=progress):
        rows.append(o.value if o.ok else {"case": o.name, "status": "FAILED", "health": "–", "seconds": None,
                                          "report": "", "error": o.error})
    return pd.DataFrame(rows)


def summary_table(df: pd.DataFrame) -> str:
    """The batch's summary as plain text for the terminal."""
    return df.drop(columns=["error"]).to_string(index=False) + "".join(
        f"\n  {r.case}: {r.error}" for r in df.itertuples() if r.status != "ok" and r.error)
