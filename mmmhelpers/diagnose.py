"""Robust fitting on real-world data: a gradient check before sampling, divergences explained after.

``gradient_check`` evaluates the joint log density and its gradient (unconstrained space, jacobian
included, the model's own data) at the initial point and a few prior draws, and names every variable
whose gradient is not finite, with the parameter values there and a likely cause (zero spend under a
power-based saturation).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pymc.initial_point import make_initial_point_fn
from pytensor.compile.mode import Mode

from mmmhelpers.model import MMM

__all__ = [
    "GradientProblem",
    "GradientReport",
    "GradientCheckError",
    "gradient_check",
    "raise_if_bad",
]

# Saturations built on x**p: the derivative in x is infinite at x = 0 when p < 1 (name of p).
POWER_SATURATIONS = {"hill": "slope"}
# Full graph rewrites (stabilization as when sampling) on numpy's IEEE arithmetic: no C compilation,
# and no fused Composite ops, whose Python fallback raises on 0.0 ** negative instead of giving inf.
CHECK_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion")
MAX_LISTED = 12  # problems listed in an error message


# ----------------------------------------------------------------------------------- gradient check


@dataclass(frozen=True)
class GradientProblem:
    """A non-finite logp term or gradient element, where it happened and a likely cause."""

    kind: str  # "gradient" | "logp" | "error"
    variable: str  # model variable (or logp term) name, not the transformed value name
    element: str  # coordinate label, e.g. "x3" or "geo_a, x3"; "" for scalars
    value: float  # the non-finite value (nan, inf, -inf)
    where: tuple[str, ...]  # points where it happened, e.g. ("prior draw 2",)
    at: str  # constrained parameter values that matter, e.g. "saturation_slope=0.7 (x3)"
    cause: str

    @property
    def name(self) -> str:
        return f"{self.variable}[{self.element}]" if self.element else self.variable

    def __str__(self) -> str:
        what = {"gradient": "non-finite gradient of", "logp": "non-finite logp term"}.get(self.kind, "error evaluating")
        more = len(self.where) - 1
        where = self.where[0] + (f" (and {more} more point{'s' if more > 1 else ''})" if more else "")
        at = f", where {self.at}" if self.at else ""
        return f"{what} {self.name} ({self.value:g}) at {where}{at}: {self.cause}"


@dataclass(frozen=True)
class GradientReport:
    """Outcome of ``gradient_check``: how many points were evaluated and what was not finite."""

    points_checked: int
    problems: tuple[GradientProblem, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """Multi-line text: a header, one line per problem (the first ``MAX_LISTED``)."""
        if self.ok:
            return f"gradient check: logp and gradient finite at {self.points_checked} points ({self.seconds:.1f} s)"
        lines = [f"gradient check: {len(self.problems)} problem(s) at {self.points_checked} points checked "
                 "(initial point and prior draws; sampling would diverge or stall):"]
        lines += [f"  - {p}" for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED} more")
        return "\n".join(lines)


class GradientCheckError(ValueError):
    """The model's logp or gradient is not finite somewhere it will be evaluated when sampling."""


def raise_if_bad(report: GradientReport) -> None:
    """Raise ``GradientCheckError`` with the report's message when it found problems."""
    if not report.ok:
        raise GradientCheckError(report.message())


def _check_function(model):
    """Compile once: logp term sums, the gradient per value variable, the constrained free variables."""
    rvs = [*model.free_RVs, *model.observed_RVs, *model.potentials]
    terms = [pt.sum(t) for t in model.logp(vars=rvs, jacobian=True, sum=False)]
    grads = pt.grad(pt.add(*terms) if len(terms) > 1 else terms[0], model.value_vars)
    constrained = model.replace_rvs_by_values(model.free_RVs)
    fn = model.compile_fn([*terms, *grads, *constrained], inputs=model.value_vars, mode=CHECK_MODE,
                          on_unused_input="ignore")
    return fn, [v.name for v in rvs]


def _points(model, n_prior_draws: int, seed: int) -> list[tuple[str, dict]]:
    """The initial point (as the sampler starts) and ``n_prior_draws`` prior draws, transformed space."""
    points = [("initial point", model.initial_point(random_seed=seed))]
    if n_prior_draws:
        prior = make_initial_point_fn(model=model, default_strategy="prior", return_transformed=True)
        points += [(f"prior draw {k + 1}", prior(seed + k)) for k in range(n_prior_draws)]
    return points


def _coords(model, name: str, index: tuple[int, ...], shape: tuple[int, ...]) -> dict[str, Any]:
    """``{dim: label}`` of element ``index`` of variable ``name`` (positional labels when dims are unknown)."""
    dims = model.named_vars_to_dims.get(name) or ()
    if len(dims) == len(shape) and all(d in model.coords and len(model.coords[d]) == n for d, n in zip(dims, shape)):
        return {d: model.coords[d][i] for d, i in zip(dims, index)}
    return {f"axis{k}": i for k, i in enumerate(index)}


def _label(coords: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in coords.values())


def _select(model, values: dict[str, np.ndarray], name: str, coords: dict[str, Any]) -> tuple[np.ndarray, dict]:
    """Constrained values of ``name`` at the coordinates it shares with ``coords``, and those coordinates."""
    arr = np.asarray(values[name])
    dims = model.named_vars_to_dims.get(name) or ()
    index, shared = [], {}
    for d in dims if len(dims) == arr.ndim else ():
        if d in coords and coords[d] in model.coords.get(d, ()):
            index.append(list(model.coords[d]).index(coords[d]))
            shared[d] = coords[d]
        else:
            index.append(slice(None))
    return (arr[tuple(index)] if index else arr), shared


