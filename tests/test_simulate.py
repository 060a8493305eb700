"""Data-generating processes: shapes, truth on the model's scale, the confounding that the case needs."""

import numpy as np
import pytest
from conftest import idata_from_truth

from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.data import max_scales
from mmmhelpers.model import build_model
from mmmhelpers.recovery import recovery_table, saturation_curves
from mmmhelpers.simulate import simulate
from mmmhelpers.transforms import NUMPY_MODE


def test_single_market_truth_is_on_the_model_scale():
    data, truth = simulate(SimulateSpec(generator="single_market", n_weeks=52), seed=1)
    _, y_scale = max_scales(data)
    np.testing.assert_allclose(truth["saturation_beta"].values * y_scale, truth["saturation_beta_original_scale"].values)
    assert truth["channel_contribution_original_scale"].shape == (52, 2)


def test_same_seed_same_data_other_seed_other_data():
    a, _ = simulate(SimulateSpec(generator="single_market", n_weeks=30), seed=4)
    b, _ = simulate(SimulateSpec(generator="single_market", n_weeks=30), seed=4)
    c, _ = simulate(SimulateSpec(generator="single_market", n_weeks=30), seed=5)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.y, c.y)


def test_geo_hierarchical_panel():
    data, truth = simulate(SimulateSpec(generator="geo_hierarchical", n_weeks=40,
                                        true_params={"geos": ["n", "s", "e"], "intercept": 4000.0}), seed=2)
    assert data.X.shape == (40, 3, 2) and data.panel == {"geo": ["n", "s", "e"]}
    assert truth["saturation_beta"].dims == ("geo", "channel") and truth["adstock_alpha"].dims == ("geo", "channel")
    campaign = data.X[..., 1]
    assert (campaign == 0).mean() > 0.4  # bursty channel: zero most weeks


def test_unknown_true_param_is_an_error():
    with pytest.raises(ValueError, match="unknown keys \\['lamda'\\]"):
        simulate(SimulateSpec(generator="single_market", true_params={"lamda": [1, 2]}), seed=1)


def test_confounded_demand_spend_follows_demand():
    data, truth = simulate(SimulateSpec(generator="confounded_demand", n_weeks=156), seed=3)
    assert data.channels == ["tv", "social", "search"] and data.controls == ["demand_proxy"]
    demand = truth["demand"].values
    for c in range(3):
        assert np.corrcoef(data.X[:, c], demand)[0, 1] > 0.5
    np.testing.assert_allclose(truth["adstock_alpha"].values, [0.5, 0.25, 0.05])
    _, y_scale = max_scales(data)
    np.testing.assert_allclose(truth["saturation_beta"].values * y_scale, [350, 150, 50])


def test_time_varying_media_is_drawn_from_the_fitted_model():
    data, truth = simulate(SimulateSpec(generator="time_varying_media", n_weeks=120), seed=4)
    mult = truth["media_temporal_latent_multiplier"].values
    assert mult.shape == (120,) and np.log(mult).mean() == pytest.approx(0.0, abs=1e-9)
    assert mult.max() / mult.min() > 1.2  # the multiplier really varies
    # rebuilding the same model on the simulated data, the true parameters reproduce the contributions
    spec = ModelSpec.model_validate({"saturation": {"type": "michaelis_menten"}, "time_varying_media": {"m": 50}})
    mmm = build_model(spec, data)
    m = mmm.model
    names = ["adstock_alpha", "saturation_alpha", "saturation_lam"]
    fn = m.compile_fn(m["channel_contribution_original_scale"] / m["media_temporal_latent_multiplier"][:, None],
                      inputs=[m[k] for k in names], on_unused_input="ignore", mode=NUMPY_MODE)
    got = fn({k: truth[k].values for k in names})
    want = truth["channel_contribution_original_scale"].values / mult[:, None]
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_recovery_table_and_saturation_curves_on_a_perfect_posterior(single_market, truth_model_spec):
    data, truth = single_market
    names = ["adstock_alpha", "saturation_lam", "saturation_beta", "intercept_contribution", "y_sigma"]
    idata = idata_from_truth(truth, names, n_draws=5)
    table = recovery_table(idata, truth)
    assert set(table["parameter"]) >= {"adstock_alpha[x1]", "saturation_beta[x2]", "y_sigma"}
    assert table["covered"].all() and np.allclose(table["rel_error"], 0)
    mmm = build_model(truth_model_spec, data)
    spend, est, true = saturation_curves(idata, truth, mmm, n_points=11, n_draws=5)
    np.testing.assert_allclose(est.mean(axis=0), true)
    beta, lam = truth["saturation_beta_original_scale"].values, truth["saturation_lam"].values
    np.testing.assert_allclose(true[-1], beta * (1 - np.exp(-lam)) / (1 + np.exp(-lam)))  # at max spend


