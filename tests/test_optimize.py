"""Budget optimizer: optimum vs brute force, KKT, bounds, targets, risk, paired and held-out gains.

The response it optimizes is tested in tests/test_response.py, the rules' linear system in tests/test_constraints.py.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import BUDGET, idata_from_truth
from reference import hand_contrib, hand_response

from mmmhelpers.config import ModelSpec, ObjectiveSpec, OptimizationSpec, TargetSpec
from mmmhelpers.constraints import InfeasibleError
from mmmhelpers.model import build_model
from mmmhelpers.optimize import (
    allocation_records,
    objective_value,
    optimize_budget,
    plan_problem,
    plan_problems,
    problem_for,
    response_model,
    target_budget,
)


@pytest.mark.parametrize("budget", [2000.0, 8000.0, 30000.0], ids=["small-budget", "medium-budget", "large-budget"])
def test_optimum_matches_brute_force_grid_and_kkt(rm6, budget):
    res = optimize_budget(rm6, problem_for(rm6, budget))
    grid = np.linspace(0, budget, 2001)
    values = np.array([rm6.draws(np.array([g, budget - g])).mean() for g in grid])
    assert res.per_period.sum() == pytest.approx(budget, rel=1e-9)
    assert res.value >= values.max() - 1e-6 * abs(values.max())
    assert res.per_period[0] == pytest.approx(grid[values.argmax()], abs=budget / 1000 + 1e-6)
    if (res.per_period > 1e-3 * budget).all():  # KKT: equal marginal response across interior channels
        m = rm6.marginal(res.per_period).mean(axis=0)
        assert m[0] == pytest.approx(m[1], rel=1e-3)


def test_bounds_hold_and_bind(rm6):
    free = optimize_budget(rm6, problem_for(rm6, BUDGET))
    cap = 0.5 * free.per_period[0]
    res = optimize_budget(rm6, problem_for(rm6, BUDGET, bounds={"x1": (0.0, cap)}))
    assert res.per_period[0] <= cap + 1e-6 * BUDGET and res.per_period[0] == pytest.approx(cap, rel=1e-6)
    assert np.all(res.spend[..., 0] == cap)  # exactly the bound, not cap - 3e-12 (snapped)
    small = optimize_budget(rm6, problem_for(rm6, BUDGET / 10))  # a corner: x1 gets it all (SLSQP left x2 2.9e-13)
    assert np.all(small.spend[..., 1] == 0.0)  # exactly 0, which the report prints as 0
    assert small.per_period.sum() == pytest.approx(BUDGET / 10, abs=1e-6 * BUDGET)
    assert res.per_period.sum() == pytest.approx(BUDGET, abs=1e-6 * BUDGET)
    assert res.value <= free.value + 1e-9


def test_at_most_the_budget_spends_less_when_the_caps_bind(rm6):
    res = optimize_budget(rm6, problem_for(rm6, BUDGET, budget_use="at_most", bounds={"x1": (0, 1000), "x2": (0, 2000)}))
    np.testing.assert_allclose(res.per_period, [1000, 2000], atol=1e-6 * BUDGET)


def test_no_signal_channel_gets_nothing_beyond_what_the_data_saw(fitted):
    mmm, idata, _ = fitted
    X = mmm.data.X.copy()
    X[:, 1] = 0.0  # x2 never spent
    rm = response_model(mmm.spec, mmm.data.with_X(X), idata, num_periods=6, n_draws=3)
    opt = OptimizationSpec(budget=3000.0, num_periods=6)
    res = optimize_budget(rm, plan_problem(opt, rm, 3000.0))
    assert res.per_period[1] == pytest.approx(0.0, abs=1e-6) and res.per_period[0] == pytest.approx(3000.0)
    assert "x2" in plan_problem(opt, rm, 3000.0).capped
    big = OptimizationSpec(budget=1e6, num_periods=6, scenarios=[2.0])
    base, scenario = plan_problems(big, rm.channels, rm.panel, rm.observed_max)
    assert base.startswith("optimization: budget 1e+06 per period") and "allow_extrapolation: true" in base
    assert scenario.startswith("optimization.scenarios (2x): budget 2e+06")


def test_spend_over_time_beats_flat_and_keeps_the_budget(rm6):
    opt = OptimizationSpec(budget=BUDGET, num_periods=6, optimize_over_time=True, allow_extrapolation=True,
                           bounds={"x1": (0, 6000)})
    res = optimize_budget(rm6, plan_problem(opt, rm6, BUDGET))
    flat = optimize_budget(rm6, problem_for(rm6, BUDGET, bounds={"x1": (0, 6000)}))
    assert res.spend.sum() == pytest.approx(BUDGET * 6, rel=1e-6)
    assert res.spend[:, 0].max() <= 6000 * (1 + 1e-6)
    assert res.value >= flat.value - 1e-6 * abs(flat.value)


def test_pattern_weights_shape_the_spend(rm6):
    opt = OptimizationSpec(budget=BUDGET, num_periods=6, pattern=[2, 2, 1, 1, 0, 0], allow_extrapolation=True)
    res = optimize_budget(rm6, plan_problem(opt, rm6, BUDGET))
    np.testing.assert_allclose(res.spend.sum(axis=1), BUDGET * np.array([2, 2, 1, 1, 0, 0]) * 6 / 6, rtol=1e-6)


@pytest.mark.parametrize("objective", [ObjectiveSpec(type="mean"), ObjectiveSpec(type="var", alpha=0.3),
                                       ObjectiveSpec(type="cvar", alpha=0.4), ObjectiveSpec(type="mean_minus_sd", k=1.5)],
                         ids=["mean", "var", "cvar", "mean-k-sd"])
def test_risk_objectives_against_numpy_and_their_gradients(rm6, objective):
    r = np.array([3.0, -1.0, 7.0, 2.0, 5.0])
    val, w = objective_value(r, objective)
    want = {"mean": r.mean(), "var": np.quantile(r, 0.3), "cvar": np.sort(r)[:2].mean(),
            "mean_minus_sd": r.mean() - 1.5 * r.std()}[objective.type]
    assert val == pytest.approx(want)
    eps = 1e-6  # the weights are the exact gradient of the value with respect to each draw
    fd = [(objective_value(r + eps * e, objective)[0] - objective_value(r - eps * e, objective)[0]) / (2 * eps)
          for e in np.eye(5)]
    np.testing.assert_allclose(w, fd, atol=1e-6)
    res = optimize_budget(rm6, problem_for(rm6, BUDGET), objective)
    grid = np.linspace(0, BUDGET, 801)
    values = [objective_value(rm6.draws(np.array([g, BUDGET - g])), objective)[0] for g in grid]
    assert res.value >= max(values) - 1e-6 * abs(max(values))


@pytest.mark.parametrize("kind", ["response", "roas"])
def test_target_budget_reaches_the_target(rm6, kind):
    base = optimize_budget(rm6, problem_for(rm6, 5000.0))
    value = base.draws.mean() if kind == "response" else base.draws.mean() / (5000.0 * 6)
    opt = OptimizationSpec(budget=BUDGET, num_periods=6, allow_extrapolation=True,
                           target=TargetSpec(type=kind, value=float(value)))
    budget, plan, achieved = target_budget(rm6, opt)
    assert achieved == pytest.approx(value, rel=5e-3)
    assert budget == pytest.approx(5000.0, rel=5e-3)
    with pytest.raises(InfeasibleError, match="out of reach"):
        target_budget(rm6, opt.model_copy(update={"target": TargetSpec(type=kind, value=float(value) * 1e6)}))


def test_allocation_records_one_per_channel(rm6):
    recs = allocation_records(rm6, np.array([1.0, 2.0]))
    # typed cells that dump to the interface's flat records (allocation.json), only the fields given
    assert [r.model_dump() for r in recs] == [{"channel": "x1", "spend_per_period": 1.0},
                                              {"channel": "x2", "spend_per_period": 2.0}]
    assert [r.label for r in recs] == ["x1", "x2"] and recs[1].spend_per_period == 2.0


def test_paired_gain_is_the_draw_by_draw_difference(fitted, rm6):
    """The number a client quotes (gain, its HDI, P(gain > 0)) against an independent numpy computation."""
    import arviz as az

    from mmmhelpers.optimize import paired_gain

    mmm, idata, _ = fitted
    base, plan = np.array([4000.0, 4000.0]), optimize_budget(rm6, problem_for(rm6, BUDGET)).per_period
    want = hand_response(mmm, idata, plan, 6) - hand_response(mmm, idata, base, 6)
    gain = paired_gain(rm6.draws(plan), rm6.draws(base))
    assert gain.mean == pytest.approx(want.mean(), rel=1e-6)
    assert gain.prob_positive == pytest.approx(np.mean(want > 0))
    np.testing.assert_allclose(gain.hdi_94, az.hdi(want, hdi_prob=0.94), rtol=1e-6)
    lose = paired_gain(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 5.0, 3.0]))
    assert lose.mean == pytest.approx(-0.25) and lose.prob_positive == 0.5


def test_alternatives_are_validated_at_load_time():
    from pydantic import ValidationError

    from mmmhelpers.config import AlternativeSpec

    opt = OptimizationSpec(budget=10.0, alternatives=[AlternativeSpec(name="half", budget=5.0, bounds={"x1": (0, 2)})])
    alt = opt.alternative(opt.alternatives[0])
    assert alt.budget == 5.0 and alt.bounds == {"x1": (0, 2)} and alt.num_periods == opt.num_periods
    with pytest.raises(ValidationError, match="must satisfy 0 <= lower <= upper"):
        OptimizationSpec(budget=10.0, alternatives=[{"name": "bad", "bounds": {"x1": [3, 1]}}])
    with pytest.raises(ValidationError, match="distinct names"):
        OptimizationSpec(budget=10.0, alternatives=[{"name": "a"}, {"name": "a"}])


def test_roas_and_marginal_roas_match_a_hand_computation(fitted):
    """ROAS = contribution / spend over the data; mROAS = the extra contribution when a channel's spend rises
    1% every week, per extra unit of spend: both per draw by numpy, then mean and interval."""
    from mmmhelpers.contributions import roas_table

    mmm, idata, _ = fitted
    data = mmm.data
    n = data.n_dates
    base = hand_contrib(mmm, idata, data.X)[:, :n]  # (draw, week, channel): the data's own weeks
    idata = idata.copy()
    idata.posterior["channel_contribution_original_scale"] = (("chain", "draw", "date", "channel"), base[None])
    table = roas_table(idata, data, mmm.spec, n_draws=3, step=0.01).set_index("channel")
    spend = data.X.sum(axis=0)
    for i, ch in enumerate(data.channels):
        X = data.X.copy()
        X[:, i] *= 1.01
        extra = (hand_contrib(mmm, idata, X)[:, :n, i] - base[..., i]).sum(axis=1)
        assert table.loc[ch, "ROAS"] == pytest.approx((base[..., i].sum(axis=1) / spend[i]).mean(), rel=1e-10)
        assert table.loc[ch, "mROAS"] == pytest.approx((extra / (0.01 * spend[i])).mean(), rel=1e-8)
        assert table.loc[ch, "mROAS"] < table.loc[ch, "ROAS"]  # a concave curve: the next unit returns less
    roas_draws = base.sum(axis=1) / spend  # (draw, channel)
    for i, ch in enumerate(data.channels):
        assert table.loc[ch, "P(highest ROAS)"] == pytest.approx(np.mean(roas_draws.argmax(axis=1) == i))
    # a time-varying media multiplier enters the marginal ROAS as it enters the contribution
    ramp = np.linspace(0.5, 1.5, n)
    idata.posterior["media_temporal_latent_multiplier"] = (("chain", "draw", "date"), np.broadcast_to(ramp, (1, 3, n)))
    tv = roas_table(idata, data, mmm.spec, n_draws=3, step=0.01).set_index("channel")
    for i, ch in enumerate(data.channels):
        X = data.X.copy()
        X[:, i] *= 1.01
        extra = ((hand_contrib(mmm, idata, X)[:, :n, i] - base[..., i]) * ramp).sum(axis=1)
        assert tv.loc[ch, "mROAS"] == pytest.approx((extra / (0.01 * spend[i])).mean(), rel=1e-8)


def _numpy_rm(b: np.ndarray, k: float, num_periods: int = 1):
    """A ResponseModel whose draw s responds ``sum_c b[s, c] * (1 - exp(-x_c / k))`` per period (numpy, exact jacobian)."""
    from mmmhelpers.response import ResponseModel, Window

    def value_and_jac(spend):  # (draw, period, cell)
        e = np.exp(-spend / k)
        return (b[:, None, :] * (1 - e)).sum(axis=(1, 2)), b[:, None, :] * e / k

    return ResponseModel([f"c{i}" for i in range(b.shape[1])], {}, Window(0, num_periods, 0, "window", "none"),
                         np.arange(len(b)), value_and_jac, None)


def test_held_out_gain_is_not_optimistic_where_the_in_sample_gain_is():
    """Three channels with the same true response: the equal split is the true optimum and every other plan loses.
    On 30 posterior draws the optimizer chases their noise; scored on those draws its gain looks positive, scored
    on the draws that did not choose it (cross-fit), it does not. Truth: 4,000 fresh draws of the same posterior."""
    from mmmhelpers.optimize import cross_fit_plans, held_out_gain, paired_gain

    budget, k = 3000.0, 1000.0
    truth = _numpy_rm(1000 * np.random.default_rng(99).lognormal(0, 0.5, (4000, 3)), k)
    equal = np.full(3, budget / 3)
    in_sample, held_out, true_gain = [], [], []
    for rep in range(12):
        rm = _numpy_rm(1000 * np.random.default_rng(rep).lognormal(0, 0.5, (30, 3)), k)
        problem = problem_for(rm, budget)
        best = optimize_budget(rm, problem)
        in_sample.append(paired_gain(best.draws, rm.draws(equal)).mean)
        held_out.append(held_out_gain(rm, cross_fit_plans(rm, problem, None, equal, budget, seed=rep), equal).mean)
        true_gain.append(float((truth.draws(best.spend) - truth.draws(equal)).mean()))
    in_sample, held_out, true_gain = map(np.array, (in_sample, held_out, true_gain))
    assert (true_gain <= 1e-9).all()  # the truth: no plan beats the equal split
    assert (in_sample > 0).all()  # optimistic by construction: mean about +3.8 where the truth is about -4.1
    assert held_out.mean() < 0  # the held-out estimate sees that the reallocation does not pay (about -6.3)
    assert (in_sample - true_gain).mean() > 2 * abs((held_out - true_gain).mean())


def test_a_channel_dark_in_one_market_gets_no_spend_in_any_plan():
    """x2 never spent in geo_b: the plan, the equal split and plans with extrapolation allowed leave that cell at 0."""
    from dataclasses import replace

    from mmmhelpers.config import SimulateSpec
    from mmmhelpers.optimize import equal_split
    from mmmhelpers.simulate import simulate

    data, truth = simulate(SimulateSpec(generator="geo_hierarchical", n_weeks=60), seed=3)
    X = data.X.copy()
    X[:, 1, 1] = 0.0
    data = replace(data, X=X)
    idata = idata_from_truth(truth, ["adstock_alpha", "saturation_lam", "saturation_beta"], n_draws=2)
    spec = build_model(ModelSpec(), data).spec
    rm = response_model(spec, data, idata, num_periods=4, n_draws=2, carryover_history=False)
    assert equal_split(rm, 4000.0)[1, 1] == 0 and equal_split(rm, 4000.0).sum() == pytest.approx(4000.0)
    for allow in (False, True):
        opt = OptimizationSpec(budget=4000.0, num_periods=4, allow_extrapolation=allow, bounds={"x2": [100, 3000]})
        plan = optimize_budget(rm, plan_problem(opt, rm, 4000.0))
        assert plan.success and plan.spend[:, 1, 1].max() == 0.0  # the bound's lower 100 does not apply there
        assert plan.spend[:, 0, 1].min() >= 100 - 1e-6 and plan.per_period.sum() == pytest.approx(4000.0)


def test_trust_region_and_hold_rule_are_exact_and_the_optimum_matches_brute_force(rm6):
    """Historical spend 3:1, budget 8,000: levels 6,000 and 2,000. Within +-30%: x1 in [4,200, 7,800] and x2 in
    [1,400, 2,600]; the optimum inside equals a brute-force grid over the band. Holding x2 pins it at 2,000."""
    from dataclasses import replace

    from mmmhelpers.budget_page import where_money_moves

    rm = replace(rm6, historical=np.array([300.0, 100.0]))
    opt = OptimizationSpec(budget=BUDGET, num_periods=6, allow_extrapolation=True, trust_region=0.3)
    problem = plan_problem(opt, rm, BUDGET)
    np.testing.assert_allclose(problem.lo, [4200.0, 1400.0])
    np.testing.assert_allclose(problem.hi, [7800.0, 2600.0])
    plan = optimize_budget(rm, problem)
    grid = np.linspace(1400.0, 2600.0, 1201)  # x2 on a 1-unit grid, x1 = the rest (always inside its band here)
    means = [rm.draws(np.array([BUDGET - x2, x2])).mean() for x2 in grid]
    assert plan.success and plan.draws.mean() >= max(means) - 1e-6 * abs(max(means))
    assert abs(plan.per_period[1] - grid[int(np.argmax(means))]) <= 1.0
    held = plan_problem(opt.model_copy(update={"uninformed": "hold"}), rm, BUDGET, held=np.array([False, True]))
    assert held.lo[1] == held.hi[1] == pytest.approx(2000.0) and held.lo[0] == pytest.approx(4200.0)
    pinned = optimize_budget(rm, held)
    assert pinned.per_period[1] == pytest.approx(2000.0) and pinned.per_period[0] == pytest.approx(6000.0)
    with pytest.raises(InfeasibleError, match="trust_region: null lifts it"):
        check = plan_problem(opt.model_copy(update={"bounds": {"x1": (0.0, 5000.0)}}), rm, BUDGET)  # 5,000 + 2,600
        from mmmhelpers.constraints import check_feasible

        check_feasible(check, BUDGET)
    no_raise = plan_problem(opt.model_copy(update={"uninformed": "no_raise"}), rm, BUDGET, held=np.array([False, True]))
    assert no_raise.lo[1] == pytest.approx(1400.0) and no_raise.hi[1] == pytest.approx(2000.0)  # cuts allowed
    alloc_words = where_money_moves(SimpleNamespace(trust_region=0.3, held=["display"], held_mode="hold"))
    assert "within ±30% of its historical spend" in alloc_words and "display is held at historical spend" in alloc_words


def test_the_hold_rule_spares_channels_an_experiment_calibrates(tmp_path):
    import pandas as pd

    from mmmhelpers.config import Params
    from mmmhelpers.contributions import uninformed_channels
    from mmmhelpers.optimize import held_channels

    evidence = pd.DataFrame({"channel": ["tv", "display", "radio"], "informed": [True, False, False]})
    assert uninformed_channels(evidence) == ["display", "radio"] and uninformed_channels(None) == []
    pd.DataFrame({"channel": ["radio"], "x": [1.0], "delta_x": [1.0], "delta_y": [1.0], "sigma": [1.0]}).to_csv(
        tmp_path / "lift.csv", index=False)
    base = {"case": "c", "title": "T", "seed": 1, "simulate": {"generator": "single_market"},
            "optimization": {"budget": 100.0, "uninformed": "hold"}}
    assert held_channels(Params.model_validate(base), ["display", "radio"]) == ["display", "radio"]
    with_lift = Params.model_validate({**base, "model": {"lift_tests": str(tmp_path / "lift.csv")}})
    assert held_channels(with_lift, ["display", "radio"]) == ["display"]
    default = Params.model_validate({**base, "optimization": {"budget": 100.0}})
    assert default.optimization.uninformed == "no_raise" and held_channels(default, ["display"]) == ["display"]
    off = Params.model_validate({**base, "optimization": {"budget": 100.0, "uninformed": "free"}})
    assert held_channels(off, ["display"]) == []


def test_a_cost_per_kpi_target_is_the_roas_target_of_its_inverse(rm6):
    """At most c per unit of the target is a ROAS of at least 1 / c: the same budget, the achieved value inverted."""
    value = optimize_budget(rm6, problem_for(rm6, 5000.0)).draws.mean() / (5000.0 * 6)
    opt = OptimizationSpec(budget=BUDGET, num_periods=6, allow_extrapolation=True,
                           target=TargetSpec(type="roas", value=float(value)))
    b_roas, _, roas = target_budget(rm6, opt)
    b_cost, _, cost = target_budget(rm6, opt.model_copy(update={"target": TargetSpec(type="cost_per_kpi",
                                                                                      value=float(1 / value))}))
    assert b_cost == pytest.approx(b_roas, rel=1e-9) and cost == pytest.approx(1 / roas, rel=1e-9)


def test_a_given_plan_is_scored_period_by_period_and_the_best_plan_at_its_budget_beats_it(fitted, tmp_path):
    """optimization.compare_plan: the plan's response by hand (its own spend each week, the data's carryover in, the
    tail after), the best plan at the same budget per period is at least as good, and the held-out gain is reported."""
    import pandas as pd

    from mmmhelpers.config import Params
    from mmmhelpers.optimize import compare_plan

    mmm, idata, _ = fitted
    data = mmm.data
    weeks = pd.date_range(data.dates[-1] + pd.Timedelta(weeks=1), periods=4, freq="7D")
    spend = np.array([[6000.0, 500.0], [0.0, 3000.0], [2000.0, 2000.0], [5000.0, 0.0]])
    pd.DataFrame({"date": weeks, "x1": spend[:, 0], "x2": spend[:, 1], "event_1": 0.0, "event_2": 0.0}).to_csv(
        tmp_path / "plan.csv", index=False)
    params = Params(case="c", title="T", seed=3, source=tmp_path / "case.yaml", model=mmm.spec,
                    simulate={"generator": "single_market", "n_weeks": 60},
                    optimization={"budget": BUDGET, "compare_plan": "plan.csv", "uninformed": "free"})
    cp = compare_plan(params, data, idata, [])
    history = data.X[-(mmm.spec.adstock.l_max - 1):]
    hand = (hand_contrib(mmm, idata, spend, history) - hand_contrib(mmm, idata, 0 * spend, history)).sum(axis=(1, 2))
    assert cp.response.mean == pytest.approx(hand.mean(), rel=1e-6) and cp.num_periods == 4
    assert cp.budget_per_period == pytest.approx(spend.sum() / 4)
    assert [r.spend_per_period for r in cp.allocation] == pytest.approx(spend.mean(axis=0).tolist())
    assert sum(r.spend_per_period for r in cp.best_allocation) == pytest.approx(spend.sum() / 4, rel=1e-6)
    assert cp.best_response.mean >= cp.response.mean and cp.solver == "ok"
    assert cp.gain.held_out and cp.gain.mean > 0


def test_validate_names_a_compared_plan_that_is_missing(tmp_path):
    from mmmhelpers.checks import check_case
    from mmmhelpers.config import load_params

    (tmp_path / "case.yaml").write_text("case: c\ntitle: T\nseed: 1\nsimulate: {generator: single_market, n_weeks: 60}\n"
                                        "optimization: {budget: 8000, compare_plan: next_quarter.csv}\n")
    _, _, problems = check_case(load_params(tmp_path / "case.yaml"))
    assert problems == [f"optimization.compare_plan: file not found: {tmp_path / 'next_quarter.csv'}"]