def _value_at(model, values: dict[str, np.ndarray], name: str, coords: dict[str, Any]) -> str:
    """``name=value (label)`` of a constrained variable at the coordinates it shares with ``coords``."""
    sub, shared = _select(model, values, name, coords)
    if sub.size == 1:
        text = f"{float(sub):.3g}"
    elif sub.size <= 4:
        text = "[" + ", ".join(f"{v:.3g}" for v in sub.ravel()) + "]"
    else:
        text = f"{sub.min():.3g}..{sub.max():.3g}"
    return f"{name}={text}" + (f" ({_label(shared)})" if shared else "")


def _longest_zero_run(x: np.ndarray) -> tuple[int, int]:
    """``(start, length)`` of the longest run of zeros in ``x`` (length 0 when none)."""
    edges = np.diff(np.concatenate([[0], (x == 0).astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not starts.size:
        return 0, 0
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


def _zero_spend(mmm: MMM, channel: str, coords: dict[str, Any]) -> str | None:
    """'zero spend in channel c (cell) for n weeks (first to last)': the longest zero run, or None."""
    data = mmm.data
    X = data.X[..., data.channels.index(channel)]
    cells = [dict(zip(data.panel, combo)) for combo in itertools.product(*data.panel.values())]
    best = (0, 0, {}, 0)  # length, start, cell, zero weeks in that cell
    for cell in cells:
        if all(cell[d] == coords[d] for d in cell if d in coords):
            x = X[(slice(None), *(data.panel[d].index(cell[d]) for d in data.panel))]
            start, length = _longest_zero_run(x)
            best = max(best, (length, start, cell, int((x == 0).sum())), key=lambda r: r[0])
    length, start, cell, total = best
    if length == 0:
        return None
    first, last = data.dates[start].date(), data.dates[start + length - 1].date()
    where = f"channel {channel}" + (f" ({_label(cell)})" if cell else "")
    more = f"; {total} zero weeks in all" if total > length else ""
    return f"zero spend in {where} for {length} weeks ({first} to {last}{more})"


def _cause(mmm: MMM, values: dict[str, np.ndarray], coords: dict[str, Any]) -> tuple[str, list[str]]:
    """A likely cause of a non-finite gradient at ``coords`` and the variables whose values explain it."""
    kind = mmm.spec.saturation.type
    power = POWER_SATURATIONS.get(kind)
    slope = f"saturation_{power}"
    if power and slope in values:
        channels = [coords["channel"]] if "channel" in coords else list(mmm.data.channels)
        zeros = [z for ch in channels if (z := _zero_spend(mmm, ch, coords))]
        small = np.min(_select(mmm.model, values, slope, coords)[0]) < 1  # p < 1: x**p's derivative is infinite at 0
        if zeros and small:
            return (f"{'; '.join(zeros)}; {kind} saturation x**{power} has an infinite derivative at zero "
                    f"(adstocked) spend when {power} < 1", [slope])
    return ("a term of the model has an undefined derivative here (sqrt, power, log or division at 0?)", [])


def _problems_at(mmm: MMM, where: str, point: dict, out: list, term_names: list[str]) -> list[GradientProblem]:
    """Every non-finite logp term and gradient element at one evaluated point."""
    model = mmm.model
    n_t, n_v = len(term_names), len(model.value_vars)
    terms, grads, cons = out[:n_t], out[n_t:n_t + n_v], out[n_t + n_v:]
    values = {rv.name: np.asarray(c) for rv, c in zip(model.free_RVs, cons)}
    found = [GradientProblem("logp", name, "", float(t), (where,), "", "this log density is not finite here")
             for name, t in zip(term_names, terms) if not np.isfinite(t)]
    for value_var, g in zip(model.value_vars, grads):
        name = model.values_to_rvs[value_var].name
        g = np.asarray(g)
        for index in np.argwhere(~np.isfinite(g)):
            coords = _coords(model, name, tuple(index), g.shape)
            cause, explain = _cause(mmm, values, coords)
            at = ", ".join(_value_at(model, values, n, coords) for n in dict.fromkeys([*explain, name]))
            found.append(GradientProblem("gradient", name, _label(coords), float(g[tuple(index)]), (where,), at, cause))
    return found


def _merge(problems: list[GradientProblem]) -> tuple[GradientProblem, ...]:
    """One problem per (kind, variable, element): the first occurrence, with every point it occurred at."""
    merged: dict[tuple, GradientProblem] = {}
    for p in problems:
        key = (p.kind, p.variable, p.element)
        if key in merged:
            q = merged[key]
            merged[key] = GradientProblem(q.kind, q.variable, q.element, q.value, q.where + p.where, q.at, q.cause)
        else:
            merged[key] = p
    return tuple(merged.values())


def gradient_check(mmm: MMM, n_prior_draws: int = 3, seed: int = 0) -> GradientReport:
    """Evaluate logp and its gradient at the initial point and ``n_prior_draws`` prior draws.

    Compiles one function (no C compilation; seconds) on the model's own data. Problems name the
    model variable and element, the constrained values there and a likely cause.
    """
    t0 = time.perf_counter()
    model = mmm.model
    fn, term_names = _check_function(model)
    found: list[GradientProblem] = []
    points = _points(model, n_prior_draws, seed)
    for where, point in points:
        try:
            with np.errstate(all="ignore"):
                out = fn(point)
        except Exception as err:  # e.g. a Python fallback raising on 0.0 ** -0.5
            found.append(GradientProblem("error", "logp", "", float("nan"), (where,), "", f"{type(err).__name__}: {err}"))
            continue
        found += _problems_at(mmm, where, point, out, term_names)
    return GradientReport(len(points), _merge(found), time.perf_counter() - t0)
