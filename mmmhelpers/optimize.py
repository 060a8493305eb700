"""Budget allocation over posterior draws: scipy SLSQP with exact pytensor gradients.

The response side (window, history, tail, incremental response per draw) is ``mmmhelpers.response``;
the linear rules (budget, bounds, shares, ratios, observed-range caps) are ``mmmhelpers.constraints``.
This module chooses the objective over draws (mean, VaR, CVaR, mean - k sd, each with its exact
gradient), solves, finds the budget that reaches a target, and assembles ``allocation.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize, nnls

from mmmhelpers.artifacts import (
    Allocation,
    AlternativeResult,
    Baseline,
    Gain,
    PlanCell,
    PlanComparison,
    Response,
    Scenario,
    TargetResult,
    WindowInfo,
)
from mmmhelpers.calibration import calibrated_channels
from mmmhelpers.config import ObjectiveSpec, OptimizationSpec, Params
from mmmhelpers.constraints import InfeasibleError, LinearProblem, build_problem, cell_labels, check_feasible
from mmmhelpers.data import MMMData, read_plan
from mmmhelpers.intervals import hdi
from mmmhelpers.response import (
    PlanResponse,
    ResponseModel,
    draw_subset,
    media_per_spend,
    posterior_media,
    response_model,
)
from mmmhelpers.seeds import seed_for

__all__ = ["Plan", "InfeasibleError", "ResponseConstraint", "objective_value", "optimize_budget", "allocation_records",
           "allocate", "hdi94", "paired_gain", "plan_problem", "plan_problems", "problem_for", "target_budget", "posterior_media",
           "response_model", "history_split", "equal_split", "plan_spend", "response_over_time", "cross_fit_plans",
           "held_channels", "best_plan", "held_out_gain"]


FTOL = 1e-10  # on the objective relative to the starting split's: 1e-12 sits at float noise and only adds steps


def hdi94(samples: np.ndarray) -> list[float]:
    """94% HDI of a 1-D sample (``intervals.hdi``)."""
    return hdi(samples)


def objective_value(r: np.ndarray, spec: ObjectiveSpec | None = None) -> tuple[float, np.ndarray]:
    """The objective over draws ``r`` and its gradient with respect to each draw (weights summing the jacobian).

    ``mean``; ``var``: the ``alpha`` quantile (linear interpolation, as ``np.quantile``); ``cvar``: the mean
    of the ``ceil(alpha * n)`` lowest draws; ``mean_minus_sd``: mean - k * sd (population sd).
    """
    spec = spec or ObjectiveSpec()
    r = np.asarray(r, dtype=float)
    n = len(r)
    w = np.zeros(n)
    if spec.type == "mean":
        return float(r.mean()), np.full(n, 1.0 / n)
    if spec.type == "mean_minus_sd":
        m, sd = r.mean(), r.std()
        dsd = (r - m) / (n * sd) if sd > 0 else np.zeros(n)
        return float(m - spec.k * sd), 1.0 / n - spec.k * dsd
    order = np.argsort(r, kind="stable")
    if spec.type == "var":
        h = spec.alpha * (n - 1)
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        frac = h - lo
        w[order[lo]] += 1 - frac
        w[order[hi]] += frac
        return float(w @ r), w
    k = max(1, int(np.ceil(spec.alpha * n)))  # cvar
    w[order[:k]] = 1.0 / k
    return float(w @ r), w


def objective_name(opt: OptimizationSpec) -> str:
    o = opt.objective
    what = {"mean": "mean", "var": f"var_{o.alpha:g}", "cvar": f"cvar_{o.alpha:g}",
            "mean_minus_sd": f"mean_minus_{o.k:g}sd"}[o.type]
    return f"{what}_response_in_{opt.objective_window}"


@dataclass
class Plan:
    """An optimized plan: spend per period and cell (``spend``: period × cell), its objective, its draws."""

    spend: np.ndarray  # (num_periods, *panel, channel)
    value: float
    draws: np.ndarray  # objective-window response per draw
    success: bool
    message: str

    @property
    def per_period(self) -> np.ndarray:
        """Average spend per period of each cell."""
        return self.spend.mean(axis=0)


@dataclass(frozen=True)
class ResponseConstraint:
    """The mean over draws of ``rm.draws(plan)`` is at least (``at_least``) or equal to (``equal_to``) ``value``.

    ``rm``: anything with ``value_and_jac(plan)``, ``num_periods`` and ``shape`` over the same plans as the
    optimized model (e.g. one target of a :class:`mmmhelpers.multi_objective.JointResponse`).
    """

    rm: Any
    kind: Literal["at_least", "equal_to"]
    value: float
    name: str = ""

    def __post_init__(self):
        if self.kind not in ("at_least", "equal_to"):
            raise ValueError(f"ResponseConstraint.kind: {self.kind!r} is not 'at_least' or 'equal_to'")

    @property
    def label(self) -> str:
        return f"{self.name or 'response'} {'≥' if self.kind == 'at_least' else '='} {self.value:,.6g}"

    def violation(self, mean: float) -> float:
        """How far a mean response is off, relative to ``max(1, |value|)`` (0 when it holds)."""
        gap = float(mean) - self.value
        return (max(-gap, 0.0) if self.kind == "at_least" else abs(gap)) / max(1.0, abs(self.value))

    def scipy(self, spend_of: Callable, M: np.ndarray, scale: float) -> dict:
        """The SLSQP constraint on the scaled free variables ``u`` (``spend_of(u)``: the plan), exact jacobian
        by the chain rule, divided by ``max(|value|, 1e-9)``; ``fun`` and ``jac`` share one evaluation per ``u``."""
        norm = max(abs(self.value), 1e-9)
        memo: dict = {}

        def evaluate(u):
            key = u.tobytes()
            if key not in memo:
                r, jac = self.rm.value_and_jac(spend_of(u))
                memo.clear()
                memo[key] = ((r.mean() - self.value) / norm, jac.reshape(len(r), -1).mean(0) @ M * scale / norm)
            return memo[key]

        return {"type": "eq" if self.kind == "equal_to" else "ineq", "fun": lambda u: evaluate(u)[0],
                "jac": lambda u: evaluate(u)[1]}


def _violation(p: LinearProblem, v: np.ndarray) -> float:
    eq = np.abs(p.A_eq @ v - p.b_eq).max(initial=0.0)
    ub = np.maximum(p.A_ub @ v - p.b_ub, 0).max(initial=0.0)
    box = max(np.maximum(p.lo - v, 0).max(initial=0.0), np.maximum(v - p.hi, 0).max(initial=0.0))
    return float(max(eq, ub, box))


def _stationary(u: np.ndarray, grad: np.ndarray, cons: list[dict], lo: np.ndarray, hi: np.ndarray,
                tol: float = 1e-6) -> bool:
    """Whether ``u`` is a KKT point of minimizing a function with gradient ``grad`` subject to ``cons`` (scipy
    dicts: ``fun(u) = 0`` or ``>= 0``) and ``lo <= u <= hi``: ``grad`` is a nonnegative combination of the
    active constraints' gradients (equalities either sign), to ``tol`` relative (activity: within ``tol``)."""
    cols = []
    for d in cons:
        if "jac" not in d:
            return False
        g = np.asarray(d["jac"](u), float)
        if d["type"] == "eq":
            cols += [g, -g]
        elif d["fun"](u) <= tol:
            cols.append(g)
    eye = np.eye(len(u))
    cols += [eye[k] for k in np.flatnonzero(u - lo <= tol)] + [-eye[k] for k in np.flatnonzero(hi - u <= tol)]
    resid = nnls(np.array(cols).T, grad)[1] if cols else float(np.linalg.norm(grad))
    return bool(resid <= tol * max(float(np.linalg.norm(grad)), 1e-12))


