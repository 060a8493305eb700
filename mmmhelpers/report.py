"""Small helpers the notebooks share: set-up, formatted tables, one-line Markdown."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from mmmhelpers.artifacts import Allocation
from mmmhelpers.config import Params, load_params, quick

__all__ = ["setup", "table", "md", "data_summary", "contribution_summary", "allocation_headline", "scenario_table"]


def setup(params_path: str, quick_run: bool = False) -> Params:
    """Load params, set the plotting style and quiet the samplers' chatter for the report."""
    from mmmhelpers.plots import style

    params = load_params(params_path)
    if quick_run:
        params = quick(params)
    style()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
    warnings.filterwarnings("ignore", category=UserWarning, module="pytensor")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="arviz")
    for name in ("pymc", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return params


def _fmt_number(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        if v != 0 and abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return str(v)


def table(df: pd.DataFrame, percent: tuple[str, ...] = (), caption: str | None = None):
    """A formatted table: thousands separators, 3 significant digits, percentages, no index."""
    fmt = {c: (lambda v: "–" if pd.isna(v) else f"{v:.1%}") if c in percent else _fmt_number for c in df.columns}
    styler = df.style.format(fmt).hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler


def md(text: str):
    """Show Markdown from a code cell."""
    from IPython.display import Markdown

    return Markdown(text)


def data_summary(data) -> pd.DataFrame:
    """Per channel: total and mean weekly spend, share of weeks with spend."""
    X = data.X.reshape(data.n_dates, -1, len(data.channels))
    return pd.DataFrame({
        "channel": data.channels,
        "total spend": X.sum(axis=(0, 1)),
        "mean weekly spend": X.mean(axis=(0, 1)),
        "weeks with spend": (X > 0).mean(axis=(0, 1)),
    })


def contribution_summary(idata, data) -> pd.DataFrame:
    """Per channel: posterior-mean contribution (original scale), share of media, ROAS with 94% HDI."""
    import arviz as az

    c = idata.posterior["channel_contribution_original_scale"]
    other = [d for d in c.dims if d not in ("chain", "draw", "channel")]
    tot = c.sum(other)
    spend = data.X.reshape(data.n_dates, -1, len(data.channels)).sum(axis=(0, 1))
    roas = tot / spend
    hdi = az.hdi(roas, hdi_prob=0.94)
    name = list(hdi.data_vars)[0]
    return pd.DataFrame({
        "channel": data.channels,
        "contribution": tot.mean(("chain", "draw")).values,
        "share of media": (tot / tot.sum("channel")).mean(("chain", "draw")).values,
        "ROAS": roas.mean(("chain", "draw")).values,
        "ROAS 3%": hdi[name].sel(hdi="lower").values,
        "ROAS 97%": hdi[name].sel(hdi="higher").values,
    })


def allocation_headline(alloc: Allocation) -> str:
    """The optimize page's first sentence: the optimal split's response against the historical split, paired."""
    best, base, gain = alloc.response, alloc.initial.response, alloc.initial.gain
    text = (f"**Optimal split of {alloc.budget_per_period:,.0f} per period over {alloc.num_periods} periods:** expected "
            f"response {best.mean:,.0f} (94% HDI {best.hdi_94[0]:,.0f}–{best.hdi_94[1]:,.0f}) vs {base.mean:,.0f} for "
            f"the historical split ({alloc.gain:+.1%}).")
    if gain is not None:
        text += (f" Paired draw by draw, the gain is {gain.mean:,.0f} (94% HDI {gain.hdi_94[0]:,.0f} to "
                 f"{gain.hdi_94[1]:,.0f}); the optimal split wins in {gain.prob_positive:.0%} of posterior draws.")
    return text


def scenario_table(alloc: Allocation) -> pd.DataFrame:
    """Budget scenarios of ``allocation.json`` as a table (the planned budget included)."""
    rows = [(1.0, alloc.response)] + [(s.multiplier, s.response) for s in alloc.scenarios]
    budget = alloc.budget_per_period
    df = pd.DataFrame([{"budget multiplier": m, "budget per period": m * budget, "expected response": r.mean,
                        "HDI 3%": r.hdi_94[0], "HDI 97%": r.hdi_94[1]} for m, r in rows])
    return df.sort_values("budget multiplier").reset_index(drop=True)
