"""Out-of-sample checks: holdout with carryover, rolling origins, CRPS / MAPE / coverage.

Prediction swaps the full spend history into the fitted model (``pm.set_data``) so that adstock
carries over from training weeks into the test weeks (no cold start), then draws the posterior
predictive and keeps the test weeks. ``forecast`` does the same after the last observed period: with the spend held
at its last level, or with a plan of future spend read from a CSV (``read_plan``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from tqdm import tqdm

from mmmhelpers.artifacts import OutOfSample
from mmmhelpers.calibration import model_for
from mmmhelpers.data import MMMData, plan_data, plan_warnings, read_plan
from mmmhelpers.fit import convergence, deterministics_at, likelihood_draws, sample_many
from mmmhelpers.intervals import HDI_PROB, mean_hdi
from mmmhelpers.model import MMM, organic_scales, scales, set_model_data
from mmmhelpers.seeds import seed_for

__all__ = ["crps", "coverage", "scores", "predict", "holdout_folds", "run_folds", "forecast", "forecast_data",
           "forecast_table", "fit_note", "forecast_parts", "forecast_case", "Forecast"]


def crps(samples: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """CRPS per observation from draws: ``E|X - y| - E|X - X'| / 2``.

    ``samples`` is ``(n_draws, *obs.shape)``. Uses the sorted-sample identity
    ``E|X - X'| = 2 / n² Σ_i (2i - n - 1) x_(i)`` (exact for the empirical distribution).
    """
    s = np.sort(np.asarray(samples, dtype=float), axis=0)
    n = s.shape[0]
    term1 = np.abs(s - obs[None]).mean(axis=0)
    i = np.arange(1, n + 1).reshape((n,) + (1,) * (s.ndim - 1))
    term2 = (2 * i - n - 1) * s
    return term1 - term2.sum(axis=0) / n**2


def coverage(samples: np.ndarray, obs: np.ndarray, prob: float) -> float:
    """Share of observations inside the central ``prob`` interval of the draws."""
    lo, hi = np.quantile(samples, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return float(np.mean((obs >= lo) & (obs <= hi)))


def scores(samples: np.ndarray, obs: np.ndarray) -> dict:
    """CRPS (mean), MAPE / sMAPE of the predictive mean, R², 50% / 94% coverage."""
    obs = np.asarray(obs, dtype=float)
    mean = np.asarray(samples).mean(axis=0)
    err = mean - obs
    nz = np.abs(obs) > 0
    ss_tot = np.sum((obs - obs.mean()) ** 2)
    return {
        "crps": float(crps(samples, obs).mean()),
        "mape": float(np.mean(np.abs(err[nz] / obs[nz]))) if nz.any() else float("nan"),
        "smape": float(np.mean(2 * np.abs(err) / (np.abs(obs) + np.abs(mean) + 1e-12))),
        "r2": float(1 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "coverage_50": coverage(samples, obs, 0.5),
        "coverage_94": coverage(samples, obs, HDI_PROB),
    }


def predict(mmm: MMM, idata, data: MMMData, seed: int = 0, var_names=("y",)) -> xr.Dataset:
    """Posterior predictive on ``data`` (any dates, same panel/channels), original scale.

    ``data`` should start where training started so that carryover is built from history.
    Returns ``y_original_scale`` (and other ``var_names``) with dims ``(sample, date, *panel)``: the deterministics
    by numpy over every draw at once and the likelihood drawn once (``fit.likelihood_draws``; PyMC's loop over draws
    for a likelihood it cannot rebuild).
    """
    mmm.set_data(data)
    try:
        post = idata["posterior"]
        names = [n for n in var_names if n != "y"]
        try:
            pp = deterministics_at(mmm, post, list(dict.fromkeys(["mu", *names])))
            pp["y"] = (pp["mu"].dims, likelihood_draws(mmm, post, pp["mu"], seed))
            pp = pp[list(var_names)]
        except Exception:  # noqa: BLE001 - an unusual likelihood: PyMC's loop over draws
            with mmm.model:
                pp = pm.sample_posterior_predictive(
                    idata, var_names=list(var_names), predictions=True, random_seed=seed, progressbar=False
                ).predictions
    finally:
        mmm.set_data(mmm.data)
    return _original_scale_draws(pp, mmm.target_scale, mmm.data.panel)


def forecast_data(data: MMMData, weeks: int) -> MMMData:
    """``data`` followed by ``weeks`` future periods (at the data's frequency): every cell's spend held at its last
    observed period's, controls at 0 (no event), the target unknown (NaN). The history stays, so its carryover runs
    into the future."""
    def held(a, fill):
        return np.broadcast_to(fill, (weeks, *a.shape[1:])).copy()

    assert data.Z is not None  # MMMData.__post_init__ fills it
    plan = replace(data, dates=data.calendar.following(data.dates[-1], weeks), X=held(data.X, data.X[-1]),
                   C=held(data.C, 0.0), y=held(data.y, np.nan), Z=held(data.Z, data.Z[-1]))
    return plan_data(data, plan)


def forecast(mmm: MMM, idata, data: MMMData, weeks: int, seed: int = 0,
             var_names=("y",), plan: MMMData | None = None) -> tuple[MMMData, xr.Dataset]:
    """The fitted model's posterior predictive over ``data`` and the periods after it: ``weeks`` with the spend held
    (``forecast_data``), or a ``plan``'s (``plan_data``). The extended data and the draws ``(sample, date, *panel)``,
    original scale."""
    future = plan_data(data, plan) if plan is not None else forecast_data(data, weeks)
    return future, predict(mmm, idata, replace(future, y=np.nan_to_num(future.y)), seed=seed, var_names=var_names)


def forecast_parts(mmm: MMM, idata, future: MMMData, n_observed: int, seed: int = 0) -> pd.DataFrame:
    """The forecast window's total (every period and market after ``n_observed``) split into its parts, per
    posterior draw (mean and 94% HDI): the target (with the sales noise), the baseline (every term but media), the
    organic media (when the data have them), the carryover of the data's spend (the window's paid media were nothing
    spent in it) and the paid media the window's own spend adds to that. The parts but the noise add up to the
    expected target draw by draw. The counterfactual changes the window's spend only: the observed weeks, which fix
    a ROAS or share prior's ceiling, stay as they are."""
    organic = "organic_contribution_original_scale" if future.organic else None
    names = ("y", "mu", "channel_contribution_original_scale", *([organic] if organic else []))
    filled = replace(future, y=np.nan_to_num(future.y))
    full = predict(mmm, idata, filled, seed=seed, var_names=names)
    dark = filled.X.copy()
    dark[n_observed:] = 0.0
    history = predict(mmm, idata, replace(filled, X=dark), seed=seed, var_names=names)
    window = slice(n_observed, None)
    scale = xr.DataArray(mmm.target_scale, dims=list(future.panel), coords=future.panel)

    def total(da):
        return da.isel(date=window).sum([d for d in da.dims if d != "sample"]).values

    media = total(full["channel_contribution_original_scale"])
    carried = total(history["channel_contribution_original_scale"])
    unpaid = total(full[organic]) if organic else 0.0
    parts = {"target (forecast, with noise)": total(full["y_original_scale"]),
             "expected target": total(full["mu"] * scale),
             "baseline (every term but media)": total(full["mu"] * scale) - media - unpaid,
             **({"organic media": unpaid} if organic else {}),
             "media: carryover of the data's spend": carried,
             "media: added by the window's spend": media - carried}
    rows = [{"part": k, **dict(zip(["mean", "94% low", "94% high"], mean_hdi(v)))} for k, v in parts.items()]
    return pd.DataFrame(rows)


