"""Figures of the budget page: plan vs baselines, response curves with mROAS, response over time, scenarios."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from mmmhelpers.artifacts import Allocation, PlanCell
from mmmhelpers.plots import ALERT, MODEL, THOUSANDS, UNITS, cell_colors, finish, hdi_band, legend_outside, plan_color

__all__ = ["plot_allocation", "plot_scenarios", "plot_response_curves", "plot_response_over_time",
           "plot_spend_over_time", "plot_target_plans", "plot_frontier", "plot_stability"]


def _frame(recs: list[PlanCell], label: str) -> pd.DataFrame:
    df = pd.DataFrame([r.model_dump() for r in recs])
    df["cell"] = [r.label for r in recs]
    df["plan"] = label
    return df


def plot_allocation(alloc: Allocation):
    """Spend per period by channel (and panel coordinate): the optimal plan against the baselines."""
    frames = [_frame(alloc.initial.allocation, "historical split")]
    if alloc.equal is not None:
        frames.append(_frame(alloc.equal.allocation, "equal split"))
    df = pd.concat([*frames, _frame(alloc.allocation, "optimal")])
    fig, ax = plt.subplots(figsize=(9, 0.6 * df["cell"].nunique() * len(frames) + 2))
    sns.barplot(df, y="cell", x="spend_per_period", hue="plan", ax=ax, orient="h",
                palette={p: plan_color(p) for p in df["plan"].unique()})
    ax.set(title="Budget per period: optimal plan vs baselines", xlabel=f"spend per period ({UNITS['currency']})",
           ylabel="channel")
    ax.xaxis.set_major_formatter(THOUSANDS)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), frameon=False, title=None)
    fig.tight_layout()
    return fig


def plot_scenarios(alloc: Allocation):
    """Expected response (94% HDI) of the optimal allocation at each budget multiplier."""
    budget = alloc.budget_per_period
    points = [(s.budget_per_period, s.response) for s in alloc.scenarios] + [(budget, alloc.response)]
    df = pd.DataFrame([{"budget": b, "mean": r.mean, "lo": r.hdi_94[0], "hi": r.hdi_94[1]} for b, r in points])
    df = df.sort_values("budget")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.fill_between(df["budget"], df["lo"], df["hi"], alpha=0.25, color=MODEL, label="94% HDI")
    ax.plot(df["budget"], df["mean"], "o-", color=MODEL, label="posterior mean")
    ax.axvline(budget, color="grey", ls="--", lw=1, label="planned budget")
    ax.set(title="Response at the optimal allocation vs budget", xlabel=f"budget per period ({UNITS['currency']})",
           ylabel=f"incremental response ({UNITS['target']})")
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.yaxis.set_major_formatter(THOUSANDS)
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_response_curves(curves: xr.Dataset, alloc: Allocation | None = None, max_cols: int = 4):
    """Per cell: response (top) and marginal ROAS (bottom) vs spend per period, mean and 94% HDI, with the range
    the data saw shaded and the historical and optimal spends marked."""
    cells = list(curves["cell"].values)
    cols = min(len(cells), max_cols)
    blocks = int(np.ceil(len(cells) / cols))
    fig, axes = plt.subplots(2 * blocks, cols, figsize=(4.2 * cols, 6.2 * blocks), squeeze=False, sharex="col")
    marks = {}
    if alloc is not None:
        for label, recs, style in [("historical", alloc.initial.allocation, "s"), ("optimal", alloc.allocation, "o")]:
            marks[label] = ({r.label: r.spend_per_period for r in recs}, style)
    colors = dict(zip(cells, cell_colors(cells)))  # one colour per channel, as elsewhere
    for i, cell in enumerate(cells):
        c = curves.sel(cell=cell)
        color = colors[cell]
        x = c["spend_per_period"].values
        for row, (name, ylabel) in enumerate([("response", f"incremental response\n({UNITS['target']})"),
                                              ("mroas", f"marginal ROAS\n({UNITS['target']} per {UNITS['per_currency']})")]):
            ax = axes[2 * (i // cols) + row, i % cols]
            ax.axvspan(float(c["observed_min"]), float(c["observed_max"]), color="grey", alpha=0.12,
                       label="spend range in the data")
            ax.fill_between(x, c[f"{name}_lo"], c[f"{name}_hi"], alpha=0.3, color=color, label="94% HDI")
            ax.plot(x, c[name], color=color, label="posterior mean")
            for label, (where, marker) in marks.items():
                if cell in where:
                    ax.plot(where[cell], np.interp(where[cell], x, c[name]), marker, color="black" if label == "optimal"
                            else "grey", ms=7, label=f"{label} spend")
            ax.set(xlabel=f"spend per period ({UNITS['currency']})" if row else "", ylabel=ylabel if i % cols == 0 else "",
                   title=cell if row == 0 else "")
            ax.xaxis.set_major_formatter(THOUSANDS)
            if row == 0:
                ax.yaxis.set_major_formatter(THOUSANDS)
    for j in range(len(cells), blocks * cols):
        for row in (0, 1):
            axes[2 * (j // cols) + row, j % cols].set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=8)
    fig.suptitle(f"Response curves over a {curves.attrs.get('num_periods', '')}-period plan", fontweight="bold")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig


def plot_response_over_time(over_time: dict[str, np.ndarray], num_periods: int):
    """Incremental response per period of each plan (the optimal plan's with its 94% HDI); the tail shaded."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for label, draws in over_time.items():
        t = np.arange(1, draws.shape[1] + 1)
        optimal = label.startswith("optimal")
        if optimal:  # one band: the baselines' bands would hide it (their paired gains are in the table)
            lo, hi = hdi_band(draws)
            ax.fill_between(t, lo, hi, alpha=0.2, color=plan_color(label), label="optimal plan 94% HDI")
        ax.plot(t, draws.mean(0), color=plan_color(label), ls="-" if optimal else "--" if "historical" in label else ":",
                lw=2 if optimal else 1.5, label=label)
    ax.axvspan(num_periods + 0.5, t[-1] + 0.5, color="grey", alpha=0.12, label="tail (carryover after the plan)")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set(title="Incremental response per period of each plan", xlabel="period of the plan",
           ylabel=f"incremental response ({UNITS['target']})")
    return finish(ax)


def plot_spend_over_time(alloc: Allocation):
    """Planned spend per period and cell (patterned or optimized over time), stacked."""
    spend = np.asarray(alloc.spend_by_period)
    t = np.arange(1, spend.shape[0] + 1)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.stackplot(t, spend.T, labels=alloc.cells, colors=cell_colors(alloc.cells), alpha=0.85)
    ax.set(title="Planned spend per period", xlabel="period of the plan", ylabel=f"spend ({UNITS['currency']})")
    return finish(ax)


def plot_target_plans(cp):
    """Spend per period of each cell under each plan of a case with several targets (``multi_objective.CasePlans``)."""
    from mmmhelpers.constraints import cell_labels

    cells = cell_labels(cp.joint.channels, cp.joint.panel)
    df = pd.DataFrame([{"plan": plan, "cell": c, "spend": v} for plan, spend in cp.plans.items()
                       for c, v in zip(cells, np.ravel(spend))])
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(cells) * len(cp.plans) + 1.8))
    sns.barplot(df, y="cell", x="spend", hue="plan", ax=ax, orient="h", palette="colorblind")
    ax.set(title="Spend per period of each plan", xlabel=f"spend per period ({UNITS['currency']})", ylabel="channel")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), frameon=False, title=None)
    fig.tight_layout()
    return fig


