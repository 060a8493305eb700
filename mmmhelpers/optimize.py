"""Budget allocation over posterior draws with scipy (SLSQP, exact gradients from pytensor).

The response of an allocation is the media contribution (original scale) summed over a window:
spend ``x[panel, channel]`` every period for ``num_periods`` periods, then ``l_max - 1`` periods of
zero spend so that carryover is counted. The objective is its posterior mean. The pytensor
function (value and gradient over all draws) is compiled once and reused for every scenario.
Spend reaches the response through the model's own media path (``model.media_contribution``);
a time-varying media multiplier enters at its value in the last observed week.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr
from scipy.optimize import minimize

from mmmhelpers.artifacts import Allocation, Baseline, Gain, Response, Scenario
from mmmhelpers.config import ModelSpec
from mmmhelpers.data import MMMData
from mmmhelpers.model import media_contribution, scales
from mmmhelpers.seeds import seed_for
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS

__all__ = ["ResponseModel", "posterior_media", "response_model", "optimize_budget", "allocation_records", "allocate", "hdi94",
           "paired_gain"]


def hdi94(samples: np.ndarray) -> list[float]:
    """94% HDI of a 1-D sample (arviz)."""
    lo, hi = az.hdi(np.asarray(samples, dtype=float), hdi_prob=0.94)
    return [float(lo), float(hi)]


@dataclass
class ResponseModel:
    """Window response of an allocation for every posterior draw; compiled once."""

    channels: list[str]
    panel: dict[str, list]
    num_periods: int
    _fn: object  # x(flat) -> (response per draw, gradient of the mean)
    _per_cell: object  # x(flat) -> mean response per cell (panel × channel)

    @property
    def shape(self) -> tuple[int, ...]:
        return (*[len(v) for v in self.panel.values()], len(self.channels))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def draws(self, x: np.ndarray) -> np.ndarray:
        """Window response per posterior draw for spend ``x`` (per period, shape ``self.shape``)."""
        return self._fn(np.asarray(x, dtype=float).ravel())[0]

    def mean_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        r, g = self._fn(np.asarray(x, dtype=float).ravel())
        return float(r.mean()), g

    def per_cell(self, x: np.ndarray) -> np.ndarray:
        return self._per_cell(np.asarray(x, dtype=float).ravel()).reshape(self.shape)


def _draws_on_grid(da: xr.DataArray, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray:
    """Posterior draws ``idx`` of ``da`` (chain, draw, ...) broadcast to ``(sample, *panel, channel)``."""
    post = da.stack(sample=("chain", "draw")).isel(sample=idx)
    template = xr.DataArray(np.zeros((*[len(v) for v in panel.values()], len(channels))),
                            dims=(*panel, "channel"), coords={**panel, "channel": channels})
    return post.broadcast_like(template).transpose("sample", *panel, "channel").values


def _param_draws(idata, name: str, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray:
    return _draws_on_grid(idata.posterior[name], panel, channels, idx)


def _window_multiplier(idata, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray | None:
    """The media multiplier at the last observed week, per draw ``(1, draw, *panel, channel)``, or None.

    A time-varying model carries its last known media effectiveness into the plan's window.
    """
    name = "media_temporal_latent_multiplier"
    if name not in idata.posterior:
        return None
    return _draws_on_grid(idata.posterior[name].isel(date=-1), panel, channels, idx)[None]


def posterior_media(spec: ModelSpec, data: MMMData, idata, spend, idx: np.ndarray, multiplier=None):
    """Media contribution (original units, ``(time, draw, *panel, channel)``) of a spend series under draws ``idx``.

    ``spend`` is ``(time, 1, *panel, channel)`` in original units (numpy or pytensor). It runs through the
    model's own media path (``model.media_contribution``) with posterior draws in place of random
    variables, scaled with the training data's scales.
    """
    panel, channels = data.panel, data.channels
    channel_scale, target_scale, _ = scales(data, spec.scaling)

    def draws_of(prefix: str, registry) -> dict:
        return {p: pt.as_tensor_variable(_param_draws(idata, f"{prefix}_{p}", panel, channels, idx))
                for p in registry[getattr(spec, prefix).type].params}

    contrib = media_contribution(spend / channel_scale, spec, draws_of("adstock", ADSTOCKS),
                                 draws_of("saturation", SATURATIONS), multiplier)
    return contrib * target_scale[..., None]


def response_model(spec: ModelSpec, data: MMMData, idata, num_periods: int, n_draws: int = 400,
                   seed: int = 0) -> ResponseModel:
    """Compile the window response of the media part for ``n_draws`` posterior draws (one subset for all)."""
    panel, channels = data.panel, data.channels
    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(n_draws, n), replace=False))
    shape = (*[len(v) for v in panel.values()], len(channels))
    l_max = spec.adstock.l_max
    x = pt.vector("x")
    on = np.r_[np.ones(num_periods), np.zeros(l_max - 1)].reshape((num_periods + l_max - 1, 1) + (1,) * len(shape))
    series = on * x.reshape(shape)[None, None]  # (time, 1(draw), *panel, channel)
    contrib = posterior_media(spec, data, idata, series, idx, _window_multiplier(idata, panel, channels, idx))
    per_draw = contrib.sum(axis=0).reshape((contrib.shape[1], -1)).sum(axis=1)
    fn = pytensor.function([x], [per_draw, pt.grad(per_draw.mean(), x)])
    per_cell = pytensor.function([x], contrib.sum(axis=0).mean(axis=0).ravel())
    return ResponseModel(list(channels), dict(panel), num_periods, fn, per_cell)


def _bounds(rm: ResponseModel, bounds: dict[str, tuple[float, float]], budget: float) -> list[tuple[float, float]]:
    unknown = set(bounds) - set(rm.channels)
    if unknown:
        raise ValueError(f"optimization.bounds: unknown channels {sorted(unknown)} (channels: {rm.channels})")
    per_channel = [bounds.get(c, (0.0, budget)) for c in rm.channels]
    cells = int(rm.size // len(rm.channels))
    return [tuple(map(float, per_channel[i % len(rm.channels)])) for i in range(cells * len(rm.channels))]


def optimize_budget(
    rm: ResponseModel,
    budget: float,
    bounds: dict[str, tuple[float, float]] | None = None,
    x0: np.ndarray | None = None,
) -> dict:
    """Maximize the posterior-mean window response s.t. ``sum(x) == budget`` and bounds per channel.

    Starts from ``x0`` (default: even split) and from the even split; keeps the best optimum.
    Returns ``{"x": allocation (rm.shape), "mean": ..., "draws": response per draw}``.
    """
    b = _bounds(rm, bounds or {}, budget)
    lo = np.array([v[0] for v in b])
    hi = np.array([v[1] for v in b])
    if lo.sum() > budget + 1e-9 or hi.sum() < budget - 1e-9:
        raise ValueError(f"optimization: budget {budget:,.0f} is outside what the bounds allow "
                         f"[{lo.sum():,.0f}, {hi.sum():,.0f}]")
    scale = budget

    def f(u):
        m, g = rm.mean_and_grad(u * scale)
        return -m / scale, -g

    starts = [np.full(rm.size, budget / rm.size)]
    if x0 is not None:
        starts.insert(0, np.asarray(x0, float).ravel() * budget / max(np.sum(x0), 1e-12))
    best = None
    for start in starts:
        u0 = np.clip(start, lo, hi) / scale
        res = minimize(
            f, u0, jac=True, method="SLSQP",
            bounds=list(zip(lo / scale, hi / scale)),
            constraints=[{"type": "eq", "fun": lambda u: u.sum() - 1.0, "jac": lambda u: np.ones_like(u)}],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        if best is None or res.fun < best.fun:
            best = res
    x = np.clip(best.x * scale, lo, hi).reshape(rm.shape)
    draws = rm.draws(x)
    return {"x": x, "mean": float(draws.mean()), "draws": draws, "success": bool(best.success), "message": str(best.message)}


def allocation_records(rm: ResponseModel, x: np.ndarray) -> list[dict]:
    """One record per channel (and panel coordinate), as in ``allocation.json``."""
    x = np.asarray(x).reshape(rm.shape)
    out = []
    for idx in np.ndindex(*rm.shape):
        rec = {d: rm.panel[d][i] for d, i in zip(rm.panel, idx[:-1])}
        out.append({"channel": rm.channels[idx[-1]], **rec, "spend_per_period": round(float(x[idx]), 2)})
    return out


def _response(draws: np.ndarray) -> Response:
    return Response(mean=round(float(np.mean(draws)), 4), hdi_94=[round(v, 4) for v in hdi94(draws)])


def paired_gain(plan_draws: np.ndarray, base_draws: np.ndarray) -> Gain:
    """Gain of a plan over a baseline evaluated on the same posterior draws: mean, 94% HDI, P(gain > 0).

    Paired draw by draw: the difference of two wide intervals says nothing, the interval of the difference does.
    """
    diff = np.asarray(plan_draws, float) - np.asarray(base_draws, float)
    return Gain(mean=round(float(diff.mean()), 4), hdi_94=[round(v, 4) for v in hdi94(diff)],
                prob_positive=round(float(np.mean(diff > 0)), 4))


def allocate(params, data: MMMData, idata) -> tuple[Allocation, ResponseModel]:
    """Stage 05: optimal split, the historical split as baseline, and budget scenarios (``allocation.json``)."""
    opt = params.optimization
    rm = response_model(params.model, data, idata, opt.num_periods, n_draws=opt.draws,
                        seed=seed_for(params.seed, "optimize"))
    history = data.X.mean(axis=0)  # historical average split, (*panel, channel)
    initial = history / max(history.sum(), 1e-12) * opt.budget
    best = optimize_budget(rm, opt.budget, opt.bounds, x0=initial)
    initial_draws = rm.draws(initial)
    scenarios = []
    for m in opt.scenarios:
        res = optimize_budget(rm, opt.budget * m, opt.bounds, x0=best["x"])
        scenarios.append(Scenario(multiplier=m, budget_per_period=opt.budget * m, response=_response(res["draws"]),
                                  allocation=allocation_records(rm, res["x"])))
    alloc = Allocation(
        budget_per_period=opt.budget,
        num_periods=opt.num_periods,
        objective="mean_response_in_window",
        allocation=allocation_records(rm, best["x"]),
        response=_response(best["draws"]),
        initial=Baseline(allocation=allocation_records(rm, initial), response=_response(initial_draws),
                         gain=paired_gain(best["draws"], initial_draws)),
        scenarios=scenarios,
        optimizer={"method": "SLSQP", "success": best["success"], "message": best["message"],
                   "posterior_draws": int(len(best["draws"]))},
    )
    return alloc, rm
