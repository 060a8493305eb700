"""Budget allocation over posterior draws with scipy (SLSQP, exact gradients from pytensor).

The response of an allocation is the media contribution (original scale) summed over a window:
spend ``x[panel, channel]`` every period for ``num_periods`` periods, then ``l_max - 1`` periods of
zero spend so that carryover is counted. The objective is its posterior mean. The pytensor
function (value and gradient over all draws) is compiled once and reused for every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr
from scipy.optimize import minimize

from mmmhelpers.model import MMM
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS, adstock_weights, lagged_sum, saturation

__all__ = ["ResponseModel", "response_model", "optimize_budget", "allocation_records", "allocate", "hdi94"]


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


def _param_draws(idata, name: str, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray:
    post = az.extract(idata, var_names=[name]).isel(sample=idx)
    template = xr.DataArray(np.zeros((*[len(v) for v in panel.values()], len(channels))),
                            dims=(*panel, "channel"), coords={**panel, "channel": channels})
    return post.broadcast_like(template).transpose("sample", *panel, "channel").values


def response_model(mmm: MMM, idata, num_periods: int, n_draws: int = 400, seed: int = 0) -> ResponseModel:
    """Compile the window-response function of ``mmm``'s media part for ``n_draws`` posterior draws."""
    spec = mmm.spec
    panel, channels = mmm.data.panel, mmm.data.channels
    ad_comp, sat_comp = ADSTOCKS[spec.adstock.type], SATURATIONS[spec.saturation.type]
    names = [f"adstock_{p}" for p in ad_comp.params] + [f"saturation_{p}" for p in sat_comp.params]
    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(n_draws, n), replace=False))  # one subset for all
    values = {name: _param_draws(idata, name, panel, channels, idx) for name in names}
    shape = (*[len(v) for v in panel.values()], len(channels))
    l_max = spec.adstock.l_max
    n_t = num_periods + l_max - 1

    x = pt.vector("x")
    spend = x.reshape(shape) / mmm.channel_scale
    on = np.r_[np.ones(num_periods), np.zeros(l_max - 1)].reshape((n_t, 1) + (1,) * len(shape))
    series = on * spend[None, None]  # (time, 1(draw), *panel, channel)
    ad = {p: pt.as_tensor_variable(values[f"adstock_{p}"]) for p in ad_comp.params}
    sat = {p: pt.as_tensor_variable(values[f"saturation_{p}"]) for p in sat_comp.params}
    w = adstock_weights(spec.adstock.type, ad, l_max, spec.adstock.normalize)
    contrib = saturation(lagged_sum(series, w), spec.saturation.type, sat)  # (time, draw, *panel, channel)
    contrib = contrib * mmm.target_scale[..., None]
    per_draw = contrib.sum(axis=0).reshape((contrib.shape[1], -1)).sum(axis=1)
    grad = pt.grad(per_draw.mean(), x)
    fn = pytensor.function([x], [per_draw, grad])
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


def _response(draws: np.ndarray) -> dict:
    return {"mean": round(float(np.mean(draws)), 4), "hdi_94": [round(v, 4) for v in hdi94(draws)]}


def allocate(params, data, idata) -> tuple[dict, ResponseModel]:
    """Stage 05: optimal split, the historical split as baseline, and budget scenarios (``allocation.json``)."""
    from mmmhelpers.model import model_for

    opt = params.optimization
    mmm = model_for(params, data)
    rm = response_model(mmm, idata, opt.num_periods, n_draws=opt.draws, seed=params.seed)
    history = data.X.mean(axis=0)  # historical average split, (*panel, channel)
    initial = history / max(history.sum(), 1e-12) * opt.budget
    best = optimize_budget(rm, opt.budget, opt.bounds, x0=initial)
    scenarios = []
    for m in opt.scenarios:
        res = optimize_budget(rm, opt.budget * m, opt.bounds, x0=best["x"])
        scenarios.append({"multiplier": m, "budget_per_period": opt.budget * m, "response": _response(res["draws"]),
                          "allocation": allocation_records(rm, res["x"])})
    alloc = {
        "budget_per_period": opt.budget,
        "num_periods": opt.num_periods,
        "objective": "mean_response_in_window",
        "allocation": allocation_records(rm, best["x"]),
        "response": _response(best["draws"]),
        "initial": {"allocation": allocation_records(rm, initial), "response": _response(rm.draws(initial))},
        "scenarios": scenarios,
        "optimizer": {"method": "SLSQP", "success": best["success"], "message": best["message"],
                      "posterior_draws": int(len(best["draws"]))},
    }
    return alloc, rm
