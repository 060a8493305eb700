"""Hill saturation on sparse spend: slopes below one at zero spend must not make NUTS diverge."""

import pytest

from mmmhelpers.config import FitSpec, ModelSpec, SimulateSpec
from mmmhelpers.fit import diagnostics, sample
from mmmhelpers.model import build_model
from mmmhelpers.recovery import recovery_table
from mmmhelpers.simulate import simulate


@pytest.mark.slow
def test_hill_with_zero_spend_stretches_fits_without_divergences():
    true = {"channels": ["tv", "social"], "patterns": ["dark_stretches", "dark_stretches"], "spend_mean": [5000.0, 3000.0],
            "adstock_alpha": [0.4, 0.2], "saturation_slope": [0.6, 0.6], "saturation_kappa": [0.4, 0.5],
            "saturation_beta": [0.25, 0.2]}
    data, truth = simulate(SimulateSpec(generator="sparse_channels", n_weeks=80, true_params=true), seed=7)
    assert (data.X == 0).any(axis=0).all()  # both channels go dark
    # the sparse_channels case's priors: they close the ridge between a flat curve and the intercept, so
    # any divergence left would come from the transform at zero spend
    spec = ModelSpec.model_validate({
        "adstock": {"priors": {"alpha": {"distribution": "Beta", "alpha": 1, "beta": 3, "dims": ["channel"]}}},
        "saturation": {"type": "hill", "priors": {
            "slope": {"distribution": "Gamma", "mu": 0.8, "sigma": 0.4, "dims": ["channel"]},
            "kappa": {"distribution": "Gamma", "mu": 0.5, "sigma": 0.3, "dims": ["channel"]},
            "beta": {"distribution": "HalfNormal", "sigma": 0.5, "dims": ["channel"]}}},
        "priors": {"intercept": {"distribution": "Normal", "mu": 0.5, "sigma": 0.15},
                   "gamma_fourier": {"distribution": "Laplace", "mu": 0, "b": 0.2, "dims": ["fourier_mode"]}},
        "likelihood": {"distribution": "Normal", "sigma": {"distribution": "HalfNormal", "sigma": 0.5}},
    })
    fit = FitSpec(chains=2, tune=500, draws=300, target_accept=0.95)
    idata, timings = sample(build_model(spec, data), fit, seed=3, progress=False)
    diag = diagnostics(idata, fit, timings)
    assert diag.divergences == 0
    table = recovery_table(idata, truth).set_index("parameter")
    for ch in ("tv", "social"):
        row = table.loc[f"saturation_slope[{ch}]"]
        assert row["covered"], row.to_dict()
