"""What the analyst knows, in business units: ROAS priors hold exactly on the ROAS the pages report.

Experiments and lift tests (``mmmhelpers.calibration``) are tested in tests/test_calibration.py."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from runs import ROOT, cli, load
from scipy import stats

from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.contributions import roas_draws
from mmmhelpers.model import build_model
from mmmhelpers.out_of_sample import forecast_data
from mmmhelpers.priors import PriorError
from mmmhelpers.review import sample_prior
from mmmhelpers.simulate import simulate
from mmmhelpers.transforms import ONE_OFF_MODE

ROAS_TV = {"distribution": "LogNormal", "mean": 1.5, "std": 0.5}


def _spec(**extra) -> ModelSpec:
    return ModelSpec.model_validate({"roas_priors": {"x1": ROAS_TV}, **extra})


@pytest.mark.parametrize("extra", [{}, {"time_varying_media": True}, {"saturation": {"type": "hill"}}],
                         ids=["logistic", "time-varying media", "hill"])
def test_the_roas_of_prior_draws_is_the_stated_prior(data, extra):
    mmm = build_model(_spec(**extra), data)
    prior = sample_prior(mmm, 2000, seed=3, var_names=["channel_contribution_original_scale", "media_roas",
                                                        "saturation_beta"]).prior
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
                                            random_seed=1, progressbar=False, compile_kwargs={"mode": ONE_OFF_MODE}).predictions
    np.testing.assert_allclose(pp["saturation_beta"].values, prior.prior["saturation_beta"].values, rtol=1e-9)


def test_roas_prior_errors_name_the_field(data):
    with pytest.raises(PriorError, match=r"model.roas_priors: unknown channels \['tv'\]"):
        build_model(ModelSpec.model_validate({"roas_priors": {"tv": ROAS_TV}}), data)
    mixed = {"x1": ROAS_TV, "x2": {"distribution": "Gamma", "mu": 1, "sigma": 0.5}}
    with pytest.raises(PriorError, match="same distribution"):
        build_model(ModelSpec.model_validate({"roas_priors": mixed}), data)
    with pytest.raises(ValueError, match="tanh saturation has no parameter"):
        ModelSpec.model_validate({"saturation": {"type": "tanh"}, "roas_priors": {"x1": ROAS_TV}})


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
    from mmmhelpers.review import mean_delay, media_meanings

    data = simulate(SimulateSpec(generator="single_market", n_weeks=40), seed=5)[0]
    spec = ModelSpec.model_validate({"adstock": {"type": "geometric", "l_max": 6}})
    mmm = build_model(spec, data)
    prior = sample_prior(mmm, 20, seed=1).prior
    meanings = media_meanings(prior.assign(target_scale=float(mmm.target_scale)), data, spec)
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
    assert mean_delay(np.array([[1.0], [0.0]]))[0] == 0.0 and mean_delay(np.array([[1.0], [1.0]]))[0] == 0.5


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


def _by_hand(prior, data, mmm, scale: float = 1.0) -> np.ndarray:
    """Each prior draw's channel contribution ``(sample, date, *panel, channel)`` in original units at ``scale``
    times the data's spend, in numpy: normalized geometric adstock (8 lags), then logistic saturation."""
    cells = prior["saturation_beta"].stack(sample=("chain", "draw"))  # (*panel, channel, sample)

    def draws(name):  # (sample, *panel, channel): a parameter pooled over markets is repeated in each
        return prior[name].stack(sample=("chain", "draw")).broadcast_like(cells).transpose("sample", ...).values

    alpha, lam, beta = draws("adstock_alpha"), draws("saturation_lam"), draws("saturation_beta")
    x = scale * data.X / mmm.channel_scale  # (date, *panel, channel)
    w = alpha[..., None] ** np.arange(8)  # (sample, *panel, channel, lag)
    w = w / w.sum(-1, keepdims=True)
    ad = np.zeros((len(alpha), *x.shape))
    for lag in range(8):
        ad[:, lag:] += w[..., lag][:, None] * x[: len(x) - lag]
    e = np.exp(-lam[:, None] * ad)
    return beta[:, None] * (1 - e) / (1 + e) * np.asarray(mmm.target_scale)[..., None]


