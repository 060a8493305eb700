"""Parity: case study 000 (pymc-marketing's multidimensional example) fitted by mmmhelpers and by pymc-marketing 0.19.x.

Both fit the case study's own data with its priors (params/multidimensional_example.yaml; per-geo max scaling
on both sides; params/geo_hierarchical.yaml is the same model on simulated data). pymc-marketing runs with
PyMC's NUTS and with nutpie. Prints, per scalar parameter, both posterior means and sds and |difference| /
posterior sd (parity: < 0.5 everywhere), then time, min ESS and min ESS per second of each.

pymc-marketing is the optional ``benchmark`` extra; keep it out of the project's .venv (it may move pins):

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install -r requirements.txt pymc-marketing==0.19.2
    /work/bench-venv/bin/pip install --no-deps -e .
    /work/bench-venv/bin/python benchmarks/parity_pymc_marketing.py [params/geo_hierarchical.yaml] [--draws 1000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from mmmhelpers.artifacts import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.fit import sample
from mmmhelpers.model import model_for

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ["adstock_alpha", "saturation_lam", "saturation_beta", "intercept_contribution", "gamma_control",
            "gamma_fourier", "y_sigma"]


def pymc_marketing_mmm():
    """The same model written with pymc-marketing's multidimensional MMM (unfitted)."""
    from pymc_extras.prior import Prior
    from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation
    from pymc_marketing.mmm.multidimensional import MMM
    from pymc_marketing.mmm.scaling import Scaling, VariableScaling
    from pymc_marketing.special_priors import LaplacePrior, LogNormalPrior

    adstock = GeometricAdstock(l_max=8, normalize=True,
                               priors={"alpha": Prior("Beta", alpha=2, beta=5, dims=("geo", "channel"))})
    saturation = LogisticSaturation(priors={
        "lam": Prior("Gamma", mu=0.5, sigma=0.25, dims="channel"),
        "beta": LogNormalPrior(mean=Prior("Gamma", mu=0.25, sigma=0.1, dims="channel"),
                               std=Prior("Exponential", scale=0.1, dims="channel"),
                               dims=("geo", "channel"), centered=False),
    })
    model_config = {
        "intercept": Prior("Gamma", mu=0.5, sigma=0.25, dims="geo"),
        "gamma_control": Prior("Normal", mu=0, sigma=0.5, dims="control"),
        "gamma_fourier": LaplacePrior(mu=0, b=Prior("HalfNormal", sigma=0.2), dims=("geo", "fourier_mode"),
                                      centered=False),
        "likelihood": Prior("TruncatedNormal", lower=0, sigma=Prior("HalfNormal", sigma=1.5), dims=("date", "geo")),
    }
    scaling = Scaling(target=VariableScaling(method="max", dims=()), channel=VariableScaling(method="max", dims=()))
    return MMM(date_column="date", channel_columns=["x1", "x2"], target_column="y",
               control_columns=["event_1", "event_2"], dims=("geo",), yearly_seasonality=2,
               adstock=adstock, saturation=saturation, model_config=model_config, scaling=scaling)


def pymc_marketing_fit(df: pd.DataFrame, params, seed: int, sampler: str = "nutpie"):
    """Fit :func:`pymc_marketing_mmm` with ``sampler`` (nutpie or pymc) and the case's fit settings."""
    mmm = pymc_marketing_mmm()
    fit = params.fit
    t0 = time.perf_counter()
    cores = fit.cores or min(fit.chains, os.cpu_count() or 1)  # the same cores as ours (PyMC may pick 1 here)
    idata = mmm.fit(df.drop(columns="y"), df["y"], progressbar=False, random_seed=seed, nuts_sampler=sampler,
                    chains=fit.chains, draws=fit.draws, tune=fit.tune, target_accept=fit.target_accept, cores=cores)
    return idata, time.perf_counter() - t0


def compare(ours, theirs) -> pd.DataFrame:
    rows = []
    for name in COMPARED:
        a, b = ours.posterior[name], theirs.posterior[name]
        b = b.transpose(*a.dims)
        for idx in np.ndindex(*a.shape[2:]):
            label = name + ("[" + ", ".join(str(a[d].values[i]) for d, i in zip(a.dims[2:], idx)) + "]" if idx else "")
            sa = a.values[(slice(None), slice(None), *idx)].ravel()
            sb = b.sel({d: a[d].values[i] for d, i in zip(a.dims[2:], idx)}).values.ravel()
            sd = float(np.sqrt((sa.var() + sb.var()) / 2))
            rows.append({"parameter": label, "mmmhelpers mean": sa.mean(), "mmmhelpers sd": sa.std(),
                         "pymc-marketing mean": sb.mean(), "pymc-marketing sd": sb.std(),
                         "|diff| / sd": abs(sa.mean() - sb.mean()) / sd})
    return pd.DataFrame(rows)


def min_ess(idata) -> float:
    return float(az.ess(idata, var_names=COMPARED).to_array().min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "multidimensional_example.yaml"))
    parser.add_argument("--draws", type=int, default=None, help="override fit.draws and fit.tune")
    args = parser.parse_args()
    params = load_params(args.params)
    if args.draws:
        params = params.model_copy(update={"fit": params.fit.model_copy(update={"draws": args.draws, "tune": args.draws})})
    data, _ = prepare_data(params)
    df = data.to_frame()

    t0 = time.perf_counter()
    ours, timings = sample(model_for(params, data), params.fit, seed=params.seed, progress=False)
    ours_s = time.perf_counter() - t0
    runs = {"mmmhelpers (nutpie, cached compile)": (ours, ours_s)}
    for sampler in ("pymc", "nutpie"):
        runs[f"pymc-marketing ({sampler})"] = pymc_marketing_fit(df, params, seed=params.seed, sampler=sampler)

    table = compare(ours, runs["pymc-marketing (nutpie)"][0])
    pd.set_option("display.width", 160)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    worst = table["|diff| / sd"].max()
    print(f"\nmax |diff| / sd = {worst:.3f} over {len(table)} scalar parameters -> "
          f"{'PARITY' if worst < 0.5 else 'NO PARITY'} (threshold 0.5)")
    print("\n| run | wall s (compile+sample+ppc) | min bulk ESS | min ESS / s | divergences |")
    print("|---|---|---|---|---|")
    rates = {}
    for name, (idata, secs) in runs.items():
        ess = min_ess(idata)
        div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else -1
        rates[name] = ess / secs
        print(f"| {name} | {secs:.1f} | {ess:.0f} | {ess / secs:.1f} | {div} |")
    best = max(v for k, v in rates.items() if k.startswith("pymc-marketing"))
    print(f"\nmmmhelpers / pymc-marketing's best min-ESS/s: {rates['mmmhelpers (nutpie, cached compile)'] / best:.1f}x "
          f"(mmmhelpers: compile {timings['compile_seconds']:.1f} s, sampling {timings['sampling_seconds']:.1f} s)")


if __name__ == "__main__":
    main()
