"""Robust fitting on real-world data: a gradient check before sampling, divergences explained after.

``gradient_check`` evaluates the joint log density and its gradient (unconstrained space, jacobian
included, the model's own data) at the initial point and a few prior draws, and names every variable
whose gradient is not finite, with the parameter values there and a likely cause (zero spend under a
power-based saturation). ``divergence_report`` ranks the scalar parameters by how far the divergent
draws sit from the others and suggests what to change.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pytensor.tensor as pt
from pymc.initial_point import make_initial_point_fn

from mmmhelpers.model import MMM
from mmmhelpers.registry import joined_over_kinds, kinds_used
from mmmhelpers.transforms import NUMPY_MODE

__all__ = [
    "GradientProblem",
    "GradientReport",
    "GradientCheckError",
    "gradient_check",
    "raise_if_bad",
    "Hotspot",
    "DivergenceReport",
    "divergence_report",
    "rank_parameters",
    "diverging_mask",
    "scalar_parameters",
]


def scalar_parameters(idata: az.InferenceData) -> list[str]:
    """Free parameters and small deterministics worth diagnosing (no per-date quantities; not a media parameter
    joined over channels of different types, whose placeholders are constant: its ``<name>_<type>`` parts are)."""
    post = idata["posterior"]
    joined = joined_over_kinds(map(str, post.data_vars))
    names = []
    for name, da in post.data_vars.items():
        if "date" in da.dims or str(name).endswith(("_original_scale", "_hsgp_coefs", "_hsgp_coefs_slow", "__")) or \
                name in joined:
            continue
        names.append(str(name))
    return names


# Saturations built on x**p: the derivative in x is infinite at x = 0 when p < 1 (name of p).
POWER_SATURATIONS = {"hill": "slope"}
DEFAULT_TARGET_ACCEPT = 0.9  # FitSpec's default
TARGET_ACCEPT_STEPS = (0.8, 0.9, 0.95, 0.99)
SCALE_SUFFIXES = ("_sigma", "_std", "_b")
MAX_LISTED = 12  # problems listed in an error message
MIN_SCORE = 0.5  # a hotspot's divergent draws sit at least this many sds from the others (and 3 standard errors)


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
    fn = model.compile_fn([*terms, *grads, *constrained], inputs=model.value_vars, mode=NUMPY_MODE,
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
    index: list[int | slice] = []
    shared = {}
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
    best: tuple[int, int, dict[str, Any], int] = (0, 0, {}, 0)  # length, start, cell, zero weeks in that cell
    for cell in cells:
        if all(cell[d] == coords[d] for d in cell if d in coords):
            every_week: tuple[slice | int, ...] = (slice(None), *(data.panel[d].index(cell[d]) for d in data.panel))
            x = X[every_week]
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
    kind = next((k for k in kinds_used(mmm.spec.saturation.kinds(mmm.data.channels)) if k in POWER_SATURATIONS),
                mmm.spec.saturation.type)
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


# ------------------------------------------------------------------------------ divergences explained


@dataclass(frozen=True)
class Hotspot:
    """One scalar parameter element and where the divergent draws sit compared with the others."""

    parameter: str  # e.g. "saturation_slope[x2]"
    variable: str
    coords: tuple[tuple[str, Any], ...]
    divergent_mean: float
    other_mean: float
    score: float  # |mean_div - mean_other| / sd_all (log scale for positive parameters)

    def draws(self, idata: az.InferenceData) -> np.ndarray:
        """This element's posterior draws, flattened in (chain, draw) order like ``diverging``."""
        da = idata["posterior"][self.variable].sel(dict(self.coords))
        return da.transpose("chain", "draw").values.ravel()

    def text(self) -> str:
        return f"divergences sit at {self.parameter} ≈ {self.divergent_mean:.3g} (others: {self.other_mean:.3g})"

    def to_dict(self) -> dict:
        return {"parameter": self.parameter, "divergent_mean": round(self.divergent_mean, 6),
                "other_mean": round(self.other_mean, 6), "score": round(self.score, 4)}


@dataclass(frozen=True)
class DivergenceReport:
    """Share of divergent draws, the parameters they concentrate on, and what to try."""

    share: float
    count: int
    draws: int
    threshold: float
    hotspots: tuple[Hotspot, ...]
    suggestion: str

    def to_dict(self) -> dict:
        """Keys for diagnostics.json."""
        return {"divergence_share": round(self.share, 6),
                "divergence_hotspots": [h.to_dict() for h in self.hotspots],
                "divergence_suggestion": self.suggestion}

    def summary(self) -> str:
        """One line for a CLI warning or report banner."""
        if self.count == 0:
            return f"no divergences ({self.draws} draws)"
        head = f"{self.count} divergences ({self.share:.1%} of {self.draws} draws)"
        if self.share <= self.threshold:
            return f"{head}, below the {self.threshold:.1%} threshold"
        where = self.hotspots[0].text() if self.hotspots else "not concentrated on any one parameter"
        return f"{head}: {where}; {self.suggestion}"


