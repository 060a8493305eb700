"""Model variants: the comparison tables, on posteriors made from known values (the pipeline test fits one)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODEL_VARS, idata_from_truth

from mmmhelpers.artifacts import Diagnostics
from mmmhelpers.model import build_model
from mmmhelpers.variants import Fitted, comparison_table, parameter_comparison


def _diag(**kw) -> Diagnostics:
    base = dict(sampler="nutpie", chains=1, draws=40, tune=10, compile_seconds=1.0, sampling_seconds=2.0,
                divergences=0, rhat_max=1.0, ess_bulk_min=400.0, ess_tail_min=400.0, bfmi_min=1.0,
                ess_bulk_min_variable="x", rhat_max_variable="x", ess_bulk_per_second=100.0, health="green")
    return Diagnostics(**(base | kw))


@pytest.fixture(scope="module")
def two_models(single_market, truth_model_spec):
    """The true model and one whose noise sd is three times too large: the true one must predict better."""
    data, truth = single_market
    rng = np.random.default_rng(0)
    good = idata_from_truth(truth, MODEL_VARS, n_draws=40)
    for name in ("saturation_lam", "intercept_contribution"):  # some spread, so that LOO has draws to weigh
        good.posterior[name] = good.posterior[name] * (1 + 0.01 * rng.standard_normal(good.posterior[name].shape))
    bad = good.copy()
    bad.posterior["y_sigma"] = bad.posterior["y_sigma"] * 3
    mmm = build_model(truth_model_spec, data)
    return [Fitted("main", "true model", mmm, good, _diag()),
            Fitted("wide", "wide noise", build_model(truth_model_spec, data), bad, _diag(divergences=3))]


def test_comparison_prefers_the_true_model(two_models):
    table = comparison_table(two_models).set_index("model")
    assert table.loc["true model", "elpd (LOO)"] > table.loc["wide noise", "elpd (LOO)"]
    assert table.loc["true model", "elpd difference"] == 0 and table.loc["wide noise", "elpd difference"] < 0
    assert table.loc["wide noise", "divergences"] == 3
    assert table["LOO weight"].sum() == pytest.approx(1.0)


def test_parameter_comparison_side_by_side(two_models):
    table = parameter_comparison(two_models).set_index("parameter")
    sigma = float(two_models[0].idata.posterior["y_sigma"].mean())
    assert list(table.columns) == ["true model", "wide noise"]
    assert table.loc["y_sigma", "true model"].startswith(f"{sigma:.3g}")
    assert table.loc["y_sigma", "wide noise"].startswith(f"{3 * sigma:.3g}")
    assert "adstock_alpha[x1]" in table.index


def test_the_robustness_sentence_names_the_model_a_win_rests_on():
    import pandas as pd

    from mmmhelpers.budget_page import robustness_sentence

    table = pd.DataFrame({"model": ["main model", "no seasonality"], "P(gain > 0)": [0.9, 0.6]})
    assert robustness_sentence(table).startswith("The win is not robust: under no seasonality (60%)")
    table["P(gain > 0)"] = [0.9, 0.85]
    assert robustness_sentence(table).startswith("The plan wins under every model of the case (P(gain > 0) from 85% "
                                                 "to 90%)")


@pytest.mark.parametrize("likelihood", [
    {"distribution": "Normal", "sigma": {"distribution": "HalfNormal", "sigma": 0.5}},
    {"distribution": "StudentT", "nu": {"distribution": "Gamma", "alpha": 2, "beta": 0.1},
     "sigma": {"distribution": "HalfNormal", "sigma": 0.5}},
    {"distribution": "TruncatedNormal", "lower": 0, "sigma": {"distribution": "HalfNormal", "sigma": 2}},
], ids=["normal", "student-t", "truncated"])
def test_the_log_likelihood_of_every_draw_at_once_is_pymcs(single_market, likelihood):
    """The comparison's pointwise log-likelihood, computed for all draws at once from the traced ``mu``, equals
    PyMC's ``compute_log_likelihood`` (draw by draw), labels included: to the last digits, but for the truncated
    likelihood's normalization far in the tail (prior draws reach mu/sigma = -10), where PyMC's graph and ours are
    each 4e-8 (relative) from scipy's ``truncnorm``, in opposite directions."""
    import arviz as az
    import pymc as pm

    from mmmhelpers.config import ModelSpec
    from mmmhelpers.fit import log_likelihood
    from mmmhelpers.review import sample_prior
    from mmmhelpers.transforms import NUMPY_MODE

    data, _ = single_market
    mmm = build_model(ModelSpec(yearly_seasonality=1, likelihood=likelihood), data)
    prior = sample_prior(mmm, 7, seed=3)  # parameters, mu and the observed target
    idata = az.InferenceData(posterior=prior.prior, observed_data=prior.observed_data)
    ours = log_likelihood(mmm, idata)
    with mmm.model:
        ref = pm.compute_log_likelihood(idata.copy(), var_names=["y"], progressbar=False,
                                        compile_kwargs={"mode": NUMPY_MODE}).log_likelihood["y"]
    assert ours.dims == ref.dims and ours.shape == (1, 7, data.n_dates)
    assert np.isfinite(ref.values).all()
    np.testing.assert_allclose(ours.values, ref.values, rtol=1e-7 if "lower" in likelihood else 1e-10, atol=1e-12)
    assert (ours.coords["date"].values == ref.coords["date"].values).all()
