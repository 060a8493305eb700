"""What drove the target: the fitted model's decomposition over time, totals, effect vs spend, ROAS and mROAS.

Everything is on the original scale (target units), computed from the posterior's deterministics and the
model's scales in ``constant_data``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from mmmhelpers.config import ModelSpec
from mmmhelpers.data import MMMData
from mmmhelpers.intervals import hdi, mean_hdi

__all__ = ["decomposition", "baseline_total", "rank_probability", "component_totals", "driver_totals", "effect_vs_spend",
           "roas_table", "roas_draws", "roas_prior_posterior", "uninformed_channels", "prior_dominated_sentence",
           "PRIOR_SD_RATIO"]

BASE_PARTS = {"intercept_contribution": "baseline", "yearly_seasonality_contribution": "seasonality",
              "weekday_contribution": "day of week", "holiday_contribution": "holidays", "trend_contribution": "trend"}
INTERCEPT_MULTIPLIER = "intercept_latent_multiplier"  # the time-varying intercept's HSGP multiplier (date,)


def decomposition(idata) -> xr.DataArray:
    """Contribution of every term of the model per draw and week: ``(component, chain, draw, date, *panel)``.

    Components: baseline (the intercept, times its multiplier when time-varying), seasonality, trend, each
    control (events included), each organic series, each channel (times the media multiplier when time-varying).
    They add up to the fitted mean draw by draw (``mu`` × the target scale).
    """
    post = idata.posterior
    scale = idata.constant_data["target_scale"]
    dates = post["date"]
    parts = {}
    for name, label in BASE_PARTS.items():
        if name in post:
            da = post[name] * scale
            if name == "intercept_contribution" and INTERCEPT_MULTIPLIER in post:
                da = da * post[INTERCEPT_MULTIPLIER]
            parts[label] = da.broadcast_like(dates) if "date" not in da.dims else da
    if "control_contribution" in post:
        c = post["control_contribution"] * scale
        for ctl in c["control"].values:
            parts[str(ctl)] = c.sel(control=ctl, drop=True)
    if "organic_contribution_original_scale" in post:
        o = post["organic_contribution_original_scale"]
        for name in o["organic"].values:
            parts[str(name)] = o.sel(organic=name, drop=True)
    ch = post["channel_contribution_original_scale"]
    for name in ch["channel"].values:
        parts[str(name)] = ch.sel(channel=name, drop=True)
    dims = ("chain", "draw", "date", *[d for d in ch.dims if d not in ("chain", "draw", "date", "channel")])
    arrays = [parts[k].broadcast_like(ch.isel(channel=0, drop=True)).transpose(*dims) for k in parts]
    return xr.concat(arrays, dim=pd.Index(list(parts), name="component"))


def baseline_total(dec: xr.DataArray, channels: list[str]) -> xr.DataArray:
    """Everything but media, summed over the weeks, per draw and panel cell: ``(chain, draw, *panel)``."""
    base = [c for c in map(str, dec["component"].values) if c not in channels]
    return dec.sel(component=base).sum(("component", "date"))


def component_totals(dec: xr.DataArray, channels: list[str], organic: Sequence[str] = ()) -> pd.DataFrame:
    """Per component: total over the data (mean, 94% HDI), share of the total (mean, 94% HDI) and, for media, the
    share of draws in which it contributed the most of all channels (``P(largest)``). ``kind``: media (paid
    channels), organic (media without spend) or base."""
    other = [d for d in dec.dims if d not in ("component", "chain", "draw")]
    tot = dec.sum(other).stack(sample=("chain", "draw"))
    grand = tot.sum("component")
    media = [str(c) for c in dec["component"].values if c in channels]
    p_top: np.ndarray | list[float] = (
        rank_probability(tot.sel(component=media).transpose("sample", "component").values) if media else [])
    rows = []
    for comp in dec["component"].values:
        t = tot.sel(component=comp).values
        m, lo, hi = mean_hdi(t)
        sm, slo, shi = mean_hdi(t / grand.values)
        kind = "media" if comp in channels else "organic" if comp in organic else "base"
        rows.append({"component": str(comp), "kind": kind,
                     "contribution": m, "HDI 3%": lo, "HDI 97%": hi, "share": sm, "share 3%": slo, "share 97%": shi,
                     "P(largest)": p_top[media.index(str(comp))] if str(comp) in media else np.nan})
    return pd.DataFrame(rows)


def rank_probability(draws: np.ndarray) -> np.ndarray:
    """Per column of ``draws`` ``(sample, item)``: the share of samples in which it is the largest (NaN ignored)."""
    draws = np.where(np.isnan(draws), -np.inf, draws)
    top = np.argmax(draws, axis=1)
    return np.bincount(top, minlength=draws.shape[1]) / draws.shape[0]


def driver_totals(dec: xr.DataArray, channels: list[str], organic: Sequence[str] = ()) -> pd.DataFrame:
    """As :func:`component_totals` for the groups a client asks about: baseline, seasonality (yearly and day of
    week), holidays, trend, controls (all together), organic media and paid media (all channels together)."""
    calendar = {"baseline": "baseline", "seasonality": "seasonality", "day of week": "seasonality",
                "holidays": "holidays", "trend": "trend"}
    group = {c: ("media" if c in channels else "organic media" if c in organic else calendar.get(c, "controls"))
             for c in map(str, dec["component"].values)}
    order = [g for g in ("baseline", "seasonality", "holidays", "trend", "controls", "organic media", "media")
             if g in group.values()]
    grouped = xr.concat([dec.sel(component=[c for c, g in group.items() if g == name]).sum("component")
                         for name in order], dim=pd.Index(order, name="component"))
    return component_totals(grouped, ["media"], ["organic media"])


PRIOR_SD_RATIO = 0.5  # a channel's ROAS whose posterior sd is above this share of its prior sd: the data say little
WIDTH_RATIO = 1.0  # ... or whose 94% HDI is wider than this multiple of its mean (a wide prior contracts, and still)


def roas_draws(group: xr.Dataset, data: MMMData, valued: bool = False) -> np.ndarray:
    """ROAS over the data per draw and channel ``(sample, channel)`` (NaN for a channel that never spent); ``valued``:
    each period's contribution times that period's value of the KPI first (``data.value``), the ROAS in currency."""
    c = group["channel_contribution_original_scale"]
    if valued:
        c = c * xr.DataArray(data.value, dims=("date", *data.dims),
                             coords={"date": c["date"].values, **{d: c[d].values for d in data.dims}})
    tot = c.sum([d for d in c.dims if d not in ("chain", "draw", "channel")]).stack(sample=("chain", "draw"))
    spend = data.total_spend
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spend > 0, tot.transpose("sample", "channel").values / spend, np.nan)


def roas_prior_posterior(prior, idata, data: MMMData, sources: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Per channel: the ROAS over the data the priors imply (prior draws) and the posterior's, mean and 94% HDI, the
    posterior sd as a share of the prior sd, the HDI's width as a multiple of the mean, and whether the data pin it
    down (``informed``: that share at most ``PRIOR_SD_RATIO`` and that width at most ``WIDTH_RATIO``). A very wide
    prior (a ROAS of 20 allowed) contracts a lot and can still leave a ROAS of 0.5 +- 0.5: not informed.

    ``sources`` (``calibration.evidence_sources``): what beyond the sales data informs each channel (a ROAS prior, an
    experiment, a lift test), in the column ``also informed by``."""
    before, after = roas_draws(prior.prior, data), roas_draws(idata.posterior, data)
    sources = sources or {}
    rows = []
    for i, ch in enumerate(data.channels):
        if not np.isfinite(after[:, i]).any():
            continue
        pm_, plo, phi = mean_hdi(before[:, i])
        qm, qlo, qhi = mean_hdi(after[:, i])
        ratio = float(np.std(after[:, i]) / np.std(before[:, i])) if np.std(before[:, i]) > 0 else np.nan
        width = (qhi - qlo) / abs(qm) if qm else np.inf
        rows.append({"channel": ch, "prior ROAS": pm_, "prior 3%": plo, "prior 97%": phi, "posterior ROAS": qm,
                     "posterior 3%": qlo, "posterior 97%": qhi, "sd ratio": ratio, "width / mean": width,
                     "informed": bool(ratio <= PRIOR_SD_RATIO and width <= WIDTH_RATIO),
                     "also informed by": ", ".join(sources.get(ch, []))})
    return pd.DataFrame(rows)


