"""Budget constraints as data -> one linear system ``A v (=, <=) b``, ``lo <= v <= hi`` over the plan variables.

The optimizer's variables ``v`` are the spend per period of each cell (``*panel, channel``) for flat or
patterned spend (period ``t`` spends ``weight[t] * v``), or the spend of every period and cell when the
optimizer picks spend over time. ``spend = M v`` maps them to ``(period, cell)``.

Where each rule applies:

- ``optimization.bounds: {x1: [lo, hi]}``: spend per period of *each* cell of channel x1;
- ``{type: bounds, channel: x1, where: {geo: geo_a}, lower, upper}``: the spend per period of the matched
  cells *together* (no ``where``: channel x1 summed over the panel);
- shares and ratios: spend over the whole window of the matched cells, against the total or another channel;
- the budget: total spend per period (``exact`` or ``at_most``);
- unless ``allow_extrapolation``, no cell spends more per period than the most the data saw in one week.

Feasibility is checked with a linear program before optimizing, so an impossible problem is an error
naming the rule at fault instead of a wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from mmmhelpers.config import ConstraintSpec

__all__ = ["InfeasibleError", "LinearProblem", "build_problem", "check_feasible", "cell_labels", "match_cells"]


class InfeasibleError(ValueError):
    """No plan satisfies the budget and every constraint."""


def cell_labels(channels: list[str], panel: dict[str, list]) -> list[str]:
    """``x1`` or ``x1 @ geo_a`` for every cell, in the flattened (``*panel, channel``) order."""
    shape = (*[len(v) for v in panel.values()], len(channels))
    out = []
    for idx in np.ndindex(*shape):
        where = ", ".join(str(panel[d][i]) for d, i in zip(panel, idx[:-1]))
        out.append(channels[idx[-1]] + (f" @ {where}" if where else ""))
    return out


def match_cells(channels: list[str], panel: dict[str, list], channel: str | None, where: dict[str, str],
                field_name: str) -> np.ndarray:
    """Boolean mask over flattened cells of ``channel`` (any if None) at the ``where`` panel coordinates."""
    if channel is not None and channel not in channels:
        raise ValueError(f"{field_name}: unknown channel {channel!r} (channels: {channels})")
    for dim, value in where.items():
        if dim not in panel:
            raise ValueError(f"{field_name}.where: unknown dim {dim!r} (panel dims: {list(panel)})")
        if value not in [str(v) for v in panel[dim]]:
            raise ValueError(f"{field_name}.where.{dim}: unknown value {value!r} (values: {panel[dim]})")
    shape = (*[len(v) for v in panel.values()], len(channels))
    mask = np.zeros(shape, dtype=bool)
    for idx in np.ndindex(*shape):
        ok = channel is None or channels[idx[-1]] == channel
        ok &= all(str(panel[d][idx[i]]) == v for i, d in enumerate(panel) if d in where for v in [where[d]])
        mask[idx] = ok
    return mask.ravel()


@dataclass
class LinearProblem:
    """``A_eq v = b_eq``, ``A_ub v <= b_ub``, ``lo <= v <= hi``; ``M`` maps ``v`` to spend ``(period * cell)``."""

    M: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    A_eq: np.ndarray
    b_eq: np.ndarray
    A_ub: np.ndarray
    b_ub: np.ndarray
    total: np.ndarray  # average spend per period (the budget's units), per variable
    budget: float  # per period: what the plan spends (budget_use exact) or at most spends (at_most)
    rows: list[str] = field(default_factory=list)  # a label per inequality row (for messages)
    capped: dict[str, float] = field(default_factory=dict)  # cell label -> observed-max cap that binds it
    rules: list[str] = field(default_factory=list)  # the default rules in force (named in infeasibility messages)

    @property
    def size(self) -> int:
        return self.M.shape[1]


def _mapping(weights: list[float], n_cells: int, over_time: bool) -> np.ndarray:
    T = len(weights)
    if over_time:
        return np.eye(T * n_cells)
    return np.kron(np.asarray(weights, float)[:, None], np.eye(n_cells))  # (T*n, n): spend[t, c] = w_t v_c


def build_problem(channels: list[str], panel: dict[str, list], budget: float, weights: list[float], *,
                  bounds: dict | None = None, constraints: Sequence[ConstraintSpec] = (), budget_use: str = "exact",
                  over_time: bool = False, observed_max: np.ndarray | None = None,
                  never_spent: np.ndarray | None = None, historical: np.ndarray | None = None,
                  trust_region: float | None = None, held: np.ndarray | None = None,
                  held_mode: str = "hold") -> LinearProblem:
    """The linear system of one budget per period (``observed_max``: cap each cell at it, None = no cap;
    ``never_spent``: cells, ``(*panel, channel)`` booleans, that spent nothing in the data: pinned at 0 always).

    ``historical`` (mean spend per period per cell) scaled to this budget is each cell's historical level:
    ``trust_region`` keeps every cell's average spend per period within that share of it, and ``held`` cells
    (booleans) at it (``held_mode`` hold) or at most at it (``no_raise``), within the caps."""
    bounds = bounds or {}
    labels = cell_labels(channels, panel)
    n, T = len(labels), len(weights)
    M = _mapping(weights, n, over_time)
    per = np.ones(T) if over_time else np.array([1.0])  # rows per period in over-time mode
    m = M.shape[1]
    lo, hi = np.zeros(m), np.full(m, np.inf)
    cell_of = np.tile(np.arange(n), len(per))  # variable -> cell
    scale = max(weights) if not over_time else 1.0
    for ch, (b_lo, b_hi) in bounds.items():
        mask = match_cells(channels, panel, ch, {}, f"optimization.bounds.{ch}")[cell_of]
        lo[mask], hi[mask] = np.maximum(lo[mask], b_lo), np.minimum(hi[mask], b_hi)
    capped = {}
    if observed_max is not None:
        cap = np.asarray(observed_max, float).ravel()[cell_of] / scale
        for c in np.flatnonzero(cap < hi):
            capped[labels[cell_of[c]]] = float(np.asarray(observed_max).ravel()[cell_of[c]])
        hi = np.minimum(hi, cap)
    rules = []
    if historical is not None and (trust_region is not None or held is not None):
        hist = np.asarray(historical, float).ravel()
        level = hist / max(hist.sum(), 1e-12) * budget  # each cell's historical share of this budget
        per_var = level[cell_of] / (1.0 if over_time else float(np.mean(weights)))  # in the variables' units
        if trust_region is not None:
            hi = np.minimum(hi, (1 + trust_region) * per_var)
            lo = np.minimum(np.maximum(lo, (1 - trust_region) * per_var), hi)
            rules.append(f"each cell within ±{trust_region:.0%} of its historical spend (optimization.trust_region: "
                         "null lifts it)")
        if held is not None and np.any(held):
            h = np.asarray(held, bool).ravel()[cell_of]
            hi[h] = np.minimum(per_var[h], hi[h])
            lo[h] = np.minimum(lo[h], hi[h]) if held_mode == "no_raise" else hi[h]
            how = "at most" if held_mode == "no_raise" else "held at"
            rules.append(f"{', '.join(sorted({labels[c] for c in cell_of[h]}))} {how} historical spend "
                         "(optimization.uninformed: free lifts it)")
    if never_spent is not None:  # a channel dark in a market: no evidence at all there, and no bound applies
        dark = np.asarray(never_spent, bool).ravel()[cell_of]
        lo[dark], hi[dark] = 0.0, 0.0
    total_row = np.ones(T * n) @ M / T  # average spend per period
    A_ub, b_ub, rows = _constraint_rows(channels, panel, constraints, M, T, over_time)
    A_eq, b_eq = np.zeros((0, m)), np.zeros(0)
    if budget_use == "exact":
        A_eq, b_eq = total_row[None], np.array([budget])
    else:
        A_ub, b_ub, rows = [*A_ub, total_row], [*b_ub, budget], [*rows, "budget (at most)"]
    return LinearProblem(M, lo, hi, A_eq, b_eq, np.array(A_ub).reshape(-1, m), np.array(b_ub, float), total_row,
                         float(budget), rows, capped, rules)


def _constraint_rows(channels: list[str], panel: dict[str, list], constraints: Sequence[ConstraintSpec], M: np.ndarray,
                     T: int, over_time: bool) -> tuple[list[np.ndarray], list[float], list[str]]:
    """``optimization.constraints`` as rows ``A_ub x <= b_ub`` on the variables (``M`` maps them to the window's
    spend per period and cell), each with the name of the constraint it came from."""
    n = M.shape[0] // T
    A_ub, b_ub, rows = [], [], []
    window_total = np.ones(T * n) @ M  # total spend over the window, per variable
    for i, con in enumerate(constraints):
        name = f"optimization.constraints[{i}]"
        mask = match_cells(channels, panel, con.channel, con.where, name)
        sel = np.tile(mask.astype(float), T) @ M  # window spend of the matched cells, per variable
        if con.type == "bounds":
            if over_time:  # per period
                blocks = [np.kron(np.eye(T)[t], mask.astype(float)) for t in range(T)]
            else:
                blocks = [sel / T]
            for row in blocks:
                if con.upper is not None:
                    A_ub.append(row)
                    b_ub.append(con.upper)
                    rows.append(f"{name} (bounds upper {con.upper:,.6g})")
                if con.lower is not None:
                    A_ub.append(-row)
                    b_ub.append(-con.lower)
                    rows.append(f"{name} (bounds lower {con.lower:,.6g})")
        elif con.type in ("min_share", "max_share"):
            row = sel - con.value * window_total
            sign = -1.0 if con.type == "min_share" else 1.0
            A_ub.append(sign * row)
            b_ub.append(0.0)
            rows.append(f"{name} ({con.type} {con.value:g})")
        else:
            other = match_cells(channels, panel, con.other, con.where, name)
            row = sel - con.value * (np.tile(other.astype(float), T) @ M)
            sign = 1.0 if con.type == "max_ratio" else -1.0
            A_ub.append(sign * row)
            b_ub.append(0.0)
            rows.append(f"{name} ({con.type} {con.value:g})")
    return A_ub, b_ub, rows


def _feasible(p: LinearProblem, keep: np.ndarray | None = None) -> bool:
    A_ub, b_ub = (p.A_ub, p.b_ub) if keep is None else (p.A_ub[keep], p.b_ub[keep])
    res = linprog(np.zeros(p.size), A_ub=A_ub if len(b_ub) else None, b_ub=b_ub if len(b_ub) else None,
                  A_eq=p.A_eq if len(p.b_eq) else None, b_eq=p.b_eq if len(p.b_eq) else None,
                  bounds=list(zip(p.lo, p.hi)), method="highs")
    return res.status == 0


def check_feasible(p: LinearProblem, budget: float, what: str = "optimization") -> None:
    """Raise :class:`InfeasibleError` naming the cause when no plan satisfies every rule."""
    if _feasible(p):
        return
    caps = "; ".join([f"{k} <= {v:,.0f} (the most it spent in one week; allow_extrapolation: true lifts this)"
                      for k, v in p.capped.items()] + p.rules)
    most, least = float(p.total @ p.hi), float(p.total @ p.lo)
    if len(p.b_eq) and most < budget * (1 - 1e-9):
        raise InfeasibleError(f"{what}: budget {budget:,.6g} per period is more than the bounds allow "
                              f"({most:,.6g})" + (f": {caps}" if caps else ""))
    if least > budget * (1 + 1e-9):
        raise InfeasibleError(f"{what}: budget {budget:,.6g} per period is less than the lower bounds need "
                              f"({least:,.6g})")
    culprits = [p.rows[i] for i in range(len(p.rows))
                if _feasible(p, np.array([j != i for j in range(len(p.rows))]))]
    hint = f"; dropping any one of {culprits} makes it feasible" if culprits else ""
    raise InfeasibleError(f"{what}: no plan meets the budget {budget:,.6g} per period and every constraint"
                          f"{hint}" + (f" (caps: {caps})" if caps else ""))
