"""``mmm-report new``: a params file for a CSV no project was set up for, with every guess marked.

The columns are read, not assumed: the date column (by name, else by parsing), the market columns (text columns
with a few repeated values), the frequency (the dates' median step), the target (by name, else the largest numeric
column), the channels (spend-like names; a units column named like a channel's spend, ``tv_impressions`` beside
``tv_spend``, becomes that channel's units), organic media (newsletter, organic, sends), a population column (one value
per market: per-head scaling) and the controls (the rest; time indexes are left out, the model has its own trend and
seasonality). Priors fit the number of markets. No description is invented.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmmhelpers.data import DataError, read_table

__all__ = ["Detected", "detect_columns", "params_text", "write_new_case"]

DATE_NAMES = ("date", "week", "ds", "day", "period", "time", "month", "date_week", "week_start")
TARGET_WORDS = ("revenue", "sales", "kpi", "target", "conversions", "orders", "signups", "sign_ups", "units", "y")
SPEND_WORDS = ("spend", "cost", "media", "tv", "radio", "search", "social", "display", "video", "ooh", "print",
               "email", "affiliate", "impressions", "grp", "facebook", "meta", "google", "tiktok", "youtube",
               "podcast", "programmatic", "sem", "seo", "influencer", "cinema")
UNIT_WORDS = ("impressions", "imps", "impr", "grp", "grps", "trp", "trps", "clicks", "views", "exposure", "insertions")
ORGANIC_WORDS = ("newsletter", "newsletters", "organic", "sends", "posts")
POPULATION_WORDS = ("population", "households", "pop", "people", "inhabitants")
MONEY_WORDS = ("spend", "cost", "costs", "eur", "usd", "gbp", "budget")
TIME_INDEX = ("t", "dayofyear", "day_of_year", "year", "month", "week_of_year", "weekofyear", "index", "trend")


@dataclass
class Detected:
    """What :func:`detect_columns` read from a CSV, and which of it is a guess (field -> why)."""

    date_column: str
    dims: list[str]
    target: str
    channels: list[str]
    controls: list[str]
    period: str  # day, week, month
    n_dates: int
    markets: int
    budget: float  # mean spend per period, every market and channel together
    units: dict[str, str] = field(default_factory=dict)  # channel -> the column of the units it bought
    organic: list[str] = field(default_factory=list)
    population: str | None = None
    ignored: list[str] = field(default_factory=list)
    guesses: dict[str, str] = field(default_factory=dict)


def _words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower())) - {""}


def _date_column(df: pd.DataFrame) -> str:
    named = [c for c in df.columns if str(c).lower() in DATE_NAMES or "date" in str(c).lower()]
    for c in named + [c for c in df.columns if c not in named and not pd.api.types.is_numeric_dtype(df[c])]:
        parsed = pd.to_datetime(df[c], errors="coerce", format="mixed")
        if parsed.notna().mean() >= 0.95:
            return str(c)
    raise DataError(f"no column of dates found (looked for {', '.join(DATE_NAMES)} and any column of dates)")


def _period(dates: pd.Series) -> tuple[str, int]:
    unique = pd.DatetimeIndex(sorted(dates.dropna().unique()))
    days = float(np.median(np.diff(unique.values).astype("timedelta64[D]").astype(float))) if len(unique) > 1 else 7
    return ("day" if days <= 1.5 else "week" if 6 <= days <= 8 else "month" if 27 <= days <= 32 else "period"), \
        len(unique)


def detect_columns(df: pd.DataFrame) -> Detected:
    """Read the roles of a CSV's columns (see the module docstring); ``guesses`` names what a person should check."""
    guesses: dict[str, str] = {}
    date = _date_column(df)
    dates = pd.to_datetime(df[date], errors="coerce", format="mixed")
    period, n_dates = _period(dates)
    rest = [str(c) for c in df.columns if c != date]
    ignored = [c for c in rest if c.startswith("Unnamed:") or c.lower() in TIME_INDEX
               or _words(c) & {"contribution", "truth"}]  # a simulated truth kept beside the data is no input
    rest = [c for c in rest if c not in ignored]
    text = [c for c in rest if not pd.api.types.is_numeric_dtype(df[c])]
    dims = [c for c in text if 2 <= df[c].nunique() <= max(2, len(df) // 2)]
    numeric = [c for c in rest if pd.api.types.is_numeric_dtype(df[c])]
    varying = [c for c in numeric if df[c].nunique() > 1]  # a constant column explains nothing
    exact = [c for c in varying if str(c).lower() in TARGET_WORDS]
    named = exact or [c for c in varying if _words(c) & set(TARGET_WORDS[:-1])]
    if named:
        target = named[0]
        if len(named) > 1:
            guesses["target_column"] = f"several columns look like a target ({', '.join(named)}): took the first"
    else:
        target = max(varying or numeric, key=lambda c: float(df[c].abs().mean()))
        guesses["target_column"] = "no column is named like a target: took the numeric column with the largest values"
    candidates = [c for c in numeric if c != target]
    population = _population(df, candidates, dims)
    if population:
        guesses["population_column"] = f"{population}: one value per market, taken as its size (per-head scaling)"
    organic = [c for c in candidates if _words(c) & set(ORGANIC_WORDS) and (df[c].dropna() >= 0).all()]
    if organic:
        guesses["organic_columns"] = f"{', '.join(organic)}: named like media without spend, taken as organic"
    candidates = [c for c in candidates if c != population and c not in organic]
    binary = [c for c in candidates if set(pd.unique(df[c].dropna())) <= {0, 1}]
    spendy = [c for c in candidates if c not in binary and (_words(c) & set(SPEND_WORDS) or re.fullmatch(r"x\d+", c))
              and (df[c].dropna() >= 0).all()]
    if spendy:
        channels = spendy
        controls = [c for c in candidates if c not in channels]
        unsure = [c for c in controls if c not in binary]
        if unsure:
            guesses["control_columns"] = f"{', '.join(unsure)}: not named like spend, taken as controls"
    else:
        channels = [c for c in candidates if c not in binary and (df[c].dropna() >= 0).all()]
        controls = [c for c in candidates if c not in channels]
        guesses["channel_columns"] = "no column is named like spend: every non-negative numeric column but the target"
    units = _units_pairs(channels)
    if units:
        channels = [c for c in channels if c not in units.values()]
        guesses["units_columns"] = ", ".join(f"{u} named like {c}'s units" for c, u in units.items())
    if not channels:
        raise DataError("no spend columns found: name them (e.g. tv_spend) or write the params by hand")
    markets = int(df[dims].drop_duplicates().shape[0]) if dims else 1
    if dims:
        guesses["dims"] = f"{', '.join(dims)}: text columns with repeated values, taken as markets"
    per_date = df.groupby(dates)[channels].sum().sum(axis=1)
    return Detected(date, dims, target, channels, controls, period, n_dates, markets, float(per_date.mean()),
                    units, organic, population, ignored, guesses)


def _stem(name: str) -> frozenset[str]:
    return frozenset(_words(name) - set(UNIT_WORDS) - set(MONEY_WORDS))


def _units_pairs(columns: list[str]) -> dict[str, str]:
    """Spend column -> its units column: ``tv_impressions`` (units words) beside ``tv_spend`` or ``tv`` (same stem)."""
    units = [c for c in columns if _words(c) & set(UNIT_WORDS)]
    spend = [c for c in columns if c not in units]
    pairs = {}
    for u in units:
        match = [c for c in spend if _stem(c) == _stem(u) and _stem(u) and c not in pairs]
        if len(match) == 1:
            pairs[match[0]] = u
    return pairs


def _population(df: pd.DataFrame, columns: list[str], dims: list[str]) -> str | None:
    """A column named like a population that is positive and constant within each market (several markets only)."""
    if not dims:
        return None
    for c in columns:
        if _words(c) & set(POPULATION_WORDS) and (df[c] > 0).all() and (df.groupby(dims)[c].nunique() == 1).all():
            return c
    return None


def _round(x: float) -> float:
    return float(f"{x:.3g}") if x > 0 else 1.0


def _priors(d: Detected) -> str:
    """The model section: priors that fit one market or several (partial pooling over markets)."""
    season = 2 if (d.period == "week" and d.n_dates >= 52) or (d.period == "day" and d.n_dates >= 365) or \
        (d.period == "month" and d.n_dates >= 24) else 0
    season_note = "" if season else "  # under a year of data: no yearly cycle can be told apart"
    if d.period == "day":  # daily data move with the day of the week; holidays need the country (add it)
        season_note += "\n  weekday_seasonality: true  # one effect per day of the week (they sum to zero)" + \
            "\n  # holidays: {country: US}  # national holidays (python-holidays country code): say which country"
    l_max = {"day": 28, "week": 8, "month": 3}.get(d.period, 8)
    if d.dims:
        m = d.dims[0]
        per_head = ("\n  scaling: {target: per_capita, channel: per_capita}  # markets share one scale per head"
                    if d.population else "")
        return f"""model:
  adstock:
    type: geometric
    l_max: {l_max}
    priors:
      alpha: {{distribution: Beta, alpha: 2, beta: 5, dims: [{m}, channel]}}
  saturation:
    type: logistic
    priors:
      lam: {{distribution: Gamma, mu: 1.0, sigma: 0.5, dims: [channel]}}
      beta:   # each market's channel effect, partially pooled across markets (log-normal hierarchy)
        distribution: LogNormal
        mean: {{distribution: Gamma, mu: 0.2, sigma: 0.1, dims: [channel]}}
        std: {{distribution: Exponential, scale: 0.1, dims: [channel]}}
        dims: [{m}, channel]
        centered: false
  yearly_seasonality: {season}{season_note}{per_head}
  priors:
    intercept: {{distribution: Gamma, mu: 0.6, sigma: 0.2, dims: [{m}]}}
    gamma_control: {{distribution: Normal, mu: 0, sigma: 0.3, dims: [control]}}
    gamma_fourier: {{distribution: Laplace, mu: 0, b: 0.1, dims: [{m}, fourier_mode]}}
  likelihood: {{distribution: Normal, sigma: {{distribution: HalfNormal, sigma: 0.2}}}}
"""
    return f"""model:
  adstock:
    type: geometric
    l_max: {l_max}
    priors:
      alpha: {{distribution: Beta, alpha: 2, beta: 3, dims: [channel]}}
  saturation:
    type: logistic
    priors:
      lam: {{distribution: Gamma, mu: 2.5, sigma: 1.5, dims: [channel]}}
      beta: {{distribution: HalfNormal, sigma: 1, dims: [channel]}}
  yearly_seasonality: {season}{season_note}
  priors:
    intercept: {{distribution: Normal, mu: 0.5, sigma: 0.3}}
    gamma_control: {{distribution: Normal, mu: 0, sigma: 0.5, dims: [control]}}
    gamma_fourier: {{distribution: Laplace, mu: 0, b: 0.2, dims: [fourier_mode]}}
  likelihood: {{distribution: Normal, sigma: {{distribution: HalfNormal, sigma: 0.5}}}}
"""


def _q(name: str) -> str:
    """A column name as YAML reads it back: bare when plain, JSON-quoted otherwise (spaces, colons, numbers)."""
    import json

    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.lower() not in ("yes", "no", "on", "off",
                                                                                          "true", "false", "null") \
        else json.dumps(name)


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _extra_roles(d: Detected, note: dict[str, str]) -> str:
    """The data section's lines for units, organic media and population, when the CSV has them."""
    out = ""
    if d.units:
        pairs = ", ".join(f"{_q(c)}: {_q(u)}" for c, u in d.units.items())
        out += f"\n  units_columns: {{{pairs}}}{note.get('units_columns', '')}"
    if d.organic:
        out += f"\n  organic_columns: {_list(d.organic)}{note.get('organic_columns', '')}"
    if d.population:
        out += f"\n  population_column: {_q(d.population)}{note.get('population_column', '')}"
    return out


def params_text(name: str, data_path: str, d: Detected) -> str:
    """The params file's text, every guess marked with a ``# guessed:`` comment."""
    note = {k: f"  # guessed: {v}" for k, v in d.guesses.items()}
    horizon = {"day": (28, 91), "week": (8, 13), "month": (3, 3)}.get(d.period, (8, 13))
    holdout = max(1, min(horizon[0], d.n_dates // 6))
    ignored = f"\n  # left out: {', '.join(d.ignored)} (an index, calendar or truth column)" if d.ignored else ""
    markets = f"{d.markets} markets" if d.dims else "one market"
    return f"""# Written by `mmm-report new {name}` from {data_path}: {d.n_dates} {d.period}s, {markets}.
# Check every line marked "guessed", then run: mmm-report validate <this file>
case: {name}
title: {name}  # say what the report is about
seed: 1
data:
  path: {data_path}
  date_column: {_q(d.date_column)}
  target_column: {_q(d.target)}{note.get("target_column", "")}
  channel_columns: {_list(d.channels)}{note.get("channel_columns", "")}{_extra_roles(d, note)}
  control_columns: {_list(d.controls)}{note.get("control_columns", "")}
  dims: {_list(d.dims)}{note.get("dims", "")}{ignored}
{_priors(d)}fit: {{sampler: nutpie, chains: 4, tune: 1000, draws: 1000, target_accept: 0.95}}
out_of_sample: {{holdout_weeks: {holdout}, rolling_origins: 0}}  # held-out {d.period}s at the end
optimization:
  budget: {_round(d.budget):g}  # per {d.period}, all markets and channels: the data's average
  num_periods: {horizon[1]}
report: {{client: false, currency: "", target_label: {_q(d.target)}}}  # currency: e.g. EUR
"""


def write_new_case(name: str, data: str | Path, folder: str | Path = "params") -> tuple[Path, Detected]:
    """Write ``<folder>/<name>.yaml`` for the CSV ``data`` (never over an existing file)."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"case name {name!r}: letters, digits, '_', '-' and '.' only (it names the report folder)")
    folder, data = Path(folder), Path(data)
    out = folder / f"{name}.yaml"
    if out.exists():
        raise FileExistsError(f"{out} exists: choose another name or remove it")
    detected = detect_columns(read_table(data, "--data"))
    rel = Path(os.path.relpath(data.resolve(), folder.resolve()))
    folder.mkdir(parents=True, exist_ok=True)
    out.write_text(params_text(name, rel.as_posix(), detected))
    return out, detected
