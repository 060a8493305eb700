"""Loading and validating the long CSV layout; scaling; Fourier terms."""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers.data import DataError, fourier_features, from_frame, max_scales


def frame(n=10, geos=("a", "b")):
    dates = pd.date_range("2024-01-01", periods=n, freq="7D")
    rows = [{"date": d, "geo": g, "x1": float(i + 1), "x2": 0.0, "y": 10.0 + i} for i, d in enumerate(dates) for g in geos]
    return pd.DataFrame(rows)


def test_long_frame_to_arrays_and_back():
    df = frame()
    data = from_frame(df, channels=["x1", "x2"], dims=["geo"])
    assert data.X.shape == (10, 2, 2) and data.y.shape == (10, 2) and data.C.shape == (10, 2, 0)
    back = data.to_frame()
    pd.testing.assert_frame_equal(back.sort_values(["date", "geo"]).reset_index(drop=True)[["x1", "y"]],
                                  df.sort_values(["date", "geo"]).reset_index(drop=True)[["x1", "y"]])


def test_max_scales_never_divide_by_zero():
    data = from_frame(frame(), channels=["x1", "x2"], dims=["geo"])
    channel, target = max_scales(data)
    np.testing.assert_allclose(channel, [[10.0, 1.0], [10.0, 1.0]])  # x2 never spends -> scale 1
    np.testing.assert_allclose(target, [19.0, 19.0])


def single(n=10):
    return frame(n, geos=("a",)).drop(columns="geo")


def with_value(df, col, row, value):
    df = df.astype({col: object})
    df.loc[row, col] = value
    return df


def bad(df, channels=("x1", "x2"), **kw) -> DataError:
    with pytest.raises(DataError) as err:
        from_frame(df, channels=list(channels), source="sales.csv", **kw)
    return err.value


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.drop(columns="x2"), r"missing columns: 'x2' \(data.channel_columns\)"),
        (lambda df: df.assign(x1=-df.x1), "column 'x1': negative spend"),
        (lambda df: df.assign(y=df.y.astype(object).where(df.index != 3, "n/a")), "non-numeric"),
        (lambda df: df[df.date != df.date.iloc[6]], "weekly and gap-free"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "duplicate rows"),
        (lambda df: df.iloc[1:], "geo 'a' has no rows for 2024-01-01"),
    ],
    ids=["missing-column", "negative-spend", "non-numeric", "gap-in-dates", "duplicate", "unbalanced"],
)
def test_bad_data_is_a_clear_error(mutate, message):
    with pytest.raises(DataError, match=message):
        from_frame(mutate(frame()), channels=["x1", "x2"], dims=["geo"], source="sales.csv")


def test_negative_spend_names_column_value_date_and_row():
    err = bad(with_value(single(), "x1", 1, -500.0))
    assert err.problems == ["sales.csv: column 'x1': negative spend -500.0 on 2024-01-08 (row 3)"]


def test_many_negative_values_list_the_first_three_and_count_the_rest():
    df = frame(4).assign(x1=lambda d: -d.x1)
    assert str(bad(df, dims=["geo"])) == (
        "sales.csv: column 'x1': negative spend -1.0 on 2024-01-01 in geo 'a' (row 2), -1.0 on 2024-01-01 in "
        "geo 'b' (row 3), -2.0 on 2024-01-08 in geo 'a' (row 4) and 5 more")


