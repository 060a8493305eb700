"""Adstock and saturation as pytensor functions (numpy in, numpy-compatible; time is axis 0).

Parameters broadcast against ``x[0]`` (everything but time). Adstock is a vectorized sum of
``l_max`` lagged copies of ``x`` weighted by the kernel ``w[l]``: no Python loop in the graph's
time dimension, no ``set_subtensor`` scan.

Every transform is finite, with a finite gradient wrt ``x`` and every parameter, over its domain:
spend ``x >= 0`` with exact zeros (and up to 1e6 times its scale), parameters over their priors'
support (tests: the unit interval with its ends, 1e-8 to 1e4 for positive ones). Powers and logs
are taken of a *safe* argument (``switch(ok, a, 1)``) inside ``switch(ok, ..., limit)``, so the
untaken branch never puts ``0 * inf`` into the gradient; kernels that underflow are computed in log
space. Values are the textbook formulas' wherever those are finite and do not underflow on the way
(bit for bit for the geometric kernel and the logistic saturation, which the default case uses).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.signal import convolve1d

from mmmhelpers.registry import ADSTOCK_PARAMS, SATURATION_PARAMS, Kind, kinds_used

__all__ = [
    "ADSTOCKS",
    "SATURATIONS",
    "half_saturation",
    "adstock",
    "adstock_weights",
    "lagged_sum",
    "shifted_sum",
    "logistic_saturation",
    "michaelis_menten",
    "hill_saturation",
    "tanh_saturation",
    "evaluate",
    "ONE_OFF_MODE",
    "NUMPY_MODE",
]


@node_rewriter([Elemwise])
def _binary_add_mul(fgraph, node):
    """``add``/``mul`` of three or more inputs as a chain of two-input ones: numpy's ufuncs take two, and PyTensor's
    Python implementation of a wider one calls the scalar op once per element (``np.frompyfunc``): seconds where a
    ufunc takes milliseconds (``mul(-1, a, b)`` over 4,000 posterior draws, from the canonical form of ``-(a * b)``)."""
    if len(node.inputs) <= 2 or not isinstance(node.op.scalar_op, (ps.Add, ps.Mul)):
        return None
    binary = pt.add if isinstance(node.op.scalar_op, ps.Add) else pt.mul
    out = node.inputs[0]
    for x in node.inputs[1:]:
        out = binary(out, x)
    return [pt.cast(out, node.outputs[0].dtype)]


# PyTensor's mode for values computed once (simulated data, curves, prior and predictive draws, the deterministics
# of a trace): Python implementations through numpy, no C code compiled or loaded (see :func:`evaluate`).
_TWO_INPUT_ADD_MUL = (in2out(_binary_add_mul, name="binary_add_mul"), 99)  # after every other rewrite
ONE_OFF_MODE = get_mode("FAST_COMPILE").register(_TWO_INPUT_ADD_MUL)

# PyTensor's full rewrites (stabilization as when sampling) on numpy's IEEE arithmetic, for functions called many
# times on arrays large enough for numpy's per-call overhead to be small: a plan's response over the posterior draws,
# the gradient check. No C to compile: a new structure costs its rewrites (about a second), not the ~30 s of C a new
# function costs on an empty cache; warm, as fast as C here. No fused Composite ops (their Python fallback raises on
# 0.0 ** negative instead of giving inf, and runs per element).
NUMPY_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion").register(_TWO_INPUT_ADD_MUL)


def evaluate(graph) -> np.ndarray:
    """A graph's value computed once by numpy (PyTensor's FAST_COMPILE mode: Python implementations, no C).

    ``graph.eval()`` would compile C code, and the first time in a process load PyTensor's C module cache: about
    3 s with a thousand entries in the compiledir, paid by the CLI's checks and every notebook. Use this for
    one-off values (simulated data, curves); functions called many times are compiled (``pytensor.function``).
    """
    return np.asarray(graph.eval(mode=ONE_OFF_MODE))


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


def shifted_sum(x, weights):
    """The same as :func:`lagged_sum` as an explicit sum of ``l_max`` shifted copies: elementwise work, a few numpy
    calls over every draw at once for the optimizer's many evaluations (``NUMPY_MODE``; ``lagged_sum``'s batched
    convolution is fastest under numba, where the sampler runs, and loops over the batch in Python)."""
    x = pt.as_tensor_variable(x)
    weights = pt.as_tensor_variable(weights)
    l_max = weights.type.shape[0]
    if l_max is None:
        raise ValueError("adstock weights need a static lag length")
    nb = max(x.ndim, weights.ndim) - 1  # batch dims of both, aligned right (as lagged_sum)
    x = x.dimshuffle(0, *["x"] * (nb - x.ndim + 1), *range(1, x.ndim))
    weights = weights.dimshuffle(0, *["x"] * (nb - weights.ndim + 1), *range(1, weights.ndim))
    n = x.shape[0]
    padded = pt.concatenate([pt.zeros((l_max - 1, *(x.shape[i] for i in range(1, x.ndim))), dtype=x.dtype), x], axis=0)
    return sum(weights[lag] * padded[l_max - 1 - lag: l_max - 1 - lag + n] for lag in range(l_max))


def _lags(l_max: int, like):
    lags = pt.arange(l_max, dtype="float64")
    return lags.reshape((l_max,) + (1,) * like.ndim)


def geometric_weights(alpha, l_max: int):
    """``w[l] = alpha**l``.

    Lag 0 is ``1**0`` (exactly ``alpha**0``): pow's gradient ``l * alpha**(l - 1)`` would be ``0 * inf``
    there at ``alpha = 0``.
    """
    alpha = pt.as_tensor_variable(alpha)
    lags = _lags(l_max, alpha)
    return pt.power(pt.switch(pt.gt(lags, 0), alpha[None, ...], 1.0), lags)


def no_carryover_weights(l_max: int):
    """``w = [1, 0, ..., 0]``: each week's spend acts in that week only (no adstock)."""
    return pt.as_tensor_variable(np.eye(l_max)[0])


