"""Figures for the report: every one has a title, labeled axes and units."""

from __future__ import annotations

import itertools

import arviz as az
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from mmmhelpers.data import MMMData
from mmmhelpers.formatting import UNITS, set_units
from mmmhelpers.intervals import HDI_PROB

__all__ = [
    "style",
    "channel_colors",
    "cell_colors",
    "plan_color",
    "legend_outside",
    "hdi_band",
    "plot_saturation_recovery",
    "plot_multiplier",
    "plot_residuals",
    "plot_folds",
    "plot_rank_histograms",
    "plot_data",
    "plot_ppc",
    "plot_contributions",
    "plot_recovery",
    "plot_contribution_recovery",
    "plot_holdout",
]

THOUSANDS = mticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 or v == 0 else f"{v:.3g}")
"""Tick labels with thousands separators; small values (spend of 0.5, a ROAS of 1.2) keep their digits."""


CHANNEL_PALETTE = sns.color_palette("colorblind", 10)
"""Channel k's colour in every figure: the k-th colour of seaborn's colour-blind palette."""
MODEL = "#2f3e5c"
"""The model's estimate where a figure is not per channel (posterior, forecast, optimal plan)."""
PRIOR = "0.55"
TRUTH = "black"
"""Truth and observations: black (dashed lines, crosses or dots)."""
ALERT = "#b2182b"
"""What needs a look: a truth outside its interval, a divergent draw, a negative contribution."""
PLAN_COLORS = {"optimal": MODEL, "historical": "0.62", "equal": "0.4"}
VARIANT_COLORS = [MODEL, "#d08c3c", "#6a9f58", "#8c6bb1"]
"""The main model, then each model variant, where a figure compares models."""


def channel_colors(channels) -> dict[str, tuple]:
    """``{channel: colour}``, the same in every figure of the report."""
    return {str(ch): CHANNEL_PALETTE[k % len(CHANNEL_PALETTE)] for k, ch in enumerate(channels)}


def cell_colors(cells: list[str]) -> list[tuple]:
    """Colours of ``"channel @ market"`` cells: the channel's colour, lighter for each further market."""
    channels = list(dict.fromkeys(c.split(" @ ")[0] for c in cells))
    base = channel_colors(channels)
    seen: dict[str, int] = {}
    out = []
    for cell in cells:
        ch = cell.split(" @ ")[0]
        k = seen[ch] = seen.get(ch, -1) + 1
        out.append(tuple(v + (1 - v) * min(0.6, 0.3 * k) for v in base[ch]))
    return out


def plan_color(label: str):
    """The colour of a plan (optimal, historical, equal split, ...) by the first word of its label."""
    return PLAN_COLORS.get(label.split()[0].lower(), "0.5")


def hdi_band(draws: np.ndarray, prob: float = HDI_PROB) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of the ``prob`` HDI (arviz) of ``draws`` ``(sample, point)`` at each point."""
    edges = az.hdi(np.asarray(draws, dtype=float)[None], hdi_prob=prob)  # (1, sample, point): one chain
    return edges[..., 0], edges[..., 1]


def legend_outside(ax, **kw) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8, **kw)


def finish(ax):
    """How a one-axes figure ends: thousands separators on the value axis, the legend outside, tight layout."""
    ax.yaxis.set_major_formatter(THOUSANDS)
    legend_outside(ax)
    ax.figure.tight_layout()
    return ax.figure


def style(currency: str = "", target_label: str = "", period: str | None = None) -> None:
    """Seaborn theme used by every page; concise date axes everywhere; the case's units on the axes."""
    set_units(currency, target_label, period)
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "axes.titleweight": "bold", "figure.autolayout": False,
                         "date.converter": "concise"})


def _cells(panel: dict[str, list]) -> list[dict]:
    """Every panel coordinate as a ``{dim: value}`` dict (one empty dict for a single market)."""
    if not panel:
        return [{}]
    return [dict(zip(panel, combo)) for combo in itertools.product(*panel.values())]


def _label(cell: dict) -> str:
    return ", ".join(f"{v}" for v in cell.values()) or "all"


def _titled(title: str, cell: dict) -> str:
    """``title (market)`` in a panel; just ``title`` for a single market."""
    return f"{title} ({_label(cell)})" if cell else title


