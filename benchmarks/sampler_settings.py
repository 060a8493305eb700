"""Sampler settings on one case: compile and sampling time, min bulk ESS, ESS/s, divergences.

    .venv/bin/python benchmarks/sampler_settings.py [params/geo_hierarchical.yaml]

Each row samples the case's full model (fit section of the params file) with one variation; the
model is compiled once per row (nutpie's numba cache makes later compiles faster: the first row
pays the cold compile).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import arviz as az
import numpy as np

from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.diagnose import scalar_parameters

ROOT = Path(__file__).resolve().parent.parent


def run(mmm, fit, seed: int, **nutpie_kwargs) -> dict:
    import nutpie

    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(mmm.model, var_names=nutpie_kwargs.pop("var_names", None))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    idata = nutpie.sample(compiled, draws=fit.draws, tune=fit.tune, chains=fit.chains, cores=2, seed=seed,
                          target_accept=nutpie_kwargs.pop("target_accept", fit.target_accept), progress_bar=False,
                          **nutpie_kwargs)
    sample_s = time.perf_counter() - t0
    names = [n for n in scalar_parameters(idata) if "channel_contribution" not in n]
    ess = az.ess(idata, var_names=names)
    worst = min(names, key=lambda n: float(ess[n].min()))
    steps = float(idata.sample_stats["n_steps"].mean()) if "n_steps" in idata.sample_stats else np.nan
    return {"compile s": compile_s, "sampling s": sample_s, "min ESS": float(ess[worst].min()), "worst": worst,
            "divergences": int(idata.sample_stats["diverging"].sum()), "leapfrog": steps,
            "ESS/s": float(ess[worst].min()) / (compile_s + sample_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "geo_hierarchical.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)
    data, _ = prepare_data(params)
    mmm = model_for(params, data)
    free = [v.name for v in mmm.model.free_RVs]
    settings = {
        "diag mass matrix": {},
        "low-rank mass matrix": {"low_rank_modified_mass_matrix": True},
        "diag, only free RVs stored": {"var_names": free},
        "diag, target_accept 0.9": {"target_accept": 0.9},
    }
    print(f"case {params.case}: {params.fit.chains} chains × ({params.fit.tune} tune + {params.fit.draws} draws)\n")
    print("| setting | compile s | sampling s | min bulk ESS | worst variable | divergences | mean leapfrog | ESS/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kwargs in settings.items():
        r = run(mmm, params.fit, params.seed, **dict(kwargs))
        print(f"| {name} | {r['compile s']:.1f} | {r['sampling s']:.1f} | {r['min ESS']:.0f} | {r['worst']} | "
              f"{r['divergences']} | {r['leapfrog']:.1f} | {r['ESS/s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