def optimize_budget(rm: PlanResponse, problem: LinearProblem, objective: ObjectiveSpec | None = None,
                    x0: np.ndarray | None = None,
                    extra_constraints: list[dict] | None = None,
                    response_constraints: list[ResponseConstraint] | None = None, even_start: bool = True) -> Plan:
    """Maximize the objective over draws subject to ``problem`` (checked feasible first).

    ``x0``: a start (spend per period and cell, rescaled to the budget); the even split is tried too
    (unless ``even_start`` is False and ``x0`` is given, e.g. a warm start along a sweep) and the best
    feasible optimum kept. ``extra_constraints``: scipy-style dicts on the variables (library users'
    callables). ``response_constraints``: mean responses held at or above a value (exact gradients).
    Linear constraints hold to 1e-6 of the budget and response constraints to 1e-6 of ``max(1, |value|)``,
    or the plan is marked unsuccessful.
    """
    budget = problem.budget
    check_feasible(problem, budget)
    scale = max(budget, 1e-12)
    lo, hi = problem.lo, np.where(np.isfinite(problem.hi), problem.hi, budget * problem.M.shape[0])
    free = hi - lo > 1e-12 * scale  # variables pinned by their bounds are left out of the search
    fixed = np.where(free, 0.0, lo)
    M = problem.M[:, free]
    A_eq, A_ub = problem.A_eq[:, free] * scale, problem.A_ub[:, free] * scale
    b_eq, b_ub = problem.b_eq - problem.A_eq @ fixed, problem.b_ub - problem.A_ub @ fixed

    def full(u):
        v = fixed.copy()
        v[free] = u * scale
        return v

    ref = [1.0]

    def f(u):
        r, jac = rm.value_and_jac((problem.M @ full(u)).reshape(rm.num_periods, *rm.shape))
        val, w = objective_value(r, objective)
        grad = np.einsum("s,sk->k", w, jac.reshape(len(r), -1)) @ M * scale
        return -val / ref[0], -grad / ref[0]

    cons = _linear_constraints(A_eq, b_eq, A_ub, b_ub) + list(extra_constraints or [])
    rcs = _same_plan_shape(rm, list(response_constraints or []))
    cons += [rc.scipy(lambda u: (problem.M @ full(u)).reshape(rm.num_periods, *rm.shape), M, scale) for rc in rcs]

    starts = [np.clip(s, lo, hi)[free] / scale for s in _starts(problem, x0, even_start)]
    ref[0] = max(abs(f(starts[-1])[0]), 1e-9)
    best: list[tuple[Any, np.ndarray, float, bool, str]] = []  # (result, v, violation, ok, why), the best last
    for u0 in starts:
        res = minimize(f, u0, jac=True, method="SLSQP", bounds=list(zip(lo[free] / scale, hi[free] / scale)),
                       constraints=cons, options={"maxiter": 500, "ftol": FTOL})
        if rcs and not res.success:  # SLSQP may stall at an optimum whose response constraint holds to ~1e-9
            res.success = _stationary(res.x, f(res.x)[1], cons, lo[free] / scale, hi[free] / scale)  # (not 1e-10)
            res.message = f"{res.message}; {'a' if res.success else 'not a'} KKT point"
        v = _snap(np.clip(full(res.x), lo, hi), lo, hi, 1e-9 * scale)
        bad = _violation(problem, v)
        off, why = _response_off(rcs, (problem.M @ v).reshape(rm.num_periods, *rm.shape)) if rcs else (0.0, "")
        ok = bad <= 1e-6 * scale and off <= 1e-6
        if not best or (ok and (not best[-1][3] or res.fun < best[-1][0].fun)):
            best.append((res, v, bad, ok, why))
    res, v, bad, ok, why = best[-1]
    spend = (problem.M @ v).reshape(rm.num_periods, *rm.shape)
    draws = rm.draws(spend)
    message = str(res.message) if ok else (f"constraint violated by {bad:.3g}" if bad > 1e-6 * scale else why)
    return Plan(spend, objective_value(draws, objective)[0], draws, bool(res.success and ok), message)


