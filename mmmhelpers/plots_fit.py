"""Figures of the fit page: decomposition over time, waterfall of totals, effect vs spend, ROAS forest."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from mmmhelpers.data import MMMData
from mmmhelpers.formatting import as_percent
from mmmhelpers.plots import (
    ALERT,
    MODEL,
    PRIOR,
    THOUSANDS,
    UNITS,
    channel_colors,
    date_rows_done,
    figure_grid,
    hdi_band,
    legend_outside,
    panel_cells,
    predicted_vs_observed,
    titled,
)

__all__ = ["plot_decomposition", "plot_waterfall", "plot_effect_vs_spend", "plot_roas_forest", "plot_worst_ranks",
           "plot_transforms", "plot_sbc_histograms", "plot_sbc_ecdf"]


def plot_worst_ranks(idata, parameters: list[str]):
    """Rank plots (one row per parameter element, one bar set per chain) of the worst-mixing parameters:
    flat, overlapping ranks mean the chains agree."""
    import arviz as az

    names = sorted({p.split("[")[0] for p in parameters})
    axes = az.plot_rank(idata, var_names=names, figsize=(9, 1.8 * len(names) + 1))
    fig = np.ravel(axes)[0].figure
    for ax in np.ravel(axes):
        ax.set_xlabel("rank (all chains)")
    fig.suptitle("Rank plots of the worst-mixing parameters (uniform = chains agree)", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_decomposition(dec: xr.DataArray, channels: list[str], cols: int = 3, organic: Sequence[str] = ()):
    """Each component's contribution per period (summed over panel cells): posterior mean and 94% HDI."""
    comps = [str(c) for c in dec["component"].values]
    rows = int(np.ceil(len(comps) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), sharex=True, squeeze=False)
    panel = [d for d in dec.dims if d not in ("component", "chain", "draw", "date")]
    total = dec.sum(panel) if panel else dec
    dates = dec["date"].values
    for k, comp in enumerate(comps):
        ax = axes[k // cols, k % cols]
        draws = total.sel(component=comp).stack(sample=("chain", "draw")).transpose("sample", "date").values
        lo, hi = hdi_band(draws)
        color = channel_colors(channels)[comp] if comp in channels else "grey"
        ax.fill_between(dates, lo, hi, color=color, alpha=0.3, lw=0)
        ax.plot(dates, draws.mean(0), color=color, lw=1.2)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(comp + (" (media)" if comp in channels else " (organic)" if comp in organic else ""), fontsize=10)
        ax.yaxis.set_major_formatter(THOUSANDS)
        if k % cols == 0:
            ax.set_ylabel(f"{UNITS['target']} per {UNITS['period']}")
    for k in range(len(comps), rows * cols):
        axes[k // cols, k % cols].set_visible(False)
    fig.suptitle("Decomposition of the target over time (posterior mean, 94% HDI)", fontweight="bold")
    fig.supxlabel(UNITS["period"])
    fig.tight_layout()
    return fig


def plot_waterfall(totals: pd.DataFrame):
    """Total contribution of each component over the data, stacked from zero to the modeled total."""
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(totals) + 1.8))
    start = 0.0
    colors = channel_colors(totals.loc[totals["kind"] == "media", "component"])
    for i, row in enumerate(totals.itertuples()):
        color = colors.get(row.component, "grey") if row.contribution >= 0 else ALERT
        ax.barh(i, row.contribution, left=start, color=color, alpha=0.85)
        ax.text(start + row.contribution, i, f" {row.contribution:,.0f} ({as_percent(row.share, 0)})", va="center", fontsize=8)
        start += row.contribution
    ax.barh(len(totals), start, color="black", alpha=0.7)
    ax.text(start, len(totals), f" {start:,.0f}", va="center", fontsize=8)
    ax.set_yticks(range(len(totals) + 1), [*totals["component"], "total (model)"])
    ax.invert_yaxis()
    ax.set(title="What drove the target: total contribution per component", xlabel=f"{UNITS['target']} over the data")
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.margins(x=0.15)
    fig.tight_layout()
    return fig


