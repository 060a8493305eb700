"""Decisions judged by the truth: on simulated data with a channel the data barely see, what the budget page
claims (held-out gain, P(gain > 0)) against what the plan really gains under the true response.

Three channels over 104 weeks: tv in flights, steady search, and a small display channel (a tenth of search's
spend) whose ROAS the data leave near its prior. The case is fitted twice: on the sales data only, and with a
6-week experiment on display (``model.experiments_from_truth``). Each fit's plan is made with and without
``optimization.uninformed`` (hold, no_raise) and ``trust_region``, and scored under the true parameters
(``truth.judge_plan``: against the historical split, beside the true optimum under the same caps).

    .venv/bin/python benchmarks/truth_decisions.py [--draws 500] [--seed 7]

Prints a Markdown table; it is a benchmark (minutes), not a test.
"""

from __future__ import annotations

import argparse
import time

from mmmhelpers.calibration import evidence_sources, model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import Params
from mmmhelpers.contributions import roas_prior_posterior, uninformed_channels
from mmmhelpers.fit import sample
from mmmhelpers.optimize import allocate, history_split
from mmmhelpers.review import sample_prior
from mmmhelpers.truth import judge_plan

TRUE = {"channels": ["tv", "search", "display"], "patterns": ["campaign", "always_on", "always_on"],
        "spend_mean": [5000.0, 4000.0, 400.0], "alpha": [0.6, 0.3, 0.3], "lam": [3.0, 2.0, 2.0],
        "beta": [3000.0, 2500.0, 120.0]}


RULES = [("no rule", {}), ("uninformed: hold", {"uninformed": "hold"}),
         ("uninformed: no_raise", {"uninformed": "no_raise"}), ("trust_region 0.3", {"trust_region": 0.3}),
         ("trust_region 0.3 + no_raise", {"trust_region": 0.3, "uninformed": "no_raise"})]


def display_test(data) -> list[dict]:
    """A 6-week test from week 60 doubling display's spend, its lift measured with a standard error of 400."""
    start, end = data.dates[60], data.dates[65]
    extra = 2 * float(data.X[:, 2].mean())
    return [{"channel": "display", "start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "delta_spend": extra,
             "lift_se": 400.0}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    base = {"case": "truth", "title": "truth", "seed": args.seed,
            "simulate": {"generator": "single_market", "n_weeks": 104, "true_params": TRUE},
            "model": {"yearly_seasonality": 2},
            "fit": {"chains": 2, "tune": args.draws, "draws": args.draws, "target_accept": 0.9},
            "optimization": {"budget": 1.0, "num_periods": 13}}
    data, truth = prepare_data(Params.model_validate(base))
    budget = float(data.X.mean(axis=0).sum())
    true_roas = (truth["channel_contribution_original_scale"].sum("date") / data.total_spend).values
    rows = []
    for knowledge, extra in [("sales only", {}), ("+ display test", {"experiments_from_truth": display_test(data)})]:
        params = Params.model_validate({**base, "model": {**base["model"], **extra}})
        t0 = time.perf_counter()
        mmm = model_for(params, data)
        idata, _ = sample(mmm, params.fit, seed=params.seed, progress=False)
        prior = sample_prior(mmm, draws=500, seed=1)
        evidence = roas_prior_posterior(prior, idata, data, evidence_sources(params, data.channels))
        print(f"{knowledge}: budget {budget:,.0f} per week; fit {time.perf_counter() - t0:.0f} s\n")
        print("| channel | true ROAS | posterior ROAS (94% HDI) | prior ROAS mean | sd ratio | informed | also |")
        print("|---|---|---|---|---|---|---|")
        for (_, r), tr in zip(evidence.iterrows(), true_roas):
            print(f"| {r['channel']} | {tr:.2f} | {r['posterior ROAS']:.2f} ({r['posterior 3%']:.2f} to "
                  f"{r['posterior 97%']:.2f}) | {r['prior ROAS']:.2f} | {r['sd ratio']:.2f} | {r['informed']} | "
                  f"{r['also informed by']} |")
        print()
        for label, rules in RULES:
            p = params.model_copy(update={"optimization": params.optimization.model_copy(
                update={"budget": budget, **rules})})
            alloc, _ = allocate(p, data, idata, uninformed=uninformed_channels(evidence))
            judged = judge_plan(p, data, truth, alloc).iloc[0]
            spend = alloc.spend().tolist()
            rows.append((knowledge, label, spend, judged))
    print(f"historical split {', '.join(f'{c} {v:,.0f}' for c, v in zip(data.channels, history_split(data, budget)))}; "
          f"true optimum (same caps) gains {rows[0][3]['true optimum gain']:,.0f}\n")
    print("| knowledge | rule | plan (per week) | claimed gain (held out) | P(gain > 0) | true gain | share of true optimum |")
    print("|---|---|---|---|---|---|---|")
    for knowledge, label, spend, j in rows:
        plan = ", ".join(f"{c} {v:,.0f}" for c, v in zip(data.channels, spend))
        print(f"| {knowledge} | {label} | {plan} | {j['claimed gain']:,.0f} | {j['claimed P(gain > 0)']:.0%} | "
              f"{j['true gain']:,.0f} | {j['share of the true optimum']:.0%} |")


if __name__ == "__main__":
    main()
