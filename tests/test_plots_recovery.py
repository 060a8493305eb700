"""Figures of the recovery page (``mmmhelpers.plots_recovery``) from hand-made tables and draws: the parameter forest
(intervals that miss the truth in the alert colour), the contributions and shares against the truth, the saturation
curves, the media multiplier and the rank histograms; each with its title, the case's units and the numbers it draws.

The tables they draw are tested in tests/test_recovery.py."""

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from conftest import same_color  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from mmmhelpers.plots import ALERT, MODEL, TRUTH  # noqa: E402
from mmmhelpers.plots_recovery import (  # noqa: E402
    plot_contribution_recovery,
    plot_multiplier,
    plot_rank_histograms,
    plot_recovery,
    plot_saturation_recovery,
    plot_shares,
)


def test_the_parameter_forest_draws_each_interval_mean_and_truth_and_flags_a_miss():
    table = pd.DataFrame({"parameter": ["alpha[x1]", "alpha[x2]", "y_sigma"], "truth": [0.5, 0.3, 0.1],
                          "mean": [0.45, 0.6, 0.11], "hdi_low": [0.3, 0.5, 0.08], "hdi_high": [0.6, 0.7, 0.14],
                          "covered": [True, False, True]})
    fig = plot_recovery(table)
    ax = fig.axes[0]
    assert ax.get_title() == "Parameter recovery (model scale)"
    assert ax.get_xlabel() == "parameter value (model scale: spend and target / max)"
    y = [2, 1, 0]  # the first parameter on top
    assert dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()))) == dict(zip(y, table["parameter"]))
    intervals = ax.collections[0]
    assert [seg.tolist() for seg in intervals.get_segments()] == [[[lo, yy], [hi, yy]] for lo, hi, yy in
                                                                   zip(table["hdi_low"], table["hdi_high"], y)]
    assert [same_color(c, want) for c, want in zip(intervals.get_colors(), [MODEL, ALERT, MODEL])] == [True] * 3
    mean, truth = ax.get_lines()
    assert list(mean.get_xdata()) == [0.45, 0.6, 0.11] and list(truth.get_xdata()) == [0.5, 0.3, 0.1]
    assert list(mean.get_ydata()) == y and truth.get_marker() == "x"
    plt.close(fig)


