"""Figures of the out-of-sample page (``mmmhelpers.plots_out_of_sample``) from hand-made draws: the holdout and the
forecast around their cut (the window, the median of the draws, the observed target), the residuals with their
autocorrelation by numpy, and the scores per origin; each with a title and axes in the case's units."""

import matplotlib

matplotlib.use("Agg")

from dataclasses import replace  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from mmmhelpers.data import from_frame  # noqa: E402
from mmmhelpers.plots_out_of_sample import plot_folds, plot_forecast, plot_holdout, plot_residuals  # noqa: E402

N = 12
DATES = pd.date_range("2024-01-01", periods=N, freq="7D")


def panel_data(geos=("a", "b")):
    """12 weeks of one channel in each market; the target rises by 10 a week from 100 (200 in the second market)."""
    rng = np.random.default_rng(0)
    rows = [{"date": d, "geo": g, "x1": rng.uniform(1, 5), "y": 100.0 * (k + 1) + 10.0 * i + rng.normal(0, 3)}
            for i, d in enumerate(DATES) for k, g in enumerate(geos)]
    df = pd.DataFrame(rows)
    return from_frame(df, channels=["x1"], dims=["geo"]) if len(geos) > 1 else \
        from_frame(df.drop(columns="geo"), channels=["x1"])


def draws_of(data, n_samples: int = 50) -> xr.Dataset:
    """``y_original_scale`` draws ``(sample, date, *panel)`` scattered around the observed target."""
    rng = np.random.default_rng(1)
    y = np.nan_to_num(data.y, nan=float(np.nanmean(data.y)))
    values = y[None] + rng.normal(0.0, 5.0, (n_samples, *y.shape))
    return xr.Dataset({"y_original_scale": (("sample", "date", *data.panel), values)},
                      coords={"date": data.dates, **data.panel})


def test_the_holdout_shows_the_context_before_the_cut_and_the_draws_median_per_market(report_units):
    data = panel_data()
    pred = draws_of(data)
    fig = plot_holdout(pred, data, train_end=8, context_weeks=3)  # weeks 5 to 11, cut at week 8
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["Holdout forecast with carryover (a)",
                                               "Holdout forecast with carryover (b)"]
    for k, ax in enumerate(axes):
        assert ax.get_ylabel() == f"{report_units.target_label} per week"
        median, observed, cut = ax.get_lines()
        np.testing.assert_allclose(median.get_ydata(), np.median(pred["y_original_scale"].values[:, 5:, k], axis=0))
        np.testing.assert_allclose(observed.get_ydata(), data.y[5:, k])
        assert mdates.date2num(observed.get_xdata()[0]) == mdates.date2num(DATES[5])
        assert mdates.date2num(cut.get_xdata()[0]) == mdates.date2num(DATES[8]) and cut.get_label() == "train | test"
    assert axes[-1].get_xlabel() == "week"
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "predicted 94%", "predicted 50%", "predicted median", "observed", "train | test"]
    plt.close(fig)


def test_the_forecast_follows_the_last_observed_weeks(report_units):
    data = panel_data(geos=("a",))
    future = replace(data, y=np.r_[data.y[:9], [np.nan] * 3])  # weeks 9 to 11 not observed yet
    pred = draws_of(future)
    fig = plot_forecast(pred, future, n_observed=9, context_weeks=4)  # weeks 5 to 11
    ax = fig.axes[0]
    assert ax.get_title() == "Forecast after the last observation"  # one market: no market in the title
    median, observed, cut = ax.get_lines()
    np.testing.assert_allclose(median.get_ydata(), np.median(pred["y_original_scale"].values[:, 5:], axis=0))
    np.testing.assert_array_equal(observed.get_ydata(), future.y[5:])  # NaN where nothing is observed
    assert cut.get_label() == "first forecast week" and mdates.date2num(cut.get_xdata()[0]) == mdates.date2num(DATES[9])
    assert ax.get_ylabel() == f"{report_units.target_label} per week"
    plt.close(fig)


def test_the_residuals_their_autocorrelation_and_their_distribution_by_numpy(report_units):
    data = panel_data(geos=("a",))
    rng = np.random.default_rng(2)
    pp = data.y[None, None] + rng.normal(0.0, 5.0, (2, 30, N))
    idata = xr.Dataset({"y_original_scale": (("chain", "draw", "date"), pp)}, coords={"date": data.dates})
    fig = plot_residuals(SimpleNamespace(posterior_predictive=idata), data)
    over_time, acf_ax, hist_ax = fig.axes
    resid = data.y - pp.mean(axis=(0, 1))
    np.testing.assert_allclose(over_time.get_lines()[1].get_ydata(), resid)  # after the zero line
    x = resid - resid.mean()
    acf = np.correlate(x, x, "full")[N - 1:] / np.sum(x**2)  # lags 0 .. 11
    heights = [p.get_height() for p in acf_ax.patches if isinstance(p, matplotlib.patches.Rectangle)
               and p.get_label() != "±1.96/√n"]
    np.testing.assert_allclose(heights, acf[:N - 1])  # max lag: n - 2 = 10
    band = next(p for p in acf_ax.patches if p.get_label() == "±1.96/√n")
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((-1.96 / np.sqrt(N), 1.96 / np.sqrt(N)))
    assert sum(p.get_height() for p in hist_ax.patches) == N  # every week counted once
    assert [a.get_title() for a in fig.axes] == ["Residuals over time", "Autocorrelation", "Residual distribution"]
    assert [a.get_xlabel() for a in fig.axes] == ["week", "lag (weeks)", "observed − predicted"]
    assert [a.get_ylabel() for a in fig.axes] == ["observed − predicted", "autocorrelation", "weeks"]
    plt.close(fig)


def test_the_scores_per_origin_are_the_folds_crps_and_coverage(report_units):
    folds = pd.DataFrame({"origin": pd.to_datetime(["2024-03-04", "2024-04-01"]), "crps": [120.5, 80.25],
                          "coverage_94": [0.9, 1.0]})
    fig = plot_folds(folds)
    ax, ax2 = fig.axes
    assert ax.get_title() == "Out-of-sample scores per origin"
    assert ax.get_xlabel() == "forecast origin (first test week)"
    assert ax.get_ylabel() == f"CRPS ({report_units.target_label})"
    assert [p.get_height() for p in ax.patches] == [120.5, 80.25]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["04 Mar 2024", "01 Apr 2024"]
    coverage, nominal = ax2.get_lines()
    assert list(coverage.get_ydata()) == [0.9, 1.0] and list(nominal.get_ydata()) == [0.94, 0.94]
    assert ax2.get_ylabel() == "coverage of 94% interval" and ax2.get_ylim() == (0, 1.05)
    plt.close(fig)
