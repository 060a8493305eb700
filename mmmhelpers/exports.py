"""Tables clients ask for, as files: ``artifacts/tables/<name>.csv`` and one workbook ``artifacts/tables.xlsx``.

Each stage saves its own tables (contributions and ROAS from the fit, the plan from the optimizer); the
workbook is rewritten from every CSV present, one sheet each, so a re-run stage refreshes its sheet.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["save_table", "load_table", "write_workbook", "TABLES", "WORKBOOK"]

TABLES = "tables"
WORKBOOK = "tables.xlsx"


def save_table(run_dir: str | Path, name: str, df: pd.DataFrame) -> Path:
    """Write ``df`` as ``artifacts/tables/<name>.csv`` and refresh the workbook; returns the CSV's path."""
    folder = Path(run_dir) / "artifacts" / TABLES
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    df.to_csv(path, index=False)
    write_workbook(run_dir)
    return path


def write_workbook(run_dir: str | Path) -> Path:
    """``artifacts/tables.xlsx``: one sheet per CSV in ``artifacts/tables/`` (sheet names cut to 31 characters)."""
    artifacts = Path(run_dir) / "artifacts"
    path = artifacts / WORKBOOK
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for csv in sorted((artifacts / TABLES).glob("*.csv")):
            pd.read_csv(csv).to_excel(xl, sheet_name=csv.stem[:31], index=False)
    return path


def load_table(run_dir: str | Path, name: str) -> pd.DataFrame | None:
    """A table an earlier stage saved with :func:`save_table`, or None when that stage did not save it."""
    path = Path(run_dir) / "artifacts" / TABLES / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None
