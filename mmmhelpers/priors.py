"""Priors: YAML dicts <-> ``pymc_extras.prior.Prior`` (plus two hierarchical shapes it lacks).

Accepted shapes of a prior in a params file:

* ``{distribution: Gamma, mu: 0.5, sigma: 0.25, dims: [channel], centered: true}``
* ``Prior.to_dict()``: ``{dist: Gamma, kwargs: {...}, dims: [...], centered: ...}``
* pymc-marketing's ``{special_prior: LogNormalPrior | LaplacePrior, kwargs: {...}, dims: [...]}``
* a plain number (a fixed value).

Parameters may themselves be priors (hierarchical models). Two extra shapes:
``LogNormal`` given by ``mean``/``std`` (non-centred as ``exp(log(mean) - s²/2 + s·z)``) and a
non-centred ``Laplace`` written as a normal scale mixture.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, fields
from typing import Any, Union, cast

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc_extras.prior import Censored, Prior, handle_dims
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorConstant

__all__ = [
    "MODEL_PRIORS",
    "PriorError",
    "LogNormalMeanStd",
    "LaplaceMixture",
    "parse_prior",
    "parse_likelihood",
    "prior_dims",
    "describe_prior",
    "create",
    "prior_data",
    "PriorNumber",
    "CheckedNumber",
    "number_problem",
    "likelihood_numbers_as_data",
    "widened",
    "family",
    "moment_matched",
    "scipy_distribution",
]

_META_KEYS = {"dims", "centered", "transform", "offsets"}

# The model-level priors a params file may set under ``model.priors`` (the registry of their names),
# with their defaults; adstock/saturation priors live with their components in ``transforms``.
MODEL_PRIORS: dict[str, dict] = {
    "intercept": {"distribution": "Normal", "mu": 0.5, "sigma": 0.5},
    "gamma_control": {"distribution": "Normal", "mu": 0, "sigma": 1, "dims": ["control"]},
    "gamma_fourier": {"distribution": "Laplace", "mu": 0, "b": 1, "dims": ["fourier_mode"]},
    "gamma_trend": {"distribution": "Normal", "mu": 0, "sigma": 0.5},
    "trend_delta": {"distribution": "Laplace", "mu": 0, "b": 0.05, "dims": ["changepoint"]},
    "gamma_weekday": {"distribution": "ZeroSumNormal", "sigma": 0.1, "dims": ["weekday"]},
    "gamma_holiday": {"distribution": "Normal", "mu": 0, "sigma": 0.2},
}


class PriorError(ValueError):
    """A prior spec that cannot be turned into a distribution; ``where`` names the field."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _as_dims(dims: Any) -> tuple[str, ...]:
    if dims is None:
        return ()
    if isinstance(dims, str):
        return (dims,)
    return tuple(dims)


def _create_param(value: Any, name: str, dims: tuple[str, ...]):
    """A parameter of a custom prior: a number, or a nested prior broadcast to ``dims``."""
    if hasattr(value, "create_variable"):
        var = value.create_variable(name)
        return handle_dims(var, _as_dims(value.dims), dims)
    if isinstance(value, Variable):  # a number as data (prior_data)
        return value
    return pt.as_tensor_variable(np.asarray(value, dtype=float))


@dataclass
class LogNormalMeanStd:
    """Log-normal given by its own mean and std (not the log-scale mu/sigma)."""

    mean: Any
    std: Any
    dims: tuple[str, ...] = ()
    centered: bool = False

    def create_variable(self, name: str):
        mean = _create_param(self.mean, f"{name}_mean", self.dims)
        std = _create_param(self.std, f"{name}_std", self.dims)
        s2 = pt.log1p((std / mean) ** 2)
        mu_log = pt.log(mean) - s2 / 2
        if self.centered:
            return pm.LogNormal(name, mu=mu_log, sigma=pt.sqrt(s2), dims=self.dims)
        z = pm.Normal(f"{name}_log_offset", 0.0, 1.0, dims=self.dims)
        return pm.Deterministic(name, pt.exp(mu_log + pt.sqrt(s2) * z), dims=self.dims)

    def to_dict(self) -> dict:
        return _fields_dict("LogNormal", self)


