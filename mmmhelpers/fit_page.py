"""The fit page's tables: the scales the model divides by, every scalar parameter's summary, and the media
contributions (the ROAS table is :func:`mmmhelpers.contributions.roas_table`'s)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmmhelpers.intervals import HDI_PROB

__all__ = ["scales_table", "parameter_summary", "contribution_summary"]


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
