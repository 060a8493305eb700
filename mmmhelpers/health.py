"""One place for how good a fit is: the thresholds, the verdict of each check, the health colour, the gates.

The thresholds follow Vehtari et al. (2021) for R-hat and bulk ESS; they are a frozen record (as Meridian keeps its
review thresholds), so the fit's health (``diagnostics.json``), the model review's convergence checks, a refit's
"converged" (holdout folds, replicates) and the ``fit.fail_on`` gates all judge by the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["Thresholds", "THRESHOLDS", "Verdict", "Health", "ess_floor", "rhat_verdict", "ess_verdict",
           "divergence_verdict", "bfmi_verdict", "health", "refit_converged", "GATES", "gate_failures"]

Verdict = Literal["pass", "review", "fail"]
Health = Literal["green", "amber", "red"]


@dataclass(frozen=True)
class Thresholds:
    """Where a check passes and where it fails (between the two: review)."""

    rhat_pass: float = 1.01
    rhat_fail: float = 1.05  # above: fail
    ess_per_draw: float = 0.1  # the bulk-ESS floor is this share of the draws, at most ess_cap
    ess_cap: float = 400.0
    ess_fail_share: float = 0.25  # below this share of the floor: fail
    divergence_fail_share: float = 0.01  # divergent draws above this share: fail (any: review)
    bfmi_pass: float = 0.3


THRESHOLDS = Thresholds()


def ess_floor(chains: int, draws: int, t: Thresholds = THRESHOLDS) -> float:
    return min(t.ess_cap, t.ess_per_draw * chains * draws)


def rhat_verdict(rhat_max: float, t: Thresholds = THRESHOLDS) -> Verdict:
    """R-hat as ``az.summary`` reports it (two decimals)."""
    return "pass" if rhat_max <= t.rhat_pass else "review" if rhat_max <= t.rhat_fail else "fail"


def ess_verdict(ess_bulk_min: float, chains: int, draws: int, t: Thresholds = THRESHOLDS) -> Verdict:
    floor = ess_floor(chains, draws, t)
    return "pass" if ess_bulk_min >= floor else "review" if ess_bulk_min >= t.ess_fail_share * floor else "fail"


def divergence_verdict(divergences: int, chains: int, draws: int, t: Thresholds = THRESHOLDS) -> Verdict:
    share = divergences / max(chains * draws, 1)
    return "pass" if divergences == 0 else "review" if share <= t.divergence_fail_share else "fail"


def bfmi_verdict(bfmi_min: float, t: Thresholds = THRESHOLDS) -> Verdict:
    """A missing BFMI (no energy recorded) is not a pass."""
    return "pass" if math.isfinite(bfmi_min) and bfmi_min >= t.bfmi_pass else "review"


def health(divergences: int, rhat_max: float, ess_bulk_min: float, chains: int, draws: int) -> Health:
    """green: divergences, R-hat and bulk ESS all pass; amber: none fails; red: one fails."""
    verdicts = [divergence_verdict(divergences, chains, draws), rhat_verdict(rhat_max),
                ess_verdict(ess_bulk_min, chains, draws)]
    return "red" if "fail" in verdicts else "amber" if "review" in verdicts else "green"


def refit_converged(divergences: int, rhat_max: float) -> bool:
    """A refit (holdout fold, replicate) converged: no divergence and R-hat passing, as the main fit judges it."""
    return divergences == 0 and (math.isnan(rhat_max) or rhat_verdict(round(rhat_max, 2)) == "pass")


GATES = {  # fit.fail_on key: (Diagnostics field, label, format, does a larger value fail?, variable field)
    "divergences": ("divergences", "divergences", "{:,}", True, None),
    "rhat": ("rhat_max", "max R-hat", "{:.3f}", True, "rhat_max_variable"),
    "ess_bulk": ("ess_bulk_min", "min bulk ESS", "{:,.0f}", False, "ess_bulk_min_variable"),
    "bfmi": ("bfmi_min", "min E-BFMI", "{:.2f}", False, None),
}


def gate_failures(diag, fail_on) -> list[str]:
    """The health gates of ``fit.fail_on`` the fit (its ``Diagnostics``) does not pass, each with its value, e.g.
    ``3 divergences > 0``, ``max R-hat 1.031 > 1.01 (y_sigma)``. A value the diagnostics could not compute
    (R-hat of a single chain, E-BFMI without energy) fails its gate."""
    if fail_on is None:
        return []
    fails = []
    for key, (attr, label, fmt, larger_fails, where) in GATES.items():
        limit = getattr(fail_on, key)
        if limit is None:
            continue
        value = getattr(diag, attr)
        bound = f"{limit:,}" if key == "divergences" else f"{limit:,g}" if limit < 1e5 else f"{limit:,.0f}"
        name = f" ({getattr(diag, where)})" if where else ""
        if math.isnan(value):
            fails.append(f"{label} could not be computed (gate {bound})")
        elif key == "divergences" and value > limit:
            fails.append(f"{value:,} divergences > {bound}")
        elif key != "divergences" and ((value > limit) if larger_fails else (value < limit)):
            fails.append(f"{label} {fmt.format(value)} {'>' if larger_fails else '<'} {bound}{name}")
    return fails
