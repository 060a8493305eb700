"""Hill saturation on sparse spend: naive ``x**slope`` vs the zero-safe form, same data, same sampler.

Fits params/sparse_channels.yaml twice with nutpie (the case's own fit settings unless ``--quick``):
once with the naive Hill formula (the one pymc-marketing 0.19.2 also uses) and once with
``transforms.hill_saturation``. Prints divergences, min bulk ESS and the recovered slopes.

    .venv/bin/python benchmarks/sparse_hill.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import arviz as az
import nutpie
import pandas as pd
import pytensor.tensor as pt

from mmmhelpers import transforms
from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params, quick
from mmmhelpers.diagnose import scalar_parameters
from mmmhelpers.recovery import recovery_table

ROOT = Path(__file__).resolve().parent.parent


def naive_hill(x, slope, kappa, beta=1.0):
    """The textbook form: its derivative at x = 0 is infinite for slope < 1 (NaN gradients downstream)."""
    xs = pt.power(pt.as_tensor_variable(x), slope)
    return beta * xs / (pt.power(kappa, slope) + xs)


def fit(params, data, truth, hill) -> dict:
    comp = transforms.SATURATIONS["hill"]
    transforms.SATURATIONS["hill"] = transforms.Component(comp.params, hill, comp.defaults)
    try:
        mmm = model_for(params, data)
        t0 = time.perf_counter()
        compiled = nutpie.compile_pymc_model(mmm.model)  # no gradient check: measure what sampling does
        f = params.fit
        idata = nutpie.sample(compiled, draws=f.draws, tune=f.tune, chains=f.chains, cores=2, seed=params.seed,
                              target_accept=f.target_accept, progress_bar=False)
        seconds = time.perf_counter() - t0
    finally:
        transforms.SATURATIONS["hill"] = comp
    summ = az.summary(idata, var_names=scalar_parameters(idata), kind="diagnostics")
    rec = recovery_table(idata, truth).set_index("parameter")
    slopes = rec[rec.index.str.startswith("saturation_slope")]
    row = {"divergences": int(idata.sample_stats["diverging"].sum()), "max R-hat": float(summ["r_hat"].max()),
           "min bulk ESS": float(summ["ess_bulk"].min()), "seconds": round(seconds, 1),
           "covered (all)": f"{int(rec['covered'].sum())}/{len(rec)}"}
    for name, r in slopes.iterrows():
        row[f"{name} (true {r.truth:g})"] = f"{r['mean']:.2f} [{r.hdi_low:.2f}, {r.hdi_high:.2f}]"
    return row


def main() -> None:
    params = load_params(ROOT / "params" / "sparse_channels.yaml")
    if "--quick" in sys.argv:
        params = quick(params)
    data, truth = prepare_data(params)
    rows = {"naive x**slope": fit(params, data, truth, naive_hill),
            "zero-safe (mmmhelpers)": fit(params, data, truth, transforms.hill_saturation)}
    print(pd.DataFrame(rows).to_string())


if __name__ == "__main__":
    main()
