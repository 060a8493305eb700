"""Figures for sampler diagnostics (to be folded into ``plots`` later): divergent draws in a pair plot."""

from __future__ import annotations

import arviz as az
import matplotlib.pyplot as plt
import numpy as np

from mmmhelpers.diagnose import DivergenceReport, Hotspot, diverging_mask, rank_parameters
from mmmhelpers.plots import ALERT, legend_outside

__all__ = ["plot_divergence_pair"]


def _pair(idata: az.InferenceData, report: DivergenceReport) -> tuple[Hotspot, Hotspot]:
    """The two most implicated parameter elements (the report's hotspots, topped up from the ranking)."""
    chosen = list(report.hotspots[:2])
    for h in rank_parameters(idata):
        if len(chosen) == 2:
            break
        if h.parameter not in {c.parameter for c in chosen}:
            chosen.append(h)
    if len(chosen) < 2:
        raise ValueError("plot_divergence_pair: the posterior has fewer than two scalar parameters to plot")
    return chosen[0], chosen[1]


def _scale(ax, axis: str, x: np.ndarray) -> str:
    """Log axis for a positive parameter spanning more than a factor 20; returns the scale's name."""
    if np.all(x > 0) and x.max() > 20 * x.min():
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        return "log scale"
    return "model scale"


def plot_divergence_pair(idata: az.InferenceData, report: DivergenceReport):
    """Scatter of the two parameters most implicated in divergences; divergent draws in red, on top."""
    hx, hy = _pair(idata, report)
    x, y, div = hx.draws(idata), hy.draws(idata), diverging_mask(idata)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.scatter(x[~div], y[~div], s=6, color="0.55", alpha=0.35, lw=0, label=f"non-divergent draws ({int((~div).sum())})")
    ax.scatter(x[div], y[div], s=14, color=ALERT, alpha=0.9, lw=0, zorder=3, label=f"divergent draws ({int(div.sum())})")
    ax.set(title=f"Divergences: {report.share:.1%} of draws\n{hx.parameter} vs {hy.parameter}",
           xlabel=f"{hx.parameter} ({_scale(ax, 'x', x)})", ylabel=f"{hy.parameter} ({_scale(ax, 'y', y)})")
    legend_outside(ax)
    fig.tight_layout()
    return fig
