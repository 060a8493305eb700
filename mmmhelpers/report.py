"""Small helpers the notebooks share: set-up, formatted tables, one-line Markdown."""

from __future__ import annotations

import logging
import warnings
from typing import NamedTuple

import arviz as az
import numpy as np
import pandas as pd

from mmmhelpers.artifacts import Allocation, cell_spend
from mmmhelpers.config import Params, load_params, quick
from mmmhelpers.intervals import HDI_PROB

__all__ = ["setup", "table", "as_percent", "plain_number", "progress", "md", "worth_a_look", "data_summary",
           "contribution_summary", "published_table", "resolve_source", "scales_table", "verdict", "parameter_summary",
           "data_intro"]


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


def scales_table(mmm) -> pd.DataFrame:
    """The scales the model divides by: the target's and each channel's, per panel cell (original units)."""
    cells = list(np.ndindex(*mmm.target_scale.shape))
    names = [", ".join(str(mmm.data.panel[d][i]) for d, i in zip(mmm.data.panel, idx)) or "all" for idx in cells]
    frame = pd.DataFrame({"market": names, "target": [float(mmm.target_scale[idx]) for idx in cells]})
    units = mmm.channel_scale / mmm.data.cost_per_unit  # a channel bought in units is scaled on its units
    for k, ch in enumerate(mmm.data.channels):
        frame[f"{ch} {mmm.data.units_columns.get(ch, 'spend')}"] = [float(units[(*idx, k)]) for idx in cells]
    return frame


def parameter_summary(idata) -> pd.DataFrame:
    """Mean, sd, 94% HDI, bulk ESS and R-hat of every scalar parameter (worst-mixing first)."""
    import arviz as az

    from mmmhelpers.diagnose import scalar_parameters

    names = [n for n in scalar_parameters(idata) if not n.endswith("_contribution") or n == "intercept_contribution"]
    summ = az.summary(idata, var_names=names, hdi_prob=HDI_PROB)[["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat"]]
    summ = summ.sort_values(["ess_bulk"]).reset_index(names="parameter")
    return summ.rename(columns={"hdi_3%": "HDI 3%", "hdi_97%": "HDI 97%", "ess_bulk": "bulk ESS", "r_hat": "R-hat"})


def contribution_summary(idata, data) -> pd.DataFrame:
    """Per channel: spend, posterior-mean contribution (original scale) and share of media over the data
    (ROAS, with its interval, is :func:`mmmhelpers.contributions.roas_table`'s: one number in one place)."""
    c = idata.posterior["channel_contribution_original_scale"]
    tot = c.sum([d for d in c.dims if d not in ("chain", "draw", "channel")])
    return pd.DataFrame({
        "channel": data.channels,
        "spend": data.total_spend,
        "contribution": tot.mean(("chain", "draw")).values,
        "share of media": (tot / tot.sum("channel")).mean(("chain", "draw")).values,
    })


def _select(da, coords: str):
    """``da`` at the comma-separated coordinates of ``name[a, b]`` (in the order of its non-sample dims)."""
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    keys = [c.strip() for c in coords.rstrip("]").split(",")] if coords else []
    if len(keys) != len(dims):
        raise KeyError(f"give {len(dims)} coordinate(s) ({', '.join(dims) or 'none'}), got {keys}")
    return da.sel(dict(zip(dims, keys)))


class Resolved(NamedTuple):
    """This report's value for a published number: the value, and for posterior quantities its 94% HDI and sd."""

    value: float
    low: float = np.nan
    high: float = np.nan
    sd: float = np.nan


def resolve_source(source: str, idata, alloc: Allocation | None = None, diag=None) -> Resolved:
    """This report's value for a ``report.published`` source (see docs/params.md); the HDI (94%) and the
    posterior sd only for posterior quantities, NaN otherwise."""
    kind, _, rest = source.partition(":")
    name, _, coords = rest.partition("[")
    if kind == "posterior":
        da = _select(idata.posterior[name], coords)
        low, high = az.hdi(da, hdi_prob=HDI_PROB)[name].values
        return Resolved(float(da.mean()), float(low), float(high), float(da.std()))
    if kind == "data":
        return Resolved(float(_select(idata.constant_data[name], coords)))
    if kind == "diagnostics":
        if diag is None or not hasattr(diag, rest):
            raise KeyError(f"{source}: no such diagnostics field")
        return Resolved(float(getattr(diag, rest)))
    return Resolved(_plan_value(kind, rest, alloc))