def _same_plan_shape(rm: PlanResponse, rcs: list[ResponseConstraint]) -> list[ResponseConstraint]:
    """``rcs``, each checked to plan the same periods and cells as ``rm`` (else a ValueError naming it)."""
    for rc in rcs:
        if (rc.rm.num_periods, tuple(rc.rm.shape)) != (rm.num_periods, tuple(rm.shape)):
            raise ValueError(f"response constraint {rc.label}: its model plans {rc.rm.num_periods} periods of "
                             f"{tuple(rc.rm.shape)} cells, the optimized one {rm.num_periods} of {tuple(rm.shape)}")
    return rcs


def _response_off(rcs: list[ResponseConstraint], spend: np.ndarray) -> tuple[float, str]:
    """The worst response constraint's relative violation at ``spend`` and a message naming it."""
    means = [float(rc.rm.draws(spend).mean()) for rc in rcs]
    off, rc, mean = max(((rc.violation(m), rc, m) for rc, m in zip(rcs, means)), key=lambda t: t[0])
    return off, f"response constraint {rc.label} violated: its mean response is {mean:,.6g}"


def _linear_constraints(A_eq: np.ndarray, b_eq: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray) -> list[dict]:
    """``A_eq u = b_eq`` and ``A_ub u <= b_ub`` as SLSQP's constraint dicts, with their exact Jacobians."""
    cons = [{"type": "eq", "fun": lambda u, i=i: A_eq[i] @ u - b_eq[i], "jac": lambda u, i=i: A_eq[i]}
            for i in range(len(b_eq))]
    return cons + [{"type": "ineq", "fun": lambda u, i=i: b_ub[i] - A_ub[i] @ u, "jac": lambda u, i=i: -A_ub[i]}
                   for i in range(len(b_ub))]