def plot_effect_vs_spend(df: pd.DataFrame):
    """Share of media spend against share of media effect (94% HDI) per channel."""
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(df) + 1.6))
    ax.barh(y + 0.2, df["share of spend"], height=0.4, color="lightgrey", label="share of spend")
    err = [df["share of effect"] - df["effect 3%"], df["effect 97%"] - df["share of effect"]]
    ax.barh(y - 0.2, df["share of effect"], height=0.4, xerr=err, color=list(channel_colors(df["channel"]).values()),
            alpha=0.85, label="share of effect (94% HDI)")
    ax.set_yticks(y, df["channel"])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set(title="Share of effect vs share of spend", xlabel="share of media (percent)")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_roas_forest(df: pd.DataFrame):
    """ROAS and marginal ROAS per channel: posterior mean and 94% HDI."""
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(df) + 1.6))
    for name, off, color, marker in [("ROAS", -0.12, MODEL, "o"), ("mROAS", 0.12, PRIOR, "D")]:
        ax.hlines(y + off, df[f"{name} 3%"], df[f"{name} 97%"], color=color, lw=3, alpha=0.7)
        ax.plot(df[name], y + off, marker, color=color, label=f"{name} (mean, 94% HDI)")
    ax.set_yticks(y, df["channel"])
    ax.invert_yaxis()
    ax.set(title="Return on ad spend and its margin", xlabel=f"{UNITS['target']} per {UNITS['per_currency']}")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def _band(ax, x, draws: np.ndarray, color, label: str, lw: float = 1.5):
    low, high = np.quantile(draws, [0.03, 0.97], axis=0)
    ax.fill_between(x, low, high, color=color, alpha=0.25, lw=0, label=f"{label} 94%")
    ax.plot(x, np.median(draws, axis=0), color=color, lw=lw, label=f"{label} median")


def plot_transforms(prior: tuple, posterior: tuple, channels: list[str], truth: tuple | None = None,
                    scaled: bool = True):
    """Adstock weights by lag and the saturation curve per channel (rows): the prior's band (grey) against the
    posterior's (the channel's colour), and the truth when known. Each tuple is ``recovery.transform_curves``'
    ``(weights, curves, grid)``; ``truth`` the true weights ``(lag, channel)`` and curves ``(point, channel)``."""
    colors = channel_colors(channels)
    lags = np.arange(prior[0].shape[1])
    if len(lags) == 1:  # no carryover: only the saturation curves say something
        fig, axes = plt.subplots(len(channels), 1, figsize=(6.5, 2.6 * len(channels)), squeeze=False)
        axes = np.concatenate([np.array([[None]] * len(channels)), axes], axis=1)
    else:
        fig, axes = plt.subplots(len(channels), 2, figsize=(11, 2.6 * len(channels)), squeeze=False)
    for k, (ch, (ax_w, ax_s)) in enumerate(zip(channels, axes)):
        for (w, curves, grid), color, label in [(prior, PRIOR, "prior"), (posterior, colors[ch], "posterior")]:
            if ax_w is not None:
                _band(ax_w, lags, w[..., k], color, label)
            _band(ax_s, grid, curves[..., k], color, label)
        if truth is not None:
            if ax_w is not None:
                ax_w.plot(lags, truth[0][:, k], color="black", ls="--", lw=1.5, label="truth")
            ax_s.plot(prior[2], truth[1][:, k], color="black", ls="--", lw=1.5, label="truth")
        if ax_w is not None:
            ax_w.set(title=f"{ch}: adstock weight by lag", xlabel=f"{UNITS['period']}s after the spend",
                     ylabel="share of the effect")
        ax_s.set(title=f"{ch}: saturation of one {UNITS['period']}'s spend",
                 xlabel=f"spend / the channel's largest {UNITS['period']}" if scaled else f"spend ({UNITS['currency']})",
                 ylabel="effect (target / its max)" if scaled else f"effect ({UNITS['target']})")
    legend_outside(axes[0, 1])
    fig.tight_layout()
    return fig


