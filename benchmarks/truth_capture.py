"""How much of the true optimum the default plan captures, over several simulated data sets of one shape.

The shape is ``params/prior_knowledge.yaml``'s (the one of the issue that asked for decisions judged by the truth):
tv in flights, steady search, social with dark stretches, a small display channel the data barely see. Each seed
draws new spend and noise from the same true parameters; each data set is fitted with the sales data only and with
the case's knowledge (ROAS priors on tv and search, an experiment on social). The plan is the case's default
(``optimization`` as written); ``truth.judge_plan`` scores it under the true response against the historical split
and beside the true optimum under the same budget and caps.

    .venv/bin/python benchmarks/truth_capture.py [--seeds 1 2 3 4 5 6 7 8] [--draws 500]

Prints a Markdown table; it is a benchmark (minutes), not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mmmhelpers.calibration import evidence_sources, model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.contributions import roas_prior_posterior, uninformed_channels
from mmmhelpers.fit import sample
from mmmhelpers.intervals import LIKELY
from mmmhelpers.optimize import allocate
from mmmhelpers.review import sample_prior
from mmmhelpers.truth import judge_plan

CASE = Path(__file__).resolve().parents[1] / "params" / "prior_knowledge.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    ap.add_argument("--draws", type=int, default=500)
    args = ap.parse_args()
    case = load_params(CASE)
    fit = case.fit.model_copy(update={"tune": args.draws, "draws": args.draws})
    rows = []
    for seed in args.seeds:
        for knowledge in ("sales only", "+ knowledge"):
            model = case.model if knowledge != "sales only" else case.model.model_copy(
                update={"roas_priors": {}, "experiments_from_truth": []})
            params = case.model_copy(update={"seed": seed, "model": model, "fit": fit})
            t0 = time.perf_counter()
            data, truth = prepare_data(params)
            mmm = model_for(params, data)
            idata, _ = sample(mmm, params.fit, seed=seed, progress=False)
            evidence = roas_prior_posterior(sample_prior(mmm, draws=500, seed=1), idata, data,
                                            evidence_sources(params, data.channels))
            alloc, _ = allocate(params, data, idata, uninformed=uninformed_channels(evidence))
            j = judge_plan(params, data, truth, alloc).iloc[0]
            rows.append((seed, knowledge, ", ".join(uninformed_channels(evidence)) or "none", j,
                         time.perf_counter() - t0))
            print(f"seed {seed}, {knowledge}: {rows[-1][-1]:.0f} s", flush=True)
    print(f"\ncase {CASE.name}: {fit.chains} chains x ({args.draws} tune + {args.draws} draws); budget "
          f"{case.optimization.budget:,.0f} per week over {case.optimization.num_periods} weeks\n")
    print("| seed | knowledge | held or not raised | claimed gain (94% HDI) | P(gain > 0) | true gain | "
          "true optimum | share of the optimum |")
    print("|---|---|---|---|---|---|---|---|")
    for seed, knowledge, held, j, _ in rows:
        print(f"| {seed} | {knowledge} | {held} | {j['claimed gain']:,.0f} ({j['claimed 3%']:,.0f} to "
              f"{j['claimed 97%']:,.0f}) | {j['claimed P(gain > 0)']:.0%} | {j['true gain']:,.0f} | "
              f"{j['true optimum gain']:,.0f} | {j['share of the true optimum']:.0%} |")
    print("\n| knowledge | mean share of the optimum | median | plans that lose | losers called likely "
          f"(P >= {LIKELY:.0%}) | true gain inside the claimed HDI |")
    print("|---|---|---|---|---|---|")
    for knowledge in ("sales only", "+ knowledge"):
        js = [j for _, k, _, j, _ in rows if k == knowledge]
        share = np.array([j["share of the true optimum"] for j in js])
        lose = [j["true gain"] < 0 for j in js]
        likely = [j["true gain"] < 0 and j["claimed P(gain > 0)"] >= LIKELY for j in js]
        inside = [bool(j["true gain inside the claimed HDI"]) for j in js]
        print(f"| {knowledge} | {np.nanmean(share):.0%} | {np.nanmedian(share):.0%} | {sum(lose)} of {len(js)} | "
              f"{sum(likely)} | {sum(inside)} of {len(js)} |")


if __name__ == "__main__":
    main()
