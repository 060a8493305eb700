"""Parameter recovery: posterior vs the true parameters of a simulated (or published) case."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmmhelpers.config import FitSpec, Params
from mmmhelpers.executor import SequentialExecutor, Task, failures
from mmmhelpers.formatting import plain_number
from mmmhelpers.intervals import HDI_PROB
from mmmhelpers.registry import ADSTOCK_PARAMS, SATURATION_PARAMS, joined_over_kinds, kind_params
from mmmhelpers.seeds import seed_for

__all__ = ["recovery_table", "recovery_by_model", "contribution_table", "verdict", "saturation_curves", "replicate_study",
           "coverage_summary", "truth_table", "replicate_fit", "transform_curves", "true_transforms", "curve_top",
           "effect_shares", "overcredit_sentence"]


def _labels(da: xr.DataArray) -> list[str]:
    if not da.dims:
        return [str(da.name)]
    idx = da.coords.to_index() if len(da.dims) > 1 else da.indexes[da.dims[0]]
    labels = []
    for key in idx:
        key = key if isinstance(key, tuple) else (key,)
        labels.append(f"{da.name}[{', '.join(str(k) for k in key)}]")
    return labels


def recovery_table(idata, truth: xr.Dataset, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """One row per scalar parameter present in both: truth, mean, HDI, covered, relative error.

    Truth and posterior are broadcast against each other, so a truth per channel is compared with
    a posterior per geo × channel (and vice versa).
    """
    rows = []
    post = idata.posterior
    for name, true in truth.data_vars.items():
        if name not in post or "date" in true.dims or str(name).endswith("_original_scale"):
            continue
        p = _comparable(post, truth, str(name))
        if p is None:
            continue
        mean = p.mean(("chain", "draw"))
        hdi = az.hdi(p, hdi_prob=hdi_prob)[name]
        # inner join: truth coordinates the model lacks (e.g. higher Fourier modes) are not compared
        aligned = xr.align(true, mean, hdi.sel(hdi="lower", drop=True), hdi.sel(hdi="higher", drop=True), join="inner")
        true_b, mean_b, lo_b, hi_b = xr.broadcast(*aligned)
        order = list(true_b.dims)
        true_b, mean_b, lo_b, hi_b = (a.transpose(*order).rename(name) for a in (true_b, mean_b, lo_b, hi_b))
        quant = (p < true_b).mean(("chain", "draw")).transpose(*order)  # where the truth falls in the posterior
        for label, t, m, lo, hi, q in zip(_labels(true_b), true_b.values.ravel(), mean_b.values.ravel(),
                                          lo_b.values.ravel(), hi_b.values.ravel(), quant.values.ravel()):
            rows.append({"parameter": label, "truth": float(t), "mean": float(m), "hdi_low": float(lo),
                         "hdi_high": float(hi), "covered": bool(lo <= t <= hi),
                         "rel_error": float((m - t) / t) if t != 0 else float("nan"), "quantile": float(q)})
    return pd.DataFrame(rows, columns=["parameter", "truth", "mean", "hdi_low", "hdi_high", "covered", "rel_error",
                                       "quantile"])


def _comparable(post: xr.Dataset, truth: xr.Dataset, name: str) -> xr.DataArray | None:
    """The posterior of ``name`` to hold against its truth. A media parameter joined over channels of different
    types (``type_by_channel``) is compared on the channels of the truth's own type only (its ``<name>_<type>``
    part, over ``channel``), or not at all."""
    if name not in joined_over_kinds(map(str, post.data_vars)):
        return post[name]
    prefix = name.split("_")[0]
    kind = truth.attrs.get(prefix)
    part = f"{name}_{kind}"
    if part not in post:
        return None
    return post[part].rename({f"{prefix}_{kind}_channel": "channel"}).rename(name)


def _truth_has_kinds(truth: xr.Dataset, spec, channels: list[str]) -> bool:
    """The truth's adstock and saturation types are the model's, channel by channel."""
    return all(truth.attrs.get(prefix, getattr(spec, prefix).kinds(channels)) == getattr(spec, prefix).kinds(channels)
               for prefix in ("adstock", "saturation"))


def recovery_by_model(idatas: dict[str, az.InferenceData], truth: xr.Dataset) -> pd.DataFrame:
    """``recovery_table`` of every model (main first, then the variants), with a ``model`` column."""
    return pd.concat([recovery_table(idata, truth).assign(model=label) for label, idata in idatas.items()],
                     ignore_index=True)[["model", "parameter", "truth", "mean", "hdi_low", "hdi_high", "covered",
                                         "rel_error"]]


def contribution_table(idata, truth: xr.Dataset, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
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
        "truth": true_tot.values,
        "estimate": est_tot.mean(("chain", "draw")).values,
        "hdi_low": hdi.sel(hdi="lower").values,
        "hdi_high": hdi.sel(hdi="higher").values,
        "true_share": (true_tot / true_tot.sum()).values,
        "est_share": share_est.values,
    })
    df["covered"] = (df.hdi_low <= df.truth) & (df.truth <= df.hdi_high)
    df["rel_error"] = df.estimate / df.truth - 1
    return df


def verdict(table: pd.DataFrame, contributions: pd.DataFrame | None = None) -> str:
    """One line: how many parameters are inside their HDI, and the media over/under-statement."""
    n, k = len(table), int(table["covered"].sum()) if len(table) else 0
    parts = [f"{k} of {n} parameters inside their 94% HDI"] if n else []
    if contributions is not None and len(contributions):
        rel = contributions.estimate.sum() / contributions.truth.sum() - 1
        word = "over" if rel >= 0 else "under"
        inside = int(contributions["covered"].sum()) if "covered" in contributions else None
        cover = f" ({inside} of {len(contributions)} channels' totals inside their 94% HDI)" if inside is not None else ""
        parts.append(f"media contribution {word}-estimated by {abs(rel):.0%}{cover}")
    return ("; ".join(parts) or "nothing the truth holds can be compared") + "."


def saturation_curves(idata, truth: xr.Dataset, mmm, n_points: int = 60, n_draws: int = 300, seed: int = 0):
    """True vs posterior saturation curves per channel (and panel coordinate), original units.

    Returns ``(spend, estimated, true)``: spend grid ``(point, *panel, channel)`` up to the max weekly
    spend, estimated draws ``(sample, point, *panel, channel)`` and the true curve (or None when the
    truth lacks a saturation parameter). Adstock is not applied: the curve of one week's spend.
    """
    from mmmhelpers.transforms import evaluate, saturation

    panel, channels = mmm.data.panel, mmm.data.channels
    kind = mmm.spec.saturation.kinds(channels)
    names = [f"saturation_{p}" for p in kind_params(SATURATION_PARAMS, kind)]
    template = xr.DataArray(np.zeros((*[len(v) for v in panel.values()], len(channels))),
                            dims=(*panel, "channel"), coords={**panel, "channel": channels})
    post = az.extract(idata, var_names=names, num_samples=n_draws, rng=np.random.default_rng(seed))
    frac = np.linspace(0, 1, n_points).reshape((n_points,) + (1,) * template.ndim)
    xs = frac  # spend / channel scale
    draws = {n.removeprefix("saturation_"): post[n].broadcast_like(template).transpose("sample", *panel, "channel")
             .values[:, None] for n in names}
    est = evaluate(saturation(xs[None], kind, draws))
    scale = mmm.target_scale[..., None]
    true = None
    if all(n in truth for n in names) and _truth_has_kinds(truth, mmm.spec, channels):
        tv = {n.removeprefix("saturation_"): truth[n].broadcast_like(template).transpose(*panel, "channel").values
              for n in names}
        true = evaluate(saturation(xs, kind, tv)) * scale
    return frac * mmm.channel_scale, est * scale, true


def curve_top(spec, data) -> float:
    """The end of the saturation curves' grid on the model scale: 1 (the largest week) for max-scaled spend,
    else the largest spend of any channel in one period."""
    return 1.0 if spec.scaling.channel == "max" else float(data.X.max())


def transform_curves(group: xr.Dataset, spec, channels: list[str], n_points: int = 40, n_draws: int = 300,
                     seed: int = 0, top: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a posterior (or prior) says about the media transforms, model scale: the adstock weights by lag
    ``(sample, lag, channel)`` and the saturation curve of one week's spend ``(sample, point, channel)`` over
    model-scale spend in ``[0, top]`` (``curve_top``), returned with that grid. Panel cells are pooled into the
    samples."""
    from mmmhelpers.transforms import adstock_weights, channel_lags, evaluate, saturation

    stacked = group.stack(sample=("chain", "draw"))
    rng = np.random.default_rng(seed)
    pick = rng.choice(stacked.sizes["sample"], min(n_draws, stacked.sizes["sample"]), replace=False)

    def draws(prefix: str, names) -> dict[str, np.ndarray]:  # (cell, channel): panel cells pooled into samples
        das = xr.broadcast(*(stacked[f"{prefix}_{n}"].isel(sample=pick).drop_vars(["sample", "chain", "draw"],
                                                                                 errors="ignore") for n in names))
        out = {}
        for n, da in zip(names, das):
            da = da if "channel" in da.dims else da.expand_dims(channel=channels)
            da = da.transpose("sample", ..., "channel")
            out[n] = da.values.reshape(-1, da.sizes["channel"])
        return out

    ad_kind, sat_kind = spec.adstock.kinds(channels), spec.saturation.kinds(channels)
    ad = draws("adstock", kind_params(ADSTOCK_PARAMS, ad_kind))
    w = evaluate(adstock_weights(ad_kind, ad, spec.adstock.l_max, spec.adstock.normalize,
                                 channel_lags(spec.adstock, channels)))
    sat = draws("saturation", kind_params(SATURATION_PARAMS, sat_kind))
    grid = np.linspace(0, top, n_points)
    params = {k: v[:, None, :] for k, v in sat.items()}
    curves = evaluate(saturation(grid[None, :, None], sat_kind, params))
    if w.ndim == 1:  # a kernel without parameters (no adstock): the same weights in every sample
        w = np.broadcast_to(w[:, None, None], (len(w), *curves.shape[::2]))
    return np.moveaxis(w, 0, 1), curves, grid


