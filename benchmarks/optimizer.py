"""Budget optimizer speed: mmmhelpers vs pymc-marketing, one optimization on the same 4,000-draw posterior.

The case is params/geo_hierarchical.yaml (2 geos x 2 channels, simulated). No MCMC: 4,000 prior draws of
the mmmhelpers model stand in for a 4-chain x 1,000-draw posterior, and pymc-marketing's multidimensional
MMM (built as in ``parity_pymc_marketing.py``) gets the very same parameter values. Both sides solve the
same problem: 13 periods of flat spend, the budget per period the sum over cells of the average historical
weekly spend, each cell in [0, budget], no spend history carried in, the carryover tail counted, and the
mean over all draws of the total media response maximized with SLSQP.

Printed: compile time (building the response graph over the draws and compiling it) apart from solve time
(one SLSQP run), each the median of ``--repeats`` runs, next to the goal (mmmhelpers solves in <= 1 s and
>= 5x faster than pymc-marketing); then both optima and both objective values, each evaluated on both
sides, so that a reader can check the two solve the same problem.

pymc-marketing is the optional ``benchmark`` extra; keep it out of the project's .venv (it may move pins):

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install -r requirements.txt pymc-marketing==0.19.2
    /work/bench-venv/bin/pip install --no-deps -e .
    /work/bench-venv/bin/python benchmarks/optimizer.py [--repeats 3] [--chains 4] [--draws 1000]

Without pymc-marketing installed it says so and times the mmmhelpers side only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import xarray as xr

import mmmhelpers.optimize
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import Params, load_params
from mmmhelpers.constraints import cell_labels
from mmmhelpers.data import MMMData
from mmmhelpers.model import build_model
from mmmhelpers.optimize import Plan, ResponseModel, optimize_budget, problem_for, response_model

ROOT = Path(__file__).resolve().parent.parent
NUM_PERIODS = 13
OURS_VARS = ["adstock_alpha", "saturation_lam", "saturation_beta"]
# pymc-marketing recomputes saturation_beta from its free variables (non-centered log-normal), so it gets those too
THEIR_VARS = ["adstock_alpha", "saturation_lam", "saturation_beta_mean", "saturation_beta_std",
              "saturation_beta_log_offset"]
SOLVE_GOAL_S = 1.0
SPEEDUP_GOAL = 5.0
DEFINITIONS = """\
Same problem on both sides:
- budget per period B = sum over the 4 cells of the average historical weekly spend; every period spends the
  same per cell (flat); the cells' spend per period sums to B exactly; each cell in [0, B]; start: even split.
- no history: both start from zero spend (pymc-marketing's optimizer replaces channel_data by the plan;
  mmmhelpers: carryover_history=False), so the incremental response equals the media contribution.
- the carryover tail is counted on both sides: mmmhelpers adds l_max - 1 = 7 periods after the window
  (objective_window="window_and_tail"), pymc-marketing pads l_max = 8 zero-spend periods; the 8th gets
  no carryover from an 8-lag adstock, so the two sums are the same.
- objective: mean over all draws of the total media contribution in the target's units, summed over periods,
  geos and channels (pymc-marketing: total_media_contribution_original_scale with average_response).
Differences that remain (solver settings, not the problem):
- mmmhelpers runs SLSQP on spend / B with the objective divided by its value at the start, ftol {ftol:g},
  maxiter 500; pymc-marketing runs SLSQP on raw spend and raw objective, ftol 1e-9, maxiter 1000.
- pymc-marketing's documented call (MultiDimensionalBudgetOptimizerWrapper.optimize_budget) builds and
  compiles a new BudgetOptimizer every call; mmmhelpers compiles the response once per posterior
  (response_model) and reuses it for every plan (scenarios, target search).
- the "posterior" is prior draws: the optimum is a corner of a wide prior, meaningful for timing and
  for the agreement check, not as marketing advice.
"""

T = TypeVar("T")


def timed(fn: Callable[[], T], repeats: int) -> tuple[list[float], list[T]]:
    """Wall seconds of ``repeats`` calls of ``fn`` and every call's result."""
    seconds, outs = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs.append(fn())
        seconds.append(time.perf_counter() - t0)
    return seconds, outs


