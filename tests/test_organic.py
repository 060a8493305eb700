"""Organic media (no spend): read and checked, adstocked and saturated with their own parameters, recovered from
simulated data, in the decomposition, and never in a budget."""

import numpy as np
import pandas as pd
import pytest
from reference import numpy_adstock

from mmmhelpers.config import FitSpec, ModelSpec
from mmmhelpers.contributions import component_totals, decomposition, driver_totals
from mmmhelpers.data import DataError, from_frame
from mmmhelpers.model import build_model


def _geometric(x, alpha, l_max=4):
    w = alpha ** np.arange(l_max)
    return numpy_adstock(x, w / w.sum())


def _logistic(x, lam):
    return (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))


def _sales(seed=4, n=104):
    """TV in flights and a newsletter sent in 40% of the weeks; the truth's contributions (original units)."""
    rng = np.random.default_rng(seed)
    tv = rng.gamma(2, 1.0, n) * (rng.random(n) < 0.6)
    news = rng.poisson(3, n).astype(float) * (rng.random(n) < 0.4)
    tv_part = 0.3 * _logistic(_geometric(tv / tv.max(), 0.5), 2.0)
    news_part = 0.2 * _logistic(_geometric(news / news.max(), 0.3), 3.0)
    y = 0.5 + tv_part + news_part + rng.normal(0, 0.01, n)
    df = pd.DataFrame({"date": pd.date_range("2023-01-02", periods=n, freq="7D"), "tv": tv * 1000,
                       "newsletter": news, "y": y * 10_000})
    return df, {"tv": tv_part.sum() * 10_000, "newsletter": news_part.sum() * 10_000}


def test_organic_columns_are_read_checked_and_kept_through_every_reshape():
    df, _ = _sales(n=20)
    data = from_frame(df, channels=["tv"], organic=["newsletter"])
    assert data.organic == ["newsletter"] and data.Z.shape == (20, 1) and data.X.shape == (20, 1)
    np.testing.assert_array_equal(data.Z[:, 0], df["newsletter"])
    assert list(data.to_frame().columns) == ["date", "tv", "newsletter", "y"]
    assert data.slice(5, 10).Z.shape == (5, 1)
    df.loc[3, "newsletter"] = -2.0
    with pytest.raises(DataError, match=r"column 'newsletter': negative values -2\.0 on 2023-01-23 \(row 5\)"):
        from_frame(df, channels=["tv"], organic=["newsletter"])
    with pytest.raises(DataError, match=r"'sends' \(data.organic_columns"):
        from_frame(df, channels=["tv"], organic=["sends"])


def test_an_organic_series_is_recovered_in_the_decomposition_and_never_budgeted():
    from mmmhelpers.fit import sample
    from mmmhelpers.out_of_sample import forecast_data
    from mmmhelpers.response import response_model

    df, truth = _sales()
    data = from_frame(df, channels=["tv"], organic=["newsletter"])
    spec = ModelSpec(adstock={"type": "geometric", "l_max": 4}, yearly_seasonality=0)
    mmm = build_model(spec, data)
    names = set(mmm.model.named_vars)
    assert {"organic_adstock_alpha", "organic_saturation_lam", "organic_saturation_beta"} <= names
    idata, _ = sample(mmm, FitSpec(chains=2, tune=300, draws=300), seed=1, progress=False)
    post = idata.posterior
    alpha = post["organic_adstock_alpha"].sel(organic="newsletter")
    assert abs(float(alpha.mean()) - 0.3) < 0.1
    dec = decomposition(idata)
    totals = component_totals(dec, data.channels, data.organic).set_index("component")
    for name in ("tv", "newsletter"):
        row = totals.loc[name]
        assert row["HDI 3%"] <= truth[name] <= row["HDI 97%"], (name, row["contribution"], truth[name])
        assert row["contribution"] == pytest.approx(truth[name], rel=0.1)
    assert totals.loc["newsletter", "kind"] == "organic" and totals.loc["tv", "kind"] == "media"
    np.testing.assert_allclose(dec.sum("component"), post["mu"] * mmm.target_scale, rtol=1e-9)
    groups = driver_totals(dec, data.channels, data.organic)["component"].tolist()
    assert groups == ["baseline", "organic media", "media"]
    assert driver_totals(dec, data.channels, data.organic)["kind"].tolist() == ["base", "organic", "media"]
    rm = response_model(spec, data, idata, num_periods=4, n_draws=20)
    assert list(rm.channels) == ["tv"]  # the plan's cells: paid channels only
    future = forecast_data(data, 3)
    assert (future.Z[-3:] == data.Z[-1]).all()  # held at its last level, as the spend is