def effect_shares(idatas: dict[str, az.InferenceData], truth: xr.Dataset, data) -> pd.DataFrame:
    """Each channel's share of the target over the data, and the share of everything else ("demand and
    baseline": intercept, controls, seasonality), true vs each model's (mean and 94% HDI). The truth of a
    confounded case: its channels' contributions and its demand, over the observed target's total."""
    total = float(data.y.sum())
    true_media = truth["channel_contribution_original_scale"].sum([d for d in truth["channel_contribution_original_scale"].dims
                                                                  if d != "channel"]).values
    rows = {"component": [*data.channels, "demand and baseline"],
            "true share": [*(true_media / total), 1 - true_media.sum() / total]}
    for label, idata in idatas.items():
        est = idata["posterior"]["channel_contribution_original_scale"]
        per = est.sum([d for d in est.dims if d not in ("chain", "draw", "channel")]) / total
        rest = 1 - per.sum("channel")
        draws = np.concatenate([per.transpose("chain", "draw", "channel").values,
                                rest.values[..., None]], axis=-1).reshape(-1, len(data.channels) + 1)
        hdi = az.hdi(draws[None], hdi_prob=HDI_PROB)
        rows[f"{label} share"], rows[f"{label} 3%"], rows[f"{label} 97%"] = draws.mean(0), hdi[:, 0], hdi[:, 1]
    return pd.DataFrame(rows)


