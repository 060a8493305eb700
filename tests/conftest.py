"""Shared fixtures: small simulated data and posteriors made from known truths (no sampling)."""

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
