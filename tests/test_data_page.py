"""The data page's words and tables (``mmmhelpers.data_page``): the opening paragraph says where the data come from,
their size, markets, columns and targets; the spend table's totals, means and shares of periods with spend by hand,
with the units and cost per unit of media bought in units."""

import numpy as np
import pandas as pd
import pytest
from test_units import frame, load

from mmmhelpers.config import Params
from mmmhelpers.data import from_frame
from mmmhelpers.data_page import data_intro, data_summary


def test_the_data_page_says_what_is_bought_in_units():
    data = load()
    params = Params(case="c", title="T", seed=1, data={"path": "sales.csv", "channel_columns": ["tv", "search"],
                                                       "units_columns": {"tv": "tv_grps"}, "dims": ["geo"]})
    text = data_intro(params, data)
    assert "2 geos (a, b), channels tv, search (bought in units: tv in tv_grps; the units drive the effect" in text
    row = data_summary(data).set_index("channel").loc["tv"]
    assert row["total units"] == pytest.approx(frame().tv_grps.sum())
    assert row["cost per unit"] == pytest.approx(frame().tv.sum() / frame().tv_grps.sum())


def panel() -> pd.DataFrame:
    """4 weeks of two markets: x1 spends 10, 0, 30, 0 in a and 5 every week in b; x2 only 8 in a's last week."""
    dates = pd.date_range("2024-01-01", periods=4, freq="7D")
    x1 = {"a": [10.0, 0.0, 30.0, 0.0], "b": [5.0] * 4}
    x2 = {"a": [0.0, 0.0, 0.0, 8.0], "b": [0.0] * 4}
    return pd.DataFrame([{"date": d, "geo": g, "x1": x1[g][i], "x2": x2[g][i], "price": 1.0 + i, "y": 50.0}
                         for i, d in enumerate(dates) for g in ("a", "b")])


def test_the_spend_table_sums_averages_and_counts_the_periods_with_spend_by_hand():
    data = from_frame(panel(), channels=["x1", "x2"], controls=["price"], dims=["geo"])
    table = data_summary(data, period="week")
    assert list(table.columns) == ["channel", "total spend", "mean spend per week", "weeks with spend"]
    assert list(table["channel"]) == ["x1", "x2"]
    np.testing.assert_allclose(table["total spend"], [40.0 + 20.0, 8.0])
    np.testing.assert_allclose(table["mean spend per week"], [60.0 / 8, 8.0 / 8])  # 4 weeks x 2 markets
    np.testing.assert_allclose(table["weeks with spend"], [(2 + 4) / 8, 1 / 8])
    assert "mean spend per month" in data_summary(data, period="month").columns  # the page's word


def test_the_opening_paragraph_of_a_loaded_panel_says_its_size_markets_and_columns():
    data = from_frame(panel(), channels=["x1", "x2"], controls=["price"], dims=["geo"])
    params = Params(case="c", title="Two markets", description="A made-up panel.", seed=1,
                    data={"path": "sales.csv", "channel_columns": ["x1", "x2"], "control_columns": ["price"],
                          "dims": ["geo"]})
    assert data_intro(params, data) == (
        "**Two markets.** A made-up panel. The data were loaded from `sales.csv`: 4 weeks (2024-01-01 to 2024-01-22), "
        "2 geos (a, b), channels x1, x2, controls price.")


def test_the_opening_paragraph_of_a_simulated_case_names_its_generator_seed_and_targets():
    dates = pd.date_range("2024-01-01", periods=3, freq="7D")
    df = pd.DataFrame({"date": dates, "x1": [1.0, 2.0, 3.0], "y": [10.0, 11.0, 12.0]})
    data = from_frame(df, channels=["x1"])
    params = Params(case="c", title="Sim", description="Made up.", seed=7, simulate={"generator": "geo_hierarchical"},
                    targets=[{"name": "geo_a", "where": {"geo": "geo_a"}},
                             {"name": "geo_b", "label": "market B", "where": {"geo": "geo_b"}}])
    text = data_intro(params, data)
    assert text.startswith("**Sim.** Made up. The data were simulated by the `geo_hierarchical` generator (seed 7): 3 weeks "
                           "(2024-01-01 to 2024-01-15), a single market, channels x1, controls none.")
    assert text.endswith(" **2 targets, one model each:** geo_a (geo = geo_a); market B (geo = geo_b). The fit, "
                         "recovery and out-of-sample pages follow the first; the fit page checks every target's fit "
                         "and the budget page plans for all of them.")
