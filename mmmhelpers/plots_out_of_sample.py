"""Figures of the out-of-sample page: the holdout around the train/test cut, the forecast, the full fit's
residuals, and the scores per forecast origin."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from mmmhelpers.data import MMMData
from mmmhelpers.intervals import HDI_PROB
from mmmhelpers.plots import ALERT, MODEL, THOUSANDS, UNITS, cell_index, panel_cells, predicted_vs_observed, titled

__all__ = ["plot_holdout", "plot_forecast", "plot_residuals", "plot_folds"]


def plot_holdout(pred: xr.Dataset, data: MMMData, train_end: int, context_weeks: int = 26):
    """Observed vs predicted around the train/test cut, with 50% and 94% bands."""
    window = slice(max(0, train_end - context_weeks), pred.sizes["date"])
    return predicted_vs_observed(pred["y_original_scale"], data, window, "Holdout forecast with carryover", MODEL,
                                  "predicted", cut=train_end,
                                  observed_style={"color": "black", "marker": ".", "ls": "-", "ms": 4, "lw": 0.8})


def plot_forecast(pred: xr.Dataset, data: MMMData, n_observed: int, context_weeks: int = 30):
    """The last observed weeks and the forecast after them, with 50% and 94% bands (``data``: the extended
    data of ``validate.forecast_data``, target NaN after the last observation)."""
    window = slice(max(0, n_observed - context_weeks), data.n_dates)
    return predicted_vs_observed(pred["y_original_scale"], data, window, "Forecast after the last observation",
                                  MODEL, "forecast", cut=n_observed, cut_label=f"first forecast {UNITS['period']}",
                                  observed_style={"color": "black", "marker": ".", "ls": "-", "ms": 4, "lw": 0.8})


def _acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = x - x.mean()
    denom = np.sum(x**2)
    return np.array([np.sum(x[lag:] * x[: len(x) - lag]) / denom for lag in range(max_lag + 1)])


def plot_residuals(idata, data: MMMData, max_lag: int = 20):
    """Residuals (observed − posterior-predictive mean) over time, their autocorrelation and distribution."""
    pp = idata.posterior_predictive["y_original_scale"].mean(("chain", "draw"))
    cells = panel_cells(data.panel)
    fig, axes = plt.subplots(len(cells), 3, figsize=(14, 3.2 * len(cells)), squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1, 1]})
    for row, cell in zip(axes, cells):
        resid = data.y[(slice(None), *cell_index(data, cell))] - pp.sel(cell).values
        row[0].axhline(0, color="grey", lw=1)
        row[0].plot(data.dates, resid, ".-", color=MODEL, lw=0.8, ms=3)
        row[0].set(title=titled("Residuals over time", cell), xlabel=UNITS["period"], ylabel="observed − predicted")
        row[0].yaxis.set_major_formatter(THOUSANDS)
        acf = _acf(resid, min(max_lag, len(resid) - 2))
        band = 1.96 / np.sqrt(len(resid))
        row[1].bar(np.arange(len(acf)), acf, color=MODEL, width=0.6)
        row[1].axhspan(-band, band, color="grey", alpha=0.2, label="±1.96/√n")
        row[1].set(title=titled("Autocorrelation", cell), xlabel=f"lag ({UNITS['period']}s)", ylabel="autocorrelation")
        sns.histplot(resid, kde=True, color=MODEL, ax=row[2], stat="count")
        row[2].axvline(0, color="grey", lw=1)
        row[2].set(title=titled("Residual distribution", cell), xlabel="observed − predicted", ylabel=f"{UNITS['period']}s")
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
