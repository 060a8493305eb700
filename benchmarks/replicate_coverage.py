"""Coverage study: N datasets from a case's DGP, each fitted, truth vs 50% / 94% intervals.

    .venv/bin/python benchmarks/replicate_coverage.py [params/geo_hierarchical.yaml] [--n 20] [--draws 500]

Prints empirical coverage per parameter and overall (calibrated intervals: about 50% and 94%).
The model is compiled once; replicates differ only in data (nutpie ``with_data``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from mmmhelpers.config import load_params
from mmmhelpers.recovery import coverage_summary, replicate_study

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "geo_hierarchical.yaml"))
    parser.add_argument("--n", type=int, default=20, help="replicates")
    parser.add_argument("--draws", type=int, default=500, help="tune and draws per chain")
    args = parser.parse_args()
    params = load_params(args.params)
    fit = params.fit.model_copy(update={"draws": args.draws, "tune": args.draws})
    t0 = time.perf_counter()
    reps = replicate_study(params, args.n, fit=fit, progress=True)
    secs = time.perf_counter() - t0
    summ = coverage_summary(reps)
    pd.set_option("display.width", 160)
    print(summ.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\n{args.n} replicates × {fit.chains} chains × ({fit.tune} + {fit.draws}) in {secs:.0f} s: "
          f"overall coverage 50% -> {reps['covered_50'].mean():.2f}, 94% -> {reps['covered'].mean():.2f} "
          f"({len(reps)} parameter-replicates)")


if __name__ == "__main__":
    main()
