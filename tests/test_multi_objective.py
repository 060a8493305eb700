"""Multi-objective optimization: two known-parameter targets, constrained optima and the Pareto front vs brute force."""

import re
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import MODEL_VARS, idata_from_truth

from mmmhelpers.constraints import InfeasibleError
from mmmhelpers.model import build_model
from mmmhelpers.multi_objective import (
    JointResponse,
    TargetConstraint,
    best_for,
    constrained_optimum,
    cross_evaluation,
    pareto_front,
    reachable,
)
from mmmhelpers.optimize import ResponseConstraint, optimize_budget, problem_for, response_model

BUDGET = 15000.0  # both targets' optima are interior at this budget, on different channels


@pytest.fixture(scope="module")
def models(single_market, truth_model_spec):
    """``new``: the truth with draws of different saturation; ``re``: x1 weak and slow to saturate, x2 strong."""
    data, truth = single_market
    mmm = build_model(truth_model_spec, data)
    new = idata_from_truth(truth, MODEL_VARS, n_draws=3)
    new.posterior["saturation_lam"] = new.posterior["saturation_lam"] * np.array([0.7, 1.0, 1.4])[None, :, None]
    re_ = new.copy()
    re_.posterior["saturation_lam"] = re_.posterior["saturation_lam"] * np.array([0.5, 1.5])
    re_.posterior["saturation_beta"] = re_.posterior["saturation_beta"] * np.array([0.4, 2.5])
    return {name: response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3, carryover_history=False)
            for name, idata in [("new", new), ("re", re_)]}


@pytest.fixture(scope="module")
def joint(models):
    return JointResponse.same_cells(models)


@pytest.fixture(scope="module")
def problem(joint):
    return problem_for(joint, BUDGET)


@pytest.fixture(scope="module")
def grid(joint):
    """Mean response of each target for x1 = g, x2 = BUDGET - g on a fine grid (the whole budget simplex)."""
    x1 = np.linspace(0, BUDGET, 3001)
    means = [joint.per_target(np.array([g, BUDGET - g])) for g in x1]
    return x1, np.array([m["new"].mean() for m in means]), np.array([m["re"].mean() for m in means])


@pytest.fixture(scope="module")
def ends(joint, problem):
    a_star, b_star = best_for(joint, "new", problem), best_for(joint, "re", problem)
    return a_star, b_star, float(a_star.targets["re"].mean()), float(b_star.targets["re"].mean())


def test_the_targets_prefer_different_channels(ends):
    a_star, b_star, _, _ = ends
    assert a_star.per_period[0] > BUDGET / 2 > b_star.per_period[0]
    assert (a_star.per_period > 0.05 * BUDGET).all() and (b_star.per_period > 0.05 * BUDGET).all()


def test_joint_jacobian_matches_finite_differences(models):
    rng = np.random.default_rng(0)
    layouts = [JointResponse.same_cells(models, weights={"new": 1.0, "re": 0.5}), JointResponse.markets(models)]
    for jr in layouts:
        plan = rng.uniform(500, 5000, size=(jr.num_periods, *jr.shape))
        _, jac = jr.value_and_jac(plan)
        flat = plan.reshape(jr.num_periods, -1)
        eps = 1e-2
        for t in range(jr.num_periods):
            for c in range(jr.size):
                up, down = flat.copy(), flat.copy()
                up[t, c] += eps
                down[t, c] -= eps
                fd = (jr.draws(up.reshape(plan.shape)) - jr.draws(down.reshape(plan.shape))) / (2 * eps)
                np.testing.assert_allclose(jac[:, t, c], fd, rtol=1e-6, atol=1e-9)
    markets = layouts[1]
    with pytest.raises(ValueError, match="reach no target"):
        JointResponse(markets.channels, markets.panel, {"new": (models["new"], np.array([0, 1]))}, {"new": 1.0})
    short = SimpleNamespace(num_periods=4, n_draws=3, size=2, channels=["x1", "x2"], panel={})
    with pytest.raises(ValueError, match="same num_periods"):
        JointResponse.same_cells({"new": models["new"], "short": short})
    assert markets.shape == (2, 2) and markets.panel == {"market": ["new", "re"]}
    x = np.array([[1000.0, 2000.0], [3000.0, 4000.0]])
    per = markets.per_target(x)
    np.testing.assert_allclose(per["new"], models["new"].draws(x[0]), rtol=1e-12)
    np.testing.assert_allclose(per["re"], models["re"].draws(x[1]), rtol=1e-12)
    np.testing.assert_allclose(markets.draws(x), per["new"] + per["re"], rtol=1e-12)


