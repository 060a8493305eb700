"""The report, next month: what the new data change against the last report's (periods added or dropped, history
revised), said before the run and on the data page (``artifacts/data_diff.json``).

A refresh is a run of the same case on data with new periods. Revised history (a value of a period both reports
have that is not the same) is a warning naming its rows: the numbers of the last report rested on other data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmmhelpers.data import MMMData

__all__ = ["DataDiff", "data_diff", "save_diff", "load_diff", "DIFF"]

DIFF = "data_diff.json"
SHOWN = 5  # revised values named one by one; the rest are counted


@dataclass
class DataDiff:
    """What changed from the last report's data to this run's."""

    previous: str  # the last report's data: "156 weeks, 2023-01-02 to 2025-12-22"
    added: list[str] = field(default_factory=list)  # dates (YYYY-MM-DD) the new data add
    removed: list[str] = field(default_factory=list)  # dates the last report had and the new data do not
    revised: list[dict] = field(default_factory=list)  # {date, cell, column, before, after} (the first SHOWN)
    n_revised: int = 0  # values revised in all
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    period: str = "week"

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.n_revised or self.columns_added or self.columns_removed)

    def sentence(self) -> str:
        """What changed, in words (the data page and the run's output)."""
        if not self.changed:
            return f"The data are the last report's ({self.previous}): nothing added or revised."
        parts = []
        for dates, verb in [(self.added, "added"), (self.removed, "no longer in the data")]:
            if dates:
                span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
                parts.append(f"{len(dates)} {self.period}{'s' if len(dates) != 1 else ''} {verb} ({span})")
        if self.columns_added or self.columns_removed:
            parts.append("columns " + "; ".join([f"new: {', '.join(self.columns_added)}"] * bool(self.columns_added)
                                               + [f"gone: {', '.join(self.columns_removed)}"]
                                               * bool(self.columns_removed)))
        parts.append(f"{self.n_revised} historical value{'s' if self.n_revised != 1 else ''} revised"
                     if self.n_revised else "no historical value revised")
        return f"Since the last report (its data: {self.previous}): " + "; ".join(parts) + "."

    def warnings(self) -> list[str]:
        """Revised history, named row by row: the last report's numbers rested on other data."""
        if not self.n_revised:
            return []
        named = [f"{r['column']} on {r['date']}{' in ' + r['cell'] if r['cell'] else ''}: "
                 f"{r['before']:,.6g} -> {r['after']:,.6g}" for r in self.revised]
        more = f" and {self.n_revised - len(named)} more" if self.n_revised > len(named) else ""
        return [f"history revised since the last report ({self.n_revised} value{'s' if self.n_revised != 1 else ''}): "
                + "; ".join(named) + more + ". The last report's numbers rested on the old values; compare the two "
                "reports with that in mind"]


def _long(data: MMMData) -> pd.DataFrame:
    frame = data.to_frame().rename(columns={data.date_column: "date"})
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return frame.set_index(["date", *data.dims])


def data_diff(old: MMMData, new: MMMData, rtol: float = 1e-9) -> DataDiff:
    """Periods added and removed, and every value of a period and cell both have that differs beyond ``rtol``."""
    a, b = _long(old), _long(new)
    old_dates, new_dates = a.index.get_level_values("date").unique(), b.index.get_level_values("date").unique()
    shared = [c for c in a.columns if c in b.columns]
    common = a.index.intersection(b.index)
    x, y = a.loc[common, shared].astype(float), b.loc[common, shared].astype(float)
    differs = ~np.isclose(x.to_numpy(), y.to_numpy(), rtol=rtol, atol=0.0, equal_nan=True)
    rows, cols = np.nonzero(differs)
    order = np.lexsort((cols, rows))[:SHOWN]
    revised = [{"date": str(common[i][0] if new.dims else common[i]),
                "cell": ", ".join(f"{d} {v}" for d, v in zip(new.dims, common[i][1:])) if new.dims else "",
                "column": shared[j], "before": float(x.iat[i, j]), "after": float(y.iat[i, j])}
               for i, j in zip(rows[order], cols[order])]
    return DataDiff(previous=f"{old.n_dates} {old.period}s, {old.dates[0]:%Y-%m-%d} to {old.dates[-1]:%Y-%m-%d}",
                    added=sorted(set(new_dates) - set(old_dates)), removed=sorted(set(old_dates) - set(new_dates)),
                    revised=revised, n_revised=int(differs.sum()),
                    columns_added=[c for c in b.columns if c not in a.columns],
                    columns_removed=[c for c in a.columns if c not in b.columns], period=new.period)


def save_diff(run_dir: str | Path, diff: DataDiff) -> Path:
    path = Path(run_dir) / "artifacts" / DIFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(diff), indent=2) + "\n")
    return path


def load_diff(run_dir: str | Path) -> DataDiff | None:
    path = Path(run_dir) / "artifacts" / DIFF
    return DataDiff(**json.loads(path.read_text())) if path.exists() else None
