"""Figures of the fit page (``mmmhelpers.plots_fit``): each channel in its palette colour, negative totals as alerts,
and a figure's title, axis units and plotted values.

End-to-end: the fit page's figures of a real run are checked in tests/test_pipeline.py (embedded in the pages) and
the slide deck's copies of them in ::test_a_report_renders_as_a_slide_deck_with_its_figures_and_headline.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from conftest import CHANNELS  # noqa: E402
from conftest import same_color as _same  # noqa: E402

from mmmhelpers.plots import ALERT, channel_colors  # noqa: E402
from mmmhelpers.plots_fit import (  # noqa: E402
    plot_decomposition,
    plot_effect_vs_spend,
    plot_roas_forest,
    plot_waterfall,
)


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


def test_the_roas_forest_has_a_title_axes_in_the_cases_units_and_the_tables_values(report_units):
    """Each channel's ROAS and mROAS at their means, their 94% HDI as a line from the 3% to the 97% column; the x axis
    in the report's target label per its currency."""
    df = pd.DataFrame({"channel": CHANNELS, "ROAS": [1.2, 0.8, 2.5], "ROAS 3%": [0.9, 0.5, 1.7],
                       "ROAS 97%": [1.6, 1.1, 3.3], "mROAS": [0.7, 0.6, 1.1], "mROAS 3%": [0.4, 0.3, 0.6],
                       "mROAS 97%": [1.0, 0.9, 1.7]})
    fig = plot_roas_forest(df)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() == f"{report_units.target_label} per {report_units.currency}"
    assert [t.get_text() for t in ax.get_yticklabels()] == CHANNELS
    for k, name in enumerate(["ROAS", "mROAS"]):
        means, hdi = ax.get_lines()[k], ax.collections[k].get_segments()
        assert means.get_label() == f"{name} (mean, 94% HDI)"
        np.testing.assert_allclose(means.get_xdata(), df[name])
        np.testing.assert_allclose([seg[:, 0] for seg in hdi], df[[f"{name} 3%", f"{name} 97%"]].to_numpy())
    plt.close(fig)
