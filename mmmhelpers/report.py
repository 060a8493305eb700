"""What every page shares: the notebook's set-up, formatted numbers and tables, one-line Markdown, progress lines.
Each page's own words and tables live in its module (data_page, fit_page, budget_page, published)."""

from __future__ import annotations

import logging
import warnings

import pandas as pd

from mmmhelpers.config import Params, load_params, quick
from mmmhelpers.formatting import as_percent, fmt_number

__all__ = ["setup", "table", "progress", "md", "worth_a_look"]


QUIET_DEPRECATIONS = ("arviz", "xarray", "pandas", "pymc", "pytensor", "numba", "seaborn", "matplotlib", "nutpie")


def setup(params_path: str, quick_run: bool = False, run_dir: str | None = None) -> Params:
    """Load params (with a refresh's priors from the last report's posterior, when the run at ``run_dir`` carries
    them: ``refresh_priors``), set the plotting style and quiet the libraries' deprecation notes and progress chatter
    for the report; a warning a modeller should see (a sampler's, a model's, ours) still reaches the page."""
    from mmmhelpers.plots import style
    from mmmhelpers.refresh_priors import with_refresh_priors

    params = load_params(params_path)
    if quick_run:
        params = quick(params)
    params = with_refresh_priors(params, run_dir)
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


HEADERS = {"hdi_low": "HDI 3%", "hdi_high": "HDI 97%", "rel_error": "relative error", "true_share": "true share",
           "est_share": "estimated share", "coverage_50": "50% coverage", "coverage_94": "94% coverage",
           "mean_rel_error": "mean relative error", "mape": "MAPE", "smape": "sMAPE", "crps": "CRPS"}
"""Column headers for people; other snake_case headers get spaces."""


def table(df: pd.DataFrame, percent: tuple[str, ...] = (), caption: str | None = None):
    """A formatted table: thousands separators, 3 significant digits, percentages, readable headers, no index."""
    fmt = {c: as_percent if c in percent else fmt_number for c in df.columns}
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