def plot_frontier(cp, unit: str = ""):
    """The Pareto frontier of a case with several targets: the objective against the constrained target's response
    (posterior means, 94% HDI bars), both single-objective optima, the constrained plan, the historical split and
    the constraint's level."""
    from mmmhelpers.multi_objective import target_label, weighted_draws

    t, a, b = cp.front.table, target_label(cp.maximize), cp.constrained.constraint.target
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    ax.fill_between(t[f"{b}_mean"], t[f"{a}_hdi_lo"], t[f"{a}_hdi_hi"], color=MODEL, alpha=0.15,
                    label=f"94% HDI of {cp.objective_label}")
    ax.fill_betweenx(t[f"{a}_mean"], t[f"{b}_hdi_lo"], t[f"{b}_hdi_hi"], color="C2", alpha=0.12,
                     label=f"94% HDI of {cp.titles[b]}")
    ax.plot(t[f"{b}_mean"], t[f"{a}_mean"], "o-", color=MODEL, ms=4, lw=1.5, label="frontier (posterior means)")
    marks = [(f"best for {cp.objective_label}", cp.objective, "*", "C1"),
             (f"best for {cp.titles[b]}", cp.best[b], "*", "C2"),
             ("constrained plan", cp.constrained.plan, "D", "C3")]
    for label, plan, marker, color in marks:
        ax.plot(plan.targets[b].mean(), weighted_draws(plan, cp.maximize).mean(), marker, color=color, ms=13,
                mec="black", label=label, zorder=5)
    hist = cp.joint.per_target(cp.historical)
    ax.plot(hist[b].mean(), sum(w * hist[n] for n, w in
                                ({a: 1.0} if isinstance(cp.maximize, str) else cp.maximize).items()).mean(),
            "X", color="0.3", ms=11, label="historical split", zorder=5)
    ax.axvline(cp.constrained.constraint.value, color="0.4", ls="--", lw=1,
               label=f"constraint: {cp.titles[b]} {'≥' if cp.constrained.constraint.kind == 'at_least' else '='} "
                     f"{cp.constrained.constraint.value:g}")
    n = cp.joint.num_periods
    ax.set(title=f"Pareto frontier: {cp.objective_label} vs {cp.titles[b]}",
           xlabel=f"{cp.titles[b]} over the {n} periods{unit}", ylabel=f"{cp.objective_label} over the {n} periods{unit}")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_stability(roas: pd.DataFrame, refits: list[str], unit: str = "period"):
    """Each channel's ROAS: this report's mean and 94% HDI, and each refit's estimate without its last periods
    (``roas``: ``Stability.roas_frame``; ``refits``: its refit columns; ``unit``: what one refit step leaves out)."""
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(roas) + 1.6))
    y = np.arange(len(roas))
    ax.hlines(y, roas["ROAS 3%"], roas["ROAS 97%"], color=MODEL, lw=6, alpha=0.35, label="this report: 94% HDI")
    ax.plot(roas["ROAS"], y, "o", color=MODEL, label="this report: mean")
    for k, col in enumerate(refits):
        ax.plot(roas[col], y + 0.12 * (k + 1 - (len(refits) + 1) / 2), "x", ms=6,
                color=ALERT if k == 0 else "0.35", label=f"refits (without the last 1, 2, ... {unit}s)" if k == 0 else None)
    ax.set_yticks(y, roas["channel"])
    ax.invert_yaxis()
    ax.set(title="How far each ROAS moves when the last periods are left out",
           xlabel=f"ROAS ({UNITS['target']} per {UNITS['per_currency']} spent)", ylabel="channel")
    legend_outside(ax)
    fig.tight_layout()
    return fig
