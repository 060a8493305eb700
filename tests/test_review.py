"""Model review: each check against a hand computation on fixed draws."""

import arviz as az
import numpy as np
import pytest
import xarray as xr
from conftest import MODEL_VARS, idata_from_truth

from mmmhelpers.artifacts import Diagnostics, Review
from mmmhelpers.review import contraction, model_review, negative_baseline_probability, ppp_values, review_table

DIAG = dict(sampler="nutpie", chains=2, draws=500, tune=500, compile_seconds=1.0, sampling_seconds=1.0,
            divergences=0, rhat_max=1.004, ess_bulk_min=800.0, ess_tail_min=800.0, bfmi_min=0.9,
            ess_bulk_min_variable="saturation_lam", rhat_max_variable="y_sigma", ess_bulk_per_second=400.0,
            health="green")


def _posterior(parts: dict, panel: dict | None = None, n_dates: int = 10) -> az.InferenceData:
    """A posterior of 1 chain x 4 draws with the given non-media parts and one channel of media."""
    panel = panel or {}
    shape = (1, 4, n_dates, *map(len, panel.values()))
    media = np.full((*shape, 1), 100.0)  # large positive media never rescues a negative baseline
    dims = {k: v[1] for k, v in parts.items()} | {"channel_contribution_original_scale": ["date", *panel, "channel"]}
    posterior = {k: v[0] for k, v in parts.items()} | {"channel_contribution_original_scale": media}
    idata = az.from_dict(posterior=posterior, dims=dims, coords={"channel": ["tv"], **panel})
    scale = xr.DataArray(np.ones([len(v) for v in panel.values()]), dims=list(panel), coords=panel)
    idata.add_groups(constant_data=xr.Dataset({"target_scale": scale}))
    return idata


def test_negative_baseline_probability_by_hand():
    intercept = np.array([[-1.0, 1.0, 2.0, 3.0]])
    season = np.zeros((1, 4, 10))
    season[0, 1] = -0.5  # draw 1: 10 * 1.0 - 5.0 > 0
    season[0, 2] = -2.5  # draw 2: 10 * 2.0 - 25 < 0
    idata = _posterior({"intercept_contribution": (intercept, []), "yearly_seasonality_contribution": (season, ["date"])})
    assert negative_baseline_probability(idata) == pytest.approx(0.5)
    trend = np.zeros((1, 4, 10))
    trend[0, 3] = -4.0  # draw 3: 10 * 3.0 - 40 < 0: the trend is part of the baseline
    idata = _posterior({"intercept_contribution": (intercept, []), "yearly_seasonality_contribution": (season, ["date"]),
                        "trend_contribution": (trend, ["date"])})
    assert negative_baseline_probability(idata) == pytest.approx(0.75)


def test_negative_baseline_is_judged_per_market_whatever_the_dim_is_called():
    """One market of two with an always-negative baseline: probability 1, whether the dim is geo or market."""
    for dim in ("geo", "market"):
        intercept = np.stack([np.full(4, -1.0), np.full(4, 2.0)], axis=-1)[None]  # (chain, draw, market)
        idata = _posterior({"intercept_contribution": (intercept, [dim])}, panel={dim: ["north", "south"]})
        assert negative_baseline_probability(idata) == 1.0, dim


def test_ppp_values_by_hand():
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, 30)
    rep = rng.normal(0.5, 1, (1, 200, 30))
    idata = az.from_dict(posterior_predictive={"y": rep}, observed_data={"y": obs})
    got = ppp_values(idata)
    assert got["mean"] == pytest.approx(np.mean(rep[0].mean(1) >= obs.mean()))
    assert got["max"] == pytest.approx(np.mean(rep[0].max(1) >= obs.max()))
    assert got["mean"] > 0.97  # replicated data sit higher: the check sees it


def test_contraction_flags_what_the_data_did_not_move():
    rng = np.random.default_rng(1)
    prior = az.from_dict(prior={"a": rng.normal(0, 1, (1, 4000)), "b": rng.normal(0, 1, (1, 4000))})
    post = az.from_dict(posterior={"a": rng.normal(0.1, 1, (1, 4000)), "b": rng.normal(2, 0.1, (1, 4000))})
    ct = contraction(prior, post, names=["a", "b"]).set_index("parameter")
    assert ct.loc["a", "sd ratio"] == pytest.approx(1, abs=0.05) and ct.loc["b", "sd ratio"] == pytest.approx(0.1, abs=0.01)
    assert ct.loc["b", "shift (prior sds)"] == pytest.approx(2, abs=0.1)


def test_review_verdicts_follow_the_thresholds(single_market, tmp_path):
    data, truth = single_market
    idata = idata_from_truth(truth, [*MODEL_VARS, "channel_contribution_original_scale"], n_draws=4)
    rng = np.random.default_rng(2)
    idata.add_groups(posterior_predictive={"y": rng.normal(0, 1, (1, 4, data.n_dates))},
                     observed_data={"y": rng.normal(0, 1, data.n_dates)}, constant_data={"target_scale": np.array(1.0)})
    good = model_review(idata, data, Diagnostics(**DIAG))
    assert {c.name: c.verdict for c in good.checks}["R-hat"] == "pass"
    bad = model_review(idata, data, Diagnostics(**{**DIAG, "rhat_max": 1.03, "divergences": 50}),
                       roas_range=(1e6, 2e6))
    verdicts = {c.name: c for c in bad.checks}
    assert verdicts["R-hat"].verdict == "review" and "y_sigma" in verdicts["R-hat"].action
    assert verdicts["divergences"].verdict == "fail" and bad.verdict == "fail"
    assert verdicts["ROAS plausibility"].verdict == "review"
    assert verdicts["divergences"].action == "raise fit.target_accept from 0.8 to 0.9"
    at_top = model_review(idata, data, Diagnostics(**{**DIAG, "divergences": 3, "target_accept": 0.99}))
    assert "already 0.99: reparameterize" in {c.name: c for c in at_top.checks}["divergences"].action
    bad.save(tmp_path)
    assert Review.load(tmp_path) == bad
    assert list(review_table(bad)["check"])[:4] == ["R-hat", "bulk ESS", "divergences", "BFMI"]


def test_a_missing_bfmi_is_not_a_pass(single_market):
    data, truth = single_market
    idata = idata_from_truth(truth, [*MODEL_VARS, "channel_contribution_original_scale"], n_draws=4)
    rng = np.random.default_rng(2)
    idata.add_groups(posterior_predictive={"y": rng.normal(0, 1, (1, 4, data.n_dates))},
                     observed_data={"y": rng.normal(0, 1, data.n_dates)}, constant_data={"target_scale": np.array(1.0)})
    bfmi = {c.name: c for c in model_review(idata, data, Diagnostics(**{**DIAG, "bfmi_min": float("nan")})).checks}["BFMI"]
    assert bfmi.verdict == "review" and "not computed" in bfmi.detail
