"""Calibration (``mmmhelpers.calibration``): lift tests' likelihood against scipy, an experiment's lift by hand with
its carryover after the test, experiment files' errors by file, column and row, and simulated experiments that
measure the truth's lift.

End-to-end: tests/test_knowledge.py::test_a_case_with_the_analysts_knowledge_runs_every_stage runs a case with a
simulated experiment through every stage (the fit page names what informs each channel).
"""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from reference import numpy_adstock

from mmmhelpers.calibration import add_experiments, add_lift_tests, read_experiments
from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.data import DataError
from mmmhelpers.model import build_model
from mmmhelpers.review import sample_prior
from mmmhelpers.simulate import simulate
from mmmhelpers.transforms import NUMPY_MODE, ONE_OFF_MODE


def test_lift_test_likelihood_matches_scipy_gamma(single_market, truth_model_spec):
    import pandas as pd
    from scipy import stats

    data, _ = single_market
    lift = pd.DataFrame({"channel": ["x1", "x2"], "x": [2000.0, 0.0], "delta_x": [1000.0, 3000.0],
                         "delta_y": [300.0, 500.0], "sigma": [50.0, 80.0]})
    mmm = build_model(truth_model_spec, data)
    add_lift_tests(mmm, lift)
    m = mmm.model
    lam, beta = np.array([2.0, 3.0]), np.array([0.3, 0.2])
    logp = m.compile_fn(m.logp(vars=[m["lift_measurements"]], sum=False)[0],
                        inputs=[m.rvs_to_values[m["saturation_lam"]], m.rvs_to_values[m["saturation_beta"]]],
                        on_unused_input="ignore", mode=NUMPY_MODE)
    got = logp({"saturation_lam_log__": np.log(lam), "saturation_beta_log__": np.log(beta)})
    xs, ys = data.X.max(0), np.abs(data.y).max()

    def sat(x):
        return beta * (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))

    x0 = lift["x"].to_numpy() / xs
    x1 = (lift["x"] + lift["delta_x"]).to_numpy() / xs
    mu = np.abs(sat(x1) - sat(x0))
    sigma = lift["sigma"].to_numpy() / ys
    want = stats.gamma.logpdf(lift["delta_y"].to_numpy() / ys, a=mu**2 / sigma**2, scale=sigma**2 / mu)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_lift_tests_with_unknown_channel_are_an_error(single_market, truth_model_spec):
    import pandas as pd

    from mmmhelpers.data import DataError

    data, _ = single_market
    lift = pd.DataFrame({"channel": ["tv"], "x": [1.0], "delta_x": [1.0], "delta_y": [1.0], "sigma": [1.0]})
    with pytest.raises(DataError, match="unknown values \\['tv'\\]"):
        add_lift_tests(build_model(truth_model_spec, data), lift)


def _experiments_csv(tmp_path, data, rows):
    table = pd.DataFrame(rows)
    path = tmp_path / "experiments.csv"
    table.to_csv(path, index=False)
    return path


def _hand_response(spend, alpha, lam, beta, channel_scale, target_scale, l_max):
    """Geometric adstock (normalized), logistic saturation, original units: per week, in numpy."""
    w = alpha ** np.arange(l_max)
    a = numpy_adstock(spend / channel_scale, w / w.sum())
    return beta * (1 - np.exp(-lam * a)) / (1 + np.exp(-lam * a)) * target_scale


def test_an_experiments_lift_counts_the_carryover_after_the_test(tmp_path):
    """The model's lift of a test, computed by hand in numpy: spend raised for 4 weeks under a slow adstock, with the
    lift that lands after the test ends; a test at the data's start (no history before it) and one at its end (the
    carryover runs past the data, spend held at its last level). Two markets, so the cells are picked right."""
    data = simulate(SimulateSpec(generator="geo_hierarchical", n_weeks=40), seed=5)[0]
    d = data.dates
    rows = [{"geo": "geo_b", "channel": "x2", "start": d[10], "end": d[13], "delta_spend": 800.0},
            {"geo": "geo_a", "channel": "x1", "start": d[0], "end": d[2], "delta_spend": 500.0},
            {"geo": "geo_a", "channel": "x2", "start": d[36] - pd.Timedelta(days=2), "end": d[39],
             "delta_spend": -float(data.X[36:, 0, 1].min())}]
    for r in rows:
        r.update(lift=100.0, lift_se=10.0)
    spec = ModelSpec.model_validate({"adstock": {"type": "geometric", "l_max": 6, "normalize": True,
                                                 "priors": {"alpha": {"distribution": "Beta", "alpha": 8, "beta": 2,
                                                                      "dims": ["channel"]}}}})  # slow carryover
    mmm = build_model(spec, data)
    add_experiments(mmm, read_experiments(_experiments_csv(tmp_path, data, rows), data))
    draws = sample_prior(mmm, 3, seed=2).prior.isel(chain=0)
    for k in range(3):
        point = draws.isel(draw=k)
        alpha, lam, beta = (point[n].values for n in ("adstock_alpha", "saturation_lam", "saturation_beta"))
        for e, r in enumerate(rows):
            g, c = data.panel["geo"].index(r["geo"]), data.channels.index(r["channel"])
            x = np.concatenate([data.X[:, g, c], np.full(5, data.X[-1, g, c])])  # after the data: held at its level
            weeks = np.arange(len(x))
            first, last = d.searchsorted(r["start"]), d.searchsorted(r["end"], side="right") - 1
            more = x + np.where((weeks >= first) & (weeks <= last), r["delta_spend"], 0.0)
            by_week = np.subtract(*(_hand_response(s, alpha[c], lam[c], beta[c], mmm.channel_scale[g, c],
                                                   mmm.target_scale[g], 6) for s in (more, x)))
            np.testing.assert_allclose(point["experiment_model_lift"].values[e], by_week.sum(), rtol=1e-9)
            if e == 0:
                after = by_week[last + 1:].sum() / by_week.sum()
                assert after > 0.2, f"a slow adstock puts {after:.0%} of the lift after the test: counted"