def test_marginal_roas_and_cost_per_kpi_priors_hold_on_what_they_mean(data):
    """``model.mroas_priors``: the return on 1% more spend in every week, per currency of that 1%, computed by hand
    from each prior draw's parameters, is the drawn marginal ROAS; ``model.cost_per_kpi_priors``: spend over the
    contribution is the drawn cost per KPI. Draw by draw, in every market."""
    spec = ModelSpec.model_validate({"mroas_priors": {"x1": {"distribution": "LogNormal", "mean": 0.8, "std": 0.3}},
                                     "cost_per_kpi_priors": {"x2": {"distribution": "Gamma", "mu": 2.0, "sigma": 0.5}}})
    mmm = build_model(spec, data)
    prior = sample_prior(mmm, 300, seed=6).prior
    base, up = _by_hand(prior, data, mmm), _by_hand(prior, data, mmm, 1.01)
    np.testing.assert_allclose(base, prior["channel_contribution_original_scale"].stack(sample=("chain", "draw"))
                               .transpose("sample", ...).values, rtol=1e-9)  # the hand computation is the model's
    spend = data.X.sum(axis=0)  # (*panel, channel)
    mroas = (up - base).sum(axis=1) / (0.01 * spend)  # (sample, *panel, channel)
    cost = spend / base.sum(axis=1)
    drawn_m = prior["media_mroas"].stack(sample=("chain", "draw")).values[0]
    drawn_c = prior["media_cost_per_kpi"].stack(sample=("chain", "draw")).values[0]
    shape = (-1, *([1] * len(data.panel)))
    np.testing.assert_allclose(mroas[..., 0], np.broadcast_to(drawn_m.reshape(shape), mroas[..., 0].shape), rtol=1e-9)
    np.testing.assert_allclose(cost[..., 1], np.broadcast_to(drawn_c.reshape(shape), cost[..., 1].shape), rtol=1e-9)
    assert abs(drawn_m.mean() / 0.8 - 1) < 0.1 and abs(drawn_c.mean() / 2.0 - 1) < 0.1  # the stated priors
    assert (mroas[..., 0] < (base.sum(axis=1) / spend)[..., 0]).all()  # a concave curve: marginal below average


def test_media_prior_widen_doubles_every_media_priors_sd_and_keeps_its_centre(data):
    """``model.media_prior_widen: 2`` (the prior-sensitivity variant): prior draws of the adstock, the saturation's
    slope and a ROAS prior have twice the sd and the same mean (Monte Carlo error of 4,000 draws); the rest of the
    model's priors are untouched."""
    given = {"adstock": {"priors": {"alpha": {"distribution": "Beta", "alpha": 20, "beta": 30, "dims": ["channel"]}}},
             "roas_priors": {"x1": ROAS_TV}}
    draws = []
    for k in (1.0, 2.0):
        mmm = build_model(ModelSpec.model_validate({**given, "media_prior_widen": k}), data)
        names = ["adstock_alpha", "saturation_lam", "media_roas", "intercept_contribution"]
        prior = sample_prior(mmm, 4000, seed=8, var_names=names).prior
        draws.append({n: prior[n].stack(sample=("chain", "draw")).transpose("sample", ...).values.reshape(4000, -1)[:, 0]
                      for n in names})
    for name in ("adstock_alpha", "saturation_lam", "media_roas"):
        assert draws[1][name].std() / draws[0][name].std() == pytest.approx(2.0, rel=0.08), name
        assert draws[1][name].mean() == pytest.approx(draws[0][name].mean(), rel=0.06), name
    assert draws[1]["intercept_contribution"].std() / draws[0]["intercept_contribution"].std() == pytest.approx(1, rel=0.08)


def test_knowledge_priors_name_one_prior_per_channel():
    with pytest.raises(ValueError, match=r"roas_priors and mroas_priors both name \['x1'\]"):
        ModelSpec.model_validate({"roas_priors": {"x1": ROAS_TV}, "mroas_priors": {"x1": ROAS_TV}})
    with pytest.raises(ValueError, match="cost_per_kpi_priors: the tanh saturation"):
        ModelSpec.model_validate({"saturation": {"type": "tanh"}, "cost_per_kpi_priors": {"x1": ROAS_TV}})


@pytest.mark.slow  # a real papermill run of every stage, then verify re-runs it
def test_a_case_with_the_analysts_knowledge_runs_every_stage(tmp_path):
    """ROAS and share priors and a simulated experiment through every stage: the fit page names what informs each
    channel, the holdout and forecast predict with the ceiling the observed weeks fixed, the plan and the tests.
    Then ``verify`` re-runs it from its manifest, in kernels started as new processes (the run forked them from a
    server that imported the stack, where it can), and certifies every number; a copy with one changed number fails."""
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
    proc = cli("verify", str(out), check=False, env={"MMM_KERNEL_FORKS": "0"})
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