def test_every_problem_at_once_with_rows(tmp_path):
    """Row numbers are the CSV's own (header = row 1): what a person finds in an editor or a spreadsheet."""
    from types import SimpleNamespace

    from mmmhelpers.data import load_csv

    path = tmp_path / "sales.csv"
    path.write_text("date,x1,y\n2024-01-01,1,10\n2024-01-08,,11\nsoon,2,12\n2024-01-22,-3,abc\n2024-01-29,3,13\n")
    spec = SimpleNamespace(channel_columns=["x1"], control_columns=[], dims=[], date_column="date", target_column="y",
                           date_format=None)
    with pytest.raises(DataError) as err:
        load_csv(path, spec)
    date = ("column 'date': unparseable dates 'soon' (row 4); write the dates as 2024-01-31, or give their strptime "
            'format as data.date_format (e.g. "%d.%m.%Y") in the params file')
    assert [p.removeprefix(f"{path}: ") for p in err.value.problems] == [  # no gap made up from the unread date
        date,
        "column 'x1': non-numeric or missing values <missing> on 2024-01-08 (row 3)",
        "column 'y': non-numeric or missing values 'abc' on 2024-01-22 (row 5)",
        "column 'x1': negative spend -3.0 on 2024-01-22 (row 5)",
    ]
    assert str(err.value).startswith(f"{path}: 4 problems\n  - {date}\n")


def test_gaps_and_irregular_steps_are_named():
    df = single(12)
    df = df[~df.date.isin(pd.to_datetime(["2024-01-15", "2024-01-22"]))]  # two weeks missing
    df = with_value(df.reset_index(drop=True), "date", 8, pd.Timestamp("2024-03-13"))  # 11 March -> Wednesday 13
    err = bad(df)
    assert err.problems == [
        "sales.csv: column 'date': dates must be weekly and gap-free: missing weeks between 2024-01-08 and "
        "2024-01-29 (2 weeks), irregular step of 9 days from 2024-03-04 to 2024-03-13, irregular step of 5 days "
        "from 2024-03-13 to 2024-03-18"]


def test_a_geo_with_missing_weeks_names_the_geo_and_the_dates():
    df = frame(12)
    df = df[~((df.geo == "b") & df.date.isin(pd.to_datetime(["2024-02-12", "2024-02-19"])))]
    assert bad(df, dims=["geo"]).problems == ["sales.csv: geo 'b' has no rows for 2024-02-12, 2024-02-19"]


def test_many_cells_with_missing_weeks_name_three_and_count_the_rest():
    df = frame(3, geos=("a", "b", "c", "d", "e")).iloc[:-4]  # the last date lacks geos b-e
    assert bad(df, dims=["geo"]).problems == [
        "sales.csv: geo 'b' has no rows for 2024-01-15", "sales.csv: geo 'c' has no rows for 2024-01-15",
        "sales.csv: geo 'd' has no rows for 2024-01-15", "sales.csv: and 1 more panel cells (geo) with missing weeks"]


def test_two_panel_dims_name_the_cell():
    df = pd.concat([frame(3).assign(brand=b) for b in ("p", "q")], ignore_index=True)
    df = df[~((df.geo == "a") & (df.brand == "q"))]  # a cell with no rows at all
    assert bad(df, dims=["geo", "brand"]).problems == [
        "sales.csv: geo 'a', brand 'q' has no rows for 2024-01-01, 2024-01-08, 2024-01-15"]


def test_duplicate_rows_name_the_date_cell_and_rows():
    df = pd.concat([frame(3), frame(3).iloc[[1]]], ignore_index=True)
    assert bad(df, dims=["geo"]).problems == [
        "sales.csv: duplicate rows for the same date and geo: 2024-01-01 in geo 'b' (rows 3, 8)"]


def test_missing_columns_name_the_field_and_the_closest_column():
    df = frame().rename(columns={"x2": "x_2"})
    assert bad(df, dims=["geo", "region"]).problems == [
        "sales.csv: missing columns: 'region' (data.dims), 'x2' (data.channel_columns; did you mean 'x_2'?); "
        "the file has ['date', 'geo', 'x1', 'x_2', 'y']"]


def test_a_column_named_twice():
    err = bad(frame(), dims=["geo"], controls=["x1"])
    assert err.problems == ["sales.csv: column 'x1' is named more than once: in data.channel_columns, "
                            "data.control_columns"]


def test_missing_panel_coordinate_is_named():
    df = with_value(frame(3), "geo", 2, None)
    assert bad(df, dims=["geo"]).problems[0] == "sales.csv: column 'geo': missing values in row 4"