def _delayed_exponent(alpha, theta, l_max: int):
    lags = _lags(l_max, alpha + theta)
    return (lags - theta[None, ...]) ** 2


def delayed_weights(alpha, theta, l_max: int):
    """``w[l] = alpha**((l - theta)**2)`` (peak at lag ``theta``); at ``alpha = 0`` the limit ``[l == theta]``."""
    alpha, theta = pt.as_tensor_variable(alpha), pt.as_tensor_variable(theta)
    e = _delayed_exponent(alpha, theta, l_max)
    pos = pt.gt(alpha, 0)[None, ...]
    return pt.switch(pos, pt.power(pt.switch(pos, alpha[None, ...], 1.0), e), pt.eq(e, 0))


def _delayed_log_weights(alpha, theta, l_max: int):
    """``(l - theta)**2 * log(alpha)``; at ``alpha = 0`` the limit of the normalized kernel (lag(s) nearest theta)."""
    alpha, theta = pt.as_tensor_variable(alpha), pt.as_tensor_variable(theta)
    e = _delayed_exponent(alpha, theta, l_max)
    pos = pt.gt(alpha, 0)[None, ...]
    nearest = pt.switch(pt.eq(e, e.min(axis=0, keepdims=True)), 0.0, -np.inf)
    return pt.switch(pos, e * pt.log(pt.switch(pos, alpha[None, ...], 1.0)), nearest)


# (t / lam)**k >= e**600: the survival exp(-(t / lam)**k) is exactly 0 in float64, and e**600 leaves
# room to add up a few thousand of them without overflow.
_LOG_U_MAX = 600.0


def _weibull_u(lam, k, l_max: int):
    """``log t`` and ``u = (t / lam)**k`` at ``t = 1..l_max``, capped at ``e**600`` with a finite gradient."""
    lam, k = pt.as_tensor_variable(lam), pt.as_tensor_variable(k)
    t = _lags(l_max, lam + k) + 1.0
    ratio = t / lam[None, ...]
    ok = pt.lt(k[None, ...] * pt.log(ratio), _LOG_U_MAX)
    u = pt.switch(ok, pt.power(pt.switch(ok, ratio, 1.0), k[None, ...]), np.exp(_LOG_U_MAX))
    return pt.log(t), u, ok