def _grid(n: int, width: float = 11, height: float = 3.2, sharex: bool = True):
    fig, axes = plt.subplots(n, 1, figsize=(width, height * n), sharex=sharex, squeeze=False)
    return fig, axes[:, 0]


def _weekly_rows_done(fig, axes):
    """Finish a figure of weekly series, one row per panel cell: legend beside the first row, week axis."""
    legend_outside(axes[0])
    axes[-1].set_xlabel(UNITS["period"])
    fig.tight_layout()
    return fig


def _index(data: MMMData, cell: dict) -> tuple:
    return tuple(data.panel[d].index(cell[d]) for d in data.panel)


def plot_data(data: MMMData, target_label: str = "sales"):
    """Target and spend per channel over time (one row per panel coordinate)."""
    cells = _cells(data.panel)
    fig, axes = plt.subplots(len(cells), 2, figsize=(12, 3.2 * len(cells)), sharex=True, squeeze=False)
    for row, cell in zip(axes, cells):
        idx = _index(data, cell)
        row[0].plot(data.dates, data.y[(slice(None), *idx)], color="black", lw=1.2)
        row[0].set(title=_titled("Target", cell), ylabel=f"{target_label} per {UNITS['period']}")
        for c, ch in enumerate(data.channels):
            row[1].plot(data.dates, data.spend[(slice(None), *idx, c)], lw=1, label=ch)
        row[1].set(title=_titled("Media spend", cell), ylabel=f"spend per {UNITS['period']} ({UNITS['currency']})")
        legend_outside(row[1])
        for ax in row:
            ax.yaxis.set_major_formatter(THOUSANDS)
    for ax in axes[-1]:
        ax.set_xlabel(UNITS["period"])
    fig.tight_layout()
    return fig


def _bands(ax, dates, draws: np.ndarray, color: str, label: str):
    """Median line with 50% and 94% central bands; ``draws`` is ``(sample, date)``.

    The median, not the mean: one prior draw of an exp-linked HSGP multiplier reached 2.8e11 against an observed
    maximum of 10,758 (time_varying_media), and its mean line was all the prior predictive check showed."""
    q = np.quantile(draws, [0.03, 0.25, 0.5, 0.75, 0.97], axis=0)
    ax.fill_between(dates, q[0], q[4], color=color, alpha=0.2, lw=0, label=f"{label} 94%")
    ax.fill_between(dates, q[1], q[3], color=color, alpha=0.35, lw=0, label=f"{label} 50%")
    ax.plot(dates, q[2], color=color, lw=1.2, label=f"{label} median")


def _predicted_vs_observed(draws: xr.DataArray, data: MMMData, window: slice, title: str, color: str, label: str,
                           observed_style: dict, cut: int | None = None, cut_label: str = "train | test"):
    """One panel per coordinate: 50%/94% bands of ``draws`` (sample, date, ...) against the observed target."""
    dates = data.dates[window]
    fig, axes = _grid(len(_cells(data.panel)))
    for ax, cell in zip(axes, _cells(data.panel)):
        _bands(ax, dates, draws.sel(cell).values[:, window], color, label)
        ax.plot(dates, data.y[(window, *_index(data, cell))], label="observed", **observed_style)
        if cut is not None:
            ax.axvline(data.dates[cut], color="grey", ls="--", lw=1.5, label=cut_label)
        ax.set(title=_titled(title, cell), ylabel=f"{UNITS['target']} per {UNITS['period']}")
        ax.yaxis.set_major_formatter(THOUSANDS)
    return _weekly_rows_done(fig, axes)


def plot_ppc(idata, data: MMMData, group: str = "posterior_predictive", title: str | None = None):
    """Observed target vs the posterior (or prior: ``group="prior_predictive"``) predictive, original scale."""
    pp = idata[group]["y_original_scale"].stack(sample=("chain", "draw")).transpose("sample", "date", ...)
    kind = group.split("_")[0]
    return _predicted_vs_observed(pp, data, slice(None), title or f"{kind.capitalize()} predictive check",
                                  MODEL if kind == "posterior" else PRIOR, f"{kind} predictive",
                                  observed_style={"color": "black", "marker": ".", "ls": "none", "ms": 3})


