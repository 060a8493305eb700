"""What the analyst knows, in business units: ROAS priors hold exactly on the ROAS the pages report."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from reference import numpy_adstock
from runs import ROOT, cli, load
from scipy import stats

from mmmhelpers.calibration import add_experiments, read_experiments
from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.contributions import roas_draws
from mmmhelpers.data import DataError
from mmmhelpers.model import build_model
from mmmhelpers.out_of_sample import forecast_data
from mmmhelpers.priors import PriorError
from mmmhelpers.review import sample_prior
from mmmhelpers.simulate import simulate

ROAS_TV = {"distribution": "LogNormal", "mean": 1.5, "std": 0.5}


@pytest.fixture(scope="module", params=["single_market", "geo_hierarchical"])
def data(request):
    return simulate(SimulateSpec(generator=request.param, n_weeks=40), seed=5)[0]


def _spec(**extra) -> ModelSpec:
    return ModelSpec.model_validate({"roas_priors": {"x1": ROAS_TV}, **extra})


@pytest.mark.parametrize("extra", [{}, {"time_varying_media": True}, {"saturation": {"type": "hill"}}],
                         ids=["logistic", "time-varying media", "hill"])
def test_the_roas_of_prior_draws_is_the_stated_prior(data, extra):
    mmm = build_model(_spec(**extra), data)
    prior = sample_prior(mmm, 2000, seed=3).prior
    roas = roas_draws(prior, data)  # what the fit page reports: contribution over the data / spend
    drawn = prior["media_roas"].stack(sample=("chain", "draw")).values[0]
    np.testing.assert_allclose(roas[:, 0], drawn, rtol=1e-9)  # draw by draw, every market pooled
    s2 = np.log1p((0.5 / 1.5) ** 2)  # LogNormal(mean 1.5, std 0.5) in log space
    assert stats.kstest(drawn, stats.lognorm(s=np.sqrt(s2), scale=np.exp(np.log(1.5) - s2 / 2)).cdf).pvalue > 0.01
    if data.panel:  # every market's own ROAS is the channel's
        c = prior["channel_contribution_original_scale"].sel(channel="x1").sum("date").stack(sample=("chain", "draw"))
        spend = data.X[..., 0].sum(axis=0)
        np.testing.assert_allclose(c.transpose("sample", ...).values / spend, np.repeat(drawn[:, None], 2, 1), rtol=1e-9)
    assert "saturation_beta" in prior and prior["saturation_beta"].dims[-1] == "channel"


def test_predictions_on_longer_data_keep_the_ceiling(data):
    """The ceiling is fixed by the observed weeks: a forecast (more weeks in the data) does not move it."""
    mmm = build_model(_spec(), data)
    prior = sample_prior(mmm, 50, seed=4)
    future = forecast_data(data, 5)
    mmm.set_data(replace(future, y=np.nan_to_num(future.y)))
    with mmm.model:
        pp = pm.sample_posterior_predictive(prior.prior, var_names=["saturation_beta"], predictions=True,
                                            random_seed=1, progressbar=False).predictions
    np.testing.assert_allclose(pp["saturation_beta"].values, prior.prior["saturation_beta"].values, rtol=1e-9)


def test_roas_prior_errors_name_the_field(data):
    with pytest.raises(PriorError, match=r"model.roas_priors: unknown channels \['tv'\]"):
        build_model(ModelSpec.model_validate({"roas_priors": {"tv": ROAS_TV}}), data)
    mixed = {"x1": ROAS_TV, "x2": {"distribution": "Gamma", "mu": 1, "sigma": 0.5}}
    with pytest.raises(PriorError, match="same distribution"):
        build_model(ModelSpec.model_validate({"roas_priors": mixed}), data)
    with pytest.raises(ValueError, match="tanh saturation has no parameter"):
        ModelSpec.model_validate({"saturation": {"type": "tanh"}, "roas_priors": {"x1": ROAS_TV}})


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
        "model": {"adstock": {"priors": {"alpha": {"distribution": "Beta", "alpha": 2, "beta": 2, "dims": ["geo", "channel"]}}},
                  "saturation": {"priors": {"beta": {"distribution": "HalfNormal", "sigma": 1, "dims": ["geo", "channel"]}}},
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
                                             random_seed=1).posterior_predictive["experiment_model_lift"]
    np.testing.assert_allclose(got.values.ravel(), table["true_lift"].to_numpy(), rtol=1e-8)


def test_a_channel_the_analyst_informed_is_not_called_uninformed():
    from mmmhelpers.contributions import prior_dominated_sentence, uninformed_channels

    table = pd.DataFrame({"channel": ["tv", "search", "display"], "informed": [False, True, False],
                          "also informed by": ["ROAS prior", "", ""]})
    assert uninformed_channels(table) == ["display"]
    sentence = prior_dominated_sentence(table)
    assert sentence.startswith("The data say little about display:")
    assert "tv's ROAS rests on the ROAS prior given to the model" in sentence
    assert uninformed_channels(table.drop(columns="also informed by")) == ["tv", "display"]  # a report made before


def test_priors_translated_into_carryover_delay_and_half_saturation_by_hand():
    """The fit page's translation of media priors: at the half-saturation spend the steady-state response is half the
    ceiling; the mean carryover delay is the weights' mean lag."""
    from mmmhelpers.review import _mean_delay, _media_meanings

    data = simulate(SimulateSpec(generator="single_market", n_weeks=40), seed=5)[0]
    spec = ModelSpec.model_validate({"adstock": {"type": "geometric", "l_max": 6}})
    mmm = build_model(spec, data)
    prior = sample_prior(mmm, 20, seed=1).prior
    meanings = _media_meanings(prior.assign(target_scale=float(mmm.target_scale)), data, spec)
    np.testing.assert_allclose(meanings["ROAS"], roas_draws(prior, data), rtol=1e-12)
    for k in range(3):
        alpha = prior["adstock_alpha"].values[0, k]
        lam, beta = prior["saturation_lam"].values[0, k], prior["saturation_beta"].values[0, k]
        for c in range(2):
            x = meanings["half-saturation spend per period"][k, c] / mmm.channel_scale[c]  # steady state: adstock = x
            assert beta[c] * (1 - np.exp(-lam[c] * x)) / (1 + np.exp(-lam[c] * x)) == pytest.approx(beta[c] / 2)
            w = alpha[c] ** np.arange(6)
            delay = sum(lag * alpha[c] ** lag for lag in range(6)) / w.sum()
            assert meanings["mean carryover delay (periods)"][k, c] == pytest.approx(delay)
        share = meanings["share of the fitted target"][k]
        assert (share > 0).all() and share.sum() < 5
    assert _mean_delay(np.array([[1.0], [0.0]]))[0] == 0.0 and _mean_delay(np.array([[1.0], [1.0]]))[0] == 0.5


