"""What experiments buy on a three-market case with known truth: each (market, channel)'s total contribution,
estimated with the sales data only and with experiments on two channels per market, against the truth.

Three markets, four channels (tv in flights, steady search, social with dark stretches, a small display channel),
104 weeks, betas drawn per market from a log-normal hierarchy (the geo_hierarchical generator). The model is the
geo_hierarchical case's (hierarchical ceilings over markets, adstock per market). The experiments: six weeks each,
spend raised by the channel's mean, two channels per market at different dates, measured with a standard error of a
quarter of the true ROAS times the extra spend (a test powered to see its lift). The table gives the median absolute
error of the 12 cells' contributions, how many truths lie inside their 94% HDIs, and the same for ROAS.

    .venv/bin/python benchmarks/experiment_value.py [--seeds 1 2 3 4] [--draws 500]

Prints a Markdown table; it is a benchmark (minutes), not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import arviz as az
import numpy as np
import yaml

from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import Params
from mmmhelpers.fit import sample

GEOS = ["north", "south", "west"]
TRUE = {"geos": GEOS, "channels": ["tv", "search", "social", "display"],
        "patterns": ["campaign", "always_on", "dark_stretches", "always_on"],
        "spend_mean": [5000.0, 4000.0, 3000.0, 400.0], "alpha": [0.6, 0.3, 0.4, 0.3], "lam": [3.0, 2.0, 2.5, 2.0],
        "beta": [6000.0, 5000.0, 4500.0, 150.0], "beta_std": [1200.0, 1000.0, 900.0, 30.0],
        "intercept": [20000.0, 15000.0, 12000.0], "gamma_control": [3000.0, -2000.0],
        "gamma_fourier": [1000.0, 300.0, 600.0, -200.0], "sigma": 1000.0, "fourier_sd": 300.0}
TESTS = {"north": ("social", "display"), "south": ("tv", "display"), "west": ("search", "social")}
CASE = Path(__file__).resolve().parents[1] / "params" / "geo_hierarchical.yaml"


def case_model() -> dict:
    """The geo_hierarchical case's model section with the adstock and curve priors of this data's channels (slower
    carryover, steeper curves) and the default likelihood."""
    model = yaml.safe_load(CASE.read_text())["model"]
    model["adstock"]["priors"]["alpha"] = {"distribution": "Beta", "alpha": 2, "beta": 3, "dims": ["geo", "channel"]}
    model["saturation"]["priors"]["lam"] = {"distribution": "Gamma", "mu": 2.5, "sigma": 1.5, "dims": ["channel"]}
    model.pop("likelihood")
    return model


def experiments(data, true_roas) -> list[dict]:
    """Two six-week tests per market (``TESTS``), one after another from week 20 (13 weeks apart), spend raised by the
    channel's mean in that market."""
    rows, weeks = [], iter(range(20, 100, 13))
    for g, geo in enumerate(GEOS):
        for ch in TESTS[geo]:
            week = next(weeks)
            c = data.channels.index(ch)
            extra = float(data.X[:, g, c].mean())
            rows.append({"channel": ch, "where": {"geo": geo}, "start": f"{data.dates[week]:%Y-%m-%d}",
                         "end": f"{data.dates[week + 5]:%Y-%m-%d}", "delta_spend": extra,
                         "lift_se": 0.25 * float(true_roas[g, c]) * extra * 6})
    return rows


def scores(idata, truth, data) -> dict:
    """Median absolute relative error of the cells' total contribution and ROAS, and how many truths lie inside
    their 94% HDIs."""
    post = idata.posterior["channel_contribution_original_scale"].sum("date")
    true = truth["channel_contribution_original_scale"].sum("date").transpose(*post.dims[2:]).values
    spend = data.X.sum(axis=0)
    hdi = az.hdi(post, hdi_prob=0.94)["channel_contribution_original_scale"]
    lo, hi = hdi.sel(hdi="lower").values, hdi.sel(hdi="higher").values
    est = post.mean(("chain", "draw")).values
    inside = (lo <= true) & (true <= hi)
    err = np.abs(est / true - 1)
    tested = np.array([[ch in TESTS[geo] for ch in data.channels] for geo in GEOS])
    return {"contribution error": float(np.median(err)), "inside": int(inside.sum()), "cells": true.size,
            "tested": float(np.median(err[tested])), "untested": float(np.median(err[~tested])),
            "display": float(np.median(err[:, data.channels.index("display")])),
            "width": float(np.median((hi - lo) / true)),
            "roas error": float(np.median(np.abs(est / spend - true / spend)))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--draws", type=int, default=500)
    args = ap.parse_args()
    rows, model = [], case_model()
    for seed in args.seeds:
        base = {"case": "experiment_value", "title": "experiment value", "seed": seed,
                "simulate": {"generator": "geo_hierarchical", "n_weeks": 104, "true_params": TRUE},
                "model": model, "fit": {"chains": 4, "tune": args.draws, "draws": args.draws, "target_accept": 0.95}}
        params = Params.model_validate(base)
        data, truth = prepare_data(params)
        true_roas = (truth["channel_contribution_original_scale"].sum("date").values / data.X.sum(axis=0))
        for knowledge, extra in [("sales only", {}), ("+ 2 experiments per market",
                                                      {"experiments_from_truth": experiments(data, true_roas)})]:
            p = Params.model_validate({**base, "model": {**model, **extra}})
            t0 = time.perf_counter()
            idata, _ = sample(model_for(p, data), p.fit, seed=seed, progress=False)
            s = scores(idata, truth, data)
            div = int(idata.sample_stats["diverging"].sum())
            rhat = float(az.rhat(idata.posterior[["channel_contribution_original_scale"]]).max().to_array().max())
            rows.append((seed, knowledge, s, div, rhat, time.perf_counter() - t0))
            print(f"seed {seed}, {knowledge}: {rows[-1][-1]:.0f} s", flush=True)
    print(f"\nthree markets x four channels, 104 weeks; 4 chains x ({args.draws} tune + {args.draws} draws); tests: "
          + "; ".join(f"{g}: {', '.join(c)}" for g, c in TESTS.items()) + "\n")
    print("| seed | knowledge | median contribution error: all 12 cells | the 6 tested | the 6 untested | display "
          "(3 markets) | truths inside their 94% HDI | median HDI width / truth | median ROAS error (absolute) | "
          "divergences | max R-hat | fit s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for seed, knowledge, s, div, rhat, secs in rows:
        print(f"| {seed} | {knowledge} | {s['contribution error']:.0%} | {s['tested']:.0%} | {s['untested']:.0%} | "
              f"{s['display']:.0%} | {s['inside']} of {s['cells']} | {s['width']:.0%} | {s['roas error']:.2f} | {div} | "
              f"{rhat:.2f} | {secs:.0f} |")
    print("\n| knowledge | mean of the seeds' median error | truths inside their 94% HDI |\n|---|---|---|")
    for knowledge in dict.fromkeys(r[1] for r in rows):
        mine = [r[2] for r in rows if r[1] == knowledge]
        print(f"| {knowledge} | {np.mean([s['contribution error'] for s in mine]):.0%} | "
              f"{sum(s['inside'] for s in mine)} of {sum(s['cells'] for s in mine)} |")


if __name__ == "__main__":
    main()
