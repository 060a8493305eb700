"""Out-of-sample scores against hand-computed values; carryover into the holdout."""

import numpy as np
import pytest
from conftest import MODEL_VARS, idata_from_truth, logp_at_start

from mmmhelpers.config import ModelSpec
from mmmhelpers.model import build_model
from mmmhelpers.out_of_sample import coverage, crps, holdout_folds, predict, scores
from mmmhelpers.transforms import NUMPY_MODE, ONE_OFF_MODE


def test_crps_two_point_ensemble_by_hand():
    # samples {0, 1}, y = 0: E|X-y| = 0.5, E|X-X'| = 0.5 -> CRPS = 0.5 - 0.25
    assert crps(np.array([[0.0], [1.0]]), np.array([0.0]))[0] == pytest.approx(0.25)


def test_crps_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(50, 3))
    y = np.array([0.3, -1.0, 2.0])
    pairwise = np.abs(s - y).mean(0) - 0.5 * np.abs(s[:, None] - s[None]).mean((0, 1))
    np.testing.assert_allclose(crps(s, y), pairwise)


def test_crps_of_point_forecast_is_absolute_error():
    assert crps(np.full((10, 1), 3.0), np.array([5.0]))[0] == pytest.approx(2.0)


def test_coverage_and_point_scores_by_hand():
    s = np.tile(np.arange(101.0)[:, None], (1, 4))  # draws 0..100 for 4 observations
    y = np.array([50.0, 10.0, 99.5, 200.0])
    assert coverage(s, y, 0.5) == pytest.approx(0.25)  # only 50 is in [25, 75]
    assert coverage(s, y, 0.94) == pytest.approx(0.5)  # 50 and 10 are in [3, 97]
    sc = scores(s, y)
    mean = 50.0
    assert sc["mape"] == pytest.approx(np.mean(np.abs(mean - y) / y))
    assert sc["r2"] == pytest.approx(1 - np.sum((mean - y) ** 2) / np.sum((y - y.mean()) ** 2))


def test_fold_layout():
    assert holdout_folds(100, 8, 2) == [(92, 100), (84, 92), (76, 84)]
    with pytest.raises(ValueError, match="too little"):
        holdout_folds(30, 8, 3)


def test_carryover_flows_into_the_holdout(single_market, truth_model_spec):
    """A spike in the last training week raises the predicted media effect of the first test week."""
    data, truth = single_market
    train_end = 50
    mmm = build_model(truth_model_spec, data.slice(0, train_end))
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=2)
    full = data.slice(0, train_end + 5)
    X_quiet = full.X.copy()
    X_quiet[train_end - 10 :, :] = 0.0  # no spend for 10 weeks before the cut (l_max = 8) nor after it
    X_spike = X_quiet.copy()
    X_spike[train_end - 1, 1] = 3 * data.X[:, 1].max()  # spike in the last training week only
    quiet = predict(mmm, idata, full.with_X(X_quiet), var_names=("y", "channel_contribution"))
    spike = predict(mmm, idata, full.with_X(X_spike), var_names=("y", "channel_contribution"))
    c_quiet = quiet["channel_contribution"].sel(channel="x2").values[:, train_end]
    c_spike = spike["channel_contribution"].sel(channel="x2").values[:, train_end]
    assert np.all(c_quiet == 0) and np.all(c_spike > 0)
    # and the same in y: the mean prediction of the first test week is higher
    assert spike["y_original_scale"].values[:, train_end].mean() > quiet["y_original_scale"].values[:, train_end].mean()
    # the model was restored to its training data
    assert mmm.model["channel_data"].get_value().shape[0] == train_end


def test_cross_validation_model_sees_only_training_weeks(single_market, truth_model_spec):
    """One model for every fold: the likelihood and the scales use only the fold's training weeks."""
    from mmmhelpers.out_of_sample import fold_values

    data, _ = single_market
    mmm = build_model(truth_model_spec, data, observed_weeks=40)
    assert mmm.model.named_vars_to_dims["y"] == ("obs",)
    assert mmm.model.named_vars_to_dims["channel_contribution"] == ("date", "channel")  # full history
    later = data.with_X(data.X)
    later_y = data.y.copy()
    later_y[45:] *= 10  # a huge change after the training weeks
    from dataclasses import replace

    changed = replace(later, y=later_y)
    a, b = fold_values(mmm, data, 40), fold_values(mmm, changed, 40)
    np.testing.assert_array_equal(a["target_scale"], b["target_scale"])
    np.testing.assert_array_equal(a["target_scaled"], b["target_scaled"])
    assert a["target_scaled"].shape == (40,) and a["train_end_time"] == pytest.approx(39.0)
    c = fold_values(mmm, data, 30)
    assert c["target_scaled"].shape == (30,) and c["train_end_time"] == pytest.approx(29.0)


