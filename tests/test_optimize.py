"""Budget optimizer: window response by hand, optimum vs a brute-force grid, bounds."""

import numpy as np
import pytest
from conftest import MODEL_VARS, idata_from_truth
from reference import numpy_adstock

from mmmhelpers.model import build_model
from mmmhelpers.optimize import allocation_records, optimize_budget, response_model


@pytest.fixture(scope="module")
def fitted(single_market, truth_model_spec):
    data, truth = single_market
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=3)
    # make the draws differ so that the objective really averages over draws
    idata.posterior["saturation_lam"] = idata.posterior["saturation_lam"] * np.array([0.7, 1.0, 1.4])[None, :, None]
    return build_model(truth_model_spec, data), idata, truth


def hand_response(mmm, idata, x, periods):
    """Numpy: spend x every period, l_max-1 periods of zeros, normalized geometric adstock, logistic."""
    l_max = mmm.spec.adstock.l_max
    post = idata.posterior
    total = []
    for d in range(post.sizes["draw"]):
        alpha = post["adstock_alpha"].values[0, d]
        lam = post["saturation_lam"].values[0, d]
        beta = post["saturation_beta"].values[0, d]
        series = np.r_[np.ones(periods), np.zeros(l_max - 1)][:, None] * (x / mmm.channel_scale)[None]
        w = alpha[None] ** np.arange(l_max)[:, None]
        w = w / w.sum(0)
        ad = numpy_adstock(series, w)
        sat = beta * (1 - np.exp(-lam * ad)) / (1 + np.exp(-lam * ad))
        total.append((sat * mmm.target_scale).sum())
    return np.array(total)


def test_window_response_matches_hand_computation(fitted):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=5, n_draws=3)
    x = np.array([4000.0, 2500.0])
    np.testing.assert_allclose(rm.draws(x), hand_response(mmm, idata, x, 5), rtol=1e-10)


def test_gradient_matches_finite_differences(fitted):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=5, n_draws=3)
    x = np.array([4000.0, 2500.0])
    _, grad = rm.mean_and_grad(x)
    eps = 1e-3
    fd = [(rm.mean_and_grad(x + eps * e)[0] - rm.mean_and_grad(x - eps * e)[0]) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


@pytest.mark.parametrize("budget", [2000.0, 8000.0, 30000.0], ids=["small-budget", "medium-budget", "large-budget"])
def test_optimum_matches_brute_force_grid(fitted, budget):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3)
    res = optimize_budget(rm, budget)
    grid = np.linspace(0, budget, 2001)
    values = np.array([rm.draws(np.array([g, budget - g])).mean() for g in grid])
    best = grid[values.argmax()]
    assert res["x"].sum() == pytest.approx(budget)
    assert res["mean"] >= values.max() - 1e-6 * abs(values.max())
    assert res["x"][0] == pytest.approx(best, abs=budget / 1000 + 1e-6)


def test_bounds_are_respected_and_binding(fitted):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3)
    free = optimize_budget(rm, 8000.0)
    cap = 0.5 * free["x"][0]
    res = optimize_budget(rm, 8000.0, bounds={"x1": (0.0, cap)})
    assert res["x"][0] == pytest.approx(cap, rel=1e-6)
    assert res["x"].sum() == pytest.approx(8000.0)
    assert res["mean"] <= free["mean"] + 1e-9


def test_infeasible_bounds_and_unknown_channel_are_errors(fitted):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3)
    with pytest.raises(ValueError, match="outside what the bounds allow"):
        optimize_budget(rm, 8000.0, bounds={"x1": (0, 1000), "x2": (0, 1000)})
    with pytest.raises(ValueError, match="unknown channels"):
        optimize_budget(rm, 8000.0, bounds={"tv": (0, 1000)})


def test_allocation_records_one_per_channel(fitted):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3)
    recs = allocation_records(rm, np.array([1.0, 2.0]))
    assert recs == [{"channel": "x1", "spend_per_period": 1.0}, {"channel": "x2", "spend_per_period": 2.0}]


@pytest.mark.parametrize("saturation", ["logistic", "hill"])
def test_optimizer_and_model_share_one_media_path(single_market, saturation):
    """The optimizer's contribution of the observed spend equals the model's channel_contribution, draw by draw."""
    import pymc as pm

    from mmmhelpers.config import ModelSpec
    from mmmhelpers.optimize import posterior_media

    data, _ = single_market
    spec = ModelSpec.model_validate({"saturation": {"type": saturation}, "yearly_seasonality": 0})
    mmm = build_model(spec, data)
    names = [f"adstock_{p}" for p in ("alpha",)] + [v.name for v in mmm.model.free_RVs if v.name.startswith("saturation_")]
    prior = pm.sample_prior_predictive(draws=3, model=mmm.model, var_names=names, random_seed=2)
    prior.add_groups(posterior=prior.prior)
    got = posterior_media(spec, data, prior, data.X[:, None], np.arange(3)).eval()  # (date, draw, channel)
    fn = mmm.model.compile_fn(mmm.model["channel_contribution_original_scale"], inputs=[mmm.model[n] for n in names],
                              on_unused_input="ignore")
    for d in range(3):
        want = fn({n: prior.prior[n].values[0, d] for n in names})
        np.testing.assert_allclose(got[:, d], want, rtol=1e-12)


def test_paired_gain_is_the_draw_by_draw_difference(fitted):
    """The number a client quotes (gain, its HDI, P(gain > 0)) against an independent numpy computation."""
    import arviz as az

    from mmmhelpers.optimize import paired_gain

    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3)
    base, plan = np.array([4000.0, 4000.0]), optimize_budget(rm, 8000.0)["x"]
    want = hand_response(mmm, idata, plan, 6) - hand_response(mmm, idata, base, 6)
    gain = paired_gain(rm.draws(plan), rm.draws(base))
    assert gain.mean == pytest.approx(want.mean(), rel=1e-6)
    assert gain.prob_positive == pytest.approx(np.mean(want > 0))
    np.testing.assert_allclose(gain.hdi_94, az.hdi(want, hdi_prob=0.94), rtol=1e-6)
    lose = paired_gain(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 5.0, 3.0]))
    assert lose.mean == pytest.approx(-0.25) and lose.prob_positive == 0.5
