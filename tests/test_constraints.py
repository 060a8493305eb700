"""Budget rules as one linear system (``mmmhelpers.constraints``): the rows of a rule by hand, the cells a rule
matches, each constraint type against a filtered brute-force grid, and infeasible problems named by their cause.

Tests of this module that stay beside the code they mostly test: in tests/test_optimize.py,
``test_trust_region_and_hold_rule_are_exact_and_the_optimum_matches_brute_force`` (the trust region's and the hold
rule's bounds, through ``plan_problem``) and ``test_a_channel_dark_in_one_market_gets_no_spend_in_any_plan`` (a cell
never spent pinned at 0); in tests/test_artifacts.py, ``test_a_plan_records_cell_is_named_as_the_constraints_name_it``
(``cell_labels`` against a plan record's label).
"""

import numpy as np
import pytest
from conftest import BUDGET

from mmmhelpers.config import ConstraintSpec
from mmmhelpers.constraints import InfeasibleError, build_problem, cell_labels, check_feasible, match_cells
from mmmhelpers.optimize import optimize_budget, problem_for


def test_a_share_rule_and_the_budget_are_rows_of_the_linear_system():
    """Two channels, a two-period pattern (weights 2 and 1): the budget is the average spend per period, the share
    rule compares the window's spend of x2 with the value times the window's total; both rows by hand."""
    con = ConstraintSpec(type="min_share", channel="x2", value=0.6)
    weights = [2.0, 1.0]
    p = build_problem(["x1", "x2"], {}, BUDGET, weights, constraints=[con])
    window = sum(weights)  # the window's spend of a cell per unit of its variable
    np.testing.assert_allclose(p.M, [[2, 0], [0, 2], [1, 0], [0, 1]])  # (period, cell) x variable
    np.testing.assert_allclose(p.A_eq, [[window / len(weights)] * 2])
    np.testing.assert_allclose(p.b_eq, [BUDGET])
    # x2's window spend >= value * window total  <=>  value * window * v1 + (value - 1) * window * v2 <= 0
    np.testing.assert_allclose(p.A_ub, [[con.value * window, (con.value - 1) * window]])
    np.testing.assert_allclose(p.b_ub, [0.0])
    assert p.rows == [f"optimization.constraints[0] ({con.type} {con.value:g})"]
    check_feasible(p, BUDGET)  # x2 alone meets it: no error
    x2_off = build_problem(["x1", "x2"], {}, BUDGET, weights, constraints=[con], bounds={"x2": (0.0, 0.0)})
    with pytest.raises(InfeasibleError, match=r"dropping any one of \['optimization.constraints\[0\]"):
        check_feasible(x2_off, BUDGET)


def test_a_rule_matches_the_cells_of_its_channel_and_market():
    panel = {"geo": ["a", "b"]}
    channels = ["x1", "x2"]
    assert cell_labels(channels, panel) == ["x1 @ a", "x2 @ a", "x1 @ b", "x2 @ b"]
    assert match_cells(channels, panel, "x2", {"geo": "b"}, "rule").tolist() == [False, False, False, True]
    assert match_cells(channels, panel, None, {"geo": "a"}, "rule").tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match=r"rule.where: unknown dim 'market' \(panel dims: \['geo'\]\)"):
        match_cells(channels, panel, "x1", {"market": "a"}, "rule")
    with pytest.raises(ValueError, match=r"rule.where.geo: unknown value 'c'"):
        match_cells(channels, panel, "x1", {"geo": "c"}, "rule")


def _grid_best(rm, budget, keep):
    grid = np.linspace(0, budget, 4001)
    ok = [g for g in grid if keep(np.array([g, budget - g]))]
    values = [rm.draws(np.array([g, budget - g])).mean() for g in ok]
    return ok[int(np.argmax(values))], max(values)


@pytest.mark.parametrize("con, keep", [
    (ConstraintSpec(type="min_share", channel="x2", value=0.6), lambda x: x[1] >= 0.6 * x.sum() - 1e-9),
    (ConstraintSpec(type="max_share", channel="x1", value=0.2), lambda x: x[0] <= 0.2 * x.sum() + 1e-9),
    (ConstraintSpec(type="max_ratio", channel="x1", other="x2", value=0.5), lambda x: x[0] <= 0.5 * x[1] + 1e-9),
    (ConstraintSpec(type="min_ratio", channel="x2", other="x1", value=3.0), lambda x: x[1] >= 3 * x[0] - 1e-9),
    (ConstraintSpec(type="bounds", channel="x1", lower=6500.0), lambda x: x[0] >= 6500 - 1e-9),
], ids=["min_share", "max_share", "max_ratio", "min_ratio", "bounds-constraint"])
def test_each_constraint_type_matches_a_filtered_grid(rm6, con, keep):
    res = optimize_budget(rm6, problem_for(rm6, BUDGET, constraints=[con]))
    x = res.per_period
    assert keep(x + np.array([0, 0])) or keep(x)  # holds (to 1e-6 of the budget below)
    best_x1, best_value = _grid_best(rm6, BUDGET, keep)
    assert res.value >= best_value - 1e-6 * abs(best_value)
    assert x[0] == pytest.approx(best_x1, abs=BUDGET / 2000 + 1e-6)
    assert x.sum() == pytest.approx(BUDGET, abs=1e-6 * BUDGET)


def test_infeasible_problems_are_clear_errors(rm6):
    with pytest.raises(InfeasibleError, match="more than the bounds allow"):
        optimize_budget(rm6, problem_for(rm6, BUDGET, bounds={"x1": (0, 1000), "x2": (0, 1000)}))
    with pytest.raises(InfeasibleError, match="less than the lower bounds need"):
        optimize_budget(rm6, problem_for(rm6, BUDGET, bounds={"x1": (5000, 9000), "x2": (5000, 9000)}))
    cons = [ConstraintSpec(type="min_share", channel="x1", value=0.7), ConstraintSpec(type="min_share", channel="x2",
                                                                                       value=0.7)]
    with pytest.raises(InfeasibleError, match="dropping any one of"):
        optimize_budget(rm6, problem_for(rm6, BUDGET, constraints=cons))
    with pytest.raises(ValueError, match="unknown channel 'tv'"):
        problem_for(rm6, BUDGET, bounds={"tv": (0, 1000)})