@dataclass
class Forecast:
    """The forecast a case asks for (``out_of_sample.forecast_weeks`` or ``forecast_plan``): the extended data, the
    posterior predictive draws, the window's parts, the plan's warnings and a sentence saying what was assumed."""

    future: MMMData
    pred: xr.Dataset
    parts: pd.DataFrame
    warnings: list[str]
    words: str
    scenarios: pd.DataFrame | None = None  # out_of_sample.forecast_scenarios against the plan (what_if_table)


def forecast_case(params, data: MMMData, idata) -> Forecast | None:
    """The case's forecast, or None when the params ask for none."""
    oos = params.out_of_sample
    if not oos.forecast_weeks and oos.forecast_plan is None:
        return None
    plan, warnings, period = None, [], data.period
    if oos.forecast_plan is not None:
        plan = read_plan(params.resolve(oos.forecast_plan), data, params.data.date_format)
        warnings = plan_warnings(plan, data)
        words = (f"The plan in `{oos.forecast_plan}`: {plan.n_dates} {period}s from {plan.dates[0]:%d %b %Y} to "
                 f"{plan.dates[-1]:%d %b %Y}, with its spend and controls")
    else:
        words = (f"The next {oos.forecast_weeks} {period}s with every market's spend held at its last observed "
                 f"{period} and no events")
    mmm, seed = model_for(params, data), seed_for(params.seed, "forecast")
    future, pred = forecast(mmm, idata, data, oos.forecast_weeks, seed=seed, plan=plan)
    parts = forecast_parts(mmm, idata, future, data.n_dates, seed=seed)
    what_if = None
    if oos.forecast_scenarios:
        plans = {name: read_plan(params.resolve(path), data, params.data.date_format,
                                 field=f"out_of_sample.forecast_scenarios.{name}")
                 for name, path in oos.forecast_scenarios.items()}
        assert plan is not None  # OutOfSampleSpec: forecast_scenarios need forecast_plan
        what_if = what_if_table(mmm, idata, data, plan, plans, seed=seed)
    return Forecast(future, pred, parts, warnings, words + f"; the spend of the last {period}s keeps working through "
                    "carryover.", what_if)