def prior_as_posterior(params: Params, data: MMMData, chains: int, draws: int, seed: int) -> xr.Dataset:
    """``chains * draws`` prior draws of the mmmhelpers model's media parameters as a (chain, draw, ...) posterior."""
    mmm = build_model(params.model, data)
    prior = pm.sample_prior_predictive(draws=chains * draws, model=mmm.model, random_seed=seed,
                                       var_names=sorted(set(OURS_VARS + THEIR_VARS))).prior
    out = {name: (("chain", "draw", *da.dims[2:]), da.values.reshape(chains, draws, *da.shape[2:]))
           for name, da in prior.data_vars.items()}
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), **{d: prior[d].values for d in ("geo", "channel")}}
    return xr.Dataset(out, coords=coords)


# --- mmmhelpers ---------------------------------------------------------------------------------------

def ours_compile(params: Params, data: MMMData, posterior: xr.Dataset) -> ResponseModel:
    """The incremental response over every draw, compiled (what ``allocate`` does once per posterior)."""
    idata = az.InferenceData(posterior=posterior[OURS_VARS])
    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    return response_model(params.model, data, idata, num_periods=NUM_PERIODS, n_draws=n, seed=0,
                          objective_window="window_and_tail", carryover_history=False)


def ours_solve(rm: ResponseModel, budget: float) -> tuple[Plan, dict[str, Any]]:
    """One optimization; with it, how many response evaluations it made and SLSQP's result."""
    with counting(rm) as found:
        plan = optimize_budget(rm, problem_for(rm, budget, bounds={ch: [0.0, budget] for ch in rm.channels}))
    return plan, found


@contextmanager
def counting(rm: ResponseModel) -> Iterator[dict[str, Any]]:
    """Count the compiled response calls (value + jacobian) of ``rm`` and record SLSQP's result (one Python
    call and one increment per evaluation: microseconds against the evaluation's milliseconds)."""
    calls, minimize = rm.value_and_jac, mmmhelpers.optimize.minimize
    found: dict[str, Any] = {"evaluations": 0}

    def counted(plan):
        found["evaluations"] += 1
        return calls(plan)

    def recorded(*args, **kwargs):
        found["result"] = minimize(*args, **kwargs)
        return found["result"]

    rm.value_and_jac, mmmhelpers.optimize.minimize = counted, recorded
    try:
        yield found
    finally:
        del rm.value_and_jac
        mmmhelpers.optimize.minimize = minimize


# --- pymc-marketing -----------------------------------------------------------------------------------

def pymc_marketing_available() -> str | None:
    """None if pymc-marketing imports, else why not."""
    try:
        import pymc_marketing.mmm.multidimensional  # noqa: F401
    except ImportError as err:
        return str(err)
    return None


