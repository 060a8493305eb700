"""Decisions judged by the truth: on simulated data with a channel the data barely see, what the budget page
claims (held-out gain, P(gain > 0)) against what the plan really gains under the true response.

Three channels over 104 weeks: tv in flights, steady search, and a small display channel (a tenth of search's
spend) whose ROAS the data leave near its prior. The case is fitted once; the plan is made with and without
``optimization.uninformed`` (hold, no_raise) and ``trust_region``, and each plan is scored under the true parameters
(the simulation's) against the historical split, beside the true optimum under the same caps.

    .venv/bin/python benchmarks/truth_decisions.py [--draws 500] [--seed 7]

Prints a Markdown table; it is a benchmark (minutes), not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mmmhelpers.artifacts import prepare_data
from mmmhelpers.config import Params
from mmmhelpers.contributions import roas_prior_posterior
from mmmhelpers.fit import sample
from mmmhelpers.model import model_for
from mmmhelpers.optimize import allocate, history_split, optimize_budget, plan_problem, uninformed_channels
from mmmhelpers.review import sample_prior
from mmmhelpers.truth import truth_response_model

TRUE = {"channels": ["tv", "search", "display"], "patterns": ["campaign", "always_on", "always_on"],
        "spend_mean": [5000.0, 4000.0, 400.0], "alpha": [0.6, 0.3, 0.3], "lam": [3.0, 2.0, 2.0],
        "beta": [3000.0, 2500.0, 120.0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    params = Params.model_validate({
        "case": "truth", "title": "truth", "seed": args.seed,
        "simulate": {"generator": "single_market", "n_weeks": 104, "true_params": TRUE},
        "model": {"yearly_seasonality": 2},
        "fit": {"chains": 2, "tune": args.draws, "draws": args.draws, "target_accept": 0.9},
        "optimization": {"budget": 1.0, "num_periods": 13}})
    data, truth = prepare_data(params)
    budget = float(data.X.mean(axis=0).sum())
    t0 = time.perf_counter()
    mmm = model_for(params, data)
    idata, _ = sample(mmm, params.fit, seed=params.seed, progress=False)
    prior = sample_prior(mmm, draws=500, seed=1)
    evidence = roas_prior_posterior(prior, idata, data)
    fit_s = time.perf_counter() - t0
    true_roas = (truth["channel_contribution_original_scale"].sum("date") / data.total_spend).values
    print(f"budget {budget:,.0f} per week; fit {fit_s:.0f} s\n")
    print("| channel | true ROAS | posterior ROAS (94% HDI) | prior ROAS mean | sd ratio | informed |")
    print("|---|---|---|---|---|---|")
    for (_, r), tr in zip(evidence.iterrows(), true_roas):
        print(f"| {r['channel']} | {tr:.2f} | {r['posterior ROAS']:.2f} ({r['posterior 3%']:.2f} to "
              f"{r['posterior 97%']:.2f}) | {r['prior ROAS']:.2f} | {r['sd ratio']:.2f} | {r['informed']} |")
    truth_rm = truth_response_model(params, data, truth)
    hist = history_split(data, budget)
    base_truth = float(truth_rm.draws(hist)[0])
    rows = []
    for label, rules in [("no rule", {}), ("uninformed: hold", {"uninformed": "hold"}),
                         ("uninformed: no_raise", {"uninformed": "no_raise"}),
                         ("trust_region 0.3", {"trust_region": 0.3})]:
        p = params.model_copy(update={"optimization": params.optimization.model_copy(
            update={"budget": budget, **rules})})
        alloc, rm = allocate(p, data, idata, uninformed=uninformed_channels(evidence))
        spend = np.array([r["spend_per_period"] for r in alloc.allocation])
        g = alloc.initial.gain
        true_gain = float(truth_rm.draws(spend.reshape(truth_rm.shape))[0]) - base_truth
        rows.append((label, spend, g.mean, g.prob_positive, true_gain))
    best = optimize_budget(truth_rm, plan_problem(params.optimization.model_copy(update={"budget": budget}),
                                                  truth_rm, budget))
    optimum = float(best.draws[0]) - base_truth
    print(f"\nhistorical split {', '.join(f'{c} {v:,.0f}' for c, v in zip(data.channels, hist))}; true optimum "
          f"(same caps) gains {optimum:,.0f} with {', '.join(f'{v:,.0f}' for v in best.per_period)}\n")
    print("| rule | plan (per week) | claimed gain (held out) | P(gain > 0) | true gain | share of true optimum |")
    print("|---|---|---|---|---|---|")
    for label, spend, claim, p, true_gain in rows:
        plan = ", ".join(f"{c} {v:,.0f}" for c, v in zip(data.channels, spend))
        print(f"| {label} | {plan} | {claim:,.0f} | {p:.0%} | {true_gain:,.0f} | {true_gain / optimum:.0%} |")


if __name__ == "__main__":
    main()
