"""The one interval every page reports: the 94% highest-density interval (arviz), its probability in one place."""

from __future__ import annotations

import arviz as az
import numpy as np

__all__ = ["HDI_PROB", "LIKELY", "hdi", "mean_hdi", "as_probability"]

HDI_PROB = 0.94  # pymc-marketing's and arviz's default; the pages' "94% HDI", tables' "3%" and "97%"
LIKELY = 0.8  # P(gain > 0) from which a page calls a plan's win likely (below it: a hypothesis to test)


def hdi(draws) -> list[float]:
    """The 94% HDI of a 1-D sample: ``[low, high]``."""
    lo, hi = az.hdi(np.asarray(draws, dtype=float), hdi_prob=HDI_PROB)
    return [float(lo), float(hi)]


def mean_hdi(draws) -> tuple[float, float, float]:
    """Mean and 94% HDI of a 1-D sample: ``(mean, low, high)``."""
    lo, hi = hdi(draws)
    return float(np.mean(draws)), lo, hi


def as_probability(p: float) -> str:
    """A probability estimated from posterior draws, in words a client can quote: a whole percent, but never 0% or
    100% (a finite number of draws cannot show certainty): ``<1%`` and ``>99%`` at the ends."""
    if p != p:  # NaN
        return "–"
    if p > 0.99:
        return ">99%"
    if p < 0.01:
        return "<1%"
    return f"{p:.0%}"
