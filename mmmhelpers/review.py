"""Automated model review: checks of a fitted model with a verdict, the number behind it and what to do.

Convergence (R-hat, ESS, divergences, BFMI), the probability of a negative baseline, Bayesian posterior
predictive p-values, prior-to-posterior contraction per parameter (parameters the data did not inform),
implausible ROAS (outside ``report.roas_range``) and media-control correlation. Verdicts: ``pass``,
``review`` (look before quoting numbers) and ``fail`` (do not quote the numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from mmmhelpers.artifacts import Diagnostics, Review, ReviewCheck
from mmmhelpers.contributions import baseline_total, decomposition, roas_draws
from mmmhelpers.data import MMMData
from mmmhelpers.diagnose import scalar_parameters, target_accept_advice
from mmmhelpers.health import THRESHOLDS, bfmi_verdict, divergence_verdict, ess_floor, ess_verdict, rhat_verdict
from mmmhelpers.intervals import mean_hdi
from mmmhelpers.model import scales
from mmmhelpers.registry import ADSTOCK_PARAMS, SATURATION_PARAMS, kind_params
from mmmhelpers.response import _draws_on_grid
from mmmhelpers.transforms import ONE_OFF_MODE, adstock_weights, channel_lags, evaluate, half_saturation

__all__ = ["sample_prior", "model_review", "contraction", "prior_translation", "ppp_values",
           "negative_baseline_probability", "review_table"]


def sample_prior(mmm, draws: int, seed: int, var_names: list[str] | None = None) -> az.InferenceData:
    """Prior draws of the model's parameters and of ``y`` (the prior predictive), in an InferenceData; with
    ``var_names`` of those variables only (the rest is not computed).

    Drawn once, by numpy (``transforms.ONE_OFF_MODE``): compiling C for it took longer than drawing. The potential
    of ``model.likelihood_from`` only takes likelihood terms out: a prior draw rightly ignores it; that of carried
    priors' correlations (``model.prior_correlation``) is ignored too: the draws have the priors' marginals (the
    fit page says so). PyMC's warning that a potential is ignored is not said for these two.
    """
    import warnings

    with warnings.catch_warnings():
        if {p.name for p in mmm.model.potentials} <= {"likelihood_seen_before", "prior_correlation"}:
            warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        return pm.sample_prior_predictive(draws=draws, model=mmm.model, random_seed=seed, var_names=var_names,
                                          compile_kwargs={"mode": ONE_OFF_MODE})


def _worst(verdicts: list[str]) -> str:
    return "fail" if "fail" in verdicts else "review" if "review" in verdicts else "pass"


def _convergence(diag: Diagnostics) -> list[ReviewCheck]:
    """The sampler's checks, judged by ``health`` (the same thresholds as the fit's health and its gates)."""
    t, n = THRESHOLDS, diag.chains * diag.draws
    checks = []
    v = rhat_verdict(diag.rhat_max)
    checks.append(ReviewCheck(name="R-hat", verdict=v, value=diag.rhat_max, threshold=f"<= {t.rhat_pass:g}",
                              detail=f"worst: {diag.rhat_max_variable}",
                              action="" if v == "pass" else f"run longer (fit.tune, fit.draws) or give "
                              f"{diag.rhat_max_variable} a tighter prior"))
    v = ess_verdict(diag.ess_bulk_min, diag.chains, diag.draws)
    checks.append(ReviewCheck(name="bulk ESS", verdict=v, value=diag.ess_bulk_min,
                              threshold=f">= {ess_floor(diag.chains, diag.draws):.0f}",
                              detail=f"worst: {diag.ess_bulk_min_variable}",
                              action="" if v == "pass" else "more draws, or fit.mass_matrix: low_rank"))
    v = divergence_verdict(diag.divergences, diag.chains, diag.draws)
    checks.append(ReviewCheck(name="divergences", verdict=v, value=diag.divergences, threshold="0",
                              detail=diag.divergence_summary or f"{diag.divergences / max(n, 1):.1%} of draws",
                              action="" if v == "pass" else (diag.divergence_suggestion or
                                                             target_accept_advice(diag.target_accept or 0.8))))
    bfmi = diag.bfmi_min
    v = bfmi_verdict(bfmi)
    missing = not np.isfinite(bfmi)
    checks.append(ReviewCheck(name="BFMI", verdict=v, value=None if missing else bfmi, threshold=f">= {t.bfmi_pass:g}",
                              detail="not computed: the sampler recorded no energy" if missing else "energy diagnostic",
                              action="" if v == "pass" else "sample with nutpie or PyMC's NUTS, which record the energy"
                              if missing else "reparameterize heavy-tailed priors (non-centred)"))
    return checks


def negative_baseline_probability(idata) -> float:
    """Share of posterior draws whose baseline (every term but media, summed over the weeks) is negative,
    worst over the model's panel cells (markets, whatever their dim's name)."""
    channels = [str(c) for c in idata.posterior["channel"].values]
    total = baseline_total(decomposition(idata), channels)
    return float((total < 0).mean(("chain", "draw")).max())


def ppp_values(idata) -> dict[str, float]:
    """Bayesian posterior predictive p-values P(T(y_rep) >= T(y)) for the mean, sd, min and max of ``y``."""
    obs = idata.observed_data["y"].values
    rep = idata.posterior_predictive["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    rep = rep.reshape(rep.shape[0], -1)
    obs = obs.reshape(-1)
    stats: dict[str, Callable[..., Any]] = {"mean": np.mean, "sd": np.std, "min": np.min, "max": np.max}
    return {k: float(np.mean(f(rep, axis=1) >= f(obs))) for k, f in stats.items()}


def contraction(prior, idata, names: list[str] | None = None) -> pd.DataFrame:
    """Per scalar parameter element: posterior sd / prior sd and the shift of the mean in prior sds."""
    post = idata.posterior
    names = names or [n for n in scalar_parameters(idata) if n in prior.prior]
    rows = []
    for name in names:
        p = prior.prior[name].stack(sample=("chain", "draw"))
        q = post[name].stack(sample=("chain", "draw"))
        dims = [d for d in q.dims if d != "sample"]
        for idx in np.ndindex(*[q.sizes[d] for d in dims]):
            sel = {d: i for d, i in zip(dims, idx)}
            label = name + ("[" + ", ".join(str(q[d].values[i]) for d, i in sel.items()) + "]" if sel else "")
            ps, qs = p.isel(sel).values, q.isel(sel).values
            sd_prior = float(np.std(ps))
            rows.append({"parameter": label, "prior sd": sd_prior, "posterior sd": float(np.std(qs)),
                         "sd ratio": float(np.std(qs)) / sd_prior if sd_prior > 0 else np.nan,
                         "shift (prior sds)": abs(float(np.mean(qs) - np.mean(ps))) / sd_prior if sd_prior > 0
                         else np.nan})
    return pd.DataFrame(rows)


def mean_delay(weights: np.ndarray) -> np.ndarray:
    """The average lag, in periods, at which a spend's (adstocked) effect lands: ``sum_l l w_l / sum_l w_l`` from
    weights ``(lag, ...)`` (a geometric ``alpha`` without truncation: ``alpha / (1 - alpha)``)."""
    lags = np.arange(weights.shape[0]).reshape((-1,) + (1,) * (weights.ndim - 1))
    return (lags * weights).sum(axis=0) / np.maximum(weights.sum(axis=0), 1e-300)


def media_meanings(group, data: MMMData, spec) -> dict[str, np.ndarray]:
    """Per draw and channel ``(sample, channel)``, what the media parameters mean: ROAS over the data, share of the
    fitted target, half-saturation spend per period and mean carryover delay (cells pooled, weighted by spend)."""
    n = group.sizes["chain"] * group.sizes["draw"]
    idx = np.arange(n)
    cells = (*[len(v) for v in data.panel.values()], len(data.channels))
    weight = data.spend.sum(axis=0).reshape(-1, cells[-1])  # (cell, channel): spend per cell
    weight = weight / np.where(weight.sum(axis=0) > 0, weight.sum(axis=0), 1.0)

    def pooled(per_cell: np.ndarray) -> np.ndarray:  # (sample, *panel, channel) -> (sample, channel)
        return (per_cell.reshape(n, -1, cells[-1]) * weight[None]).sum(axis=1)

    def params_of(prefix: str, table, kind) -> dict:
        return {p: _draws_on_grid(group[f"{prefix}_{p}"], data.panel, data.channels, idx)
                for p in kind_params(table, kind)}

    channel_scale = scales(data, spec.scaling)[0]
    sat_kind, ad_kind = spec.saturation.kinds(data.channels), spec.adstock.kinds(data.channels)
    sat = params_of("saturation", SATURATION_PARAMS, sat_kind)
    ad = params_of("adstock", ADSTOCK_PARAMS, ad_kind)
    w = evaluate(adstock_weights(ad_kind, ad, spec.adstock.l_max, spec.adstock.normalize,
                                 channel_lags(spec.adstock, data.channels))) if ad else \
        np.ones((1, n, *cells))
    gain = w.sum(axis=0)  # steady-state adstock per unit of spend (one when normalized)
    contrib = group["channel_contribution_original_scale"]
    fitted = group["mu"] * group.get("target_scale", 1.0) if "mu" in group else None
    out = {"ROAS": roas_draws(group, data),
           "half-saturation spend per period": pooled(half_saturation(sat_kind, sat) * channel_scale /
                                                      np.maximum(gain, 1e-300)),
           "mean carryover delay (periods)": pooled(mean_delay(w))}
    if fitted is not None:
        tot = contrib.sum([d for d in contrib.dims if d not in ("chain", "draw", "channel")])
        out["share of the fitted target"] = (tot / fitted.sum([d for d in fitted.dims if d not in ("chain", "draw")])
                                             ).stack(sample=("chain", "draw")).transpose("sample", "channel").values
    return out


def prior_translation(prior, idata, data: MMMData, spec) -> pd.DataFrame:
    """Every media prior in the quantities an analyst holds: ROAS over the data, share of the fitted target,
    half-saturation spend per period and the mean carryover delay, each before the data (prior draws) and after
    (posterior), mean and 94% HDI, with the posterior sd as a share of the prior's (near 1: the data said little)."""
    scale = idata.constant_data["target_scale"]
    before = media_meanings(prior.prior.assign(target_scale=scale), data, spec)
    after = media_meanings(idata.posterior.assign(target_scale=scale), data, spec)
    rows = []
    for i, ch in enumerate(data.channels):
        if data.total_spend[i] <= 0:
            continue
        for what in before:
            b, a = before[what][:, i], after[what][:, i]
            b, a = b[np.isfinite(b)], a[np.isfinite(a)]
            pm_, plo, phi = mean_hdi(b)
            qm, qlo, qhi = mean_hdi(a)
            rows.append({"channel": ch, "quantity": what, "prior": pm_, "prior 3%": plo, "prior 97%": phi,
                         "posterior": qm, "posterior 3%": qlo, "posterior 97%": qhi,
                         "sd ratio": float(np.std(a) / np.std(b)) if np.std(b) > 0 else np.nan})
    return pd.DataFrame(rows)