def what_if_table(mmm: MMM, idata, data: MMMData, plan: MMMData, scenarios: dict[str, MMMData],
                  seed: int = 0) -> pd.DataFrame:
    """The plan and each what-if version of it (same periods): the window's expected target and spend, and each
    version's difference from the plan, paired draw by draw (the same posterior draws: the difference of the
    expected targets, no sales noise), with P(difference > 0)."""

    def expected(p: MMMData) -> np.ndarray:
        future = plan_data(data, p)
        mu = predict(mmm, idata, replace(future, y=np.nan_to_num(future.y)), seed=seed, var_names=("y", "mu"))["mu"]
        scale = xr.DataArray(mmm.target_scale, dims=list(data.panel), coords=data.panel)
        return (mu * scale).isel(date=slice(data.n_dates, None)).sum([d for d in mu.dims if d != "sample"]).values

    base = expected(plan)
    rows = [{"plan": "the plan (forecast_plan)", "spend": float(plan.spend.sum()),
             **dict(zip(["expected target", "94% low", "94% high"], mean_hdi(base)))}]
    for name, p in scenarios.items():
        if not p.dates.equals(plan.dates):
            raise ValueError(f"out_of_sample.forecast_scenarios.{name}: its periods ({p.dates[0]:%Y-%m-%d} to "
                             f"{p.dates[-1]:%Y-%m-%d}) are not the plan's ({plan.dates[0]:%Y-%m-%d} to "
                             f"{plan.dates[-1]:%Y-%m-%d})")
        v = expected(p)
        diff = v - base
        rows.append({"plan": name, "spend": float(p.spend.sum()),
                     **dict(zip(["expected target", "94% low", "94% high"], mean_hdi(v))),
                     **dict(zip(["difference", "difference 94% low", "difference 94% high"], mean_hdi(diff))),
                     "P(difference > 0)": float((diff > 0).mean())})
    return pd.DataFrame(rows)


def forecast_table(pred: xr.Dataset, data: MMMData, n_observed: int) -> pd.DataFrame:
    """Per forecast week and panel cell: the mean and 94% HDI of the target (original scale)."""
    y = pred["y_original_scale"].isel(date=slice(n_observed, None))
    hdi = az.hdi(y.unstack("sample"), hdi_prob=HDI_PROB)["y_original_scale"]
    frame = y.mean("sample").to_dataframe("forecast").drop(columns=["chain", "draw"], errors="ignore")
    frame["94% low"] = hdi.sel(hdi="lower").to_dataframe("v")["v"]
    frame["94% high"] = hdi.sel(hdi="higher").to_dataframe("v")["v"]
    return frame.reset_index()


def _original_scale_draws(pp: xr.Dataset, target_scale: np.ndarray, panel: dict) -> xr.Dataset:
    """Add ``y_original_scale`` (y × target scale per panel cell) and stack draws: ``(sample, date, ...)``."""
    pp["y_original_scale"] = pp["y"] * xr.DataArray(target_scale, dims=list(panel), coords=panel)
    return pp.stack(sample=("chain", "draw")).transpose("sample", "date", ...)


def holdout_folds(n_dates: int, holdout_weeks: int, rolling_origins: int) -> list[tuple[int, int]]:
    """``(train_end, test_end)`` indices: the plain holdout first, then earlier origins."""
    folds = []
    for k in range(rolling_origins + 1):
        test_end = n_dates - k * holdout_weeks
        train_end = test_end - holdout_weeks
        if train_end < 2 * holdout_weeks:
            raise ValueError(
                f"out_of_sample: {rolling_origins} rolling origins of {holdout_weeks} weeks leave too little "
                f"training data in {n_dates} weeks"
            )
        folds.append((train_end, test_end))
    return folds


def _fold_record(data: MMMData, train_end: int, test_end: int, y_draws: np.ndarray) -> dict:
    test = scores(y_draws[:, train_end:test_end], data.y[train_end:test_end])
    return {
        "origin": str(data.dates[train_end].date()),
        "train_end": str(data.dates[train_end - 1].date()),
        "test_start": str(data.dates[train_end].date()),
        "test_end": str(data.dates[test_end - 1].date()),
        **{k: round(v, 6) for k, v in test.items()},
    }


