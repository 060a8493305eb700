"""Custom PyMC models: the multi-objective case study's Michaelis-Menten model, response and jacobian by hand,
the optimum against a brute-force grid, clear errors. Posteriors are hand-chosen draws (no sampling)."""

import itertools

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from mmmhelpers.custom import response_model_from_pymc
from mmmhelpers.optimize import optimize_budget, problem_for

CHANNELS = ["impressions_x1_var", "impressions_x2_var", "impressions_x3_var", "impressions_x4_var"]
# 2 chains x 3 draws of the saturation parameters: alpha in Beta(2, 1)'s support, lam > 0
ALPHA = np.array([[[0.30, 0.50, 0.90, 0.70], [0.40, 0.60, 0.80, 0.60], [0.20, 0.40, 0.95, 0.80]],
                  [[0.35, 0.55, 0.85, 0.75], [0.25, 0.45, 0.90, 0.65], [0.30, 0.50, 0.70, 0.90]]])
LAM = np.array([[[0.10, 0.30, 1.00, 0.80], [0.20, 0.40, 0.90, 0.60], [0.15, 0.50, 1.20, 0.70]],
                [[0.12, 0.35, 1.10, 0.75], [0.10, 0.25, 0.95, 0.85], [0.20, 0.30, 1.05, 0.65]]])


def build_simple_mmm(X: np.ndarray, y: np.ndarray, extra_date_term: bool = False) -> pm.Model:
    """The case study's model: Michaelis-Menten contributions, a censored Normal likelihood at 0."""
    coords = {"date": pd.date_range("2020-01-01", periods=len(X), freq="D"), "channel": CHANNELS}
    with pm.Model(coords=coords) as model:
        data = pm.Data("channel_data", X, dims=("date", "channel"))
        target = pm.Data("target", y, dims="date")
        alpha = pm.Beta("saturation_alpha", alpha=2, beta=1, dims="channel")
        lam = pm.Gamma("saturation_lam", mu=1, sigma=0.5, dims="channel")
        sat = alpha * data / (lam + data)
        if extra_date_term:  # a multiplier from other data: ties the response to the data's number of dates
            sat = sat * target[:, None] / target.mean()
        contribution = pm.Deterministic("contribution", sat, dims=("date", "channel"))
        intercept = pm.Normal("intercept", mu=0, sigma=1)
        sigma = pm.HalfNormal("likelihood_sigma", sigma=1)
        pm.Censored("likelihood", pm.Normal.dist(mu=intercept + contribution.sum(axis=-1), sigma=sigma),
                    lower=0, upper=None, observed=target, dims="date")
    return model


def hand_idata(drop: str | None = None):
    post = {"saturation_alpha": ALPHA, "saturation_lam": LAM, "intercept": np.full((2, 3), 0.5),
            "likelihood_sigma": np.full((2, 3), 0.05)}
    post.pop(drop, None)
    dims = {k: ["channel"] for k in ("saturation_alpha", "saturation_lam") if k in post}
    return az.from_dict(posterior=post, coords={"channel": CHANNELS}, dims=dims)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(7)
    X = np.clip(np.array([0.5, 1.0, 1.0, 1.2]) + 0.05 * rng.standard_normal((100, 4)).cumsum(0), 0, 2)
    y = rng.normal(5.5, 0.3, 100)
    return X, y, build_simple_mmm(X, y)


@pytest.fixture(scope="module")
def rm(case):
    return response_model_from_pymc(case[2], hand_idata(), num_periods=10)


def by_hand(rm, plan):
    """Sum over periods and channels of alpha x / (lam + x), per draw ``(draw,)``."""
    a, lam = ALPHA.reshape(-1, 4)[rm.draw_idx], LAM.reshape(-1, 4)[rm.draw_idx]
    plan = np.broadcast_to(plan, (rm.num_periods, 4))
    return (a[:, None] * plan / (lam[:, None] + plan)).sum(axis=(1, 2))