def _sbc_order(table: pd.DataFrame, max_params: int) -> list[str]:
    return list(table.sort_values("p-value")["parameter"][:max_params])


def plot_sbc_histograms(ranks: pd.DataFrame, table: pd.DataFrame, L: int, max_params: int = 12, cols: int = 4):
    """SBC rank histograms (least uniform first), with the 99% band of a uniform histogram's bin counts."""
    from scipy import stats

    from mmmhelpers.sbc import _bins

    names = _sbc_order(table, max_params)
    n = len(ranks)
    b = _bins(n, L)
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / b)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        r = ranks[name].dropna().astype(int).to_numpy()
        ax.axhspan(lo, hi, color=PRIOR, alpha=0.35, lw=0)
        ax.hist(r, bins=np.linspace(0, L + 1, b + 1), color=MODEL if table.set_index("parameter").loc[name, "uniform"]
                else ALERT, edgecolor="white")
        ax.set(title=name, xlabel=f"rank (0 to {L})", ylabel="SBC draws")
        ax.title.set_fontsize(9)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle("SBC rank histograms (grey: 99% band of a uniform histogram; red: flagged)", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_sbc_ecdf(ranks: pd.DataFrame, table: pd.DataFrame, L: int, max_params: int = 12):
    """ECDF of each parameter's scaled rank minus the uniform CDF, with the 99% pointwise band of a uniform
    sample of the same size: a line leaving the band is a calibration problem."""
    from scipy import stats

    n = len(ranks)
    z = np.linspace(0, 1, 201)
    band = (stats.binom.ppf([[0.005], [0.995]], n, z[None]) / n) - z[None]
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    ax.fill_between(z, band[0], band[1], color=PRIOR, alpha=0.35, lw=0, label="99% band (uniform ranks)")
    flagged = set(table.loc[~table["uniform"], "parameter"])
    for name in _sbc_order(table, max_params):
        u = (ranks[name].dropna().to_numpy() + 0.5) / (L + 1)
        ecdf = (u[None] <= z[:, None]).mean(axis=1)
        ax.plot(z, ecdf - z, lw=1.8 if name in flagged else 0.9, color=ALERT if name in flagged else None,
                alpha=1 if name in flagged else 0.6, label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(title="SBC: ECDF of the ranks minus the uniform", xlabel="scaled rank (rank / L)",
           ylabel="ECDF − uniform CDF")
    legend_outside(ax)
    fig.tight_layout()
    return fig


def plot_ppc(idata, data: MMMData, group: str = "posterior_predictive", title: str | None = None):
    """Observed target vs the posterior (or prior: ``group="prior_predictive"``) predictive, original scale."""
    pp = idata[group]["y_original_scale"].stack(sample=("chain", "draw")).transpose("sample", "date", ...)
    kind = group.split("_")[0]
    return predicted_vs_observed(pp, data, slice(None), title or f"{kind.capitalize()} predictive check",
                                  MODEL if kind == "posterior" else PRIOR, f"{kind} predictive",
                                  observed_style={"color": "black", "marker": ".", "ls": "none", "ms": 3})


def plot_contributions(idata, data: MMMData):
    """Posterior-mean contribution of each channel over time, stacked (original scale)."""
    contrib = idata.posterior["channel_contribution_original_scale"].mean(("chain", "draw"))
    cells = panel_cells(data.panel)
    fig, axes = figure_grid(len(cells))
    for ax, cell in zip(axes, cells):
        c = contrib.sel(cell).transpose("date", "channel")
        names = [str(ch) for ch in c["channel"].values]
        ax.stackplot(data.dates, c.values.T, labels=names, colors=[channel_colors(names)[n] for n in names], alpha=0.8)
        ax.set(title=titled("Media contribution by channel", cell), ylabel=f"{UNITS['target']} per {UNITS['period']}")
        ax.yaxis.set_major_formatter(THOUSANDS)
    return date_rows_done(fig, axes)
