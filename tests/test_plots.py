"""The report's palette: a channel has one colour in every figure; truth, model and alerts have their own.

The fit page's figures keep that palette: tests/test_plots_fit.py; numbers as the pages say them:
tests/test_formatting.py."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from conftest import CHANNELS  # noqa: E402
from conftest import same_color as _same  # noqa: E402

from mmmhelpers.plots import CHANNEL_PALETTE, MODEL, cell_colors, channel_colors, plan_color  # noqa: E402


def test_channel_k_gets_palette_colour_k_and_markets_get_lighter_shades():
    colors = channel_colors(CHANNELS)
    assert [colors[c] for c in CHANNELS] == list(CHANNEL_PALETTE[:3])
    cells = cell_colors(["tv @ north", "search @ north", "tv @ south"])
    assert _same(cells[0], CHANNEL_PALETTE[0]) and _same(cells[1], CHANNEL_PALETTE[1])
    assert np.all(np.array(cells[2]) > np.array(cells[0]) - 1e-12) and not _same(cells[2], cells[0])  # lighter
    assert _same(plan_color("optimal plan"), MODEL) and not _same(plan_color("historical split"), MODEL)


def test_predictive_bands_are_not_dragged_by_one_extreme_draw():
    """The central line is the median: one prior draw 1e7 times the data moves neither it nor the axis."""
    import matplotlib.pyplot as plt

    from mmmhelpers.plots import bands

    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    draws = rng.normal(100.0, 10.0, size=(500, 20))
    draws[7, 5] = 1e9
    fig, ax = plt.subplots()
    bands(ax, dates, draws, MODEL, "prior predictive")
    line = ax.get_lines()[0]
    assert line.get_label() == "prior predictive median"
    np.testing.assert_allclose(line.get_ydata(), np.median(draws, axis=0))
    assert ax.get_ylim()[1] < 200
    plt.close(fig)