def test_a_share_prior_holds_on_the_share_of_the_observed_target(data):
    """``model.share_priors``: a channel's contribution over the data divided by the target's total is the drawn
    share, draw by draw and in every market; a ROAS prior on another channel beside it still holds."""
    spec = ModelSpec.model_validate({"roas_priors": {"x1": ROAS_TV},
                                     "share_priors": {"x2": {"distribution": "Beta", "alpha": 2, "beta": 18}}})
    mmm = build_model(spec, data)
    prior = sample_prior(mmm, 500, seed=5).prior
    c = prior["channel_contribution_original_scale"].sum("date").stack(sample=("chain", "draw"))
    drawn = prior["media_share"].stack(sample=("chain", "draw")).values[0]
    totals = data.y.sum(axis=0)  # per market (or one number)
    np.testing.assert_allclose(c.sel(channel="x2").transpose("sample", ...).values / totals,
                               np.broadcast_to(drawn.reshape(-1, *([1] * np.ndim(totals))), (len(drawn), *np.shape(totals))),
                               rtol=1e-9)
    np.testing.assert_allclose(roas_draws(prior, data)[:, 0], prior["media_roas"].stack(sample=("chain", "draw")).values[0],
                               rtol=1e-9)
    with pytest.raises(ValueError, match=r"both name \['x1'\]"):
        ModelSpec.model_validate({"roas_priors": {"x1": ROAS_TV}, "share_priors": {"x1": ROAS_TV}})


