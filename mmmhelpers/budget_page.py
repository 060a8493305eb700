"""The budget page's words and tables: the plan's headline, the rules that held it, the per-cell table, scenarios,
alternatives, constraints and the target sentence (``allocation.json`` in, text and frames out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmmhelpers.artifacts import Allocation, PlanComparison
from mmmhelpers.formatting import plain_number
from mmmhelpers.intervals import LIKELY, as_probability

__all__ = ["robustness_sentence", "allocation_headline", "where_money_moves", "plan_table", "target_sentence",
           "alternatives_table", "compared_plan_sentence", "compared_plan_table",
           "constraint_table", "scenario_table", "GUARD_WORDS", "EXTRAPOLATION_WORDS", "HELD_OUT_WORDS"]


def _hdi(r) -> str:
    return f"94% HDI {r.hdi_94[0]:,.0f} to {r.hdi_94[1]:,.0f}"


GUARD_WORDS = ("The guard caps each cell's spend in every period of the plan at the most that cell spent in one period "
               "of the data; it does not keep spend above the least the data saw.")
EXTRAPOLATION_WORDS = ("Extrapolation allowed (optimization.allow_extrapolation: true): the plan may spend more in a cell "
                       "than the data ever saw there, where its response is the model's extrapolation, not evidence.")
HELD_OUT_WORDS = ("scored on posterior draws not used to choose the plan (plans chosen on one half of the draws, "
                  "scored on the other)")


def where_money_moves(alloc: Allocation) -> str:
    """The default rules that keep a plan where the data can tell, in words, with what lifts each."""
    rules = []
    if alloc.trust_region:
        rules.append(f"each channel stays within ±{alloc.trust_region:.0%} of its historical spend per period (scaled "
                     "to this budget): further away the plan would rest on spend levels the data barely saw "
                     "(`optimization.trust_region: null` lifts this)")
    if alloc.held:
        names = " and ".join(alloc.held)
        one = len(alloc.held) == 1
        how = "kept at or below" if alloc.held_mode == "no_raise" else "held at"
        rules.append(f"{names} {'is' if one else 'are'} {how} historical spend because the data say little about "
                     f"{'its' if one else 'their'} ROAS (the fit page's prior-vs-posterior table); an experiment there "
                     "(`model.experiments`), a lift test, or a prior from an earlier study on its ROAS, marginal ROAS "
                     "or cost per KPI (`model.roas_priors`, `mroas_priors`, `cost_per_kpi_priors`) would release it "
                     "(`optimization.uninformed: free` lifts this rule)")
    return "; ".join(rules) + "." if rules else ""


def allocation_headline(alloc: Allocation, currency: str = "", target_label: str = "") -> str:
    """The optimize page's first paragraph: the plan's response against the historical split, paired, and
    what the window counts; amounts in ``currency`` (e.g. EUR), responses in ``target_label`` (e.g. sales)."""
    best, base, gain = alloc.response, alloc.initial.response, alloc.initial.gain
    spend = "at most" if alloc.budget_use == "at_most" else ""
    budget = f"{currency} {alloc.budget_per_period:,.6g}".strip()
    what = f" ({target_label})" if target_label and target_label != "units of the target" else ""
    text = (f"**Optimal plan for {spend} {budget} per period over {alloc.num_periods} periods:** "
            f"expected incremental response{what} {best.mean:,.0f} ({_hdi(best)}) vs {base.mean:,.0f} for the historical "
            f"split ({alloc.gain:+.1%}).").replace("for  ", "for ")
    if gain is not None:
        text += (f" Paired draw by draw, the gain is {gain.mean:,.0f} ({_hdi(gain)}); the optimal plan wins in "
                 f"{as_probability(gain.prob_positive)} of posterior draws.")
        if gain.held_out and alloc.initial.gain_in_sample is not None:
            text += (f" Both are {HELD_OUT_WORDS}; scored on the draws that chose it, the gain would read "
                     f"{alloc.initial.gain_in_sample.mean:,.0f} ({as_probability(alloc.initial.gain_in_sample.prob_positive)}), "
                     "optimistic by construction.")
    if alloc.equal is not None and alloc.equal.gain is not None:
        g = alloc.equal.gain
        text += f" Against an equal split it gains {g.mean:,.0f} ({_hdi(g)}; wins in {as_probability(g.prob_positive)} of draws)."
    if alloc.window is not None:
        text += f"\n\n**Window:** {alloc.window.description}"
        if alloc.response_window is not None and alloc.response_tail is not None:
            text += (f" Of the plan's response, {alloc.response_window.mean:,.0f} falls inside the window and "
                     f"{alloc.response_tail.mean:,.0f} in the tail.")
        if alloc.carryover_in is not None:
            text += (f" Spend before the window still adds {alloc.carryover_in.mean:,.0f} inside it whatever the plan "
                     "(not counted in the plan's response).")
    held = [c for c in alloc.capped if c.get("binding", True)]
    if held:
        cells = ", ".join(f"{c['cell']} (at most {c['observed_max_per_period']:,.0f})" for c in held)
        text += (f"\n\n**Held to the spend the data saw:** {cells}. {GUARD_WORDS} These cells reach their cap: "
                 "the model has no evidence beyond it (`optimization.allow_extrapolation: true` lifts this).")
    if alloc.extrapolation_allowed:
        text += f"\n\n**{EXTRAPOLATION_WORDS}**"
    rules = where_money_moves(alloc)
    if rules:
        text += f"\n\n**Where the plan may move money:** {rules}"
    if alloc.response_with_noise is not None:
        r = alloc.response_with_noise
        text += f"\n\n**With noise on the planned spend**, the response is {r.mean:,.0f} ({_hdi(r)})."
    return text


def plan_table(alloc: Allocation, kpi_type: str = "revenue") -> pd.DataFrame:
    """Per cell: spend, response (mean, HDI), ROAS and mROAS of the historical split and of the optimal plan; a
    ``count`` KPI adds the cost per unit of the response (spend over the mean response: one over the ROAS); channels
    bought in units add the units the spend buys per period."""
    rows = []
    for hist, best in zip(alloc.initial.allocation, alloc.allocation):
        row: dict[str, Any] = {"channel": best.label}
        for label, rec in [("historical", hist), ("optimal", best)]:
            roas = rec.roas if rec.roas is not None else np.nan
            row |= {f"{label} spend": rec.spend_per_period,
                    f"{label} response": rec.response.mean if rec.response is not None else np.nan,
                    f"{label} ROAS": roas, f"{label} mROAS": rec.mroas if rec.mroas is not None else np.nan}
            if any(c.units_per_period is not None for c in alloc.allocation):  # channels bought in units
                row[f"{label} units"] = rec.units_per_period if rec.units_per_period is not None else np.nan
            if kpi_type == "count":
                row[f"{label} cost per KPI"] = 1.0 / roas if roas > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def compared_plan_sentence(cp: PlanComparison, currency: str = "") -> str:
    """The given plan (``optimization.compare_plan``) against the best plan at its budget, in words."""
    money = f"{currency} " if currency else ""
    g = cp.gain
    verdict = (f"the best plan beats it in {as_probability(g.prob_positive)} of posterior draws"
               if g.prob_positive >= LIKELY else f"the best plan beats it in only {as_probability(g.prob_positive)} "
               "of posterior draws: the data do not say the given plan can be improved")
    failed = f" (optimizer: {cp.solver})" if cp.solver and cp.solver != "ok" else ""
    return (f"**The given plan (`{cp.source}`):** {money}{cp.budget_per_period:,.0f} per period over "
            f"{cp.num_periods} periods, spent period by period as written; expected incremental response "
            f"{cp.response.mean:,.0f} ({_hdi(cp.response)}). The best plan at the same budget under this page's rules "
            f"reaches {cp.best_response.mean:,.0f}{failed}: a paired gain of {g.mean:,.0f} ({_hdi(g)}), scored on draws "
            f"that did not choose it; {verdict}.")


def compared_plan_table(cp: PlanComparison) -> pd.DataFrame:
    """Per cell: the given plan's mean spend per period and the best plan's at the same budget."""
    return pd.DataFrame([{"channel": given.label, "given plan": given.spend_per_period,
                          "best plan": best.spend_per_period}
                         for given, best in zip(cp.allocation, cp.best_allocation)])


def target_sentence(alloc: Allocation) -> str | None:
    """The target budget result in words, or None."""
    t = alloc.target
    if t is None:
        return None
    what = {"response": f"a mean incremental response of {plain_number(t.value)}",
            "roas": f"a ROAS of at least {plain_number(t.value)}",
            "mroas": f"a marginal ROAS of at least {plain_number(t.value)}",
            "cost_per_kpi": f"a cost of at most {plain_number(t.value)} per unit of the target"}[t.type]
    how = "least" if t.type == "response" else "largest"
    achieved = "" if t.type == "response" else f"achieved {plain_number(t.achieved)}; "  # a response target: below
    return (f"**Target:** the {how} budget whose optimal plan reaches {what} is **{t.budget_per_period:,.6g} per "
            f"period** ({achieved}response {t.response.mean:,.0f}, {_hdi(t.response)}).")


def alternatives_table(alloc: Allocation) -> pd.DataFrame:
    """Each named alternative plan: budget, split, response and its paired gain over the historical split."""
    rows = []
    for a in alloc.alternatives:
        split = {c: r.spend_per_period for c, r in zip(alloc.cells, a.allocation)}
        g = a.gain_over_historical
        rows.append({"plan": a.name, "budget per period": a.budget_per_period, **split, "response": a.response.mean,
                     "HDI 3%": a.response.hdi_94[0], "HDI 97%": a.response.hdi_94[1],
                     "gain vs historical": g.mean, "P(gain > 0)": g.prob_positive, "optimizer": a.solver or "ok"})
    return pd.DataFrame(rows)


def constraint_table(alloc: Allocation) -> pd.DataFrame:
    """The constraints of the plan as given in the params, one row each."""
    rows = [{"rule": c["type"], "channel": c.get("channel", "all"), "where": str(c.get("where", "")) or "",
             "value": c.get("value", ""), "lower": c.get("lower", ""), "upper": c.get("upper", "")}
            for c in alloc.constraints]
    return pd.DataFrame(rows)


def scenario_table(alloc: Allocation) -> pd.DataFrame:
    """Budget scenarios of ``allocation.json`` as a table (the planned budget included)."""
    rows = [(1.0, alloc.response, "ok")] + [(s.multiplier, s.response, s.solver or "ok") for s in alloc.scenarios]
    budget = alloc.budget_per_period
    df = pd.DataFrame([{"budget multiplier": m, "budget per period": m * budget, "expected response": r.mean,
                        "HDI 3%": r.hdi_94[0], "HDI 97%": r.hdi_94[1], "optimizer": how} for m, r, how in rows])
    return df.sort_values("budget multiplier").reset_index(drop=True)


def robustness_sentence(table: pd.DataFrame) -> str:
    """Does the win hold under every model of the case, or which model's assumptions does it rest on."""
    weak = table[table["P(gain > 0)"] < LIKELY]
    lo, hi = table["P(gain > 0)"].min(), table["P(gain > 0)"].max()
    if weak.empty:
        return (f"The plan wins under every model of the case (P(gain > 0) from {as_probability(lo)} to "
                f"{as_probability(hi)}): the win does "
                "not rest on one model's assumptions.")
    names = ", ".join(f"{r['model']} ({as_probability(r['P(gain > 0)'])})" for _, r in weak.iterrows())
    return (f"The win is not robust: under {names} the plan is not likely to beat the historical split "
            f"(P(gain > 0) below {LIKELY:.0%}); it rests on the assumptions the other models make.")