def uninformed_channels(evidence) -> list[str]:
    """The channels of the fit page's prior-vs-posterior ROAS table (``contributions.roas_prior_posterior``) whose
    ROAS the data left at its prior and nothing else informs (no ROAS prior, experiment or lift test); none without
    the table."""
    if evidence is None:
        return []
    return evidence.loc[~evidence["informed"].astype(bool) & ~_calibrated(evidence), "channel"].astype(str).tolist()


def _calibrated(evidence: pd.DataFrame) -> pd.Series:
    if "also informed by" not in evidence:
        return pd.Series(False, index=evidence.index)
    return evidence["also informed by"].fillna("").astype(str).str.len() > 0


def _names(channels: list[str]) -> str:
    return channels[0] if len(channels) == 1 else ", ".join(channels[:-1]) + " and " + channels[-1]


def prior_dominated_sentence(table: pd.DataFrame) -> str:
    """One sentence naming the channels whose ROAS is mostly the prior's (or saying the data moved every one), and
    one naming those whose numbers rest on what the analyst told the model (a ROAS prior, an experiment)."""
    weak = uninformed_channels(table)
    told = table.loc[~table["informed"].astype(bool) & _calibrated(table)]
    rest = ""
    if len(told):
        rest = " " + " ".join(f"{r['channel']}'s ROAS rests on the {r['also informed by']} given to the model more "
                              "than on the sales data." for _, r in told.iterrows())
    if not weak:
        if len(told):
            return rest.strip()
        return (f"The data pin down every channel's ROAS (posterior sd at most {PRIOR_SD_RATIO:.0%} of the prior's, "
                f"94% HDI at most {WIDTH_RATIO:g} times the estimate).")
    its = "its" if len(weak) == 1 else "their"
    return (f"The data say little about {_names(weak)}: {its} ROAS is close to the prior's or its 94% HDI is wider "
            f"than the estimate itself, so a plan that moves money there rests on assumptions, not evidence; an "
            f"experiment there would settle it.{rest}")