def weibull_cdf_weights(lam, k, l_max: int):
    """Weibull-CDF kernel (as pymc-marketing): ``w[l] = prod_{i<=l+1} exp(-(i/lam)**k)``.

    As ``exp(-cumsum((i/lam)**k))``: a cumulative sum of log-survivals (cumprod's gradient divides by
    its factors, 0 when they underflow).
    """
    return pt.exp(_weibull_cdf_log_weights(lam, k, l_max))


def _weibull_cdf_log_weights(lam, k, l_max: int):
    """``log w[l] = -sum_{i<=l+1} (i/lam)**k``."""
    return -pt.cumsum(_weibull_u(lam, k, l_max)[1], axis=0)


def weibull_pdf_weights(lam, k, l_max: int):
    """Weibull-PDF kernel (as pymc-marketing): the pdf at lags ``1..l_max``, min-max scaled.

    Scaled in log space: with ``s = log pdf`` up to a constant, ``(pdf - lo) / (hi - lo)`` is
    ``expm1(s - s_min) / expm1(s_max - s_min)`` (nearly flat kernels) or
    ``(exp(s - s_max) - exp(s_min - s_max)) / -expm1(s_min - s_max)``; no underflow to ``0 / 0``. A flat
    kernel (``l_max = 1``) is all ones; when even ``(1/lam)**k`` exceeds ``e**600`` the pdf falls off
    at once: ``[1, 0, ...]``.
    """
    log_t, u, ok = _weibull_u(lam, k, l_max)
    k = pt.as_tensor_variable(k)
    s = (k[None, ...] - 1.0) * log_t - u
    s_max, s_min = s.max(axis=0, keepdims=True), s.min(axis=0, keepdims=True)
    d = s_max - s_min
    flat, near = pt.le(d, 0), pt.lt(d, 1.0)
    use_near = near & ~flat
    w_near = pt.expm1(pt.switch(use_near, s - s_min, 0.0)) / pt.expm1(pt.switch(use_near, d, 1.0))
    d_far = pt.switch(near, 1.0, d)
    w_far = (pt.exp(pt.switch(near, 0.0, s - s_max)) - pt.exp(-d_far)) / -pt.expm1(-d_far)
    w = pt.switch(flat, 1.0, pt.switch(near, w_near, w_far))
    first_lag = pt.eq(_lags(l_max, k), 0)
    return pt.switch(ok[:1], w, pt.cast(first_lag, w.dtype))


_DATA_ARGS = ("x", "l_max")  # a Component's non-parameter arguments


@dataclass(frozen=True)
class Component:
    """A transform: its parameter names, weight/response function and default priors.

    ``fn`` takes the parameters positionally in the order of ``params`` (after the data ``x`` for a
    saturation; before the keyword ``l_max`` for an adstock kernel). ``log_fn`` (adstock kernels
    only, optional) gives the log-weights up to a constant per series, finite where ``fn``
    underflows to all zeros; ``adstock_weights(normalize=True)`` then takes their softmax.
    """

    params: tuple[str, ...]
    fn: Callable
    defaults: dict
    log_fn: Callable | None = None

    def __post_init__(self):
        name = getattr(self.fn, "__name__", repr(self.fn))
        for fn in (self.fn, self.log_fn):
            if fn is None:
                continue
            args = tuple(p for p in inspect.signature(fn).parameters if p not in _DATA_ARGS)
            if args != tuple(self.params):
                missing, extra = set(args) - set(self.params), set(self.params) - set(args)
                detail = f"missing {sorted(missing)}" if missing else ""
                detail += ("; " if detail and extra else "") + (f"not in the signature {sorted(extra)}" if extra else "")
                raise TypeError(f"Component {name}: params {tuple(self.params)} do not match the signature of "
                                f"{getattr(fn, '__name__', fn)}{inspect.signature(fn)} (expects {args}, in this order"
                                f"{': ' + detail if detail else ''})")
        if set(self.defaults) != set(self.params):
            raise TypeError(f"Component {name}: default priors for {sorted(self.defaults)} but params are "
                            f"{list(self.params)}")