def _roas(idata, data: MMMData) -> pd.Series:
    c = idata.posterior["channel_contribution_original_scale"]
    tot = c.sum([d for d in c.dims if d not in ("chain", "draw", "channel")]).mean(("chain", "draw"))
    spend = data.total_spend
    return pd.Series(tot.values / np.where(spend > 0, spend, np.nan), index=data.channels)


def _media_control_correlation(data: MMMData) -> tuple[float, str]:
    if not data.controls:
        return 0.0, ""
    X = data.X.reshape(data.n_dates, -1, len(data.channels)).sum(axis=1)
    C = data.C.reshape(data.n_dates, -1, len(data.controls)).sum(axis=1)
    best, where = 0.0, ""
    for i, ch in enumerate(data.channels):
        for j, ct in enumerate(data.controls):
            if np.std(X[:, i]) > 0 and np.std(C[:, j]) > 0:
                r = float(np.corrcoef(X[:, i], C[:, j])[0, 1])
                if abs(r) > abs(best):
                    best, where = r, f"{ch} vs {ct}"
    return best, where


def model_review(idata, data: MMMData, diag: Diagnostics, prior=None,
                 roas_range: tuple[float, float] | None = None) -> Review:
    """Every check with its verdict; the overall verdict is the worst."""
    checks = _convergence(diag)
    p_neg = negative_baseline_probability(idata)
    if np.isfinite(p_neg):
        v = "pass" if p_neg < 0.05 else "review" if p_neg < 0.2 else "fail"
        checks.append(ReviewCheck(name="negative baseline", verdict=v, value=round(p_neg, 4), threshold="< 5%",
                                  detail="P(baseline summed over the data < 0)",
                                  action="" if v == "pass" else "a tighter intercept prior, or a missing control "
                                  "that the baseline is absorbing"))
    ppp = ppp_values(idata)
    extreme = {k: v for k, v in ppp.items() if v < 0.025 or v > 0.975}
    closest = min(ppp.values(), key=lambda v: min(v, 1 - v))  # to 0 or 1
    checks.append(ReviewCheck(name="posterior predictive p-value", verdict="review" if extreme else "pass",
                              value=round(closest, 4),
                              threshold="0.025 to 0.975",
                              detail=", ".join(f"{k} {v:.2f}" for k, v in ppp.items()),
                              action="" if not extreme else f"the model misses the data's {', '.join(extreme)}: "
                              "look at the residuals for a trend, an event or seasonality"))
    if prior is not None:
        ct = contraction(prior, idata)
        flat = ct[(ct["sd ratio"] > 0.9) & (ct["shift (prior sds)"] < 0.2)]
        checks.append(ReviewCheck(name="prior to posterior", verdict="review" if len(flat) else "pass",
                                  value=int(len(flat)), threshold="0 uninformed",
                                  detail=("posterior ≈ prior for " + ", ".join(flat["parameter"][:6]))
                                  if len(flat) else f"all {len(ct)} parameters moved or narrowed",
                                  action="" if flat.empty else "these numbers come from the prior, not the data: "
                                  "say so, or give them an informed prior (lift tests)"))
    if roas_range is not None:
        roas = _roas(idata, data)
        out = roas[(roas < roas_range[0]) | (roas > roas_range[1])]
        checks.append(ReviewCheck(name="ROAS plausibility", verdict="review" if len(out) else "pass",
                                  value=int(len(out)), threshold=f"ROAS in [{roas_range[0]:g}, {roas_range[1]:g}]",
                                  detail=", ".join(f"{k} {v:.3g}" for k, v in roas.items()),
                                  action="" if out.empty else "check the spend units and the channel's prior"))
    r, where = _media_control_correlation(data)
    v = "pass" if abs(r) < 0.7 else "review"
    checks.append(ReviewCheck(name="media-control correlation", verdict=v, value=round(r, 3), threshold="|r| < 0.7",
                              detail=where or "no controls",
                              action="" if v == "pass" else "the model cannot separate them well: expect wide "
                              "intervals, or add a lift test"))
    return Review(verdict=_worst([c.verdict for c in checks]), checks=checks)


def review_table(review: Review) -> pd.DataFrame:
    """The review as a table: check, verdict, value, threshold, detail, what to do (when a check says)."""
    df = pd.DataFrame([{"check": c.name, "verdict": c.verdict.upper(), "value": c.value, "threshold": c.threshold,
                        "detail": c.detail, "what to do": c.action} for c in review.checks])
    return df if df["what to do"].astype(bool).any() else df.drop(columns="what to do")
