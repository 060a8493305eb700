"""Figures of the recovery page: the posterior against the truth (parameters, contributions, saturation curves,
shares, the media multiplier), each model's contribution paths, and replicate rank histograms."""

from __future__ import annotations

import arviz as az
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from mmmhelpers.plots import (
    ALERT,
    MODEL,
    THOUSANDS,
    TRUTH,
    UNITS,
    VARIANT_COLORS,
    bands,
    channel_colors,
    date_rows_done,
    figure_grid,
    finish,
    hdi_band,
    legend_outside,
    panel_cells,
    titled,
)

__all__ = ["plot_recovery", "plot_contribution_recovery", "plot_saturation_recovery", "plot_contribution_paths",
           "plot_shares", "plot_multiplier", "plot_rank_histograms"]


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


def plot_saturation_recovery(spend: np.ndarray, est: np.ndarray, true: np.ndarray | None, channels: list[str],
                             panel: dict[str, list]):
    """Posterior saturation curve (mean, 94% band) against the true curve, per channel and panel cell."""
    cells = panel_cells(panel)
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
            ax.set(title=titled(ch, cell), xlabel=f"spend per {UNITS['period']} ({UNITS['currency']})",
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
    fig, axes = figure_grid(len(channels))
    for ax, ch in zip(axes, channels):
        for color, (label, idata) in zip(VARIANT_COLORS, idatas.items()):
            est = idata["posterior"]["channel_contribution_original_scale"].sel(channel=ch)
            est = est.sum([d for d in est.dims if d not in ("chain", "draw", "date")])
            draws = est.stack(sample=("chain", "draw")).transpose("sample", "date")
            bands(ax, pd.DatetimeIndex(draws["date"].values), draws.values, color, label)
        true = truth_c.sel(channel=ch)
        true = true.sum([d for d in true.dims if d != "date"]).sel(date=draws["date"].values)
        ax.plot(pd.DatetimeIndex(true["date"].values), true.values, color=TRUTH, ls="--", lw=1.5, label="truth")
        ax.set(title=f"Contribution of {ch}: truth vs each model", ylabel=f"{UNITS['target']} per {UNITS['period']}")
        ax.yaxis.set_major_formatter(THOUSANDS)
    return date_rows_done(fig, axes)


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
        bands(ax, dates, m.values, MODEL, "posterior")
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