def plot_contributions(idata, data: MMMData):
    """Posterior-mean contribution of each channel over time, stacked (original scale)."""
    contrib = idata.posterior["channel_contribution_original_scale"].mean(("chain", "draw"))
    cells = _cells(data.panel)
    fig, axes = _grid(len(cells))
    for ax, cell in zip(axes, cells):
        c = contrib.sel(cell).transpose("date", "channel")
        names = [str(ch) for ch in c["channel"].values]
        ax.stackplot(data.dates, c.values.T, labels=names, colors=[channel_colors(names)[n] for n in names], alpha=0.8)
        ax.set(title=_titled("Media contribution by channel", cell), ylabel=f"{UNITS['target']} per {UNITS['period']}")
        ax.yaxis.set_major_formatter(THOUSANDS)
    return _weekly_rows_done(fig, axes)


def plot_recovery(table: pd.DataFrame):
    """Forest plot: 94% HDI and posterior mean against the truth (x); intervals that miss it in red."""
    n = len(table)
    fig, ax = plt.subplots(figsize=(9, 0.32 * n + 1.5))
    y = np.arange(n)[::-1]
    colors = [MODEL if c else ALERT for c in table["covered"]]
    ax.hlines(y, table["hdi_low"], table["hdi_high"], colors=colors, lw=3, alpha=0.7, label="94% HDI")
    ax.plot(table["mean"], y, "o", color=MODEL, ms=4, label="posterior mean")
    ax.plot(table["truth"], y, "x", color=TRUTH, ms=7, mew=2, label="truth")
    ax.set_yticks(y, table["parameter"])
    ax.set(title="Parameter recovery (model scale)", xlabel="parameter value (model scale: spend and target / max)")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_contribution_recovery(ctab: pd.DataFrame):
    """True vs estimated total contribution per channel (with 94% HDI)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(ctab))
    colors = list(channel_colors(ctab["channel"]).values())
    ax.bar(x - 0.2, ctab["truth"], 0.4, label="truth", color="white", edgecolor=TRUTH, hatch="//")
    err = np.vstack([ctab["estimate"] - ctab["hdi_low"], ctab["hdi_high"] - ctab["estimate"]])
    ax.bar(x + 0.2, ctab["estimate"], 0.4, yerr=err, capsize=4, label="estimate (94% HDI)", color=colors, alpha=0.85)
    ax.set_xticks(x, ctab["channel"])
    ax.set(title="Total media contribution over the fitted window", xlabel="channel",
           ylabel=f"{UNITS['target']} (sum over {UNITS['period']}s)")
    return finish(ax)


def plot_holdout(pred: xr.Dataset, data: MMMData, train_end: int, context_weeks: int = 26):
    """Observed vs predicted around the train/test cut, with 50% and 94% bands."""
    window = slice(max(0, train_end - context_weeks), pred.sizes["date"])
    return _predicted_vs_observed(pred["y_original_scale"], data, window, "Holdout forecast with carryover", MODEL,
                                  "predicted", cut=train_end,
                                  observed_style={"color": "black", "marker": ".", "ls": "-", "ms": 4, "lw": 0.8})


def plot_forecast(pred: xr.Dataset, data: MMMData, n_observed: int, context_weeks: int = 30):
    """The last observed weeks and the forecast after them, with 50% and 94% bands (``data``: the extended
    data of ``validate.forecast_data``, target NaN after the last observation)."""
    window = slice(max(0, n_observed - context_weeks), data.n_dates)
    return _predicted_vs_observed(pred["y_original_scale"], data, window, "Forecast after the last observation",
                                  MODEL, "forecast", cut=n_observed, cut_label=f"first forecast {UNITS['period']}",
                                  observed_style={"color": "black", "marker": ".", "ls": "-", "ms": 4, "lw": 0.8})


def plot_saturation_recovery(spend: np.ndarray, est: np.ndarray, true: np.ndarray | None, channels: list[str],
                             panel: dict[str, list]):
    """Posterior saturation curve (mean, 94% band) against the true curve, per channel and panel cell."""
    cells = _cells(panel)
    colors = channel_colors(channels)
    fig, axes = plt.subplots(len(cells), len(channels), figsize=(4.2 * len(channels), 3.2 * len(cells)), squeeze=False)
    for r, cell in enumerate(cells):
        idx = tuple(panel[d].index(cell[d]) for d in panel)
        for c, ch in enumerate(channels):
            ax = axes[r, c]
            levels: tuple[slice | int, ...] = (slice(None), *idx, c)  # every spend level of the cell and channel
            x = spend[levels]
            draws = est[(slice(None), *levels)]
            lo, hi = hdi_band(draws)
            ax.fill_between(x, lo, hi, color=colors[ch], alpha=0.3, lw=0, label="94% HDI")
            ax.plot(x, draws.mean(axis=0), color=colors[ch], label="posterior mean")
            if true is not None:
                ax.plot(x, true[levels], color=TRUTH, ls="--", lw=2, label="truth")
            ax.set(title=_titled(ch, cell), xlabel=f"spend per {UNITS['period']} ({UNITS['currency']})",
                   ylabel=f"{UNITS['target']} per {UNITS['period']}")
            ax.xaxis.set_major_locator(mticker.MaxNLocator(4))
            ax.xaxis.set_major_formatter(THOUSANDS)
            ax.yaxis.set_major_formatter(THOUSANDS)
    legend_outside(axes[0, 0])
    fig.suptitle(f"Saturation curves: truth vs posterior (one {UNITS['period']} of spend, no carryover)", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_contribution_paths(idatas: dict[str, az.InferenceData], truth):
    """Each channel's contribution per week (summed over markets), the truth against every model's mean and
    50%/94% bands: one row per channel, one colour per model (the main model first)."""
    truth_c = truth["channel_contribution_original_scale"]
    channels = [str(c) for c in truth_c["channel"].values]
    fig, axes = _grid(len(channels))
    for ax, ch in zip(axes, channels):
        for color, (label, idata) in zip(VARIANT_COLORS, idatas.items()):
            est = idata["posterior"]["channel_contribution_original_scale"].sel(channel=ch)
            est = est.sum([d for d in est.dims if d not in ("chain", "draw", "date")])
            draws = est.stack(sample=("chain", "draw")).transpose("sample", "date")
            _bands(ax, pd.DatetimeIndex(draws["date"].values), draws.values, color, label)
        true = truth_c.sel(channel=ch)
        true = true.sum([d for d in true.dims if d != "date"]).sel(date=draws["date"].values)
        ax.plot(pd.DatetimeIndex(true["date"].values), true.values, color=TRUTH, ls="--", lw=1.5, label="truth")
        ax.set(title=f"Contribution of {ch}: truth vs each model", ylabel=f"{UNITS['target']} per {UNITS['period']}")
        ax.yaxis.set_major_formatter(THOUSANDS)
    return _weekly_rows_done(fig, axes)


def plot_shares(shares: pd.DataFrame):
    """True vs estimated share of the target per component (``recovery.effect_shares``): bars with 94% HDIs, one
    colour per model and the truth in black."""
    models = [c.removesuffix(" share") for c in shares.columns if c.endswith(" share") and c != "true share"]
    y = np.arange(len(shares))[::-1]
    height = 0.8 / (len(models) + 1)
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(shares) * (len(models) + 1) + 1.5))
    ax.barh(y + height * len(models) / 2, shares["true share"], height, color=TRUTH, label="truth")
    for k, (model, color) in enumerate(zip(models, VARIANT_COLORS)):
        pos = y + height * (len(models) / 2 - k - 1)
        mean, low, high = (shares[f"{model} {q}"] for q in ("share", "3%", "97%"))
        ax.barh(pos, mean, height, color=color, alpha=0.85, label=model,
                xerr=[mean - low, high - mean], error_kw={"ecolor": "0.3", "lw": 1})
    ax.set_yticks(y, shares["component"])
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.set(title="Share of the target: truth vs each model", xlabel="share of the target over the data (94% HDI)")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_multiplier(idata, truth=None, name: str = "media_temporal_latent_multiplier"):
    """The time-varying media multiplier: posterior band against the truth."""
    m = idata.posterior[name].stack(sample=("chain", "draw"))
    m = m.transpose("sample", "date", ...)
    fig, ax = plt.subplots(figsize=(11, 3.5))
    dates = pd.DatetimeIndex(m["date"].values)
    if m.ndim == 2:
        _bands(ax, dates, m.values, MODEL, "posterior")
    else:
        colors = channel_colors(m["channel"].values)
        for i, ch in enumerate(m["channel"].values):
            ax.plot(dates, m.values[..., i].mean(axis=0), color=colors[str(ch)], label=f"{ch} posterior mean")
    if truth is not None and name in truth:
        ax.plot(dates, truth[name].sel(date=dates).values, color=TRUTH, ls="--", lw=2, label="truth")
    ax.axhline(1.0, color="grey", lw=1)
    ax.set(title="Time-varying media multiplier", xlabel=UNITS["period"], ylabel="multiplier (1 = average)")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def _acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = x - x.mean()
    denom = np.sum(x**2)
    return np.array([np.sum(x[lag:] * x[: len(x) - lag]) / denom for lag in range(max_lag + 1)])


def plot_residuals(idata, data: MMMData, max_lag: int = 20):
    """Residuals (observed − posterior-predictive mean) over time, their autocorrelation and distribution."""
    pp = idata.posterior_predictive["y_original_scale"].mean(("chain", "draw"))
    cells = _cells(data.panel)
    fig, axes = plt.subplots(len(cells), 3, figsize=(14, 3.2 * len(cells)), squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1, 1]})
    for row, cell in zip(axes, cells):
        resid = data.y[(slice(None), *_index(data, cell))] - pp.sel(cell).values
        row[0].axhline(0, color="grey", lw=1)
        row[0].plot(data.dates, resid, ".-", color=MODEL, lw=0.8, ms=3)
        row[0].set(title=_titled("Residuals over time", cell), xlabel=UNITS["period"], ylabel="observed − predicted")
        row[0].yaxis.set_major_formatter(THOUSANDS)
        acf = _acf(resid, min(max_lag, len(resid) - 2))
        band = 1.96 / np.sqrt(len(resid))
        row[1].bar(np.arange(len(acf)), acf, color=MODEL, width=0.6)
        row[1].axhspan(-band, band, color="grey", alpha=0.2, label="±1.96/√n")
        row[1].set(title=_titled("Autocorrelation", cell), xlabel=f"lag ({UNITS['period']}s)", ylabel="autocorrelation")
        sns.histplot(resid, kde=True, color=MODEL, ax=row[2], stat="count")
        row[2].axvline(0, color="grey", lw=1)
        row[2].set(title=_titled("Residual distribution", cell), xlabel="observed − predicted", ylabel=f"{UNITS['period']}s")
        row[2].xaxis.set_major_formatter(THOUSANDS)
        row[1].legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_folds(folds: pd.DataFrame):
    """Scores per rolling origin: CRPS (bars) and 94% coverage (points)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(folds))
    ax.bar(x, folds["crps"], color=MODEL, alpha=0.8, label="CRPS")
    ax.set_xticks(x, [f"{pd.Timestamp(d):%d %b %Y}" for d in folds["origin"]])
    ax.set(title="Out-of-sample scores per origin", xlabel=f"forecast origin (first test {UNITS['period']})",
           ylabel=f"CRPS ({UNITS['target']})")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax2 = ax.twinx()
    ax2.plot(x, folds["coverage_94"], "o-", color=ALERT, label="94% coverage")
    ax2.axhline(HDI_PROB, color=ALERT, ls=":", lw=1)
    ax2.set(ylim=(0, 1.05), ylabel="coverage of 94% interval")
    ax2.grid(False)
    fig.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_rank_histograms(reps: pd.DataFrame, bins: int = 10):
    """Where each truth fell in its posterior, over replicates: flat when intervals are calibrated."""
    params = list(dict.fromkeys(reps["parameter"]))
    ncol = min(4, len(params))
    nrow = int(np.ceil(len(params) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
    n = reps["replicate"].nunique()
    for ax, name in zip(axes.ravel(), params):
        q = reps.loc[reps["parameter"] == name, "quantile"]
        ax.hist(q, bins=np.linspace(0, 1, bins + 1), color=MODEL, alpha=0.8)
        ax.axhline(n / bins, color=TRUTH, ls="--", lw=1)
        ax.set(title=name, xlabel="quantile of truth in posterior", ylabel="replicates")
        ax.title.set_fontsize(9)
    for ax in axes.ravel()[len(params):]:
        ax.set_visible(False)
    fig.suptitle(f"Rank histograms over {n} replicates (dashed: uniform)", fontweight="bold")
    fig.tight_layout()
    return fig
