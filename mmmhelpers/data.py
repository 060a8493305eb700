"""Data: load and validate a CSV, turn a long frame into labeled arrays, max scaling, Fourier terms.

The canonical table is long: one row per date (and panel coordinate), columns
``date, *dims, *channels, *controls, target``. ``MMMData`` holds the same as arrays shaped
``(date, *panel, channel)`` etc.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["DataError", "MMMData", "from_frame", "load_csv", "fourier_features", "fourier_modes", "max_scales"]


class DataError(ValueError):
    """Bad input data; the message names the file, column and offending values."""


@dataclass(frozen=True)
class MMMData:
    """Model input as arrays with labels. Spend and target on their original scale."""

    dates: pd.DatetimeIndex
    panel: dict[str, list]  # panel dim -> coordinates, in order
    channels: list[str]
    controls: list[str]
    X: np.ndarray  # (date, *panel, channel)
    C: np.ndarray  # (date, *panel, control)
    y: np.ndarray  # (date, *panel)
    date_column: str = "date"
    target_column: str = "y"

    @property
    def dims(self) -> list[str]:
        return list(self.panel)

    @property
    def n_dates(self) -> int:
        return len(self.dates)

    def coords(self) -> dict[str, list]:
        return {"date": self.dates, **self.panel, "channel": self.channels, "control": self.controls}

    def slice(self, start: int = 0, stop: int | None = None) -> MMMData:
        """Rows ``start:stop`` along the date axis."""
        s = slice(start, stop)
        return replace(self, dates=self.dates[s], X=self.X[s], C=self.C[s], y=self.y[s])

    def with_X(self, X: np.ndarray) -> MMMData:
        return replace(self, X=np.asarray(X, dtype=float))

    def to_frame(self) -> pd.DataFrame:
        """Back to the long CSV layout."""
        da = xr.Dataset(
            {
                **{c: (("date", *self.dims), self.X[..., i]) for i, c in enumerate(self.channels)},
                **{c: (("date", *self.dims), self.C[..., i]) for i, c in enumerate(self.controls)},
                self.target_column: (("date", *self.dims), self.y),
            },
            coords={"date": self.dates, **self.panel},
        )
        df = da.to_dataframe().reset_index().rename(columns={"date": self.date_column})
        return df[[self.date_column, *self.dims, *self.channels, *self.controls, self.target_column]]


def _coerced(df: pd.DataFrame, date_column: str, numeric: list[str], channels: list[str], source: str) -> pd.DataFrame:
    """A copy with parsed dates and numeric columns; every unparseable or negative value reported at once."""
    problems = []
    df = df.copy()
    dates = pd.to_datetime(df[date_column], errors="coerce")
    if dates.isna().any():
        bad = df.loc[dates.isna(), date_column].head(3).tolist()
        problems.append(f"column {date_column!r}: unparseable dates {bad}")
    df[date_column] = dates
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df.loc[values.isna(), col].head(3).tolist()
        if bad:
            problems.append(f"column {col!r}: non-numeric or missing values {bad}")
        df[col] = values
    for col in channels:
        neg = df.loc[df[col] < 0, col].head(3).tolist()
        if neg:
            problems.append(f"column {col!r}: negative spend {neg}")
    if problems:
        raise DataError(f"{source}: " + "; ".join(problems))
    return df


def _weekly_dates(df: pd.DataFrame, key: list[str], source: str) -> pd.DatetimeIndex:
    """The sorted unique dates, after checking for duplicate rows and a weekly, gap-free calendar."""
    date_column = key[0]
    dup = df[df.duplicated(key, keep=False)]
    if len(dup):
        raise DataError(f"{source}: duplicate rows for {key}: {dup[key].head(3).to_dict('records')}")
    udates = pd.DatetimeIndex(sorted(df[date_column].unique()))
    steps = np.unique(np.diff(udates.values).astype("timedelta64[D]").astype(int))
    if len(udates) > 1 and not (len(steps) == 1 and steps[0] == 7):
        raise DataError(f"{source}: column {date_column!r}: dates must be weekly and gap-free (steps {steps.tolist()} days)")
    return udates


def from_frame(
    df: pd.DataFrame,
    channels: list[str],
    controls: list[str] | None = None,
    dims: list[str] | None = None,
    date_column: str = "date",
    target_column: str = "y",
    source: str = "data",
) -> MMMData:
    """Validate a long frame and return ``MMMData``; every problem is reported at once."""
    controls, dims = list(controls or []), list(dims or [])
    needed = [date_column, *dims, *channels, *controls, target_column]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing columns {missing} (has {list(df.columns)})")
    df = _coerced(df, date_column, [*channels, *controls, target_column], channels, source)
    key = [date_column, *dims]
    udates = _weekly_dates(df, key, source)
    panel = {d: sorted(df[d].unique().tolist()) for d in dims}
    n_expected = len(udates) * int(np.prod([len(v) for v in panel.values()] or [1]))
    if len(df) != n_expected:
        raise DataError(f"{source}: unbalanced panel: {len(df)} rows, expected {n_expected} (every date × {dims})")
    ds = df.set_index(key).to_xarray().rename({date_column: "date"}).reindex(date=udates, **panel)

    def stack(cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros((len(udates), *[len(v) for v in panel.values()], 0))
        return np.stack([ds[c].transpose("date", *dims).values for c in cols], axis=-1).astype(float)

    return MMMData(dates=udates, panel=panel, channels=list(channels), controls=controls, X=stack(channels),
                   C=stack(controls), y=ds[target_column].transpose("date", *dims).values.astype(float),
                   date_column=date_column, target_column=target_column)


def load_csv(path: str | Path, spec) -> MMMData:
    """Read and validate the CSV named by ``data.path`` (``spec`` is the params' DataSpec)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data.path: file not found: {path}")
    try:
        df = pd.read_csv(path)
    except Exception as err:  # pandas raises many kinds
        raise DataError(f"{path}: cannot read CSV: {err}") from err
    return from_frame(
        df,
        channels=spec.channel_columns,
        controls=spec.control_columns,
        dims=spec.dims,
        date_column=spec.date_column,
        target_column=spec.target_column,
        source=str(path),
    )


def max_scales(data: MMMData) -> tuple[np.ndarray, np.ndarray]:
    """Max scaling per panel coordinate: channel scale ``(*panel, channel)``, target ``(*panel)``.

    A channel that never spends gets scale 1 (not 0) so that scaling never divides by zero.
    """
    channel = data.X.max(axis=0)
    channel = np.where(channel > 0, channel, 1.0)
    target = np.abs(data.y).max(axis=0)
    target = np.where(target > 0, target, 1.0)
    return channel, target


def fourier_modes(order: int) -> list[str]:
    """Names of the yearly Fourier modes: ``sin_1..sin_k, cos_1..cos_k``."""
    return [f"sin_{k}" for k in range(1, order + 1)] + [f"cos_{k}" for k in range(1, order + 1)]


def fourier_features(dates: pd.DatetimeIndex, order: int) -> np.ndarray:
    """Yearly Fourier terms ``(date, 2*order)``: ``sin/cos(2πk·dayofyear/365.25)`` (as pymc-marketing)."""
    t = dates.dayofyear.values / 365.25
    k = np.arange(1, order + 1)
    ang = 2 * np.pi * t[:, None] * k[None, :]
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)
