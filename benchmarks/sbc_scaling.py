"""SBC on the executor: wall time of N SBC fits in sequence vs on a local Dask cluster, and the SBC verdict.

    .venv/bin/python benchmarks/sbc_scaling.py [params/default.yaml] [--n 20] [--workers 2] [--chains 2]
        [--tune 200] [--draws 200] [--ranks 99] [--skip-sequential] [--skip-dask]

Prints one row per executor (fits, wall seconds, seconds per fit, same ranks as sequential?) and the SBC table
(uniformity p-value and reading per parameter). Each fit uses ``--chains`` chains; on 2 cores, two single-chain
workers or one two-chain process compete for the same cores, so expect little speed-up here: the point of the
executor is machines with more cores, or a cluster.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.executor import DaskExecutor, SequentialExecutor
from mmmhelpers.sbc import run_sbc, sbc_table

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "tests" / "params" / "tiny.yaml"))
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--tune", type=int, default=200)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--ranks", type=int, default=99)
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    params = load_params(args.params)
    fit = params.fit.model_copy(update={"chains": args.chains, "tune": args.tune, "draws": args.draws})
    params = params.model_copy(update={"fit": fit})
    data, _ = prepare_data(params)
    rows, results = [], {}
    runs = [] if args.skip_sequential else [("sequential", SequentialExecutor)]
    runs += [] if args.skip_dask else [(f"LocalCluster({args.workers})", lambda: DaskExecutor(args.workers))]
    for name, make in runs:
        t0 = time.perf_counter()
        with make() as ex:
            ranks, failed = run_sbc(params, data, args.n, ex, L=args.ranks, progress=True)
        secs = time.perf_counter() - t0
        results[name] = ranks
        same = ranks.equals(next(iter(results.values())))
        rows.append({"executor": name, "fits": len(ranks), "failed": len(failed), "wall s": round(secs, 1),
                     "s per fit": round(secs / max(len(ranks), 1), 2), "same ranks as the first": same})
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 120)
    print(pd.DataFrame(rows).to_string(index=False))
    ranks = next(iter(results.values()))
    print(f"\nSBC of {Path(args.params).name}: {len(ranks)} draws, {args.chains} chains x ({args.tune} + {args.draws}), "
          f"L = {args.ranks}; fits with divergences: {int((ranks['divergences'] > 0).sum())}")
    print(sbc_table(ranks.drop(columns="divergences"), args.ranks).to_string(index=False,
                                                                             float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