@dataclass
class LaplaceMixture:
    """pymc-marketing's non-centred ``LaplacePrior``: a normal scale mixture, var ~ Exp(1/(2b²)) and the value
    Normal(mu, sqrt(var)). The mixing variance ``<name>_sigma`` has the dims of ``b`` (one shared variance when
    ``b`` is a scalar).

    The prior is pymc-marketing's; the sampling form is ours. By default the values are sampled directly
    (centred), which mixes better when the data inform them, as weekly seasonality does
    (``benchmarks/laplace_mixture.py``: min ESS 489 -> 858 and sampling 53 -> 31 s on geo_hierarchical).
    ``offsets=True`` samples pymc-marketing's form instead, ``mu + sqrt(var)·z`` with ``z = <name>_offset``.
    """

    mu: Any = 0.0
    b: Any = 1.0
    dims: tuple[str, ...] = ()
    centered: bool = field(default=False)
    offsets: bool = False

    def create_variable(self, name: str):
        mu = _create_param(self.mu, f"{name}_mu", self.dims)
        b_dims = _as_dims(getattr(self.b, "dims", None))
        b = self.b.create_variable(f"{name}_b") if hasattr(self.b, "create_variable") else _create_param(self.b, "", ())
        var = pm.Exponential(f"{name}_sigma", scale=2 * b**2, dims=b_dims or None)
        sd = pt.sqrt(handle_dims(var, b_dims, self.dims))
        if not self.offsets:
            return pm.Normal(name, mu=mu, sigma=sd, dims=self.dims)
        z = pm.Normal(f"{name}_offset", 0.0, 1.0, dims=self.dims)
        return pm.Deterministic(name, mu + sd * z, dims=self.dims)

    def to_dict(self) -> dict:
        return _fields_dict("Laplace", self)


PriorLike = Union[Prior, Censored, LogNormalMeanStd, LaplaceMixture, float]