def effect_vs_spend(idata, data: MMMData) -> pd.DataFrame:
    """Per channel: share of media spend against share of media effect (mean, 94% HDI)."""
    c = idata.posterior["channel_contribution_original_scale"]
    tot = c.sum([d for d in c.dims if d not in ("chain", "draw", "channel")]).stack(sample=("chain", "draw"))
    share = (tot / tot.sum("channel")).transpose("channel", "sample").values
    spend = data.total_spend
    rows = []
    for i, ch in enumerate(data.channels):
        m, lo, hi = mean_hdi(share[i])
        rows.append({"channel": ch, "share of spend": spend[i] / spend.sum(), "share of effect": m,
                     "effect 3%": lo, "effect 97%": hi})
    return pd.DataFrame(rows)


def kpi_columns(roas_draws: np.ndarray, kpi_value: float | None = None,
                value_roas: np.ndarray | None = None) -> dict[str, float]:
    """A count KPI's numbers from one channel's ROAS draws (target units per currency unit): the cost per unit of
    the target (spend / contribution per draw; its median, as a draw near zero contribution costs without bound,
    and 94% HDI) and, with ``kpi_value`` (currency per unit), the ROAS in currency (mean, 94% HDI); ``value_roas``
    gives that ROAS per draw directly (a value per period: :func:`value_roas_draws`)."""
    with np.errstate(divide="ignore"):
        cost = np.where(roas_draws > 0, 1.0 / roas_draws, np.inf)
    lo, hi = hdi(np.where(np.isfinite(cost), cost, np.finfo(float).max))
    out = {"cost per KPI": float(np.median(cost)), "cost per KPI 3%": lo, "cost per KPI 97%": hi}
    if kpi_value is not None or value_roas is not None:
        m, lo, hi = mean_hdi(roas_draws * kpi_value if value_roas is None else value_roas)
        out |= {"ROAS (value)": m, "ROAS (value) 3%": lo, "ROAS (value) 97%": hi}
    return out


def value_roas_draws(group: xr.Dataset, data: MMMData) -> np.ndarray | None:
    """The ROAS in currency per draw and channel ``(sample, channel)`` when the KPI's value is a column: each period's
    contribution times that period's value, summed, over the spend (None without a value column)."""
    return None if data.value is None else roas_draws(group, data, valued=True)


def roas_table(idata, data: MMMData, spec: ModelSpec, n_draws: int = 400, seed: int = 0,
               step: float = 0.01, kpi_type: str = "revenue", kpi_value: float | None = None) -> pd.DataFrame:
    """Per channel, over the data's weeks: ROAS (contribution / spend, every posterior draw), marginal ROAS (extra
    contribution per extra unit of spend when that channel's spend rises by ``step`` in every week, on
    ``n_draws`` draws; the time-varying media multiplier included, as in the contribution), mean and 94% HDI, and
    the share of draws in which the channel's ROAS is the highest (``P(highest ROAS)``). A ``count`` KPI adds the
    cost per unit of the target and, with ``kpi_value``, the ROAS in currency (:func:`kpi_columns`)."""
    from mmmhelpers.response import data_window_multiplier, draw_indices, posterior_media
    from mmmhelpers.transforms import evaluate

    idx = draw_indices(idata, n_draws, seed)  # mROAS re-evaluates the media: a subsample; ROAS uses every draw
    spend = data.total_spend
    draws = roas_draws(idata.posterior, data)
    valued = value_roas_draws(idata.posterior, data)
    mult = data_window_multiplier(idata, data.panel, data.channels, idx)
    base = evaluate(posterior_media(spec, data, idata, data.X[:, None], idx, mult))
    p_top = rank_probability(draws)
    rows = []
    for i, ch in enumerate(data.channels):
        X = data.X.copy()
        X[..., i] *= 1 + step
        more = evaluate(posterior_media(spec, data, idata, X[:, None], idx, mult))
        extra = (more - base)[..., i].reshape(base.shape[0], base.shape[1], -1).sum(axis=(0, 2))
        roas = mean_hdi(draws[:, i]) if spend[i] > 0 else (np.nan,) * 3
        mroas = mean_hdi(extra / (step * spend[i])) if spend[i] > 0 else (np.nan,) * 3
        rows.append({"channel": ch, "ROAS": roas[0], "ROAS 3%": roas[1], "ROAS 97%": roas[2],
                     "mROAS": mroas[0], "mROAS 3%": mroas[1], "mROAS 97%": mroas[2],
                     "P(highest ROAS)": p_top[i] if spend[i] > 0 else np.nan,
                     **(kpi_columns(draws[:, i], kpi_value, None if valued is None else valued[:, i])
                        if kpi_type == "count" and spend[i] > 0 else {})})
    return pd.DataFrame(rows)
