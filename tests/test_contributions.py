"""contributions: the decomposition holds every term of the model and adds up to the fitted mean, draw by draw."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from mmmhelpers.config import HSGPSpec, ModelSpec, SimulateSpec
from mmmhelpers.contributions import baseline_total, decomposition
from mmmhelpers.model import build_model
from mmmhelpers.review import sample_prior
from mmmhelpers.simulate import simulate

SMALL_GP = HSGPSpec(m=8)
TERMS = {  # every term the schema allows, one at a time and all together
    "seasonality": {"yearly_seasonality": 2},
    "trend": {"trend": True},
    "time-varying intercept": {"time_varying_intercept": SMALL_GP},
    "time-varying media": {"time_varying_media": SMALL_GP},
    "all": {"yearly_seasonality": 2, "trend": True, "time_varying_intercept": SMALL_GP, "time_varying_media": SMALL_GP},
}


def _prior_as_posterior(generator: str, spec: ModelSpec):
    data, _ = simulate(SimulateSpec(generator=generator, n_weeks=40), seed=5)
    assert data.controls  # the events: the control term is in every case here
    mmm = build_model(spec, data)
    prior = sample_prior(mmm, draws=6, seed=1)
    return az.InferenceData(posterior=prior.prior, constant_data=prior.constant_data), data


@pytest.mark.parametrize("generator", ["single_market", "geo_hierarchical"])
@pytest.mark.parametrize("term", list(TERMS))
def test_the_parts_add_up_to_the_fitted_mean_draw_by_draw(generator, term):
    idata, data = _prior_as_posterior(generator, ModelSpec(**{"yearly_seasonality": 0, **TERMS[term]}))
    dec = decomposition(idata)
    fitted = idata.posterior["mu"] * idata.constant_data["target_scale"]
    np.testing.assert_allclose(dec.sum("component").transpose(*fitted.dims).values, fitted.values, rtol=1e-9)
    names = set(map(str, dec["component"].values))
    assert set(data.channels) | set(data.controls) | {"baseline"} <= names
    assert ("trend" in names) == (term in ("trend", "all"))
    assert ("seasonality" in names) == (term in ("seasonality", "all"))


def test_baseline_total_is_every_non_media_part_over_the_weeks():
    idata, data = _prior_as_posterior("single_market", ModelSpec(yearly_seasonality=2, trend=True))
    dec = decomposition(idata)
    media = dec.sel(component=data.channels).sum(("component", "date"))
    total = dec.sum(("component", "date"))
    np.testing.assert_allclose(baseline_total(dec, data.channels).values, (total - media).values, rtol=1e-9)


def test_roas_before_and_after_the_data_and_the_channels_it_left_at_their_prior():
    """tv's posterior ROAS is a tenth as wide as its prior: informed; display's is as wide: the prior's; radio's
    contracted a lot from a very wide prior and still spans more than its own mean: not informed either."""
    import pandas as pd
    import xarray as xr

    from mmmhelpers.contributions import PRIOR_SD_RATIO, prior_dominated_sentence, roas_prior_posterior
    from mmmhelpers.data import from_frame

    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=4, freq="W-MON"), "y": [10.0, 11, 12, 13],
                          "tv": [10.0, 10, 10, 10], "display": [1.0, 1, 1, 1], "radio": [2.0, 2, 2, 2]})
    data = from_frame(frame, channels=["tv", "display", "radio"], controls=[], dims=[], date_column="date",
                      target_column="y")
    rng = np.random.default_rng(0)
    roas_prior = np.stack([rng.normal(2.0, 1.0, 4000), rng.normal(2.0, 1.0, 4000), rng.normal(20, 15, 4000)], -1)[None]
    roas_post = np.stack([rng.normal(1.5, 0.1, 4000), rng.normal(2.0, 0.9, 4000), rng.normal(0.5, 0.3, 4000)],
                         axis=-1)[None]

    def group(roas):  # contributions spread evenly over the 4 weeks: total / spend = roas
        per_week = roas[:, :, None, :] * data.total_spend / 4
        return xr.Dataset({"channel_contribution_original_scale": (("chain", "draw", "date", "channel"),
                                                                   np.repeat(per_week, 4, axis=2))},
                          coords={"channel": data.channels})

    table = roas_prior_posterior(az.InferenceData(prior=group(roas_prior)), az.InferenceData(posterior=group(roas_post)),
                                 data).set_index("channel")
    assert table.loc["tv", "posterior ROAS"] == pytest.approx(1.5, abs=0.01)
    assert table.loc["tv", "sd ratio"] == pytest.approx(0.1, abs=0.01) and table.loc["tv", "informed"]
    assert table.loc["display", "sd ratio"] == pytest.approx(0.9, abs=0.05) and not table.loc["display", "informed"]
    assert table.loc["display", "sd ratio"] > PRIOR_SD_RATIO
    assert table.loc["radio", "sd ratio"] < 0.05 and table.loc["radio", "width / mean"] > 1
    assert not table.loc["radio", "informed"]
    assert prior_dominated_sentence(table.reset_index()).startswith(
        "The data say little about display and radio: their ROAS is close to the prior's")
