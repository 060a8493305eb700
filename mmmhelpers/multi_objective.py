"""Several targets over one budget: constrained optima, what each goal costs the others, the Pareto front.

The pymc-marketing multi-objective case study merges separately fitted models (new users and
re-engaged users over the same channels; or one model per market) and maximizes one response while
holding another at or above a level ``Z``. Here each target keeps its own compiled
:class:`~mmmhelpers.response.ResponseModel`; :class:`JointResponse` sums them (weighted) over one joint
decision, so :func:`~mmmhelpers.optimize.optimize_budget` optimizes it like any single model, and a target
held at a level is a :class:`~mmmhelpers.optimize.ResponseConstraint` with its exact gradient.

Targets are fitted separately, so draw ``s`` of one target is paired with draw ``s`` of another
arbitrarily: means of sums are exact, intervals of a weighted sum treat the posteriors as independent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from mmmhelpers.config import ObjectiveSpec
from mmmhelpers.constraints import InfeasibleError, LinearProblem, cell_labels
from mmmhelpers.optimize import Plan, ResponseConstraint, hdi94, optimize_budget
from mmmhelpers.response import PlanCells, ResponseModel

__all__ = ["JointResponse", "JointPlan", "TargetConstraint", "ConstrainedOptimum", "ParetoFront", "best_for",
           "reachable", "constrained_optimum", "cross_evaluation", "pareto_front", "weighted_draws", "target_label",
           "Target"]

Target = str | dict[str, float]  # one target's name, or weights over targets (e.g. the total over markets)


@dataclass
class JointResponse(PlanCells):
    """Weighted sum of several targets' responses over one joint plan ``(period, *panel, channel)``.

    ``parts``: target name -> (its ResponseModel, ``cells``): ``cells`` maps the target's flat cells into the
    joint flat cells (None: the same cells). ``weights``: what :meth:`value_and_jac` sums (target -> weight).
    Quacks like a ResponseModel for ``optimize_budget``, ``problem_for`` and ``plan_problem``.
    """

    channels: list[str]
    panel: dict[str, list]
    parts: dict[str, tuple[ResponseModel, np.ndarray | None]]
    weights: dict[str, float]
    _memo: dict = field(default_factory=dict, repr=False)  # target -> (plan bytes, draws, jacobian), shared by views

    def __post_init__(self):
        models = [rm for rm, _ in self.parts.values()]
        if len({rm.num_periods for rm in models}) != 1 or len({rm.n_draws for rm in models}) != 1:
            raise ValueError("JointResponse: every target needs the same num_periods and n_draws, got "
                             + ", ".join(f"{n}: {rm.num_periods} periods, {rm.n_draws} draws"
                                         for n, (rm, _) in self.parts.items()))
        for name, (rm, _) in self.parts.items():
            idx = self.cells(name)
            if len(idx) != rm.size or len(set(idx.tolist())) != len(idx) or idx.min() < 0 or idx.max() >= self.size:
                raise ValueError(f"JointResponse: target {name!r} has {rm.size} cells; its cells must be "
                                 f"{rm.size} distinct indices into the {self.size} joint cells")
        seen = set().union(*(self.cells(n).tolist() for n in self.parts))
        if len(seen) != self.size:
            raise ValueError(f"JointResponse: joint cells {sorted(set(range(self.size)) - seen)} reach no target")
        unknown = set(self.weights) - set(self.parts)
        if unknown:
            raise ValueError(f"JointResponse.weights: unknown targets {sorted(unknown)} (targets: {list(self.parts)})")

    @classmethod
    def same_cells(cls, models: dict[str, ResponseModel], weights: dict[str, float] | None = None) -> JointResponse:
        """Targets over the same cells (e.g. two KPIs of the same channels); default weights: the first target."""
        first = next(iter(models.values()))
        for name, rm in models.items():
            if list(rm.channels) != list(first.channels) or dict(rm.panel) != dict(first.panel):
                raise ValueError(f"JointResponse.same_cells: target {name!r} has cells {rm.channels} {rm.panel}, "
                                 f"the first {first.channels} {first.panel}")
        return cls(list(first.channels), dict(first.panel), {n: (rm, None) for n, rm in models.items()},
                   dict(weights or {next(iter(models)): 1.0}))

    @classmethod
    def markets(cls, models: dict[str, ResponseModel], dim: str = "market",
                weights: dict[str, float] | None = None) -> JointResponse:
        """One model per market (the targets, named by market) over the same channels: the joint cells are
        ``(dim, *panel, channel)`` and market k sees only its slice; default weights: the total over markets."""
        first = next(iter(models.values()))
        if dim in first.panel:
            raise ValueError(f"JointResponse.markets: {dim!r} is already a panel dim of the models")
        for name, rm in models.items():
            if list(rm.channels) != list(first.channels) or dict(rm.panel) != dict(first.panel):
                raise ValueError(f"JointResponse.markets: market {name!r} has cells {rm.channels} {rm.panel}, "
                                 f"the first {first.channels} {first.panel}")
        n = first.size
        parts: dict[str, tuple[ResponseModel, np.ndarray | None]] = {
            name: (rm, np.arange(k * n, (k + 1) * n)) for k, (name, rm) in enumerate(models.items())}
        return cls(list(first.channels), {dim: list(models), **first.panel}, parts,
                   dict(weights or dict.fromkeys(models, 1.0)))

    def weighted(self, target: Target) -> JointResponse:
        """The same parts summed with other weights (a target's name: that target alone); shares the memo."""
        weights = {target: 1.0} if isinstance(target, str) else dict(target)
        return replace(self, weights=weights, _memo=self._memo)

    def cells(self, name: str) -> np.ndarray:
        """Joint flat cells of target ``name``'s flat cells."""
        rm, cells = self.parts[name]
        return np.arange(rm.size) if cells is None else np.asarray(cells, int)

    @property
    def _first(self) -> ResponseModel:
        return next(iter(self.parts.values()))[0]

    @property
    def num_periods(self) -> int:
        return self._first.num_periods

    @property
    def unit_price(self) -> np.ndarray | None:
        """Each joint cell's cost per unit ``(*panel, channel)`` from its targets' models (NaN for a channel bought
        in money; the first target that prices a cell gives it), or None when no target buys in units."""
        priced = [(name, rm.unit_price) for name, (rm, _) in self.parts.items() if rm.unit_price is not None]
        if not priced:
            return None
        price = np.full(self.size, np.nan)
        for name, part in reversed(priced):  # the first target's price wins where two price a cell
            price[self.cells(name)] = np.asarray(part, float).reshape(-1)
        return price.reshape(self.shape)

    @property
    def n_draws(self) -> int:
        return self._first.n_draws

    @property
    def window(self):
        return self._first.window

    def _scatter(self, attr: str, pick) -> np.ndarray:
        out = np.full(self.size, np.nan)
        for name, (rm, _) in self.parts.items():
            idx = self.cells(name)
            vals = np.asarray(getattr(rm, attr), float).ravel()
            out[idx] = np.where(np.isnan(out[idx]), vals, pick(out[idx], vals))
        return out.reshape(self.shape)

    @property
    def observed_max(self) -> np.ndarray:
        """Highest spend per period any target's data saw in each joint cell."""
        return self._scatter("observed_max", np.maximum)

    @property
    def observed_min(self) -> np.ndarray:
        return self._scatter("observed_min", np.minimum)

    @property
    def historical(self) -> np.ndarray:
        """Mean spend per period in each joint cell (the targets' data agree on spend)."""
        return self._scatter("historical", np.maximum)

    def _part(self, name: str, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target ``name``'s draws and jacobian ``(draw, period, its cell)`` at the joint plan ``flat``."""
        rm, _ = self.parts[name]
        sub = np.ascontiguousarray(flat[:, self.cells(name)]).reshape(self.num_periods, *rm.shape)
        key = sub.tobytes()
        hit = self._memo.get(name)
        if hit is None or hit[0] != key:
            r, jac = rm.value_and_jac(sub)
            hit = self._memo[name] = (key, r, jac.reshape(len(r), self.num_periods, rm.size))
        return hit[1], hit[2]

    def value_and_jac(self, plan) -> tuple[np.ndarray, np.ndarray]:
        """Weighted response per draw ``(draw,)`` and its exact jacobian ``(draw, period, joint cell)``."""
        flat = self.plan_matrix(plan)
        total = np.zeros(self.n_draws)
        jac = np.zeros((self.n_draws, self.num_periods, self.size))
        for name, w in self.weights.items():
            if w:
                r, j = self._part(name, flat)
                total += w * r
                jac[:, :, self.cells(name)] += w * j
        return total, jac

    def draws(self, plan) -> np.ndarray:
        """Weighted response per draw."""
        return self.value_and_jac(plan)[0]

    def per_target(self, plan) -> dict[str, np.ndarray]:
        """Each target's response per draw at the joint plan."""
        flat = self.plan_matrix(plan)
        return {name: self._part(name, flat)[0].copy() for name in self.parts}


@dataclass
class JointPlan(Plan):
    """A plan of a JointResponse with every target's draws at it."""

    targets: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict[str, dict]:
        """Mean and 94% HDI of each target's response."""
        return {name: {"mean": float(d.mean()), "hdi_94": hdi94(d)} for name, d in self.targets.items()}


@dataclass(frozen=True)
class TargetConstraint:
    """Target ``target``'s mean response is at least / equal to ``value``."""

    target: str
    kind: Literal["at_least", "equal_to"] = "at_least"
    value: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.target} {'≥' if self.kind == 'at_least' else '='} {self.value:,.6g}"


@dataclass
class ConstrainedOptimum:
    """The optimum of ``objective`` with ``constraint`` held, and what it is judged against."""

    plan: JointPlan
    objective: str
    constraint: TargetConstraint
    value: float  # the constrained target's mean response at the plan
    binds: bool  # the unconstrained optimum violates the constraint (it is active here)
    success: bool
    message: str
    unconstrained: JointPlan  # the objective's optimum without the constraint
    reachable: float  # the constrained target's largest mean response with this budget

    @property
    def targets(self) -> dict[str, dict]:
        """Mean and 94% HDI of each target's response at the plan."""
        return self.plan.summary()


class ParetoFront(NamedTuple):
    """``table``: one row per front point; ``draws``: target -> ``(point, draw)`` responses, for plotting."""

    table: pd.DataFrame
    draws: dict[str, np.ndarray]


def target_label(target: Target) -> str:
    """A target's name, or its weights in words ("a + 2·b")."""
    if isinstance(target, str):
        return target
    return " + ".join(k if w == 1 else f"{w:g}·{k}" for k, w in target.items())


def _fmt(x: float) -> str:
    return f"{x:,.2f}" if abs(x) >= 100 else f"{x:.4g}"


def _joint_plan(joint: JointResponse, plan: Plan) -> JointPlan:
    return JointPlan(**plan.__dict__, targets=joint.per_target(plan.spend))


def best_for(joint: JointResponse, target: Target, problem: LinearProblem, objective: ObjectiveSpec | None = None,
             x0: np.ndarray | None = None) -> JointPlan:
    """The single-objective optimum of one target (or a weighted combination), with every target's draws."""
    return _joint_plan(joint, optimize_budget(joint.weighted(target), problem, objective, x0=x0))


def reachable(joint: JointResponse, target: Target, problem: LinearProblem) -> float:
    """The largest mean response of ``target`` under ``problem``."""
    return float(best_for(joint, target, problem).draws.mean())


def _as_constraint(c) -> TargetConstraint:
    """A TargetConstraint from one, a ResponseConstraint (``name``: the target), ``(target, kind, Z)`` or
    ``{"target": t, "at_least": Z}`` / ``{"target": t, "equal_to": Z}`` (the params' form)."""
    if isinstance(c, TargetConstraint):
        return c
    if isinstance(c, ResponseConstraint):
        return TargetConstraint(c.name, c.kind, float(c.value))
    if isinstance(c, dict):
        kinds: list[Literal["at_least", "equal_to"]] = [k for k in ("at_least", "equal_to") if k in c]
        if len(kinds) != 1 or "target" not in c:
            raise ValueError(f"multi_objective.constraint: {c} needs a target and one of at_least, equal_to")
        return TargetConstraint(c["target"], kinds[0], float(c[kinds[0]]))
    target, kind, value = c
    return TargetConstraint(target, kind, float(value))


def _solve(joint: JointResponse, maximize: Target, con: TargetConstraint, problem: LinearProblem,
           objective: ObjectiveSpec | None, x0: np.ndarray | None, even_start: bool = True) -> JointPlan:
    rc = ResponseConstraint(joint.weighted(con.target), con.kind, con.value, con.target)
    plan = optimize_budget(joint.weighted(maximize), problem, objective, x0=x0, response_constraints=[rc],
                           even_start=even_start)
    return _joint_plan(joint, plan)


def constrained_optimum(joint: JointResponse, maximize: Target, constraint, problem: LinearProblem,
                        objective: ObjectiveSpec | None = None, free: JointPlan | None = None,
                        top: JointPlan | None = None) -> ConstrainedOptimum:
    """Maximize ``maximize`` (a target or weights) with ``constraint`` on one target's mean response: a
    TargetConstraint, ``(target, kind, Z)``, ``{"target": t, "at_least": Z}`` (or ``equal_to``) or a
    ResponseConstraint whose ``name`` is the target.

    Raises :class:`InfeasibleError` naming the target, Z and the reachable range when no plan meets the
    constraint. When the unconstrained optimum already meets it, that plan is the answer (``binds`` False).
    ``free`` (the objective's own optimum) and ``top`` (the constrained target's mean optimum): plans already
    solved, not solved again.
    """
    con = _as_constraint(constraint)
    top = top or best_for(joint, con.target, problem)
    hi = float(top.draws.mean())
    if con.value > hi + 1e-9 * max(1.0, abs(hi)):
        raise InfeasibleError(f"multi_objective.constraint: {con.label} is out of reach: with this budget its mean "
                              f"response is at most {_fmt(hi)}")
    if con.kind == "equal_to":
        lo = -reachable(joint, {con.target: -1.0}, problem)
        if con.value < lo - 1e-9 * max(1.0, abs(lo)):
            raise InfeasibleError(f"multi_objective.constraint: {con.label} is out of reach: with this budget its "
                                  f"mean response is at least {_fmt(lo)}")
    free = free or best_for(joint, maximize, problem, objective)
    gap = ResponseConstraint(None, con.kind, con.value).violation(free.targets[con.target].mean())
    if gap <= 1e-6:  # the unconstrained optimum meets it
        plan, binds = free, False
    else:
        # start from the free optimum too: at b's own optimum the linearized constraint is degenerate (its gradient
        # along the budget is zero), which stalls SLSQP on ``equal_to``
        plan, binds = _solve(joint, maximize, con, problem, objective, x0=free.per_period), True
    value = float(plan.targets[con.target].mean())
    return ConstrainedOptimum(plan, target_label(maximize), con, value, binds, plan.success, plan.message, free, hi)


def cross_evaluation(joint: JointResponse, plans: Mapping[str, Plan | np.ndarray], problem: LinearProblem | None = None,
                     best: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per plan: each target's mean response, 94% HDI and share of that target's own best.

    The own best is ``best[target]`` if given, else :func:`reachable` under ``problem`` (no ``problem``: no shares).
    """
    if best is None and problem is not None:
        best = {name: reachable(joint, name, problem) for name in joint.parts}
    rows = []
    for label, plan in plans.items():
        spend = plan.spend if isinstance(plan, Plan) else plan
        row: dict[str, Any] = {"plan": label}
        for name, d in joint.per_target(spend).items():
            lo, hi = hdi94(d)
            row |= {f"{name}_mean": float(d.mean()), f"{name}_hdi_lo": lo, f"{name}_hdi_hi": hi,
                    f"{name}_share_of_best": float(d.mean()) / best[name] if best else np.nan}
        rows.append(row)
    return pd.DataFrame(rows).set_index("plan")


def _dominated(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """Points another point beats in one target by more than ``tol`` without losing more than ``tol`` in the other."""
    out = np.zeros(len(a), bool)
    for i in range(len(a)):
        ge = (a >= a[i] - tol) & (b >= b[i] - tol)
        out[i] = bool((ge & ((a > a[i] + tol) | (b > b[i] + tol))).any())
    return out


def weighted_draws(plan: JointPlan, target: Target) -> np.ndarray:
    """Draws of a target, or of a weighted sum of targets (e.g. the total over markets), at a plan."""
    weights = {target: 1.0} if isinstance(target, str) else target
    return np.asarray(sum(w * plan.targets[name] for name, w in weights.items()))  # the same array (typed int | array)


def pareto_front(joint: JointResponse, a: Target, b: str, problem: LinearProblem, n_points: int = 20,
                 objective: ObjectiveSpec | None = None, warm_start: bool = True, a_star: JointPlan | None = None,
                 b_star: JointPlan | None = None) -> ParetoFront:
    """The trade-off of ``a`` (a target, or weights over targets: its column is named by ``target_label(a)``) and target
    ``b`` for this budget: maximize ``a`` subject to mean ``b`` ≥ Z for ``n_points`` values of Z from b's value at
    a's optimum to b's reachable maximum.

    The ends are the two single-objective optima; each inner point starts from the previous point's plan only
    (``warm_start``; if that solve fails it is redone from a's optimum and the even split). Points another
    point dominates are dropped (``table.attrs["dominated_dropped"]`` counts them). ``a_star`` (a's optimum under
    ``objective``) and ``b_star`` (b's mean optimum): plans already solved, not solved again.
    """
    a_star, b_star = a_star or best_for(joint, a, problem, objective), b_star or best_for(joint, b, problem)
    z_lo, z_hi = float(a_star.targets[b].mean()), float(b_star.targets[b].mean())
    plans, binds, zs = [a_star], [False], [z_lo]
    if z_hi - z_lo > 1e-6 * max(1.0, abs(z_hi)):
        prev = a_star
        for z in np.linspace(z_lo, z_hi, n_points)[1:-1]:
            con = TargetConstraint(b, "at_least", float(z))
            plan = _solve(joint, a, con, problem, objective, x0=prev.per_period, even_start=not warm_start)
            if not plan.success:
                plan = _solve(joint, a, con, problem, objective, x0=a_star.per_period)
            plans.append(plan)
            binds.append(True)
            zs.append(float(z))
            prev = plan
        plans.append(b_star)
        binds.append(True)
        zs.append(z_hi)
    ka = target_label(a)
    draws = {name: np.stack([p.targets[name] for p in plans]) for name in joint.parts}
    draws[ka] = np.stack([weighted_draws(p, a) for p in plans])
    labels = cell_labels(joint.channels, joint.panel)
    rows = []
    for k, (z, p, bind) in enumerate(zip(zs, plans, binds)):
        row = {"Z": z}
        for name in (ka, b):
            lo, hi = hdi94(draws[name][k])
            row |= {f"{name}_mean": float(draws[name][k].mean()), f"{name}_hdi_lo": lo, f"{name}_hdi_hi": hi}
        row |= dict(zip(labels, p.per_period.ravel().tolist())) | {"binds": bind, "success": p.success}
        rows.append(row)
    table = pd.DataFrame(rows)
    am, bm = table[f"{ka}_mean"].to_numpy(), table[f"{b}_mean"].to_numpy()
    keep = ~_dominated(am, bm, 1e-6 * max(np.ptp(am), np.ptp(bm), 1e-12))
    table = table[keep].reset_index(drop=True)
    table.attrs["dominated_dropped"] = int((~keep).sum())
    return ParetoFront(table, {name: d[keep] for name, d in draws.items()})


# --- a case's targets on its budget page -------------------------------------------------------------------------
