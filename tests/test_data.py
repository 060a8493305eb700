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


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.drop(columns="x2"), r"missing columns \['x2'\]"),
        (lambda df: df.assign(x1=-df.x1), "negative spend"),
        (lambda df: df.assign(y=df.y.astype(object).where(df.index != 3, "n/a")), "non-numeric"),
        (lambda df: df[df.date != df.date.iloc[6]], "weekly and gap-free"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "duplicate rows"),
        (lambda df: df.iloc[1:], "unbalanced panel"),
    ],
    ids=["missing-column", "negative-spend", "non-numeric", "gap-in-dates", "duplicate", "unbalanced"],
)
def test_bad_data_is_a_clear_error(mutate, message):
    with pytest.raises(DataError, match=message):
        from_frame(mutate(frame()), channels=["x1", "x2"], dims=["geo"], source="sales.csv")


def test_fourier_features_hand_values():
    dates = pd.DatetimeIndex(["2024-01-01", "2024-04-01"])
    F = fourier_features(dates, 1)
    t = np.array([1, 92]) / 365.25  # day of year of 1 Jan and 1 Apr (leap year)
    np.testing.assert_allclose(F, np.c_[np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])