def test_experiment_errors_name_the_file_column_and_rows(tmp_path, data):
    d = data.dates
    panel = {k: v[0] for k, v in data.panel.items()}
    good = {**panel, "channel": "x1", "start": d[5], "end": d[8], "delta_spend": 100.0, "lift": 50.0, "lift_se": 5.0}
    cases = [({**good, "channel": "tv"}, r"column 'channel': unknown values \['tv'\]"),
             ({**good, "lift_se": 0.0}, r"'lift_se' must be positive \(rows 3\)"),
             ({**good, "start": "not a date"}, r"column 'start': not a date \(rows 3\)"),
             ({**good, "start": d[-1] + pd.Timedelta(days=30), "end": d[-1] + pd.Timedelta(days=60)},
              "no period of the data"),
             ({**good, "delta_spend": -1e12}, "below zero")]
    for row, message in cases:
        path = _experiments_csv(tmp_path, data, [good, row])
        with pytest.raises(DataError, match=rf"model.experiments: {path}: .*{message}"):
            read_experiments(path, data)
    path = _experiments_csv(tmp_path, data, [{k: v for k, v in good.items() if k != "lift_se"}])
    with pytest.raises(DataError, match=r"missing columns \['lift_se'\]"):
        read_experiments(path, data)


def test_simulated_experiments_measure_the_truths_lift():
    """``model.experiments_from_truth``: the true lift (the simulator's numpy) equals the model's lift at the true
    parameters (the model's graph), and the measurement is it plus noise of the stated sd."""
    import arviz as az

    from mmmhelpers.calibration import experiment_table, model_for
    from mmmhelpers.config import Params
    from mmmhelpers.simulate import simulate as sim

    params = Params.model_validate({
        "case": "t", "title": "t", "seed": 3, "simulate": {"generator": "geo_hierarchical", "n_weeks": 52},
        "model": {"adstock": {"priors": {"alpha": {"distribution": "Beta", "alpha": 2, "beta": 2,
                                                   "dims": ["geo", "channel"]}}},
                  "saturation": {"priors": {"beta": {"distribution": "HalfNormal", "sigma": 1,
                                                     "dims": ["geo", "channel"]}}},
                  "experiments_from_truth": [
            {"channel": "x1", "where": {"geo": "geo_b"}, "start": "2022-03-07", "end": "2022-03-28",
             "delta_spend": 1000, "lift_se": 50},
            {"channel": "x1", "where": {"geo": "geo_a"}, "start": "2022-12-05", "end": "2022-12-26",
             "delta_spend": -2000, "lift_se": 50}]},
        "fit": {"chains": 1}})
    from mmmhelpers.seeds import seed_for

    data, truth = sim(params.simulate, seed_for(params.seed, "simulate"))
    table = experiment_table(params, data)
    assert table["true_lift"].iloc[0] > 0 > table["true_lift"].iloc[1]
    assert (np.abs(table["lift"] - table["true_lift"]) < 4 * 50).all()
    spec = params.model.model_copy(update={"adstock": params.model.adstock.model_copy(
        update={"l_max": int(truth.attrs["l_max"]), "normalize": bool(truth.attrs["normalize"])})})
    mmm = model_for(params.model_copy(update={"model": spec}), data)
    names = ["adstock_alpha", "saturation_lam", "saturation_beta"]
    post = az.from_dict(posterior={n: truth[n].values[None, None] for n in names},
                        dims={n: list(truth[n].dims) for n in names},
                        coords={d: truth[d].values for n in names for d in truth[n].dims})
    with mmm.model:
        got = pm.sample_posterior_predictive(post, var_names=["experiment_model_lift"], progressbar=False,
                                             random_seed=1, compile_kwargs={"mode": ONE_OFF_MODE})
    got = got.posterior_predictive["experiment_model_lift"]
    np.testing.assert_allclose(got.values.ravel(), table["true_lift"].to_numpy(), rtol=1e-8)
