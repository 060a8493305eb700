"""Published vs this report (``report.published``): each published number's source resolved in this run (a posterior
quantity, a data value, a diagnostic, a plan's number), beside the published value with the relative difference, the
z-score and a verdict that asks more than "inside a wide 94% interval"."""

from __future__ import annotations

from typing import NamedTuple

import arviz as az
import numpy as np
import pandas as pd

from mmmhelpers.artifacts import Allocation, cell_spend
from mmmhelpers.config import Params
from mmmhelpers.formatting import plain_number
from mmmhelpers.intervals import HDI_PROB

__all__ = ["Resolved", "resolve_source", "verdict", "published_table"]


def _select(da, coords: str):
    """``da`` at the comma-separated coordinates of ``name[a, b]`` (in the order of its non-sample dims)."""
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    keys = [c.strip() for c in coords.rstrip("]").split(",")] if coords else []
    if len(keys) != len(dims):
        raise KeyError(f"give {len(dims)} coordinate(s) ({', '.join(dims) or 'none'}), got {keys}")
    return da.sel(dict(zip(dims, keys)))


class Resolved(NamedTuple):
    """This report's value for a published number: the value, and for posterior quantities its 94% HDI and sd."""

    value: float
    low: float = np.nan
    high: float = np.nan
    sd: float = np.nan


def resolve_source(source: str, idata, alloc: Allocation | None = None, diag=None) -> Resolved:
    """This report's value for a ``report.published`` source (see docs/params.md); the HDI (94%) and the
    posterior sd only for posterior quantities, NaN otherwise."""
    kind, _, rest = source.partition(":")
    name, _, coords = rest.partition("[")
    if kind == "posterior":
        da = _select(idata.posterior[name], coords)
        low, high = az.hdi(da, hdi_prob=HDI_PROB)[name].values
        return Resolved(float(da.mean()), float(low), float(high), float(da.std()))
    if kind == "data":
        return Resolved(float(_select(idata.constant_data[name], coords)))
    if kind == "diagnostics":
        if diag is None or not hasattr(diag, rest):
            raise KeyError(f"{source}: no such diagnostics field")
        return Resolved(float(getattr(diag, rest)))
    return Resolved(_plan_value(kind, rest, alloc))


def _plan_value(kind: str, rest: str, alloc: Allocation | None) -> float:
    if alloc is None:
        raise KeyError(f"{kind}: this run has no allocation")
    alts = {a.name: a for a in alloc.alternatives}
    if kind == "allocation":
        return cell_spend(alloc.allocation, alloc.cells, rest)
    if kind == "alternative":
        name, _, cell = rest.rpartition(":")
        return cell_spend(alts[name].allocation, alloc.cells, cell)
    if kind == "target_budget" and alloc.target is not None:
        return alloc.target.budget_per_period
    if kind == "response":
        plans = {"optimal": alloc.response, "historical": alloc.initial.response,
                 "equal": alloc.equal.response if alloc.equal else None} | {a: v.response for a, v in alts.items()}
        plan = plans[rest]
        if plan is None:
            raise KeyError(f"{kind}:{rest}: this run has no such plan")
        return plan.mean
    if kind == "multi_objective" and alloc.multi_objective is not None:
        mo = alloc.multi_objective
        if rest == "binds":
            if mo.constrained is None:
                raise KeyError(f"{kind}:{rest}: this run has no constrained plan")
            return float(mo.constrained.binds)
        which, _, target = rest.rstrip("]").partition("[")
        return mo.response(f"best[{target}]" if which == "best" else which, target)
    raise KeyError(f"unknown source {kind}:{rest}")


def verdict(published: float, ours: float, low: float, high: float, tolerance: float) -> str:
    """Does this report agree with the published number? Within ``tolerance`` (relative; 0: exactly equal) it
    agrees; a posterior quantity further off is "inside our 94% HDI, but ... off" (a wide interval is not
    agreement) or "outside our 94% HDI"."""
    if np.isnan(ours):
        return "not found"
    exact = tolerance == 0 or published == 0
    rel = 0.0 if exact else (ours - published) / abs(published)
    close = ours == published if exact else abs(rel) <= tolerance
    if not np.isnan(low):
        if not low <= published <= high:
            return "outside our 94% HDI"
        return (f"agrees (within {tolerance:.0%}; inside our 94% HDI)" if close else
                f"inside our 94% HDI, but {rel:+.0%} off: not agreement")
    if exact:
        return "same" if close else "differs"
    return f"agrees (within {tolerance:.0%})" if close else f"differs by {rel:+.0%}"


def published_table(params: Params, page: str, idata, alloc: Allocation | None = None, diag=None,
                    variants: dict | None = None) -> pd.DataFrame:
    """``report.published`` numbers of one page ("fit" or "optimize"): the published value beside ours, its
    94% HDI (posterior quantities), the relative difference, the z-score (difference in posterior sds) and a
    verdict. ``variants`` maps a model variant's name to its ``(idata, diagnostics)``, for the numbers compared
    with a variant."""
    rows = []
    for p in (p for p in params.report.published if p.page == page):
        note = p.note
        try:
            if p.variant is not None and p.variant not in (variants or {}):
                raise KeyError(f"model variant {p.variant!r} was not fitted")
            idata_p, diag_p = (variants or {}).get(p.variant, (idata, diag))
            ours, low, high, sd = resolve_source(p.source, idata_p, alloc, diag_p)
        except (KeyError, ValueError) as err:
            ours = low = high = sd = np.nan
            note = f"{note} (not found: {err})".strip()
        hdi = "" if np.isnan(low) else f"{plain_number(low)} to {plain_number(high)}"
        model = {"model": next((v.title for v in params.model_variants if v.name == p.variant), "main model")} \
            if getattr(params, "model_variants", None) else {}
        rows.append({"quantity": p.label, **model, "published": p.value, "this report": ours, "94% HDI": hdi,
                     "relative difference": (ours - p.value) / abs(p.value) if p.value else np.nan,
                     "z-score": (ours - p.value) / sd if sd > 0 else np.nan,
                     "verdict": verdict(p.value, ours, low, high, p.tolerance), "note": note})
    return pd.DataFrame(rows)
