"""Data: load and validate a CSV, turn a long frame into labeled arrays, max scaling, Fourier terms.

The canonical table is long: one row per date (and panel coordinate), columns
``date, *dims, *channels, *controls, target``. ``MMMData`` holds the same as arrays shaped
``(date, *panel, channel)`` etc.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["DataError", "MMMData", "Calendar", "calendar_of", "from_frame", "read_table", "load_csv", "fourier_features",
           "fourier_modes", "max_scales", "data_roles", "from_roles", "read_plan", "plan_data", "plan_warnings",
           "holiday_days", "WEEKDAYS"]


class DataError(ValueError):
    """Bad input data; the message names the file, column and offending values.

    ``DataError(message)`` is one problem; ``DataError(source, problems)`` lists every problem of one file at
    once, and ``.problems`` holds them one by one, each starting with the file.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = [f"{message}: {p}" for p in problems] if problems else [message]
        if problems and len(problems) > 1:
            message = f"{message}: {len(problems)} problems\n" + "\n".join(f"  - {p}" for p in problems)
        elif problems:
            message = self.problems[0]
        super().__init__(message)


@dataclass(frozen=True)
class MMMData:
    """Model input as arrays with labels. Spend and target on their original scale.

    ``X`` is what drives the media effect. A channel bought in units (impressions, GRPs, clicks; see
    ``data.units_columns``) has its units there, valued at the channel's average cost per unit over the data
    (``unit_cost``): ``X = units * unit_cost``, so that its total over the data is the channel's spend, a plan's
    spend at that price buys ``X`` one to one, and scaling (on the units) gives the model exactly the units. ``S``
    then holds the money spent; for a channel without units ``X`` is its spend.
    """

    dates: pd.DatetimeIndex
    panel: dict[str, list]  # panel dim -> coordinates, in order
    channels: list[str]
    controls: list[str]
    X: np.ndarray  # (date, *panel, channel)
    C: np.ndarray  # (date, *panel, control)
    y: np.ndarray  # (date, *panel)
    date_column: str = "date"
    target_column: str = "y"
    organic: list[str] = dataclasses.field(default_factory=list)  # media without spend (newsletters, organic social)
    Z: np.ndarray | None = None  # organic media (date, *panel, organic), like X; None: none
    population: np.ndarray | None = None  # (*panel): each market's size (data.population_column); None: not given
    population_column: str | None = None
    units_columns: dict[str, str] = dataclasses.field(default_factory=dict)  # channel -> its units column
    S: np.ndarray | None = None  # spend (date, *panel, channel) when some channel has units; None: X is the spend
    unit_cost: np.ndarray | None = None  # (*panel, channel): spend per unit over the data (1 for channels without)
    value: np.ndarray | None = None  # (date, *panel): a count KPI's currency value per unit (data.kpi_value_column)
    value_column: str | None = None

    def __post_init__(self):
        if self.Z is None:
            object.__setattr__(self, "Z", np.zeros((*self.y.shape, len(self.organic))))

    @property
    def dims(self) -> list[str]:
        return list(self.panel)

    @property
    def spend(self) -> np.ndarray:
        """The money spent, ``(date, *panel, channel)`` (``X`` unless some channel is bought in units)."""
        return self.X if self.S is None else self.S

    @property
    def cost_per_unit(self) -> np.ndarray:
        """``(*panel, channel)``: what one unit of ``X``'s own units cost on average (1 for spend)."""
        return np.ones(self.X.shape[1:]) if self.unit_cost is None else self.unit_cost

    @property
    def units(self) -> np.ndarray:
        """The media in their own units, ``(date, *panel, channel)``: units where a channel has them, else spend."""
        return self.X if self.unit_cost is None else self.X / self.unit_cost

    @property
    def total_spend(self) -> np.ndarray:
        """Spend per channel summed over every date and panel cell."""
        return self.spend.reshape(self.n_dates, -1, len(self.channels)).sum(axis=(0, 1))

    @property
    def period(self) -> str:
        """What one row of time is: ``day``, ``week``, ``month`` or ``period`` (from the median date step)."""
        cal = calendar_of(self.dates)
        return cal.period if cal is not None else "period"

    @property
    def calendar(self) -> Calendar:
        """The dates' frequency (weekly when a single date says nothing)."""
        return calendar_or_weekly(self.dates)

    @property
    def n_dates(self) -> int:
        return len(self.dates)

    def coords(self) -> dict[str, list]:
        return {"date": self.dates, **self.panel, "channel": self.channels, "control": self.controls}

    def slice(self, start: int = 0, stop: int | None = None) -> MMMData:
        """Rows ``start:stop`` along the date axis."""
        s = slice(start, stop)
        assert self.Z is not None  # __post_init__ fills it
        return replace(self, dates=self.dates[s], X=self.X[s], C=self.C[s], y=self.y[s], Z=self.Z[s],
                       S=None if self.S is None else self.S[s], value=None if self.value is None else self.value[s])

    def select(self, where: dict[str, str], source: str = "data") -> MMMData:
        """The rows of one coordinate per named panel dim, those dims dropped (e.g. one market of a panel)."""
        index: list[int | slice] = []
        panel = {}
        for d, coords in self.panel.items():
            if d in where:
                if where[d] not in coords:
                    raise DataError(f"{source}: {d} has no coordinate {where[d]!r} (it has {coords})")
                index.append(coords.index(where[d]))
            else:
                index.append(slice(None))
                panel[d] = coords
        at = (slice(None), *index)
        pop = None if self.population is None else self.population[tuple(index)]
        cost = None if self.unit_cost is None else self.unit_cost[tuple(index)]
        assert self.Z is not None  # __post_init__ fills it
        return replace(self, panel=panel, X=self.X[at], C=self.C[at], y=self.y[at], Z=self.Z[at], population=pop,
                       S=None if self.S is None else self.S[at], unit_cost=cost,
                       value=None if self.value is None else self.value[at])

    def with_X(self, X: np.ndarray) -> MMMData:
        return replace(self, X=np.asarray(X, dtype=float))

    def to_frame(self) -> pd.DataFrame:
        """Back to the long CSV layout."""
        assert self.Z is not None  # __post_init__ fills it
        da = xr.Dataset(
            {
                **{c: (("date", *self.dims), self.spend[..., i]) for i, c in enumerate(self.channels)},
                **{u: (("date", *self.dims), self.units[..., self.channels.index(c)])
                   for c, u in self.units_columns.items()},
                **{c: (("date", *self.dims), self.C[..., i]) for i, c in enumerate(self.controls)},
                **{c: (("date", *self.dims), self.Z[..., i]) for i, c in enumerate(self.organic)},
                self.target_column: (("date", *self.dims), self.y),
                **({self.value_column: (("date", *self.dims), self.value)} if self.value is not None else {}),
                **({self.population_column: (self.dims, self.population)} if self.population is not None else {}),
            },
            coords={"date": self.dates, **self.panel},
        )
        df = da.to_dataframe().reset_index().rename(columns={"date": self.date_column})
        size = [self.population_column] if self.population is not None else []
        value = [self.value_column] if self.value is not None else []
        return df[[self.date_column, *self.dims, *self.channels, *self.units_columns.values(), *self.organic,
                   *self.controls, *size, self.target_column, *value]]