@pytest.mark.slow  # a real papermill run of every stage, then verify re-runs it
def test_a_case_with_the_analysts_knowledge_runs_every_stage(tmp_path):
    """ROAS and share priors and a simulated experiment through every stage: the fit page names what informs each
    channel, the holdout and forecast predict with the ceiling the observed weeks fixed, the plan and the tests.
    Then ``verify`` re-runs it from its manifest and certifies every number; a copy with one changed number fails."""
    out = tmp_path / "tiny_knowledge"
    cli("run", str(ROOT / "tests" / "params" / "tiny_knowledge.yaml"), "--out", str(out), "--no-progress")
    tables = out / "artifacts" / "tables"
    evidence = pd.read_csv(tables / "roas_prior_posterior.csv").set_index("channel")["also informed by"]
    assert evidence["x1"] == "ROAS prior, experiment" and evidence["x2"] == "share prior"
    oos = load(out, "out_of_sample.json")
    assert 0 <= oos["summary"]["coverage_94"] <= 1 and oos["summary"]["mape"] < 0.5
    a = load(out, "allocation.json")
    assert sum(r["spend_per_period"] for r in a["allocation"]) == pytest.approx(8000, rel=1e-6) and a["held"] == []
    tests = pd.read_csv(tables / "next_test.csv")
    assert (tests["extra spend per period"] < 0).all() and (tests["expected lift"] < 0).all()  # go-dark tests
    parts = pd.read_csv(tables / "forecast_parts.csv").set_index("part")["mean"]  # the plan in tiny_plan.csv
    assert parts["baseline (every term but media)"] + parts["media: added by the window's spend"] + parts[
        "media: carryover of the data's spend"] == pytest.approx(parts["expected target"], rel=1e-9)
    assert parts["media: added by the window's spend"] > 0 and parts["media: carryover of the data's spend"] > 0
    page = (out / "04_out_of_sample.html").read_text()
    assert "The plan in <code>tiny_plan.csv</code>: 3 weeks from 27 Feb 2023 to 13 Mar 2023" in page
    from mmmhelpers.formatting import plain_number

    total = pd.read_csv(tables / "forecast_parts.csv").set_index("part").loc["target (forecast, with noise)"]
    index = (out / "index.html").read_text()  # the summary quotes the page's numbers
    assert "Over the 3 weeks from 27 Feb 2023 (the plan in tiny_plan.csv)" in index
    roas = pd.read_csv(tables / "roas.csv")  # a count KPI (sign-ups, worth 2.0 each)
    np.testing.assert_allclose(roas["ROAS (value)"], 2.0 * roas["ROAS"], rtol=1e-9)
    assert (roas["cost per KPI 3%"] <= roas["cost per KPI"]).all() and "cost the least per unit of sign-ups" in index
    assert "optimal cost per KPI" in pd.read_csv(tables / "allocation.csv").columns
    assert f"{plain_number(total['mean'])} (94% HDI {plain_number(total['94% low'])} to" in index
    # mmm-report verify: a re-run from the manifest certifies the report; a copy with one changed number fails
    proc = cli("verify", str(out), check=False)
    assert proc.returncode == 0 and "REPRODUCED" in proc.stdout, proc.stdout + proc.stderr
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["verdict"] == "reproduced" and cert["compared"] > 10_000 and cert["differences"] == []
    assert "Reproducibility certificate" in (out / "certificate.html").read_text()
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    table = tampered / "artifacts" / "tables" / "roas.csv"
    roas = pd.read_csv(table)
    roas.loc[0, "ROAS"] *= 1.001
    roas.to_csv(table, index=False)
    proc = cli("verify", str(tampered), "--against", str(out), check=False)
    assert proc.returncode == 1 and "DIFFERS" in proc.stdout and "differs: tables/roas.csv row 2, ROAS" in proc.stdout