def overcredit_sentence(shares: pd.DataFrame) -> str:
    """One sentence from ``effect_shares``: media's true share of the target and each model's, in points."""
    media = shares[shares["component"] != "demand and baseline"]
    true = media["true share"].sum()
    models = [c.removesuffix(" share") for c in shares.columns if c.endswith(" share") and c != "true share"]
    parts = []
    for m in models:
        est = media[f"{m} share"].sum()
        parts.append(f"{m} {est:.1%} ({'over' if est > true else 'under'}-credits media by "
                     f"{abs(est - true) * 100:.1f} points)")
    return f"Media drove {true:.1%} of the target in truth; " + "; ".join(parts) + "."


def true_transforms(truth: xr.Dataset | None, spec, channels: list[str], n_points: int = 40, top: float = 1.0):
    """The true adstock weights ``(lag, channel)`` and saturation curve ``(point, channel)`` on
    ``transform_curves``' grid, or None when the truth lacks a parameter or varies over markets."""
    names = [f"adstock_{n}" for n in kind_params(ADSTOCK_PARAMS, spec.adstock.kinds(channels))] + \
        [f"saturation_{n}" for n in kind_params(SATURATION_PARAMS, spec.saturation.kinds(channels))]
    if truth is None or any(n not in truth or set(truth[n].dims) - {"channel"} for n in names) or \
            not _truth_has_kinds(truth, spec, channels):
        return None
    weights, curves, _ = transform_curves(truth[names].expand_dims(chain=[0], draw=[0]), spec, channels, n_points,
                                          n_draws=1, top=top)
    return weights[0], curves[0]


def _replicate_rows(idata, truth: xr.Dataset, r: int) -> pd.DataFrame:
    from mmmhelpers.fit import convergence

    t94 = recovery_table(idata, truth, HDI_PROB)
    t94["covered_50"] = recovery_table(idata, truth, 0.5)["covered"].values
    t94["replicate"] = r
    for key, value in convergence(idata).items():
        t94[key] = value
    return t94