ADSTOCKS: dict[str, Component] = {
    "none": Component(ADSTOCK_PARAMS["none"], no_carryover_weights, {}),
    "geometric": Component(
        ADSTOCK_PARAMS["geometric"], geometric_weights,
        {"alpha": {"distribution": "Beta", "alpha": 1, "beta": 3, "dims": ["channel"]}},
    ),
    "delayed": Component(
        ADSTOCK_PARAMS["delayed"],
        delayed_weights,
        {
            "alpha": {"distribution": "Beta", "alpha": 1, "beta": 3, "dims": ["channel"]},
            "theta": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
        },
        _delayed_log_weights,
    ),
    "weibull_cdf": Component(
        ADSTOCK_PARAMS["weibull_cdf"],
        weibull_cdf_weights,
        {
            "lam": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
            "k": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
        },
        _weibull_cdf_log_weights,
    ),
    "weibull_pdf": Component(
        ADSTOCK_PARAMS["weibull_pdf"],
        weibull_pdf_weights,
        {
            "lam": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
            "k": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
        },
    ),
}


def channel_lags(spec, channels: list[str]) -> np.ndarray | None:
    """Each channel's own ``l_max`` (``model.adstock.l_max_by_channel``, else ``l_max``), or None when every channel
    carries over ``l_max`` periods (``spec``: the params' adstock section)."""
    if not any(ch in spec.l_max_by_channel for ch in channels):
        return None
    return np.array([spec.l_max_by_channel.get(ch, spec.l_max) for ch in channels])


def _lag_mask(lags: np.ndarray, l_max: int, ndim: int) -> np.ndarray:
    """``(l_max, 1, ..., len(lags))`` of ``ndim`` axes: True at the lags each last-axis entry carries over."""
    mask = np.arange(l_max)[:, None] < np.asarray(lags)[None, :]
    return mask.reshape((l_max,) + (1,) * (ndim - 2) + (len(lags),))


def _kind_mask(kinds: tuple[str, ...], kind: str) -> np.ndarray:
    """1.0 on the channels (last axis) of ``kind``, else 0.0."""
    return np.array([k == kind for k in kinds], dtype="float64")


def adstock_weights(kind: Kind, params: dict, l_max: int, normalize: bool, lags: np.ndarray | None = None):
    """Kernel ``w`` of shape ``(l_max, *param_shape)`` (normalized to sum one if asked).

    Normalized as the softmax of the component's log-weights when it has them (no ``0 / 0`` when all
    weights underflow), else as ``w / sum(w)`` (the kernels without log-weights have a weight of
    one; an all-zero kernel stays zero rather than ``0 / 0``). ``lags`` (one per entry of the parameters' last
    axis, the channel): each entry's own ``l_max``, its kernel cut there (and normalized over what is left).
    ``kind`` one per channel (``registry.Kind``): each channel's kernel is its own kind's (the parameters a kind lacks
    hold placeholders on its channels, in every kind's domain).
    """
    if not isinstance(kind, str):
        ndim = 1 + max([pt.as_tensor_variable(v).ndim for v in params.values()] + [0 if lags is None else 1])
        total = None
        for k in kinds_used(kind):
            w = adstock_weights(k, params, l_max, normalize, lags)
            w = w.dimshuffle(0, *["x"] * (ndim - w.ndim), *range(1, w.ndim)) if w.ndim < ndim else w
            part = w * _kind_mask(kind, k)
            total = part if total is None else total + part
        return total
    comp = ADSTOCKS[kind]
    args = [params[p] for p in comp.params]
    if normalize and comp.log_fn is not None:
        log_w = comp.log_fn(*args, l_max=l_max)
        if lags is not None:
            log_w = pt.switch(_lag_mask(lags, l_max, log_w.ndim), log_w, -np.inf)
        return pt.special.softmax(log_w, axis=0)
    w = comp.fn(*args, l_max=l_max)
    if lags is not None:
        w = w * _lag_mask(lags, l_max, w.ndim)
    if normalize:
        total = w.sum(axis=0, keepdims=True)
        w = w / pt.switch(pt.gt(total, 0), total, 1.0)
    return w