@pytest.mark.slow
def test_replicate_study_and_coverage_by_hand():
    from pathlib import Path

    import pandas as pd

    from mmmhelpers.config import FitSpec, Params, load_params
    from mmmhelpers.recovery import coverage_summary, replicate_study

    reps = pd.DataFrame({"parameter": ["a", "a", "a", "a", "b", "b"], "covered": [True, True, False, True, True, False],
                         "covered_50": [True, False, False, False, True, True], "rel_error": [0.1, -0.1, 0.3, 0.1, 0, 0]})
    summ = coverage_summary(reps).set_index("parameter")
    assert summ.loc["a", "coverage_94"] == 0.75 and summ.loc["a", "coverage_50"] == 0.25
    assert summ.loc["b", "coverage_94"] == 0.5 and summ.loc["b", "replicates"] == 2
    # a real (tiny) replicate study: one compiled model (the tiny case's: compiled once for the suite), three
    # datasets, truth differs per replicate
    tiny = load_params(Path(__file__).parent / "params" / "tiny.yaml")
    params = Params.model_validate({"case": "reps", "title": "r", "seed": 3, "model": tiny.model.model_dump(),
                                    "simulate": {"generator": "single_market", "n_weeks": 40}})
    out = replicate_study(params, 3, fit=FitSpec(chains=2, tune=100, draws=100), progress=False)
    assert sorted(out["replicate"].unique()) == [0, 1, 2]
    per_rep = out[out.parameter == "saturation_beta[x1]"]["truth"]
    assert per_rep.nunique() == 3  # each replicate is its own dataset with its own model-scale truth
    assert out["quantile"].between(0, 1).all()


def test_sparse_channels_have_long_dark_stretches_and_hill_truth():
    data, truth = simulate(SimulateSpec(generator="sparse_channels", n_weeks=104), seed=2611)
    zero_runs = []
    for c in range(len(data.channels)):
        run = best = 0
        for v in data.X[:, c]:
            run = run + 1 if v == 0 else 0
            best = max(best, run)
        zero_runs.append(best)
    assert max(zero_runs) >= 8  # at least one channel is dark for 8+ weeks in a row
    np.testing.assert_array_equal(truth["saturation_slope"].values, [0.6, 0.9, 0.4, 0.7])
    assert truth.attrs["saturation"] == "hill"
    # the truth's contributions add up with the data: y = baseline + media + ... (media a third of sales here)
    share = float(truth["total_media_contribution_original_scale"]) / data.y.sum()
    assert 0.2 < share < 0.5


def _numpy_mastering(n: int = 156, seed: int = 10):
    """The case study's generator line by line, with numpy only (legacy global stream, np.random.seed)."""
    from reference import numpy_adstock

    np.random.seed(seed)
    trend = (np.linspace(start=0.0, stop=20, num=n) + 5) ** (1 / 8) - 1
    season = 0.1 * np.sin(2 * np.pi * np.arange(n) / 52)
    demand = (trend * (1 + season) + np.random.normal(loc=0, scale=0.10, size=n)) * 1000
    proxy = np.abs(demand * np.random.normal(loc=1, scale=0.10, size=n))
    sales, spends, contribs = demand.copy(), [], []
    for scalar, alpha, lam, beta in zip([10, 15, 20], [0.50, 0.25, 0.05], [1.5, 2.5, 3.5], [350, 150, 50]):
        raw = np.abs(demand * scalar * np.random.normal(loc=1, scale=0.30, size=n))
        w = alpha ** np.arange(8)
        ad = numpy_adstock(raw / np.abs(raw).max(), w / w.sum())
        c = beta * (1 - np.exp(-lam * ad)) / (1 + np.exp(-lam * ad))
        sales += c
        spends.append(raw)
        contribs.append(c)
    return demand, proxy, np.stack(spends, 1), np.stack(contribs, 1), sales


def test_mastering_mmm_reproduces_the_case_study_generator_draw_for_draw():
    data, truth = simulate(SimulateSpec(generator="mastering_mmm", n_weeks=156), seed=123)  # numpy_seed 10 rules
    demand, proxy, X, contrib, sales = _numpy_mastering()
    np.testing.assert_allclose(truth["demand"].values, demand, rtol=1e-12)
    np.testing.assert_allclose(data.C[:, 0], proxy, rtol=1e-12)
    np.testing.assert_allclose(data.X, X, rtol=1e-12)
    np.testing.assert_allclose(truth["channel_contribution_original_scale"].values, contrib, rtol=1e-10)
    np.testing.assert_allclose(data.y, sales, rtol=1e-12)
    np.testing.assert_allclose(truth["saturation_beta"].values, np.array([350, 150, 50]) / sales.max())
    assert data.channels == ["tv", "social", "search"] and str(data.dates[0].date()) == "2021-01-03"  # freq "W"
    assert np.corrcoef(data.X[:, 0], demand)[0, 1] > 0.6  # spend follows demand: the confounding