@pytest.mark.parametrize("where", [0.3, 0.7, 0.97])
def test_constrained_optimum_matches_the_filtered_grid(joint, problem, grid, ends, where):
    _, _, b_at_a, b_max = ends
    z = b_at_a + where * (b_max - b_at_a)
    res = constrained_optimum(joint, "new", ("re", "at_least", z), problem)
    x1, a, b = grid
    ok = b >= z
    best = int(np.argmax(np.where(ok, a, -np.inf)))
    got = res.plan.targets["new"].mean()
    assert res.success and res.binds
    assert res.value >= z - 1e-6 * max(1.0, z)  # the constraint holds
    assert res.value == pytest.approx(z, rel=1e-6)  # and binds
    assert got >= a[best] - 1e-6 * abs(a[best])
    assert res.plan.per_period[0] == pytest.approx(x1[best], abs=2 * BUDGET / 3000)
    assert res.plan.per_period.sum() == pytest.approx(BUDGET, rel=1e-9)
    assert set(res.targets) == {"new", "re"} and len(res.targets["new"]["hdi_94"]) == 2


def test_a_constraint_the_free_optimum_meets_does_not_bind(joint, problem, ends):
    a_star, _, b_at_a, _ = ends
    res = constrained_optimum(joint, "new", TargetConstraint("re", "at_least", 0.9 * b_at_a), problem)
    assert not res.binds and res.success
    np.testing.assert_allclose(res.plan.per_period, a_star.per_period)
    assert res.value == pytest.approx(b_at_a)
    same = constrained_optimum(joint, "new", {"target": "re", "at_least": 0.9 * b_at_a}, problem)  # the params' form
    assert not same.binds and same.value == pytest.approx(b_at_a)


@pytest.mark.parametrize("where", [-0.5, 0.5])
def test_equal_to_holds_exactly(joint, problem, grid, ends, where):
    """``equal_to`` binds on both sides of b(a*): below it the optimizer gives up some b, above it some a."""
    _, _, b_at_a, b_max = ends
    z = b_at_a + where * (b_max - b_at_a) if where > 0 else b_at_a * (1 + where)
    res = constrained_optimum(joint, "new", ("re", "equal_to", z), problem)
    assert res.success and res.binds
    assert abs(res.value - z) <= 1e-6 * max(1.0, abs(z))
    x1, a, b = grid
    near = np.abs(b - z) <= 0.002 * abs(z)  # grid points on the level set (within its resolution)
    assert res.plan.targets["new"].mean() >= a[near].max() - 0.002 * abs(a[near].max())


def test_out_of_reach_is_a_clear_error(joint, problem, ends):
    _, _, _, b_max = ends
    z = 1.2 * b_max
    with pytest.raises(InfeasibleError, match=r"multi_objective\.constraint: re ≥ .* is out of reach") as err:
        constrained_optimum(joint, "new", ("re", "at_least", z), problem)
    msg = str(err.value)
    assert f"{z:,.6g}" in msg
    most = float(re.search(r"at most ([\d,.]+)", msg).group(1).replace(",", ""))
    assert most == pytest.approx(reachable(joint, "re", problem), abs=0.01)
    with pytest.raises(InfeasibleError, match="at least"):
        constrained_optimum(joint, "new", ("re", "equal_to", -1.0), problem)


def test_response_constraint_on_a_plain_model_and_an_unmeetable_one(models):
    """optimize_budget's response constraint with a plain ResponseModel; one out of reach is success=False, named."""
    new, re_ = models["new"], models["re"]
    p = problem_for(new, BUDGET)
    z = 0.5 * (re_.draws(optimize_budget(new, p).per_period).mean() + re_.draws(optimize_budget(re_, p).per_period).mean())
    plan = optimize_budget(new, p, response_constraints=[ResponseConstraint(re_, "at_least", z, "re")])
    assert plan.success and re_.draws(plan.spend).mean() == pytest.approx(z, rel=1e-6)
    bad = optimize_budget(new, p, response_constraints=[ResponseConstraint(re_, "at_least", 1e9, "re")])
    assert not bad.success and "re ≥ 1e+09" in bad.message


def test_cross_evaluation_shows_what_each_goal_costs_the_other(joint, problem, ends):
    a_star, b_star, _, _ = ends
    mid = constrained_optimum(joint, "new", ("re", "at_least", 0.5 * sum(ends[2:])), problem)
    table = cross_evaluation(joint, {"best for new": a_star, "best for re": b_star, "new with re ≥ Z": mid.plan,
                                     "historical": np.array([10000.0, 5000.0])}, problem)
    assert list(table.index) == ["best for new", "best for re", "new with re ≥ Z", "historical"]
    assert table.loc["best for new", "new_share_of_best"] == pytest.approx(1.0)
    assert table.loc["best for re", "re_share_of_best"] == pytest.approx(1.0)
    assert (table[["new_share_of_best", "re_share_of_best"]] <= 1 + 1e-9).all().all()
    assert table.loc["best for re", "new_share_of_best"] < 1 and table.loc["best for new", "re_share_of_best"] < 1
    row = table.loc["new with re ≥ Z"]
    assert row["re_hdi_lo"] <= row["re_mean"] <= row["re_hdi_hi"]