def adstock(x, kind: Kind, params: dict, l_max: int, normalize: bool = True):
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
    """``beta * x**slope / (kappa**slope + x**slope)``, 0 at ``x <= 0``.

    As ``beta * sigmoid(slope * (log x - log kappa))``: no ``x**slope`` to overflow (``inf / inf``), and
    at ``x = 0`` (zero-spend weeks) no ``d x**slope / dx = inf`` for ``slope < 1``, whose product with
    ``d x / d alpha = 0`` made the adstock parameters' gradients NaN.
    """
    x = pt.as_tensor_variable(x)
    pos = pt.gt(x, 0)
    x_safe = pt.switch(pos, x, 1.0)
    return pt.switch(pos, beta * pt.sigmoid(slope * (pt.log(x_safe) - pt.log(kappa))), 0.0)


def tanh_saturation(x, b, c):
    """``b * tanh(x / (b * c))``: ``b`` the ceiling, ``c`` the cost per unit at the origin."""
    return b * pt.tanh(pt.as_tensor_variable(x) / (b * c))


SATURATIONS: dict[str, Component] = {
    "logistic": Component(
        SATURATION_PARAMS["logistic"],
        logistic_saturation,
        {
            "lam": {"distribution": "Gamma", "alpha": 3, "beta": 1, "dims": ["channel"]},
            "beta": {"distribution": "HalfNormal", "sigma": 2, "dims": ["channel"]},
        },
    ),
    "michaelis_menten": Component(
        SATURATION_PARAMS["michaelis_menten"],
        michaelis_menten,
        {
            "alpha": {"distribution": "Gamma", "mu": 2, "sigma": 1, "dims": ["channel"]},
            "lam": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
        },
    ),
    "hill": Component(
        SATURATION_PARAMS["hill"],
        hill_saturation,
        {
            "slope": {"distribution": "HalfNormal", "sigma": 1.5, "dims": ["channel"]},
            "kappa": {"distribution": "HalfNormal", "sigma": 1.5, "dims": ["channel"]},
            "beta": {"distribution": "HalfNormal", "sigma": 1.5, "dims": ["channel"]},
        },
    ),
    "tanh": Component(
        SATURATION_PARAMS["tanh"],
        tanh_saturation,
        {
            "b": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
            "c": {"distribution": "HalfNormal", "sigma": 1, "dims": ["channel"]},
        },
    ),
}


def half_saturation(kind: Kind, params: dict) -> np.ndarray:
    """The (adstocked, channel-scaled) spend at which ``kind`` gives half its ceiling, in numpy: logistic
    ``ln 3 / lam``, Michaelis-Menten ``lam``, Hill ``kappa``, tanh ``b c atanh(1/2)`` (one kind per channel:
    each channel its own kind's)."""
    if not isinstance(kind, str):
        return sum(half_saturation(k, params) * _kind_mask(kind, k) for k in kinds_used(kind))
    if kind == "logistic":
        return np.log(3.0) / np.asarray(params["lam"])
    if kind == "michaelis_menten":
        return np.asarray(params["lam"])
    if kind == "hill":
        return np.asarray(params["kappa"])
    if kind == "tanh":
        return np.asarray(params["b"]) * np.asarray(params["c"]) * np.arctanh(0.5)
    raise ValueError(f"unknown saturation {kind!r}")


def saturation(x, kind: Kind, params: dict):
    """Saturated response of ``x`` under component ``kind`` (one kind per channel, the last axis: each channel its
    own kind's curve; the parameters a kind lacks hold placeholders on its channels, in every kind's domain)."""
    if not isinstance(kind, str):
        return sum(saturation(x, k, params) * _kind_mask(kind, k) for k in kinds_used(kind))
    comp = SATURATIONS[kind]
    return comp.fn(x, *(params[p] for p in comp.params))
