"""Figures for the report: every one has a title, labeled axes and units."""

from __future__ import annotations

import itertools

import arviz as az
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import seaborn as sns
import xarray as xr

from mmmhelpers.data import MMMData
from mmmhelpers.formatting import UNITS, set_units
from mmmhelpers.intervals import HDI_PROB

__all__ = ["bands", "cell_colors", "cell_index", "cell_name", "channel_colors", "date_rows_done", "finish", "figure_grid",
           "hdi_band", "legend_outside", "panel_cells", "plan_color", "predicted_vs_observed", "style",
           "titled", "ALERT", "CHANNEL_PALETTE", "MODEL", "PLAN_COLORS", "PRIOR", "THOUSANDS", "TRUTH", "UNITS",
           "VARIANT_COLORS"]

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


def panel_cells(panel: dict[str, list]) -> list[dict]:
    """Every panel coordinate as a ``{dim: value}`` dict (one empty dict for a single market)."""
    if not panel:
        return [{}]
    return [dict(zip(panel, combo)) for combo in itertools.product(*panel.values())]


def cell_name(cell: dict) -> str:
    return ", ".join(f"{v}" for v in cell.values()) or "all"


def titled(title: str, cell: dict) -> str:
    """``title (market)`` in a panel; just ``title`` for a single market."""
    return f"{title} ({cell_name(cell)})" if cell else title


def figure_grid(n: int, width: float = 11, height: float = 3.2, sharex: bool = True):
    fig, axes = plt.subplots(n, 1, figsize=(width, height * n), sharex=sharex, squeeze=False)
    return fig, axes[:, 0]


def date_rows_done(fig, axes):
    """Finish a figure of weekly series, one row per panel cell: legend beside the first row, week axis."""
    legend_outside(axes[0])
    axes[-1].set_xlabel(UNITS["period"])
    fig.tight_layout()
    return fig


def cell_index(data: MMMData, cell: dict) -> tuple:
    return tuple(data.panel[d].index(cell[d]) for d in data.panel)


def bands(ax, dates, draws: np.ndarray, color: str, label: str):
    """Median line with 50% and 94% central bands; ``draws`` is ``(sample, date)``.

    The median, not the mean: one prior draw of an exp-linked HSGP multiplier reached 2.8e11 against an observed
    maximum of 10,758 (time_varying_media), and its mean line was all the prior predictive check showed."""
    q = np.quantile(draws, [0.03, 0.25, 0.5, 0.75, 0.97], axis=0)
    ax.fill_between(dates, q[0], q[4], color=color, alpha=0.2, lw=0, label=f"{label} 94%")
    ax.fill_between(dates, q[1], q[3], color=color, alpha=0.35, lw=0, label=f"{label} 50%")
    ax.plot(dates, q[2], color=color, lw=1.2, label=f"{label} median")


def predicted_vs_observed(draws: xr.DataArray, data: MMMData, window: slice, title: str, color: str, label: str,
                           observed_style: dict, cut: int | None = None, cut_label: str = "train | test"):
    """One panel per coordinate: 50%/94% bands of ``draws`` (sample, date, ...) against the observed target."""
    dates = data.dates[window]
    fig, axes = figure_grid(len(panel_cells(data.panel)))
    for ax, cell in zip(axes, panel_cells(data.panel)):
        bands(ax, dates, draws.sel(cell).values[:, window], color, label)
        ax.plot(dates, data.y[(window, *cell_index(data, cell))], label="observed", **observed_style)
        if cut is not None:
            ax.axvline(data.dates[cut], color="grey", ls="--", lw=1.5, label=cut_label)
        ax.set(title=titled(title, cell), ylabel=f"{UNITS['target']} per {UNITS['period']}")
        ax.yaxis.set_major_formatter(THOUSANDS)
    return date_rows_done(fig, axes)
