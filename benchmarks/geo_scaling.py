"""Fit time against the number of geos: does it grow at most linearly?

    .venv/bin/python benchmarks/geo_scaling.py [--geos 2 4 8 16] [--draws 500]

Each row simulates the geo_hierarchical case (params/geo_hierarchical.yaml: 104 weeks, two channels) with
G geos, fits its model with the case's sampler settings (fewer draws by default) and prints compile and
sampling seconds, seconds per geo, mean leapfrog steps, min bulk ESS and divergences. The gradient cost
grows linearly with G by construction; steps per draw tell whether the geometry gets harder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import arviz as az

from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.diagnose import scalar_parameters
from mmmhelpers.fit import sample

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geos", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=104)
    args = parser.parse_args()
    base = load_params(ROOT / "params" / "geo_hierarchical.yaml")
    print(f"geo_hierarchical DGP, {args.weeks} weeks, {base.fit.chains} chains × ({args.draws} tune + "
          f"{args.draws} draws), nutpie\n")
    print("| geos | compile s | sampling s | sampling s per geo | leapfrog steps | min bulk ESS | divergences |")
    print("|---|---|---|---|---|---|---|")
    for g in args.geos:
        tp = {**base.simulate.true_params, "geos": [f"geo_{k}" for k in range(g)],
              "intercept": [5000.0 - 1500.0 * k / max(g - 1, 1) for k in range(g)]}
        params = base.model_copy(update={
            "simulate": base.simulate.model_copy(update={"n_weeks": args.weeks, "true_params": tp}),
            "fit": base.fit.model_copy(update={"tune": args.draws, "draws": args.draws})})
        data, _ = prepare_data(params)
        idata, timings = sample(model_for(params, data), params.fit, seed=params.seed, progress=False)
        names = [n for n in scalar_parameters(idata) if "contribution" not in n]
        ess = float(az.ess(idata, var_names=names).to_array().min())
        steps = float(idata.sample_stats["n_steps"].mean())
        print(f"| {g} | {timings['compile_seconds']:.1f} | {timings['sampling_seconds']:.1f} | "
              f"{timings['sampling_seconds'] / g:.2f} | {steps:.1f} | {ess:,.0f} | "
              f"{int(idata.sample_stats['diverging'].sum())} |", flush=True)


if __name__ == "__main__":
    main()