def theirs_fitted(params: Params, data: MMMData, posterior: xr.Dataset):
    """pymc-marketing's MMM of the case, built on the data, with ``posterior`` as if ``fit`` had produced it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from parity_pymc_marketing import pymc_marketing_mmm

    df = data.to_frame()
    X, y = df.drop(columns=data.target_column), df[data.target_column]
    mmm = pymc_marketing_mmm(params, data)
    mmm.build_model(X, y)
    idata = az.InferenceData(posterior=posterior[THEIR_VARS])
    idata.add_groups(fit_data=mmm.create_fit_data(X, y))  # as fit() does
    mmm.set_idata_attrs(idata)
    mmm.idata = idata
    return mmm


def theirs_window(data: MMMData) -> tuple[str, str]:
    """Start and end dates of the 13 weeks after the data (the wrapper counts periods from them)."""
    start = data.dates[-1] + pd.Timedelta(weeks=1)
    return str(start.date()), str((start + pd.Timedelta(weeks=NUM_PERIODS - 1)).date())


def theirs_compile(mmm, data: MMMData):
    """What ``MultiDimensionalBudgetOptimizerWrapper.optimize_budget`` builds before it solves: the wrapper's
    zero-spend future and a ``BudgetOptimizer`` (graph over the draws, compiled objective and gradient)."""
    from pymc_marketing.mmm.budget_optimizer import BudgetOptimizer
    from pymc_marketing.mmm.multidimensional import MultiDimensionalBudgetOptimizerWrapper
    from pymc_marketing.mmm.utility import average_response

    start, end = theirs_window(data)
    wrapper = MultiDimensionalBudgetOptimizerWrapper(model=mmm, start_date=start, end_date=end)
    if wrapper.num_periods != NUM_PERIODS:
        raise RuntimeError(f"pymc-marketing counts {wrapper.num_periods} periods in {start}..{end}")
    return BudgetOptimizer(num_periods=wrapper.num_periods, model=wrapper, utility_function=average_response,
                           response_variable="total_media_contribution_original_scale",
                           compile_kwargs=wrapper.compile_kwargs)


def theirs_bounds(data: MMMData, budget: float) -> xr.DataArray:
    shape = (*[len(v) for v in data.panel.values()], len(data.channels), 2)
    return xr.DataArray(np.broadcast_to([0.0, budget], shape).copy(), dims=(*data.panel, "channel", "bound"),
                        coords={**data.panel, "channel": data.channels, "bound": ["lower", "upper"]})


def theirs_solve(allocator, data: MMMData, budget: float) -> tuple[np.ndarray, Any]:
    """One ``allocate_budget``: spend per period ``(*panel, channel)`` and scipy's result."""
    x, res = allocator.allocate_budget(total_budget=budget, budget_bounds=theirs_bounds(data, budget))
    return x.transpose(*data.panel, "channel").values, res


def theirs_objective(allocator, x: np.ndarray) -> float:
    """pymc-marketing's objective (mean response over draws) at spend ``x`` ``(*panel, channel)``."""
    f = allocator._compiled_functions[allocator.utility_function]["objective_and_grad"]
    return -float(f(np.ascontiguousarray(x, dtype="float64").ravel())[0])


def theirs_documented(mmm, data: MMMData, budget: float) -> tuple[float, np.ndarray]:
    """The documented one call (compile + solve), timed once: seconds and its optimum."""
    from pymc_marketing.mmm.multidimensional import MultiDimensionalBudgetOptimizerWrapper

    start, end = theirs_window(data)
    t0 = time.perf_counter()
    wrapper = MultiDimensionalBudgetOptimizerWrapper(model=mmm, start_date=start, end_date=end)
    x, _ = wrapper.optimize_budget(budget=budget, budget_bounds=theirs_bounds(data, budget))
    return time.perf_counter() - t0, x.transpose(*data.panel, "channel").values


# --- report -------------------------------------------------------------------------------------------

def versions() -> str:
    out = []
    for pkg in ["numpy", "scipy", "pytensor", "pymc", "arviz", "pymc-marketing"]:
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return f"python {platform.python_version()}, " + ", ".join(out)


