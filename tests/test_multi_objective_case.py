"""A case with several targets on its budget page (``mmmhelpers.multi_objective_case``): the spend layout the params
ask for, the cross-evaluation and frontier tables, and the sentences on what the constraint costs and where the
historical split sits, from hand-made plans (3 draws each: a 94% HDI spans them all).

The algorithm (optima, constraint, frontier) is tested in tests/test_multi_objective.py; a whole case's run in
tests/test_multi_pipeline.py.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from mmmhelpers.multi_objective import ConstrainedOptimum, JointPlan, ParetoFront, TargetConstraint
from mmmhelpers.multi_objective_case import (
    CasePlans,
    constrained_sentence,
    cross_table,
    front_table,
    historical_sentence,
    spend_layout,
)

TITLES = {"new": "EU sign-ups", "re": "Re-engaged"}


def plan(new, re) -> JointPlan:
    """A plan of two channels whose targets' draws are ``new`` and ``re``."""
    return JointPlan(np.array([[3.0, 2.0]]), float(np.mean(new)), np.array(new, float), True, "",
                     targets={"new": np.array(new, float), "re": np.array(re, float)})


def case(constrained=None, front=None, cross=None, historical=None) -> CasePlans:
    """Maximize ``new`` (EU sign-ups); ``historical``: the targets' draws at the historical split."""
    joint = SimpleNamespace(channels=["x1", "x2"], panel={}, per_target=lambda _plan: historical)
    return CasePlans(joint, None, TITLES, "new", {}, plan([1.0] * 3, [1.0] * 3), np.array([[1.0, 1.0]]),
                     constrained, cross, front, 0.0)


def test_the_spend_layout_is_the_params_or_per_target_when_a_target_is_a_market():
    def params(spend, where):
        return SimpleNamespace(optimization=SimpleNamespace(multi_objective=SimpleNamespace(spend=spend)),
                               data=SimpleNamespace(dims=["geo"]), targets=[SimpleNamespace(where=w) for w in where])

    assert spend_layout(params("auto", [{}, {}])) == "shared"  # two columns of the same markets
    assert spend_layout(params("auto", [{"geo": "a"}, {"geo": "b"}])) == "per_target"  # one market each
    assert spend_layout(params("shared", [{"geo": "a"}, {"geo": "b"}])) == "shared"  # the params say it
    assert spend_layout(params("per_target", [{}, {}])) == "per_target"


def test_the_cross_table_says_each_targets_mean_interval_and_share_of_its_best():
    cross = pd.DataFrame({"plan": ["best for EU sign-ups", "historical split"],
                          "new_mean": [1234.4, 980.0], "new_hdi_lo": [1000.0, 900.0], "new_hdi_hi": [1500.0, 1060.5],
                          "new_share_of_best": [1.0, 0.794], "re_mean": [40.0, 51.25], "re_hdi_lo": [30.0, 45.0],
                          "re_hdi_hi": [50.0, 57.5], "re_share_of_best": [0.5, 0.64]}).set_index("plan")
    table = cross_table(case(cross=cross))
    assert list(table.columns) == ["plan", "EU sign-ups", "EU sign-ups: share of its best", "Re-engaged",
                                   "Re-engaged: share of its best"]
    assert table.to_dict("records") == [
        {"plan": "best for EU sign-ups", "EU sign-ups": "1,234 (1,000 to 1,500)", "EU sign-ups: share of its best": 1.0,
         "Re-engaged": "40 (30 to 50)", "Re-engaged: share of its best": 0.5},
        {"plan": "historical split", "EU sign-ups": "980 (900 to 1,060)", "EU sign-ups: share of its best": 0.794,
         "Re-engaged": "51.2 (45 to 57.5)", "Re-engaged: share of its best": 0.64}]