def fold_values(mmm: MMM, data: MMMData, train_end: int) -> dict:
    """``pm.Data`` values of the cross-validation model for a fold: likelihood on ``[:train_end]``,
    scales from those weeks only (no look-ahead), spend history over every date."""
    ch, tg, ct = scales(data.slice(0, train_end), mmm.spec.scaling)
    v: dict[str, Any] = mmm.data_values(data)  # and a float: train_end_time
    v.update(channel_scale=ch, target_scale=tg, control_data=data.C / ct, target_scaled=data.y[:train_end] / tg,
             organic_data=data.Z / organic_scales(data.slice(0, train_end), mmm.spec.scaling),
             train_end_time=max(float(v["time_index"][train_end - 1]), 1.0),
             target_total_scaled=(data.y[:train_end] / tg).sum(axis=0))
    return v


def predict_fold(mmm: MMM, idata, data: MMMData, values: dict, test_end: int, seed: int) -> xr.Dataset:
    """Posterior predictive of weeks ``[:test_end]`` for a fold fitted with ``values`` (its ``fold_values``): the
    likelihood drawn once from the fold's traced mean ``mu`` (every date, computed with the fold's data), PyMC's
    loop over draws for a likelihood it cannot rebuild."""
    post = idata["posterior"]
    try:
        mu = post["mu"].isel(date=slice(0, test_end))
        pp = xr.Dataset({"y": (mu.dims, likelihood_draws(mmm, post, mu, seed))}, coords=mu.coords)
    except Exception:  # noqa: BLE001 - an unusual likelihood: PyMC's loop over draws
        v = {**values, "target_scaled": np.zeros((test_end, *data.y.shape[1:]))}
        set_model_data(mmm.model, {k: val for k, val in v.items() if k in mmm.model.named_vars},
                       coords={"obs": data.dates[:test_end]})
        with mmm.model:
            pp = pm.sample_posterior_predictive(idata, var_names=["y"], predictions=True, random_seed=seed,
                                                progressbar=False).predictions.rename({"obs": "date"})
    return _original_scale_draws(pp, values["target_scale"], data.panel)


def run_folds(params, data: MMMData, fit=None, progress: bool = True) -> tuple[OutOfSample, list[xr.Dataset]]:
    """Holdout + rolling origins with one compiled model; returns ``out_of_sample.json`` and predictions.

    The cross-validation model spans every week (so adstock carries over from training weeks into
    the test weeks) and observes only each fold's training weeks; folds differ only in data.
    """
    oos = params.out_of_sample
    fit = fit or params.fit
    folds = holdout_folds(data.n_dates, oos.holdout_weeks, oos.rolling_origins)
    mmm = model_for(params, data, observed_weeks=folds[0][0])
    values = [fold_values(mmm, data, train_end) for train_end, _ in folds]
    coords = [{"obs": data.dates[:train_end]} for train_end, _ in folds]
    seeds = [seed_for(params.seed, "cv_fit", k) for k in range(len(folds))]
    fits = sample_many(mmm, values, fit, seeds, coords=coords)
    records, preds, in_sample = [], [], None
    for k, ((train_end, test_end), idata) in enumerate(tqdm(zip(folds, fits), total=len(folds), desc="folds",
                                                            disable=not progress)):
        pred = predict_fold(mmm, idata, data, values[k], test_end, seed=seed_for(params.seed, "cv_predict", k))
        y_draws = pred["y_original_scale"].values
        records.append({**_fold_record(data, train_end, test_end, y_draws), **convergence(idata)})
        preds.append(pred)
        if k == 0:
            ins = scores(y_draws[:, :train_end], data.y[:train_end])
            in_sample = {m: round(ins[m], 6) for m in ("crps", "mape", "r2", "coverage_50", "coverage_94")}
    summary = {m: round(float(np.mean([r[m] for r in records])), 6) for m in ("crps", "mape", "coverage_50", "coverage_94")}
    result = OutOfSample(holdout_weeks=oos.holdout_weeks, folds=records, in_sample=in_sample, summary=summary)
    return result, preds


def fold_frame(result: OutOfSample) -> pd.DataFrame:
    """The folds as a table (one row per origin; dates as dates)."""
    df = pd.DataFrame([f.model_dump() for f in result.folds])
    dates = [c for c in ("origin", "train_end", "test_start", "test_end") if c in df]
    df[dates] = df[dates].apply(pd.to_datetime)
    if "converged" in df and df["converged"].notna().any():
        df["fit"] = [fit_note(f.divergences, f.rhat_max, f.converged) for f in result.folds]
        df = df.drop(columns=["divergences", "rhat_max", "converged"])
    return df


def fit_note(divergences: int | None, rhat_max: float | None, converged: bool | None) -> str:
    """A refit's convergence in a table cell: "converged", or what failed (its scores are not to be trusted)."""
    if converged is None:
        return ""
    return "converged" if converged else f"NOT converged ({divergences} divergences, max R-hat {rhat_max:.3g})"
