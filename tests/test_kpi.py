"""A KPI that is not revenue (sign-ups): cost per unit and ROAS in currency by hand, a budget that targets a cost per
KPI, and pages that never invent a currency without the KPI's value. The plan table's cost per KPI is tested in
tests/test_budget_page.py."""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers.config import Params, ReportSpec
from mmmhelpers.contributions import kpi_columns


def test_cost_per_kpi_and_roas_in_currency_by_hand():
    roas = np.array([0.5, 0.25, 0.2, 0.4, 1.0])  # sign-ups per EUR in five draws
    got = kpi_columns(roas, kpi_value=40.0)
    assert got["cost per KPI"] == pytest.approx(2.5)  # the median of 2, 4, 5, 2.5, 1 EUR per sign-up
    assert got["ROAS (value)"] == pytest.approx(40.0 * roas.mean())  # EUR of value per EUR spent
    assert got["cost per KPI 3%"] <= 2.5 <= got["cost per KPI 97%"]
    assert "ROAS (value)" not in kpi_columns(roas)  # no value: no currency
    assert kpi_columns(np.array([0.5, 0.0, -0.1, 0.5, 0.5]))["cost per KPI"] == pytest.approx(2.0)  # no sign-ups: inf
    with pytest.raises(ValueError, match="kpi_value is the currency value of one unit of a count KPI"):
        ReportSpec(kpi_value=40.0)


def test_the_summary_names_the_cheapest_channel_per_kpi_and_its_value_only_when_given(tmp_path):
    from mmmhelpers.exports import save_table
    from mmmhelpers.summary import executive_summary

    save_table(tmp_path, "roas", pd.DataFrame([
        {"channel": "tv", "ROAS": 0.4, "ROAS 3%": 0.3, "ROAS 97%": 0.5, "mROAS": 0.3, "P(highest ROAS)": 0.1,
         "cost per KPI": 2.5, "cost per KPI 3%": 2.0, "cost per KPI 97%": 3.3},
        {"channel": "search", "ROAS": 0.8, "ROAS 3%": 0.6, "ROAS 97%": 1.0, "mROAS": 0.7, "P(highest ROAS)": 0.9,
         "cost per KPI": 1.25, "cost per KPI 3%": 1.0, "cost per KPI 97%": 1.7}]))
    params = Params(case="c", title="T", seed=1, simulate={"generator": "single_market"},
                    report={"currency": "EUR", "target_label": "sign-ups", "kpi_type": "count"})
    words = dict(executive_summary(tmp_path, params).points)["Channels"]
    assert "search cost the least per unit of sign-ups: EUR 1.25 (median; 94% HDI 1 to 1.7)" in words
    assert "returned the most" not in words and "at the KPI's value" not in words


def test_a_value_per_period_weighs_each_periods_contribution_by_hand():
    """data.kpi_value_column (Meridian's revenue_per_kpi): the ROAS in currency is sum_t contribution_t * value_t over
    the spend, draw by draw; the column survives data.csv; a value that is not positive is named."""
    import xarray as xr

    from mmmhelpers.contributions import value_roas_draws
    from mmmhelpers.data import DataError, data_roles, from_frame, from_roles

    dates = pd.date_range("2024-01-01", periods=4, freq="7D")
    df = pd.DataFrame({"date": dates, "tv": [10.0, 0.0, 20.0, 10.0], "signups": [5.0, 6, 7, 8],
                       "value": [40.0, 40.0, 50.0, 60.0]})
    data = from_frame(df, channels=["tv"], target_column="signups", value_column="value")
    contrib = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 2.0]])  # two draws x four weeks
    group = xr.Dataset({"channel_contribution_original_scale": (("chain", "draw", "date", "channel"),
                                                                contrib[None, :, :, None])},
                       coords={"date": dates, "channel": ["tv"]})
    hand = [(1 * 40 + 2 * 40 + 3 * 50 + 4 * 60) / 40.0, (0 * 40 + 1 * 40 + 1 * 50 + 2 * 60) / 40.0]
    np.testing.assert_allclose(value_roas_draws(group, data)[:, 0], hand)
    back = from_roles(data.to_frame(), data_roles(data))
    np.testing.assert_allclose(back.value, [40.0, 40.0, 50.0, 60.0])
    with pytest.raises(DataError, match=r"column 'value' \(data.kpi_value_column\): the value of one unit of the KPI "
                                        r"must be positive \(row 3\)"):
        from_frame(df.assign(value=[40.0, 0.0, 50.0, 60.0]), channels=["tv"], target_column="signups",
                   value_column="value")
    with pytest.raises(ValueError, match="data.kpi_value_column is the currency value of one unit of a count KPI"):
        Params(case="c", title="T", seed=1, data={"path": "x.csv", "channel_columns": ["tv"],
                                                  "kpi_value_column": "value"})
    with pytest.raises(ValueError, match="give the KPI's value once"):
        Params(case="c", title="T", seed=1, data={"path": "x.csv", "channel_columns": ["tv"],
                                                  "kpi_value_column": "value"},
               report={"kpi_type": "count", "kpi_value": 40.0})
