"""Model variants: other model specs fitted on the same data beside the main model, and compared with it.

A case lists them under ``model_variants`` (see docs/params.md); each is the main ``model``/``fit`` with some
fields changed (``Params.variant``). The fit page fits each one, saves its posterior and diagnostics under
``artifacts/variants/<name>/`` and compares: sampler health, expected log predictive density (PSIS-LOO,
``arviz.compare``, with the weeks whose Pareto k is above 0.7, where that estimate is unreliable) and the
parameters the models share. The other pages use the main model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import pandas as pd
import pymc as pm

from mmmhelpers import artifacts
from mmmhelpers.artifacts import Diagnostics
from mmmhelpers.calibration import model_for
from mmmhelpers.config import Params
from mmmhelpers.data import MMMData
from mmmhelpers.diagnose import scalar_parameters
from mmmhelpers.fit import diagnostics, log_likelihood, sample
from mmmhelpers.formatting import plain_number
from mmmhelpers.intervals import HDI_PROB
from mmmhelpers.model import MMM
from mmmhelpers.seeds import seed_for
from mmmhelpers.transforms import NUMPY_MODE

__all__ = ["Fitted", "variant_dir", "fit_and_save", "fit_variants", "load_variants", "plan_under_variants",
           "health_table",
           "comparison_table", "parameter_comparison", "published_models"]


@dataclass
class Fitted:
    """One fitted model of the case: its label, model, posterior and diagnostics."""

    name: str
    label: str
    mmm: MMM | None
    idata: az.InferenceData
    diag: Diagnostics


def variant_dir(run_dir: str | Path, name: str) -> Path:
    """Where a variant keeps its ``artifacts/`` (posterior and diagnostics)."""
    return Path(run_dir) / "artifacts" / "variants" / name


def fit_and_save(mmm: MMM, fit, seed: int, where: str | Path, name: str, label: str, say=None) -> Fitted:
    """Sample one more model of the case (a variant, a target), save its posterior and diagnostics under
    ``where/artifacts/``."""
    idata, timings = sample(mmm, fit, seed=seed, progress=False, say=say)
    diag = diagnostics(idata, fit, timings)
    artifacts.save_idata(where, idata)
    diag.save(where)
    return Fitted(name, label, mmm, idata, diag)


def fit_variants(params: Params, data: MMMData, run_dir: str | Path, say=None) -> list[Fitted]:
    """Fit every ``model_variants`` entry on ``data`` (each its own seed), save each, return them in order."""
    say = say or (lambda _msg: None)
    out = []
    for k, v in enumerate(params.model_variants):
        p = params.variant(v.name)
        say(f"model variant {v.title!r} ({k + 1}/{len(params.model_variants)})")
        out.append(fit_and_save(model_for(p, data), p.fit, seed_for(params.seed, "variant", k),
                                variant_dir(run_dir, v.name), v.name, v.title, say))
    return out


def load_variants(params: Params, run_dir: str | Path) -> list[Fitted]:
    """The variants a fit page saved (without their models)."""
    return [Fitted(v.name, v.title, None, artifacts.load_idata(variant_dir(run_dir, v.name)),
                   Diagnostics.load(variant_dir(run_dir, v.name))) for v in params.model_variants]


def _with_log_likelihood(fitted: Fitted) -> az.InferenceData:
    """``fitted``'s posterior with its pointwise log-likelihood (``fit.log_likelihood``: every draw at once by numpy;
    PyMC's draw-by-draw ``compute_log_likelihood``, also by numpy, for a likelihood that cannot be rebuilt so)."""
    idata = fitted.idata
    if "log_likelihood" not in idata.groups():
        if fitted.mmm is None:  # a variant loaded from its artifacts
            raise ValueError(f"{fitted.label}: its posterior has no log-likelihood and no model is loaded to make it")
        try:
            idata.add_groups(log_likelihood=log_likelihood(fitted.mmm, idata).to_dataset())
        except Exception:  # noqa: BLE001 - a censored likelihood, or no traced mu: PyMC's loop over draws
            with fitted.mmm.model:
                pm.compute_log_likelihood(idata, var_names=["y"], extend_inferencedata=True, progressbar=False,
                                          compile_kwargs={"mode": NUMPY_MODE})
    return idata


