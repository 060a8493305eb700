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


@pytest.fixture(scope="session")
def truth_model_spec():
    """The model that matches the single-market DGP (geometric l_max 8 normalized, logistic, order 2)."""
    return ModelSpec(yearly_seasonality=2)
