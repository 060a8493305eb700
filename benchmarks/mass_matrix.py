"""Mass-matrix adaptation per case: nutpie's diagonal vs low-rank, through the project's own fit path.

    .venv/bin/python benchmarks/mass_matrix.py [params/a.yaml ...]

Each case's full model is fitted twice with its own fit settings (chains, draws, target_accept), once with
``fit.mass_matrix: diag`` and once with ``low_rank``; the compiled model is shared (the cache), so the second
fit pays no compile. Prints steps per draw, sampling seconds, min bulk ESS (and which parameter), min ESS per
sampling second and divergences. This is the evidence behind each case's ``fit.mass_matrix`` (docs/params.md).
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
CASES = ["multidimensional_example", "geo_hierarchical", "default", "example_csv"]


def fit_once(params, mass_matrix: str) -> dict:
    """One fit of ``params`` with the given adaptation: the row of the table."""
    fit = params.fit.model_copy(update={"mass_matrix": mass_matrix})
    data, _ = prepare_data(params)
    mmm = model_for(params, data)
    idata, timings = sample(mmm, fit, params.seed, progress=False)
    names = [n for n in scalar_parameters(idata) if "contribution" not in n and n != "mu"]
    ess = az.ess(idata, var_names=names)
    worst = min(names, key=lambda n: float(ess[n].min()))
    min_ess = float(ess[worst].min())
    return {"steps": float(idata.sample_stats["n_steps"].mean()), "seconds": timings["sampling_seconds"],
            "ess": min_ess, "worst": worst, "divergences": int(idata.sample_stats["diverging"].sum()),
            "ess_s": min_ess / timings["sampling_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", default=[str(ROOT / "params" / f"{c}.yaml") for c in CASES])
    args = parser.parse_args()
    print("Each case's own fit settings; sampling seconds only (the compile is shared).\n")
    print("| case | mass matrix | steps per draw | sampling s | min bulk ESS | worst | ESS / s | divergences |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.params:
        params = load_params(path)
        for mass_matrix in ("diag", "low_rank"):
            r = fit_once(params, mass_matrix)
            chosen = " (case's)" if params.fit.mass_matrix == mass_matrix else ""
            print(f"| {params.case} | {mass_matrix}{chosen} | {r['steps']:.0f} | {r['seconds']:.1f} | {r['ess']:.0f} | "
                  f"{r['worst']} | {r['ess_s']:.0f} | {r['divergences']} |", flush=True)


if __name__ == "__main__":
    main()
