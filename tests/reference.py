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


def hand_contrib(mmm, idata, plan, history=None):
    """Numpy: history weeks, then the plan (period × channel), then l_max-1 zeros; normalized geometric adstock,
    logistic; contribution per draw and week after the history (original units)."""
    l_max = mmm.spec.adstock.l_max
    post = idata.posterior
    history = np.zeros((0, plan.shape[1])) if history is None else history
    out = []
    for d in range(post.sizes["draw"]):
        alpha, lam, beta = (post[v].values[0, d] for v in ("adstock_alpha", "saturation_lam", "saturation_beta"))
        series = np.r_[history, plan, np.zeros((l_max - 1, plan.shape[1]))] / mmm.channel_scale
        w = alpha[None] ** np.arange(l_max)[:, None]
        ad = numpy_adstock(series, w / w.sum(0))
        sat = beta * (1 - np.exp(-lam * ad)) / (1 + np.exp(-lam * ad))
        out.append((sat * mmm.target_scale)[len(history):])
    return np.array(out)  # (draw, period, channel)


def hand_response(mmm, idata, x, periods, history=None):
    plan = np.broadcast_to(x, (periods, len(x)))
    incr = hand_contrib(mmm, idata, plan, history) - hand_contrib(mmm, idata, 0 * plan, history)
    return incr.sum(axis=(1, 2))