def test_lift_tests_from_the_truth_by_hand():
    from mmmhelpers.simulate import lift_tests_from_truth

    data, truth = simulate(SimulateSpec(generator="mastering_mmm", n_weeks=156), seed=1)
    lift = lift_tests_from_truth(data, truth, seed=5)
    x, dx, scale = np.median(data.X, 0), 0.2 * np.median(data.X, 0), data.X.max(0)
    lam, beta = truth["saturation_lam"].values, truth["saturation_beta"].values * data.y.max()

    def curve(v):
        return beta * (1 - np.exp(-lam * v / scale)) / (1 + np.exp(-lam * v / scale))

    np.testing.assert_allclose(lift["true_delta_y"], curve(x + dx) - curve(x), rtol=1e-10)
    np.testing.assert_allclose(lift["sigma"], 0.1 * (curve(x + dx) - curve(x)), rtol=1e-10)
    assert (np.abs(lift["delta_y"] - lift["true_delta_y"]) < 4 * lift["sigma"]).all()
    assert list(lift["channel"]) == data.channels


def test_transform_curves_and_effect_shares_by_hand(single_market, truth_model_spec):
    """Prior/posterior transforms and shares of the target, computed by hand from the true parameters."""
    from mmmhelpers.recovery import effect_shares, transform_curves, true_transforms

    data, truth = single_market
    idata = idata_from_truth(truth, ["adstock_alpha", "saturation_lam", "saturation_beta",
                                     "channel_contribution_original_scale"], n_draws=2)
    weights, curves, grid = transform_curves(idata.posterior, truth_model_spec, data.channels, n_points=5)
    alpha, lam, beta = (truth[v].values for v in ("adstock_alpha", "saturation_lam", "saturation_beta"))
    w = alpha[None] ** np.arange(8)[:, None]
    np.testing.assert_allclose(weights[0], w / w.sum(0), rtol=1e-10)
    e = np.exp(-lam[None] * grid[:, None])
    np.testing.assert_allclose(curves[1], beta * (1 - e) / (1 + e), rtol=1e-10)
    np.testing.assert_allclose(true_transforms(truth, truth_model_spec, data.channels, n_points=5)[1], curves[0])
    shares = effect_shares({"m": idata}, truth.assign(demand=truth["channel_contribution_original_scale"]
                                                      .sum("channel") * 0), data)
    true = truth["channel_contribution_original_scale"].sum("date").values / data.y.sum()
    np.testing.assert_allclose(shares["m share"][:2], true, rtol=1e-10)
    np.testing.assert_allclose(shares["true share"], shares["m share"], rtol=1e-10)
    assert shares["component"].iloc[-1] == "demand and baseline"


def test_multi_objective_generator_prints_the_case_studys_first_rows():
    """The case study's dataset.head(): its random walks, draw for draw; the targets' means by hand."""
    data, truth = simulate(SimulateSpec(generator="multi_objective", n_weeks=100), seed=7)
    head = np.array([[0.866098, 0.948983, 1.686121, 1.372259], [1.208886, 0.929276, 1.724699, 1.247626],
                     [1.571934, 0.934704, 1.561938, 1.325415], [1.316408, 0.942521, 1.697812, 1.473127],
                     [1.468910, 0.899849, 1.712968, 1.365724]])
    np.testing.assert_allclose(data.X[:5, 0], head, atol=5e-7)
    assert (data.X[:, 0] == data.X[:, 1]).all() and data.panel == {"kpi": ["new_users", "reengage"]}
    assert str(data.dates[1].date()) == "2020-01-02" and data.X.min() >= 0 and data.X.max() <= 2
    x = head[0]
    new_users = 0.5 + np.sum(np.array([0.3, 0.5, 4, 3]) * x / (np.array([0.1, 0.3, 1, 0.8]) + x))
    np.testing.assert_allclose(truth["channel_contribution_original_scale"].values[0, 0].sum() + 0.5, new_users,
                               rtol=1e-5)
    resid = data.y - (truth["intercept"].values + truth["channel_contribution_original_scale"].values.sum(-1))
    assert np.abs(resid / truth["y_sigma"].values).max() < 4.5 and (data.y >= 0).all()  # noise of the given sd


def test_a_channel_that_follows_the_previous_one_is_collinear_with_it():
    """``follows_previous``: the workshop's collinear pair; the channel before it keeps its own draws."""
    from mmmhelpers.simulate import spend_matrix, spend_pattern

    X = spend_matrix(np.random.default_rng(3), ["always_on", "follows_previous"], 104, [5000.0, 2000.0])
    assert np.corrcoef(X[:, 0], X[:, 1])[0, 1] > 0.9
    assert X[:, 1].mean() == pytest.approx(2000.0, rel=0.05)
    np.testing.assert_array_equal(X[:, 0], spend_pattern(np.random.default_rng(3), "always_on", 104, 5000.0))
    with pytest.raises(ValueError, match="follows_previous needs a channel before it"):
        spend_matrix(np.random.default_rng(3), ["follows_previous"], 10, [1.0])