def _plan_value(kind: str, rest: str, alloc: Allocation | None) -> float:
    if alloc is None:
        raise KeyError(f"{kind}: this run has no allocation")
    alts = {a.name: a for a in alloc.alternatives}
    if kind == "allocation":
        return cell_spend(alloc.allocation, alloc.cells, rest)
    if kind == "alternative":
        name, _, cell = rest.rpartition(":")
        return cell_spend(alts[name].allocation, alloc.cells, cell)
    if kind == "target_budget" and alloc.target is not None:
        return alloc.target.budget_per_period
    if kind == "response":
        plans = {"optimal": alloc.response, "historical": alloc.initial.response,
                 "equal": alloc.equal.response if alloc.equal else None} | {a: v.response for a, v in alts.items()}
        plan = plans[rest]
        if plan is None:
            raise KeyError(f"{kind}:{rest}: this run has no such plan")
        return plan.mean
    if kind == "multi_objective" and alloc.multi_objective is not None:
        mo = alloc.multi_objective
        if rest == "binds":
            if mo.constrained is None:
                raise KeyError(f"{kind}:{rest}: this run has no constrained plan")
            return float(mo.constrained.binds)
        which, _, target = rest.rstrip("]").partition("[")
        return mo.response(f"best[{target}]" if which == "best" else which, target)
    raise KeyError(f"unknown source {kind}:{rest}")


def verdict(published: float, ours: float, low: float, high: float, tolerance: float) -> str:
    """Does this report agree with the published number? Within ``tolerance`` (relative; 0: exactly equal) it
    agrees; a posterior quantity further off is "inside our 94% HDI, but ... off" (a wide interval is not
    agreement) or "outside our 94% HDI"."""
    if np.isnan(ours):
        return "not found"
    exact = tolerance == 0 or published == 0
    rel = 0.0 if exact else (ours - published) / abs(published)
    close = ours == published if exact else abs(rel) <= tolerance
    if not np.isnan(low):
        if not low <= published <= high:
            return "outside our 94% HDI"
        return (f"agrees (within {tolerance:.0%}; inside our 94% HDI)" if close else
                f"inside our 94% HDI, but {rel:+.0%} off: not agreement")
    if exact:
        return "same" if close else "differs"
    return f"agrees (within {tolerance:.0%})" if close else f"differs by {rel:+.0%}"


def published_table(params: Params, page: str, idata, alloc: Allocation | None = None, diag=None,
                    variants: dict | None = None) -> pd.DataFrame:
    """``report.published`` numbers of one page ("fit" or "optimize"): the published value beside ours, its
    94% HDI (posterior quantities), the relative difference, the z-score (difference in posterior sds) and a
    verdict. ``variants`` maps a model variant's name to its ``(idata, diagnostics)``, for the numbers compared
    with a variant."""
    rows = []
    for p in (p for p in params.report.published if p.page == page):
        note = p.note
        try:
            if p.variant is not None and p.variant not in (variants or {}):
                raise KeyError(f"model variant {p.variant!r} was not fitted")
            idata_p, diag_p = (variants or {}).get(p.variant, (idata, diag))
            ours, low, high, sd = resolve_source(p.source, idata_p, alloc, diag_p)
        except (KeyError, ValueError) as err:
            ours = low = high = sd = np.nan
            note = f"{note} (not found: {err})".strip()
        hdi = "" if np.isnan(low) else f"{plain_number(low)} to {plain_number(high)}"
        model = {"model": next((v.title for v in params.model_variants if v.name == p.variant), "main model")} \
            if getattr(params, "model_variants", None) else {}
        rows.append({"quantity": p.label, **model, "published": p.value, "this report": ours, "94% HDI": hdi,
                     "relative difference": (ours - p.value) / abs(p.value) if p.value else np.nan,
                     "z-score": (ours - p.value) / sd if sd > 0 else np.nan,
                     "verdict": verdict(p.value, ours, low, high, p.tolerance), "note": note})
    return pd.DataFrame(rows)


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