def test_a_fold_has_the_log_density_of_the_model_fitted_on_its_weeks_alone(single_market, truth_model_spec):
    """The cross-validation form observing the first 40 weeks has, at any point, the log density of the model built
    on those 40 weeks alone: the later spend changes no observed week, and the scales come from the observed weeks.
    It is the fit's structure (one key: the fit's compiled model samples every fold with the fold's data)."""
    from mmmhelpers import compile as mc

    data, _ = single_market
    fold = build_model(truth_model_spec, data, observed_weeks=40).model
    alone = build_model(truth_model_spec, data.slice(0, 40)).model
    logp_fold, logp_alone = (m.compile_logp(mode=NUMPY_MODE) for m in (fold, alone))
    rng = np.random.default_rng(0)
    for _ in range(5):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in alone.initial_point().items()}
        assert float(logp_fold(point)) == pytest.approx(float(logp_alone(point)), rel=1e-12)
    keys = {mc.structure_key(m, mc.model_graphs(m, mc.UNCONSTRAINED_ONLY))[0]
            for m in (fold, alone, build_model(truth_model_spec, data).model)}
    assert len(keys) == 1


def test_cross_validation_model_on_a_geo_panel_evaluates():
    """Geo panel, seasonality shared across geos, likelihood on fewer weeks than the spend history."""
    from mmmhelpers.config import SimulateSpec
    from mmmhelpers.simulate import simulate

    data, _ = simulate(SimulateSpec(generator="geo_hierarchical", n_weeks=40), seed=1)
    mmm = build_model(ModelSpec(yearly_seasonality=2, trend=True), data, observed_weeks=30)
    m = mmm.model
    assert m.named_vars_to_dims["yearly_seasonality_contribution"] == ("date", "geo")
    point = m.initial_point()
    assert np.isfinite(logp_at_start(m))
    season = m.compile_fn(m["yearly_seasonality_contribution"], inputs=[m.rvs_to_values[m["gamma_fourier"]]],
                          on_unused_input="ignore", mode=NUMPY_MODE)({"gamma_fourier": point["gamma_fourier"] + 0.1})
    assert season.shape == (40, 2)


def test_forecast_holds_the_last_spend_and_carries_the_history_over(single_market, truth_model_spec):
    """The forecast's media contribution equals a numpy computation: normalized geometric adstock over the
    history followed by the last week's spend held, then logistic saturation, per channel (true parameters)."""
    from reference import numpy_adstock

    from mmmhelpers.out_of_sample import forecast, forecast_table

    data, truth = single_market
    mmm = build_model(truth_model_spec, data)
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=2)
    weeks = 7
    future, pred = forecast(mmm, idata, data, weeks, seed=1, var_names=("y", "channel_contribution"))
    n = data.n_dates
    assert future.n_dates == n + weeks and (np.diff(future.dates[n - 1:]) == np.timedelta64(7, "D")).all()
    assert np.isnan(future.y[n:]).all() and (future.C[n:] == 0).all()
    np.testing.assert_array_equal(future.X[n:], np.broadcast_to(data.X[-1], (weeks, len(data.channels))))
    assert mmm.model["channel_data"].get_value().shape[0] == n  # the model is back on its own data
    alpha, lam, beta = (truth[v].values for v in ("adstock_alpha", "saturation_lam", "saturation_beta"))
    l_max = truth_model_spec.adstock.l_max
    w = alpha[None] ** np.arange(l_max)[:, None]
    ad = numpy_adstock(future.X / mmm.channel_scale, w / w.sum(0))
    expected = beta * (1 - np.exp(-lam * ad)) / (1 + np.exp(-lam * ad))
    np.testing.assert_allclose(pred["channel_contribution"].values[0, n:], expected[n:], rtol=1e-8)
    table = forecast_table(pred, future, n)
    assert len(table) == weeks and (table["94% low"] <= table["forecast"]).all()
    assert (table["forecast"] <= table["94% high"]).all()
    assert table["date"].iloc[0] == future.dates[n]