def replicate_task(params: dict, r: int) -> pd.DataFrame:
    """One replicate as a picklable task (mmmhelpers.executor): simulate dataset ``r``, fit, compare with the truth;
    the same seeds as the in-process study, so the same rows."""
    from mmmhelpers.calibration import model_for
    from mmmhelpers.fit import sample_many
    from mmmhelpers.simulate import simulate

    p = Params.model_validate(params)
    data, truth = simulate(p.simulate, seed_for(p.seed, "replicate_data", r))
    mmm = model_for(p, data)
    idata = next(sample_many(mmm, [mmm.data_values(data, rescale=True)], p.fit, [seed_for(p.seed, "replicate_fit", r)]))
    return _replicate_rows(idata, truth, r)


def replicate_study(params, n: int, fit=None, progress: bool = True, executor=None) -> pd.DataFrame:
    """Simulate ``n`` datasets from the case's DGP (seed ``seed_for(seed, "replicate_data", r)``), fit each, compare with truth.

    The model is compiled once (nutpie) and each replicate swaps its data in (``with_data``), so a
    replicate costs only its sampling time. On a Dask ``executor`` each replicate is a task that loads the
    compiled model from the cache on its worker (same seeds, same rows). Returns one row per replicate × parameter with the 94%
    and 50% HDIs, coverage flags and the truth's quantile in the posterior (for rank histograms).
    Replicates run one after another: each fit already uses every core (one chain per core).
    """
    from tqdm import tqdm

    from mmmhelpers.calibration import model_for
    from mmmhelpers.fit import sample_many
    from mmmhelpers.simulate import simulate

    if params.simulate is None:
        raise ValueError("recovery.replicates needs a simulate section (a DGP to draw replicates from)")
    fit = fit or params.fit
    if executor is not None and not isinstance(executor, SequentialExecutor):  # one task per replicate
        dumped = params.model_copy(update={"fit": fit}).model_dump(mode="json", exclude={"source"})
        outcomes = executor.map([Task(f"replicate {r}", replicate_task, {"params": dumped, "r": r}) for r in range(n)],
                                desc="replicates", progress=progress)
        if failures(outcomes):
            raise RuntimeError("replicates failed: " + "; ".join(failures(outcomes)))
        return pd.concat([o.value for o in outcomes], ignore_index=True)
    datasets = [simulate(params.simulate, seed_for(params.seed, "replicate_data", r)) for r in range(n)]
    mmm = model_for(params, datasets[0][0])
    rows = []
    seeds = [seed_for(params.seed, "replicate_fit", r) for r in range(n)]
    fits = sample_many(mmm, [mmm.data_values(d, rescale=True) for d, _ in datasets], fit, seeds)
    for r, ((_, truth), idata) in enumerate(tqdm(zip(datasets, fits), total=n, desc="replicates", disable=not progress)):
        rows.append(_replicate_rows(idata, truth, r))
    return pd.concat(rows, ignore_index=True)


def coverage_summary(reps: pd.DataFrame) -> pd.DataFrame:
    """Empirical coverage of the 50% and 94% intervals per parameter over replicates, and how many of those
    replicates' fits did not converge (divergences or R-hat over 1.01: their coverage is not evidence)."""
    g = reps.groupby("parameter", sort=False)
    out = pd.DataFrame({
        "replicates": g.size(),
        "coverage_50": g["covered_50"].mean(),
        "coverage_94": g["covered"].mean(),
        "mean_rel_error": g["rel_error"].mean(),
    })
    if "converged" in reps:
        out["not converged"] = g["converged"].apply(lambda c: int((~c.astype(bool)).sum()))
    return out.reset_index()


def truth_table(truth: xr.Dataset, max_size: int = 24) -> pd.DataFrame:
    """The true parameters as a table: one row per variable without a ``date`` dim and at most ``max_size`` values.

    ``true value`` lists the values (flattened in the variable's dim order) as plain numbers (thousands
    separators, three significant digits, no scientific notation), comma-separated; ``scale`` names the scale.
    Time series such as contributions are left out.
    """
    rows = [{"parameter": name, "true value": ", ".join(plain_number(x) for x in da.values.ravel()),
             "scale": "original" if str(name).endswith("_original_scale") else "model"}
            for name, da in truth.data_vars.items() if "date" not in da.dims and da.size <= max_size]
    return pd.DataFrame(rows, columns=["parameter", "true value", "scale"])


def replicate_fit(params: Params, max_draws: int = 500, max_tune: int = 500) -> FitSpec:
    """The case's fit settings capped for the replicate study: at most ``max_draws`` draws and ``max_tune`` tuning steps."""
    return params.fit.model_copy(update={"draws": min(params.fit.draws, max_draws), "tune": min(params.fit.tune, max_tune)})
