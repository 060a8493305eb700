"""How stable each number is: the report made 1, 2, ..., k periods earlier (``out_of_sample.stability_refits``).

Each refit observes the data without its last j periods (j = 1..k) through one compiled model with masked periods,
as the holdout folds do (scales from the weeks it sees, no look-ahead) and the case's sampler settings (fewer draws
left R-hat above its threshold on the default case). Per refit: each channel's ROAS over the
weeks it saw, and the plan the budget page would have recommended (same budget, rules and held channels). A ROAS is
*unstable* when a refit's estimate lies outside this report's 94% interval; a plan cell is unstable when a refit
moves it the other way from its historical spend (the recommendation's direction rests on the last few weeks).
Written to ``artifacts/stability.json`` by the budget stage (the refits' media posteriors are kept in
``artifacts/stability_refits.nc`` and reused while the fit is the same: a new budget plans again without sampling);
the budget page shows it and the summary names what is unstable.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel

from mmmhelpers.artifacts import Allocation, Record
from mmmhelpers.contributions import roas_draws
from mmmhelpers.data import MMMData
from mmmhelpers.exports import load_table
from mmmhelpers.seeds import seed_for

__all__ = ["Refit", "Stability", "refit_posteriors", "cached_refits", "stability_refits", "stability_case",
           "stability_sentence", "marked", "direction", "TOLERANCE", "CACHE"]

CACHE = "stability_refits.nc"  # artifacts/: the refits' media posteriors, reused while the fit is the same
TOLERANCE = 0.05  # a plan cell within 5% of its historical spend has not moved (no direction to flip)


class Refit(BaseModel):
    """One refit: the periods it left out, its last period, each channel's ROAS and its plan per cell."""

    dropped: int
    last_date: str  # YYYY-MM-DD
    roas: list[float]  # per channel (mean over draws)
    plan: list[float]  # spend per period per plan cell (empty without an optimization section)
    divergences: int
    rhat_max: float
    converged: bool


class Stability(Record):
    """``artifacts/stability.json``: this report's ROAS and plan beside the refits'."""

    FILE: ClassVar[str] = "stability.json"
    channels: list[str]
    unit: str = "week"  # what one refit step leaves out: a week of daily data, else one period (week, month)
    roas: list[float]  # this report's (mean), and its 94% HDI
    roas_low: list[float]
    roas_high: list[float]
    cells: list[str] = []  # plan cells ("tv" or "tv @ north")
    history: list[float] = []  # historical split at the budget, per cell
    plan: list[float] = []  # this report's plan
    refits: list[Refit]

    def refit_labels(self) -> list[str]:
        """The refits' column names: "without 1 week", "without 2 weeks", ... (what each left out)."""
        return [f"without {j} {self.unit}{'s' if j != 1 else ''}" for j in range(1, len(self.refits) + 1)]

    def roas_frame(self) -> pd.DataFrame:
        """Per channel: this report's ROAS and 94% HDI, each refit's estimate, and ``unstable`` (a refit's estimate
        outside the interval)."""
        r = np.array([f.roas for f in self.refits])
        outside = ((r < np.array(self.roas_low)) | (r > np.array(self.roas_high))).any(axis=0)
        return pd.DataFrame({"channel": self.channels, "ROAS": self.roas, "ROAS 3%": self.roas_low,
                             "ROAS 97%": self.roas_high, **dict(zip(self.refit_labels(), r)), "unstable": outside})

    def plan_frame(self) -> pd.DataFrame | None:
        """Per plan cell: historical spend per period, this report's plan, each refit's, and ``unstable`` (a refit
        moves it the other way from history); None without a plan."""
        if not self.cells:
            return None
        p, hist, now = np.array([f.plan for f in self.refits]), np.array(self.history), np.array(self.plan)
        way = direction(now, hist)
        flips = np.array([(direction(row, hist) * way < 0) for row in p]).any(axis=0)
        return pd.DataFrame({"cell": self.cells, "historical": hist, "plan": now,
                             **dict(zip(self.refit_labels(), p)), "unstable": flips})

    def unstable(self) -> tuple[list[str], list[str]]:
        """The channels whose ROAS and the plan cells whose direction are unstable."""
        plan = self.plan_frame()
        roas = self.roas_frame()
        return (roas.loc[roas["unstable"], "channel"].tolist(),
                [] if plan is None else plan.loc[plan["unstable"], "cell"].tolist())


