"""Build the PyMC marketing-mix model from a ``model:`` spec and ``MMMData``.

Names follow pymc-marketing (see DESIGN.md): ``adstock_*``, ``saturation_*``,
``intercept_contribution``, ``gamma_control``, ``gamma_fourier``, ``y_sigma``, deterministics
``channel_contribution`` (model scale) and ``channel_contribution_original_scale``.
All data enter through ``pm.Data`` so one compiled model serves new dates (holdout, CV).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import handle_dims

from mmmhelpers.config import HSGPSpec, ModelSpec
from mmmhelpers.data import MMMData, fourier_features, fourier_modes, max_scales
from mmmhelpers.priors import create, describe_prior, parse_prior
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS, adstock_weights, lagged_sum, saturation

__all__ = ["MMM", "build_model", "DEFAULT_PRIORS"]

DEFAULT_PRIORS = {
    "intercept": {"distribution": "Normal", "mu": 0.5, "sigma": 0.5},
    "gamma_control": {"distribution": "Normal", "mu": 0, "sigma": 1, "dims": ["control"]},
    "gamma_fourier": {"distribution": "Laplace", "mu": 0, "b": 1, "dims": ["fourier_mode"]},
    "gamma_trend": {"distribution": "Normal", "mu": 0, "sigma": 0.5},
}


@dataclass
class MMM:
    """A built model plus what is needed to feed it new data and read it back."""

    model: pm.Model
    spec: ModelSpec
    data: MMMData  # the data it was built (trained) on
    channel_scale: np.ndarray  # (*panel, channel)
    target_scale: np.ndarray  # (*panel)
    t0: pd.Timestamp  # time index origin (first training date)
    table: list[dict] = field(default_factory=list)  # model summary rows

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.data.dims)

    def data_values(self, data: MMMData) -> dict[str, np.ndarray]:
        """The ``pm.Data`` values for ``data`` (scaled with the training scales)."""
        values = {
            "channel_data": data.X,
            "control_data": data.C,
            "time_index": ((data.dates - self.t0).days.values / 7.0).astype(float),
            "target_scaled": data.y / self.target_scale,
        }
        if self.spec.yearly_seasonality:
            values["fourier_features"] = fourier_features(data.dates, self.spec.yearly_seasonality)
        return values

    def set_data(self, data: MMMData) -> None:
        """Swap in new dates/spend (same panel and channels) without rebuilding."""
        values = {k: v for k, v in self.data_values(data).items() if k in self.model.named_vars}
        with self.model:
            pm.set_data(values, coords={"date": data.dates})

    def summary_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.table)


def _param_dims(prior, default_dims: tuple[str, ...]) -> tuple[str, ...]:
    dims = tuple(getattr(prior, "dims", None) or ())
    return dims if dims else default_dims


def _component_params(kind_spec, registry, prefix: str, target_dims: tuple[str, ...], table: list) -> dict:
    """Create the parameters of an adstock/saturation component, broadcast to ``target_dims``."""
    comp = registry[kind_spec.type]
    out = {}
    for name in comp.params:
        prior = parse_prior(kind_spec.priors.get(name, comp.defaults[name]), f"{prefix}.{name}")
        dims = _param_dims(prior, ("channel",))
        var = create(f"{prefix}_{name}", prior, dims)
        table.append({"variable": f"{prefix}_{name}", "distribution": describe_prior(prior), "dims": ", ".join(dims)})
        out[name] = handle_dims(var, dims, target_dims)
    return out


def _hsgp(name: str, t, spec: HSGPSpec, t_half_range: float, dims: tuple[str, ...], table: list):
    """A zero-mean HSGP over time (weeks); returns the latent ``(date,)`` values."""
    eta = pm.Exponential(f"{name}_eta", lam=spec.eta_lam)
    mu, sd = spec.ls_mu, spec.ls_sigma
    ls = pm.InverseGamma(f"{name}_ls", mu=mu, sigma=sd)
    cov = eta**2 * pm.gp.cov.Matern52(1, ls=ls)
    L = spec.L if spec.L is not None else spec.c * t_half_range
    gp = pm.gp.HSGP(m=[spec.m], L=[L], cov_func=cov)
    phi, sqrt_psd = gp.prior_linearized(X=t[:, None])
    coef = pm.Normal(f"{name}_hsgp_coefs", 0, 1, dims=f"{name}_m")
    table.append({"variable": name, "distribution": f"HSGP(m={spec.m}, L={L:.3g}, Matern52)", "dims": "date"})
    return phi @ (coef * sqrt_psd)


def build_model(spec: ModelSpec, data: MMMData) -> MMM:
    """The PyMC model of ``spec`` on ``data`` (see module docstring for names)."""
    panel = tuple(data.dims)
    channel_scale, target_scale = max_scales(data)
    t0 = data.dates[0]
    coords = {"date": data.dates, **data.panel, "channel": data.channels}
    if data.controls:
        coords["control"] = data.controls
    if spec.yearly_seasonality:
        coords["fourier_mode"] = fourier_modes(spec.yearly_seasonality)
    table: list[dict] = []
    mmm = MMM(pm.Model(coords=coords), spec, data, channel_scale, target_scale, t0, table)
    values = mmm.data_values(data)
    bc = (slice(None),) + (None,) * len(panel)  # broadcast (date,) over panel
    with mmm.model:
        X = pm.Data("channel_data", values["channel_data"], dims=("date", *panel, "channel"))
        t = pm.Data("time_index", values["time_index"], dims="date")
        y = pm.Data("target_scaled", values["target_scaled"], dims=("date", *panel))
        pm.Data("channel_scale", channel_scale, dims=(*panel, "channel"))
        pm.Data("target_scale", target_scale, dims=panel)

        target_dims = (*panel, "channel")
        ad = _component_params(spec.adstock, ADSTOCKS, "adstock", target_dims, table)
        sat = _component_params(spec.saturation, SATURATIONS, "saturation", target_dims, table)
        w = adstock_weights(spec.adstock.type, ad, spec.adstock.l_max, spec.adstock.normalize)
        x_ad = lagged_sum(X / channel_scale, w)
        contrib = saturation(x_ad, spec.saturation.type, sat)

        n_train = max(float(values["time_index"][-1]), 1.0)
        tvm = spec.time_varying_media
        if tvm:
            tvm = tvm if isinstance(tvm, HSGPSpec) else HSGPSpec()
            mmm.model.add_coord("media_temporal_latent_m", range(tvm.m))
            f = _hsgp("media_temporal_latent", t - n_train / 2, tvm, n_train / 2, panel, table)
            # multiplier with mean one over the dates at hand (keeps beta identified)
            multiplier = pm.Deterministic("media_temporal_latent_multiplier", pt.exp(f - f.mean()), dims="date")
            contrib = contrib * multiplier[bc + (None,)]
        contrib = pm.Deterministic("channel_contribution", contrib, dims=("date", *panel, "channel"))
        ts = pt.as_tensor_variable(target_scale)
        pm.Deterministic("channel_contribution_original_scale", contrib * ts[None, ..., None], dims=("date", *panel, "channel"))
        pm.Deterministic("total_media_contribution_original_scale", (contrib * ts[None, ..., None]).sum())

        priors = {k: spec.priors.get(k, v) for k, v in DEFAULT_PRIORS.items()}
        ip = parse_prior(priors["intercept"], "model.priors.intercept")
        idims = _param_dims(ip, panel)
        intercept = create("intercept_contribution", ip, idims)
        table.append({"variable": "intercept_contribution", "distribution": describe_prior(ip), "dims": ", ".join(idims)})
        if spec.time_varying_intercept:
            tvi = spec.time_varying_intercept
            tvi = tvi if isinstance(tvi, HSGPSpec) else HSGPSpec()
            mmm.model.add_coord("intercept_latent_m", range(tvi.m))
            f_i = _hsgp("intercept_latent", t - n_train / 2, tvi, n_train / 2, panel, table)
            intercept = handle_dims(intercept, idims, ("date", *panel)) * pt.exp(f_i - f_i.mean())[bc]
            mu = intercept
        else:
            mu = handle_dims(intercept, idims, ("date", *panel))
        mu = mu + contrib.sum(axis=-1)

        if data.controls:
            C = pm.Data("control_data", values["control_data"], dims=("date", *panel, "control"))
            gp_ = parse_prior(priors["gamma_control"], "model.priors.gamma_control")
            gdims = _param_dims(gp_, ("control",))
            gamma = handle_dims(create("gamma_control", gp_, gdims), gdims, (*panel, "control"))
            table.append({"variable": "gamma_control", "distribution": describe_prior(gp_), "dims": ", ".join(gdims)})
            mu = mu + pm.Deterministic("control_contribution", C * gamma, dims=("date", *panel, "control")).sum(axis=-1)

        if spec.yearly_seasonality:
            F = pm.Data("fourier_features", values["fourier_features"], dims=("date", "fourier_mode"))
            fp = parse_prior(priors["gamma_fourier"], "model.priors.gamma_fourier")
            fdims = _param_dims(fp, ("fourier_mode",))
            gf = handle_dims(create("gamma_fourier", fp, fdims), fdims, (*panel, "fourier_mode"))
            table.append({"variable": "gamma_fourier", "distribution": describe_prior(fp), "dims": ", ".join(fdims)})
            F_b = F[(slice(None),) + (None,) * len(panel) + (slice(None),)]
            season = (F_b * gf).sum(axis=-1) + pt.zeros_like(y)  # full (date, *panel) even if gf lacks panel dims
            season = pm.Deterministic("yearly_seasonality_contribution", season, dims=("date", *panel))
            mu = mu + season

        if spec.trend:
            tp = parse_prior(priors["gamma_trend"], "model.priors.gamma_trend")
            tdims = _param_dims(tp, panel) if panel else ()
            gt = handle_dims(create("gamma_trend", tp, tdims), tdims, panel)
            table.append({"variable": "gamma_trend", "distribution": describe_prior(tp), "dims": ", ".join(tdims)})
            mu = mu + (t / n_train)[bc] * gt

        lik = parse_prior(spec.likelihood, "model.likelihood")
        lik = lik.deepcopy()
        lik.dims = ("date", *panel)
        lik.create_likelihood_variable("y", mu=mu, observed=y)
        table.append({"variable": "y", "distribution": describe_prior(lik), "dims": ", ".join(lik.dims)})
    return mmm