LIMIT = 3  # values, rows or dates named per problem; the rest are counted


def _listing(items: list[str], total: int | None = None) -> str:
    """The first ``LIMIT`` items, then how many more (``total``: when ``items`` holds only the first ones)."""
    total = len(items) if total is None else total
    more = f" and {total - LIMIT} more" if total > LIMIT else ""
    return ", ".join(items[:LIMIT]) + more


def _show(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "<missing>"
    return repr(float(value)) if isinstance(value, (int, float, np.number)) else repr(str(value))


def _day(d) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def _cell(dims: list[str], values) -> str:
    """``geo 'a'`` or ``geo 'a', brand 'b'``."""
    return ", ".join(f"{d} {v!r}" for d, v in zip(dims, values))


class _Rows:
    """Names rows of the frame as a person finds them in the CSV: the date, the panel cell and the row number
    (the header is row 1, the first data row is row 2)."""

    def __init__(self, df: pd.DataFrame, dates: pd.Series, date_column: str, dims: list[str]):
        self.df, self.dates, self.date_column, self.dims = df, dates, date_column, dims

    def where(self, i: int) -> str:
        d = self.dates.iloc[i]
        when = _day(d) if not pd.isna(d) else _show(self.df[self.date_column].iloc[i])
        cell = f" in {_cell(self.dims, [self.df[c].iloc[i] for c in self.dims])}" if self.dims else ""
        return f"on {when}{cell} (row {i + 2})"

    @staticmethod
    def numbers(positions) -> str:
        positions = list(positions)
        rows = [str(i + 2) for i in positions[:LIMIT]]
        return ("row " if len(positions) == 1 else "rows ") + _listing(rows, len(positions))


_NUMERIC_DATE = re.compile(r"\s*\d{1,2}([/.\-])\d{1,2}\1(\d{4}|\d{2})\s*")
_THOUSANDS = re.compile(r"\s*[+-]?\d{1,3}(,\d{3})+(\.\d*)?\s*")


DAY_FIRST = "day-first (day/month/year)"


def numeric_date_order(raw: pd.Series) -> tuple[str, str] | None:
    """Dates written in numbers only (16/01/2024, 16.01.24): the one order that reads every one of them, as
    ``(words, strptime format)``; None for other layouts, or when either order reads them all."""
    values = raw.dropna().astype(str)
    matches = [m for v in values if (m := _NUMERIC_DATE.fullmatch(v)) is not None]
    if not len(values) or len(matches) < len(values) or len({(m[1], len(m[2])) for m in matches}) > 1:
        return None
    sep, year = matches[0][1], "%Y" if len(matches[0][2]) == 4 else "%y"
    orders = [(DAY_FIRST, f"%d{sep}%m{sep}{year}"), ("month-first (month/day/year)", f"%m{sep}%d{sep}{year}")]
    reads = [o for o in orders if pd.to_datetime(values, format=o[1], errors="coerce").notna().all()]
    return reads[0] if len(reads) == 1 else None


def _date_hint(raw: pd.Series, date_format: str | None) -> str:
    """What to do about dates that did not parse: the day-first (or month-first) format that reads every one of
    them, or where to give their format."""
    said = f": they do not match data.date_format {date_format!r}" if date_format else ""
    order = numeric_date_order(raw)
    if order is not None and order[1] != date_format:
        verb = "set" if date_format else "add"
        return f"{said}{'; ' if said else ': '}they look {order[0]}: {verb} data.date_format: \"{order[1]}\" to " \
               "the params file"
    if date_format:
        return said
    return ('; write the dates as 2024-01-31, or give their strptime format as data.date_format (e.g. '
            '"%d.%m.%Y") in the params file')


def _thousands_hint(raw: pd.Series, bad: np.ndarray) -> str:
    """A hint when the column's unreadable values are numbers with thousands separators (8,630.60)."""
    example = next((str(raw.iloc[i]).strip() for i in bad if isinstance(raw.iloc[i], str)
                    and _THOUSANDS.fullmatch(raw.iloc[i])), None)
    if example is None:
        return ""
    return (f": it is read as text with thousands separators (e.g. {example!r}): remove the thousands separators "
            f"(write {example.replace(',', '')}) or save the CSV with plain numbers")


def _coerced(df: pd.DataFrame, date_column: str, dims: list[str], numeric: list[str], channels: list[str],
             date_format: str | None = None, organic: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """A copy with parsed dates (``date_format``: their strptime format, else pandas infers it) and numeric
    columns, and every unparseable, missing or negative value (with its rows)."""
    problems = []
    df = df.reset_index(drop=True)
    with warnings.catch_warnings():  # pandas' advice on its guess (dayfirst=...) is not the user's to follow
        warnings.simplefilter("ignore", UserWarning)
        dates = pd.to_datetime(df[date_column], format=date_format, errors="coerce")
    rows = _Rows(df, dates, date_column, dims)
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        items = [f"{_show(df[date_column].iloc[i])} (row {i + 2})" for i in bad[:LIMIT]]
        problems.append(f"column {date_column!r}: unparseable dates {_listing(items, len(bad))}"
                        f"{_date_hint(df[date_column], date_format)}")
    for dim in dims:
        bad = np.flatnonzero(df[dim].isna().to_numpy())
        if len(bad):
            problems.append(f"column {dim!r}: missing values in {rows.numbers(bad)}")
    out = df.copy()
    out[date_column] = dates
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce").astype(float)
        bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
        if len(bad):
            items = [f"{_show(df[col].iloc[i])} {rows.where(i)}" for i in bad[:LIMIT]]
            problems.append(f"column {col!r}: non-numeric or missing values {_listing(items, len(bad))}"
                            f"{_thousands_hint(df[col], bad)}")
        out[col] = values
    for col in [*channels, *organic]:
        neg = np.flatnonzero((out[col] < 0).to_numpy())
        if len(neg):
            items = [f"{float(out[col].iloc[i])!r} {rows.where(i)}" for i in neg[:LIMIT]]
            what = "spend" if col in channels else "values"
            problems.append(f"column {col!r}: negative {what} {_listing(items, len(neg))}")
    return out, problems


@dataclass(frozen=True)
class Calendar:
    """The data's frequency: ``day``, ``week`` or ``month`` (month starts, month ends, or one day of the month)."""

    period: str  # day, week, month
    month_end: bool = False  # monthly dates on the last day of each month

    def index(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Each date's position in periods (consecutive periods differ by one)."""
        if self.period == "month":
            return np.asarray(dates.year * 12 + dates.month, int)
        days = np.asarray((dates - pd.Timestamp("1970-01-05")).days, int)  # from a Monday
        return days if self.period == "day" else days // 7

    def aligned(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Whether each date falls where this calendar's dates fall (same weekday, day of month or month end) as
        the first date."""
        if self.period == "day" or not len(dates):
            return np.ones(len(dates), bool)
        if self.period == "week":
            return np.asarray(dates.day_of_week == dates[0].day_of_week)
        if self.month_end:
            return np.asarray(dates.is_month_end)
        return np.asarray(dates.day == dates[0].day)

    def following(self, last: pd.Timestamp, n: int) -> pd.DatetimeIndex:
        """The ``n`` dates after ``last``."""
        if self.period == "month":
            step = pd.offsets.MonthEnd(1) if self.month_end else pd.DateOffset(months=1)
            return pd.DatetimeIndex([last + step * (k + 1) for k in range(n)])
        days = 1 if self.period == "day" else 7
        return pd.DatetimeIndex([last + pd.Timedelta(days=days * (k + 1)) for k in range(n)])

    @property
    def adjective(self) -> str:
        return {"day": "daily", "week": "weekly", "month": "monthly"}[self.period]

    def describe(self, dates: pd.DatetimeIndex) -> str:
        """Where the dates fall, in words: ``every Monday``, ``every day``, ``day 1 of each month``."""
        if self.period == "day":
            return "every day"
        if self.period == "week":
            return f"every {dates[0]:%A}"
        return "month ends" if self.month_end else f"day {dates[0].day} of each month"


def calendar_of(dates: pd.DatetimeIndex) -> Calendar | None:
    """The frequency most steps between sorted unique ``dates`` follow (1 day, 7 days, or one calendar month), or
    None when there are no two dates or no step is common."""
    if len(dates) < 2:
        return None
    days = np.diff(dates.values).astype("timedelta64[D]").astype(int)
    share = {p: float(np.mean(ok)) for p, ok in
             [("day", days == 1), ("week", days == 7), ("month", (days >= 28) & (days <= 31))]}
    period = max(share, key=share.__getitem__)
    if share[period] <= 0.5:
        return None
    return Calendar(period, month_end=period == "month" and bool(np.mean(dates.is_month_end) > 0.5))


def calendar_or_weekly(dates: pd.DatetimeIndex) -> Calendar:
    """:func:`calendar_of`, weekly when the dates say nothing (a single date)."""
    return calendar_of(dates) or Calendar("week")


def _calendar(df: pd.DataFrame, date_column: str, dims: list[str]) -> tuple[pd.DatetimeIndex, list[str]]:
    """The sorted unique dates, and every duplicate row, gap or irregular step, and missing panel row."""
    problems = []
    key = [date_column, *dims]
    ok = df[key].notna().all(axis=1)
    valid = df[ok]
    dup = valid[valid.duplicated(key, keep=False)]
    if len(dup):
        items = []
        for k, group in dup.groupby(key, sort=True):
            k = k if isinstance(k, tuple) else (k,)
            in_cell = f" in {_cell(dims, k[1:])}" if dims else ""
            items.append(f"{_day(k[0])}{in_cell} ({_Rows.numbers(group.index)})")
        problems.append(f"duplicate rows for the same {' and '.join(key)}: {_listing(items)}")
    udates = pd.DatetimeIndex(sorted(valid[date_column].unique()))
    cal = calendar_of(udates)
    if cal is None and len(udates) > 1:
        steps = np.diff(udates.values).astype("timedelta64[D]").astype(int)
        problems.append(f"column {date_column!r}: the dates are not daily, weekly or monthly (steps of "
                        f"{_listing([f'{d} days' for d in sorted(set(steps.tolist()))])}): one row per day, week or "
                        "month is needed")
    elif cal is not None:
        gaps = []
        index, aligned = cal.index(udates), cal.aligned(udates)
        unit = cal.period
        for i, (a, b) in enumerate(zip(udates[:-1], udates[1:])):
            n = int(index[i + 1] - index[i]) - 1
            if not (aligned[i] and aligned[i + 1]):
                gaps.append(f"irregular step of {(b - a).days} days from {_day(a)} to {_day(b)}")
            elif n > 0:
                gaps.append(f"missing {unit}s between {_day(a)} and {_day(b)} ({n} {unit}{'s' if n > 1 else ''})")
        if gaps:
            problems.append(f"column {date_column!r}: dates must be {cal.adjective} and gap-free: "
                            f"{_listing(gaps)}")
    if dims and not len(dup):
        present = valid.groupby(dims, sort=True)[date_column].agg(set)
        panel = [sorted(valid[d].unique().tolist()) for d in dims]
        items = []
        for cell in pd.MultiIndex.from_product(panel, names=dims) if len(dims) > 1 else panel[0]:
            cell = cell if isinstance(cell, tuple) else (cell,)
            have = present.get(cell if len(dims) > 1 else cell[0], set())
            missing = [d for d in udates if d not in have]
            if missing:
                days = [_day(d) for d in missing[:LIMIT]]
                items.append(f"{_cell(dims, cell)} has no rows for {_listing(days, len(missing))}")
        problems += items[:LIMIT]
        if len(items) > LIMIT:
            unit = cal.period if cal is not None else "date"
            problems.append(f"and {len(items) - LIMIT} more panel cells ({', '.join(dims)}) with missing {unit}s")
    return udates, problems


def _missing_columns(df: pd.DataFrame, roles: dict[str, list[str]]) -> list[str]:
    """Columns the params name that the frame lacks (with the field naming them and the closest column), and
    columns named twice."""
    import difflib

    problems = []
    have = [str(c) for c in df.columns]
    missing = []
    for field, cols in roles.items():
        for c in cols:
            if c not in df.columns:
                close = difflib.get_close_matches(c, have, n=1, cutoff=0.6)
                missing.append(f"{c!r} ({field}{f'; did you mean {close[0]!r}?' if close else ''})")
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}; the file has {have}")
    named: dict[str, list[str]] = {}
    for field, cols in roles.items():
        for c in cols:
            named.setdefault(c, []).append(field)
    for c, fields in named.items():
        if len(fields) > 1:
            problems.append(f"column {c!r} is named more than once: in {', '.join(dict.fromkeys(fields))}")
    return problems


def from_frame(
    df: pd.DataFrame,
    channels: list[str],
    controls: list[str] | None = None,
    dims: list[str] | None = None,
    date_column: str = "date",
    target_column: str = "y",
    source: str = "data",
    date_format: str | None = None,
    organic: list[str] | None = None,
    population_column: str | None = None,
    units: dict[str, str] | None = None,
    unit_cost: np.ndarray | None = None,
    value_column: str | None = None,
) -> MMMData:
    """Validate a long frame and return ``MMMData``; every problem is reported at once (``DataError``), each
    with its column, values, dates and row numbers (the header is row 1). ``date_format``: the dates' strptime
    format (``data.date_format``); by default pandas infers it. ``organic``: media columns without spend.
    ``units``: channel -> the column of the units it bought (``data.units_columns``); their cost per unit is the
    channel's spend over its units in each cell unless ``unit_cost`` (``(*panel, channel)``) fixes it."""
    controls, dims, organic, units = list(controls or []), list(dims or []), list(organic or []), dict(units or {})
    roles = {"data.date_column": [date_column], "data.dims": dims, "data.channel_columns": list(channels),
             "data.units_columns": list(units.values()), "data.organic_columns": organic,
             "data.control_columns": controls, "data.target_column": [target_column],
             "data.population_column": [population_column] if population_column else [],
             "data.kpi_value_column": [value_column] if value_column else []}
    problems = _layout_problems(df, roles, units, list(channels))
    if problems:
        raise DataError(source, problems)
    size = [population_column] if population_column else []
    value = [value_column] if value_column else []
    df, problems = _coerced(df, date_column, dims, [*channels, *units.values(), *organic, *controls, *size, *value,
                                                    target_column], channels, date_format, [*organic, *units.values()])
    if value_column and not problems:
        problems += _value_problems(df, value_column)
    if population_column and not problems:
        problems += _population_problems(df, population_column, dims)
    if not problems:
        problems += _units_problems(df, units, _Rows(df, df[date_column], date_column, dims))
    if df[date_column].notna().all():  # else the calendar of the dates read would be wrong: fix them first
        udates, calendar = _calendar(df, date_column, dims)
        problems += calendar
    if problems:
        raise DataError(source, problems)
    key = [date_column, *dims]
    panel = {d: sorted(df[d].unique().tolist()) for d in dims}
    ds = df.set_index(key).to_xarray().rename({date_column: "date"}).reindex(date=udates, **panel)
    population = _column(ds, population_column, dims)[0] if population_column else None
    bought = {ch: _column(ds, col, dims) for ch, col in units.items()}
    X, S, cost = _valued_units(_stacked(ds, list(channels), dims), bought, list(channels), unit_cost)
    return MMMData(dates=udates, panel=panel, channels=list(channels), controls=controls, X=X,
                   C=_stacked(ds, controls, dims), y=_column(ds, target_column, dims),
                   date_column=date_column, target_column=target_column, organic=organic,
                   Z=_stacked(ds, organic, dims),
                   population=population, population_column=population_column, units_columns=units, S=S,
                   unit_cost=cost, value=_column(ds, value_column, dims) if value_column else None,
                   value_column=value_column)


def _layout_problems(df: pd.DataFrame, roles: dict[str, list[str]], units: dict[str, str],
                     channels: list[str]) -> list[str]:
    """What is wrong before any value is read: missing columns, units of no channel, no rows."""
    problems = _missing_columns(df, roles)
    problems += [f"data.units_columns: {ch!r} is not one of data.channel_columns {channels}"
                 for ch in units if ch not in channels]
    if not len(df):  # a header and nothing under it: nothing below can be checked (or computed)
        header = ", ".join(str(c) for c in df.columns)
        problems.append(f"no data rows (only the header: {header}): add one row per date below the header")
    return problems


def _column(ds: xr.Dataset, col: str, dims: list[str]) -> np.ndarray:
    """Column ``col`` of ``ds`` as a float array ``(date, *dims)``."""
    return ds[col].transpose("date", *dims).values.astype(float)


def _stacked(ds: xr.Dataset, cols: list[str], dims: list[str]) -> np.ndarray:
    """``cols`` of ``ds`` as one float array ``(date, *dims, column)`` (a last axis of length 0 without columns)."""
    if not cols:
        return np.zeros((ds.sizes["date"], *[ds.sizes[d] for d in dims], 0))
    return np.stack([_column(ds, c, dims) for c in cols], axis=-1)


def _value_problems(df: pd.DataFrame, value_column: str) -> list[str]:
    """Rows whose value of one unit of the KPI (``data.kpi_value_column``) is not positive."""
    bad = np.flatnonzero((df[value_column] <= 0).to_numpy())
    if not len(bad):
        return []
    return [f"column {value_column!r} (data.kpi_value_column): the value of one unit of the KPI must be positive "
            f"({_Rows.numbers(bad)})"]


def _valued_units(spend: np.ndarray, units: dict[str, np.ndarray], channels: list[str],
                  unit_cost: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The media the model sees, the spend and the cost per unit: with ``units`` (channel -> its units,
    ``(date, *panel)``), a channel's media are its units valued at its cost per unit in each cell (``unit_cost``, else
    its average price: spend over units, 1 where it bought nothing); without, the spend itself (and None, None)."""
    if not units:
        return spend, None, None
    X = spend.copy()
    cost = np.ones(X.shape[1:]) if unit_cost is None else np.array(unit_cost, dtype=float)
    for ch, u in units.items():
        k = channels.index(ch)
        if unit_cost is None:
            total = u.sum(axis=0)
            cost[..., k] = np.where(total > 0, spend[..., k].sum(axis=0) / np.where(total > 0, total, 1.0), 1.0)
        X[..., k] = u * cost[..., k]
    return X, spend, cost


def _units_problems(df: pd.DataFrame, units: dict[str, str], rows: _Rows) -> list[str]:
    """A channel's units and spend are zero in the same rows: units bought for nothing, or spend that bought none,
    is a data error (a units column of another channel, a missing spend line)."""
    problems = []
    for ch, col in units.items():
        for bad, what in [((df[col] > 0) & (df[ch] == 0), f"units but no spend in {ch!r}"),
                          ((df[col] == 0) & (df[ch] > 0), f"spend in {ch!r} but no units")]:
            where = np.flatnonzero(bad.to_numpy())
            if len(where):
                items = [rows.where(i) for i in where[:LIMIT]]
                problems.append(f"column {col!r} (the units of {ch!r}, data.units_columns): {what} "
                                f"{_listing(items, len(where))}; units and spend must be zero in the same rows")
    return problems


def data_roles(data: MMMData) -> dict:
    """The column roles of ``data`` (what :func:`from_roles` needs to read its CSV back)."""
    return {"date_column": data.date_column, "target_column": data.target_column, "channel_columns": data.channels,
            "control_columns": data.controls, "organic_columns": data.organic, "dims": data.dims,
            "population_column": data.population_column, "units_columns": data.units_columns,
            "kpi_value_column": data.value_column}


def from_roles(df: pd.DataFrame, roles: dict, source: str = "data") -> MMMData:
    """``MMMData`` from a frame written by ``MMMData.to_frame`` and its :func:`data_roles`."""
    return from_frame(df, channels=roles["channel_columns"], controls=roles["control_columns"], dims=roles["dims"],
                      date_column=roles["date_column"], target_column=roles["target_column"], source=source,
                      organic=roles.get("organic_columns", []), population_column=roles.get("population_column"),
                      units=roles.get("units_columns", {}), value_column=roles.get("kpi_value_column"))


def _population_problems(df: pd.DataFrame, column: str, dims: list[str]) -> list[str]:
    """The population column: positive, and one value per market (constant over its dates)."""
    problems = []
    bad = np.flatnonzero((df[column] <= 0).to_numpy())
    if len(bad):
        problems.append(f"column {column!r}: population must be positive ({_Rows.numbers(bad)})")
    groups = df.groupby(dims)[column].nunique() if dims else pd.Series([df[column].nunique()], index=["all"])
    varying = [str(k) for k, v in groups.items() if v > 1]
    if varying:
        where = f"in {', '.join(dims)} {_listing(varying)}" if dims else "over the dates"
        problems.append(f"column {column!r}: one population per market is needed; it changes {where}")
    return problems


def read_table(path: str | Path, field: str) -> pd.DataFrame:
    """The CSV a params ``field`` names, or a :class:`DataError` naming the field and the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{field}: file not found: {path}")
    try:
        return pd.read_csv(path)
    except Exception as err:  # pandas raises many kinds
        raise DataError(f"{field}: {path}: cannot read CSV: {err}") from None


def load_csv(path: str | Path, spec) -> MMMData:
    """Read and validate the CSV named by ``data.path`` (``spec`` is the params' DataSpec)."""
    path = Path(path)
    df = read_table(path, "data.path")
    data = from_frame(
        df,
        channels=spec.channel_columns,
        controls=spec.control_columns,
        organic=getattr(spec, "organic_columns", []),
        population_column=getattr(spec, "population_column", None),
        units=getattr(spec, "units_columns", {}),
        value_column=getattr(spec, "kpi_value_column", None),
        dims=spec.dims,
        date_column=spec.date_column,
        target_column=spec.target_column,
        source=str(path),
        date_format=spec.date_format,
    )
    until = getattr(spec, "until", None)
    if until is None:
        return data
    kept = int((data.dates <= pd.Timestamp(until)).sum())
    if kept < 2:
        raise DataError(f"data.until: {until} keeps {kept} of the {data.n_dates} periods of {path} (they run from "
                        f"{data.dates[0]:%Y-%m-%d} to {data.dates[-1]:%Y-%m-%d})")
    return data.slice(0, kept)


def read_plan(path, data: MMMData, date_format: str | None = None,
              field: str = "out_of_sample.forecast_plan") -> MMMData:
    """The future periods of a plan CSV: the data's date column, panel columns, channel and control columns, one row
    per period (and panel cell) starting the period after the data's last, at the data's frequency. A target column
    is ignored (it is what the forecast predicts). A channel bought in units may give its planned units (its units
    column); without them its spend buys units at the data's average cost per unit. Errors name the field, the
    file, the column and the rows."""
    source = f"{field}: {path}"
    df = read_table(path, field)
    df = df.drop(columns=[data.target_column], errors="ignore").assign(**{data.target_column: 0.0})
    units = {ch: col for ch, col in data.units_columns.items() if col in df.columns}  # else bought at the data's price
    plan = from_frame(df, channels=data.channels, controls=data.controls, dims=data.dims,
                      date_column=data.date_column, target_column=data.target_column, source=source,
                      date_format=date_format, organic=data.organic, units=units, unit_cost=data.unit_cost)
    problems = []
    for dim, coords in data.panel.items():
        missing = [c for c in coords if c not in plan.panel[dim]]
        unknown = [c for c in plan.panel[dim] if c not in coords]
        if missing or unknown:
            problems.append(f"column {dim!r}: " + "; ".join(
                [f"no rows for {missing}"] * bool(missing) + [f"values the data do not have: {unknown}"] * bool(unknown))
                + f" (the data's: {coords})")
    first = data.calendar.following(data.dates[-1], 1)[0]
    if plan.dates[0] != first:
        problems.append(f"column {data.date_column!r}: the plan starts {plan.dates[0]:%Y-%m-%d}; it must start the "
                        f"period after the data's last ({data.dates[-1]:%Y-%m-%d}): {first:%Y-%m-%d}")
    cal = calendar_of(plan.dates)
    if cal is not None and cal != data.calendar:
        problems.append(f"column {data.date_column!r}: the plan is {cal.adjective}, the data {data.calendar.adjective}")
    if problems:
        raise DataError(source, problems)
    return replace(plan, y=np.full_like(plan.y, np.nan))


def plan_data(data: MMMData, plan: MMMData) -> MMMData:
    """``data`` followed by the plan's periods (target unknown: NaN): the history's carryover runs into the plan."""
    return replace(data, dates=data.dates.append(plan.dates), X=np.concatenate([data.X, plan.X]),
                   C=np.concatenate([data.C, plan.C]), y=np.concatenate([data.y, np.full_like(plan.y, np.nan)]),
                   Z=np.concatenate([data.Z, plan.Z]),
                   S=None if data.S is None else np.concatenate([data.S, plan.spend]),
                   value=None if data.value is None else np.concatenate(  # the KPI's value held at its last level
                       [data.value, np.repeat(data.value[-1:], plan.n_dates, axis=0)]))


def plan_warnings(plan: MMMData, data: MMMData) -> list[str]:
    """The plan's cells that spend above the most the data ever spent there: the forecast extrapolates their
    response curve."""
    most, top = data.X.max(axis=0), plan.X.max(axis=0)
    out = []
    for cell in zip(*np.nonzero(top > most)):
        *where, k = cell
        at = "".join(f" in {d} {data.panel[d][i]}" for d, i in zip(data.panel, where))
        out.append(f"the plan spends up to {top[cell]:,.0f} per {data.period} on {data.channels[k]}{at}, above the "
                   f"most the data spent there ({most[cell]:,.0f}): its forecast extrapolates the response curve")
    return out


def max_scales(data: MMMData) -> tuple[np.ndarray, np.ndarray]:
    """Max scaling per panel coordinate: channel scale ``(*panel, channel)`` in the media's own units (units
    where a channel has them, else spend), target ``(*panel)``.

    A channel that never spends gets scale 1 (not 0) so that scaling never divides by zero.
    """
    channel = data.units.max(axis=0)
    channel = np.where(channel > 0, channel, 1.0)
    target = np.abs(data.y).max(axis=0)
    target = np.where(target > 0, target, 1.0)
    return channel, target


def fourier_modes(order: int) -> list[str]:
    """Names of the yearly Fourier modes: ``sin_1..sin_k, cos_1..cos_k``."""
    return [f"sin_{k}" for k in range(1, order + 1)] + [f"cos_{k}" for k in range(1, order + 1)]


def fourier_features(dates: pd.DatetimeIndex, order: int) -> np.ndarray:
    """Yearly Fourier terms ``(date, 2*order)``: ``sin/cos(2πk·dayofyear/365.25)`` (as pymc-marketing)."""
    t = dates.day_of_year.values / 365.25
    k = np.arange(1, order + 1)
    ang = 2 * np.pi * t[:, None] * k[None, :]
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def holiday_days(dates: pd.DatetimeIndex, country: str, subdiv: str | None = None) -> np.ndarray:
    """The number of national holidays (``holidays`` package) in each period: the days from each date up to the
    next (the data's own step after the last date); 0 or 1 on daily data."""
    import holidays

    ends = dates[1:].append(calendar_or_weekly(dates).following(dates[-1], 1))
    years = range(dates[0].year, ends[-1].year + 1)
    days = pd.DatetimeIndex(sorted(holidays.country_holidays(country, subdiv=subdiv, years=years)))
    return (days.searchsorted(ends, side="left") - days.searchsorted(dates, side="left")).astype(float)


MULTIPLIERS = ("media_temporal_latent_multiplier", "intercept_latent_multiplier")


def truth_from_csv(path: str | Path, spec, data: MMMData, links: dict[str, str] | None = None) -> xr.Dataset:
    """The truth a published case keeps in its CSV (``data.truth_columns``) and in the params
    (``data.truth_values``). A latent multiplier is normalized as the model's is (its level sits in the betas):
    divided by its geometric mean over the data, or by its mean where ``links`` gives it the softplus link."""
    df = pd.read_csv(path)
    df[spec.date_column] = pd.to_datetime(df[spec.date_column], format=spec.date_format)
    if getattr(spec, "until", None) is not None:
        df = df[df[spec.date_column] <= pd.Timestamp(spec.until)]
    df = df.set_index([spec.date_column, *spec.dims])
    out = {}
    for name, col in spec.truth_columns.items():
        cols = {None: col} if isinstance(col, str) else col
        missing = [c for c in cols.values() if c not in df.columns]
        if missing:
            raise DataError(f"data.truth_columns.{name}: column(s) {missing} not in {path}")
        parts = [df[c].to_xarray().rename({spec.date_column: "date"}) for c in cols.values()]
        da = parts[0] if isinstance(col, str) else xr.concat(parts, pd.Index(list(cols), name="channel", dtype=object))
        da = da.assign_coords(date=da["date"].values.astype("datetime64[ns]"))
        if name in MULTIPLIERS:
            softplus = (links or {}).get(name) == "softplus"
            da = da / (da.mean("date") if softplus else np.exp(np.log(da).mean("date")))
        out[name] = da.drop_vars([c for c in da.coords if c not in da.dims])
    for name, value in spec.truth_values.items():
        v = np.asarray(value, dtype=float)
        if v.ndim and len(v) != len(data.channels):
            raise DataError(f"data.truth_values.{name}: {len(v)} values, one per channel needs {len(data.channels)}")
        out[name] = xr.DataArray(v, dims=["channel"] * v.ndim, coords={"channel": data.channels} if v.ndim else {})
    return xr.Dataset(out)