def test_fourier_features_hand_values():
    dates = pd.DatetimeIndex(["2024-01-01", "2024-04-01"])
    F = fourier_features(dates, 1)
    t = np.array([1, 92]) / 365.25  # day of year of 1 Jan and 1 Apr (leap year)
    np.testing.assert_allclose(F, np.c_[np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])


def test_truth_from_csv_columns_and_values(tmp_path):
    """A published case's truth read from its CSV: a multiplier rescaled to geometric mean 1 (as the model's),
    per-channel series stacked on a channel dim, true parameters per channel; a missing column is named."""
    import pandas as pd

    from mmmhelpers.config import DataSpec
    from mmmhelpers.data import DataError, load_csv, truth_from_csv

    dates = pd.date_range("2024-01-01", periods=6, freq="7D")
    mult = np.array([0.5, 1.0, 2.0, 2.0, 1.0, 0.5])
    df = pd.DataFrame({"": range(6), "week": dates, "x1": 1.0, "x2": 2.0, "y": 10.0, "fluct": mult,
                       "c1": np.arange(6.0), "c2": 2 * np.arange(6.0)})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    spec = DataSpec(path=path, date_column="week", channel_columns=["x1", "x2"],
                    truth_columns={"media_temporal_latent_multiplier": "fluct",
                                   "channel_contribution_original_scale": {"x1": "c1", "x2": "c2"}},
                    truth_values={"adstock_alpha": [0.5, 0.4], "y_sigma": 0.2})
    data = load_csv(path, spec)
    truth = truth_from_csv(path, spec, data)
    np.testing.assert_allclose(truth["media_temporal_latent_multiplier"].values, mult)  # geometric mean is 1
    softplus = truth_from_csv(path, spec, data, {"media_temporal_latent_multiplier": "softplus"})
    np.testing.assert_allclose(softplus["media_temporal_latent_multiplier"].values, mult / mult.mean())
    c = truth["channel_contribution_original_scale"]
    assert c.sel(channel="x2").values.tolist() == (2 * np.arange(6.0)).tolist()
    assert (c["date"].values == data.dates.values).all()
    assert truth["adstock_alpha"].sel(channel="x2").item() == 0.4 and truth["y_sigma"].item() == 0.2
    bad = spec.model_copy(update={"truth_columns": {"channel_contribution_original_scale": {"x1": "nope"}}})
    with pytest.raises(DataError, match=r"data.truth_columns.channel_contribution_original_scale: .*'nope'"):
        truth_from_csv(path, bad, data)
    wrong = spec.model_copy(update={"truth_values": {"adstock_alpha": [0.5]}})
    with pytest.raises(DataError, match="one per channel needs 2"):
        truth_from_csv(path, wrong, data)


def test_data_until_keeps_the_rows_up_to_that_day_and_the_truth_with_them(tmp_path):
    """``data.until``: the data as an earlier report saw it; the truth columns and their normalization follow."""
    import datetime

    from mmmhelpers.config import DataSpec
    from mmmhelpers.data import load_csv, truth_from_csv

    dates = pd.date_range("2024-01-01", periods=6, freq="7D")
    mult = np.array([0.5, 2.0, 1.0, 1.0, 8.0, 8.0])
    df = pd.DataFrame({"week": dates, "x1": np.arange(1.0, 7.0), "y": 10.0, "fluct": mult})
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    spec = DataSpec(path=path, date_column="week", channel_columns=["x1"], until=datetime.date(2024, 1, 25),
                    truth_columns={"media_temporal_latent_multiplier": "fluct"})
    data = load_csv(path, spec)
    assert list(data.dates) == list(dates[:4]) and data.X[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]
    truth = truth_from_csv(path, spec, data)  # geometric mean 1 over the four weeks kept
    np.testing.assert_allclose(truth["media_temporal_latent_multiplier"].values, mult[:4])
    with pytest.raises(DataError, match=r"data.until: 2023-12-01 keeps 0 of the 6 periods of .*d.csv \(they run from "
                                        r"2024-01-01 to 2024-02-05\)"):
        load_csv(path, spec.model_copy(update={"until": datetime.date(2023, 12, 1)}))


