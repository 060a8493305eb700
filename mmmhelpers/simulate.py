"""Data-generating processes with known truth (every draw from the params seed).

A generator returns ``(MMMData, truth)``. True parameters are given on the sales scale with
spend scaled by its max (as the model sees it); ``truth`` also holds them converted to the model
scale (divided by the target's max per panel coordinate) under the model's own names, plus the
true contributions on the original scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from mmmhelpers.config import HSGPSpec, ModelSpec
from mmmhelpers.data import MMMData, fourier_features, fourier_modes, max_scales
from mmmhelpers.registry import GENERATOR_PANEL_DIMS
from mmmhelpers.transforms import ONE_OFF_MODE, adstock, evaluate, logistic_saturation, saturation

__all__ = ["GENERATORS", "Generator", "simulate", "spend_pattern", "spend_matrix", "lift_tests_from_truth",
           "true_experiment_lifts"]

SINGLE_MARKET_DEFAULTS: dict[str, Any] = {
    "channels": ["x1", "x2"],
    "patterns": ["always_on", "campaign"],
    "spend_mean": [5000.0, 3000.0],
    "alpha": [0.6, 0.2],
    "lam": [3.0, 2.0],
    "beta": [3000.0, 2000.0],
    "intercept": 5000.0,
    "gamma_control": [1500.0, -1000.0],
    "gamma_fourier": [500.0, 150.0, 300.0, -100.0],
    "sigma": 250.0,
    "l_max": 8,
    "normalize": True,
}

GEO_DEFAULTS: dict[str, Any] = {
    **SINGLE_MARKET_DEFAULTS,
    "geos": ["geo_a", "geo_b"],
    "alpha_spread": 0.1,  # sd of geo alphas around the channel alpha (logit scale)
    "beta_std": [600.0, 400.0],  # sd of the log-normal hierarchy over geos, per channel
    "intercept": [5000.0, 3500.0],
    "fourier_sd": 300.0,  # geo Fourier coefficients ~ Laplace(0, fourier_sd/sqrt(2))
}


def spend_pattern(rng: np.random.Generator, kind: str, n: int, mean: float) -> np.ndarray:
    """Weekly spend: ``always_on`` (smooth, positive), ``campaign`` (bursts, zero most weeks) or
    ``dark_stretches`` (noisy spend that stops for 8-14 weeks at a time)."""
    if kind == "always_on":
        wave = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 52 + rng.uniform(0, 2 * np.pi))
        return mean * wave * rng.uniform(0.2, 1.8, n)
    if kind == "campaign":
        x = np.zeros(n)
        t = int(rng.integers(0, 6))
        while t < n:
            length = int(rng.integers(2, 5))
            x[t : t + length] = mean * 2.5 * rng.uniform(0.7, 1.3, min(length, n - t))
            t += length + int(rng.integers(4, 10))
        return x
    if kind == "dark_stretches":
        x = mean * rng.uniform(0.4, 1.6, n)
        for _ in range(max(1, n // 40)):  # a dark stretch of 8-14 weeks per ~40 weeks
            start, length = int(rng.integers(0, max(1, n - 8))), int(rng.integers(8, 15))
            x[start : start + length] = 0.0
        return x
    raise ValueError(f"simulate.true_params.patterns: unknown spend pattern {kind!r} "
                     "(always_on | campaign | dark_stretches | follows_previous)")


def spend_matrix(rng: np.random.Generator, patterns: list[str], n: int, means: list[float]) -> np.ndarray:
    """Weekly spend ``(n, channel)``, one :func:`spend_pattern` per channel. ``follows_previous``: the previous
    channel's spend, rescaled to this channel's mean, times 0.7 to 1.3 week by week (two channels bought together:
    their spend correlates about 0.95, and the data can hardly tell their effects apart)."""
    cols: list[np.ndarray] = []
    for kind, mean in zip(patterns, means):
        if kind == "follows_previous":
            if not cols:
                raise ValueError("simulate.true_params.patterns: follows_previous needs a channel before it")
            prev = cols[-1]
            cols.append(prev / max(prev.mean(), 1e-12) * mean * rng.uniform(0.7, 1.3, n))
        else:
            cols.append(spend_pattern(rng, kind, n, mean))
    return np.stack(cols, -1)


def _events(dates: pd.DatetimeIndex) -> np.ndarray:
    """Two one-off events (a week at ~30% and ~70% of the range)."""
    C = np.zeros((len(dates), 2))
    C[int(0.3 * len(dates)), 0] = 1
    C[int(0.7 * len(dates)), 1] = 1
    return C


def _merged(defaults: dict, given: dict) -> dict:
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"simulate.true_params: unknown keys {sorted(unknown)} (known: {sorted(defaults)})")
    return {**defaults, **given}


def _checked_panel_params(spec, geos: list[str] | None) -> dict:
    """The true parameters of the panel DGP (defaults + params), with one value per channel."""
    p = _merged(GEO_DEFAULTS if geos is not None else SINGLE_MARKET_DEFAULTS, spec.true_params)
    n_ch = len(p["channels"])
    for key in ("patterns", "spend_mean", "alpha", "lam", "beta"):
        if len(p[key]) != n_ch:
            raise ValueError(f"simulate.true_params.{key}: needs {n_ch} values (one per channel), got {p[key]}")
    return p


def _geo_spread(rng: np.random.Generator, p: dict, G: int) -> dict:
    """Per-geo alphas (logit spread), log-normal betas, intercepts and Fourier coefficients."""
    alpha, beta = np.asarray(p["alpha"], float), np.asarray(p["beta"], float)
    intercept, gamma_f = np.asarray(p["intercept"], float), np.asarray(p["gamma_fourier"], float)
    n_ch = len(alpha)
    logit = np.log(alpha / (1 - alpha))
    alpha = 1 / (1 + np.exp(-(logit + rng.normal(0, p["alpha_spread"], (G, n_ch)))))
    std = np.asarray(p["beta_std"], float)
    s2 = np.log1p((std / beta) ** 2)
    beta = np.exp(np.log(beta) - s2 / 2 + np.sqrt(s2) * rng.standard_normal((G, n_ch)))
    if intercept.size not in (1, G):
        raise ValueError(f"simulate.true_params.intercept: needs 1 or {G} values (one per geo), got {p['intercept']}")
    intercept = np.broadcast_to(intercept, (G,)).astype(float)
    gamma_f = gamma_f + rng.laplace(0, p["fourier_sd"] / np.sqrt(2), (G, len(gamma_f)))
    return {"alpha": alpha, "beta": beta, "intercept": intercept, "gamma_fourier": gamma_f}


def _panel_truth(spec, seed: int, p: dict, data: MMMData, tp: dict, contrib: np.ndarray) -> xr.Dataset:
    """The truth of the panel DGP under the model's names, on the model scale (and contributions in sales)."""
    _, y_scale = max_scales(data)
    pdims = tuple(data.panel)
    per_geo = y_scale[..., None] if pdims else y_scale
    alpha_dims = (*pdims, "channel") if pdims else ("channel",)
    return xr.Dataset(
        {
            "adstock_alpha": (alpha_dims, tp["alpha"]),
            "saturation_lam": (("channel",), tp["lam"]),
            "saturation_beta": ((*pdims, "channel"), tp["beta"] / y_scale[..., None]),
            "intercept_contribution": (pdims, tp["intercept"] / y_scale),
            "gamma_control": ((*pdims, "control"), tp["gamma_control"] / per_geo),
            "gamma_fourier": ((*pdims, "fourier_mode"), tp["gamma_fourier"] / per_geo),
            "y_sigma": (pdims, np.broadcast_to(p["sigma"] / y_scale, y_scale.shape)),
            "channel_contribution_original_scale": (("date", *pdims, "channel"), contrib),
            "total_media_contribution_original_scale": ((), contrib.sum()),
            "saturation_beta_original_scale": ((*pdims, "channel"), tp["beta"]),
        },
        coords={"date": data.dates, **data.panel, "channel": data.channels, "control": data.controls,
                "fourier_mode": fourier_modes(len(p["gamma_fourier"]) // 2)},
        attrs={"generator": spec.generator, "seed": seed, "adstock": "geometric", "saturation": "logistic",
               "l_max": int(p["l_max"]), "normalize": int(bool(p["normalize"]))},
    )


def _panel_mmm(spec, seed: int, geos: list[str] | None) -> tuple[MMMData, xr.Dataset]:
    """Single market (``geos`` None) or a geo panel with hierarchical betas.

    Draw order (spend, geo spread, noise) is part of the seed's contract: keep it.
    """
    p = _checked_panel_params(spec, geos)
    panel = {"geo": list(p["geos"])} if geos is not None else {}
    panel_shape = tuple(len(v) for v in panel.values())
    G, n, n_ch = int(np.prod(panel_shape)), spec.n_weeks, len(p["channels"])
    rng = np.random.default_rng(seed)
    dates = pd.date_range(pd.Timestamp(spec.start_date), periods=n, freq="7D")
    X = np.stack([spend_matrix(rng, p["patterns"], n, p["spend_mean"]) for _ in range(G)],
                 axis=1).reshape((n, *panel_shape, n_ch))
    tp = {k: np.asarray(p[k], float) for k in ("alpha", "lam", "beta", "intercept", "gamma_fourier", "gamma_control")}
    if panel:
        tp.update(_geo_spread(rng, p, G))
    C = np.broadcast_to(_events(dates)[(slice(None),) + (None,) * len(panel_shape)], (n, *panel_shape, 2)).copy()
    x_scale = np.where(X.max(axis=0) > 0, X.max(axis=0), 1.0)
    x_ad = evaluate(adstock(X / x_scale, "geometric", {"alpha": tp["alpha"]}, int(p["l_max"]), bool(p["normalize"])))
    contrib = evaluate(logistic_saturation(x_ad, tp["lam"], tp["beta"]))
    season = np.einsum("tf,...f->t...", fourier_features(dates, len(p["gamma_fourier"]) // 2), tp["gamma_fourier"])
    mean = tp["intercept"] + contrib.sum(-1) + season + (C * tp["gamma_control"]).sum(-1)
    y = mean + rng.normal(0, p["sigma"], mean.shape)
    data = MMMData(dates, panel, list(p["channels"]), ["event_1", "event_2"], X, C, y)
    return data, _panel_truth(spec, seed, p, data, tp, contrib)


CONFOUNDED_DEFAULTS: dict[str, Any] = {
    "channels": ["tv", "social", "search"],
    "alpha": [0.5, 0.25, 0.05],
    "lam": [1.5, 2.5, 3.5],
    "beta": [350.0, 150.0, 50.0],
    "spend_base": [1000.0, 600.0, 300.0],  # spend per week at average demand
    "spend_noise": 0.25,  # log-sd of spend around the demand-driven plan
    "demand_base": 100.0,
    "demand_trend": 1.0,  # demand grows by this fraction over the period
    "demand_seasonality": 0.25,  # amplitude of the yearly cycle (fraction of demand)
    "demand_effect": 4.0,  # sales per unit of demand
    "intercept": 500.0,
    "proxy_noise": 0.15,  # relative noise of the demand proxy the model sees
    "sigma": 40.0,
    "l_max": 8,
}


def _confounded_demand(spec, seed: int) -> tuple[MMMData, xr.Dataset]:
    """Spend follows demand, demand drives sales, the model only sees a noisy proxy of demand.

    A regression of sales on spend then credits media with part of demand's effect: the case that
    shows why MMM needs the confounder (and how much it over-credits media without it).
    """
    p = _merged(CONFOUNDED_DEFAULTS, spec.true_params)
    rng = np.random.default_rng(seed)
    n = spec.n_weeks
    dates = pd.date_range(pd.Timestamp(spec.start_date), periods=n, freq="7D")
    t = np.arange(n)
    demand = p["demand_base"] * (1 + p["demand_trend"] * t / n) * (1 + p["demand_seasonality"] * np.sin(2 * np.pi * t / 52.18))
    rel = demand / demand.mean()
    base = np.asarray(p["spend_base"], float)
    X = base[None] * rel[:, None] * np.exp(rng.normal(0, p["spend_noise"], (n, len(base))))
    alpha, lam, beta = (np.asarray(p[k], float) for k in ("alpha", "lam", "beta"))
    x_scale = X.max(axis=0)
    x_ad = evaluate(adstock(X / x_scale, "geometric", {"alpha": alpha}, int(p["l_max"]), True))
    contrib = evaluate(logistic_saturation(x_ad, lam, beta))
    y = p["intercept"] + p["demand_effect"] * demand + contrib.sum(-1) + rng.normal(0, p["sigma"], n)
    proxy = demand * (1 + rng.normal(0, p["proxy_noise"], n))
    data = MMMData(dates, {}, list(p["channels"]), ["demand_proxy"], X, proxy[:, None], y)
    _, y_scale = max_scales(data)
    truth = xr.Dataset(
        {
            "adstock_alpha": (("channel",), alpha),
            "saturation_lam": (("channel",), lam),
            "saturation_beta": (("channel",), beta / y_scale),
            "y_sigma": ((), p["sigma"] / y_scale),
            "channel_contribution_original_scale": (("date", "channel"), contrib),
            "total_media_contribution_original_scale": ((), contrib.sum()),
            "demand": (("date",), demand),
        },
        coords={"date": dates, "channel": data.channels},
        attrs={"generator": "confounded_demand", "seed": seed, "adstock": "geometric", "saturation": "logistic",
               "l_max": int(p["l_max"]), "normalize": 1},
    )
    return data, truth


MASTERING_DEFAULTS: dict[str, Any] = {
    # The case study's own settings ("Mastering MMM", case study 002): 3 years of weekly data from 2021-01-01.
    "numpy_seed": 10,  # np.random.seed(10): the case study's legacy global seed, so its draws are reproduced
    "start_date": "2021-01-01",
    "channels": ["tv", "social", "search"],
    "spend_scalar": [10.0, 15.0, 20.0],
    "alpha": [0.50, 0.25, 0.05],
    "lam": [1.5, 2.5, 3.5],
    "beta": [350.0, 150.0, 50.0],
    "l_max": 8,
}


def _mastering_mmm(spec, seed: int) -> tuple[MMMData, xr.Dataset]:
    """The "Mastering MMM" generator, step by step as the case study draws it (numpy's legacy global
    stream, seeded with ``numpy_seed``): demand = (trend x (1 + season) + noise) x 1000; a demand proxy with
    10% noise; each channel's spend follows demand (spend scalar x demand x 30% noise); sales = demand +
    sum of beta x logistic(geometric adstock(spend / max spend)). No other noise. ``n_weeks`` periods."""
    p = _merged(MASTERING_DEFAULTS, spec.true_params)
    rs = np.random.RandomState(int(p["numpy_seed"]))
    n = spec.n_weeks
    dates = pd.date_range(pd.Timestamp(p["start_date"]), periods=n, freq="W")
    trend = (np.linspace(0.0, 20, n) + 5) ** (1 / 8) - 1
    season = 0.1 * np.sin(2 * np.pi * np.arange(n) / 52)
    demand = (trend * (1 + season) + rs.normal(0, 0.10, n)) * 1000
    proxy = np.abs(demand * rs.normal(1, 0.10, n))
    channels = list(p["channels"])
    X = np.empty((n, len(channels)))
    for i, scalar in enumerate(p["spend_scalar"]):
        X[:, i] = np.abs(demand * scalar * rs.normal(1, 0.30, n))
    alpha, lam, beta = (np.asarray(p[k], float) for k in ("alpha", "lam", "beta"))
    x_ad = evaluate(adstock(X / X.max(axis=0), "geometric", {"alpha": alpha}, int(p["l_max"]), True))
    contrib = evaluate(logistic_saturation(x_ad, lam, beta))
    y = demand + contrib.sum(-1)
    data = MMMData(dates, {}, channels, ["demand_proxy"], X, proxy[:, None], y)
    truth = xr.Dataset(
        {
            "adstock_alpha": (("channel",), alpha),
            "saturation_lam": (("channel",), lam),
            "saturation_beta": (("channel",), beta / y.max()),  # the case study's betas_scaled
            "channel_contribution_original_scale": (("date", "channel"), contrib),
            "total_media_contribution_original_scale": ((), contrib.sum()),
            "demand": (("date",), demand),
        },
        coords={"date": dates, "channel": channels},
        attrs={"generator": "mastering_mmm", "seed": int(p["numpy_seed"]), "adstock": "geometric",
               "saturation": "logistic", "l_max": int(p["l_max"]), "normalize": 1},
    )
    return data, truth


MULTI_OBJECTIVE_DEFAULTS: dict[str, Any] = {
    # The multi-objective case study's settings (case study 004): 100 daily periods from 2020-01-01, four
    # channels of impressions as bounded random walks, two targets driven by the same channels.
    "walk_seed": sum(map(ord, "mmm_multi_objective_optimization")),
    "start_date": "2020-01-01",
    "channels": ["impressions_x1_var", "impressions_x2_var", "impressions_x3_var", "impressions_x4_var"],
    "walk_mu": [0.5, 1.0, 1.0, 1.2],
    "walk_sigma": [0.5, 0.05, 0.5, 0.5],
    "walk_seed_offset": [1, 2, -3, -1],
    "walk_bounds": [0.0, 2.0],
    "targets": {
        "new_users": {"intercept": 0.5, "lam": [0.1, 0.3, 1.0, 0.8], "alpha": [0.3, 0.5, 4.0, 3.0], "sigma": 0.05},
        "reengage": {"intercept": 0.5, "lam": [1.0, 0.8, 0.6, 0.2], "alpha": [4.0, 3.0, 0.4, 0.5], "sigma": 0.09},
    },
}


def bounded_random_walk(mu: float, sigma: float, steps: int, lower: float, upper: float, seed: int) -> np.ndarray:
    """The case study's ``random_walk``: steps of sd ``sigma / 10`` from ``mu`` (legacy ``RandomState(seed)``),
    reflected off the bounds, then rescaled to mean ``mu`` and sd ``sigma`` and clipped to the bounds."""
    rs = np.random.RandomState(seed)
    walk = np.zeros(steps)
    walk[0] = mu
    for i in range(1, steps):
        nxt = walk[i - 1] + rs.normal(0, sigma * 0.1)
        nxt = lower + (lower - nxt) if nxt < lower else nxt
        nxt = upper - (nxt - upper) if nxt > upper else nxt
        walk[i] = min(max(nxt, lower), upper)
    sd = walk.std()
    if sd > 0:
        walk = np.clip((walk - walk.mean()) / sd * sigma + mu, lower, upper)
    return walk


def _multi_objective(spec, seed: int) -> tuple[MMMData, xr.Dataset]:
    """Two targets (dim ``kpi``) from the same spend: each ``intercept + sum of alpha x / (lam + x)`` plus normal
    noise, censored at zero (case study 004). The spend is the case study's random walks, draw for draw; the
    targets' noise comes from ``seed`` (the case study's own draw is unseeded). ``n_weeks`` daily periods."""
    p = _merged(MULTI_OBJECTIVE_DEFAULTS, spec.true_params)
    n, channels = spec.n_weeks, list(p["channels"])
    lo, hi = (float(b) for b in p["walk_bounds"])
    X = np.stack([bounded_random_walk(m, s, n, lo, hi, int(p["walk_seed"]) + off)
                  for m, s, off in zip(p["walk_mu"], p["walk_sigma"], p["walk_seed_offset"])], axis=-1)
    dates = pd.date_range(pd.Timestamp(p["start_date"]), periods=n, freq="D")
    kpis = list(p["targets"])
    rng = np.random.default_rng(seed)
    tp = {k: {q: np.asarray(v, float) for q, v in p["targets"][k].items()} for k in kpis}
    contrib = np.stack([tp[k]["alpha"] * X / (tp[k]["lam"] + X) for k in kpis], axis=1)  # (date, kpi, channel)
    mu = np.stack([tp[k]["intercept"] for k in kpis]) + contrib.sum(-1)
    y = np.maximum(mu + rng.normal(size=mu.shape) * np.stack([tp[k]["sigma"] for k in kpis]), 0.0)
    data = MMMData(dates, {"kpi": kpis}, channels, [], np.broadcast_to(X[:, None], contrib.shape).copy(),
                   np.zeros((n, len(kpis), 0)), y)
    by_kpi = (("kpi", "channel"), lambda q: np.stack([tp[k][q] for k in kpis]))
    truth = xr.Dataset(
        {
            "saturation_alpha": (by_kpi[0], by_kpi[1]("alpha")),
            "saturation_lam": (by_kpi[0], by_kpi[1]("lam")),
            "intercept": (("kpi",), np.stack([tp[k]["intercept"] for k in kpis])),
            "y_sigma": (("kpi",), np.stack([tp[k]["sigma"] for k in kpis])),
            "channel_contribution_original_scale": (("date", "kpi", "channel"), contrib),
            "total_media_contribution_original_scale": (("kpi",), contrib.sum(axis=(0, 2))),
        },
        coords={"date": dates, "kpi": kpis, "channel": channels},
        attrs={"generator": "multi_objective", "seed": seed, "adstock": "none", "saturation": "michaelis_menten",
               "l_max": 1, "normalize": 1},
    )
    return data, truth


def lift_tests_from_truth(data: MMMData, truth: xr.Dataset, seed: int, relative_delta: float = 0.2,
                          relative_sigma: float = 0.1) -> pd.DataFrame:
    """Lift tests as an experiment would measure them on a simulated case (single market): per channel, spend
    ``relative_delta`` more than its median week, the true steady-state lift of the saturation curve, observed
    with ``relative_sigma`` relative noise (the standard error given as ``sigma``)."""
    kind = truth.attrs["saturation"]
    x = np.median(data.X, axis=0)
    dx = relative_delta * x
    scale = data.X.max(axis=0)
    params = {k.removeprefix("saturation_"): truth[k].values for k in map(str, truth.data_vars)
              if k.startswith("saturation_")}
    curve = [saturation(np.stack([level / scale]), kind, params) for level in (x + dx, x)]
    up, base = (evaluate(c) if hasattr(c, "eval") else np.asarray(c) for c in curve)
    lift = (up - base)[0] * data.y.max()
    sigma = relative_sigma * np.abs(lift)
    observed = lift + np.random.default_rng(seed).normal(0, sigma)
    return pd.DataFrame({"channel": data.channels, "x": x, "delta_x": dx, "delta_y": observed, "sigma": sigma,
                         "true_delta_y": lift})


def true_experiment_lifts(table: pd.DataFrame, data: MMMData, truth: xr.Dataset) -> np.ndarray:
    """The true lift of each experiment (``calibration.check_experiments`` rows) under a panel generator's truth
    (geometric adstock, logistic saturation): the target with the test's spend minus without, summed over the test
    and every period its carryover reaches (spend after the data held at its last level)."""
    l_max, normalize = int(truth.attrs["l_max"]), bool(truth.attrs["normalize"])
    alpha = truth["adstock_alpha"].broadcast_like(truth["saturation_beta_original_scale"]).values
    lam = np.broadcast_to(truth["saturation_lam"].values, alpha.shape)
    beta = truth["saturation_beta_original_scale"].values
    x_scale = np.where(data.X.max(axis=0) > 0, data.X.max(axis=0), 1.0)
    lifts = []
    for _, row in table.iterrows():
        cell = (*[data.panel[d].index(row[d]) for d in data.panel], data.channels.index(row["channel"]))
        every_week: tuple[slice | int, ...] = (slice(None), *cell)
        x = np.concatenate([data.X[every_week], np.full(l_max, data.X[(-1, *cell)])])
        weeks = np.arange(len(x))
        more = x + np.where((weeks >= row["first"]) & (weeks <= row["last"]), row["delta_spend"], 0.0)
        out = [evaluate(logistic_saturation(adstock(s / x_scale[cell], "geometric", {"alpha": alpha[cell]}, l_max,
                                                    normalize), lam[cell], beta[cell])) for s in (more, x)]
        lifts.append(float((out[0] - out[1]).sum()))
    return np.array(lifts)


TIME_VARYING_DEFAULTS: dict[str, Any] = {
    "channels": ["social", "tv"],
    "patterns": ["always_on", "campaign"],
    "spend_mean": [3000.0, 8000.0],
    "adstock_alpha": [0.4, 0.6],
    "saturation_alpha": [0.25, 0.35],  # Michaelis-Menten ceilings (fraction of the sales scale)
    "saturation_lam": [0.4, 0.5],  # half-saturation points (spend / max spend)
    "intercept": 0.5,
    "gamma_control": [0.15, -0.1],
    "gamma_fourier": [0.05, 0.02, 0.03, -0.01],
    "sigma": 0.02,
    "eta": 0.3,  # amplitude of the latent log-multiplier
    "ls": 30.0,  # its length scale (weeks)
    "m": 50,
    "sales_scale": 10000.0,  # sales units per model unit
    "l_max": 8,
}


def _tvm_fixed(p: dict) -> dict:
    """The fixed (true) values of the time-varying model's free parameters, on its unit target scale."""
    keys = {"adstock_alpha": "adstock_alpha", "saturation_alpha": "saturation_alpha", "saturation_lam": "saturation_lam",
            "intercept_contribution": "intercept", "gamma_control": "gamma_control", "gamma_fourier": "gamma_fourier",
            "y_sigma": "sigma", "media_temporal_latent_eta": "eta", "media_temporal_latent_ls": "ls"}
    return {name: np.asarray(p[key], float) for name, key in keys.items()}


def _tvm_truth(fixed: dict, k: float, data: MMMData, mult, contrib_m, S: float, seed: int, l_max: int) -> xr.Dataset:
    """Truth of the time-varying DGP: parameters on the fitted model's scale (``k`` converts), sales for contributions."""
    scaled = {"saturation_alpha": "channel", "intercept_contribution": None, "gamma_control": "control",
              "gamma_fourier": "fourier_mode", "y_sigma": None}
    ds: dict[str, tuple[tuple[str, ...], Any]] = {"adstock_alpha": (("channel",), fixed["adstock_alpha"]),
                                                  "saturation_lam": (("channel",), fixed["saturation_lam"])}
    ds.update({name: ((dim,) if dim else (), fixed[name] * k) for name, dim in scaled.items()})
    ds.update({"media_temporal_latent_multiplier": (("date",), mult),
               "channel_contribution_original_scale": (("date", "channel"), contrib_m * S),
               "total_media_contribution_original_scale": ((), contrib_m.sum() * S)})
    order = ["adstock_alpha", "saturation_alpha", "saturation_lam", "intercept_contribution", "gamma_control",
             "gamma_fourier", "y_sigma", "media_temporal_latent_multiplier", "channel_contribution_original_scale",
             "total_media_contribution_original_scale"]
    return xr.Dataset(
        {name: ds[name] for name in order},
        coords={"date": data.dates, "channel": data.channels, "control": data.controls,
                "fourier_mode": fourier_modes(len(fixed["gamma_fourier"]) // 2)},
        attrs={"generator": "time_varying_media", "seed": seed, "adstock": "geometric",
               "saturation": "michaelis_menten", "l_max": l_max, "normalize": 1},
    )


def _draw_from_model(model_spec: dict, data: MMMData, fixed: dict, rng: np.random.Generator, names: list[str]):
    """Draw ``names`` from the very model ``mmmhelpers`` fits, its free parameters fixed with ``pm.do``.

    ``data`` carries the spend and controls (its target is a placeholder of ones: target scale 1).
    """
    import pymc as pm

    from mmmhelpers.model import build_model

    dgp = pm.do(build_model(ModelSpec.model_validate(model_spec), data).model, fixed)
    return pm.draw([dgp[k] for k in names], random_seed=rng, mode=ONE_OFF_MODE)


def _time_varying_media(spec, seed: int) -> tuple[MMMData, xr.Dataset]:
    """One market, two channels, a smooth media multiplier over time (HSGP), Michaelis-Menten.

    The data are drawn from the very model ``mmmhelpers`` fits (``pm.do`` fixes its parameters), so
    the generator and the fitted model share one definition.
    """
    p = _merged(TIME_VARYING_DEFAULTS, spec.true_params)
    rng = np.random.default_rng(seed)
    n = spec.n_weeks
    dates = pd.date_range(pd.Timestamp(spec.start_date), periods=n, freq="7D")
    channels = list(p["channels"])
    X = np.stack([spend_pattern(rng, p["patterns"][c], n, p["spend_mean"][c]) for c in range(len(channels))], -1)
    C = _events(dates)
    placeholder = MMMData(dates, {}, channels, ["event_1", "event_2"], X, C, np.ones(n))  # target scale 1
    model_spec = {
        "adstock": {"type": "geometric", "l_max": int(p["l_max"]), "normalize": True},
        "saturation": {"type": "michaelis_menten"},
        "yearly_seasonality": len(p["gamma_fourier"]) // 2,
        # every mode non-centred: the draws (and so the data of a seed) as before centring existed; same prior
        "time_varying_media": HSGPSpec(m=int(p["m"]), centred_modes=0).model_dump(),
    }
    fixed = _tvm_fixed(p)
    y_m, contrib_m, mult = _draw_from_model(model_spec, placeholder, fixed, rng,
                                            ["y", "channel_contribution", "media_temporal_latent_multiplier"])
    S = float(p["sales_scale"])
    data = MMMData(dates, {}, channels, placeholder.controls, X, C, y_m * S)
    _, y_scale = max_scales(data)
    k = S / float(y_scale)  # model-unit (target scale 1) -> the fitted model's scale (max of y)
    return data, _tvm_truth(fixed, k, data, mult, contrib_m, S, seed, int(p["l_max"]))


SPARSE_DEFAULTS: dict[str, Any] = {
    "channels": ["tv", "search", "social", "display"],
    "patterns": ["dark_stretches", "always_on", "dark_stretches", "campaign"],
    "spend_mean": [6000.0, 3000.0, 2000.0, 1500.0],
    "adstock_alpha": [0.5, 0.2, 0.35, 0.1],
    "saturation_slope": [0.6, 0.9, 0.4, 0.7],  # Hill slopes below one: concave from the first dollar
    "saturation_kappa": [0.5, 0.4, 0.3, 0.6],  # half-saturation points (adstocked spend / max spend)
    "saturation_beta": [0.2, 0.15, 0.12, 0.08],  # ceilings (fraction of the sales scale)
    "intercept": 0.45,
    "gamma_control": [0.12, -0.08],
    "gamma_fourier": [0.04, 0.01, 0.03, -0.01],
    "sigma": 0.02,
    "sales_scale": 20000.0,  # sales units per model unit
    "l_max": 8,
}


def _sparse_channels(spec, seed: int) -> tuple[MMMData, xr.Dataset]:
    """One market, Hill channels with long zero-spend stretches and slopes below one (drawn from the model).

    The case that broke naive Hill saturation: ``x**slope`` at zero spend has an infinite derivative.
    """
    p = _merged(SPARSE_DEFAULTS, spec.true_params)
    rng = np.random.default_rng(seed)
    n, channels = spec.n_weeks, list(p["channels"])
    dates = pd.date_range(pd.Timestamp(spec.start_date), periods=n, freq="7D")
    X = np.stack([spend_pattern(rng, p["patterns"][c], n, p["spend_mean"][c]) for c in range(len(channels))], -1)
    C = _events(dates)
    placeholder = MMMData(dates, {}, channels, ["event_1", "event_2"], X, C, np.ones(n))
    model_spec = {"adstock": {"type": "geometric", "l_max": int(p["l_max"]), "normalize": True},
                  "saturation": {"type": "hill"}, "yearly_seasonality": len(p["gamma_fourier"]) // 2}
    names = {"adstock_alpha": "adstock_alpha", "saturation_slope": "saturation_slope",
             "saturation_kappa": "saturation_kappa", "saturation_beta": "saturation_beta",
             "intercept_contribution": "intercept", "gamma_control": "gamma_control",
             "gamma_fourier": "gamma_fourier", "y_sigma": "sigma"}
    fixed = {name: np.asarray(p[key], float) for name, key in names.items()}
    y_m, contrib_m = _draw_from_model(model_spec, placeholder, fixed, rng, ["y", "channel_contribution"])
    S = float(p["sales_scale"])
    data = MMMData(dates, {}, channels, placeholder.controls, X, C, y_m * S)
    k = S / float(max_scales(data)[1])  # model unit -> the fitted model's scale (max of y)
    unscaled = {"adstock_alpha", "saturation_slope", "saturation_kappa"}  # shape parameters: no target units
    dims = {"intercept_contribution": (), "y_sigma": (), "gamma_control": ("control",), "gamma_fourier": ("fourier_mode",)}
    truth = {name: (dims.get(name, ("channel",)), v if name in unscaled else v * k) for name, v in fixed.items()}
    truth["channel_contribution_original_scale"] = (("date", "channel"), contrib_m * S)
    truth["total_media_contribution_original_scale"] = ((), contrib_m.sum() * S)
    return data, xr.Dataset(truth, coords={"date": dates, "channel": channels, "control": data.controls,
                                           "fourier_mode": fourier_modes(len(p["gamma_fourier"]) // 2)},
                            attrs={"generator": "sparse_channels", "seed": seed, "adstock": "geometric",
                                   "saturation": "hill", "l_max": int(p["l_max"]), "normalize": 1})


@dataclass(frozen=True)
class Generator:
    """A data-generating process: ``fn(spec, seed) -> (data, truth)`` and the panel dims its data have."""

    fn: Callable[[Any, int], tuple[MMMData, xr.Dataset]]
    panel_dims: tuple[str, ...] = ()


# The registry of generators: ``simulate.generator`` in a params file names one of these keys.
_GENERATE = {
    "single_market": lambda spec, seed: _panel_mmm(spec, seed, None),
    "geo_hierarchical": lambda spec, seed: _panel_mmm(spec, seed, []),
    "confounded_demand": _confounded_demand,
    "time_varying_media": _time_varying_media,
    "sparse_channels": _sparse_channels,
    "mastering_mmm": _mastering_mmm,
    "multi_objective": _multi_objective,
}
GENERATORS: dict[str, Generator] = {name: Generator(_GENERATE[name], dims) for name, dims in GENERATOR_PANEL_DIMS.items()}


def simulate(spec, seed: int) -> tuple[MMMData, xr.Dataset]:
    """Run the generator named by ``spec.generator`` (a ``SimulateSpec``)."""
    return GENERATORS[spec.generator].fn(spec, seed)
