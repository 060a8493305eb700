"""Cold vs cold, warm vs warm: case study 000 fitted by this project and by pymc-marketing, each in a new process.

    .bench-venv/bin/python benchmarks/cold_start.py [params/multidimensional_example.yaml] [--seeds 1 2 3]

A *cold* run starts with an empty PyTensor base compiledir and an empty numba cache (``PYTENSOR_FLAGS=
base_compiledir=...``, ``NUMBA_CACHE_DIR``): what a new machine, a CI run or a workshop laptop sees. This project's
compile cache lives there too, so its cold run compiles everything. A *warm* run is the next process on the same
directories (pymc-marketing's pm.sample then finds its C modules, nutpie its numba kernels, ours the cached
callbacks). Every side runs with the case's chains, tune, draws and target_accept:

- mmmhelpers: ``fit.sample`` with the case's mass matrix (``fit.mass_matrix``);
- pymc-marketing + nutpie, its default (diagonal) mass matrix, and with the low-rank one (ours) when the case uses it;
- pymc-marketing + pm.sample (PyMC's NUTS, C backend).

Per run: compile seconds (pymc-marketing: the fit's wall time minus the sampler's own ``sampling_time``, so model
building is counted on its side; ours: ``compile_seconds``), sampling seconds, min bulk ESS over the parameters both
sides share (the parity benchmark's matching), min ESS per sampling second and per (compile + sampling) second.
Each cell is the median over the seeds (every seed in brackets). The ratio rows compare cold with cold and warm with
warm, and say so. Needs pymc-marketing (the ``.bench-venv`` of the README); minutes per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def child(side: str, path: str, seed: int, out: str, draws: int = 0) -> None:
    """One fit in this process; writes ``out``.json (times) and ``out``.nc (the posterior)."""
    import warnings

    warnings.filterwarnings("ignore")
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params

    params = load_params(path)
    params = params.model_copy(update={"seed": seed})
    if draws:
        params = params.model_copy(update={"fit": params.fit.model_copy(update={"draws": draws, "tune": draws})})
    data, _ = prepare_data(params)
    fit = params.fit
    if side == "ours":
        from mmmhelpers.calibration import model_for
        from mmmhelpers.fit import sample

        t0 = time.perf_counter()
        idata, timings = sample(model_for(params, data), fit, seed=seed, progress=False)
        wall = time.perf_counter() - t0
        compile_s, sampling_s = timings["compile_seconds"], timings["sampling_seconds"]
    else:
        from parity_pymc_marketing import pymc_marketing_mmm

        sampler, _, mass = side.partition(":")
        df = data.to_frame()
        target = params.data.target_column
        mmm = pymc_marketing_mmm(params, data)
        extra = {"nuts_sampler_kwargs": {"low_rank_modified_mass_matrix": True}} if mass == "low_rank" else {}
        t0 = time.perf_counter()
        idata = mmm.fit(df.drop(columns=target), df[target], progressbar=False, random_seed=seed,
                        nuts_sampler=sampler, chains=fit.chains, draws=fit.draws, tune=fit.tune,
                        target_accept=fit.target_accept, cores=fit.cores or min(fit.chains, os.cpu_count() or 1),
                        **extra)
        wall = time.perf_counter() - t0
        sampling_s = float(idata.posterior.attrs["sampling_time"])
        compile_s = wall - sampling_s
    divergences = int(idata.sample_stats["diverging"].sum())
    idata.posterior.to_netcdf(f"{out}.nc")
    Path(f"{out}.json").write_text(json.dumps({"compile": compile_s, "sampling": sampling_s, "wall": wall,
                                               "divergences": divergences}))


def run(side: str, path: str, seed: int, cache: Path, out: Path, draws: int = 0) -> dict:
    """``side`` in a new process whose PyTensor and numba caches live under ``cache``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(cache / "numba"),
           "PYTENSOR_FLAGS": ",".join(f for f in [os.environ.get("PYTENSOR_FLAGS", ""),
                                                   f"base_compiledir={cache / 'pytensor'}"] if f)}
    proc = subprocess.run([sys.executable, __file__, "--child", side, path, str(seed), str(out), str(draws)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} (seed {seed}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(Path(f"{out}.json").read_text())


def _median(values: list[float], fmt: str) -> str:
    return f"{format(float(np.median(values)), fmt)} ({', '.join(format(v, fmt) for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default=str(ROOT / "params" / "multidimensional_example.yaml"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--draws", type=int, default=0, help="tuning steps and draws instead of the case's (a quick try)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, path, seed, out, draws = args.child
        child(side, path, int(seed), out, int(draws))
        return

    import arviz as az
    import xarray as xr
    from parity_pymc_marketing import NAME_MAP, matched

    from mmmhelpers.config import load_params

    params = load_params(args.params)
    if args.draws:
        params = params.model_copy(update={"fit": params.fit.model_copy(update={"draws": args.draws,
                                                                                 "tune": args.draws})})
    fit, panel = params.fit, tuple(params.data.dims)
    sides = {"ours": f"mmmhelpers (nutpie, {fit.mass_matrix} mass matrix)",
             "nutpie": "pymc-marketing + nutpie (diag, its default)"}
    if fit.mass_matrix == "low_rank":
        sides["nutpie:low_rank"] = "pymc-marketing + nutpie (low rank, as ours)"
    sides["pymc"] = "pymc-marketing + pm.sample (its default)"
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="cold_start_") as tmp:
        for seed in args.seeds:
            posteriors = {}
            for side in sides:
                cache = Path(tmp) / f"cache_{side.replace(':', '_')}_{seed}"  # empty: the first run is cold
                for state in ("cold", "warm"):
                    out = Path(tmp) / f"{side.replace(':', '_')}_{state}_{seed}"
                    t0 = time.perf_counter()
                    r = run(side, args.params, seed, cache, out, args.draws)
                    print(f"seed {seed} {side} {state}: compile {r['compile']:.1f} s, sampling "
                          f"{r['sampling']:.1f} s ({time.perf_counter() - t0:.0f} s wall)", file=sys.stderr, flush=True)
                    posteriors[(side, state)] = az.InferenceData(posterior=xr.load_dataset(f"{out}.nc"))
                    results.setdefault((side, state), []).append(r)
            names, _, _ = matched(posteriors[("ours", "cold")], posteriors[("nutpie", "cold")], panel)
            for (side, state), post in posteriors.items():
                ess = float(az.ess(post, var_names=names if side == "ours" else [NAME_MAP.get(n, n) for n in names])
                            .to_array().min())
                results[(side, state)][-1]["ess"] = ess
    _table(params, sides, results, args.seeds)


def _table(params, sides: dict[str, str], results: dict, seeds: list[int]) -> None:
    fit = params.fit
    print(f"case {params.case}: {fit.chains} chains × ({fit.tune} tune + {fit.draws} draws), target_accept "
          f"{fit.target_accept}; seeds {', '.join(map(str, seeds))}: median (every seed in brackets)\n")
    print("| run | cache | compile s | sampling s | min bulk ESS | ESS / sampling s | ESS / (compile + sampling) s "
          "| divergences |")
    print("|---|---|---|---|---|---|---|---|")
    rate: dict[tuple[str, str, str], float] = {}
    for (side, state), runs in results.items():
        sampling = [r["ess"] / r["sampling"] for r in runs]
        total = [r["ess"] / (r["compile"] + r["sampling"]) for r in runs]
        rate[(side, state, "sampling")], rate[(side, state, "total")] = np.median(sampling), np.median(total)
        print(f"| {sides[side]} | {state} | {_median([r['compile'] for r in runs], '.1f')} | "
              f"{_median([r['sampling'] for r in runs], '.1f')} | {_median([r['ess'] for r in runs], '.0f')} | "
              f"{_median(sampling, '.3g')} | {_median(total, '.3g')} | "
              f"{_median([float(r['divergences']) for r in runs], '.0f')} |")
    print("\n| ratio: mmmhelpers / pymc-marketing's best | both sides' cache | per sampling second | per (compile + "
          "sampling) second |")
    print("|---|---|---|---|")
    for state in ("cold", "warm"):
        peers = [s for s in sides if s != "ours"]
        cells = []
        for kind in ("sampling", "total"):
            best = max(peers, key=lambda s: rate[(s, state, kind)])
            cells.append(f"{rate[('ours', state, kind)] / rate[(best, state, kind)]:.1f}x (best: {sides[best]})")
        print(f"| min-ESS/s | {state} vs {state} | {cells[0]} | {cells[1]} |")
    cells = []
    for kind in ("sampling", "total"):  # a new user's first run against the peer's best second run
        best = max([s for s in sides if s != "ours"], key=lambda s: rate[(s, "warm", kind)])
        cells.append(f"{rate[('ours', 'cold', kind)] / rate[(best, 'warm', kind)]:.1f}x (best: {sides[best]})")
    print(f"| min-ESS/s | ours cold vs the peer warm | {cells[0]} | {cells[1]} |")
    print("\nRatios are of the medians. Goal (#33): cold vs cold, per (compile + sampling) second, at least 2x.")


if __name__ == "__main__":
    main()