def health_table(models: list[Fitted]) -> pd.DataFrame:
    """Per model: sampler health, divergences, worst R-hat and bulk ESS (with its variable), sampling time."""
    return pd.DataFrame([{"model": m.label, "health": m.diag.health.upper(), "divergences": m.diag.divergences,
                          "max R-hat": m.diag.rhat_max, "min bulk ESS": m.diag.ess_bulk_min,
                          "worst-mixing": m.diag.ess_bulk_min_variable, "sampling s": m.diag.sampling_seconds}
                         for m in models])


def comparison_table(models: list[Fitted]) -> pd.DataFrame:
    """Per model: sampler health, divergences, worst R-hat and bulk ESS, sampling time, and the expected log
    predictive density of PSIS-LOO with its difference to the best model (higher predicts better)."""
    with warnings.catch_warnings():  # high Pareto k is reported in the table, not as a warning
        warnings.simplefilter("ignore", UserWarning)
        loos = {m.label: az.loo(_with_log_likelihood(m), pointwise=True) for m in models}
        loo = az.compare(loos, ic="loo")
    rows = []
    for m in models:
        c = loo.loc[m.label]
        rows.append({"elpd (LOO)": c["elpd_loo"], "elpd difference": 0.0 - c["elpd_diff"], "difference se": c["dse"],
                     "LOO weight": c["weight"], "periods with Pareto k > 0.7": int((loos[m.label].pareto_k > 0.7).sum())})
    return pd.concat([health_table(models).drop(columns="worst-mixing"), pd.DataFrame(rows)], axis=1)


def parameter_comparison(models: list[Fitted]) -> pd.DataFrame:
    """Each parameter the models share: its posterior mean and 94% HDI in every model, side by side."""
    shared = [n for n in scalar_parameters(models[0].idata) if all(n in m.idata["posterior"] for m in models[1:])]
    columns, index = {}, None
    for m in models:
        summ = az.summary(m.idata, var_names=shared, kind="stats", hdi_prob=HDI_PROB, round_to="none")
        columns[m.label] = [f"{plain_number(r['mean'])} ({plain_number(r['hdi_3%'])} to {plain_number(r['hdi_97%'])})"
                            for _, r in summ.iterrows()]
        index = list(summ.index) if index is None else index  # the same rows in every model
    return pd.DataFrame({"parameter": index, **columns})


def published_models(variants: list[Fitted]) -> dict[str, tuple]:
    """``(idata, diagnostics)`` by the name a ``report.published`` entry's ``variant`` gives."""
    return {v.name: (v.idata, v.diag) for v in variants}


def plan_under_variants(params: Params, data: MMMData, alloc, variants: list[Fitted]) -> pd.DataFrame:
    """The recommended plan's paired gain over the historical split under every model of the case: the main model's
    (held out, from ``allocation.json``) and each variant's posterior (mean, 94% HDI, P(gain > 0))."""
    from mmmhelpers.optimize import paired_gain, plan_response_model, plan_spend

    def row(model: str, g) -> dict:
        return {"model": model, "gain": g.mean, "gain 3%": g.hdi_94[0], "gain 97%": g.hdi_94[1],
                "P(gain > 0)": g.prob_positive}

    rows = [row("main model", alloc.initial.gain)]
    for v in variants:
        rm = plan_response_model(params, data, v.idata, model=params.variant(v.name).model)
        rows.append(row(v.label, paired_gain(rm.draws(plan_spend(rm, alloc)),
                                             rm.draws(plan_spend(rm, alloc, "historical")))))
    return pd.DataFrame(rows)
