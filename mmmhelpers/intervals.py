"""The one interval every page reports: the 94% highest-density interval (arviz), its probability in one place."""

from __future__ import annotations

import arviz as az
import numpy as np

__all__ = ["HDI_PROB", "hdi", "mean_hdi"]

HDI_PROB = 0.94  # pymc-marketing's and arviz's default; the pages' "94% HDI", tables' "3%" and "97%"


def hdi(draws) -> list[float]:
    """The 94% HDI of a 1-D sample: ``[low, high]``."""
    lo, hi = az.hdi(np.asarray(draws, dtype=float), hdi_prob=HDI_PROB)
    return [float(lo), float(hi)]


def mean_hdi(draws) -> tuple[float, float, float]:
    """Mean and 94% HDI of a 1-D sample: ``(mean, low, high)``."""
    lo, hi = hdi(draws)
    return float(np.mean(draws)), lo, hi