def test_a_forecast_names_the_organic_media_apart_from_the_baseline():
    """The forecast window's parts: the organic series' own line, and the parts still add up to the expected target
    (the true parameters, no sampling)."""
    import arviz as az

    from mmmhelpers.out_of_sample import forecast_data, forecast_parts

    df, _ = _sales(n=40)
    data = from_frame(df, channels=["tv"], organic=["newsletter"])
    mmm = build_model(ModelSpec(adstock={"type": "geometric", "l_max": 4}, yearly_seasonality=0), data)
    point = {"adstock_alpha": [0.5], "saturation_lam": [2.0], "saturation_beta": [0.3], "organic_adstock_alpha": [0.3],
             "organic_saturation_lam": [3.0], "organic_saturation_beta": [0.2], "intercept_contribution": 0.5,
             "y_sigma": 0.01}
    idata = az.from_dict(posterior={k: np.broadcast_to(v, (1, 2, *np.shape(v))) for k, v in point.items()},
                         dims={k: ["channel"] for k in ("adstock_alpha", "saturation_lam", "saturation_beta")} |
                         {k: ["organic"] for k in point if k.startswith("organic")},
                         coords={"channel": ["tv"], "organic": ["newsletter"]})
    future = forecast_data(data, 4)
    parts = forecast_parts(mmm, idata, future, data.n_dates).set_index("part")["mean"]
    held = data.Z[-1, 0] / data.Z.max()
    z = np.concatenate([data.Z[-3:, 0] / data.Z.max(), np.full(4, held)])
    w = 0.3 ** np.arange(4) / (0.3 ** np.arange(4)).sum()
    ad = np.array([sum(w[lag] * z[t - lag] for lag in range(4)) for t in range(3, 7)])
    expected = (0.2 * _logistic(ad, 3.0)).sum() * mmm.target_scale
    assert parts["organic media"] == pytest.approx(expected, rel=1e-8)
    assert parts["baseline (every term but media)"] == pytest.approx(0.5 * 4 * mmm.target_scale, rel=1e-8)
    assert parts["baseline (every term but media)"] + parts["organic media"] + parts[
        "media: carryover of the data's spend"] + parts["media: added by the window's spend"] == pytest.approx(
        parts["expected target"], rel=1e-10)


def test_organic_priors_say_which_component_when_both_have_the_name():
    """A Weibull adstock and a logistic saturation both have ``lam``: a bare ``lam`` is refused with what to write;
    ``adstock_lam`` sets the adstock's alone; a bare name one component alone has still works."""
    from mmmhelpers.config import ModelSpec, organic_prior_keys, organic_prior_problems

    prior = {"distribution": "Gamma", "mu": 2.0, "sigma": 1.0, "dims": ["organic"]}
    spec = ModelSpec.model_validate({"adstock": {"type": "weibull_pdf"}, "organic_priors": {"lam": prior}})
    assert organic_prior_problems(spec) == ["model.organic_priors.lam: the weibull_pdf adstock and the logistic "
                                            "saturation both have lam: write adstock_lam or saturation_lam"]
    keys = organic_prior_keys(spec)
    assert keys["adstock_lam"] == ("adstock", "lam") and keys["k"] == ("adstock", "k") and "lam" not in keys
    wrong = ModelSpec.model_validate({"organic_priors": {"decay": prior}})
    assert "model.organic_priors.decay: not a parameter" in organic_prior_problems(wrong)[0]
    assert organic_prior_problems(ModelSpec.model_validate({"organic_priors": {"alpha": prior}})) == []


def test_an_organic_prior_named_by_component_sets_that_component_alone():
    from mmmhelpers.config import ModelSpec

    data = from_frame(_sales()[0], channels=["tv"], organic=["newsletter"])
    prior = {"distribution": "Gamma", "mu": 7.0, "sigma": 1.0, "dims": ["organic"]}
    spec = ModelSpec.model_validate({"adstock": {"type": "weibull_pdf"}, "organic_priors": {"adstock_lam": prior}})
    rows = {r["variable"]: r["distribution"] for r in build_model(spec, data).table}
    assert "7" in rows["organic_adstock_lam"] and "7" not in rows["organic_saturation_lam"]
    with pytest.raises(ValueError, match="both have lam: write adstock_lam or saturation_lam"):
        build_model(spec.model_copy(update={"organic_priors": {"lam": prior}}), data)
