"""Figures of the data page: how the columns move together, and a simulated confounder against its proxy."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mmmhelpers.data import MMMData
from mmmhelpers.plots import MODEL, THOUSANDS, UNITS

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
