"""Numbers, units and the period word as every page says them (``mmmhelpers.formatting``): thousands separators or
three significant digits, percentages without "-0", a table cell of each type, the case's units and the period word
from the dates unless the params name it; each against the text written out by hand."""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers import formatting, plots
from mmmhelpers.data import from_frame
from mmmhelpers.formatting import UNITS, as_percent, first_upper, fmt_number, plain_number, set_units


@pytest.mark.parametrize("value, digits, text", [(-0.0003, 1, "0.0%"), (-0.004, 0, "0%"), (-0.012, 1, "-1.2%"),
                                                 (0.5, 0, "50%"), (float("nan"), 1, "–")])
def test_shares_that_round_to_zero_show_no_minus_sign(value, digits, text):
    assert as_percent(value, digits) == text


@pytest.mark.parametrize("value, text", [(1234567.8, "1,234,568"), (0.29345, "0.293"), (-1448.2, "-1,448"),
                                         (120000.0, "120,000"), (3.2e-5, "0.000032"),
                                         (-0.0, "0"), (-3e-13, "0")])
def test_plain_numbers_have_separators_and_no_scientific_notation(value, text):
    assert plain_number(value) == text


@pytest.mark.parametrize("value, text", [(999.4, "999"), (999.5, "1,000"), (12.345, "12.3"), (100.0, "100"),
                                         (np.float32(0.125), "0.125"), (float("inf"), "–"), (float("nan"), "–")])
def test_plain_numbers_switch_to_separators_at_what_rounds_to_a_thousand(value, text):
    """Below 999.5 three significant digits (no trailing dot); from there whole numbers with separators."""
    assert plain_number(value) == text


def test_a_table_cell_says_a_date_a_flag_a_count_and_a_number_each_its_own_way():
    assert fmt_number(pd.Timestamp("2024-03-05")) == "05\u00a0Mar\u00a02024"  # non-breaking spaces: one line
    assert [fmt_number(v) for v in (True, np.bool_(False))] == ["yes", "no"]  # not 1 and 0
    assert [fmt_number(v) for v in (1234567, np.int64(-2500), 7)] == ["1,234,567", "-2,500", "7"]
    assert [fmt_number(v) for v in (1234.4, np.float64(0.04567), -0.0)] == ["1,234", "0.0457", "0"]
    assert fmt_number("tv") == "tv" and fmt_number(None) == "None"


def test_the_cases_units_replace_the_defaults_and_a_blank_gives_them_back():
    try:
        set_units("EUR", "sign-ups", "day")
        assert UNITS == {"currency": "EUR", "per_currency": "EUR", "target": "sign-ups", "period": "day"}
        set_units(target_label="units of the target")  # the params' default label: the axes keep theirs
        assert UNITS == {"currency": "currency units", "per_currency": "currency unit", "target": "target units",
                         "period": "week"}
    finally:
        set_units()


def test_the_pages_period_word_comes_from_the_dates_unless_the_params_name_it():
    dates = pd.date_range("2023-01-31", periods=14, freq="ME")
    df = pd.DataFrame([{"date": d, "geo": "a", "x1": float(i + 1), "x2": 0.0, "y": 10.0 + i}
                       for i, d in enumerate(dates)])
    data = from_frame(df, channels=["x1", "x2"], dims=["geo"])
    plots.style()
    assert formatting.period_from(data) == "month" and plots.UNITS["period"] == "month"
    plots.style(period="week")  # report.period: week
    assert formatting.period_from(data) == "week"
    plots.style()


def test_first_upper_raises_the_first_letter_and_keeps_the_rest():
    """str.capitalize would write "Tv and EU events" as "Tv and eu events"."""
    assert first_upper("tV and EU events") == "TV and EU events"
    assert first_upper("") == "" and first_upper("7 days") == "7 days"