def test_a_refit_carries_its_divergences_and_rhat():
    import arviz as az

    from mmmhelpers.fit import convergence
    from mmmhelpers.out_of_sample import fit_note

    rng = np.random.default_rng(0)
    mixed = az.from_dict(posterior={"a": rng.normal(0, 1, (2, 500))},
                         sample_stats={"diverging": np.zeros((2, 500), bool)})
    apart = az.from_dict(posterior={"a": rng.normal(0, 1, (2, 500)) + np.array([[0.0], [3.0]])},
                         sample_stats={"diverging": np.eye(2, 500, dtype=bool)})
    good, bad = convergence(mixed), convergence(apart)
    assert good["converged"] and good["divergences"] == 0 and good["rhat_max"] < 1.01
    assert not bad["converged"] and bad["divergences"] == 2 and bad["rhat_max"] > 1.5
    assert fit_note(**good) == "converged"
    assert fit_note(**bad).startswith("NOT converged (2 divergences, max R-hat")


def _plan_csv(tmp_path, data, rows: int, start=None, scale=0.5, extra: dict | None = None):
    """A plan CSV in the data's layout: ``rows`` periods from ``start`` (default: the period after the data)."""
    import pandas as pd

    start = start or data.calendar.following(data.dates[-1], 1)[0]
    spend = data.X[-rows:] * scale
    df = pd.DataFrame({"date": pd.date_range(start, periods=rows, freq="7D").strftime("%Y-%m-%d"),
                       **{ch: spend[:, k] for k, ch in enumerate(data.channels)},
                       **{c: np.ones(rows) for c in data.controls}, **(extra or {})})
    path = tmp_path / "plan.csv"
    df.to_csv(path, index=False)
    return path


def test_a_plan_forecast_equals_a_hand_computation_and_its_parts_add_up(tmp_path, single_market, truth_model_spec):
    """The plan's media equals numpy adstock over the history then the plan's spend, logistic saturation (true
    parameters); with the plan's spend at zero it is the data's carryover, and the rest is what the plan adds. The
    parts add up to the expected target draw by draw."""
    from reference import numpy_adstock

    from mmmhelpers.data import read_plan
    from mmmhelpers.out_of_sample import forecast, forecast_parts

    data, truth = single_market
    mmm = build_model(truth_model_spec, data)
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=2)
    plan = read_plan(_plan_csv(tmp_path, data, 5), data)
    assert plan.n_dates == 5 and np.isnan(plan.y).all() and (plan.C == 1).all()
    future, pred = forecast(mmm, idata, data, 0, seed=1, var_names=("y", "channel_contribution_original_scale"),
                            plan=plan)
    n = data.n_dates
    np.testing.assert_array_equal(future.X[n:], plan.X)
    alpha, lam, beta = (truth[v].values for v in ("adstock_alpha", "saturation_lam", "saturation_beta"))
    w = alpha[None] ** np.arange(truth_model_spec.adstock.l_max)[:, None]

    def media(X):
        ad = numpy_adstock(X / mmm.channel_scale, w / w.sum(0))
        return (beta * (1 - np.exp(-lam * ad)) / (1 + np.exp(-lam * ad)) * mmm.target_scale)[n:].sum()

    with_history = media(future.X)
    np.testing.assert_allclose(pred["channel_contribution_original_scale"].values[0, n:].sum(), with_history,
                               rtol=1e-8)
    carried = media(np.concatenate([data.X, np.zeros_like(plan.X)]))
    parts = forecast_parts(mmm, idata, future, n, seed=1).set_index("part")["mean"]
    assert parts["media: carryover of the data's spend"] == pytest.approx(carried, rel=1e-8)
    assert parts["media: added by the window's spend"] == pytest.approx(with_history - carried, rel=1e-8)
    assert carried > 0.01 * with_history  # l_max 8: the data's last weeks still work in the plan
    assert parts["baseline (every term but media)"] + parts["media: added by the window's spend"] + \
        parts["media: carryover of the data's spend"] == pytest.approx(parts["expected target"], rel=1e-10)