def _starts(problem: LinearProblem, x0: np.ndarray | None, even_start: bool) -> list[np.ndarray]:
    """The optimizer's starting points (spend per variable): ``x0`` rescaled to the budget first, then the even
    split (left out when ``x0`` is given and ``even_start`` is False)."""
    budget = problem.budget
    starts = [np.full(problem.size, budget / max(problem.total.sum(), 1e-12))]
    if x0 is not None and not even_start:
        starts = []
    if x0 is not None:
        x0 = np.asarray(x0, float).ravel()
        start = x0 * budget / max(x0.sum(), 1e-12)
        starts.insert(0, np.tile(start, problem.size // start.size))
    return starts


def _snap(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, tol: float) -> np.ndarray:
    """Spend within ``tol`` of a bound set to the bound: SLSQP leaves e.g. 2.8e-14 where a channel gets nothing, which
    a report would print as 0.0000000000000278."""
    return np.where(np.abs(v - lo) <= tol, lo, np.where(np.abs(hi - v) <= tol, hi, v))


def _section_problem(opt: OptimizationSpec, channels: list[str], panel: dict, observed_max: np.ndarray | None,
                     budget: float, historical: np.ndarray | None = None, held: np.ndarray | None = None
                     ) -> LinearProblem:
    """The linear system of an optimization section at ``budget`` per period (caps unless extrapolation is allowed;
    the trust region around ``historical``; ``held`` cells at their historical level)."""
    return build_problem(channels, panel, budget, opt.weights, bounds=opt.bounds, constraints=opt.constraints,
                         budget_use=opt.budget_use, over_time=opt.optimize_over_time,
                         observed_max=None if opt.allow_extrapolation else observed_max,
                         never_spent=None if observed_max is None else observed_max <= 0,
                         historical=historical, trust_region=opt.trust_region, held=held, held_mode=opt.uninformed)


def plan_problem(opt: OptimizationSpec, rm: PlanResponse, budget: float, held: np.ndarray | None = None
                 ) -> LinearProblem:
    """The linear system of ``opt`` at ``budget`` per period, for the plans of ``rm`` (``held``: cells held at their
    historical level, ``(*panel, channel)`` booleans)."""
    return _section_problem(opt, rm.channels, rm.panel, rm.observed_max, budget, getattr(rm, "historical", None),
                            held)


def problem_for(rm: ResponseModel, budget: float, **rules) -> LinearProblem:
    """A flat-spend linear system for library use: ``rules`` as :func:`constraints.build_problem`'s keywords."""
    return build_problem(rm.channels, rm.panel, budget, [1.0] * rm.num_periods, **rules)


def plan_problems(opt: OptimizationSpec, channels: list[str], panel: dict, observed_max: np.ndarray,
                  historical: np.ndarray | None = None) -> list[str]:
    """Every problem of the optimization section against the data, before anything runs (for ``validate``)."""
    problems = []
    runs = [("optimization", opt, 1.0)] + [(f"optimization.scenarios ({m:g}x)", opt, m) for m in opt.scenarios]
    runs += [(f"optimization.alternatives[{a.name!r}]", opt.alternative(a), 1.0) for a in opt.alternatives]
    for what, spec, m in runs:
        try:
            check_feasible(_section_problem(spec, channels, panel, observed_max, spec.budget * m, historical),
                           spec.budget * m, what)
        except ValueError as err:
            problems.append(str(err))
    return list(dict.fromkeys(problems))


def allocation_records(rm: PlanResponse, x: np.ndarray, cells: np.ndarray | None = None,
                       mroas: np.ndarray | None = None) -> list[PlanCell]:
    """One record per channel (and panel coordinate): spend per period (and for a channel bought in units, its cost
    per unit and the units it buys), and with ``cells`` (draw × cell responses) the response's mean and 94% HDI,
    the ROAS over the plan and (``mroas``: draw × cell) the mROAS."""
    x = np.asarray(x).reshape(rm.shape)
    out = []
    for k, idx in enumerate(np.ndindex(*rm.shape)):
        rec: dict[str, Any] = {"channel": rm.channels[idx[-1]],
                               **{d: rm.panel[d][i] for d, i in zip(rm.panel, idx[:-1])},
                               "spend_per_period": float(f"{float(x[idx]):.10g}")}  # 10 significant digits, any unit
        price = getattr(rm, "unit_price", None)  # (*panel, channel) or None: no channel bought in units
        if price is not None and np.isfinite(price[idx]):  # bought in units: what the spend buys
            rec["cost_per_unit"] = float(f"{float(price[idx]):.10g}")
            rec["units_per_period"] = float(f"{float(x[idx]) / float(price[idx]):.10g}")
        if cells is not None:
            c = cells.reshape(len(cells), -1)[:, k]
            rec["response"] = _response(c)
            spent = float(x[idx]) * rm.num_periods
            rec["roas"] = round(float(c.mean()) / spent, 6) if spent > 1e-6 * max(x.sum(), 1.0) else None
        if mroas is not None:
            rec["mroas"] = round(float(mroas.reshape(len(mroas), -1)[:, k].mean()), 6)
        out.append(PlanCell(**rec))
    return out


def _response(draws: np.ndarray) -> Response:
    return Response(mean=round(float(np.mean(draws)), 4), hdi_94=[round(v, 4) for v in hdi94(draws)])


def paired_gain(plan_draws: np.ndarray, base_draws: np.ndarray) -> Gain:
    """Gain of a plan over a baseline evaluated on the same posterior draws: mean, 94% HDI, P(gain > 0).

    Paired draw by draw: the difference of two wide intervals says nothing, the interval of the difference does.
    """
    diff = np.asarray(plan_draws, float) - np.asarray(base_draws, float)
    return Gain(mean=round(float(diff.mean()), 4), hdi_94=[round(v, 4) for v in hdi94(diff)],
                prob_positive=round(float(np.mean(diff > 0)), 4))


HALVES = 2  # cross-fitting: the draws are split in two; each half chooses a plan, the other scores it


def cross_fit_plans(rm: ResponseModel, problem: LinearProblem, objective: ObjectiveSpec | None, x0: np.ndarray,
                    budget: float, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Plans chosen on one half of the posterior draws, each with the positions of the other half (to score it on).

    The gain of a plan scored on the draws that chose it is optimistic by construction (the optimizer fits the
    draws' noise); scored on the other half, it is not.
    """
    order = np.random.default_rng(seed).permutation(rm.n_draws)
    halves = [np.sort(part) for part in np.array_split(order, HALVES)]
    plans = []
    for k, fit_on in enumerate(halves):
        plan = optimize_budget(draw_subset(rm, fit_on), problem, objective, x0=x0)
        if not plan.success:
            raise RuntimeError(f"optimization: the plan on half {k + 1} of the draws (for the held-out gain) did not "
                               f"converge ({plan.message})")
        plans.append((plan.spend, halves[1 - k]))
    return plans


def held_out_gain(rm: ResponseModel, plans: list[tuple[np.ndarray, np.ndarray]], base: np.ndarray) -> Gain:
    """The paired gain over ``base`` of each half's plan, on the draws that did not choose it (pooled)."""
    base_draws = rm.draws(base)
    diff = np.concatenate([rm.draws(spend)[score] - base_draws[score] for spend, score in plans])
    return paired_gain(diff, np.zeros_like(diff)).model_copy(update={"held_out": True})


def history_split(data: MMMData, budget: float) -> np.ndarray:
    """The historical average split of spend, scaled to ``budget`` per period, ``(*panel, channel)``."""
    history = data.spend.mean(axis=0)
    return history / max(history.sum(), 1e-12) * budget


def equal_split(rm: ResponseModel, budget: float) -> np.ndarray:
    """The budget spread evenly over the cells that spent in the data (a channel dark in a market gets none)."""
    live = rm.observed_max > 0 if rm.observed_max is not None else np.ones(rm.shape, bool)
    return np.where(live, budget / max(int(live.sum()), 1), 0.0)


def solver_status(plan: Plan) -> str:
    """``ok``, or the optimizer's own words when it failed or broke a constraint (shown beside the number)."""
    return "ok" if plan.success else f"FAILED: {plan.message}"


def _mean_response(rm: ResponseModel, opt: OptimizationSpec, budget: float, x0, held=None) -> tuple[float, Plan]:
    plan = optimize_budget(rm, plan_problem(opt, rm, budget, held), opt.objective, x0=x0)
    if not plan.success:  # a step of the target search: a wrong step would move the answer silently
        raise RuntimeError(f"optimization.target: the optimal plan at {budget:,.6g} per period did not converge "
                           f"({plan.message})")
    return float(plan.draws.mean()), plan


def target_budget(rm: ResponseModel, opt: OptimizationSpec, x0: np.ndarray | None = None,
                  solve: Callable | None = None, rel_tol: float = 1e-4, held: np.ndarray | None = None
                  ) -> tuple[float, Plan, float]:
    """The budget per period that reaches ``opt.target`` with its optimal plan, by bisection.

    ``response``: the least budget whose optimal plan's mean response reaches the value. ``roas`` /
    ``mroas``: the largest budget whose optimal plan keeps the ROAS (mean response per unit of spend over
    the window) or the marginal ROAS at or above the value (decreasing returns assumed above it).
    ``cost_per_kpi``: the largest budget whose plan's spend per unit of response stays at or below the value.
    Returns ``(budget, plan, achieved value)``; raises :class:`InfeasibleError` when no budget reaches it.
    """
    if opt.target is None:
        raise ValueError("target_budget: the optimization section has no target")
    solve = solve or (lambda b, start: _mean_response(rm, opt, b, start, held))
    if opt.target.type == "cost_per_kpi":  # at most c per unit of the target = a ROAS of at least 1 / c
        roas = opt.model_copy(update={"target": opt.target.model_copy(update={"type": "roas",
                                                                              "value": 1.0 / opt.target.value})})
        b, plan, achieved = target_budget(rm, roas, x0, solve, rel_tol, held)
        return b, plan, 1.0 / achieved
    t, T = opt.target, rm.num_periods
    cap = opt.budget * 1000.0
    box = plan_problem(opt.model_copy(update={"trust_region": None}), rm, opt.budget)  # it scales with the budget
    hi_b = min(float(box.total @ np.where(np.isfinite(box.hi), box.hi, cap)), cap)

    def metric(b):
        r, plan = solve(b, x0 if x0 is not None else None)
        if t.type == "response":
            return r, plan
        if t.type == "roas":
            return r / (b * T), plan
        h = 1e-3 * b
        return (solve(b + h, plan.per_period)[0] - solve(b - h, plan.per_period)[0]) / (2 * h * T), plan

    top, _ = metric(hi_b)
    if t.type == "response" and top < t.value:
        raise InfeasibleError(f"optimization.target: mean response {t.value:,.6g} is out of reach: the largest "
                              f"allowed budget ({hi_b:,.6g} per period) reaches {top:,.6g}")
    lo_b = hi_b * 1e-4
    low, _ = metric(lo_b)
    if t.type != "response" and low < t.value:
        raise InfeasibleError(f"optimization.target: {t.type} {t.value:g} is out of reach: even "
                              f"{lo_b:,.6g} per period gives {low:.4g}")
    if t.type != "response" and top >= t.value:
        lo_b = hi_b  # the whole allowed range keeps the (m)ROAS above the target
    while (hi_b - lo_b) > rel_tol * hi_b:
        mid = 0.5 * (lo_b + hi_b)
        val, _ = metric(mid)
        reached = val >= t.value
        if (t.type == "response") == reached:
            hi_b = mid
        else:
            lo_b = mid
    b = hi_b if t.type == "response" else lo_b
    val, plan = metric(b)
    return b, plan, val


def _noise_response(rm: ResponseModel, plan: Plan, noise: float, seed: int) -> Response:
    rng = np.random.default_rng(seed)
    factor = np.clip(1 + noise * rng.standard_normal((rm.n_draws, rm.num_periods, rm.size)), 0, None)
    return _response(rm.split(plan.spend, factor)["objective"])


def plan_spend(rm: ResponseModel, alloc: Allocation, which: str = "optimal") -> np.ndarray:
    """The spend ``(period, *panel, channel)`` of a plan in ``allocation.json``: optimal, historical or equal."""
    if which == "optimal" and alloc.spend_by_period is not None:
        return np.asarray(alloc.spend_by_period).reshape(rm.num_periods, *rm.shape)
    return np.broadcast_to(alloc.spend(which).reshape(rm.shape), (rm.num_periods, *rm.shape))


def response_over_time(rm: ResponseModel, alloc: Allocation) -> dict[str, np.ndarray]:
    """Incremental response per period and draw ``(draw, period)`` of the optimal plan and each baseline."""
    plans = {"optimal plan": "optimal", "historical split": "historical"} | ({"equal split": "equal"} if alloc.equal
                                                                              else {})
    return {label: rm.split(plan_spend(rm, alloc, which))["over_time"] for label, which in plans.items()}


def _caps(rm: ResponseModel, problem: LinearProblem, plan: Plan) -> list[dict]:
    """Observed-range caps on cells, each marked binding when the plan spends up to it in some period."""
    top = dict(zip(cell_labels(rm.channels, rm.panel), plan.spend.reshape(rm.num_periods, -1).max(axis=0)))
    return [{"cell": k, "observed_max_per_period": round(v, 4), "binding": bool(top[k] >= v * (1 - 1e-6))}
            for k, v in problem.capped.items()]


def held_channels(params: Params, uninformed: list[str]) -> list[str]:
    """The channels a plan holds at their historical spend: those whose ROAS is mostly the prior's (``uninformed``,
    from the fit page) unless ``optimization.uninformed`` is free, or a lift test, an experiment or a ROAS prior
    informs them (``calibration.calibrated_channels``)."""
    if params.optimization is None or params.optimization.uninformed == "free":
        return []

    calibrated = calibrated_channels(params, list(uninformed))
    return [ch for ch in uninformed if ch not in calibrated]


def plan_response_model(params: Params, data: MMMData, idata, model=None, num_periods: int | None = None,
                        n_draws: int | None = None, objective_window: str | None = None) -> ResponseModel:
    """The response model of the case's optimization section: its window and its posterior draws (the optimizer's
    seed, so every page that scores a plan sees the same draws). ``model``, ``num_periods``, ``n_draws`` and
    ``objective_window`` replace the section's (a variant's model, a test's weeks)."""
    opt = params.optimization
    assert opt is not None, "the case has no optimization section"
    return response_model(model or params.model, data, idata, num_periods or opt.num_periods,
                          n_draws=n_draws or opt.draws, seed=seed_for(params.seed, "optimize"),
                          objective_window=objective_window or opt.objective_window,
                          carryover_history=opt.carryover_history, unit_price=plan_unit_price(opt, data))


def plan_unit_price(opt: OptimizationSpec, data: MMMData) -> np.ndarray | None:
    """The plan's cost per unit ``(*panel, channel)``: ``optimization.cost_per_unit`` where it names a channel (one
    price, or one per market of the single panel dim: ``checks`` refuses other shapes), else the data's average
    (None when it names none)."""
    if not opt.cost_per_unit:
        return None
    price = data.cost_per_unit.copy()
    for ch, value in opt.cost_per_unit.items():
        k = data.channels.index(ch)
        if isinstance(value, dict):
            (coords,) = data.panel.values()
            for market, v in value.items():
                price[[str(c) for c in coords].index(str(market)), k] = v
        else:
            price[..., k] = value
    return price


def compare_plan(params: Params, data: MMMData, idata, held_names: list[str]) -> PlanComparison | None:
    """``optimization.compare_plan``: the plan's response over its own periods (its spend period by period, the data's
    carryover in), the best plan at the same budget per period under the section's rules, and the best plan's paired
    gain over it on draws that did not choose it."""
    opt = params.optimization
    assert opt is not None, "the case has no optimization section"
    if opt.compare_plan is None:
        return None
    plan = read_plan(params.resolve(opt.compare_plan), data, params.data.date_format, field="optimization.compare_plan")
    rm = plan_response_model(params, data, idata, num_periods=plan.n_dates)
    given = plan.X / media_per_spend(data, plan_unit_price(opt, data))  # the plan's media, as the model's input
    budget = float(plan.spend.sum()) / plan.n_dates
    held = np.broadcast_to(np.isin(rm.channels, held_names), rm.shape) if held_names else None
    flat = opt.model_copy(update={"num_periods": plan.n_dates, "pattern": None, "optimize_over_time": False})
    problem = plan_problem(flat, rm, budget, held)  # the best plan: flat over the given plan's periods
    assert rm.observed_max is not None  # plan_response_model's
    x0 = np.minimum(plan.spend.mean(axis=0), rm.observed_max)
    x0 = x0 / max(x0.sum(), 1e-12) * budget
    best = optimize_budget(rm, problem, opt.objective, x0=x0)
    halves = cross_fit_plans(rm, problem, opt.objective, x0, budget, seed_for(params.seed, "optimize", 99))
    return PlanComparison(source=str(opt.compare_plan), num_periods=plan.n_dates, budget_per_period=round(budget, 6),
                          response=_response(rm.draws(given)), best_response=_response(best.draws),
                          gain=held_out_gain(rm, halves, given),
                          allocation=allocation_records(rm, plan.spend.mean(axis=0)),
                          best_allocation=allocation_records(rm, best.per_period), solver=solver_status(best))


def best_plan(params: Params, data: MMMData, idata, held_names: Sequence[str]):
    """The plan the budget page recommends, from the historical split under the section's rules: ``(response model,
    held cells or None, problem, historical split, optimum)``. ``held_names``: the channels held (``held_channels``)."""
    opt = params.optimization
    assert opt is not None, "the case has no optimization section"
    rm = plan_response_model(params, data, idata)
    held = np.broadcast_to(np.isin(rm.channels, held_names), rm.shape) if held_names else None
    initial = history_split(data, opt.budget)
    problem = plan_problem(opt, rm, opt.budget, held)
    best = optimize_budget(rm, problem, opt.objective, x0=initial)
    if not best.success:
        raise RuntimeError(f"optimization: the optimizer did not converge ({best.message})")
    return rm, held, problem, initial, best


def allocate(params: Params, data: MMMData, idata, uninformed: Sequence[str] = ()) -> tuple[Allocation, ResponseModel]:
    """Stage 05: optimal plan, the historical and equal splits as baselines, scenarios and target (``allocation.json``).

    ``uninformed``: channels whose ROAS the data left at its prior (``contributions.roas_prior_posterior``); held at
    their historical spend (``held_channels``)."""
    opt = params.optimization
    assert opt is not None, "the case has no optimization section"
    held_names = held_channels(params, list(uninformed))
    rm, held, problem, initial, best = best_plan(params, data, idata, held_names)
    halves = cross_fit_plans(rm, problem, opt.objective, initial, opt.budget, seed_for(params.seed, "optimize", 2))

    def baseline(x) -> Baseline:
        split = rm.split(x)
        return Baseline(allocation=allocation_records(rm, x, split["cells"], rm.marginal(x, opt.weights)),
                        response=_response(split["objective"]), gain=held_out_gain(rm, halves, x),
                        gain_in_sample=paired_gain(best.draws, split["objective"]))

    scenarios = _scenarios(rm, opt, held, best)
    alternatives = _alternatives(params, data, rm, held, best)
    target = _target(rm, opt, held, best)
    split = rm.split(best.spend)
    alloc = Allocation(
        budget_per_period=opt.budget,
        num_periods=opt.num_periods,
        objective=objective_name(opt),
        allocation=allocation_records(rm, best.per_period, split["cells"], rm.marginal(best.spend, opt.weights)),
        response=_response(best.draws),
        initial=baseline(initial),
        scenarios=scenarios,
        optimizer={"method": "SLSQP", "success": best.success, "message": best.message,
                   "posterior_draws": int(rm.n_draws), "objective_value": round(best.value, 4)},
        window=WindowInfo(**rm.window.__dict__, description=rm.window.describe()),
        response_window=_response(split["window"]),
        response_tail=_response(split["tail"]),
        carryover_in=_response(rm.carryover_in) if rm.window.history_weeks and rm.carryover_in is not None else None,
        equal=baseline(equal_split(rm, opt.budget)),
        spend_by_period=(best.spend.reshape(rm.num_periods, -1).round(4).tolist()
                         if opt.pattern or opt.optimize_over_time else None),
        budget_use=opt.budget_use,
        constraints=[c.model_dump(exclude_defaults=True) for c in opt.constraints],
        capped=_caps(rm, problem, best),
        extrapolation_allowed=True if opt.allow_extrapolation else None,
        trust_region=opt.trust_region,
        held=held_names,
        held_mode=opt.uninformed if held_names else None,
        target=target,
        alternatives=alternatives,
        response_with_noise=(_noise_response(rm, best, opt.noise_level, seed_for(params.seed, "optimize", 1))
                             if opt.noise_level else None),
        cells=cell_labels(rm.channels, rm.panel),
        compared_plan=compare_plan(params, data, idata, held_names),
    )
    return alloc, rm


def _scenarios(rm: ResponseModel, opt: OptimizationSpec, held: np.ndarray | None, best: Plan) -> list[Scenario]:
    """The plan at each ``optimization.scenarios`` multiple of the budget (started from the optimal plan)."""
    scenarios = []
    for m in opt.scenarios:
        res = optimize_budget(rm, plan_problem(opt, rm, opt.budget * m, held), opt.objective, x0=best.per_period)
        scenarios.append(Scenario(multiplier=m, budget_per_period=opt.budget * m, response=_response(res.draws),
                                  allocation=allocation_records(rm, res.per_period), solver=solver_status(res)))
    return scenarios


def _alternatives(params: Params, data: MMMData, rm: ResponseModel, held: np.ndarray | None,
                  best: Plan) -> list[AlternativeResult]:
    """Each ``optimization.alternatives`` entry's plan and its held-out gain over the historical split."""
    opt, alternatives = params.optimization, []
    assert opt is not None, "the case has no optimization section"
    for k, a in enumerate(opt.alternatives):
        spec = opt.alternative(a)
        alt_problem = plan_problem(spec, rm, spec.budget, held)
        res = optimize_budget(rm, alt_problem, spec.objective, x0=best.per_period)
        alt_halves = cross_fit_plans(rm, alt_problem, spec.objective, best.per_period, spec.budget,
                                     seed_for(params.seed, "optimize", 3 + k))
        alternatives.append(AlternativeResult(name=a.name, budget_per_period=spec.budget, response=_response(res.draws),
                                              gain_over_historical=held_out_gain(rm, alt_halves,
                                                                                 history_split(data, spec.budget)),
                                              allocation=allocation_records(rm, res.per_period),
                                              solver=solver_status(res)))
    return alternatives


def _target(rm: ResponseModel, opt: OptimizationSpec, held: np.ndarray | None, best: Plan) -> TargetResult | None:
    """The least budget that reaches ``optimization.target``, and its plan; None without a target."""
    if opt.target is None:
        return None
    b, plan, achieved = target_budget(rm, opt, x0=best.per_period, held=held)
    return TargetResult(type=opt.target.type, value=opt.target.value, budget_per_period=round(b, 6),
                        achieved=round(achieved, 6), response=_response(plan.draws),
                        allocation=allocation_records(rm, plan.per_period))
