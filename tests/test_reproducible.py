"""Reproducible runs: the same params, data and seed give identical posterior summaries on one machine."""

from pathlib import Path

import arviz as az
import pandas as pd
import pytest

from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.fit import sample

TINY = Path(__file__).resolve().parent / "params" / "tiny.yaml"


@pytest.mark.slow
def test_two_fits_of_the_same_case_agree_exactly():
    params = load_params(TINY)
    summaries = []
    for _ in range(2):
        data, _ = prepare_data(params)  # simulated again from the seed
        idata, _ = sample(model_for(params, data), params.fit, seed=params.seed, progress=False)
        summaries.append(az.summary(idata, var_names=["adstock_alpha", "saturation_lam", "y_sigma"]))
        ppc = idata.posterior_predictive["y"].values
    pd.testing.assert_frame_equal(summaries[0], summaries[1])
    assert ppc.shape[:2] == (params.fit.chains, params.fit.draws)