def test_a_plan_that_does_not_follow_the_data_names_the_file_column_and_dates(tmp_path, single_market):
    from mmmhelpers.data import DataError, plan_warnings, read_plan

    data, _ = single_market
    late = data.calendar.following(data.dates[-1], 2)[1]
    with pytest.raises(DataError, match=rf"forecast_plan: {tmp_path}/plan.csv: column 'date': the plan starts "
                                        rf"{late:%Y-%m-%d}; it must start the period after the data's last"):
        read_plan(_plan_csv(tmp_path, data, 3, start=late), data)
    path = _plan_csv(tmp_path, data, 3)
    path.write_text(path.read_text().replace(data.channels[1], "radio"))
    with pytest.raises(DataError, match=rf"missing columns: '{data.channels[1]}'"):
        read_plan(path, data)
    plan = read_plan(_plan_csv(tmp_path, data, 3, scale=3.0), data)
    warned = plan_warnings(plan, data)
    assert len(warned) >= 1 and "above the most the data spent there" in warned[0]


def test_a_what_if_plan_differs_from_the_plan_by_its_controls_effect_by_hand(tmp_path, single_market,
                                                                             truth_model_spec):
    """out_of_sample.forecast_scenarios: the same plan is no difference; a plan without the first event (a promotion
    off) differs by periods x its effect (gamma x target scale / control scale) in every draw, paired."""
    from mmmhelpers.data import read_plan
    from mmmhelpers.out_of_sample import what_if_table

    data, truth = single_market
    mmm = build_model(truth_model_spec, data)
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=2)
    plan = read_plan(_plan_csv(tmp_path, data, 5), data)
    path = _plan_csv(tmp_path, data, 5, extra={data.controls[0]: np.zeros(5)}).rename(tmp_path / "no_promo.csv")
    table = what_if_table(mmm, idata, data, plan, {"same": plan, "no promotion": read_plan(path, data)}, seed=1)
    rows = table.set_index("plan")
    assert rows.loc["same", "difference"] == 0.0 and rows.loc["same", "P(difference > 0)"] == 0.0
    effect = float(truth["gamma_control"].values[0]) * float(mmm.target_scale) / float(mmm.control_scale[0])
    assert rows.loc["no promotion", "difference"] == pytest.approx(-5 * effect, rel=1e-8)
    assert rows.loc["no promotion", "difference 94% low"] == pytest.approx(-5 * effect, rel=1e-8)  # every draw
    assert rows.loc["no promotion", "spend"] == pytest.approx(rows.loc["the plan (forecast_plan)", "spend"])


def test_predictions_draw_the_likelihood_around_pymcs_mean(single_market, truth_model_spec):
    """``predict`` computes the deterministics of every draw at once and draws the likelihood once (numpy): its mean
    ``mu`` is PyMC's own (``sample_posterior_predictive``, a loop over draws) on new dates, its ``y`` PyMC's draws
    exactly (one draw of the whole array takes the seeded generator's stream as the loop does), and ``y - mu`` has
    the likelihood's sd."""
    import pymc as pm

    data, truth = single_market
    mmm = build_model(truth_model_spec, data.slice(0, 50))
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=500)
    ours = predict(mmm, idata, data, seed=2, var_names=("y", "mu"))
    mmm.set_data(data)
    with mmm.model:
        ref = pm.sample_posterior_predictive(idata, var_names=["mu", "y"], predictions=True, random_seed=2,
                                            progressbar=False, compile_kwargs={"mode": ONE_OFF_MODE}).predictions
    mmm.set_data(mmm.data)
    expected = ref["mu"].stack(sample=("chain", "draw")).transpose("sample", "date").values
    assert ours["mu"].shape == expected.shape == (500, data.n_dates)
    np.testing.assert_allclose(ours["mu"].values, expected, rtol=1e-12)
    np.testing.assert_array_equal(ours["y"].values,
                                  ref["y"].stack(sample=("chain", "draw")).transpose("sample", "date").values)
    resid = (ours["y"] - ours["mu"]).values
    sigma = float(truth["y_sigma"])
    assert abs(resid.mean()) < 4 * sigma / np.sqrt(resid.size)
    assert resid.std() == pytest.approx(sigma, rel=0.03)
    assert abs(np.corrcoef(resid[:-1].ravel(), resid[1:].ravel())[0, 1]) < 0.02  # a new draw for every draw
