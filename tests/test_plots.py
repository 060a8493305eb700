"""The report's palette: a channel has one colour in every figure; truth, model and alerts have their own."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from mmmhelpers.plots import ALERT, CHANNEL_PALETTE, MODEL, cell_colors, channel_colors, plan_color  # noqa: E402
from mmmhelpers.plots_fit import plot_decomposition, plot_effect_vs_spend, plot_waterfall  # noqa: E402

CHANNELS = ["tv", "search", "social"]


def _same(a, b) -> bool:
    return np.allclose(mcolors.to_rgb(a), mcolors.to_rgb(b))


def test_channel_k_gets_palette_colour_k_and_markets_get_lighter_shades():
    colors = channel_colors(CHANNELS)
    assert [colors[c] for c in CHANNELS] == list(CHANNEL_PALETTE[:3])
    cells = cell_colors(["tv @ north", "search @ north", "tv @ south"])
    assert _same(cells[0], CHANNEL_PALETTE[0]) and _same(cells[1], CHANNEL_PALETTE[1])
    assert np.all(np.array(cells[2]) > np.array(cells[0]) - 1e-12) and not _same(cells[2], cells[0])  # lighter
    assert _same(plan_color("optimal plan"), MODEL) and not _same(plan_color("historical split"), MODEL)


def test_fit_figures_colour_each_channel_as_the_palette_does():
    rng = np.random.default_rng(0)
    comps = ["intercept", *CHANNELS]
    dec = xr.DataArray(rng.normal(size=(1, 20, 4, 12)), dims=("chain", "draw", "component", "date"),
                       coords={"component": comps, "date": pd.date_range("2024-01-01", periods=12, freq="W")})
    fig = plot_decomposition(dec, CHANNELS, cols=2)
    lines = {ax.get_title().split(" (")[0]: ax.get_lines()[0].get_color() for ax in fig.axes if ax.get_visible()}
    for ch in CHANNELS:
        assert _same(lines[ch], channel_colors(CHANNELS)[ch])
    assert _same(lines["intercept"], "grey")

    df = pd.DataFrame({"channel": CHANNELS, "share of spend": [0.5, 0.3, 0.2], "share of effect": [0.4, 0.4, 0.2],
                       "effect 3%": [0.3, 0.3, 0.1], "effect 97%": [0.5, 0.5, 0.3]})
    bars = plot_effect_vs_spend(df).axes[0].patches[3:6]  # the effect bars (the spend bars come first)
    assert all(_same(b.get_facecolor(), channel_colors(CHANNELS)[ch]) for b, ch in zip(bars, CHANNELS))


@pytest.mark.parametrize("value, expected", [(120.0, "tv"), (-30.0, ALERT)])
def test_waterfall_colours_media_by_channel_and_negative_totals_as_alerts(value, expected):
    totals = pd.DataFrame({"component": ["intercept", "tv"], "kind": ["baseline", "media"],
                           "contribution": [500.0, value], "share": [0.8, 0.2]})
    bar = plot_waterfall(totals).axes[0].patches[1]
    color = channel_colors(["tv"])["tv"] if expected == "tv" else expected
    assert _same(bar.get_facecolor(), color)


@pytest.mark.parametrize("value, digits, text", [(-0.0003, 1, "0.0%"), (-0.004, 0, "0%"), (-0.012, 1, "-1.2%"),
                                                 (0.5, 0, "50%"), (float("nan"), 1, "–")])
def test_shares_that_round_to_zero_show_no_minus_sign(value, digits, text):
    from mmmhelpers.report import as_percent

    assert as_percent(value, digits) == text


@pytest.mark.parametrize("value, text", [(1234567.8, "1,234,568"), (0.29345, "0.293"), (-1448.2, "-1,448"),
                                         (120000.0, "120,000"), (3.2e-5, "0.000032")])
def test_plain_numbers_have_separators_and_no_scientific_notation(value, text):
    from mmmhelpers.report import plain_number

    assert plain_number(value) == text


def test_predictive_bands_are_not_dragged_by_one_extreme_draw():
    """The central line is the median: one prior draw 1e7 times the data moves neither it nor the axis."""
    import matplotlib.pyplot as plt

    from mmmhelpers.plots import _bands

    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    draws = rng.normal(100.0, 10.0, size=(500, 20))
    draws[7, 5] = 1e9
    fig, ax = plt.subplots()
    _bands(ax, dates, draws, MODEL, "prior predictive")
    line = ax.get_lines()[0]
    assert line.get_label() == "prior predictive median"
    np.testing.assert_allclose(line.get_ydata(), np.median(draws, axis=0))
    assert ax.get_ylim()[1] < 200
    plt.close(fig)
