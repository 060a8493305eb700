"""Parameter recovery: posterior vs the true parameters of a simulated (or published) case."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["recovery_table", "contribution_table", "verdict"]


def _labels(da: xr.DataArray) -> list[str]:
    if not da.dims:
        return [da.name]
    idx = da.coords.to_index() if len(da.dims) > 1 else da.indexes[da.dims[0]]
    labels = []
    for key in idx:
        key = key if isinstance(key, tuple) else (key,)
        labels.append(f"{da.name}[{', '.join(str(k) for k in key)}]")
    return labels


def recovery_table(idata, truth: xr.Dataset, hdi_prob: float = 0.94) -> pd.DataFrame:
    """One row per scalar parameter present in both: truth, mean, HDI, covered, relative error.

    Truth and posterior are broadcast against each other, so a truth per channel is compared with
    a posterior per geo × channel (and vice versa).
    """
    rows = []
    post = idata.posterior
    for name, true in truth.data_vars.items():
        if name not in post or "date" in true.dims or name.endswith("_original_scale"):
            continue
        p = post[name]
        mean = p.mean(("chain", "draw"))
        hdi = az.hdi(p, hdi_prob=hdi_prob)[name]
        # inner join: truth coordinates the model lacks (e.g. higher Fourier modes) are not compared
        aligned = xr.align(true, mean, hdi.sel(hdi="lower", drop=True), hdi.sel(hdi="higher", drop=True), join="inner")
        true_b, mean_b, lo_b, hi_b = xr.broadcast(*aligned)
        order = list(true_b.dims)
        true_b, mean_b, lo_b, hi_b = (a.transpose(*order).rename(name) for a in (true_b, mean_b, lo_b, hi_b))
        for label, t, m, lo, hi in zip(_labels(true_b), true_b.values.ravel(), mean_b.values.ravel(),
                                       lo_b.values.ravel(), hi_b.values.ravel()):
            rows.append({"parameter": label, "truth": float(t), "mean": float(m), "hdi_low": float(lo),
                         "hdi_high": float(hi), "covered": bool(lo <= t <= hi),
                         "rel_error": float((m - t) / t) if t != 0 else float("nan")})
    return pd.DataFrame(rows, columns=["parameter", "truth", "mean", "hdi_low", "hdi_high", "covered", "rel_error"])


def contribution_table(idata, truth: xr.Dataset, hdi_prob: float = 0.94) -> pd.DataFrame:
    """True vs estimated total contribution and share per channel over the fitted window."""
    est = idata.posterior["channel_contribution_original_scale"]
    true = truth["channel_contribution_original_scale"].sel(date=est["date"].values)
    other = [d for d in est.dims if d not in ("chain", "draw", "channel")]
    est_tot = est.sum(other)
    true_tot = true.sum([d for d in true.dims if d != "channel"])
    hdi = az.hdi(est_tot, hdi_prob=hdi_prob)[est_tot.name or "channel_contribution_original_scale"]
    share_est = (est_tot / est_tot.sum("channel")).mean(("chain", "draw"))
    df = pd.DataFrame({
        "channel": est_tot["channel"].values,
        "true_contribution": true_tot.values,
        "estimated_mean": est_tot.mean(("chain", "draw")).values,
        "hdi_low": hdi.sel(hdi="lower").values,
        "hdi_high": hdi.sel(hdi="higher").values,
        "true_share": (true_tot / true_tot.sum()).values,
        "estimated_share": share_est.values,
    })
    df["covered"] = (df.hdi_low <= df.true_contribution) & (df.true_contribution <= df.hdi_high)
    df["rel_error"] = df.estimated_mean / df.true_contribution - 1
    return df


def verdict(table: pd.DataFrame, contributions: pd.DataFrame | None = None) -> str:
    """One line: how many parameters are inside their HDI, and the media over/under-statement."""
    n, k = len(table), int(table["covered"].sum())
    text = f"{k} of {n} parameters inside their 94% HDI"
    if contributions is not None and len(contributions):
        rel = contributions.estimated_mean.sum() / contributions.true_contribution.sum() - 1
        word = "over" if rel >= 0 else "under"
        text += f"; media contribution {word}-estimated by {abs(rel):.0%}"
    return text + "."


def coverage_of_intervals(truths: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> float:
    """Share of truths inside their intervals (for replicate studies)."""
    truths, lows, highs = map(np.asarray, (truths, lows, highs))
    return float(np.mean((lows <= truths) & (truths <= highs)))