def test_the_contributions_are_truth_and_estimate_bars_with_the_interval(report_units):
    ctab = pd.DataFrame({"channel": ["tv", "search"], "truth": [1000.0, 400.0], "estimate": [1100.0, 350.0],
                         "hdi_low": [900.0, 300.0], "hdi_high": [1300.0, 420.0]})
    fig = plot_contribution_recovery(ctab)
    ax = fig.axes[0]
    assert ax.get_title() == "Total media contribution over the fitted window"
    assert ax.get_ylabel() == f"{report_units.target_label} (sum over weeks)"
    truth, estimate = (c for c in ax.containers if isinstance(c, BarContainer))
    assert [p.get_height() for p in truth] == [1000.0, 400.0] and [p.get_height() for p in estimate] == [1100.0, 350.0]
    errors = estimate.errorbar.lines[2][0].get_segments()
    assert [(s[0][1], s[1][1]) for s in errors] == [(900.0, 1300.0), (300.0, 420.0)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["tv", "search"]
    plt.close(fig)


def test_the_saturation_curves_are_the_draws_mean_and_band_against_the_truth(report_units):
    levels = np.linspace(0.0, 100.0, 5)
    spend = np.stack([levels, 2 * levels], axis=-1)  # (level, channel): one market
    scale = np.array([0.8, 1.0, 1.2])[:, None, None]  # three draws
    true = np.stack([np.tanh(spend[:, 0] / 50), np.tanh(spend[:, 1] / 100)], axis=-1)
    est = scale * true[None]
    fig = plot_saturation_recovery(spend, est, true, ["tv", "search"], {})
    assert fig._suptitle.get_text() == "Saturation curves: truth vs posterior (one week of spend, no carryover)"
    for c, (ax, ch) in enumerate(zip(fig.axes, ["tv", "search"])):
        assert ax.get_title() == ch
        assert ax.get_xlabel() == f"spend per week ({report_units.currency})"
        assert ax.get_ylabel() == f"{report_units.target_label} per week"
        mean, truth = ax.get_lines()
        np.testing.assert_allclose(mean.get_xdata(), spend[:, c])
        np.testing.assert_allclose(mean.get_ydata(), true[:, c])  # the draws' scales average to 1
        np.testing.assert_allclose(truth.get_ydata(), true[:, c])
        assert truth.get_linestyle() == "--" and same_color(truth.get_color(), TRUTH)
    plt.close(fig)


def test_the_shares_are_the_truth_and_each_models_bar_with_its_interval():
    shares = pd.DataFrame({"component": ["tv", "baseline"], "true share": [0.3, 0.7],
                           "main share": [0.25, 0.75], "main 3%": [0.2, 0.7], "main 97%": [0.35, 0.8]})
    fig = plot_shares(shares)
    ax = fig.axes[0]
    assert ax.get_title() == "Share of the target: truth vs each model"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["truth", "main"]
    truth, main = (c for c in ax.containers if isinstance(c, BarContainer))
    assert [p.get_width() for p in truth] == [0.3, 0.7] and [p.get_width() for p in main] == [0.25, 0.75]
    errors = main.errorbar.lines[2][0].get_segments()
    assert [(s[0][0], s[1][0]) for s in errors] == [(0.2, 0.35), (0.7, 0.8)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tv", "baseline"]
    plt.close(fig)


def test_the_multiplier_is_the_posterior_median_against_the_truth():
    dates = pd.date_range("2024-01-01", periods=6, freq="7D")
    rng = np.random.default_rng(0)
    m = rng.lognormal(0.0, 0.2, (1, 40, 6))
    idata = xr.Dataset({"media_temporal_latent_multiplier": (("chain", "draw", "date"), m)}, coords={"date": dates})
    truth = xr.Dataset({"media_temporal_latent_multiplier": ("date", np.linspace(0.8, 1.2, 6))}, coords={"date": dates})
    fig = plot_multiplier(SimpleNamespace(posterior=idata), truth)
    ax = fig.axes[0]
    assert ax.get_title() == "Time-varying media multiplier" and ax.get_ylabel() == "multiplier (1 = average)"
    median, true, one = ax.get_lines()
    np.testing.assert_allclose(median.get_ydata(), np.median(m[0], axis=0))
    np.testing.assert_allclose(true.get_ydata(), np.linspace(0.8, 1.2, 6))
    assert mdates.date2num(true.get_xdata()[0]) == mdates.date2num(dates[0]) and list(one.get_ydata()) == [1, 1]
    plt.close(fig)


def test_the_rank_histograms_count_where_each_truth_fell_against_the_uniform_line():
    q = {"a": [0.05, 0.15, 0.15, 0.95], "b": [0.5, 0.55, 0.6, 0.99]}
    reps = pd.DataFrame([{"parameter": p, "replicate": r, "quantile": v} for p, vs in q.items()
                         for r, v in enumerate(vs)])
    fig = plot_rank_histograms(reps, bins=4)
    assert fig._suptitle.get_text() == "Rank histograms over 4 replicates (dashed: uniform)"
    for ax, (name, vs) in zip(fig.axes, q.items()):
        assert ax.get_title() == name and ax.get_ylabel() == "replicates"
        assert [p.get_height() for p in ax.patches] == list(np.histogram(vs, bins=np.linspace(0, 1, 5))[0])
        assert list(ax.get_lines()[0].get_ydata()) == [1.0, 1.0]  # 4 replicates / 4 bins
    assert [p.get_height() for p in fig.axes[0].patches] == [3, 0, 0, 1]  # by hand
    plt.close(fig)
