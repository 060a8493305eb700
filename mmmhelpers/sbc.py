"""Simulation-based calibration (Talts et al. 2018): is the fitted posterior the model's true posterior?

Each SBC draw takes its true parameters from the prior, simulates data from the model with them, fits, and
records the rank of each truth among ``L`` thinned posterior draws (0..L). When the fit recovers the exact
posterior, every rank is uniform on 0..L. Ranks piled at both ends mean a posterior too narrow
(overconfident), piled in the middle a posterior too wide, skewed to one side a biased one.

``rank_of`` and ``sbc_table`` are generic; ``mmm_sbc_task`` is one draw of a case's own model (prior draw,
simulated target on the case's own spend and controls, fit, ranks), a picklable task for
:mod:`mmmhelpers.executor`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mmmhelpers.config import Params
from mmmhelpers.executor import SequentialExecutor, Task, executor_for, failures, task_seeds
from mmmhelpers.seeds import seed_for

__all__ = ["rank_of", "uniformity_p", "reading", "sbc_table", "mmm_sbc_task", "run_sbc", "sbc_parameters",
           "sbc_section"]

ALPHA = 0.01  # family-wise: a parameter is flagged when its p-value is below ALPHA / (parameters tested) (Bonferroni)


def rank_of(truth: np.ndarray, posterior: np.ndarray, L: int) -> np.ndarray:
    """Rank (0..L) of each truth ``(p,)`` among ``L`` evenly thinned draws of ``posterior`` ``(draws, p)``."""
    posterior = np.asarray(posterior, float)
    keep = np.linspace(0, len(posterior) - 1, L).round().astype(int)
    return (posterior[keep] < np.asarray(truth, float)[None]).sum(axis=0)


def _bins(n: int, L: int) -> int:
    """Histogram bins: about 10 ranks' worth of draws per bin expected, at most 20, dividing 0..L evenly."""
    b = int(np.clip(n // 10, 2, 20))
    while (L + 1) % b and b > 2:
        b -= 1
    return b


def uniformity_p(ranks: np.ndarray, L: int) -> float:
    """p-value of a chi-square test that ``ranks`` (0..L) are uniform, on ``_bins`` equal bins."""
    ranks = np.asarray(ranks)
    b = _bins(len(ranks), L)
    counts = np.bincount((ranks * b) // (L + 1), minlength=b)
    return float(stats.chisquare(counts).pvalue)


def reading(ranks: np.ndarray, L: int, p: float, alpha: float = ALPHA) -> str:
    """The ranks in plain words (``alpha``: the per-parameter threshold, adjusted for the number tested)."""
    u = (np.asarray(ranks) + 0.5) / (L + 1)
    if p >= alpha:
        return "no evidence of miscalibration (ranks consistent with uniform)"
    ends, mean = float(np.mean((u < 0.1) | (u > 0.9))), float(np.mean(u))
    if abs(mean - 0.5) > 2.5 * np.sqrt(1 / 12 / len(u)):
        side = "above" if mean < 0.5 else "below"
        return f"skewed: the truth sits {side} most posterior draws less often than it should (the posterior is " \
               f"biased {'upward' if mean < 0.5 else 'downward'})"
    if ends > 0.2:
        return f"piled at both ends ({ends:.0%} of ranks in the outer 20%): the posterior is too narrow (overconfident)"
    if ends < 0.2:
        return f"piled in the middle (only {ends:.0%} of ranks in the outer 20%): the posterior is too wide"
    return "not uniform, without a simple pattern: look at the histogram"


def sbc_table(ranks: pd.DataFrame, L: int) -> pd.DataFrame:
    """Per parameter (columns of ``ranks``, one row per SBC draw): draws, the uniformity p-value and its Bonferroni
    adjustment for the number of parameters tested, a flag (``uniform``: no evidence against it) and a reading."""
    rows = []
    alpha = ALPHA / max(len(ranks.columns), 1)
    for name in ranks.columns:
        r = ranks[name].dropna().astype(int).to_numpy()
        p = uniformity_p(r, L)
        rows.append({"parameter": name, "draws": len(r), "p-value": p,
                     "adjusted p-value": min(1.0, p * len(ranks.columns)), "uniform": p >= alpha,
                     "reading": reading(r, L, p, alpha)})
    return pd.DataFrame(rows)


def sbc_parameters(idata) -> list[str]:
    """The posterior's named parameters SBC ranks: every scalar parameter but the sampler's raw offsets."""
    from mmmhelpers.diagnose import scalar_parameters

    return [n for n in scalar_parameters(idata) if not n.endswith(("_offset", "_raw", "_z", "_variance"))
            and n not in ("mu",)]


def _flat(da) -> dict[str, float]:
    """A (chain, draw, ...) variable of one draw, flattened to ``name[coord, ...]`` -> value."""
    values = np.asarray(da.values).reshape(-1) if da.ndim else np.asarray([da.values])
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        return {da.name: float(values[0])}
    labels = pd.MultiIndex.from_product([da[d].values for d in dims]).map(
        lambda k: ", ".join(map(str, k if isinstance(k, tuple) else (k,))))
    return {f"{da.name}[{lab}]": float(v) for lab, v in zip(labels, values)}


def mmm_sbc_task(params: dict, frame: pd.DataFrame, roles: dict, seed: int, L: int = 99) -> dict[str, Any]:
    """One SBC draw of a case's model: parameters and target from the prior predictive (the case's own spend,
    controls and scales), a fit with the case's settings, the rank of every truth among ``L`` thinned draws.

    Returns ``{"ranks": {parameter: rank}, "divergences": int}``: summaries only, never the trace.
    """
    from mmmhelpers.calibration import model_for
    from mmmhelpers.data import from_roles
    from mmmhelpers.fit import sample_many
    from mmmhelpers.review import sample_prior

    p = Params.model_validate(params)
    data = from_roles(frame, roles)
    mmm = model_for(p, data)
    seed_prior, seed_fit = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))
    quiet = logging.getLogger("pymc")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # no "Sampling: [...]" line per draw
    try:
        prior = sample_prior(mmm, draws=1, seed=seed_prior)
    finally:
        quiet.setLevel(level)
    y = prior["prior_predictive"]["y"].values[0, 0]
    idata = next(sample_many(mmm, [{"target_scaled": y}], p.fit, [seed_fit]))
    ranks: dict[str, int] = {}
    for name in sbc_parameters(idata):
        truth = _flat(prior["prior"][name].isel(chain=0, draw=0, drop=True).rename(name))
        post = idata.posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
        flat = post.values.reshape(post.sizes["sample"], -1)
        ranks |= dict(zip(truth, rank_of(np.array(list(truth.values())), flat, L).tolist()))
    return {"ranks": ranks, "divergences": int(idata.sample_stats["diverging"].sum())}


def run_sbc(params, data, n: int, executor=None, L: int = 99, progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """``n`` SBC draws of the case's model on its own data's design, on ``executor`` (default: in sequence).
    Returns the ranks (one row per draw, one column per parameter, plus ``divergences``) and the failed draws."""
    from mmmhelpers.data import data_roles

    executor = executor or SequentialExecutor()
    dumped = params.model_dump(mode="json", exclude={"source"})
    roles = data_roles(data)
    frame = data.to_frame()
    tasks = [Task(f"sbc draw {k}", mmm_sbc_task, {"params": dumped, "frame": frame, "roles": roles, "seed": s, "L": L})
             for k, s in enumerate(task_seeds(seed_for(params.seed, "sbc"), n))]
    outcomes = executor.map(tasks, desc="SBC draws", progress=progress)
    rows = [{**o.value["ranks"], "divergences": o.value["divergences"]} for o in outcomes if o.ok]
    return pd.DataFrame(rows), failures(outcomes)


def sbc_section(params, run_dir, workers: int = 0, scheduler: str = "") -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The recovery page's SBC: ``recovery.sbc.draws`` draws on the executor, ranks saved to
    ``artifacts/sbc_ranks.csv``; returns the ranks, the per-parameter table and the section's text."""
    from mmmhelpers import artifacts

    sbc, sbc_params = params.recovery.sbc, params.for_sbc()
    with executor_for(workers, scheduler) as ex:
        ranks, failed = run_sbc(sbc_params, artifacts.load_data(run_dir), sbc.draws, ex, L=sbc.ranks, progress=False)
        where = ex.description
    ranks.to_csv(artifacts.artifacts_dir(run_dir) / "sbc_ranks.csv", index=False)
    summary = sbc_table(ranks.drop(columns="divergences"), sbc.ranks)
    flagged = summary.loc[~summary["uniform"], "parameter"].tolist()
    text = (f"## Simulation-based calibration ({len(ranks)} draws)\n\nEach draw takes its parameters from the prior, "
            f"simulates the target on this case's own spend and controls, and fits it ({sbc_params.fit.chains} × "
            f"{sbc_params.fit.draws} draws, {where}). If the fit is calibrated, each truth's rank among {sbc.ranks} "
            f"posterior draws is uniform; each parameter's test is adjusted for the {len(summary)} tested (Bonferroni, "
            f"family-wise {ALPHA:.0%}). "
            + (f"**Evidence of miscalibration:** {', '.join(flagged)}." if flagged else
               f"**No evidence of miscalibration** in {len(ranks)} draws (few draws detect only large problems).")
            + (f" {len(failed)} draw(s) failed: {'; '.join(failed)}." if failed else "")
            + f" Divergent draws in {int((ranks['divergences'] > 0).sum())} of the {len(ranks)} fits.")
    return ranks, summary, text