def test_pareto_front_is_monotone_and_not_dominated_by_the_grid(joint, problem, grid, ends, capsys):
    start = time.perf_counter()
    front, draws = pareto_front(joint, "new", "re", problem, n_points=20)
    took = time.perf_counter() - start
    with capsys.disabled():
        print(f"\npareto_front: 20 points in {took:.2f} s")
    assert len(front) == 20 and front.attrs["dominated_dropped"] == 0 and front["success"].all()
    a, b = front["new_mean"].to_numpy(), front["re_mean"].to_numpy()
    assert (np.diff(b) > 0).all() and (np.diff(a) < 0).all()
    np.testing.assert_allclose(b[1:-1], front["Z"].to_numpy()[1:-1], rtol=1e-6)
    assert list(front["binds"]) == [False] + [True] * 19
    np.testing.assert_allclose(front[["x1", "x2"]].sum(axis=1), BUDGET, rtol=1e-9)
    _, ga, gb = grid
    tol_a, tol_b = 1e-6 * np.abs(ga).max(), 1e-6 * np.abs(gb).max()
    for ai, bi in zip(a, b):
        assert not ((ga > ai + tol_a) & (gb > bi + tol_b)).any()
    assert draws["new"].shape == (20, 3) and np.allclose(draws["new"].mean(axis=1), a)
    assert front.loc[0, "new_mean"] == pytest.approx(ends[0].targets["new"].mean())


def test_markets_total_with_one_market_held_matches_a_grid(models):
    """Two single-market models on disjoint cells: maximize the total subject to market ``new`` ≥ Z, against an
    exhaustive grid over the 4-cell budget simplex (cells are independent: per-cell curves add up)."""
    jr = JointResponse.markets(models)
    p = problem_for(jr, BUDGET)
    free = best_for(jr, {"new": 1.0, "re": 1.0}, p)
    z_lo, z_hi = free.targets["new"].mean(), reachable(jr, "new", p)
    z = 0.5 * (z_lo + z_hi)
    res = constrained_optimum(jr, {"new": 1.0, "re": 1.0}, ("new", "at_least", z), p)
    assert res.success and res.binds and res.value == pytest.approx(z, rel=1e-6)
    assert res.objective == "new + re"

    n = 60
    levels = np.linspace(0, BUDGET, n + 1)
    curve = {k: np.array([[rm.draws(lv * np.eye(2)[c]).mean() for c in range(2)] for lv in levels]) for k, rm in
             models.items()}  # (level, channel)
    x = np.array([1200.0, 4100.0, 600.0, 9100.0])  # per-cell curves add up to the joint response
    per = jr.per_target(x.reshape(2, 2))
    for k, rm in enumerate(models.values()):
        sep = sum(rm.draws(x[2 * k + c] * np.eye(2)[c]).mean() for c in range(2))
        assert per[list(models)[k]].mean() == pytest.approx(sep, rel=1e-10)
    i, j, k = np.meshgrid(*[np.arange(n + 1)] * 3, indexing="ij")
    keep = i + j + k <= n
    idx = np.stack([i[keep], j[keep], k[keep], n - (i + j + k)[keep]], axis=1)  # level index per joint cell
    a = curve["new"][idx[:, 0], 0] + curve["new"][idx[:, 1], 1]
    b = curve["re"][idx[:, 2], 0] + curve["re"][idx[:, 3], 1]
    ok = a >= z
    best = int(np.argmax(np.where(ok, a + b, -np.inf)))
    total = res.plan.draws.mean()
    assert total >= (a + b)[best] - 1e-6 * total
    assert total - (a + b)[best] <= 0.002 * total  # the grid's best is within its resolution
    np.testing.assert_allclose(res.plan.per_period.ravel(), levels[idx[best]], atol=3 * BUDGET / n)


def test_a_joint_plan_carries_each_cells_price_and_the_units_it_buys(models):
    """One model per market, x1 bought in units at a price that differs by market: the joint cells carry each
    market's price, and the plan's records the units the spend buys (spend / price); no price, no units."""
    from dataclasses import replace

    from mmmhelpers.optimize import allocation_records

    priced = {"north": replace(models["new"], unit_price=np.array([2.0, np.nan])),
              "south": replace(models["re"], unit_price=np.array([5.0, np.nan]))}
    joint = JointResponse.markets(priced)
    np.testing.assert_array_equal(joint.unit_price, [[2.0, np.nan], [5.0, np.nan]])
    recs = allocation_records(joint, np.array([[100.0, 50.0], [100.0, 50.0]]))
    assert [r.label for r in recs] == ["x1 @ north", "x2 @ north", "x1 @ south", "x2 @ south"]
    assert [r.units_per_period for r in recs] == [50.0, None, 20.0, None]
    assert [r.cost_per_unit for r in recs] == [2.0, None, 5.0, None]
    assert JointResponse.markets(models).unit_price is None
    assert all(r.units_per_period is None for r in allocation_records(JointResponse.markets(models), np.ones((2, 2))))
