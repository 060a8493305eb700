"""What every page shares: the notebook's set-up, formatted numbers and tables, one-line Markdown, progress lines.
Each page's own words and tables live in its module (data_page, fit_page, budget_page, published)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from mmmhelpers.config import Params, load_params, quick

__all__ = ["setup", "table", "as_percent", "plain_number", "progress", "md", "worth_a_look"]


QUIET_DEPRECATIONS = ("arviz", "xarray", "pandas", "pymc", "pytensor", "numba", "seaborn", "matplotlib", "nutpie")


def setup(params_path: str, quick_run: bool = False) -> Params:
    """Load params, set the plotting style and quiet the libraries' deprecation notes and progress chatter for the
    report; a warning a modeller should see (a sampler's, a model's, ours) still reaches the page."""
    from mmmhelpers.plots import style

    params = load_params(params_path)
    if quick_run:
        params = quick(params)
    style(params.report.currency, params.report.target_label, params.report.period)
    for module in QUIET_DEPRECATIONS:  # libraries' notes to their own users' code, not to a modeller
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    for name in ("pymc", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.WARNING)  # their progress chatter (INFO) off, their warnings on
    return params


def worth_a_look(found: list[str]) -> None:
    """Show a page's warnings (suspicious but valid findings of ``checks``) as one list; nothing when none."""
    from IPython.display import display

    if found:
        display(md("**Worth a look before trusting the results:**\n\n" + "\n".join(f"- {w}" for w in found)))


PROGRESS = ".progress"
"""A run's progress lines: a notebook appends, ``mmm-report run`` prints them as they come."""


def progress_file(stage: str | None) -> str:
    """The progress file of a stage's notebook (stages may run side by side), in the run folder."""
    return f"{PROGRESS}-{stage}" if stage else PROGRESS


def progress(run_dir, message: str) -> None:
    """Tell the person running ``mmm-report`` how long work is going (one line, printed by the CLI)."""
    import os
    from pathlib import Path

    with open(Path(run_dir) / progress_file(os.environ.get("MMM_STAGE")), "a") as f:
        f.write(message.replace("\n", " ") + "\n")


def plain_number(v: float | np.floating) -> str:
    """A number for people: thousands separators from 1,000 on, else three significant digits, never 1e+05."""
    v = float(v)
    if not np.isfinite(v):
        return "–"
    if abs(v) >= 999.5:
        return f"{v:,.0f}"
    return np.format_float_positional(v, precision=3, fractional=False, trim="-")


def as_percent(v: float, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals; never "-0.0%" for a share that rounds to zero."""
    if pd.isna(v):
        return "–"
    text = f"{float(v):.{digits}%}"
    return text[1:] if text.startswith("-") and not text.strip("-0.%") else text


def _fmt_number(v) -> str:
    if isinstance(v, pd.Timestamp):
        return f"{v:%d %b %Y}".replace(" ", "\u00a0")  # a date on one line
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        return plain_number(v)
    return str(v)


HEADERS = {"hdi_low": "HDI 3%", "hdi_high": "HDI 97%", "rel_error": "relative error", "true_share": "true share",
           "est_share": "estimated share", "coverage_50": "50% coverage", "coverage_94": "94% coverage",
           "mean_rel_error": "mean relative error", "mape": "MAPE", "smape": "sMAPE", "crps": "CRPS"}
"""Column headers for people; other snake_case headers get spaces."""


def table(df: pd.DataFrame, percent: tuple[str, ...] = (), caption: str | None = None):
    """A formatted table: thousands separators, 3 significant digits, percentages, readable headers, no index."""
    fmt = {c: as_percent if c in percent else _fmt_number for c in df.columns}
    headers = {c: HEADERS.get(c, c.replace("_", " ")) for c in df.columns if isinstance(c, str)}
    styler = df.style.format(fmt).hide(axis="index").relabel_index(
        [headers.get(c, c) for c in df.columns], axis="columns")
    if caption:
        styler = styler.set_caption(caption)
    return styler


def md(text: str):
    """Show Markdown from a code cell."""
    from IPython.display import Markdown

    return Markdown(text)
