"""Figures of the data page (``mmmhelpers.plots_data``): the columns they read, the correlations by numpy, the
confounder against its proxy; each figure with a title and axes in the case's units."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmmhelpers.config import SimulateSpec  # noqa: E402
from mmmhelpers.plots import UNITS  # noqa: E402
from mmmhelpers.plots_data import data_columns, plot_confounder, plot_correlations  # noqa: E402
from mmmhelpers.simulate import simulate  # noqa: E402


@pytest.fixture(scope="module")
def confounded():
    """40 weeks of the confounded-demand generator: its truth holds the demand the model sees a proxy of."""
    return simulate(SimulateSpec(generator="confounded_demand", n_weeks=40), seed=3)


def test_the_data_columns_are_the_target_the_media_the_controls_and_the_true_demand(confounded, single_market):
    data, truth = confounded
    cols = data_columns(data, truth)
    assert list(cols) == [data.target_column, *data.channels, *data.controls, "demand (truth)"]
    np.testing.assert_array_equal(cols[data.target_column], data.y)
    for k, ch in enumerate(data.channels):
        np.testing.assert_array_equal(cols[ch], data.units[:, k])
    np.testing.assert_array_equal(cols[data.controls[0]], data.C[:, 0])
    np.testing.assert_array_equal(cols["demand (truth)"], truth["demand"].values)
    assert "demand (truth)" not in data_columns(data)  # no truth given
    other, other_truth = single_market
    assert "demand" not in other_truth and "demand (truth)" not in data_columns(other, other_truth)


def test_the_correlations_are_numpys_with_a_title_and_a_labelled_scale(confounded, report_units):
    data, truth = confounded
    series = [data.y, *data.units.T, *data.C.T, truth["demand"].values]
    want = np.corrcoef(np.vstack(series))
    fig = plot_correlations(data, truth)
    ax = fig.axes[0]
    assert ax.get_title() == f"Correlation between the columns (one value per {UNITS['period']})"
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in want.ravel()]
    assert fig.axes[1].get_ylabel() == "correlation"  # the colour bar
    plt.close(fig)


def test_the_confounder_plot_shows_the_true_demand_against_its_proxy(confounded, report_units):
    data, truth = confounded
    control = data.controls[0]
    fig = plot_confounder(data, truth, control)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), np.c_[data.C[:, 0], truth["demand"].values])
    r = np.corrcoef(data.C[:, 0], truth["demand"].values)[0, 1]
    assert ax.get_title() == f"{control} vs the true demand (correlation {r:.2f})"
    assert ax.get_xlabel().startswith(control)
    assert ax.get_ylabel() == f"true demand ({report_units.target_label} per {UNITS['period']})"
    plt.close(fig)