def test_select_keeps_one_coordinate_and_drops_its_dim():
    data = from_frame(frame(), channels=["x1", "x2"], dims=["geo"])
    b = data.select({"geo": "b"})
    assert b.panel == {} and b.X.shape == (10, 2) and (b.y == data.y[:, 1]).all()
    with pytest.raises(DataError, match=r"geo has no coordinate 'c' \(it has \['a', 'b'\]\)"):
        data.select({"geo": "c"})


def test_daily_data_are_accepted_and_a_missing_day_is_named():
    df = frame(geos=("a",))
    df["date"] = pd.date_range("2024-01-01", periods=len(df), freq="D")
    data = from_frame(df, channels=["x1", "x2"], dims=["geo"])
    assert data.period == "day" and from_frame(frame(), channels=["x1"], dims=["geo"]).period == "week"
    with pytest.raises(DataError, match=r"dates must be daily and gap-free: missing days between 2024-01-04 "
                                        r"and 2024-01-06 \(1 day\)"):
        from_frame(df.drop(index=4), channels=["x1", "x2"], dims=["geo"])


@pytest.mark.parametrize("freq, period, words, following", [
    ("D", "day", "every day", ["2024-01-11", "2024-01-12"]),
    ("W-WED", "week", "every Wednesday", ["2024-03-13", "2024-03-20"]),
    ("MS", "month", "day 1 of each month", ["2024-11-01", "2024-12-01"]),
    ("ME", "month", "month ends", ["2024-11-30", "2024-12-31"]),
])
def test_the_frequency_is_detected_and_the_next_dates_follow_it(freq, period, words, following):
    from mmmhelpers.out_of_sample import forecast_data

    df = frame(geos=("a",))
    df["date"] = pd.date_range("2024-01-01", periods=len(df), freq=freq)
    data = from_frame(df, channels=["x1", "x2"], dims=["geo"])
    assert data.period == period and data.calendar.describe(data.dates) == words
    future = forecast_data(data, 2)
    assert list(future.dates[-2:].strftime("%Y-%m-%d")) == following
    assert future.calendar == data.calendar and (future.X[-2:] == data.X[-1]).all()


def test_monthly_gaps_and_off_calendar_dates_are_named():
    df = frame(n=12, geos=("a",))
    df["date"] = pd.date_range("2023-01-01", periods=12, freq="MS")
    with pytest.raises(DataError, match=r"dates must be monthly and gap-free: missing months between 2023-03-01 and "
                                        r"2023-06-01 \(2 months\), irregular step of 33 days from 2023-09-01 to "
                                        r"2023-10-04"):
        broken = df.drop(index=[3, 4]).copy()
        broken.loc[9, "date"] = pd.Timestamp("2023-10-04")
        from_frame(broken, channels=["x1", "x2"], dims=["geo"])
    df["date"] = pd.date_range("2023-01-01", periods=12, freq="3D")
    with pytest.raises(DataError, match=r"the dates are not daily, weekly or monthly \(steps of 3 days\)"):
        from_frame(df, channels=["x1", "x2"], dims=["geo"])


def test_a_population_column_is_one_positive_number_per_market():
    df = frame(n=6)
    df["people"] = np.where(df["geo"] == "a", 10.0, 30.0)
    data = from_frame(df, channels=["x1"], dims=["geo"], population_column="people")
    np.testing.assert_array_equal(data.population, [10.0, 30.0])
    df.loc[2, "people"] = 11.0
    df.loc[7, "people"] = 0.0
    with pytest.raises(DataError) as err:
        from_frame(df, channels=["x1"], dims=["geo"], population_column="people")
    assert err.value.problems == ["data: column 'people': population must be positive (row 9)",
                                  "data: column 'people': one population per market is needed; it changes in geo a, b"]
