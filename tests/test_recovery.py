"""Recovery helpers that need no posterior: the truth table and the replicate study's fit settings."""

import numpy as np
import xarray as xr

from mmmhelpers.config import FitSpec, Params, SimulateSpec
from mmmhelpers.recovery import replicate_fit, truth_table


def test_truth_table_lists_small_non_temporal_variables():
    truth = xr.Dataset(
        {
            "adstock_alpha": ("channel", [0.5, 0.25]),
            "saturation_lam": (("geo", "channel"), [[1.0, 2.0], [3.0, 12345.678]]),
            "y_sigma": ((), 0.123456),
            "channel_contribution": (("date", "channel"), np.ones((3, 2))),  # a time series: left out
            "gamma_fourier": ("fourier_mode", np.arange(25.0)),  # more than 24 values: left out
        },
        coords={"channel": ["tv", "radio"], "geo": ["north", "south"]},
    )
    table = truth_table(truth)
    assert list(table.columns) == ["parameter", "true value", "scale"]
    assert table.to_dict("records") == [
        {"parameter": "adstock_alpha", "true value": "0.5, 0.25", "scale": "model"},
        {"parameter": "saturation_lam", "true value": "1, 2, 3, 12,346", "scale": "model"},
        {"parameter": "y_sigma", "true value": "0.123", "scale": "model"},
    ]
    assert truth_table(truth, max_size=25)["parameter"].tolist()[-1] == "gamma_fourier"
    assert truth_table(truth[["channel_contribution"]]).empty


def _params(**fit) -> Params:
    return Params(case="t", title="T", seed=1, simulate=SimulateSpec(generator="single_market", n_weeks=60),
                  fit=FitSpec(**fit))


def test_replicate_fit_caps_draws_and_tune_only():
    params = _params(chains=3, draws=1000, tune=2000, target_accept=0.95)
    fit = replicate_fit(params)
    assert (fit.draws, fit.tune) == (500, 500)
    assert fit.model_dump(exclude={"draws", "tune"}) == params.fit.model_dump(exclude={"draws", "tune"})
    assert (params.fit.draws, params.fit.tune) == (1000, 2000)  # the case's own settings are untouched
    assert replicate_fit(_params(draws=100, tune=150)).model_dump() == _params(draws=100, tune=150).fit.model_dump()
    assert (replicate_fit(params, max_draws=200, max_tune=300).draws, replicate_fit(params, 200, 300).tune) == (200, 300)


def test_the_verdict_of_a_truth_of_contributions_only_says_what_it_compares():
    import pandas as pd

    from mmmhelpers.recovery import verdict

    contrib = pd.DataFrame({"truth": [100.0, 50.0], "estimate": [110.0, 55.0], "covered": [True, False]})
    empty = pd.DataFrame(columns=["parameter", "covered"])
    assert verdict(empty, contrib) == ("media contribution over-estimated by 10% (1 of 2 channels' totals inside "
                                       "their 94% HDI).")
    assert verdict(empty) == "nothing the truth holds can be compared."


def test_a_parameter_joined_over_types_is_compared_on_the_truths_type_only():
    """Model: x1 Weibull, x2 geometric (adstock_alpha joined: a 0.5 placeholder on x1); truth: geometric on both.
    The recovery table compares adstock_alpha on x2 only, from its geometric part; saturation_lam as usual."""
    import arviz as az

    from mmmhelpers.recovery import recovery_table

    rng = np.random.default_rng(0)
    draws = {"adstock_alpha": np.stack([np.full((2, 50), 0.5), rng.normal(0.3, 0.01, (2, 50))], axis=-1),
             "adstock_alpha_geometric": rng.normal(0.3, 0.01, (2, 50, 1)),
             "adstock_lam_weibull_cdf": rng.normal(2.0, 0.1, (2, 50, 1)),
             "saturation_lam": rng.normal(3.0, 0.05, (2, 50, 2))}
    dims = {"adstock_alpha": ["channel"], "adstock_alpha_geometric": ["adstock_geometric_channel"],
            "adstock_lam_weibull_cdf": ["adstock_weibull_cdf_channel"], "saturation_lam": ["channel"]}
    idata = az.from_dict(posterior=draws, dims=dims, coords={"channel": ["x1", "x2"], "adstock_geometric_channel": ["x2"],
                                                             "adstock_weibull_cdf_channel": ["x1"]})
    truth = xr.Dataset({"adstock_alpha": ("channel", [0.6, 0.3]), "saturation_lam": ("channel", [3.0, 3.0])},
                       coords={"channel": ["x1", "x2"]}, attrs={"adstock": "geometric", "saturation": "logistic"})
    table = recovery_table(idata, truth).set_index("parameter")
    assert list(table.index) == ["adstock_alpha[x2]", "saturation_lam[x1]", "saturation_lam[x2]"]
    assert table.loc["adstock_alpha[x2]", "covered"] and abs(table.loc["adstock_alpha[x2]", "mean"] - 0.3) < 0.01
