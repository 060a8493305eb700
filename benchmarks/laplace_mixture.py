"""Laplace scale mixture: pymc-marketing's offset form vs our centred form of the same prior, on one case.

    .venv/bin/python benchmarks/laplace_mixture.py [params/geo_hierarchical.yaml]

Both fits use the case's data, priors, sampler settings and seed; only ``model.priors.gamma_fourier.offsets``
differs (true: ``mu + sqrt(var) * z`` with ``z`` sampled, pymc-marketing's form; false: the values sampled
``Normal(mu, sqrt(var))``, the default). Prints divergences, min bulk ESS, sampling seconds and leapfrog steps.
The first run of each form compiles; the table reports sampling time separately.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.fit import diagnostics, sample

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "geo_hierarchical.yaml"))
    args = parser.parse_args()
    base = load_params(args.params)
    if "gamma_fourier" not in base.model.priors or base.model.priors["gamma_fourier"].get("centered", True):
        raise SystemExit(f"{args.params}: gamma_fourier is not a Laplace mixture (centered: false)")
    print("| form | divergences | min bulk ESS (worst) | sampling s | steps per draw | compile s |")
    print("|---|---|---|---|---|---|")
    for offsets in (True, False):
        prior = {**base.model.priors["gamma_fourier"], "offsets": offsets}
        params = load_params(args.params, overrides={"model": {"priors": {"gamma_fourier": prior}}})
        data, _ = prepare_data(params)
        idata, timings = sample(model_for(params, data), params.fit, seed=params.seed, progress=False)
        d = diagnostics(idata, params.fit, timings)
        form = "offsets (pymc-marketing)" if offsets else "centred (default)"
        print(f"| {form} | {d.divergences} | {d.ess_bulk_min:,.0f} ({d.ess_bulk_min_variable}) | "
              f"{d.sampling_seconds:.1f} | {d.steps_per_draw:.0f} | {d.compile_seconds:.1f} |")


if __name__ == "__main__":
    main()
