"""Shared fixtures and helpers: small simulated data and posteriors made from known truths (no sampling), colours
and units of figures."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.simulate import simulate


def idata_from_truth(truth, names, n_draws: int = 4):
    """An InferenceData whose posterior repeats the true values (1 chain × n_draws)."""
    post, dims = {}, {}
    for name in names:
        da = truth[name]
        post[name] = np.broadcast_to(da.values, (1, n_draws, *da.shape)).copy()
        dims[name] = list(da.dims)
    coords = {d: truth[d].values for name in names for d in truth[name].dims}
    return az.from_dict(posterior=post, dims=dims, coords=coords)


def divergent_idata(n_div: int, hierarchical: bool = False, seed: int = 0) -> az.InferenceData:
    """2 chains x 500 draws; the first ``n_div`` draws diverge with saturation_slope[x2] at 1.0 (others 0.62)
    (or, ``hierarchical``, with a small gamma_fourier_b); per-date and original-scale variables present."""
    rng = np.random.default_rng(seed)
    n = 1000
    div = np.zeros(n, dtype=bool)
    div[:n_div] = True
    slope = np.exp(rng.normal(np.log([0.8, 0.62]), 0.05, (n, 2)))
    b = np.exp(rng.normal(np.log(0.3), 0.3, n))
    if hierarchical:
        b[div] = np.exp(rng.normal(np.log(0.02), 0.1, n_div))
    else:
        slope[div, 1] = rng.normal(1.0, 0.01, n_div)
    post = {"saturation_slope": slope, "gamma_fourier_b": b, "gamma_fourier": rng.normal(0, 1, (n, 4)) * b[:, None],
            "y_sigma": np.exp(rng.normal(np.log(0.1), 0.05, n)), "intercept_contribution": rng.normal(0.5, 0.05, n),
            "channel_contribution": rng.normal(0, 1, (n, 10, 2)),
            "total_media_contribution_original_scale": rng.normal(0, 1, n)}
    post = {k: v.reshape(2, 500, *v.shape[1:]) for k, v in post.items()}
    dims = {"saturation_slope": ["channel"], "gamma_fourier": ["fourier_mode"],
            "channel_contribution": ["date", "channel"]}
    coords = {"channel": ["x1", "x2"], "fourier_mode": ["sin_1", "cos_1", "sin_2", "cos_2"], "date": np.arange(10)}
    return az.from_dict(posterior=post, sample_stats={"diverging": div.reshape(2, 500)}, dims=dims, coords=coords)


def logp_at_start(model) -> float:
    """The model's log density at its initial point, computed once by numpy (no C code compiled or loaded)."""
    from mmmhelpers.transforms import ONE_OFF_MODE

    return float(model.compile_logp(mode=ONE_OFF_MODE)(model.initial_point()))


MODEL_VARS = ["adstock_alpha", "saturation_lam", "saturation_beta", "intercept_contribution", "gamma_control",
              "gamma_fourier", "y_sigma"]


@pytest.fixture(scope="session")
def single_market():
    """60 simulated weeks of the single-market DGP and its truth."""
    return simulate(SimulateSpec(generator="single_market", n_weeks=60), seed=3)


@pytest.fixture(scope="module", params=["single_market", "geo_hierarchical"])
def data(request):
    """40 simulated weeks of each generator (one market, two markets), one after the other."""
    return simulate(SimulateSpec(generator=request.param, n_weeks=40), seed=5)[0]


@pytest.fixture(scope="session")
def truth_model_spec():
    """The model that matches the single-market DGP (geometric l_max 8 normalized, logistic, order 2)."""
    return ModelSpec(yearly_seasonality=2)


BUDGET = 8000.0
"""The budget per period of the plans the tests of ``rm6`` make."""


@pytest.fixture(scope="module")
def fitted(single_market, truth_model_spec):
    """The truth's model and a 3-draw posterior of the true values (saturation_lam x 0.7, 1, 1.4), and the truth."""
    from mmmhelpers.model import build_model

    data, truth = single_market
    idata = idata_from_truth(truth, MODEL_VARS, n_draws=3)
    # make the draws differ so that the objective really averages over draws
    idata.posterior["saturation_lam"] = idata.posterior["saturation_lam"] * np.array([0.7, 1.0, 1.4])[None, :, None]
    return build_model(truth_model_spec, data), idata, truth


@pytest.fixture(scope="module")
def rm6(fitted):
    """The incremental response of 6-period plans under ``fitted`` (no history carried in)."""
    from mmmhelpers.response import response_model

    mmm, idata, _ = fitted
    return response_model(mmm.spec, mmm.data, idata, num_periods=6, n_draws=3, carryover_history=False)


CHANNELS = ["tv", "search", "social"]
"""Three channels for the figure tests: palette colours 0, 1 and 2."""


def same_color(a, b) -> bool:
    """Two matplotlib colours (names, hex or RGB tuples) are the same RGB."""
    import matplotlib.colors as mcolors

    return np.allclose(mcolors.to_rgb(a), mcolors.to_rgb(b))


@pytest.fixture
def report_units():
    """A case's ``report`` section with a currency and a target label, set for the figures as a page sets it
    (``plots.style``); the default units again after the test."""
    from mmmhelpers.config import ReportSpec
    from mmmhelpers.plots import style

    report = ReportSpec(currency="EUR", target_label="sign-ups")
    style(report.currency, report.target_label, report.period)
    yield report
    style()
