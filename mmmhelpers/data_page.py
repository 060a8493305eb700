"""The data page's words and tables: the case's data in one paragraph, and the spend per channel."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmmhelpers.config import Params

__all__ = ["data_intro", "data_summary"]


def data_summary(data, period: str = "week") -> pd.DataFrame:
    """Per channel: total spend, mean spend per period, share of periods with spend (``period``: the page's word);
    for channels bought in units, the units column, total units and the average cost per unit."""
    X = data.spend.reshape(data.n_dates, -1, len(data.channels))
    frame = pd.DataFrame({
        "channel": data.channels,
        "total spend": X.sum(axis=(0, 1)),
        f"mean spend per {period}": X.mean(axis=(0, 1)),
        f"{period}s with spend": (X > 0).mean(axis=(0, 1)),
    })
    if data.units_columns:
        units = data.units.reshape(data.n_dates, -1, len(data.channels)).sum(axis=(0, 1))
        bought = [ch in data.units_columns for ch in data.channels]
        frame["units"] = [data.units_columns.get(ch, "") for ch in data.channels]
        frame["total units"] = np.where(bought, units, np.nan)
        frame["cost per unit"] = np.where(bought, frame["total spend"] / np.where(units > 0, units, np.nan), np.nan)
    return frame


def data_intro(params: Params, data) -> str:
    """The data page's opening: the case, where the data come from, their size and columns, and its targets."""
    source = (f"simulated by the `{params.simulate.generator}` generator (seed {params.seed})"
              if params.data.path is None and params.simulate is not None else f"loaded from `{params.data.path}`")
    panel = ", ".join(f"{len(v)} {d}{'s' if len(v) != 1 else ''} ({', '.join(map(str, v))})"
                      for d, v in data.panel.items()) or "a single market"
    bought = [f"{ch} in {col}" for ch, col in data.units_columns.items()]
    targets = "; ".join(f"{t.title} ({', '.join(f'{d} = {c}' for d, c in t.where.items()) or t.column})"
                        for t in params.targets)
    return (f"**{params.title}.** {params.description} The data were {source}: {data.n_dates} {data.period}s "
            f"({data.dates[0]:%Y-%m-%d} to {data.dates[-1]:%Y-%m-%d}), {panel}, channels {', '.join(data.channels)}"
            + (f" (bought in units: {', '.join(bought)}; the units drive the effect, the spend gives ROAS and budgets)"
               if bought else "")
            + (f", organic media {', '.join(data.organic)}" if data.organic else "")
            + f", controls {', '.join(data.controls) or 'none'}."
            + (f" **{len(params.targets)} targets, one model each:** {targets}. The fit, recovery and out-of-sample "
               f"pages follow the first; the fit page checks every target's fit and the budget page plans for all "
               f"of them." if params.targets else ""))
