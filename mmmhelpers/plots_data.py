"""Figures of the data page: how the columns move together, and a simulated confounder against its proxy."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mmmhelpers.data import MMMData
from mmmhelpers.plots import MODEL, THOUSANDS, UNITS, cell_index, legend_outside, panel_cells, titled

__all__ = ["data_columns", "plot_correlations", "plot_confounder"]


def data_columns(data: MMMData, truth=None) -> pd.DataFrame:
    """One column per target, channel and control (every panel cell stacked), plus a simulated case's true
    demand when its truth holds one (``demand (truth)``)."""
    cols = {data.target_column: data.y.reshape(-1)}
    cols |= {ch: data.units[..., k].reshape(-1) for k, ch in enumerate(data.channels)}  # what drives the effect
    cols |= {c: data.C[..., k].reshape(-1) for k, c in enumerate(data.controls)}
    if truth is not None and "demand" in truth and not data.panel:
        cols["demand (truth)"] = truth["demand"].values
    return pd.DataFrame(cols)


def plot_correlations(data: MMMData, truth=None):
    """Pearson correlations between the data's columns: spend that moves with the target (or with demand) is
    what makes attribution hard."""
    corr = data_columns(data, truth).corr()
    n = len(corr)
    fig, ax = plt.subplots(figsize=(1.0 * n + 3, 0.8 * n + 2))
    sns.heatmap(corr, annot=True, fmt=".2f", cmap="coolwarm", vmin=-1, vmax=1, square=True, ax=ax,
                cbar_kws={"label": "correlation"})
    ax.set(title=f"Correlation between the columns (one value per {UNITS['period']})")
    fig.tight_layout()
    return fig


def plot_confounder(data: MMMData, truth, control: str):
    """The true demand of a simulated case against the control the model sees in its place (its proxy)."""
    x = data.C[:, data.controls.index(control)]
    demand = truth["demand"].values
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(x, demand, s=12, color=MODEL, alpha=0.8)
    r = np.corrcoef(x, demand)[0, 1]
    ax.set(title=f"{control} vs the true demand (correlation {r:.2f})", xlabel=f"{control} (as in the data)",
           ylabel=f"true demand ({UNITS['target']} per {UNITS['period']})")
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.xaxis.set_major_formatter(THOUSANDS)
    fig.tight_layout()
    return fig


def plot_data(data: MMMData, target_label: str = "sales"):
    """Target and spend per channel over time (one row per panel coordinate)."""
    cells = panel_cells(data.panel)
    fig, axes = plt.subplots(len(cells), 2, figsize=(12, 3.2 * len(cells)), sharex=True, squeeze=False)
    for row, cell in zip(axes, cells):
        idx = cell_index(data, cell)
        row[0].plot(data.dates, data.y[(slice(None), *idx)], color="black", lw=1.2)
        row[0].set(title=titled("Target", cell), ylabel=f"{target_label} per {UNITS['period']}")
        for c, ch in enumerate(data.channels):
            row[1].plot(data.dates, data.spend[(slice(None), *idx, c)], lw=1, label=ch)
        row[1].set(title=titled("Media spend", cell), ylabel=f"spend per {UNITS['period']} ({UNITS['currency']})")
        legend_outside(row[1])
        for ax in row:
            ax.yaxis.set_major_formatter(THOUSANDS)
    for ax in axes[-1]:
        ax.set_xlabel(UNITS["period"])
    fig.tight_layout()
    return fig
