"""Calendar effects: day-of-week effects and national holidays, by hand and recovered from simulated daily data."""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers.config import FitSpec, ModelSpec
from mmmhelpers.contributions import decomposition
from mmmhelpers.data import from_frame, holiday_days

WEEKDAY_EFFECT = np.array([0.05, 0.03, 0.0, -0.01, 0.02, -0.04, -0.05])  # Mon..Sun, sums to zero
HOLIDAY_EFFECT = 0.15


def test_holiday_days_count_each_periods_holidays():
    weeks = pd.date_range("2024-01-01", periods=52, freq="7D")  # Mondays
    h = holiday_days(weeks, "US")
    assert h.sum() == 11 and h[0] == 1  # eleven US federal holidays in 2024; New Year's Day in the first week
    assert h[weeks.get_loc(pd.Timestamp("2024-12-23"))] == 1  # Christmas
    days = pd.date_range("2024-07-01", periods=10, freq="D")
    np.testing.assert_array_equal(holiday_days(days, "US"), (days == "2024-07-04").astype(float))
    months = pd.date_range("2024-01-01", periods=12, freq="MS")
    assert holiday_days(months, "US")[0] == 2  # New Year's Day and Martin Luther King Jr. Day
    assert holiday_days(pd.date_range("2024-10-01", periods=3, freq="D"), "DE", "BY").sum() == 1  # German Unity Day


def _daily(seed=0, n=364):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=n, freq="D")
    spend = rng.gamma(2, 1.0, n) * (rng.random(n) < 0.5)
    media = 0.3 * (1 - np.exp(-2 * spend / spend.max())) / (1 + np.exp(-2 * spend / spend.max()))
    y = (0.5 + media + WEEKDAY_EFFECT[dates.day_of_week] + HOLIDAY_EFFECT * holiday_days(dates, "US")
         + rng.normal(0, 0.01, n))
    return pd.DataFrame({"date": dates, "search": spend * 100, "y": y * 1000})


@pytest.mark.slow  # samples with MCMC
def test_weekday_and_holiday_effects_are_recovered_from_daily_data():
    from mmmhelpers.fit import sample
    from mmmhelpers.model import build_model

    data = from_frame(_daily(), channels=["search"])
    spec = ModelSpec(adstock={"type": "none", "l_max": 1}, yearly_seasonality=0, weekday_seasonality=True,
                     holidays={"country": "US"})
    mmm = build_model(spec, data)
    idata, _ = sample(mmm, FitSpec(chains=2, tune=300, draws=300), seed=2, progress=False)
    post = idata.posterior
    scale = float(mmm.target_scale) / 1000  # the model's effects are on the max-scaled target
    weekday = post["gamma_weekday"].mean(("chain", "draw")).values * scale
    np.testing.assert_allclose(weekday, WEEKDAY_EFFECT, atol=0.006)
    holiday = float(post["gamma_holiday"].mean()) * scale
    assert holiday == pytest.approx(HOLIDAY_EFFECT, abs=0.02)
    dec = decomposition(idata)
    assert {"day of week", "holidays"} <= set(dec["component"].values)
    np.testing.assert_allclose(dec.sum("component"), post["mu"] * mmm.target_scale, rtol=1e-9)


def test_weekday_effects_need_daily_data(tmp_path):
    from mmmhelpers.checks import check_case
    from mmmhelpers.config import load_params

    df = _daily(n=120)
    df["date"] = pd.date_range("2020-01-06", periods=120, freq="7D")
    df.to_csv(tmp_path / "sales.csv", index=False)
    (tmp_path / "case.yaml").write_text("case: c\ntitle: C\nseed: 1\ndata: {path: sales.csv, channel_columns: [search]}\n"
                                        "model: {weekday_seasonality: true, holidays: {country: US}}\n")
    _, _, problems = check_case(load_params(tmp_path / "case.yaml"))
    assert problems == ["model.weekday_seasonality: true needs daily data; the data are weekly (every Monday): "
                        "remove it, or give one row per day"]
    with pytest.raises(Exception, match="country 'XX' is not one the holidays package knows"):
        ModelSpec(holidays={"country": "XX"})


def test_monthly_seasonality_and_a_kinked_trend_are_recovered_from_monthly_data():
    """Six years of monthly sales that grow, then fall from the middle on, with a yearly cycle: the piecewise trend
    recovers the path and the Fourier terms the cycle (the target's own units); past the data the last slope
    continues."""
    from mmmhelpers.data import fourier_features
    from mmmhelpers.fit import sample
    from mmmhelpers.model import build_model
    from mmmhelpers.out_of_sample import forecast

    rng = np.random.default_rng(3)
    n = 72
    dates = pd.date_range("2019-01-01", periods=n, freq="MS")
    u = np.arange(n) / (n - 1)
    path = 0.3 * u - 0.6 * np.maximum(u - 0.5, 0)
    cycle = fourier_features(dates, 2) @ np.array([0.06, 0.0, 0.03, -0.02])  # sin_1, sin_2, cos_1, cos_2
    spend = rng.gamma(2, 1.0, n) * (rng.random(n) < 0.5)
    media = 0.2 * (1 - np.exp(-2 * spend / spend.max())) / (1 + np.exp(-2 * spend / spend.max()))
    y = 0.6 + path + cycle + media + rng.normal(0, 0.01, n)
    data = from_frame(pd.DataFrame({"date": dates, "search": spend * 100, "y": y * 1000}), channels=["search"])
    assert data.period == "month"
    spec = ModelSpec(adstock={"type": "none", "l_max": 1}, yearly_seasonality=2, trend={"changepoints": 8})
    mmm = build_model(spec, data)
    idata, _ = sample(mmm, FitSpec(chains=2, tune=300, draws=200), seed=4, progress=False)
    post = idata.posterior.mean(("chain", "draw"))

    def error(fitted, truth):  # around their means: the level is shared with the intercept
        return float(np.sqrt(np.mean((fitted - fitted.mean() - (truth - truth.mean())) ** 2)))

    scale = float(mmm.target_scale)
    assert error(post["trend_contribution"].values * scale, path * 1000) < 12  # a 90-unit kink
    assert error(post["yearly_seasonality_contribution"].values * scale, cycle * 1000) < 10  # a 130-unit cycle
    trend = post["trend_contribution"].values
    assert trend[n // 2] - trend[0] > 0 > trend[-1] - trend[n // 2 + 6]  # up, then down
    future, pred = forecast(mmm, idata, data, 4, var_names=("y", "trend_contribution"))
    assert list(future.dates[-2:].strftime("%Y-%m-%d")) == ["2025-03-01", "2025-04-01"]
    step = np.diff(pred["trend_contribution"].mean("sample").values[n - 1:])
    days = np.diff(future.dates[n - 1:]).astype("timedelta64[D]").astype(float)
    np.testing.assert_allclose(step / days, step[0] / days[0], rtol=1e-6)  # the last slope (per day) continues


def test_the_drivers_put_day_of_week_with_seasonality_and_holidays_apart():
    import xarray as xr

    from mmmhelpers.contributions import driver_totals

    comps = ["baseline", "seasonality", "day of week", "holidays", "promo", "tv"]
    dec = xr.DataArray(np.ones((len(comps), 1, 4, 3)), dims=("component", "chain", "draw", "date"),
                       coords={"component": comps})
    groups = driver_totals(dec, ["tv"]).set_index("component")["contribution"]
    assert groups.to_dict() == {"baseline": 3.0, "seasonality": 6.0, "holidays": 3.0, "controls": 3.0, "media": 3.0}