def diverging_mask(idata: az.InferenceData) -> np.ndarray:
    """Divergent-draw mask, flattened in (chain, draw) order (all False when not recorded)."""
    n = idata["posterior"].sizes["chain"] * idata["posterior"].sizes["draw"]
    if "sample_stats" not in idata.groups() or "diverging" not in idata["sample_stats"]:
        return np.zeros(n, dtype=bool)
    return idata["sample_stats"]["diverging"].transpose("chain", "draw").values.ravel().astype(bool)


def _score(x: np.ndarray, div: np.ndarray) -> tuple[float, float, float]:
    """``(divergent mean, other mean, score)`` of one parameter's draws."""
    if not div.any() or div.all():
        return float("nan"), float(x.mean()), 0.0
    z = np.log(x) if np.all(x > 0) else x
    sd = z.std()
    score = abs(z[div].mean() - z[~div].mean()) / sd if sd > 0 else 0.0
    return float(x[div].mean()), float(x[~div].mean()), float(score)


def _plain(value: Any) -> Any:
    """A coordinate value as a plain Python object (numpy scalars have ``item``, object arrays hold str)."""
    return value.item() if hasattr(value, "item") else value


def rank_parameters(idata: az.InferenceData) -> list[Hotspot]:
    """Every scalar element of ``scalar_parameters``, most implicated in divergences first."""
    div = diverging_mask(idata)
    ranked = []
    for name in scalar_parameters(idata):
        da = idata["posterior"][name].transpose("chain", "draw", ...)
        other_dims = da.dims[2:]
        values = da.values.reshape(div.size, -1)
        for k, index in enumerate(np.ndindex(*da.shape[2:])):
            coords = tuple((str(d), _plain(da[d].values[i])) for d, i in zip(other_dims, index))
            label = name + (f"[{', '.join(str(v) for _, v in coords)}]" if coords else "")
            ranked.append(Hotspot(label, name, coords, *_score(values[:, k], div)))
    return sorted(ranked, key=lambda h: -h.score)


def _scale_of(name: str, posterior_names: set[str]) -> str | None:
    """The parent of a hierarchical scale parameter (``gamma_fourier`` of ``gamma_fourier_b``), else None."""
    for suffix in SCALE_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in posterior_names:
            return name[: -len(suffix)]
    return None


def _suggestion(hotspots: tuple[Hotspot, ...], idata: az.InferenceData, target_accept: float) -> str:
    """Plain-words advice: non-centred scales, a tighter prior, a higher target_accept."""
    names = set(map(str, idata["posterior"].data_vars))
    advice = []
    for h in hotspots:
        parent = _scale_of(h.variable, names)
        if parent and any(n.startswith(f"{parent}_") and n.endswith("offset") for n in names):
            advice.append(f"tighten the prior of {h.variable} ({parent} is already non-centred)")
        elif parent:
            advice.append(f"reparameterize {parent} non-centred (`centered: false` in its prior; its scale "
                          f"{h.variable} is where divergences sit)")
    plain = [h for h in hotspots if not _scale_of(h.variable, names)]
    if plain:
        h = plain[0]
        side = "above" if h.divergent_mean > h.other_mean else "below"
        advice.append(f"tighten the prior of {h.variable} (divergent draws sit {side} the others: "
                      f"{h.divergent_mean:.3g} vs {h.other_mean:.3g})")
    advice.append(target_accept_advice(target_accept))
    return "; ".join(advice)


def target_accept_advice(target_accept: float) -> str:
    """The next step up for ``fit.target_accept``, or to reparameterize once it is at the top."""
    higher = [s for s in TARGET_ACCEPT_STEPS if s > target_accept + 1e-9]
    return (f"raise fit.target_accept from {target_accept:g} to {higher[0]:g}" if higher
            else f"fit.target_accept is already {target_accept:g}: reparameterize rather than raise it")


def divergence_report(idata: az.InferenceData, threshold: float = 0.005, top: int = 3,
                      target_accept: float | None = None) -> DivergenceReport:
    """Divergences explained: when more than ``threshold`` of draws diverge, the ``top`` parameter
    elements where they concentrate and a suggestion (``target_accept``: the value used, FitSpec's
    default when None)."""
    div = diverging_mask(idata)
    count, share = int(div.sum()), float(div.mean()) if div.size else 0.0
    hotspots: tuple[Hotspot, ...] = ()
    suggestion = ""
    if count and share > threshold:
        floor = max(MIN_SCORE, 3 * np.sqrt(1 / count + 1 / max(div.size - count, 1)))  # beyond noise
        hotspots = tuple(h for h in rank_parameters(idata)[:top] if h.score >= floor)
        suggestion = _suggestion(hotspots, idata, DEFAULT_TARGET_ACCEPT if target_accept is None else target_accept)
    return DivergenceReport(share, count, int(div.size), threshold, hotspots, suggestion)

