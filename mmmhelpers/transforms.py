"""Adstock and saturation as pytensor functions (numpy in, numpy-compatible; time is axis 0).

Parameters broadcast against ``x[0]`` (everything but time). Adstock is a vectorized sum of
``l_max`` lagged copies of ``x`` weighted by the kernel ``w[l]``: no Python loop in the graph's
time dimension, no ``set_subtensor`` scan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytensor.tensor as pt
from pytensor.tensor.signal import convolve1d

__all__ = [
    "ADSTOCKS",
    "SATURATIONS",
    "adstock",
    "adstock_weights",
    "lagged_sum",
    "logistic_saturation",
    "michaelis_menten",
    "hill_saturation",
    "tanh_saturation",
]


def lagged_sum(x, weights):
    """``sum_l weights[l] * x[t - l]`` with zeros before the start; ``weights`` has lag on axis 0.

    One batched 1-D convolution (``pytensor.tensor.signal.convolve1d``, a Blockwise op with its own
    gradient and numba kernel) over the zero-padded series: the vectorized sum of lagged copies without
    materializing them. Batch dims (everything but time/lag) broadcast right-aligned.
    """
    x = pt.as_tensor_variable(x)
    weights = pt.as_tensor_variable(weights)
    l_max = weights.type.shape[0]
    if l_max is None:
        raise ValueError("adstock weights need a static lag length")
    xt = pt.moveaxis(x, 0, -1)  # (..., time)
    wt = pt.moveaxis(weights, 0, -1)  # (*param, lag)
    padded = pt.concatenate([pt.zeros((*(xt.shape[i] for i in range(xt.ndim - 1)), l_max - 1), dtype=x.dtype), xt],
                            axis=-1)
    return pt.moveaxis(convolve1d(padded, wt, mode="valid"), -1, 0)


def _lags(l_max: int, like):
    lags = pt.arange(l_max, dtype="float64")
    return lags.reshape((l_max,) + (1,) * like.ndim)


def geometric_weights(alpha, l_max: int):
    """``w[l] = alpha**l``."""
    alpha = pt.as_tensor_variable(alpha)
    return pt.power(alpha[None, ...], _lags(l_max, alpha))


def delayed_weights(alpha, theta, l_max: int):
    """``w[l] = alpha**((l - theta)**2)`` (peak at lag ``theta``)."""
    alpha, theta = pt.as_tensor_variable(alpha), pt.as_tensor_variable(theta)
    lags = _lags(l_max, alpha + theta)
    return pt.power(alpha[None, ...], (lags - theta[None, ...]) ** 2)


def weibull_cdf_weights(lam, k, l_max: int):
    """Weibull-CDF kernel (as pymc-marketing): ``w[l] = prod_{i<=l+1} exp(-(i/lam)**k)``."""
    lam, k = pt.as_tensor_variable(lam), pt.as_tensor_variable(k)
    t = _lags(l_max, lam + k) + 1.0
    survival = pt.exp(-pt.power(t / lam[None, ...], k[None, ...]))
    return pt.cumprod(survival, axis=0)


def weibull_pdf_weights(lam, k, l_max: int):
    """Weibull-PDF kernel (as pymc-marketing): the pdf at lags ``1..l_max``, min-max scaled."""
    lam, k = pt.as_tensor_variable(lam), pt.as_tensor_variable(k)
    t = _lags(l_max, lam + k) + 1.0
    ratio = t / lam[None, ...]
    pdf = (k / lam)[None, ...] * pt.power(ratio, k[None, ...] - 1) * pt.exp(-pt.power(ratio, k[None, ...]))
    lo, hi = pt.min(pdf, axis=0, keepdims=True), pt.max(pdf, axis=0, keepdims=True)
    return (pdf - lo) / (hi - lo)


@dataclass(frozen=True)
class Component:
    """A transform: its parameter names, weight/response function and default priors."""

    params: tuple[str, ...]
    fn: Callable
    defaults: dict


ADSTOCKS: dict[str, Component] = {
    "geometric": Component(
        ("alpha",), geometric_weights, {"alpha": {"distribution": "Beta", "alpha": 1, "beta": 3, "dims": ["channel"]}}
    ),
    "delayed": Component(
        ("alpha", "theta"),
        delayed_weights,
        {
            "alpha": {"distribution": "Beta", "alpha": 1, "beta": 3, "dims": ["channel"]},
            "theta": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
        },
    ),
    "weibull_cdf": Component(
        ("lam", "k"),
        weibull_cdf_weights,
        {
            "lam": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
            "k": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
        },
    ),
    "weibull_pdf": Component(
        ("lam", "k"),
        weibull_pdf_weights,
        {
            "lam": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
            "k": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
        },
    ),
}


def adstock_weights(kind: str, params: dict, l_max: int, normalize: bool):
    """Kernel ``w`` of shape ``(l_max, *param_shape)`` (normalized to sum one if asked)."""
    comp = ADSTOCKS[kind]
    w = comp.fn(*(params[p] for p in comp.params), l_max=l_max)
    if normalize:
        w = w / w.sum(axis=0, keepdims=True)
    return w


def adstock(x, kind: str, params: dict, l_max: int, normalize: bool = True):
    """Adstocked ``x`` (time on axis 0)."""
    return lagged_sum(x, adstock_weights(kind, params, l_max, normalize))


def logistic_saturation(x, lam, beta=1.0):
    """``beta * (1 - exp(-lam x)) / (1 + exp(-lam x))``."""
    e = pt.exp(-lam * pt.as_tensor_variable(x))
    return beta * (1 - e) / (1 + e)


def michaelis_menten(x, alpha, lam):
    """``alpha * x / (lam + x)``: ``alpha`` the ceiling, ``lam`` the half-saturation point."""
    x = pt.as_tensor_variable(x)
    return alpha * x / (lam + x)


def hill_saturation(x, slope, kappa, beta=1.0):
    """``beta * x**slope / (kappa**slope + x**slope)``."""
    xs = pt.power(pt.as_tensor_variable(x), slope)
    return beta * xs / (pt.power(kappa, slope) + xs)


def tanh_saturation(x, b, c):
    """``b * tanh(x / (b * c))``: ``b`` the ceiling, ``c`` the cost per unit at the origin."""
    return b * pt.tanh(pt.as_tensor_variable(x) / (b * c))


SATURATIONS: dict[str, Component] = {
    "logistic": Component(
        ("lam", "beta"),
        logistic_saturation,
        {
            "lam": {"distribution": "Gamma", "alpha": 3, "beta": 1, "dims": ["channel"]},
            "beta": {"distribution": "HalfNormal", "sigma": 2, "dims": ["channel"]},
        },
    ),
    "michaelis_menten": Component(
        ("alpha", "lam"),
        michaelis_menten,
        {
            "alpha": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
            "lam": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
        },
    ),
    "hill": Component(
        ("slope", "kappa", "beta"),
        hill_saturation,
        {
            "slope": {"distribution": "HalfNormal", "sigma": 1.5, "dims": ["channel"]},
            "kappa": {"distribution": "HalfNormal", "sigma": 1.5, "dims": ["channel"]},
            "beta": {"distribution": "HalfNormal", "sigma": 1.5, "dims": ["channel"]},
        },
    ),
    "tanh": Component(
        ("b", "c"),
        tanh_saturation,
        {
            "b": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
            "c": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
        },
    ),
}


def saturation(x, kind: str, params: dict):
    """Saturated response of ``x`` under component ``kind``."""
    comp = SATURATIONS[kind]
    return comp.fn(x, *(params[p] for p in comp.params))