def marked(frame: pd.DataFrame) -> pd.DataFrame:
    """A stability table for the page: ``unstable`` in words ("unstable" or blank)."""
    return frame.assign(unstable=frame["unstable"].map({True: "unstable", False: ""}))


def direction(spend: np.ndarray, history: np.ndarray) -> np.ndarray:
    """+1 raised, -1 cut, 0 within ``TOLERANCE`` of history (or of the budget's average cell, for a cell that had
    no spend)."""
    scale = np.maximum(history, history.mean() if history.size else 0.0)
    return np.where(np.abs(spend - history) <= TOLERANCE * scale, 0, np.sign(spend - history))


def _roas_means(posterior, data: MMMData, seen: int) -> list[float]:
    part = posterior.isel(date=slice(0, seen))
    return [float(v) for v in np.nanmean(roas_draws(part, data.slice(0, seen)), axis=0)]


def refit_step(period: str) -> tuple[int, str]:
    """How many periods one refit step leaves out, and its word: a week (7 days) of daily data, else one period."""
    return (7, "week") if period == "day" else (1, period)


def refit_posteriors(params, data: MMMData, ends: list[int]):
    """The posteriors of one compiled model observing the first ``end`` periods, for each of ``ends`` (scales from
    those periods: nothing after them is seen); yielded one by one."""
    from mmmhelpers.calibration import model_for
    from mmmhelpers.fit import sample_many
    from mmmhelpers.out_of_sample import fold_values

    mmm = model_for(params, data, observed_weeks=ends[0])
    values = [fold_values(mmm, data, end) for end in ends]
    seeds = [seed_for(params.seed, "stability", data.n_dates - end) for end in ends]
    return sample_many(mmm, values, params.fit, seeds, coords=[{"obs": data.dates[:end]} for end in ends])


def _media_posterior(posterior: xr.Dataset, seen: int) -> xr.Dataset:
    """What a plan reads of a refit: the media parameters, and the media multiplier over the periods it saw."""
    from mmmhelpers.response import MULTIPLIER_NAME

    keep = [v for v in posterior.data_vars if str(v).startswith(("adstock_", "saturation_")) or v == MULTIPLIER_NAME]
    part = posterior[keep]
    return part.isel(date=slice(0, seen)) if "date" in part.dims else part


