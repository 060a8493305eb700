"""The report, next month: what the new data change against the last report's (periods added or dropped, history
revised), said before the run and on the data page (``artifacts/data_diff.json``), and the reports kept over
successive refreshes (``history/``) with each channel's ROAS and contribution across them (the fit page).

A refresh is a run of the same case on data that changed. Revised history (a value of a period both reports have
that is not the same) is a warning naming its rows: the numbers of the last report rested on other data. The report
a refresh replaces is kept in ``history/<when it was made>/``: its manifest, its diagnostics, its plan and its
tables (not its posterior), so that a client sees how the estimates moved, not only the latest.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from mmmhelpers.artifacts import Allocation, Manifest, Part, Record, load_idata
from mmmhelpers.data import MMMData
from mmmhelpers.formatting import first_upper
from mmmhelpers.intervals import LIKELY, as_probability
from mmmhelpers.seeds import seed_for
from mmmhelpers.stability import direction

__all__ = ["DataDiff", "data_diff", "HISTORY", "keep_history", "roas_history", "moved_sentence", "Backtest",
           "backtest", "backtest_sentence", "save_backtest", "ShiftCause", "shift_causes", "likely_shift",
           "settings_changed", "likely_cause", "plan_history",
           "plan_history_sentence"]

HISTORY = "history"  # <report>/history/<made>/: the reports a refresh replaced
KEPT = ("manifest.json", "artifacts/diagnostics.json", "artifacts/allocation.json", "artifacts/data_diff.json",
        "artifacts/tables")
SHOWN = 5  # revised values named one by one; the rest are counted


class DataDiff(Record):
    """What changed from the last report's data to this run's (``artifacts/data_diff.json``)."""

    FILE: ClassVar[str] = "data_diff.json"
    previous: str  # the last report's data: "156 weeks, 2023-01-02 to 2025-12-22"
    added: list[str] = Field(default_factory=list)  # dates (YYYY-MM-DD) the new data add
    removed: list[str] = Field(default_factory=list)  # dates the last report had and the new data do not
    revised: list[dict] = Field(default_factory=list)  # {date, cell, column, before, after} (the first SHOWN)
    n_revised: int = 0  # values revised in all
    columns_added: list[str] = Field(default_factory=list)
    columns_removed: list[str] = Field(default_factory=list)
    period: str = "week"
    previous_last: str = ""  # the last report's last date (YYYY-MM-DD): model.scaling.until keeps its scales
    revised_columns: dict[str, int] = Field(default_factory=dict)  # column -> values revised in it
    spent_in_added: list[str] = Field(default_factory=list)  # channels with spend in the added periods
    settings_changed: list[str] = Field(default_factory=list)  # params sections changed since (settings_changed)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.n_revised or self.columns_added or self.columns_removed)

    def sentence(self) -> str:
        """What changed, in words (the data page and the run's output)."""
        if not self.changed:
            return f"The data are the last report's ({self.previous}): nothing added or revised."
        return f"Since the last report (its data: {self.previous}): {self.changes()}."

    def changes(self) -> str:
        """The changes alone: periods added or dropped, columns, revised values."""
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
        return "; ".join(parts)

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
    added = sorted(set(new_dates) - set(old_dates))
    in_added = b.loc[b.index.get_level_values("date").isin(added)]
    spent = [ch for ch in new.channels if ch in in_added and float(in_added[ch].abs().sum()) > 0]
    return DataDiff(previous=f"{old.n_dates} {old.period}s, {old.dates[0]:%Y-%m-%d} to {old.dates[-1]:%Y-%m-%d}",
                    added=added, removed=sorted(set(old_dates) - set(new_dates)),
                    revised=revised, n_revised=int(differs.sum()), spent_in_added=spent,
                    revised_columns={shared[j]: int(n) for j, n in enumerate(differs.sum(axis=0)) if n},
                    columns_added=[c for c in b.columns if c not in a.columns],
                    columns_removed=[c for c in a.columns if c not in b.columns], period=new.period,
                    previous_last=f"{old.dates[-1]:%Y-%m-%d}")


def settings_changed(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    """The params sections whose hash differs between two runs' stage inputs (``manifest.stage_inputs``), e.g.
    ``["model", "optimization"]``: a likely cause of an estimate that moved."""
    changed = set()
    for stage, inputs in new.items():
        for name, value in inputs.items():
            if name.startswith("params.") and old.get(stage, {}).get(name, value) != value:
                changed.add(name.removeprefix("params."))
    return sorted(changed)


def likely_cause(channel: str, diff: DataDiff | None) -> str:
    """What visibly changed for ``channel`` since the last report, in words ("" when nothing is visible): revised
    history in its column, new periods in which it spent, a changed setting."""
    if diff is None:
        return ""
    causes = []
    if diff.revised_columns.get(channel):
        n = diff.revised_columns[channel]
        causes.append(f"{n} revised value{'s' if n != 1 else ''} of its spend")
    if channel in diff.spent_in_added:
        causes.append(f"new {diff.period}s with its spend")
    others = sorted(c for c in diff.revised_columns if c != channel)
    if others:
        causes.append("revised history in " + ", ".join(others))
    if diff.settings_changed:
        causes.append("changed settings: " + ", ".join(diff.settings_changed))
    return "; ".join(causes)


def keep_history(previous: Path, staging: Path, refreshed: bool) -> list[Path]:
    """Carry ``previous``'s history into ``staging`` and, when this run refreshed it (its data changed), keep the
    previous report itself there too (``KEPT``: no posterior). Returns the entries ``staging`` holds, oldest first."""
    dest = Path(staging) / HISTORY
    if (Path(previous) / HISTORY).is_dir() and not dest.exists():
        shutil.copytree(Path(previous) / HISTORY, dest)
    manifest = Manifest.load_or_none(previous)
    if refreshed and manifest is not None:
        entry = dest / manifest.created.replace(" UTC", "").replace(" ", "_").replace(":", "")
        for name in KEPT:
            src = Path(previous) / name
            if src.is_dir():
                shutil.copytree(src, entry / name, dirs_exist_ok=True)
            elif src.is_file():
                (entry / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, entry / name)
    return _kept(staging)


def _kept(report: Path) -> list[Path]:
    """The reports kept in ``report``'s history, oldest first."""
    folder = Path(report) / HISTORY
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _report_row(folder: Path, label: str) -> pd.DataFrame | None:
    path = folder / "artifacts" / "tables" / "roas.csv"
    if not path.exists():
        return None
    roas = pd.read_csv(path)[["channel", "ROAS", "ROAS 3%", "ROAS 97%"]]
    contrib = folder / "artifacts" / "tables" / "contributions.csv"
    if contrib.exists():
        c = pd.read_csv(contrib).rename(columns={"component": "channel"})[["channel", "contribution"]]
        roas = roas.merge(c, on="channel", how="left")
    return roas.assign(report=label)


def roas_history(report: Path) -> pd.DataFrame | None:
    """Each channel's ROAS (mean, 94% HDI) and contribution in every kept report and in this one, oldest first, with
    ``moved``: this report's ROAS lies outside the report before's interval, and ``shifted``: the last report's
    forecast of the new periods missed and the miss points to this channel (``Backtest.shifted``); None without
    history."""
    rows = []
    for folder in [*_kept(report), Path(report)]:
        manifest = Manifest.load_or_none(folder)
        label = "this report" if folder == Path(report) else (manifest.created[:16] if manifest else folder.name)
        row = _report_row(folder, label)
        if row is not None:
            rows.append(row)
    if len(rows) < 2:
        return None
    frame = pd.concat(rows, ignore_index=True)
    before = rows[-2].set_index("channel")
    now = rows[-1].set_index("channel")
    moved = {ch: bool(ch in before.index and not before.loc[ch, "ROAS 3%"] <= now.loc[ch, "ROAS"]
                      <= before.loc[ch, "ROAS 97%"]) for ch in now.index}
    frame["moved"] = [moved.get(ch, False) if r == "this report" else False for ch, r in zip(frame.channel,
                                                                                         frame.report)]
    b = Backtest.load_or_none(report)
    shifted = b.shifted if b is not None else None
    frame["shifted"] = [ch == shifted and r == "this report" for ch, r in zip(frame.channel, frame.report)]
    diff = DataDiff.load_or_none(report)
    frame["likely cause"] = [
        "; ".join(([likely_cause(ch, diff)] if m else []) + ([f"the new periods: {b.shift_reason}"] if s and b else []))
        for ch, m, s in zip(frame.channel, frame.moved, frame.shifted)]
    return frame[["report", *[c for c in frame.columns if c != "report"]]]


def plan_history(report: Path) -> pd.DataFrame | None:
    """The last report's plan beside this one's, per cell: spend per period in each, each one's historical split,
    and ``turned``: this plan moves the cell the other way from history than the last did (None without a kept
    report that planned)."""
    kept = [k for k in _kept(report) if (k / "artifacts" / "allocation.json").exists()]
    now = Allocation.load_or_none(report)
    last = Allocation.load_or_none(kept[-1]) if kept else None
    if now is None or last is None:
        return None
    cells = [r.label for r in now.allocation]
    before = {r.label: r.spend_per_period for r in last.allocation}
    hist_before = {r.label: r.spend_per_period for r in last.initial.allocation}
    frame = pd.DataFrame({"cell": cells, "last report's plan": [before.get(c, np.nan) for c in cells],
                          "this report's plan": now.spend(), "historical split now": now.spend("historical")})
    was = direction(frame["last report's plan"].to_numpy(), np.array([hist_before.get(c, np.nan) for c in cells]))
    is_ = direction(frame["this report's plan"].to_numpy(), frame["historical split now"].to_numpy())
    frame["turned"] = was * is_ < 0
    return frame


def plan_history_sentence(report: Path, frame: pd.DataFrame, currency: str = "") -> str:
    """The last report's plan against this one in words: the budgets, both gains (with intervals) and the turns."""
    last = Allocation.load(_kept(report)[-1])
    now = Allocation.load(report)
    cur = f"{currency} " if currency else ""

    def gain(a) -> str:
        g = a.initial.gain
        return f"{g.mean:,.0f} (94% HDI {g.hdi_94[0]:,.0f} to {g.hdi_94[1]:,.0f})"

    turned = frame.loc[frame["turned"], "cell"].tolist()
    return (f"**The last report's plan** spent {cur}{last.budget_per_period:,.0f} per period and claimed a gain of "
            f"{gain(last)} over its historical split; this one spends {cur}{now.budget_per_period:,.0f} and claims "
            f"{gain(now)}. " + (f"It now moves {', '.join(turned)} the other way: look at the likely causes on the "
                               "fit page before acting on the turn." if turned else
                               "No cell turned: every move points the way it did."))


def moved_sentence(history: pd.DataFrame) -> str:
    """The channels whose ROAS moved beyond the last report's interval, and the one whose effect shifted in the new
    periods (the backtest's miss points to it), in words."""
    moved = history.loc[history["moved"], "channel"].tolist()
    n = history["report"].nunique()
    shifted = history.loc[history["shifted"], "channel"].tolist()
    shift = (f" The last report's forecast of the new periods missed, and the miss points to {shifted[0]}: its effect "
             "in the new periods differs from the estimate, even where its ROAS over every period barely moved."
             if shifted else "")
    if not moved:
        return (f"Over the {n} reports of this case, every channel's ROAS now lies inside the last report's 94% "
                "interval: the new data did not move an estimate beyond its own uncertainty." + shift)
    names = ", ".join(moved)
    return (f"Over the {n} reports of this case, the ROAS of {names} moved beyond the last report's 94% interval: "
            "look at the data diff (new periods, revised history) and at any changed setting before quoting it."
            + shift)


class ShiftCause(Part):
    """One term of the last report's model, scaled to explain its miss on the new periods (:func:`shift_causes`)."""

    term: str  # a channel, or "baseline" (every term but media)
    multiplier: float  # the scale of the term over the new periods that fits them best (1: as forecast)
    z: float  # that change in standard errors of the forecast
    explained: float  # the share of the miss (its chi-square) that this one change explains
    probability: float = 0.0  # P(this is the term that changed | one term changed): exp(z^2 / 2), normalized


SHRINK = 0.1  # the forecast's covariance shrunk this far toward its diagonal (a stable inverse from finite draws)
MISS_P = 0.05  # a backtest misses when a calibrated forecast would miss by this much or more this rarely
CLEAR_Z = 2.0  # a term explains a miss when its change is this many standard errors from none


def shift_causes(draws: np.ndarray, parts: dict[str, np.ndarray], actual: np.ndarray) -> tuple[float, list[ShiftCause]]:
    """Which single term of the last report's model, scaled over the new periods, best explains its forecast's miss.

    ``draws``: the forecast's draws ``(sample, value)`` of every new period (and market); ``parts``: each candidate
    term's forecast mean per value; ``actual``: what happened. With the forecast's mean and covariance ``S`` over the
    new values (from the draws, shrunk by ``SHRINK`` toward its diagonal; ``W = S^-1``), the miss is
    ``r = actual - mean``; a term whose mean is ``m``, scaled by ``1 + d``, explains it best at the generalized
    least-squares ``d = m'Wr / m'Wm``, ``z = d / se`` standard errors from no change (``se = 1 / sqrt(m'Wm)``),
    which removes ``z^2`` of the miss's ``chi2 = r'Wr``. The covariance matters: the parameters' uncertainty moves
    every period of a smooth term together, so a miss spread evenly over the periods is partly expected, and a miss
    shaped like one channel's spend is not. Returns the probability of a miss at least this large if the forecast
    held (the chi-square tail with one degree of freedom per value) and the terms, the best explanation first."""
    from scipy import stats

    mean = draws.mean(axis=0)
    cov = np.atleast_2d(np.cov(draws, rowvar=False, ddof=0))
    cov = (1 - SHRINK) * cov + SHRINK * np.diag(np.diag(cov)) + 1e-12 * np.eye(len(cov))
    r = actual - mean
    chi2 = float(r @ np.linalg.solve(cov, r))
    causes = []
    for term, m in parts.items():
        wm = np.linalg.solve(cov, m)
        info = float(m @ wm)
        if info <= 0:
            continue
        d = float(r @ wm) / info
        z = d * np.sqrt(info)
        causes.append(ShiftCause(term=term, multiplier=1 + d, z=float(z), explained=float(z**2 / chi2) if chi2 else 0.0))
    causes.sort(key=lambda c: -abs(c.z))
    if causes:  # each one-parameter explanation's likelihood ratio over none is exp(z^2 / 2): equal prior odds
        weights = np.exp(np.array([c.z**2 for c in causes]) / 2 - causes[0].z ** 2 / 2)
        causes = [c.model_copy(update={"probability": float(w / weights.sum())}) for c, w in zip(causes, weights)]
    return float(stats.chi2.sf(chi2, r.size)), causes


def likely_shift(miss_p: float, causes: list[ShiftCause]) -> tuple[str | None, str]:
    """The term a backtest's miss points to (None when it does not miss, when no one term explains it, or when no
    term is likely, ``intervals.LIKELY``, to be the one: the new periods cannot tell them apart), and why, in words.
    """
    if miss_p >= MISS_P:
        return None, (f"the forecast held: a calibrated forecast misses by this much or more {miss_p:.0%} of the time "
                      f"(a miss is below {MISS_P:.0%}), so no term is named")
    if not causes or abs(causes[0].z) < CLEAR_Z:
        return None, "no single term of the model explains the miss"
    best = causes[0]
    if best.probability < LIKELY:
        named = [c for c in causes if c.probability >= 0.05]
        return None, ("the new periods cannot tell which term changed: " + ", ".join(
            f"{c.term} (effect about {c.multiplier:.2g} times the forecast's, P = {as_probability(c.probability)})"
            for c in named))
    return best.term, (f"its effect at about {best.multiplier:.2g} times the forecast's explains {best.explained:.0%} "
                       f"of the miss ({abs(best.z):.1f} standard errors from no change; P = "
                       f"{as_probability(best.probability)} that it is the term that changed)")


class Backtest(Record):
    """The last report's model forecasting the periods a refresh added, scored (``artifacts/backtest.json``)."""

    FILE: ClassVar[str] = "backtest.json"
    periods: int  # periods added
    values: int  # values scored: every added period in every market
    first: str  # the first and last added period (YYYY-MM-DD)
    last: str
    forecast_total: float  # the forecast's mean total over the added periods
    actual_total: float
    crps: float
    mape: float
    coverage_50: float  # the share of the new values inside the forecast's 50% and 94% bands
    coverage_94: float
    miss_p: float | None = None  # P(a miss at least this large | the forecast holds): shift_causes
    causes: list[ShiftCause] = Field(default_factory=list)  # each term scaled to explain the miss, best first
    shifted: str | None = None  # the term the miss points to (likely_shift), if one does
    shift_reason: str = ""


def backtest(previous: Path, old: MMMData, params, data: MMMData, diff: DataDiff) -> Backtest | None:
    """The last report's model forecasting the periods this run adds, scored against what happened (the honest
    backtest): its posterior and its data's carryover, the new periods' spend and controls. CRPS, MAPE and the
    share of the new values inside the 50% and 94% bands, per value (every new period and market). None when no
    period was added after the last report's, or when the last report's posterior is not there. ``old``: the data of
    the report in ``previous``."""
    from dataclasses import replace

    from mmmhelpers.calibration import model_for
    from mmmhelpers.out_of_sample import forecast, scores

    if not diff.added or not (Path(previous) / "artifacts" / "idata.nc").exists():
        return None
    n = old.n_dates
    if data.n_dates <= n or not data.dates[:n].equals(old.dates):
        return None
    new = replace(data.slice(n, None), y=np.full_like(data.y[n:], np.nan))
    _, pred = forecast(model_for(params, old), load_idata(previous), old, 0, seed=seed_for(params.seed, "backtest"),
                       plan=new, var_names=("y", "channel_contribution_original_scale"))
    samples = pred["y_original_scale"].isel(date=slice(n, None)).values  # (sample, date, *panel)
    actual = data.y[n:]
    flat = samples.reshape(samples.shape[0], -1)
    out = scores(flat, actual.reshape(-1))
    total = float(samples.sum(axis=tuple(range(1, samples.ndim))).mean())
    media = pred["channel_contribution_original_scale"].isel(date=slice(n, None)).mean("sample")
    per_value = media.transpose("date", *data.panel, "channel").values.reshape(-1, len(data.channels))
    parts = {"baseline": flat.mean(axis=0) - per_value.sum(axis=1),
             **{ch: per_value[:, i] for i, ch in enumerate(data.channels)}}
    miss_p, causes = shift_causes(flat, parts, actual.reshape(-1))
    shifted, reason = likely_shift(miss_p, causes)
    return Backtest(periods=int(data.n_dates - n), values=int(actual.size), first=f"{data.dates[n]:%Y-%m-%d}",
                    last=f"{data.dates[-1]:%Y-%m-%d}", forecast_total=total, actual_total=float(actual.sum()),
                    **{k: out[k] for k in ("crps", "mape", "coverage_50", "coverage_94")}, miss_p=miss_p,
                    causes=causes, shifted=shifted, shift_reason=reason)


def save_backtest(run_dir: str | Path, result: Backtest | None) -> None:
    """``artifacts/backtest.json``, or none (a stale one is removed: only the refresh that added the periods
    scores the last report's forecast of them)."""
    if result is None:
        Backtest.path(run_dir).unlink(missing_ok=True)
    else:
        result.save(run_dir)


def backtest_sentence(result: Backtest, period: str = "week") -> str:
    """The backtest in words."""
    return (f"**The last report's forecast of the new {period}s** ({result.periods} {period}s, {result.first} to "
            f"{result.last}; its model and posterior, the new {period}s' spend and controls): it expected "
            f"{result.forecast_total:,.0f} in all and {result.actual_total:,.0f} happened; mean absolute "
            f"error {result.mape:.1%} per value, CRPS {result.crps:,.3g}; {result.coverage_94:.0%} of the "
            f"{result.values} new values fell inside its 94% band and {result.coverage_50:.0%} inside its 50% "
            "band (about 94% and 50% if it was calibrated)." + _shift_words(result))


def _shift_words(result: Backtest) -> str:
    """What the miss points to, in words ("" for a backtest saved before the shift check)."""
    if result.miss_p is None:
        return ""
    if result.shifted is None:
        return f" {first_upper(result.shift_reason)}."
    what = "the baseline (every term but media)" if result.shifted == "baseline" else f"**{result.shifted}**"
    return (f" The miss points to {what}: {result.shift_reason}. Its effect in the new periods is not the one the last "
            "report estimated: check it before quoting its numbers.")
