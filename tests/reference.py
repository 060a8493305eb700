"""Numpy references the tests compare the pytensor graphs against."""

from __future__ import annotations

import numpy as np


def numpy_adstock(x, w):
    """``out[t] = sum_l w[l] * x[t - l]`` (zeros before the start), looping over lags.

    ``x`` has time on axis 0, ``w`` lag on axis 0; the other axes broadcast (as ``transforms.lagged_sum``).
    """
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    out = np.zeros(np.broadcast_shapes(x.shape, (x.shape[0], *w.shape[1:])))
    for lag in range(min(w.shape[0], x.shape[0])):
        out[lag:] += w[lag] * x[: x.shape[0] - lag]
    return out