def _fit_key(run_dir: Path, k: int) -> str:
    """This report's fit (the bytes of its posterior) and the number of refits: a budget page re-run with the same
    key reuses the refits (``CACHE``) instead of sampling them again."""
    digest = hashlib.sha256()
    with open(Path(run_dir) / "artifacts" / "idata.nc", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{digest.hexdigest()[:16]}-k{k}"


def cached_refits(params, data: MMMData, run_dir, progress: bool = False) -> list[tuple[Refit, xr.Dataset]]:
    """The refits without the last 1..k periods (``out_of_sample.stability_refits``): each one's record (ROAS and
    convergence, no plan yet) and the media posterior a plan needs; sampled once per fit, kept in ``CACHE``."""
    from tqdm import tqdm

    from mmmhelpers.fit import convergence

    k, n = params.out_of_sample.stability_refits, data.n_dates
    path, key = Path(run_dir) / "artifacts" / CACHE, _fit_key(run_dir, k)
    if path.exists():
        with xr.open_dataset(path) as head:
            fresh = head.attrs.get("key") == key
        if fresh:
            return [(Refit.model_validate_json(g.attrs["refit"]), g) for g in
                    (xr.load_dataset(path, group=f"refit_{j}") for j in range(1, k + 1))]
    step = refit_step(data.period)[0]
    ends = [n - j * step for j in range(1, k + 1)]
    out = []
    for end, fit in tqdm(zip(ends, refit_posteriors(params, data, ends)), total=k, desc="stability refits",
                         disable=not progress):
        refit = Refit(dropped=n - end, last_date=f"{data.dates[end - 1]:%Y-%m-%d}",
                      roas=_roas_means(fit.posterior, data, end), plan=[], **convergence(fit))
        out.append((refit, _media_posterior(fit.posterior, end).assign_attrs(refit=refit.model_dump_json())))
    xr.Dataset(attrs={"key": key}).to_netcdf(path, mode="w")
    for j, (_, media) in enumerate(out, 1):
        media.to_netcdf(path, mode="a", group=f"refit_{j}")
    return out


def stability_refits(params, data: MMMData, run_dir, alloc: Allocation | None,
                     progress: bool = False) -> Stability | None:
    """Each channel's ROAS (this report's table, mean and 94% HDI) and the plan (``alloc``: the budget page's, with
    the channels it holds; None without an optimization section) in this report (``run_dir``) and refitted without
    the last 1..k periods (``out_of_sample.stability_refits``; None when 0)."""
    from mmmhelpers.optimize import best_plan

    if not params.out_of_sample.stability_refits:
        return None
    refits = cached_refits(params, data, run_dir, progress)
    if alloc is not None:  # each refit planned as the budget page plans: same budget, rules and held channels
        refits = [(r.model_copy(update={"plan": best_plan(params, data.slice(0, data.n_dates - r.dropped),
                                                          az.InferenceData(posterior=media), alloc.held)[-1]
                                        .per_period.ravel().tolist()}), media) for r, media in refits]
    roas = load_table(run_dir, "roas")
    if roas is None:
        raise FileNotFoundError(f"{run_dir}: no ROAS table (artifacts/tables/roas.csv): run the fit stage first")
    table = roas.set_index("channel").loc[data.channels]
    plan = {} if alloc is None else {"cells": alloc.cells, "history": alloc.spend("historical").tolist(),
                                     "plan": alloc.spend().tolist()}
    return Stability(channels=data.channels, unit=refit_step(data.period)[1], roas=table["ROAS"].tolist(),
                     roas_low=table["ROAS 3%"].tolist(), roas_high=table["ROAS 97%"].tolist(),
                     refits=[r for r, _ in refits], **plan)


def stability_case(params, data: MMMData, run_dir, alloc: Allocation | None) -> Stability | None:
    """The budget page's stability section for the case in ``run_dir`` (``alloc``: the plan the page made, or None),
    saved to ``artifacts/stability.json`` (a stale one removed)."""
    result = stability_refits(params, data, run_dir, alloc)
    if result is None:
        Stability.path(run_dir).unlink(missing_ok=True)
        (Path(run_dir) / "artifacts" / CACHE).unlink(missing_ok=True)
    else:
        result.save(run_dir)
    return result


def stability_sentence(result: Stability) -> str:
    """What the refits say, in words: which ROAS and which plan cells move beyond their own uncertainty."""
    k, period = len(result.refits), result.unit
    channels, cells = result.unstable()
    head = f"Refitted without the last 1 to {k} {period}s, "
    roas = (f"the ROAS of {', '.join(channels)} left this report's 94% interval: treat it as unstable"
            if channels else "every channel's ROAS stayed inside this report's 94% interval")
    if not result.cells:
        return head + roas + "."
    plan = (f"the plan moved {', '.join(cells)} the other way from its historical spend in at least one refit: the "
            "direction of that recommendation rests on the last few " + period + "s"
            if cells else "the plan kept every recommended direction")
    return f"{head}{roas}; {plan}."
