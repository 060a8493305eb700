"""Numbers, units and the period word, as every page says them: thousands separators or three significant digits,
percentages, the case's currency and target units, and "day", "week" or "month" (from ``report.period`` or the data).
A leaf: it imports no other module of the package."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["UNITS", "set_units", "period_from", "plain_number", "as_percent", "fmt_number", "first_upper"]

UNITS = {"currency": "currency units", "per_currency": "currency unit", "target": "target units", "period": "week"}
"""Axis units: set from the params' ``report.currency`` and ``report.target_label`` by :func:`style`, the period
from ``report.period`` or else the data's dates (:func:`period_from`)."""
_PERIOD_GIVEN = [False]  # report.period named it: the data do not override it


def set_units(currency: str = "", target_label: str = "", period: str | None = None) -> None:
    """The case's units for every page: currency, target label, period word (None: the data's, see
    :func:`period_from`)."""
    UNITS.update(currency=currency or "currency units", per_currency=currency or "currency unit",
                 target=target_label if target_label and target_label != "units of the target" else "target units",
                 period=period or "week")
    _PERIOD_GIVEN[0] = period is not None


def period_from(data) -> str:
    """The period word of every page: ``report.period`` when the params give it, else the data's (day, week,
    month); set for the axes and returned."""
    if not _PERIOD_GIVEN[0]:
        UNITS["period"] = data.period
    return UNITS["period"]


def plain_number(v: float | np.floating) -> str:
    """A number for people: thousands separators from 1,000 on, else three significant digits, never 1e+05; float
    dust below 1e-9 (a zero spend's response: -1e-13) and -0 read 0."""
    v = float(v)
    if not np.isfinite(v):
        return "–"
    if abs(v) < 1e-9:
        return "0"
    if abs(v) >= 999.5:
        return f"{v:,.0f}"
    return np.format_float_positional(v, precision=3, fractional=False, trim="-")


def as_percent(v: float, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals; never "-0.0%" for a share that rounds to zero."""
    if pd.isna(v):
        return "–"
    text = f"{float(v):.{digits}%}"
    return text[1:] if text.startswith("-") and not text.strip("-0.%") else text


def fmt_number(v) -> str:
    if isinstance(v, pd.Timestamp):
        return f"{v:%d %b %Y}".replace(" ", "\u00a0")  # a date on one line
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        return plain_number(v)
    return str(v)


def first_upper(text: str) -> str:
    """``text`` with its first letter raised and the rest as written (``str.capitalize`` lowers "TV" to "Tv")."""
    return text[:1].upper() + text[1:]
