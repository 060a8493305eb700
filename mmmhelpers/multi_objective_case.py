"""A case with several targets (``optimization.multi_objective``): the joint response of the targets' fits read
from the run folder, the plans the budget page shows (each target's best, the constrained optimum, the frontier), the
``multi_objective`` record of ``allocation.json``, and the page's tables and sentences. The algorithm is
:mod:`mmmhelpers.multi_objective`'s."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmmhelpers import artifacts
from mmmhelpers.artifacts import MultiObjectiveRecord
from mmmhelpers.constraints import LinearProblem, cell_labels
from mmmhelpers.formatting import first_upper, plain_number
from mmmhelpers.multi_objective import (
    ConstrainedOptimum,
    JointPlan,
    JointResponse,
    ParetoFront,
    Target,
    TargetConstraint,
    best_for,
    constrained_optimum,
    cross_evaluation,
    pareto_front,
    target_label,
    weighted_draws,
)
from mmmhelpers.optimize import Plan, allocation_records, hdi94, plan_problem, plan_response_model
from mmmhelpers.targets import target_home

__all__ = ["CasePlans", "spend_layout", "case_joint", "plan_case", "case_record", "cross_table", "front_table",
           "constrained_sentence", "historical_sentence"]


@dataclass
class CasePlans:
    """Everything the budget page shows for a case with several targets (``optimization.multi_objective``)."""

    joint: JointResponse
    problem: LinearProblem
    titles: dict[str, str]  # target -> as the pages name it
    maximize: Target
    best: dict[str, JointPlan]  # each target's own optimum
    objective: JointPlan  # the objective's optimum (a target's own, or the weighted sum's)
    historical: np.ndarray  # spend per period and joint cell of the data's split, scaled to the budget
    constrained: ConstrainedOptimum | None
    cross: pd.DataFrame
    front: ParetoFront | None
    front_seconds: float
    plans: dict[str, np.ndarray] = field(default_factory=dict)  # the cross-evaluation's plans: spend per period

    @property
    def objective_label(self) -> str:
        return _plan_name(self.titles, self.maximize)


def spend_layout(params) -> str:
    """``shared`` (one spend per channel for every target) or ``per_target`` (markets: each target's own cells)."""
    mode = params.optimization.multi_objective.spend
    if mode != "auto":
        return mode
    return "per_target" if any(set(t.where) & set(params.data.dims) for t in params.targets) else "shared"


def case_joint(params, run_dir) -> tuple[JointResponse, dict[str, np.ndarray]]:
    """Every target's compiled response on the case's window, joined by the case's spend layout; with each
    target's total spend per cell over the data (for the historical split)."""
    opt = params.optimization
    dirs = {t.name: target_home(params, run_dir, t.name) for t in params.targets}
    fits = {n: (artifacts.load_data(d), artifacts.load_idata(d)) for n, d in dirs.items()}
    n_draws = min([opt.draws, *(i["posterior"].sizes["chain"] * i["posterior"].sizes["draw"]
                                for _, i in fits.values())])
    models = {n: plan_response_model(params, data, idata, model=params.for_target(n).model, n_draws=n_draws)
              for n, (data, idata) in fits.items()}
    spent = {n: data.spend.reshape(data.n_dates, -1).sum(0) for n, (data, _) in fits.items()}
    if spend_layout(params) == "shared":
        return JointResponse.same_cells(models), {next(iter(spent)): next(iter(spent.values()))}
    dim = next((d for t in params.targets for d in t.where), "target")
    return JointResponse.markets(models, dim=dim), spent


def plan_case(params, run_dir, say=None) -> CasePlans:
    """Each target's best plan, the objective's with the constraint, every plan under every target's model, and
    the Pareto frontier between the objective and the constraint's target."""
    import time

    say = say or (lambda _msg: None)
    opt, mo = params.optimization, params.optimization.multi_objective
    joint, spent = case_joint(params, run_dir)
    problem = plan_problem(opt, joint, opt.budget)
    titles = {t.name: t.title for t in params.targets}
    maximize: Target = mo.maximize[0] if len(mo.maximize) == 1 else dict.fromkeys(mo.maximize, 1.0)
    say("each target's best plan")
    best = {n: best_for(joint, n, problem, opt.objective) for n in titles}
    objective = best[maximize] if isinstance(maximize, str) else best_for(joint, maximize, problem, opt.objective)
    total = np.concatenate(list(spent.values()))
    historical = (total / max(total.sum(), 1e-12) * opt.budget).reshape(joint.shape)
    constrained = b_best = None
    if mo.constraint is not None:
        say("the constrained plan")
        b = mo.constraint.target  # its reachable most is the optimum of its mean: best[b] unless a risk objective
        b_best = best[b] if opt.objective.type == "mean" else best_for(joint, b, problem)
        constrained = constrained_optimum(joint, maximize, mo.constraint.model_dump(exclude_none=True), problem,
                                          opt.objective, free=objective, top=b_best)
    plans = {f"best for {titles[n]}": p for n, p in best.items()}
    if not isinstance(maximize, str):
        plans[f"best {_plan_name(titles, maximize)}"] = objective
    if constrained is not None:
        plans[f"{_plan_name(titles, maximize)} with {_constraint_words(titles, constrained.constraint)}"] = \
            constrained.plan
    plans["historical split"] = historical
    cross = cross_evaluation(joint, plans, best={n: float(p.targets[n].mean()) for n, p in best.items()})
    front, seconds = None, 0.0
    if constrained is not None and mo.frontier_points:
        say(f"the Pareto frontier ({mo.frontier_points} points)")
        t0 = time.perf_counter()
        front = pareto_front(joint, maximize, mo.constraint.target, problem, mo.frontier_points, opt.objective,
                             a_star=objective, b_star=b_best)
        seconds = time.perf_counter() - t0
    spends = {k: (v.per_period if isinstance(v, Plan) else v) for k, v in plans.items()}
    return CasePlans(joint, problem, titles, maximize, best, objective, historical, constrained, cross, front,
                     seconds, spends)


def _plan_name(titles: dict[str, str], target: Target) -> str:
    names = [target] if isinstance(target, str) else list(target)
    return "total" if len(names) == len(titles) and len(names) > 1 else " + ".join(titles[n] for n in names)


def _constraint_words(titles: dict[str, str], con: TargetConstraint) -> str:
    return f"{titles[con.target]} {'≥' if con.kind == 'at_least' else '='} {plain_number(con.value)}"


def case_record(cp: CasePlans) -> MultiObjectiveRecord:
    """The ``multi_objective`` block of ``allocation.json``."""

    def plan_record(plan: JointPlan) -> dict:
        return {"allocation": [c.model_dump() for c in allocation_records(cp.joint, plan.per_period)],
                "responses": plan.summary(),
                "success": bool(plan.success)}

    out = {"targets": list(cp.titles), "spend": "shared" if all(c is None for _, c in cp.joint.parts.values())
           else "per_target", "maximize": cp.maximize, "best": {n: plan_record(p) for n, p in cp.best.items()},
           "objective_best": plan_record(cp.objective),
           "cross_evaluation": cp.cross.reset_index().to_dict("records")}
    if cp.constrained is not None:
        c = cp.constrained
        out["constrained"] = {"constraint": {"target": c.constraint.target, c.constraint.kind: c.constraint.value},
                              "binds": bool(c.binds), "value": c.value, "reachable": c.reachable,
                              **plan_record(c.plan)}
    if cp.front is not None:
        out["frontier"] = cp.front.table.to_dict("records")
        out["frontier_seconds"] = round(cp.front_seconds, 3)
    return MultiObjectiveRecord.model_validate(out)


def _with_hdi(mean: float, lo: float, hi: float) -> str:
    return f"{plain_number(mean)} ({plain_number(lo)} to {plain_number(hi)})"


def cross_table(cp: CasePlans) -> pd.DataFrame:
    """The cross-evaluation for people: per plan, each target's mean response (94% HDI) and share of its best."""
    rows = []
    for plan, r in cp.cross.iterrows():
        row = {"plan": plan}
        for n, title in cp.titles.items():
            row[title] = _with_hdi(r[f"{n}_mean"], r[f"{n}_hdi_lo"], r[f"{n}_hdi_hi"])
            row[f"{title}: share of its best"] = r[f"{n}_share_of_best"]
        rows.append(row)
    return pd.DataFrame(rows)


def front_table(cp: CasePlans) -> pd.DataFrame:
    """The frontier's points for people: the level asked of the constrained target, both responses (94% HDI)
    and the spend per period of every cell."""
    assert cp.front is not None and cp.constrained is not None  # a case with a frontier: it has its constraint
    t, a, b = cp.front.table, target_label(cp.maximize), cp.constrained.constraint.target
    cells = cell_labels(cp.joint.channels, cp.joint.panel)
    out = pd.DataFrame({"point": np.arange(1, len(t) + 1),
                        cp.objective_label: [_with_hdi(*r) for r in t[[f"{a}_mean", f"{a}_hdi_lo", f"{a}_hdi_hi"]]
                                             .to_numpy()],
                        cp.titles[b]: [_with_hdi(*r) for r in t[[f"{b}_mean", f"{b}_hdi_lo", f"{b}_hdi_hi"]].to_numpy()]})
    spend = t[cells].reset_index(drop=True)
    return pd.concat([out, spend.where(spend.abs() > 1e-9 * max(float(spend.abs().to_numpy().max()), 1.0), 0.0)],
                     axis=1)


def constrained_sentence(cp: CasePlans, unit: str = "") -> str:
    """What the constraint does: whether it binds, and what it costs the objective."""
    c = cp.constrained
    assert c is not None  # a case with a constraint
    words = _constraint_words(cp.titles, c.constraint)
    obj, free = weighted_draws(c.plan, cp.maximize), weighted_draws(c.unconstrained, cp.maximize)
    lo, hi = hdi94(obj)
    head = (f"**{first_upper(cp.objective_label)} with {words}:** {plain_number(obj.mean())}{unit} (94% HDI "
            f"{plain_number(lo)} to {plain_number(hi)}), with {cp.titles[c.constraint.target]} at "
            f"{plain_number(c.value)}.")
    if not c.binds:
        return head + (f" The constraint does not bind: the best plan for {cp.objective_label} alone already reaches "
                       f"it, so it costs nothing.")
    cost = 1 - obj.mean() / free.mean()
    return head + (f" The constraint binds: without it the best plan for {cp.objective_label} reaches "
                   f"{plain_number(free.mean())}{unit} but leaves {cp.titles[c.constraint.target]} at "
                   f"{plain_number(c.unconstrained.targets[c.constraint.target].mean())}; holding the floor costs "
                   f"{cost:.1%} of {cp.objective_label}. The most {cp.titles[c.constraint.target]} can reach with this "
                   f"budget is {plain_number(c.reachable)}.")


def historical_sentence(cp: CasePlans, unit: str = "") -> str:
    """Where the historical split sits against the frontier: what the frontier plan with the same level of the
    constrained target gives the objective instead."""
    assert cp.front is not None and cp.constrained is not None  # a case with a frontier: it has its constraint
    t, a, b = cp.front.table, target_label(cp.maximize), cp.constrained.constraint.target
    hist = cp.joint.per_target(cp.historical)
    weights = {a: 1.0} if isinstance(cp.maximize, str) else cp.maximize
    ha, hb = float(np.asarray(sum(w * hist[n] for n, w in weights.items())).mean()), float(hist[b].mean())
    order = np.argsort(t[f"{b}_mean"].to_numpy())
    bs, as_ = t[f"{b}_mean"].to_numpy()[order], t[f"{a}_mean"].to_numpy()[order]
    head = (f"The historical split gives {plain_number(ha)}{unit} ({cp.objective_label}) and {plain_number(hb)} "
            f"({cp.titles[b]}).")
    if hb < bs[0]:  # below the objective's own optimum on both counts, or trading the other way
        better = as_[0] >= ha
        return head + (f" The best plan for {cp.objective_label} gives {plain_number(as_[0])}{unit} ({as_[0] / ha - 1:+.1%}) "
                       f"and {plain_number(bs[0])} ({cp.titles[b]})" + (": more of both." if better else "."))
    if hb > bs[-1]:
        return head + f" No plan of this budget reaches that much {cp.titles[b]} (see the caps and rules above)."
    on_front = float(np.interp(hb, bs, as_))
    return head + (f" The frontier plan with the same level of {cp.titles[b]} gives {plain_number(on_front)}{unit} "
                   f"({cp.objective_label}, {on_front / ha - 1:+.1%}): the same budget, split differently.")
