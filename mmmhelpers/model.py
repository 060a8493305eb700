"""Build the PyMC marketing-mix model from a ``model:`` spec and ``MMMData``.

Names follow pymc-marketing (see docs/params.md): ``adstock_*``, ``saturation_*``,
``intercept_contribution``, ``gamma_control``, ``gamma_fourier``, ``y_sigma``, deterministics
``channel_contribution`` (model scale) and ``channel_contribution_original_scale``.
All data enter through ``pm.Data`` so one compiled model serves new dates (holdout, CV).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc_extras.prior import handle_dims

from mmmhelpers.config import HSGPSpec, ModelSpec, ScalingSpec, TrendSpec, organic_prior_keys, organic_prior_problems
from mmmhelpers.data import WEEKDAYS, MMMData, fourier_features, fourier_modes, holiday_days, max_scales
from mmmhelpers.priors import (
    MODEL_PRIORS,
    PriorError,
    create,
    describe_prior,
    likelihood_numbers_as_data,
    parse_likelihood,
    parse_prior,
    prior_data,
    widened,
)
from mmmhelpers.registry import (
    KNOWLEDGE_PRIOR_KEYS,
    KNOWLEDGE_PRIORS,
    MEDIA_PARAMS,
    SATURATION_CEILING,
    Kind,
    kind_params,
    kinds_used,
)
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS, adstock_weights, channel_lags, lagged_sum, saturation

__all__ = ["MMM", "Inputs", "build_model", "media_contribution", "model_graph", "scales",
           "unknown_prior_channels"]

WEEKS_PER_YEAR = 365.25 / 7  # the time index is in weeks (daily data too)
MARGINAL_STEP = 0.01  # a marginal ROAS is the return on this share more spend in every period (Meridian: 1%)


@dataclass(frozen=True)
class HSGPBasis:
    """The Hilbert-space basis of an HSGP over time (PyMC's ``HSGP.prior_linearized``), computed in numpy: the
    sines depend on the dates only, so they enter the model as data rather than being recomputed at every
    gradient (on an m = 200 basis over 179 weeks they were most of it: sampling took 239 s, now 15 s)."""

    centre: float  # weeks: the midpoint of the build dates (PyMC's X_center)
    L: float  # boundary, weeks from the centre
    m: int
    centred: int = 0  # the slowest modes, whose weights are sampled centred (:func:`_hsgp`)

    @staticmethod
    def year_modes(L: float, m: int) -> int:
        """How many modes have a period ``4 L / j`` (weeks) of a year or more."""
        return min(m, int(4 * L / WEEKS_PER_YEAR))

    @property
    def omega(self) -> np.ndarray:
        """Square roots of the Laplacian's eigenvalues, ``(m, 1)`` as PyMC's covariance functions take them."""
        return np.sqrt(pm.gp.hsgp_approx.calc_eigenvalues(self.L, [self.m]))

    def phi(self, t: np.ndarray) -> np.ndarray:
        """The basis functions at times ``t`` (weeks), ``(len(t), m)``."""
        return np.sin(self.omega[:, 0] * (np.asarray(t, float)[:, None] - self.centre + self.L)) / np.sqrt(self.L)


@dataclass
class MMM:
    """A built model plus what is needed to feed it new data and read it back."""

    model: pm.Model
    spec: ModelSpec
    data: MMMData  # the data it was built (trained) on
    channel_scale: np.ndarray  # (*panel, channel)
    target_scale: np.ndarray  # (*panel)
    control_scale: np.ndarray  # (*panel, control): max |control|, so gamma_control is per max-scaled unit
    t0: pd.Timestamp  # time index origin (first training date)
    table: list[dict] = field(default_factory=list)  # model summary rows
    saturation_params: dict = field(default_factory=dict)  # tensors broadcastable to (*panel, channel)
    adstock_params: dict = field(default_factory=dict)  # the same for the adstock
    media_multiplier: Any = None  # the time-varying media multiplier, broadcastable to (date, *panel, channel)
    hsgp: dict[str, HSGPBasis] = field(default_factory=dict)  # each HSGP's basis, fixed at build time
    organic_scale: np.ndarray | None = None  # (*panel, organic): max of each organic series over the observed weeks
    compiled: dict = field(default_factory=dict)  # functions of the model compiled once per use (fit.with_deterministics)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.data.dims)

    def data_values(self, data: MMMData, rescale: bool = False) -> dict[str, np.ndarray]:
        """The ``pm.Data`` values for ``data``.

        By default scaled with the training scales (prediction on new dates). ``rescale=True``
        computes the scales of ``data`` itself: a new dataset of the same shape (replicate fits).
        """
        if rescale:
            channel_scale, target_scale, control_scale = scales(data, self.spec.scaling)
        else:
            channel_scale, target_scale, control_scale = self.channel_scale, self.target_scale, self.control_scale
        organic_scale = (organic_scales(data, self.spec.scaling) if rescale or self.organic_scale is None
                         else self.organic_scale)
        values = {
            "channel_data": data.X,
            "control_data": data.C / control_scale,
            "organic_data": data.Z / organic_scale,
            "time_index": ((data.dates - self.t0).days.values / 7.0).astype(float),
            "target_scaled": data.y / target_scale,
            "channel_scale": channel_scale,
            "target_scale": target_scale,
        }
        if self.data.S is not None and (self.spec.roas_priors or self.spec.mroas_priors
                                        or self.spec.cost_per_kpi_priors):  # per unit of money, not of media units
            values["channel_spend"] = data.spend
        if self.spec.yearly_seasonality:
            values["fourier_features"] = fourier_features(data.dates, self.spec.yearly_seasonality)
        if self.spec.weekday_seasonality:
            values["weekday_index"] = np.asarray(data.dates.day_of_week, int)
        if self.spec.holidays is not None:
            values["holiday_days"] = holiday_days(data.dates, self.spec.holidays.country, self.spec.holidays.subdiv)
        for name, basis in self.hsgp.items():
            values[f"{name}_basis"] = basis.phi(values["time_index"])
        return values

    def set_data(self, data: MMMData) -> None:
        """Swap in new dates/spend (same panel and channels) without rebuilding."""
        values = {k: v for k, v in self.data_values(data).items() if k in self.model.named_vars}
        set_model_data(self.model, values, coords={"date": data.dates, "obs": data.dates})

    def summary_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.table)


def set_model_data(model: pm.Model, values: dict[str, Any], coords: dict | None = None) -> None:
    """``pm.set_data`` on ``model``, the dims' lengths it checks read by numpy: PyMC evaluates each in PyTensor's
    default mode, which loads PyTensor's C module cache (0.6 s in a process, here) and on a new machine compiles C
    code, in processes that need no C otherwise (the folds, the refits)."""
    with pytensor.config.change_flags(mode="FAST_COMPILE"), model:
        pm.set_data(values, coords=coords)
    for dim, labels in (coords or {}).items():  # a dim no array of ``values`` is labelled with (``obs`` in the fit)
        if len(labels) != int(model.dim_lengths[dim].get_value()):
            model.set_dim(dim, len(labels), coord_values=labels)


def scales(data: MMMData, scaling: ScalingSpec | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max scales of channels ``(*panel, channel)``, target ``(*panel)`` and controls ``(*panel, control)``
    (one where ``scaling`` says ``none``). A channel bought in units is scaled on its units (see ``MMMData``).

    Per panel cell by default; ``scaling.dims`` pools the named panel dims into one scale (broadcast back to
    every cell), ``scaling.controls == "none"`` leaves controls raw (scale one).
    """
    scaling = scaling or ScalingSpec()
    data = scaled_periods(data, scaling)
    channel_scale, target_scale = max_scales(data)
    if "per_capita" in (scaling.channel, scaling.target) and data.population is None:
        raise ValueError("model.scaling: per_capita needs data.population_column (each market's size)")
    control_scale = np.abs(data.C).max(axis=0)
    control_scale = np.where(control_scale > 0, control_scale, 1.0)
    if scaling.controls == "none":
        control_scale = np.ones_like(control_scale)
    if scaling.channel == "none":
        channel_scale = np.ones_like(channel_scale)
    if scaling.target == "none":
        target_scale = np.ones_like(target_scale)
    axes = tuple(data.dims.index(d) for d in scaling.dims)
    if axes:
        channel_scale, target_scale, control_scale = (
            np.broadcast_to(a.max(axis=axes, keepdims=True), a.shape).copy()
            for a in (channel_scale, target_scale, control_scale))
    if scaling.target == "per_capita":
        assert data.population is not None  # checked above
        target_scale = _per_capita(np.abs(data.y).max(axis=0), data.population)
    if scaling.channel == "per_capita":
        assert data.population is not None  # checked above
        channel_scale = _per_capita(data.units.max(axis=0), data.population[..., None], per_channel=True)
    # scales are computed on the units (pooling units, not units valued at each market's price); X is units times
    # their cost, so X / (scale * cost) is exactly the units the model sees
    return channel_scale * data.cost_per_unit, target_scale, control_scale


def _per_capita(top: np.ndarray, population: np.ndarray, per_channel: bool = False) -> np.ndarray:
    """``population`` × the largest value per head over every market (per channel: ``top``'s last axis): one scale
    per head, so equal populations give the max pooled over the markets."""
    head = top / population
    markets = tuple(range(top.ndim - 1 if per_channel else top.ndim))
    per_head = head.max(axis=markets, keepdims=True)
    out = np.broadcast_to(population * per_head, top.shape).copy()
    return np.where(out > 0, out, 1.0)


def scaled_periods(data: MMMData, scaling: ScalingSpec | None) -> MMMData:
    """The periods scales are taken from: every one, or those up to ``scaling.until``."""
    if scaling is None or scaling.until is None:
        return data
    keep = int((data.dates <= pd.Timestamp(scaling.until)).sum())
    if keep == 0:
        raise ValueError(f"model.scaling.until: {scaling.until:%Y-%m-%d} is before the data's first date "
                         f"({data.dates[0]:%Y-%m-%d}): no period to take the scales from")
    return data.slice(0, keep)


def organic_scales(data: MMMData, scaling: ScalingSpec | None = None) -> np.ndarray:
    """Each organic series' maximum per panel cell ``(*panel, organic)`` (one where it is all zero), over the periods
    ``scaling`` takes scales from."""
    data = scaled_periods(data, scaling)
    assert data.Z is not None  # MMMData.__post_init__ fills it
    top = data.Z.max(axis=0) if data.n_dates else np.ones(data.Z.shape[1:])
    return np.where(top > 0, top, 1.0)


def _param_dims(prior, default_dims: tuple[str, ...]) -> tuple[str, ...]:
    dims = tuple(getattr(prior, "dims", None) or ())
    return dims if dims else default_dims


def _coefficient(name: str, spec_value, where: str, default_dims: tuple[str, ...], target_dims: tuple[str, ...],
                 table: list):
    """Create variable ``name`` from a params prior (dims default to ``default_dims``), record it in the
    summary table, and return it broadcast to ``target_dims``."""
    prior = parse_prior(spec_value, where)
    dims = _param_dims(prior, default_dims)
    var = create(name, prior, dims)
    table.append({"variable": name, "distribution": describe_prior(prior), "dims": ", ".join(dims)})
    return handle_dims(var, dims, target_dims)


def _component_params(kind_spec, registry, prefix: str, target_dims: tuple[str, ...], table: list,
                      channels: list[str], skip: str | None = None, widen: float = 1.0) -> dict:
    """Create the parameters of an adstock/saturation component (but ``skip``), broadcast to ``target_dims``, each
    prior ``widen`` times wider (``model.media_prior_widen``).

    With one type per channel (``type_by_channel``), see :func:`_mixed_param`."""
    kind = kind_spec.kinds(channels)
    if not isinstance(kind, str):
        return {name: _mixed_param(kind_spec, registry, prefix, name, kind, channels, target_dims, table, widen)
                for name in kind_params(MEDIA_PARAMS[prefix], kind) if name != skip}
    comp = registry[kind]
    return {
        name: _coefficient(f"{prefix}_{name}", widened(kind_spec.priors.get(name, comp.defaults[name]), widen,
                                                       f"{prefix}.{name}"),
                           f"{prefix}.{name}", ("channel",), target_dims, table)
        for name in comp.params if name != skip
    }


PLACEHOLDER = 0.5  # a parameter's value on the channels whose type lacks it: inside every type's domain, never used


def _renamed_dim(spec_value, old: str, new: str):
    """A params prior (a dict, possibly nested) with the dim ``old`` renamed ``new`` at every level."""
    if not isinstance(spec_value, dict):
        return spec_value
    out = {k: _renamed_dim(v, old, new) for k, v in spec_value.items()}
    if isinstance(out.get("dims"), (list, tuple)):
        out["dims"] = [new if d == old else d for d in out["dims"]]
    elif out.get("dims") == old:
        out["dims"] = new
    return out


def _mixed_param(kind_spec, registry, prefix: str, name: str, kind: tuple[str, ...], channels: list[str],
                 target_dims: tuple[str, ...], table: list, widen: float = 1.0):
    """Parameter ``name`` over every channel when channels differ in type: for each type that has it, a variable
    ``<prefix>_<name>_<type>`` over that type's channels (coord ``<prefix>_<type>_channel``; the params' prior for
    ``name``, else the type's default), joined into the deterministic ``<prefix>_<name>`` over ``channel``, with
    :data:`PLACEHOLDER` on the channels whose type lacks ``name``."""
    model = pm.modelcontext(None)
    panel = target_dims[:-1]
    shape = (*[len(model.coords[d]) for d in panel], len(channels))
    pieces, order = [], []
    for k in kinds_used(kind):
        if name not in registry[k].params:
            continue
        these = [ch for ch, kk in zip(channels, kind) if kk == k]
        coord = f"{prefix}_{k}_channel"
        if coord not in model.coords:
            model.add_coord(coord, these)
        given = _renamed_dim(widened(kind_spec.priors.get(name, registry[k].defaults[name]), widen,
                                     f"{prefix}.{name}"), "channel", coord)
        var = _coefficient(f"{prefix}_{name}_{k}", given, f"{prefix}.{name}", (coord,), (*panel, coord), table)
        pieces.append(pt.broadcast_to(var, (*shape[:-1], len(these))))
        order += these
    rest = [ch for ch in channels if ch not in order]
    if rest:
        pieces.append(pt.fill(pt.zeros((*shape[:-1], len(rest))), PLACEHOLDER))
        order += rest
    back = np.argsort([channels.index(ch) for ch in order])
    full = pt.concatenate(pieces, axis=-1)[..., back]
    return pm.Deterministic(f"{prefix}_{name}", full, dims=(*panel, "channel"))


def _hsgp(name: str, spec: HSGPSpec, basis: HSGPBasis, table: list, extra_dim: str | None = None):
    """Zero-mean HSGP over time (weeks), Matérn-5/2; ``(date,)`` or ``(date, extra_dim)`` values. The basis is
    the ``pm.Data`` ``<name>_basis`` (``MMM.data_values``); only the spectral weights depend on parameters.

    Mode ``j``'s weight is ``N(0, sd_j)``, ``sd_j = sqrt(psd(omega_j))`` from eta and ls. The slowest
    ``basis.centred`` modes, which the data pin down, are sampled as the weights themselves (centred,
    ``<name>_hsgp_coefs_slow``); the rest, mostly prior, as ``sd_j * z_j`` (``<name>_hsgp_coefs``). The prior is
    the same; the posterior's funnel between eta, ls and the slow weights is gone: on ``time_varying_media``,
    4 and 2 divergences (seeds 8413, 2) -> 0, and min bulk ESS about 520 -> 1,070 (benchmarks/results.md)."""
    eta = pm.Exponential(f"{name}_eta", lam=spec.eta_lam)
    ls = pm.InverseGamma(f"{name}_ls", mu=spec.ls_mu, sigma=spec.ls_sigma)
    cov = eta**2 * pm.gp.cov.Matern52(1, ls=ls)
    sqrt_psd = pt.sqrt(cov.power_spectral_density(pt.as_tensor(basis.omega)))
    phi = pm.modelcontext(None)[f"{name}_basis"]
    sd = sqrt_psd if extra_dim is None else sqrt_psd[:, None]
    extra, k = (() if extra_dim is None else (extra_dim,)), basis.centred
    weights = []
    if k:
        weights.append(pm.Normal(f"{name}_hsgp_coefs_slow", 0, sd[:k], dims=(f"{name}_slow_mode", *extra)))
    if k < basis.m:
        weights.append(pm.Normal(f"{name}_hsgp_coefs", 0, 1, dims=(f"{name}_m", *extra)) * sd[k:])
    table.append({"variable": name, "distribution": f"HSGP(m={spec.m}, L={basis.L:.3g} weeks, Matern52, "
                  f"eta~Exponential({spec.eta_lam:g}), ls~InverseGamma(mu={spec.ls_mu:g}, sigma={spec.ls_sigma:g}); "
                  f"{spec.link} link)",
                  "dims": ", ".join(("date",) + ((extra_dim,) if extra_dim else ()))})
    return phi @ (pt.concatenate(weights, axis=0) if len(weights) > 1 else weights[0])


def hsgp_multiplier(name: str, f, train_mask, dims: tuple[str, ...], link: str = "exp"):
    """A positive multiplier from the GP ``f``, normalized over the training weeks so the level stays with beta:
    ``exp(f - mean f)`` (geometric mean one), or pymc-marketing's ``SoftPlusHSGP`` form
    ``softplus(f) / mean softplus(f)`` (mean one)."""
    mask = train_mask if f.ndim == 1 else train_mask[:, None]

    def train_mean(v):
        return (v * mask).sum(axis=0) / mask.sum()

    if link == "softplus":
        g = pt.softplus(f)
        return pm.Deterministic(name, g / train_mean(g), dims=dims)
    return pm.Deterministic(name, pt.exp(f - train_mean(f)), dims=dims)


def _hsgp_spec(value: bool | HSGPSpec) -> HSGPSpec:
    return value if isinstance(value, HSGPSpec) else HSGPSpec()


def media_contribution(x_scaled, spec: ModelSpec, adstock_params: dict, saturation_params: dict, multiplier=None,
                       lagged=lagged_sum, channels: list[str] | None = None):
    """Spend (divided by the channel scale; time on axis 0) -> media contribution on the model scale.

    adstock -> saturation -> optional multiplier. The one media path: the model calls it with random
    variables, the optimizer with posterior draws (extra leading batch axes broadcast), so every media
    feature reaches the optimizer by construction. ``channels``: the channel of each last-axis entry, for each
    channel's own ``l_max`` and types (``model.adstock.l_max_by_channel``, ``type_by_channel``); None: the case's
    (organic media).
    """
    ad, sat = spec.adstock, spec.saturation
    ad_kind: Kind
    sat_kind: Kind
    if channels is None:
        ad_kind, sat_kind, lags = ad.type, sat.type, None
    else:
        ad_kind, sat_kind, lags = ad.kinds(channels), sat.kinds(channels), channel_lags(ad, channels)
    w = adstock_weights(ad_kind, adstock_params, ad.l_max, ad.normalize, lags)
    contrib = saturation(lagged(x_scaled, w), sat_kind, saturation_params)
    return contrib if multiplier is None else contrib * multiplier


@dataclass
class Inputs:
    """The model's ``pm.Data`` tensors, plus what the builders derive from them (PyMC's tensors: Any to mypy)."""

    X: Any  # channel_data (date, *panel, channel), original units
    t: Any  # time_index (date,), weeks since the first training date
    y: Any  # target_scaled (obs, *panel)
    train_end: Any  # train_end_time: weeks at the last observed date
    channel_scale: Any
    target_scale: Any
    obs_dim: str  # "date", or "obs" in the cross-validation form
    spend: Any = None  # channel_spend (date, *panel, channel) when channels are bought in units; else X

    @property
    def train_mask(self):
        return pt.le(self.t, self.train_end)


def _inputs(mmm: MMM, values: dict, n_obs: int, cv: bool) -> Inputs:
    """Register the data containers (order matters for reproducibility: keep it)."""
    panel = mmm.dims
    obs_dim = "obs" if cv else "date"
    mmm.model.add_coord("obs", mmm.data.dates[:n_obs])  # both forms: one compiled model (_label_periods)
    X = pm.Data("channel_data", values["channel_data"], dims=("date", *panel, "channel"))
    t = pm.Data("time_index", values["time_index"], dims="date")
    y = pm.Data("target_scaled", values["target_scaled"][:n_obs], dims=("obs", *panel))
    train_weeks = max(float(values["time_index"][n_obs - 1]), 1.0)
    train_end = pm.Data("train_end_time", train_weeks)
    if mmm.spec.share_priors:  # fixed by the observed weeks: predictions on other weeks leave it (CV folds set it)
        pm.Data("target_total_scaled", values["target_scaled"][:n_obs].sum(axis=0), dims=panel)
    cs = pm.Data("channel_scale", mmm.channel_scale, dims=(*panel, "channel"))
    ts = pm.Data("target_scale", mmm.target_scale, dims=panel)
    for name, basis in mmm.hsgp.items():
        mmm.model.add_coord(f"{name}_mode", range(basis.m))
        mmm.model.add_coord(f"{name}_slow_mode", range(basis.centred))
        mmm.model.add_coord(f"{name}_m", range(basis.centred, basis.m))
        pm.Data(f"{name}_basis", values[f"{name}_basis"], dims=("date", f"{name}_mode"))
    spend = (pm.Data("channel_spend", values["channel_spend"], dims=("date", *panel, "channel"))
             if "channel_spend" in values else X)
    return Inputs(X, t, y, train_end, cs, ts, obs_dim, spend)


def _media_multiplier(mmm: MMM, inp: Inputs):
    """The time-varying media multiplier broadcast to ``(date, *panel, channel)``, or None."""
    if not mmm.spec.time_varying_media:
        return None
    tvm = _hsgp_spec(mmm.spec.time_varying_media)
    extra = "channel" if tvm.per_channel else None
    f = _hsgp("media_temporal_latent", tvm, mmm.hsgp["media_temporal_latent"], mmm.table, extra_dim=extra)
    mult = hsgp_multiplier("media_temporal_latent_multiplier", f, inp.train_mask, ("date", "channel") if extra else ("date",),
                       tvm.link)
    pad = (None,) * len(mmm.dims)
    return mult[(slice(None), *pad, slice(None))] if extra else mult[(slice(None), *pad, None)]


def _stacked_prior(mmm: MMM, kind: str, channels: list[str]):
    """The variable of a kind of knowledge (``KNOWLEDGE_PRIORS``) over its coord (and any panel dims the priors
    name): the channels' priors stacked into one vectorized prior (one distribution, numeric parameters)."""
    key, name, coord, meaning = KNOWLEDGE_PRIORS[kind]
    where = f"model.{key}"
    specs = {ch: dict(widened(getattr(mmm.spec, key)[ch], mmm.spec.media_prior_widen, f"{where}.{ch}"))
             for ch in channels}
    shapes = {(str(s.get("distribution")), tuple(sorted(k for k in s if k not in ("dims", "distribution"))),
               tuple(s.get("dims") or ())) for s in specs.values()}
    if len(shapes) > 1:
        raise PriorError(where, "every channel's prior needs the same distribution, parameters and dims "
                         f"(got {sorted(shapes)})")
    (dist, keys, dims), = shapes
    stacked: dict = {"distribution": dist, "dims": [*dims, coord]}
    for param in keys:
        values = [specs[ch][param] for ch in channels]
        bad = [ch for ch, v in zip(channels, values) if isinstance(v, (dict, list, bool)) or not np.isscalar(v)]
        if bad:
            raise PriorError(f"{where}.{bad[0]}.{param}", "the prior's parameters are numbers")
        stacked[param] = values
    prior = parse_prior(stacked, where)
    mmm.model.add_coord(coord, channels)
    mmm.table.append({"variable": name, "distribution": ", ".join(
        f"{ch}: {describe_prior(parse_prior(specs[ch], f'{where}.{ch}'))}" for ch in channels) + f" ({meaning})",
        "dims": ", ".join(stacked["dims"])})
    return create(name, prior, tuple(stacked["dims"]))


def unknown_prior_channels(spec: ModelSpec, channels: list[str]) -> list[tuple[str, str]]:
    """``(field, problem)`` for each prior in business units (``model.roas_priors``, ``share_priors``,
    ``mroas_priors``, ``cost_per_kpi_priors``) that names channels the data do not have (``validate`` lists them;
    building the model refuses the first)."""
    out = []
    for key in KNOWLEDGE_PRIOR_KEYS:
        unknown = sorted(set(getattr(spec, key)) - set(channels))
        if unknown:
            out.append((f"model.{key}", f"unknown channels {unknown} (known: {channels})"))
    return out


def _ceiling_from_knowledge(mmm: MMM, inp: Inputs, unit, unit_up=None):
    """The saturation's ceiling ``(*panel, channel)`` with the priors in business units (``registry.KNOWLEDGE_PRIORS``)
    honoured exactly over the observed weeks (``unit``: each channel's contribution with ceiling one; ``unit_up``:
    the same with ``1 + MARGINAL_STEP`` times the spend, needed by marginal-ROAS priors).

    The response is proportional to the ceiling, so each prior fixes it: a ROAS prior gives
    ``ceiling = roas * spend / (target_scale * sum(unit))``, so the channel's ROAS over the observed weeks,
    ``sum(ceiling * unit) * target_scale / spend``, is the prior's draw; a cost per KPI is ``1 / ROAS``; a marginal
    ROAS gives ``ceiling = mroas * step * spend / (target_scale * sum(unit_up - unit))`` (the return on ``step``
    more spend in every week, per currency of it); a share prior gives ``ceiling = share * sum(target) / sum(unit)``
    (target and unit on the model scale), so its contribution over them divided by the observed target is the draw.
    Predictions on longer data keep them all: the observed weeks are the same (``train_mask``). The other channels
    keep the ceiling's own prior, over ``free_channel``."""
    channels, spec = mmm.data.channels, mmm.spec
    problems = unknown_prior_channels(spec, channels)
    if problems:
        raise PriorError(*problems[0])
    name = SATURATION_CEILING[spec.saturation.type]
    mask = inp.train_mask[(slice(None),) + (None,) * (len(mmm.dims) + 1)]
    unit_sum = (unit * mask).sum(axis=0)  # (*panel, channel)
    unit_sum = pt.switch(pt.gt(unit_sum, 0), unit_sum, 1.0)
    spend_sum = (inp.spend * mask).sum(axis=0)  # (*panel, channel)
    per_roas = spend_sum / (inp.target_scale[..., None] * unit_sum)  # the ceiling of a ROAS of one
    # each kind's ceiling from its draw (over the channels it names: ``pick``)
    per = {"roas": lambda draw, pick: draw * per_roas[..., pick],
           "cost_per_kpi": lambda draw, pick: per_roas[..., pick] / draw}
    if spec.share_priors:  # the observed target's total over the observed weeks (model scale)
        per["share"] = lambda draw, pick: draw * (mmm.model["target_total_scaled"][..., None] / unit_sum)[..., pick]
    if spec.mroas_priors:
        gain = ((unit_up - unit) * mask).sum(axis=0)
        gain = pt.switch(pt.gt(gain, 0), gain, 1.0)
        per_mroas = MARGINAL_STEP * spend_sum / (inp.target_scale[..., None] * gain)
        per["mroas"] = lambda draw, pick: draw * per_mroas[..., pick]
    shape = (*[len(v) for v in mmm.data.panel.values()], len(channels))
    order, pieces = [], []
    for kind, (key, *_) in KNOWLEDGE_PRIORS.items():
        these = [ch for ch in channels if ch in getattr(spec, key)]
        if these:
            pick = [channels.index(ch) for ch in these]
            pieces.append(per[kind](_stacked_prior(mmm, kind, these), pick))
            order += these
    free = [ch for ch in channels if ch not in order]
    if free:
        mmm.model.add_coord("free_channel", free)
        first = spec.saturation.type_by_channel.get(free[0], spec.saturation.type)  # types share the ceiling's name
        given = spec.saturation.priors.get(name, SATURATIONS[first].defaults[name])
        prior = parse_prior(widened(given, spec.media_prior_widen, f"saturation.{name}"), f"saturation.{name}")
        dims = tuple("free_channel" if d == "channel" else d for d in _param_dims(prior, ("channel",)))
        var = create(f"saturation_{name}_free", prior, dims)
        mmm.table.append({"variable": f"saturation_{name}_free", "distribution": describe_prior(prior),
                          "dims": ", ".join(dims)})
        pieces.append(handle_dims(var, dims, (*mmm.dims, "free_channel")))
        order += free
    ceiling = pt.concatenate([pt.broadcast_to(p, (*shape[:-1], p.shape[-1])) for p in pieces], axis=-1)
    back = np.argsort([channels.index(ch) for ch in order])
    return pm.Deterministic(f"saturation_{name}", ceiling[..., back], dims=(*mmm.dims, "channel"))


def _media(mmm: MMM, inp: Inputs):
    """Channel contribution ``(date, *panel, channel)`` on the model scale, plus its original-scale twins."""
    target_dims = (*mmm.dims, "channel")
    spec = mmm.spec
    channels = mmm.data.channels
    ad = _component_params(spec.adstock, ADSTOCKS, "adstock", target_dims, mmm.table, channels,
                           widen=spec.media_prior_widen)
    ceiling = SATURATION_CEILING.get(spec.saturation.type) if spec.knowledge_priors else None
    sat = _component_params(spec.saturation, SATURATIONS, "saturation", target_dims, mmm.table, channels,
                            skip=ceiling, widen=spec.media_prior_widen)
    multiplier = _media_multiplier(mmm, inp)
    if ceiling is None:
        contrib = media_contribution(inp.X / inp.channel_scale, spec, ad, sat, multiplier, channels=channels)
    else:  # the response is proportional to the ceiling: one unit curve, scaled by the ceiling the prior implies
        unit = media_contribution(inp.X / inp.channel_scale, spec, ad, {**sat, ceiling: 1.0}, multiplier,
                                  channels=channels)
        unit_up = (media_contribution(inp.X * (1 + MARGINAL_STEP) / inp.channel_scale, spec, ad, {**sat, ceiling: 1.0},
                                      multiplier, channels=channels) if spec.mroas_priors else None)
        sat[ceiling] = _ceiling_from_knowledge(mmm, inp, unit, unit_up)
        contrib = unit * sat[ceiling]
    mmm.saturation_params, mmm.adstock_params, mmm.media_multiplier = sat, ad, multiplier
    dims = ("date", *mmm.dims, "channel")
    contrib = pm.Deterministic("channel_contribution", contrib, dims=dims)
    original = contrib * inp.target_scale[None, ..., None]
    pm.Deterministic("channel_contribution_original_scale", original, dims=dims)
    pm.Deterministic("total_media_contribution_original_scale", original.sum())
    return contrib


def _organic(mmm: MMM, values: dict):
    """Organic media summed over the series ``(date, *panel)`` on the model scale, or None: the case's adstock and
    saturation, with their own parameters (``organic_adstock_*``, ``organic_saturation_*``; priors from
    ``model.organic_priors``, else the components' defaults over the ``organic`` dim). No spend, so no ROAS and never
    in a budget."""
    if not mmm.data.organic:
        return None
    spec, panel = mmm.spec, mmm.dims
    problems = organic_prior_problems(spec)  # a variant's or a target's model, not checked at load
    if problems:
        raise ValueError(problems[0])
    organic = pm.Data("organic_data", values["organic_data"], dims=("date", *panel, "organic"))
    given_as = {target: key for key, target in organic_prior_keys(spec).items() if key in spec.organic_priors}
    params: dict[str, dict[str, Any]] = {}
    for kind, registry in (("adstock", ADSTOCKS), ("saturation", SATURATIONS)):
        comp = registry[getattr(spec, kind).type]
        for name in comp.params:
            key = given_as.get((kind, name))
            given = copy.deepcopy(spec.organic_priors[key] if key else comp.defaults[name])
            if isinstance(given, dict) and given.get("dims"):
                given["dims"] = ["organic" if d == "channel" else d for d in given["dims"]]
            params.setdefault(kind, {})[name] = _coefficient(f"organic_{kind}_{name}", given,
                                                             f"model.organic_priors.{key or name}", ("organic",),
                                                             (*panel, "organic"), mmm.table)
    contrib = media_contribution(organic, spec, params["adstock"], params["saturation"])
    contrib = pm.Deterministic("organic_contribution", contrib, dims=("date", *panel, "organic"))
    pm.Deterministic("organic_contribution_original_scale", contrib * mmm.model["target_scale"][None, ..., None],
                     dims=("date", *panel, "organic"))
    return contrib.sum(axis=-1)


def _by_date(mmm: MMM, v):
    """Broadcast a ``(date,)`` tensor over the panel dims."""
    return v[(slice(None),) + (None,) * len(mmm.dims)]


def _intercept(mmm: MMM, inp: Inputs, priors: dict):
    """Baseline ``(date, *panel)``: the intercept, times an HSGP multiplier when time-varying."""
    mu = _coefficient("intercept_contribution", priors["intercept"], "model.priors.intercept", mmm.dims,
                      ("date", *mmm.dims), mmm.table)
    if mmm.spec.time_varying_intercept:
        tvi = _hsgp_spec(mmm.spec.time_varying_intercept)
        f = _hsgp("intercept_latent", tvi, mmm.hsgp["intercept_latent"], mmm.table)
        mu = mu * _by_date(mmm, hsgp_multiplier("intercept_latent_multiplier", f, inp.train_mask, ("date",), tvi.link))
    return mu


def _controls(mmm: MMM, values: dict, priors: dict):
    """Control contribution summed over controls ``(date, *panel)``, or None without controls."""
    if not mmm.data.controls:
        return None
    panel = mmm.dims
    C = pm.Data("control_data", values["control_data"], dims=("date", *panel, "control"))
    gamma = _coefficient("gamma_control", priors["gamma_control"], "model.priors.gamma_control", ("control",),
                         (*panel, "control"), mmm.table)
    contrib = pm.Deterministic("control_contribution", C * gamma, dims=("date", *panel, "control")).sum(axis=-1)
    pm.Data("control_scale", mmm.control_scale, dims=(*panel, "control"))
    return contrib


def _seasonality(mmm: MMM, inp: Inputs, values: dict, priors: dict):
    """Yearly Fourier seasonality ``(date, *panel)``, or None when the order is 0."""
    if not mmm.spec.yearly_seasonality:
        return None
    panel = mmm.dims
    F = pm.Data("fourier_features", values["fourier_features"], dims=("date", "fourier_mode"))
    gf = _coefficient("gamma_fourier", priors["gamma_fourier"], "model.priors.gamma_fourier", ("fourier_mode",),
                      (*panel, "fourier_mode"), mmm.table)
    F_b = F[(slice(None),) + (None,) * len(panel) + (slice(None),)]
    # + zeros of (date, *panel): full shape even when gamma_fourier has no panel dims
    season = (F_b * gf).sum(axis=-1) + pt.zeros_like(inp.X[..., 0])
    return pm.Deterministic("yearly_seasonality_contribution", season, dims=("date", *panel))


def _calendar_effects(mmm: MMM, inp: Inputs, values: dict, priors: dict):
    """Day-of-week effects and national holidays ``(date, *panel)``, or None: ``gamma_weekday[day]`` (ZeroSumNormal
    by default: the days sum to zero, so the level stays with the intercept) and ``gamma_holiday`` × the holiday days
    in each period. Both features come from the dates (``MMM.data_values``), so a forecast knows its days."""
    panel, zeros, terms = mmm.dims, pt.zeros_like(inp.X[..., 0]), []
    if mmm.spec.weekday_seasonality:
        day = pm.Data("weekday_index", values["weekday_index"], dims="date")
        gw = _coefficient("gamma_weekday", priors["gamma_weekday"], "model.priors.gamma_weekday", ("weekday",),
                          (*panel, "weekday"), mmm.table)
        effect = pt.moveaxis(gw, -1, 0)[day]  # (date, *panel)
        terms.append(pm.Deterministic("weekday_contribution", effect + zeros, dims=("date", *panel)))
    if mmm.spec.holidays is not None:
        h = pm.Data("holiday_days", values["holiday_days"], dims="date")
        gh = _coefficient("gamma_holiday", priors["gamma_holiday"], "model.priors.gamma_holiday", panel, panel,
                          mmm.table)
        terms.append(pm.Deterministic("holiday_contribution", _by_date(mmm, h) * gh + zeros, dims=("date", *panel)))
    return sum(terms[1:], terms[0]) if terms else None


def _trend(mmm: MMM, inp: Inputs, priors: dict):
    """Trend over the training weeks ``(date, *panel)``, or None: ``gamma_trend × u`` with ``u`` the time over the
    observed span (0 to 1), plus, with changepoints, ``sum_j trend_delta_j × max(u - s_j, 0)`` (a change of slope at
    each ``s_j``, evenly over the first ``span`` of ``u``; Laplace prior: most changes are near zero). Past the
    observed span the last slope continues (a forecast extends the trend linearly)."""
    if not mmm.spec.trend:
        return None
    u = inp.t / inp.train_end
    gt = _coefficient("gamma_trend", priors["gamma_trend"], "model.priors.gamma_trend", mmm.dims, mmm.dims, mmm.table)
    trend = _by_date(mmm, u) * gt
    spec = mmm.spec.trend
    if isinstance(spec, TrendSpec) and spec.changepoints:
        n = spec.changepoints
        s = spec.span * np.arange(1, n + 1) / n
        mmm.model.add_coord("changepoint", [f"{x:.3f}" for x in s])
        delta = _coefficient("trend_delta", priors["trend_delta"], "model.priors.trend_delta", ("changepoint",),
                             (*mmm.dims, "changepoint"), mmm.table)
        hinge = pt.maximum(u[:, None] - s[None, :], 0.0)  # (date, changepoint)
        hinge = hinge[(slice(None),) + (None,) * len(mmm.dims) + (slice(None),)]
        trend = trend + (hinge * delta).sum(axis=-1)
    return pm.Deterministic("trend_contribution", trend + pt.zeros_like(inp.X[..., 0]), dims=("date", *mmm.dims))


def _likelihood(mmm: MMM, inp: Inputs, mu) -> None:
    """The observed target ``y`` (on the ``obs`` weeks only in the cross-validation form)."""
    lik = copy.deepcopy(parse_likelihood(mmm.spec.likelihood))
    lik.dims = ("obs", *mmm.dims)
    # traced over every date for the posterior predictive in numpy (fit.likelihood_draws); the cross-validation form
    # observes the fold's weeks of it (no deterministic whose length follows the fold: one compiled model serves all)
    mu = pm.Deterministic("mu", mu, dims=("date", *mmm.dims))
    y = likelihood_numbers_as_data(lik, "y").create_likelihood_variable("y", mu=mu[:inp.y.shape[0]], observed=inp.y)
    _label_periods(mmm, inp.obs_dim)
    mmm.table.append({"variable": "y", "distribution": describe_prior(lik), "dims": ", ".join(mmm.model.named_vars_to_dims["y"])})
    if mmm.spec.likelihood_from is not None:
        _count_from(mmm, inp, y)


def _label_periods(mmm: MMM, obs_dim: str) -> None:
    """Label ``y`` with ``obs_dim``.

    Both forms build the observed weeks (``target_scaled``, ``y``) over ``obs`` (every date in the fit's form), so that
    the fit and the cross-validation form are one structure: one compile serves the fit, every fold and every refit.
    The fit's form labels ``y`` ``date`` (its inference data are over dates); ``MMM.set_data`` keeps ``obs`` the
    dates."""
    if obs_dim != "obs":
        dims = mmm.model.named_vars_to_dims
        dims["y"] = (obs_dim, *dims["y"][1:])


def _count_from(mmm: MMM, inp: Inputs, y) -> None:
    """The likelihood over the periods from ``model.likelihood_from`` on only: the earlier periods' log-likelihood
    taken back out (a potential, exactly), as their information is in the priors already (a refresh from the last
    report's posterior). Every array keeps its length, so forecasts, folds and the posterior predictive work as
    without it; a fold that ends before that date observes nothing (its posterior is the prior)."""
    start = prior_data((pd.Timestamp(mmm.spec.likelihood_from) - mmm.t0).days / 7.0 - 1e-6, "likelihood_from_week")
    t_obs = inp.t[:inp.y.shape[0]]
    # a float mask: a boolean factor in a product makes PyTensor's distributive rewrite fail (logged as an ERROR)
    seen = pt.lt(t_obs, start).astype(pytensor.config.floatX)[(slice(None),) + (None,) * len(mmm.dims)]
    pm.Potential("likelihood_seen_before", -pt.sum(pm.logp(y, inp.y) * seen))
    mmm.table.append({"variable": "likelihood_seen_before", "distribution":
                      f"the likelihood of the periods before {mmm.spec.likelihood_from} taken out (in the priors)",
                      "dims": ""})


COPULA_CLIP = 1e-10  # a CDF value kept inside (clip, 1 - clip): normal scores within +-6.4


def _prior_copula(mmm: MMM, corr) -> None:
    """The priors' correlations (``model.prior_correlation``): a Gaussian copula over the listed variables. Each
    element's normal score ``z = Phi^-1(F(x))`` (``F`` its own prior's CDF, PyMC's ``logcdf``) enters the potential
    ``-z' (R^-1 - I) z / 2``: the joint prior is the copula's, every marginal stays the prior it was (its family and
    moments), and the correlations of the scores are ``R``'s. A prior draw (the prior predictive) ignores it."""
    scores = []
    for name in corr.variables:
        rv = mmm.model[name]
        u = pt.clip(pt.exp(pm.logcdf(rv, rv)), COPULA_CLIP, 1 - COPULA_CLIP).flatten()
        scores.append(np.sqrt(2.0) * pt.erfinv(2 * u - 1))
    z = pt.concatenate(scores)
    r = np.asarray(corr.matrix, float)
    precision = prior_data(np.linalg.inv(r) - np.eye(len(r)), "prior_correlation.precision")  # data: one compile
    pm.Potential("prior_correlation", -0.5 * z @ precision @ z)
    mmm.table.append({"variable": "prior_correlation", "distribution": f"a Gaussian copula over {len(r)} prior "
                      f"elements ({', '.join(corr.variables)}): the last posterior's correlations", "dims": ""})


def _new_mmm(spec: ModelSpec, data: MMMData, observed_weeks: int | None) -> MMM:
    """An empty model with coords, and the scales (from the observed weeks only)."""
    cv = observed_weeks is not None
    channel_scale, target_scale, control_scale = scales(data.slice(0, observed_weeks) if cv else data, spec.scaling)
    coords = {"date": data.dates, **data.panel, "channel": data.channels}
    if data.controls:
        coords["control"] = data.controls
    if data.organic:
        coords["organic"] = data.organic
    if spec.yearly_seasonality:
        coords["fourier_mode"] = fourier_modes(spec.yearly_seasonality)
    if spec.weekday_seasonality:
        coords["weekday"] = WEEKDAYS
    mmm = MMM(pm.Model(coords=coords), spec, data, channel_scale, target_scale, control_scale, data.dates[0], [])
    mmm.organic_scale = organic_scales(data.slice(0, observed_weeks) if cv else data, spec.scaling)
    t = mmm.data_values(data)["time_index"]
    half_range = max(float(t[(observed_weeks or data.n_dates) - 1]), 1.0) / 2  # half the training span
    for name, value in [("media_temporal_latent", spec.time_varying_media),
                        ("intercept_latent", spec.time_varying_intercept)]:
        if value:
            hs = _hsgp_spec(value)
            L = hs.L if hs.L is not None else hs.c * half_range
            centred = HSGPBasis.year_modes(L, hs.m) if hs.centred_modes is None else min(hs.centred_modes, hs.m)
            mmm.hsgp[name] = HSGPBasis(centre=(t.max() + t.min()) / 2, L=float(L), m=hs.m, centred=centred)
    return mmm


def build_model(spec: ModelSpec, data: MMMData, observed_weeks: int | None = None) -> MMM:
    """The PyMC model of ``spec`` on ``data`` (see module docstring for names).

    ``observed_weeks=k`` builds the cross-validation form: the model spans every date of ``data``
    (spend history included, so carryover is exact) but the likelihood sees only the first ``k``
    weeks, through ``pm.Data`` (``target_scaled``'s length, ``train_end_time``, the scales), and scales come
    from those weeks. It is the fit's structure (both observe a first stretch of the dates: ``_label_periods``), so
    one compiled model serves the fit and every fold: only data change between them.
    """
    mmm = _new_mmm(spec, data, observed_weeks)
    values = mmm.data_values(data)
    priors = {k: spec.priors.get(k, v) for k, v in MODEL_PRIORS.items()}
    with mmm.model:
        inp = _inputs(mmm, values, observed_weeks or data.n_dates, observed_weeks is not None)
        media = _media(mmm, inp)
        mu = _intercept(mmm, inp, priors) + media.sum(axis=-1)
        for term in (_controls(mmm, values, priors), _seasonality(mmm, inp, values, priors), _trend(mmm, inp, priors),
                     _calendar_effects(mmm, inp, values, priors), _organic(mmm, values)):
            if term is not None:
                mu = mu + term
        _likelihood(mmm, inp, mu)
        if spec.prior_correlation is not None:
            _prior_copula(mmm, spec.prior_correlation)
    mmm.table.append({"variable": "scaling", "distribution": spec.scaling.describe(), "dims": ", ".join(spec.scaling.dims)})
    return mmm


def model_graph(mmm: MMM):
    """The model's graphviz graph, or None when graphviz (the ``dot`` program) is missing."""
    import shutil

    if shutil.which("dot") is None:
        return None
    try:
        graph = pm.model_to_graphviz(mmm.model)
    except ImportError:
        return None
    graph.attr(rankdir="LR")  # left to right: many priors stack vertically instead of one unreadable row
    return graph


def model_mermaid(mmm: MMM) -> str:
    """The model's graph as Mermaid text (no system program needed; Quarto renders it): PyMC's own, left to right,
    without the ``node@{ shape: ... }`` lines that Mermaid before 11.3 (Quarto 1.7 ships 11.2) cannot parse (each
    node's shape is in its definition already)."""
    lines = pm.model_to_mermaid(mmm.model).splitlines()
    lines = [line.replace("fill:#757575", "fill:#cfcfcf") for line in lines if "@{" not in line]  # observed: light grey
    if lines and lines[0].strip() in ("graph TD", "flowchart TD"):
        lines[0] = lines[0].replace("TD", "LR")
    return "\n".join(lines)