def test_window_coords_and_observed_range(case, rm):
    X = case[0]
    assert rm.channels == CHANNELS and rm.panel == {} and rm.n_draws == 6
    assert (rm.window.history_weeks, rm.window.tail_weeks, rm.window.objective_window) == (0, 0, "window")
    np.testing.assert_array_equal(rm.observed_max, X.max(0))
    np.testing.assert_array_equal(rm.observed_min, X.min(0))


def test_response_matches_hand_computation(rm):
    flat = np.array([0.5, 0.2, 0.8, 0.5])
    a, lam = ALPHA.reshape(-1, 4)[rm.draw_idx], LAM.reshape(-1, 4)[rm.draw_idx]
    np.testing.assert_allclose(rm.draws(flat), 10 * (a * flat / (lam + flat)).sum(1), rtol=1e-10)
    varying = np.random.default_rng(1).uniform(0, 1.5, (10, 4))
    np.testing.assert_allclose(rm.draws(varying), by_hand(rm, varying), rtol=1e-10)
    c = rm.contributions(varying)  # (draw, period, channel): the deterministic itself
    assert c.shape == (6, 10, 4)
    np.testing.assert_allclose(c.sum(axis=(1, 2)), by_hand(rm, varying), rtol=1e-10)


def test_jacobian_matches_finite_differences(rm):
    plan = np.random.default_rng(2).uniform(0.1, 1.5, (10, 4))
    _, jac = rm.value_and_jac(plan)
    h = 1e-6
    for t, c in itertools.product(range(10), range(4)):
        up, down = plan.copy(), plan.copy()
        up[t, c] += h
        down[t, c] -= h
        np.testing.assert_allclose(jac[:, t, c], (rm.draws(up) - rm.draws(down)) / (2 * h), rtol=1e-6)


def test_optimum_beats_a_brute_force_grid(rm):
    budget, steps = 2.0, 40
    step = budget / steps
    grid = np.array([c for c in itertools.product(range(steps + 1), repeat=3) if sum(c) <= steps])
    grid = np.column_stack([grid, steps - grid.sum(1)]) * step  # every split of the budget on the grid
    a, lam = ALPHA.reshape(-1, 4)[rm.draw_idx], LAM.reshape(-1, 4)[rm.draw_idx]
    values = 10 * (a[None] * grid[:, None] / (lam[None] + grid[:, None])).sum(2).mean(1)
    best = grid[values.argmax()]
    plan = optimize_budget(rm, problem_for(rm, budget))
    assert plan.success
    np.testing.assert_allclose(plan.per_period.sum(), budget, rtol=1e-8)
    np.testing.assert_allclose(plan.per_period, best, atol=step)
    assert plan.value >= values.max() - 1e-9
    assert plan.value == pytest.approx(values.max(), rel=1e-3)  # the grid's best is one step away at most


def test_wrong_spend_name_lists_the_data(case):
    with pytest.raises(ValueError, match=r"'spend_data'.*'channel_data', 'target'"):
        response_model_from_pymc(case[2], hand_idata(), 10, spend="spend_data")


def test_wrong_response_name_lists_the_deterministics(case):
    with pytest.raises(ValueError, match=r"'media'.*\['contribution'\]"):
        response_model_from_pymc(case[2], hand_idata(), 10, response="media")


def test_response_not_depending_on_spend(case):
    model = case[2].copy()
    with model:
        pm.Deterministic("baseline", model["intercept"] + 0 * model["target"], dims="date")
    with pytest.raises(ValueError, match="'baseline' does not depend on the spend 'channel_data'"):
        response_model_from_pymc(model, hand_idata(), 10, response="baseline")


def test_free_rv_missing_from_posterior(case):
    with pytest.raises(ValueError, match=r"missing from idata.posterior: \['saturation_lam'\]"):
        response_model_from_pymc(case[2], hand_idata(drop="saturation_lam"), 10)


def test_response_tied_to_the_number_of_dates(case):
    X, y, _ = case
    with pytest.raises(ValueError, match=r"12 periods; it depends on \['target'\]"):
        response_model_from_pymc(build_simple_mmm(X, y, extra_date_term=True), hand_idata(), 12)
