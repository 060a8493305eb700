"""Plans judged by the truth: on a simulated case whose true response the product can compute (the panel
generators': geometric adstock, logistic saturation), what the recommended plan really gains against what the budget
page claims, and how much of the true optimum it captures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mmmhelpers.config import ModelSpec, Params
from mmmhelpers.intervals import LIKELY, as_probability
from mmmhelpers.response import response_model

if TYPE_CHECKING:  # the compute stack loads only when a plan is judged (the summary reads the sentence alone)
    import xarray as xr

    from mmmhelpers.artifacts import Allocation
    from mmmhelpers.data import MMMData
    from mmmhelpers.response import ResponseModel

__all__ = ["truth_response_model", "judge_plan", "truth_sentence"]

TRUE_PARAMS = ("adstock_alpha", "saturation_lam", "saturation_beta")


def truth_response_model(params: Params, data: MMMData, truth: xr.Dataset | None) -> ResponseModel | None:
    """The plans' incremental response under the true parameters (one "draw"), on the case's window; None when the
    truth is not one whose response this can compute."""
    import arviz as az

    if (truth is None or truth.attrs.get("adstock") != "geometric" or truth.attrs.get("saturation") != "logistic"
            or not set(TRUE_PARAMS) <= set(truth.data_vars) or params.optimization is None):
        return None
    spec = ModelSpec.model_validate({"adstock": {"type": "geometric", "l_max": int(truth.attrs["l_max"]),
                                                 "normalize": bool(truth.attrs["normalize"])},
                                     "saturation": {"type": "logistic"}, "yearly_seasonality": 0})
    post = az.from_dict(posterior={n: truth[n].values[None, None] for n in TRUE_PARAMS},
                        dims={n: list(truth[n].dims) for n in TRUE_PARAMS},
                        coords={d: truth[d].values for n in TRUE_PARAMS for d in truth[n].dims})
    opt = params.optimization
    return response_model(spec, data, post, opt.num_periods, n_draws=1, objective_window=opt.objective_window,
                          carryover_history=opt.carryover_history)


def judge_plan(params: Params, data: MMMData, truth: xr.Dataset | None, alloc: Allocation) -> pd.DataFrame | None:
    """The page's claim against the truth: the plan's claimed gain over the historical split (mean, 94% HDI,
    P(gain > 0)), its true gain, and the true optimum's gain under the same budget, bounds, constraints and caps
    (without the trust region or a rule that holds a channel: those guard against the model, and the truth needs no
    guard). None when the truth's response cannot be computed."""
    from mmmhelpers.optimize import optimize_budget, plan_problem, plan_spend

    truth_rm = truth_response_model(params, data, truth)
    if truth_rm is None:
        return None
    budget = alloc.budget_per_period
    base = float(truth_rm.draws(plan_spend(truth_rm, alloc, "historical"))[0])
    true_gain = float(truth_rm.draws(plan_spend(truth_rm, alloc))[0]) - base
    assert params.optimization is not None, "the case has no optimization section"
    free = params.optimization.model_copy(update={"trust_region": None})  # the client's rules, not our safety rules
    best = optimize_budget(truth_rm, plan_problem(free, truth_rm, budget))
    optimum = float(best.draws[0]) - base
    g = alloc.initial.gain
    assert g is not None  # allocate gives every baseline its gain
    return pd.DataFrame([{
        "claimed gain": g.mean, "claimed 3%": g.hdi_94[0], "claimed 97%": g.hdi_94[1],
        "claimed P(gain > 0)": g.prob_positive, "true gain": true_gain, "true optimum gain": optimum,
        "share of the true optimum": true_gain / optimum if optimum > 0 else np.nan,
        "true gain inside the claimed HDI": bool(g.hdi_94[0] <= true_gain <= g.hdi_94[1])}])


def truth_sentence(judged: pd.DataFrame, target_label: str = "") -> str:
    """The judgement in words: does the plan really win, and was the page's claim honest."""
    r = judged.iloc[0]
    units = f" {target_label}" if target_label else ""
    wins = r["true gain"] > 0
    claim = (f"The page claims a gain of {r['claimed gain']:,.0f}{units} (94% HDI {r['claimed 3%']:,.0f} to "
             f"{r['claimed 97%']:,.0f}, P(gain > 0) = {as_probability(r['claimed P(gain > 0)'])}).")
    truth = (f"Under the true response the plan {'gains' if wins else 'loses'} {abs(r['true gain']):,.0f}{units}; "
             f"the true optimum gains {r['true optimum gain']:,.0f}")
    share = (f", so the plan captures {r['share of the true optimum']:.0%} of it." if np.isfinite(
        r["share of the true optimum"]) else ".")
    honest = ("The true gain lies inside the claimed interval." if r["true gain inside the claimed HDI"] else
              "The true gain lies outside the claimed interval: the claim is not honest here.")
    if not wins and r["claimed P(gain > 0)"] >= LIKELY:
        honest += " The page called a losing plan likely to win."
    return f"{claim} {truth}{share} {honest}"