def mmmhelpers_revision() -> str:
    """Where mmmhelpers was imported from, and its git commit (with a mark if it has uncommitted changes)."""
    where = Path(mmmhelpers.optimize.__file__).resolve().parent
    try:
        git = ["git", "-C", str(where)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run([*git, "status", "--porcelain", "."], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return f"{where} (not a git checkout)"
    return f"{where} at git {head.stdout.strip()}" + (" + uncommitted changes" if dirty.stdout.strip() else "")


def fmt_times(seconds: list[float]) -> str:
    """Median, then every run in order."""
    runs = ", ".join(f"{s:.2f}" for s in seconds)
    return f"{statistics.median(seconds):.2f}" + (f" ({runs})" if len(seconds) > 1 else "")


def fmt_counts(counts: list[int]) -> str:
    """One count, or every run's when they differ."""
    return str(counts[0]) if len(set(counts)) == 1 else "/".join(map(str, counts))


def goal_line(ours_s: float, theirs_s: float | None) -> str:
    fast = ours_s <= SOLVE_GOAL_S
    text = f"mmmhelpers <= {SOLVE_GOAL_S:g} s: {'MET' if fast else 'MISSED'}"
    if theirs_s is not None:
        ratio = theirs_s / ours_s
        text += f"; >= {SPEEDUP_GOAL:g}x: {'MET' if ratio >= SPEEDUP_GOAL else 'MISSED'} ({ratio:.1f}x)"
    return text


def print_table(rows: list[list[str]], header: list[str]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params" / "geo_hierarchical.yaml"))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each compile and each solve")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    # pymc-marketing warns on every default it applies (equality constraint, InferenceData groups): known here
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    load_before, revision = os.getloadavg()[0], mmmhelpers_revision()  # others may commit while this runs
    params = load_params(args.params)
    data, _ = prepare_data(params)
    posterior = prior_as_posterior(params, data, args.chains, args.draws, seed=params.seed)
    n_draws = args.chains * args.draws
    budget = float(data.X.mean(axis=0).sum())
    labels = cell_labels(data.channels, data.panel)

    ours_compile_s, rms = timed(lambda: ours_compile(params, data, posterior), args.repeats)
    rm = rms[-1]
    ours_solve_s, ours_runs = timed(lambda: ours_solve(rm, budget), args.repeats)
    plan = ours_runs[-1][0]
    ours_nit = "/".join(sorted({str(found["result"].nit) for _, found in ours_runs}))
    ours_evals = [found["evaluations"] for _, found in ours_runs]

    missing = pymc_marketing_available()
    theirs = None
    if missing is None:
        mmm = theirs_fitted(params, data, posterior)
        their_compile_s, allocators = timed(lambda: theirs_compile(mmm, data), args.repeats)
        allocator = allocators[-1]
        their_solve_s, their_runs = timed(lambda: theirs_solve(allocator, data, budget), args.repeats)
        their_x, their_res = their_runs[-1]
        their_nfev = [res.nfev for _, res in their_runs]
        documented_s, documented_x = theirs_documented(mmm, data, budget)
        theirs = {"compile": their_compile_s, "solve": their_solve_s, "x": their_x, "res": their_res, "nfev": their_nfev,
                  "documented_s": documented_s, "documented_x": documented_x, "allocator": allocator}
    load_after = os.getloadavg()[0]

    title = (f"Budget optimizer: one optimization, {NUM_PERIODS} periods x {len(data.panel['geo'])} geos x "
             f"{len(data.channels)} channels over {n_draws:,} draws ({args.chains} chains x {args.draws})")
    print(f"## {title}\n")
    print(f"case {Path(args.params).name}; budget per period B = {budget:,.2f}; times in wall seconds: median of "
          f"{args.repeats} runs (every run in brackets, in order). Caches: both sides compile in this one process, "
          "the first run with PyTensor's caches as this machine had them and later runs warm, so the medians (and "
          "their ratios) compare warm with warm; the first bracketed value of each side is its first compile\n")
    t_ours, t_ours_c = statistics.median(ours_solve_s), statistics.median(ours_compile_s)
    ev_ours = statistics.median(ours_evals)
    if theirs is None:
        print(f"pymc-marketing is not importable ({missing}): timing mmmhelpers only. Install the `benchmark`"
              " extra in a separate venv (see this script's docstring).\n")
        rows = [["compile s", fmt_times(ours_compile_s), "reported apart"],
                ["solve s", fmt_times(ours_solve_s), goal_line(t_ours, None)],
                ["compile + solve s", f"{t_ours_c + t_ours:.2f}", ""],
                ["SLSQP iterations / evaluations", f"{ours_nit} / {fmt_counts(ours_evals)}", ""]]
        print_table(rows, ["", "mmmhelpers", "goal"])
    else:
        t_th, t_th_c = statistics.median(theirs["solve"]), statistics.median(theirs["compile"])
        res_th = theirs["res"]
        ev_th = statistics.median(theirs["nfev"])
        rows = [["compile s", fmt_times(ours_compile_s), fmt_times(theirs["compile"]), f"{t_th_c / t_ours_c:.1f}x",
                 "reported apart"],
                ["solve s (one SLSQP run)", fmt_times(ours_solve_s), fmt_times(theirs["solve"]), f"{t_th / t_ours:.1f}x",
                 goal_line(t_ours, t_th)],
                ["compile + solve s", f"{t_ours_c + t_ours:.2f}", f"{t_th_c + t_th:.2f}",
                 f"{(t_th_c + t_th) / (t_ours_c + t_ours):.1f}x", goal_line(t_ours_c + t_ours, t_th_c + t_th)],
                ["SLSQP iterations / objective+gradient evaluations", f"{ours_nit} / {fmt_counts(ours_evals)}",
                 f"{res_th.nit} / {fmt_counts(theirs['nfev'])}", "", "mmmhelpers: + 1 scaling call + 1 final call"],
                ["solve s per evaluation", f"{t_ours / ev_ours:.3f}", f"{t_th / ev_th:.3f}",
                 f"{(t_th / ev_th) / (t_ours / ev_ours):.1f}x", ""]]
        print_table(rows, ["", "mmmhelpers", "pymc-marketing", "pymc-marketing / mmmhelpers", "goal"])
        print(f"\npymc-marketing's documented one call, MultiDimensionalBudgetOptimizerWrapper(...).optimize_budget"
              f"(budget, budget_bounds) (compiles, then solves), once: {theirs['documented_s']:.2f} s")

        print("\n### Optima: spend per period per cell\n")
        ours_x, their_x = plan.per_period.ravel(), theirs["x"].ravel()
        rows = [[lab, f"{a:,.2f}", f"{b:,.2f}", f"{a - b:+,.3g}"] for lab, a, b in zip(labels, ours_x, their_x)]
        rows.append(["total", f"{ours_x.sum():,.2f}", f"{their_x.sum():,.2f}", f"{ours_x.sum() - their_x.sum():+,.3g}"])
        print_table(rows, ["cell", "mmmhelpers", "pymc-marketing", "difference"])
        gap = np.abs(theirs["documented_x"].ravel() - their_x).max()
        print(f"\n(the documented one call's optimum differs from the timed allocate_budget's by at most {gap:.3g})")

        print("\n### Objective: mean over draws of the total media response (window + tail), each optimum on each side\n")
        at_ours = [plan.value, theirs_objective(theirs["allocator"], plan.per_period)]
        at_theirs = [float(rm.draws(theirs["x"]).mean()), -float(res_th.fun)]
        rows = [["mmmhelpers' optimum", *(f"{v:,.6f}" for v in at_ours)],
                ["pymc-marketing's optimum", *(f"{v:,.6f}" for v in at_theirs)]]
        print_table(rows, ["plan", "mmmhelpers' evaluator", "pymc-marketing's evaluator"])
        same_eval = max(abs(at_ours[0] - at_ours[1]), abs(at_theirs[0] - at_theirs[1])) / abs(at_ours[0])
        print(f"\nsame plan, two evaluators: relative difference {same_eval:.2g}; the two optima differ by "
              f"{(at_ours[0] - at_theirs[0]) / abs(at_ours[0]):+.2g} (relative, mmmhelpers' minus pymc-marketing's)")
        print(f"\nSLSQP: mmmhelpers '{ours_runs[-1][1]['result'].message}'; pymc-marketing '{res_th.message}'")
    from mmmhelpers.optimize import FTOL

    print("\n" + DEFINITIONS.format(ftol=FTOL))
    print(f"versions: {versions()}")
    print(f"mmmhelpers: {revision}")
    print(f"pytensor: mode {pytensor.config.mode}, linker {pytensor.config.linker}, cxx {pytensor.config.cxx or 'none'}, "
          f"blas '{pytensor.config.blas__ldflags}'")
    print(f"machine: {os.cpu_count()} cores; 1-min load average {load_before:.2f} before, {load_after:.2f} after "
          "(above ~1 another process was competing for the cores: times are inflated)")


if __name__ == "__main__":
    main()