def _to_dict(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


def _as_dict(spec: Any) -> Any:
    """A prior object (``Prior`` or one of the custom shapes above) as its params-file dict; anything else as is."""
    if isinstance(spec, LogNormalMeanStd):
        return _fields_dict("LogNormal", spec)
    if isinstance(spec, LaplaceMixture):
        return _fields_dict("Laplace", spec)
    return spec.to_dict() if isinstance(spec, Prior) else spec


def _fields_dict(distribution: str, prior) -> dict:
    """The params-file dict of one of the custom priors above (parameters nested as dicts)."""
    out: dict[str, Any] = {"distribution": distribution}
    for f in fields(prior):
        value = getattr(prior, f.name)
        out[f.name] = list(value) if f.name == "dims" else _to_dict(value)
    return out


def _dist_parameters(distribution: str, where: str) -> set[str]:
    dist = getattr(pm, distribution, None)
    if not (inspect.isclass(dist) and issubclass(dist, pm.Distribution)):
        raise PriorError(where, f"unknown distribution {distribution!r} (not a pymc distribution)")
    # pymc ships no types: the checks leave mypy a type[object], which has no .dist
    return set(inspect.signature(cast(Any, dist).dist).parameters) - {"args", "kwargs", "kwds", "size"}


def _split(spec: dict, where: str) -> tuple[str, dict, dict]:
    """Normalize the three dict shapes to (distribution, parameters, meta), each part checked for its type."""
    dist, params, meta = _split_shape(spec, where)
    if not isinstance(dist, str):
        raise PriorError(where, f"distribution: expected a name such as 'Normal', got {dist!r}")
    if not isinstance(params, dict):
        raise PriorError(where, f"kwargs: expected a mapping of parameters, got {params!r}")
    dims = meta.get("dims")
    if not (dims is None or isinstance(dims, str)
            or (isinstance(dims, (list, tuple)) and all(isinstance(d, str) for d in dims))):
        raise PriorError(where, f"dims: expected a list of dim names such as [channel], got {dims!r}")
    return dist, params, meta


def _copied(params: Any) -> Any:
    return dict(params) if isinstance(params, dict) else params


def _split_shape(spec: dict, where: str) -> tuple[str, dict, dict]:
    spec = dict(spec)
    if "special_prior" in spec:
        name = spec.pop("special_prior")
        params = _copied(spec.pop("kwargs", {}) or {})
        meta = {k: spec.pop(k) for k in list(spec) if k in _META_KEYS}
        meta.setdefault("centered", False)
        if spec:
            raise PriorError(where, f"unknown keys {sorted(spec)} in special prior")
        dist = {"LogNormalPrior": "LogNormal", "LaplacePrior": "Laplace"}.get(name)
        if dist is None:
            raise PriorError(where, f"unknown special_prior {name!r} (LogNormalPrior | LaplacePrior)")
        if dist == "LogNormal" and isinstance(params, dict) and {"mu", "sigma"} <= set(params):
            params = {"mean": params.pop("mu"), "std": params.pop("sigma"), **params}
        return dist, params, meta
    if "dist" in spec:
        dist = spec.pop("dist")
        params = _copied(spec.pop("kwargs", {}) or {})
        meta = {k: spec.pop(k) for k in list(spec) if k in _META_KEYS}
        if spec:
            raise PriorError(where, f"unknown keys {sorted(spec)} (Prior.to_dict shape)")
        return dist, params, meta
    if "distribution" in spec:
        dist = spec.pop("distribution")
        meta = {k: spec.pop(k) for k in list(spec) if k in _META_KEYS}
        return dist, spec, meta
    raise PriorError(where, f"a prior needs 'distribution' (or 'dist'/'special_prior'); got {spec!r}")


# the parameter that sets a family's spread with its centre kept (scaled by the widening factor)
_SPREAD = {"Normal": "sigma", "HalfNormal": "sigma", "TruncatedNormal": "sigma", "StudentT": "sigma",
           "HalfStudentT": "sigma", "Laplace": "b", "Cauchy": "beta", "HalfCauchy": "beta", "Gumbel": "beta",
           "Logistic": "s", "LogNormal": "sigma", "Gamma": "sigma", "InverseGamma": "sigma", "Weibull": "beta",
           "Exponential": "scale", "ZeroSumNormal": "sigma"}


def _widened_params(dist: str, params: dict, k: float, where: str) -> dict:
    """A family's numeric parameters with its spread ``k`` times wider, its centre kept where the family can."""
    p = dict(params)
    num = {n: v for n, v in p.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if dist == "LogNormal" and "std" in num:
        p["std"] = num["std"] * k
    elif dist in ("Gamma", "InverseGamma") and {"alpha", "beta"} <= set(num):  # mean kept, sd times k
        p["alpha"], p["beta"] = num["alpha"] / k**2, num["beta"] / k**2
    elif dist == "Beta" and {"alpha", "beta"} <= set(num):  # mean kept, sd times k, never U-shaped (both >= 1)
        a, b = num["alpha"], num["beta"]
        m = a / (a + b)
        c = max((a + b + 1) / k**2 - 1, 1 / min(m, 1 - m), 0.0)
        p["alpha"], p["beta"] = min(a, m * c), min(b, (1 - m) * c)
    elif dist == "Beta" and {"mu", "sigma"} <= set(num):
        p["sigma"] = min(num["sigma"] * k, 0.99 * np.sqrt(num["mu"] * (1 - num["mu"]) / 3))
    elif dist == "Exponential" and "lam" in num:
        p["lam"] = num["lam"] / k
    elif dist == "Uniform" and {"lower", "upper"} <= set(num):
        mid, half = (num["lower"] + num["upper"]) / 2, (num["upper"] - num["lower"]) / 2 * k
        p["lower"], p["upper"] = mid - half, mid + half
    elif _SPREAD.get(dist) in num:
        p[_SPREAD[dist]] = num[_SPREAD[dist]] * k
    elif not any(isinstance(v, dict) for v in p.values()):
        raise PriorError(where, f"cannot widen a {dist} prior with parameters {sorted(p)} "
                         f"(widens: {sorted({*_SPREAD, 'Beta', 'Uniform'})})")
    return p


def widened(spec: Any, k: float, where: str = "prior") -> Any:
    """A params prior with its spread ``k`` times wider (``model.media_prior_widen``): each family's scale
    parameter times ``k`` with its centre kept (a Gamma or Beta by its concentration; a Beta never past flat-
    or-unimodal), hyperpriors widened in turn. A number (a fixed value) stays; ``k == 1`` returns ``spec``."""
    if k == 1 or not isinstance(spec, (dict, Prior, LogNormalMeanStd, LaplaceMixture)):
        return spec
    dist, params, meta = _split(_as_dict(spec), where)
    params = {n: widened(v, k, f"{where}.{n}") if isinstance(v, dict) else v for n, v in params.items()}
    return {"distribution": dist, **_widened_params(dist, params, k, where), **meta}


# moment matching (``moment_matched``): the family a prior's posterior is carried in, by the prior's own family
_AS_NORMAL = {"Normal", "StudentT", "Cauchy", "ZeroSumNormal", "Logistic", "Gumbel", "SkewNormal", "Flat"}
_AS_GAMMA = {"Gamma", "HalfNormal", "HalfCauchy", "HalfStudentT", "Exponential", "Weibull", "InverseGamma", "HalfFlat",
             "ChiSquared"}  # positive: one-parameter families have no second moment to match
_AS_TRUNCATED = {"TruncatedNormal", "Uniform"}  # bounded: the bounds kept


def family(spec: Any, where: str = "prior") -> tuple[str, dict]:
    """A params prior's top distribution and its parameters (numbers or nested priors)."""
    spec = _as_dict(spec)
    if not isinstance(spec, dict):
        raise PriorError(where, f"a fixed value ({spec!r}) has no family to carry a posterior in")
    dist, params, _ = _split(spec, where)
    return dist, params


def _truncated_normal(mean: float, sd: float, lower: float, upper: float, where: str) -> tuple[float, float]:
    """The (mu, sigma) of the normal that, truncated to [lower, upper], has this mean and sd (solved numerically)."""
    from scipy.optimize import least_squares
    from scipy.stats import truncnorm

    def gap(x: np.ndarray) -> np.ndarray:
        mu, sigma = x[0], np.exp(x[1])
        dist = truncnorm((lower - mu) / sigma, (upper - mu) / sigma, loc=mu, scale=sigma)
        return np.array([(dist.mean() - mean) / sd, dist.std() / sd - 1.0])

    fit = least_squares(gap, [mean, np.log(sd)], xtol=1e-12, ftol=1e-12, gtol=1e-12)
    if not np.all(np.abs(fit.fun) < 1e-6):
        raise PriorError(where, f"no truncated normal on [{lower}, {upper}] has mean {mean:.4g} and sd {sd:.4g}")
    return float(fit.x[0]), float(np.exp(fit.x[1]))


def moment_matched(spec: Any, mean: Any, sd: Any, dims: tuple[str, ...] = (), where: str = "prior") -> dict:
    """A prior in ``spec``'s family (a params dict) with the given mean and sd, elementwise over ``dims``.

    The family carries the parameter's domain: Beta and LogNormal and TruncatedNormal (bounds kept) by their two
    parameters, Normal and Laplace by location and scale; a positive family with one parameter (HalfNormal,
    Exponential, ...) becomes a Gamma, a Uniform a TruncatedNormal on its bounds, a ZeroSumNormal or StudentT a Normal.
    Hyperpriors are not carried: each element gets its own numbers (a hierarchical prior flattened)."""
    dist, params = family(spec, where)
    m, s = np.asarray(mean, float), np.asarray(sd, float)
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise PriorError(where, f"a posterior with mean {m} and sd {s} has no prior to match (a finite mean and a "
                         "positive sd are needed)")

    def out(name: str, **values: np.ndarray) -> dict:
        return {"distribution": name, **{k: (v.tolist() if v.ndim else float(v)) for k, v in values.items()},
                **({"dims": list(dims)} if dims else {})}

    if dist in _AS_NORMAL:
        return out("Normal", mu=m, sigma=s)
    if dist == "Laplace":
        return out("Laplace", mu=m, b=s / np.sqrt(2))
    if dist == "LogNormal" or dist in _AS_GAMMA:
        if np.any(m <= 0):
            raise PriorError(where, f"a {dist} prior's posterior has a mean of {m.min():.4g}: not positive")
        if dist == "LogNormal":
            log_var = np.log1p((s / m) ** 2)
            return out("LogNormal", mu=np.log(m) - log_var / 2, sigma=np.sqrt(log_var))
        return out("Gamma", alpha=m**2 / s**2, beta=m / s**2)
    if dist == "Beta":
        if np.any((m <= 0) | (m >= 1) | (s**2 >= m * (1 - m))):
            raise PriorError(where, f"no Beta has mean {m} and sd {s}")
        concentration = m * (1 - m) / s**2 - 1
        return out("Beta", alpha=m * concentration, beta=(1 - m) * concentration)
    if dist in _AS_TRUNCATED:
        lower, upper = (float(params.get(b, default)) for b, default in (("lower", -np.inf), ("upper", np.inf)))
        solved = [_truncated_normal(a, b, lower, upper, where) for a, b in zip(m.ravel(), s.ravel())]
        mu, sigma = (np.reshape([x[i] for x in solved], m.shape) for i in (0, 1))
        bounds = {k: np.asarray(v) for k, v in (("lower", lower), ("upper", upper)) if np.isfinite(v)}
        return out("TruncatedNormal", mu=mu, sigma=sigma, **bounds)
    raise PriorError(where, f"no moment match for a {dist} prior (matched: Beta, LogNormal, Laplace, TruncatedNormal, "
                     f"Uniform, {', '.join(sorted(_AS_NORMAL | _AS_GAMMA))})")


def scipy_distribution(spec: dict):
    """The scipy distribution of a prior :func:`moment_matched` returns (its parameters elementwise), for its CDF."""
    import scipy.stats as st

    dist, params = family(spec)
    p = {k: np.asarray(v, float) for k, v in params.items()}
    if dist == "Normal":
        return st.norm(p["mu"], p["sigma"])
    if dist == "Laplace":
        return st.laplace(p["mu"], p["b"])
    if dist == "LogNormal":
        return st.lognorm(s=p["sigma"], scale=np.exp(p["mu"]))
    if dist == "Gamma":
        return st.gamma(a=p["alpha"], scale=1 / p["beta"])
    if dist == "Beta":
        return st.beta(p["alpha"], p["beta"])
    if dist == "TruncatedNormal":
        lower, upper = p.get("lower", -np.inf), p.get("upper", np.inf)
        return st.truncnorm((lower - p["mu"]) / p["sigma"], (upper - p["mu"]) / p["sigma"], p["mu"], p["sigma"])
    raise PriorError("prior", f"no scipy form for a {dist} prior")


def parse_prior(spec: Any, where: str = "prior") -> PriorLike:
    """Turn a params-file prior into a ``Prior`` (or custom factory, or a number)."""
    if isinstance(spec, (Prior, Censored, LogNormalMeanStd, LaplaceMixture)):
        return spec
    if isinstance(spec, bool):
        raise PriorError(where, f"expected a number or a prior, got {spec!r}")
    if isinstance(spec, (int, float)):
        return float(spec)
    if isinstance(spec, (list, tuple)):
        try:
            return np.asarray(spec, dtype=float)
        except (TypeError, ValueError):
            raise PriorError(where, f"expected numbers, got {list(spec)!r}") from None
    if not isinstance(spec, dict):
        raise PriorError(where, f"expected a number or a prior mapping, got {spec!r}")
    if spec.get("class") == "Censored" or spec.get("distribution") == "Censored":
        return _censored(spec, where)
    dist, params, meta = _split(spec, where)
    dims = _as_dims(meta.get("dims"))
    centered = bool(meta.get("centered", True))
    parsed = {k: parse_prior(v, f"{where}.{k}") for k, v in params.items()}
    if dist == "LogNormal" and {"mean", "std"} <= set(parsed):
        extra = set(parsed) - {"mean", "std"}
        if extra:
            raise PriorError(where, f"unknown parameters {sorted(extra)} for LogNormal(mean, std)")
        return LogNormalMeanStd(parsed["mean"], parsed["std"], dims=dims, centered=centered)
    if dist == "Laplace" and not centered:
        extra = set(parsed) - {"mu", "b"}
        if extra:
            raise PriorError(where, f"unknown parameters {sorted(extra)} for Laplace(mu, b)")
        return LaplaceMixture(parsed.get("mu", 0.0), parsed.get("b", 1.0), dims=dims,
                              offsets=bool(meta.get("offsets", False)))
    allowed = _dist_parameters(dist, where)
    unknown = set(parsed) - allowed
    if unknown:
        raise PriorError(where, f"unknown parameters {sorted(unknown)} for {dist} (allowed: {sorted(allowed)})")
    try:
        return Prior(dist, dims=dims or None, centered=centered, transform=meta.get("transform"), **parsed)
    except Exception as err:  # pymc-extras' own validation (e.g. centered=False on Gamma)
        raise PriorError(where, f"{type(err).__name__}: {err}") from err


def _censored(spec: dict, where: str) -> Censored:
    """``{distribution: Censored, dist: <prior>, lower: 0, upper: ...}`` or ``Censored.to_dict()``'s shape:
    a likelihood observed only within [lower, upper] (values outside are recorded at the bound)."""
    body = dict(spec.get("data", {})) if "class" in spec else {k: v for k, v in spec.items() if k != "distribution"}
    unknown = set(body) - {"dist", "lower", "upper"}
    if unknown or "dist" not in body:
        raise PriorError(where, f"Censored takes dist (a prior), lower and upper; got keys {sorted(body)}")
    inner = parse_prior(body["dist"], f"{where}.dist")
    if not isinstance(inner, Prior):
        raise PriorError(f"{where}.dist", f"expected a distribution to censor, got {body['dist']!r}")
    try:
        return Censored(inner, lower=body.get("lower", -np.inf), upper=body.get("upper", np.inf))
    except Exception as err:  # pymc-extras' own validation
        raise PriorError(where, f"{type(err).__name__}: {err}") from err


def parse_likelihood(spec: Any, where: str = "model.likelihood") -> Prior | Censored:
    """``model.likelihood``: the distribution the target is observed with, a ``Prior`` or ``Censored`` (the custom
    priors, LogNormal by mean and std and the non-centred Laplace, have no likelihood form)."""
    lik = parse_prior(spec, where)
    if not isinstance(lik, (Prior, Censored)):
        raise PriorError(where, f"expected a distribution of the target (e.g. Normal or StudentT), got {spec!r}")
    return lik


def prior_dims(prior: Any) -> set[str]:
    """All dims a prior and its nested parameters use."""
    if isinstance(prior, Censored):
        return prior_dims(prior.distribution)
    if isinstance(prior, (Prior, LogNormalMeanStd, LaplaceMixture)):
        out = set(_as_dims(prior.dims))
        children = prior.parameters.values() if isinstance(prior, Prior) else vars(prior).values()
        for child in children:
            out |= prior_dims(child)
        return out
    return set()


def with_dims(prior: PriorLike, dims: tuple[str, ...]) -> PriorLike:
    """A copy of ``prior`` whose own dims are ``dims`` (parents keep theirs)."""
    if isinstance(prior, Prior):
        new = prior.deepcopy()
        new.dims = dims
        return new
    if isinstance(prior, (LogNormalMeanStd, LaplaceMixture)):
        return type(prior)(**{**vars(prior), "dims": dims})
    return prior


def describe_prior(prior: Any) -> str:
    """One-line human description, e.g. ``Gamma(mu=0.5, sigma=0.25)``."""
    if isinstance(prior, Prior):
        args = ", ".join(f"{k}={describe_prior(v)}" for k, v in prior.parameters.items())
        tail = "" if prior.centered else ", non-centred"
        return f"{prior.distribution}({args}{tail})"
    if isinstance(prior, Censored):
        return f"Censored({describe_prior(prior.distribution)}, lower={prior.lower:g}, upper={prior.upper:g})"
    if isinstance(prior, LogNormalMeanStd):
        return f"LogNormal(mean={describe_prior(prior.mean)}, std={describe_prior(prior.std)}, non-centred)"
    if isinstance(prior, LaplaceMixture):
        return f"Laplace(mu={describe_prior(prior.mu)}, b={describe_prior(prior.b)}, normal scale mixture)"
    if isinstance(prior, np.ndarray):
        return np.array2string(prior, precision=3)
    return f"{prior:.3g}" if isinstance(prior, float) else str(prior)


class PriorNumber(TensorConstant):
    """A number of a prior (or another number of the model that is not its structure): a constant to PyMC (its
    forward sampling treats it as fixed), data to the compiled sampler (``compile.numbers_as_data``)."""


class CheckedNumber(PriorNumber):
    """A :class:`PriorNumber` that PyMC's checks of its distribution's parameters passed when the model was built
    (:func:`number_problem`): the compiled sampler need not check it at every evaluation."""


def prior_data(value: Any, name: str, checked: bool = False) -> PriorNumber:
    """``value`` as a :class:`PriorNumber` named ``name``. A model that differs from another only in such numbers
    (an analyst trying other priors, a refresh carrying the last posterior) loads the other's compiled code:
    ``compile``'s key holds their names and shapes, not their values."""
    value = np.asarray(value, dtype=float)
    return (CheckedNumber if checked else PriorNumber)(pt.TensorType("float64", shape=value.shape), value, name=name)


@functools.lru_cache(maxsize=1024)
def _refused(distribution: str, numbers: tuple, nested: tuple[str, ...]) -> str | None:
    """PyMC's own check of ``distribution``'s parameters ``numbers`` (name, shape, values), the ``nested`` ones
    (priors themselves) set to 1: its log density at its support point, evaluated once. The check's message when a
    number is out of its domain, "" when none is, None when it could not be evaluated or failed with nested
    parameters (whose stand-in value may be what it refused: the compiled sampler keeps the checks)."""
    from pymc.distributions.distribution import support_point
    from pymc.logprob.utils import ParameterValueError

    kw = {k: np.reshape(np.asarray(v, float), shape) for k, shape, v in numbers} | {k: np.asarray(1.0) for k in nested}
    try:
        rv = getattr(pm, distribution).dist(**kw)
        pytensor.function([], pm.logp(rv, support_point(rv)), mode="FAST_COMPILE")()
    except ParameterValueError as err:
        return None if nested else str(err).splitlines()[0]
    except Exception:  # noqa: BLE001 - a form the check cannot build: the compiled sampler keeps PyMC's checks
        return None
    return ""


def _check(prior: Prior) -> str | None:
    numbers = tuple((k, np.shape(v), tuple(np.ravel(v))) for k, v in prior.parameters.items()
                    if not hasattr(v, "create_variable"))
    nested = tuple(k for k, v in prior.parameters.items() if hasattr(v, "create_variable"))
    return _refused(prior.distribution, numbers, nested)


def number_problem(prior: Any) -> str | None:
    """What PyMC's parameter checks refuse in ``prior``'s numbers (its nested priors' too), e.g. ``sigma > 0``, or
    None: a prior whose sigma is -1 is an error at load time, not a sampler that fails to start."""
    if isinstance(prior, Censored):
        return number_problem(prior.distribution)
    if isinstance(prior, (LogNormalMeanStd, LaplaceMixture)):
        for key in ("mean", "std", "b"):
            value = getattr(prior, key, None)
            if value is not None and not hasattr(value, "create_variable") and np.any(np.asarray(value) <= 0):
                return f"{key} > 0"
            if hasattr(value, "create_variable") and (problem := number_problem(value)):
                return problem
        return None
    if not isinstance(prior, Prior):
        return None
    for value in prior.parameters.values():
        if hasattr(value, "create_variable") and (problem := number_problem(value)):
            return problem
    return _check(prior) or None


def _numbers_as_data(prior: Any, name: str) -> Any:
    """``prior`` with every number among its (nested) parameters made :func:`prior_data`, named
    ``<variable>.<parameter>`` after the variable each parameter belongs to; checked (:class:`CheckedNumber`) when
    PyMC's checks of the distribution's parameters pass, an error naming the variable when they fail."""
    if isinstance(prior, Prior):
        if not issubclass(prior.pymc_distribution, pm.Continuous):
            return prior  # a discrete distribution's integer parameters stay constants
        status = _check(prior)
        if status:
            raise PriorError(name, f"{describe_prior(prior)}: its parameters must satisfy {status}")
        params = {k: _numbers_as_data(v, f"{name}_{k}") if hasattr(v, "create_variable") else
                  prior_data(v, f"{name}.{k}", checked=status == "") for k, v in prior.parameters.items()}
        return Prior(prior.distribution, dims=prior.dims, centered=prior.centered, transform=prior.transform,
                     core_dims=prior.core_dims, **params)
    if isinstance(prior, (LogNormalMeanStd, LaplaceMixture)):
        numbers = {f.name: prior_data(getattr(prior, f.name), f"{name}.{f.name}") for f in fields(prior)
                   if f.name in ("mean", "std", "mu", "b") and not hasattr(getattr(prior, f.name), "create_variable")}
        return type(prior)(**{**vars(prior), **numbers})
    return prior


def likelihood_numbers_as_data(lik: Prior | Censored, name: str) -> Prior | Censored:
    """The likelihood ``lik`` of variable ``name`` with the numbers of its parameters' priors as data (a censored
    likelihood's bounds stay part of the model's structure)."""
    if isinstance(lik, Censored):
        return Censored(_numbers_as_data(lik.distribution, name), lower=lik.lower, upper=lik.upper)
    return _numbers_as_data(lik, name)


def create(name: str, prior: PriorLike, dims: tuple[str, ...] | None = None):
    """Create the model variable ``name`` (dims default to the prior's own); the prior's numbers are data
    (:func:`prior_data`), as is a fixed value."""
    if dims is not None:
        prior = with_dims(prior, dims)
    if hasattr(prior, "create_variable"):
        return _numbers_as_data(prior, name).create_variable(name)
    return prior_data(prior, f"{name}.value")
