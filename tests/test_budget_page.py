"""The budget page's words and tables (``mmmhelpers.budget_page``) from hand-made ``Allocation`` records: the headline,
the target sentence, the plan table of a count KPI, a failed solve flagged beside its number.

Also here elsewhere: tests/test_summary.py::test_allowed_extrapolation_is_said_on_the_budget_page_and_in_the_summary
(the headline's extrapolation and guard words beside the summary's), and in tests/test_optimize.py
``test_trust_region_and_hold_rule_are_exact_and_the_optimum_matches_brute_force`` (``where_money_moves`` words).
"""

import numpy as np
import pytest
from test_artifacts import ALLOC

from mmmhelpers.artifacts import Allocation
from mmmhelpers.budget_page import HELD_OUT_WORDS, allocation_headline, where_money_moves


def test_the_headline_quotes_the_records_numbers():
    """The plan's budget, response and gain over the historical split, the paired gain held out and in sample, the
    equal split and the window's split as the record gives them; no guard paragraph when no cap binds."""
    alloc = Allocation.model_validate(ALLOC)
    text = allocation_headline(alloc, currency="EUR", target_label="sales")
    best, base, gain = alloc.response, alloc.initial.response, alloc.initial.gain
    assert text.startswith(f"**Optimal plan for EUR {alloc.budget_per_period:,.0f} per period over "
                           f"{alloc.num_periods} periods:** expected incremental response (sales) {best.mean:,.0f}")
    assert f"vs {base.mean:,.0f} for the historical split ({best.mean / base.mean - 1:+.1%})" in text
    assert f"the gain is {gain.mean:,.0f} (94% HDI {gain.hdi_94[0]:,.0f} to {gain.hdi_94[1]:,.0f})" in text
    assert HELD_OUT_WORDS in text and f"would read {alloc.initial.gain_in_sample.mean:,.0f}" in text
    assert f"Against an equal split it gains {alloc.equal.gain.mean:,.0f}" in text
    assert (f"{alloc.response_window.mean:,.0f} falls inside the window and {alloc.response_tail.mean:,.0f} in the "
            "tail") in text
    assert "Held to the spend the data saw" not in text  # the record's one cap does not bind
    assert text.endswith(f"**Where the plan may move money:** {where_money_moves(alloc)}")
    assert where_money_moves(alloc).startswith(f"each channel stays within ±{alloc.trust_region:.0%} of its")


@pytest.mark.parametrize("kind, value, achieved", [("response", 41562.3, 41562.3), ("roas", 1.5, 1.52)])
def test_target_sentence_has_no_scientific_notation(kind, value, achieved):
    from mmmhelpers.artifacts import Allocation, TargetResult
    from mmmhelpers.budget_page import target_sentence

    target = TargetResult(type=kind, value=value, budget_per_period=1.98371, achieved=achieved, allocation=[],
                          response={"mean": 41562.3, "hdi_94": [38495.0, 44600.0]})
    text = target_sentence(Allocation.model_construct(target=target))
    assert "e+" not in text and "41,562" in text and "1.98371 per period" in text
    assert ("achieved" in text) == (kind != "response")  # a response target's achieved value is its response


def test_the_plan_table_gives_the_cost_per_kpi_of_each_plan():
    from mmmhelpers.artifacts import PlanCell
    from mmmhelpers.budget_page import plan_table

    class Alloc:
        initial = type("I", (), {"allocation": [PlanCell(channel="tv", spend_per_period=100.0, roas=0.5,
                                                         response={"mean": 650.0, "hdi_94": [600.0, 700.0]})]})()
        allocation = [PlanCell(channel="tv", spend_per_period=120.0, roas=0.4,
                               response={"mean": 624.0, "hdi_94": [580.0, 670.0]})]

    table = plan_table(Alloc(), "count").iloc[0]
    assert table["historical cost per KPI"] == pytest.approx(2.0) and \
        table["optimal cost per KPI"] == pytest.approx(2.5)
    assert "optimal cost per KPI" not in plan_table(Alloc())


def test_a_failed_solve_is_flagged_beside_its_number():
    from test_artifacts import ALLOC

    from mmmhelpers.artifacts import Allocation
    from mmmhelpers.budget_page import alternatives_table, scenario_table
    from mmmhelpers.optimize import Plan, solver_status

    assert solver_status(Plan(np.zeros((1, 2)), 0.0, np.zeros(3), False, "Iteration limit reached")) == \
        "FAILED: Iteration limit reached"
    raw = {**ALLOC, "scenarios": [{**ALLOC["scenarios"][0], "solver": "FAILED: Iteration limit reached"}]}
    alloc = Allocation.model_validate(raw)
    assert scenario_table(alloc).set_index("budget multiplier").loc[0.5, "optimizer"].startswith("FAILED")
    assert alternatives_table(alloc).loc[0, "optimizer"] == "FAILED: Iteration limit reached"