def constrained(binds: bool) -> ConstrainedOptimum:
    """Re-engaged at least 50: the plan gives 90, 100, 110 sign-ups and 50 re-engaged on average; without the
    floor 110, 120, 130 sign-ups (or, not binding, the same plan) and 30 (55) re-engaged; 80 reachable."""
    at = plan([90, 100, 110], [40, 50, 60])
    free = plan([110, 120, 130], [20, 30, 40]) if binds else plan([90, 100, 110], [45, 55, 65])
    return ConstrainedOptimum(at, "new", TargetConstraint("re", "at_least", 50.0), 50.0 if binds else 55.0, binds,
                              True, "", free, 80.0)


def test_a_binding_constraint_costs_the_objective_what_the_free_plan_gives_more():
    text = constrained_sentence(case(constrained(binds=True)), unit=" people")
    assert text == ("**EU sign-ups with Re-engaged ≥ 50:** 100 people (94% HDI 90 to 110), with Re-engaged at 50. "
                    "The constraint binds: without it the best plan for EU sign-ups reaches 120 people but leaves "
                    "Re-engaged at 30; holding the floor costs 16.7% of EU sign-ups. The most Re-engaged can reach "
                    "with this budget is 80.")  # 1 - 100 / 120


def test_a_constraint_that_does_not_bind_costs_nothing():
    text = constrained_sentence(case(constrained(binds=False)))
    assert text == ("**EU sign-ups with Re-engaged ≥ 50:** 100 (94% HDI 90 to 110), with Re-engaged at 55. The "
                    "constraint does not bind: the best plan for EU sign-ups alone already reaches it, so it costs "
                    "nothing.")


FRONT = pd.DataFrame({"Z": [30.0, 40.0, 50.0, 60.0],
                      "new_mean": [120.0, 115.0, 105.0, 90.0], "new_hdi_lo": [100.0, 95.0, 85.0, 70.0],
                      "new_hdi_hi": [140.0, 135.0, 125.0, 110.0],
                      "re_mean": [30.0, 40.0, 50.0, 60.0], "re_hdi_lo": [25.0, 35.0, 45.0, 55.0],
                      "re_hdi_hi": [35.0, 45.0, 55.0, 65.0],
                      "x1": [4000.0, 3000.0, 2000.0, 1e-10], "x2": [1000.0, 2000.0, 3000.0, 5000.0]})
"""A frontier from the objective's optimum (most sign-ups, fewest re-engaged) to re-engaged's own."""


def test_the_frontier_table_numbers_its_points_and_zeroes_float_dust():
    table = front_table(case(constrained(True), ParetoFront(FRONT, {})))
    assert list(table.columns) == ["point", "EU sign-ups", "Re-engaged", "x1", "x2"]
    assert list(table["point"]) == [1, 2, 3, 4]
    assert list(table["EU sign-ups"]) == ["120 (100 to 140)", "115 (95 to 135)", "105 (85 to 125)", "90 (70 to 110)"]
    assert list(table["Re-engaged"]) == ["30 (25 to 35)", "40 (35 to 45)", "50 (45 to 55)", "60 (55 to 65)"]
    assert list(table["x1"]) == [4000.0, 3000.0, 2000.0, 0.0]  # 1e-10 of a 5,000 plan: nothing
    assert list(table["x2"]) == [1000.0, 2000.0, 3000.0, 5000.0]


def test_the_historical_split_against_the_frontier_at_its_own_level_of_the_constrained_target():
    def sentence(re):
        hist = {"new": np.array([95.0, 100.0, 105.0]), "re": np.array(re)}
        return historical_sentence(case(constrained(True), ParetoFront(FRONT, {}), historical=hist))

    head = "The historical split gives 100 (EU sign-ups) and {} (Re-engaged)."
    assert sentence([43.0, 45.0, 47.0]) == head.format(45) + (  # halfway between 115 at 40 and 105 at 50: 110
        " The frontier plan with the same level of Re-engaged gives 110 (EU sign-ups, +10.0%): the same budget, "
        "split differently.")
    assert sentence([20.0, 20.0, 20.0]) == head.format(20) + (  # below the frontier's least re-engaged
        " The best plan for EU sign-ups gives 120 (+20.0%) and 30 (Re-engaged): more of both.")
    assert sentence([70.0, 70.0, 70.0]) == head.format(70) + (
        " No plan of this budget reaches that much Re-engaged (see the caps and rules above).")
