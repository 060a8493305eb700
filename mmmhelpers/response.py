"""The incremental media response of a spend plan over posterior draws, compiled once.

A plan is spend per period and per cell (``*panel, channel``) for ``num_periods`` periods. The window
starts where the data end: the observed spend of the last ``l_max - 1`` weeks carries into it
(``carryover_history``), and the plan's own spend carries ``l_max - 1`` periods past its end (the
tail). The response of a plan is incremental: the media contribution with the plan minus the media
contribution with zero plan spend, both with the same history. Spend reaches the response through the
model's own media path (``model.media_contribution``) with posterior draws in place of random
variables. A time-varying media multiplier enters at its value in the last observed week.

Cells are independent (a cell's spend reaches only its own contribution), so one gradient of the sum
over draws with respect to a per-draw copy of the plan gives every draw's exact gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pytensor.graph.basic import Variable

from mmmhelpers.config import ModelSpec
from mmmhelpers.data import MMMData
from mmmhelpers.model import media_contribution, scales
from mmmhelpers.registry import ADSTOCK_PARAMS, SATURATION_PARAMS, kind_params
from mmmhelpers.transforms import NUMPY_MODE, shifted_sum

__all__ = ["ResponseModel", "PlanResponse", "Window", "draw_subset", "media_per_spend", "media_draws",
           "data_window_multiplier", "posterior_media", "response_model", "response_curves", "draw_indices",
           "MULTIPLIER_NAME"]

MULTIPLIER_NAME = "media_temporal_latent_multiplier"


def draw_indices(idata, n_draws: int, seed: int) -> np.ndarray:
    """A fixed random subset of ``n_draws`` stacked (chain, draw) posterior samples, sorted."""
    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    return np.sort(np.random.default_rng(seed).choice(n, size=min(n_draws, n), replace=False))


def _draws_on_grid(da: xr.DataArray, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray:
    """Posterior draws ``idx`` of ``da`` (chain, draw, ...) broadcast to ``(sample, *panel, channel)``."""
    post = da.stack(sample=("chain", "draw")).isel(sample=idx)
    template = xr.DataArray(np.zeros((*[len(v) for v in panel.values()], len(channels))),
                            dims=(*panel, "channel"), coords={**panel, "channel": channels})
    return post.broadcast_like(template).transpose("sample", *panel, "channel").values


def last_week_multiplier(idata, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray | None:
    """The media multiplier at the last observed week, per draw ``(sample, *panel, channel)``, or None."""
    if MULTIPLIER_NAME not in idata.posterior:
        return None
    return _draws_on_grid(idata.posterior[MULTIPLIER_NAME].isel(date=-1), panel, channels, idx)


def data_window_multiplier(idata, panel: dict, channels: list[str], idx: np.ndarray) -> np.ndarray | None:
    """The media multiplier over the data's weeks, per draw ``(date, sample, *panel, channel)``, or None."""
    if MULTIPLIER_NAME not in idata.posterior:
        return None
    da = idata.posterior[MULTIPLIER_NAME]
    post = da.stack(sample=("chain", "draw")).isel(sample=idx)
    template = xr.DataArray(np.zeros((*[len(v) for v in panel.values()], len(channels))),
                            dims=(*panel, "channel"), coords={**panel, "channel": channels})
    return post.broadcast_like(template).transpose("date", "sample", *panel, "channel").values


def media_draws(spec: ModelSpec, data: MMMData, idata, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Posterior draws ``idx`` of every media parameter ``(sample, *panel, channel)``, named as in the posterior
    (``adstock_alpha``, ``saturation_lam``, ...)."""
    kinds = {"adstock": (ADSTOCK_PARAMS, spec.adstock.kinds(data.channels)),
             "saturation": (SATURATION_PARAMS, spec.saturation.kinds(data.channels))}
    return {f"{prefix}_{p}": _draws_on_grid(idata.posterior[f"{prefix}_{p}"], data.panel, data.channels, idx)
            for prefix, (table, kind) in kinds.items() for p in kind_params(table, kind)}


def _media(spend, spec: ModelSpec, channels: list[str], draws: dict, multiplier, channel_scale, target_scale):
    """Media contribution in original units of ``spend`` (original units) under ``draws`` (see ``media_draws``):
    numpy or PyTensor values, the same path either way."""
    def of(prefix: str) -> dict:
        return {k.removeprefix(prefix + "_"): v for k, v in draws.items() if k.startswith(prefix + "_")}

    contrib = media_contribution(spend / channel_scale, spec, of("adstock"), of("saturation"), multiplier,
                                 lagged=shifted_sum, channels=channels)
    return contrib * target_scale[..., None]


def posterior_media(spec: ModelSpec, data: MMMData, idata, spend, idx: np.ndarray, multiplier=None):
    """Media contribution (original units, ``(time, draw, *panel, channel)``) of a spend series under draws ``idx``.

    ``spend`` is ``(time, 1 or draw, *panel, channel)`` in original units (numpy or pytensor), scaled with
    the training data's scales.
    """
    channel_scale, target_scale, _ = scales(data, spec.scaling)
    draws = {k: pt.as_tensor_variable(v) for k, v in media_draws(spec, data, idata, idx).items()}
    return _media(spend, spec, data.channels, draws, multiplier, channel_scale, target_scale)


@dataclass(frozen=True)
class Window:
    """The weeks a plan is judged on: history carried in, the plan's periods, the tail after them."""

    history_weeks: int  # observed weeks whose spend carries into the window (0: start from zero spend)
    num_periods: int
    tail_weeks: int  # periods after the window that still carry the plan's spend
    objective_window: str  # "window" or "window_and_tail": which part the optimizer maximizes
    multiplier: str  # how a time-varying media multiplier enters: "none" or "last_observed_week"

    def describe(self) -> str:
        hist = (f"the spend of the last {self.history_weeks} observed periods carries into it" if self.history_weeks
                else "it starts from zero spend (no history carried in)")
        part = "the window and its tail" if self.objective_window == "window_and_tail" else "the window only"
        mult = ("; the media multiplier is held at its value in the last observed period"
                if self.multiplier == "last_observed_week" else "")
        return (f"{self.num_periods} periods; {hist}; the plan's carryover is counted for {self.tail_weeks} periods "
                f"after it (the tail); the optimizer maximizes the response over {part}{mult}.")


class PlanCells:
    """The cells of a plan, ``(*panel, channel)``: their shape and count, and plans as ``(period, cell)`` matrices
    (for classes with ``panel``, ``channels`` and ``num_periods``)."""

    channels: list[str]
    panel: dict[str, list]
    if TYPE_CHECKING:  # each subclass's own property

        @property
        def num_periods(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]:
        return (*[len(v) for v in self.panel.values()], len(self.channels))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def plan_matrix(self, plan) -> np.ndarray:
        """A plan ``(num_periods, *shape)``, or flat ``shape`` spend repeated every period, as ``(period, cell)``."""
        plan = np.asarray(plan, dtype=float)
        if plan.shape == self.shape:
            plan = np.broadcast_to(plan, (self.num_periods, *self.shape))
        if plan.shape != (self.num_periods, *self.shape):
            raise ValueError(f"plan shape {plan.shape}: expected {self.shape} or {(self.num_periods, *self.shape)}")
        return plan.reshape(self.num_periods, self.size)


class PlanResponse(Protocol):
    """What the optimizer reads of a response: a :class:`ResponseModel`, or a joint response of several targets
    (``multi_objective.JointResponse``)."""

    channels: list[str]
    panel: dict[str, list]

    @property
    def num_periods(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def observed_max(self) -> np.ndarray | None: ...

    def value_and_jac(self, plan) -> tuple[np.ndarray, np.ndarray]: ...

    def draws(self, plan) -> np.ndarray: ...


@dataclass
class ResponseModel(PlanCells):
    """Incremental response of plans for a fixed set of posterior draws; compiled once, reused for every plan.

    Plans are arrays ``(num_periods, *panel, channel)`` of spend per period, or ``(*panel, channel)`` for
    flat spend. Responses are in the target's original units.
    """

    channels: list[str]
    panel: dict[str, list]
    window: Window
    draw_idx: np.ndarray
    # spend (draw, time, cell) -> (objective-window response per draw, its jacobian)
    _value_and_jac: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    # spend (draw, time, cell) -> incremental contribution (draw, time + tail, cell)
    _detail: Callable[[np.ndarray], np.ndarray]
    # highest spend per period seen, (*panel, channel)
    observed_max: np.ndarray | None = field(repr=False, default=None)
    observed_min: np.ndarray | None = field(repr=False, default=None)
    # per draw: the history's own response in the window
    carryover_in: np.ndarray | None = field(repr=False, default=None)
    # mean spend per period the data saw, (*panel, channel)
    historical: np.ndarray | None = field(repr=False, default=None)
    unit_price: np.ndarray | None = field(repr=False, default=None)  # the plan's cost per unit (NaN: bought in money)

    @property
    def n_draws(self) -> int:
        return len(self.draw_idx)

    @property
    def num_periods(self) -> int:
        return self.window.num_periods

    def _per_draw(self, plan) -> np.ndarray:
        plan = self.plan_matrix(plan)[None]
        return np.ascontiguousarray(np.broadcast_to(plan, (self.n_draws, *plan.shape[1:])))

    def value_and_jac(self, plan) -> tuple[np.ndarray, np.ndarray]:
        """Objective-window response per draw ``(draw,)`` and its exact jacobian ``(draw, period, cell)``."""
        r, j = self._value_and_jac(self._per_draw(plan))
        return r, j

    def draws(self, plan) -> np.ndarray:
        """Objective-window response per draw."""
        return self.value_and_jac(plan)[0]

    def contributions(self, plan, noisy: np.ndarray | None = None) -> np.ndarray:
        """Incremental contribution ``(draw, window + tail period, *panel, channel)``; ``noisy`` multiplies the spend."""
        spend = self._per_draw(plan)
        if noisy is not None:
            spend = spend * noisy.reshape(spend.shape)
        out = self._detail(spend)
        return out.reshape(self.n_draws, out.shape[1], *self.shape)

    def split(self, plan, noisy: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per draw: ``window`` and ``tail`` totals, ``cells`` (objective-window total per cell), ``objective`` (total)."""
        c = self.contributions(plan, noisy)
        n = self.num_periods
        stop = n if self.window.objective_window == "window" else c.shape[1]
        cells = c[:, :stop].reshape(self.n_draws, stop, -1).sum(1)
        return {"window": c[:, :n].reshape(self.n_draws, -1).sum(1), "tail": c[:, n:].reshape(self.n_draws, -1).sum(1),
                "cells": cells, "objective": cells.sum(1), "over_time": c.reshape(self.n_draws, c.shape[1], -1).sum(2)}

    def marginal(self, plan, weights: list[float] | None = None) -> np.ndarray:
        """Marginal ROAS per draw and cell ``(draw, cell)``: extra objective-window response per extra unit of
        window spend in that cell, spread over the periods by ``weights`` (default flat)."""
        w = np.asarray(weights if weights is not None else np.ones(self.num_periods), float)
        _, jac = self.value_and_jac(plan)
        return np.einsum("t,stc->sc", w, jac) / w.sum()


def draw_subset(rm: ResponseModel, keep: np.ndarray) -> ResponseModel:
    """``rm`` restricted to the posterior draws at positions ``keep``: the same compiled functions, evaluated on
    every draw (the others at zero spend) and the kept draws returned."""
    keep = np.asarray(keep)
    n = rm.n_draws

    def full(spend):  # spend (kept draw, period, cell) -> (draw, period, cell)
        out = np.zeros((n, *spend.shape[1:]))
        out[keep] = spend
        return out

    def value_and_jac(spend):
        r, j = rm._value_and_jac(full(spend))
        return r[keep], j[keep]

    return replace(rm, draw_idx=rm.draw_idx[keep], _value_and_jac=value_and_jac,
                   _detail=lambda spend: rm._detail(full(spend))[keep],
                   carryover_in=None if rm.carryover_in is None else rm.carryover_in[keep])


class _Lazy:
    """A function compiled on its first call."""

    def __init__(self, build):
        self._build, self._fn = build, None

    def __call__(self, *args):
        if self._fn is None:
            self._fn = self._build()
        return self._fn(*args)


def _multiplier(idata, data: MMMData, idx: np.ndarray) -> tuple[np.ndarray | None, str]:
    m = last_week_multiplier(idata, data.panel, data.channels, idx)
    return m, ("none" if m is None else "last_observed_week")


def media_per_spend(data: MMMData, unit_price: np.ndarray | None) -> np.ndarray:
    """``(*panel, channel)``: the model's media one unit of a plan's spend buys, the data's average cost per unit over
    the plan's (``unit_price``; one where it names none, and for channels bought in money)."""
    return np.ones(data.X.shape[1:]) if unit_price is None else data.cost_per_unit / np.asarray(unit_price, float)


# compiled response functions by structure (see ``_compiled``): refits, other windows and the truth reuse them
_COMPILED: dict[tuple, Callable] = {}


def _draw_axis(name: str) -> int | None:
    """The axis of an input of ``_compiled`` that runs over the posterior draws (None: it has none)."""
    return {"history": 1, "multiplier": 0}.get(name, 0 if name.startswith(("adstock_", "saturation_")) else None)


def _compiled(spec: ModelSpec, channels: list[str], shape: tuple[int, ...], window: Window,
              inputs: dict[str, np.ndarray]) -> Callable:
    """``f(spend, base, *inputs) -> (per_draw, jac, raw)`` for a response structure, compiled once: the objective per
    draw and its jacobian, and the contribution ``raw`` (time, draw, cell) before ``base`` is subtracted.

    The posterior draws, scales and history are inputs, not constants of the graph, and the numbers of draws and
    periods are not part of it: a stability refit, the next test's window or the truth's one draw differ only in
    them and reuse the compiled code (PyTensor's rewrites of one response graph take about a second). numpy runs it
    (``NUMPY_MODE``): C code took ~30 s to compile on an empty cache and ran no faster."""
    static = {k: tuple(None if i == _draw_axis(k) else n for i, n in enumerate(v.shape)) for k, v in inputs.items()}
    key = (spec.adstock.model_dump_json(exclude={"priors"}), spec.saturation.model_dump_json(exclude={"priors"}),
           tuple(channels), shape, window.history_weeks, window.tail_weeks, window.objective_window,
           tuple(static.items()))
    if key in _COMPILED:
        return _COMPILED[key]
    sym = {k: pt.tensor(k, shape=static[k], dtype=v.dtype) for k, v in inputs.items()}
    n_cells = int(np.prod(shape))
    spend = pt.tensor("spend", shape=(None, None, n_cells))  # (draw, period, cell)
    n_draws = spend.shape[0]
    bought = spend * sym["value"] if "value" in sym else spend  # at the data's prices
    series = pt.concatenate([sym["history"], bought.dimshuffle(1, 0, 2),
                             pt.zeros((window.tail_weeks, n_draws, n_cells))], axis=0)
    s = series.reshape((series.shape[0], n_draws, *shape))
    draws = {k: v for k, v in sym.items() if k.startswith(("adstock_", "saturation_"))}
    out = _media(s, spec, channels, draws, sym.get("multiplier"), sym["channel_scale"], sym["target_scale"])
    raw = out[window.history_weeks:].reshape((-1, n_draws, n_cells))  # (time, draw, cell)
    # raw at zero plan spend: the history's own contribution in the window and its tail
    base = pt.tensor("base", shape=(None, None, n_cells))
    incr = (raw - base).dimshuffle(1, 0, 2)  # (draw, time, cell)
    per_draw = (incr[:, :spend.shape[1]] if window.objective_window == "window" else incr).sum(axis=(1, 2))
    jac = cast(Variable, pt.grad(per_draw.sum(), spend))  # typed for any wrt: one variable, one gradient
    _COMPILED[key] = pytensor.function([spend, base, *sym.values()], [per_draw, jac, raw], mode=NUMPY_MODE)
    return _COMPILED[key]


def response_model(spec: ModelSpec, data: MMMData, idata, num_periods: int, n_draws: int = 400, seed: int = 0,
                   objective_window: str = "window_and_tail", carryover_history: bool = True,
                   unit_price: np.ndarray | None = None) -> ResponseModel:
    """The incremental response of plans over ``num_periods`` for ``n_draws`` posterior draws.

    A plan's spend buys media at the data's average cost per unit, or at ``unit_price`` (``(*panel, channel)``,
    the plan's cost per unit of channels bought in units): the spend then reaches the model as
    ``spend * data.cost_per_unit / unit_price``, and the observed range is the spend that buys the units seen."""
    panel, channels = data.panel, data.channels
    idx = draw_indices(idata, n_draws, seed)
    shape = (*[len(v) for v in panel.values()], len(channels))
    n_cells = int(np.prod(shape))
    tail = spec.adstock.l_max - 1
    hist_weeks = min(tail, data.n_dates) if carryover_history else 0
    history = data.X[data.n_dates - hist_weeks:].reshape(hist_weeks, 1, n_cells)
    multiplier, how = _multiplier(idata, data, idx)
    value = media_per_spend(data, unit_price)
    channel_scale, target_scale, _ = scales(data, spec.scaling)
    inputs = {"history": np.broadcast_to(history, (hist_weeks, len(idx), n_cells)).astype(float),
              "channel_scale": channel_scale, "target_scale": target_scale, **media_draws(spec, data, idata, idx)}
    if unit_price is not None:
        inputs["value"] = value.reshape(1, 1, n_cells)
    if multiplier is not None:
        inputs["multiplier"] = multiplier
    inputs = {k: np.ascontiguousarray(v, dtype=float) for k, v in inputs.items()}
    window = Window(hist_weeks, num_periods, tail, objective_window, how)
    f = _compiled(spec, list(channels), shape, window, inputs)
    args = list(inputs.values())
    base = np.zeros((num_periods + tail, len(idx), n_cells))  # subtracted so that responses are incremental
    if hist_weeks:  # the history's own contribution in the window
        base = f(np.zeros((len(idx), num_periods, n_cells)), base, *args)[2]
    return ResponseModel(list(channels), dict(panel), window, idx, lambda spend: tuple(f(spend, base, *args)[:2]),
                         lambda spend: (f(spend, base, *args)[2] - base).transpose(1, 0, 2),
                         observed_max=data.X.max(axis=0) / value, observed_min=data.X.min(axis=0) / value,
                         historical=data.spend.mean(axis=0), carryover_in=base[:num_periods].sum(axis=(0, 2)),
                         unit_price=_prices(data, unit_price))


def _prices(data: MMMData, unit_price: np.ndarray | None) -> np.ndarray | None:
    """What one unit costs in the plan, per cell (NaN for channels bought in money); None: no channel has units."""
    if not data.units_columns:
        return None
    bought = np.isin(data.channels, list(data.units_columns))
    price = data.cost_per_unit if unit_price is None else np.asarray(unit_price, float)
    return np.where(bought, price, np.nan)


def response_curves(rm: ResponseModel, n_points: int = 41, max_multiple: float = 2.0,
                    weights: list[float] | None = None, reach: np.ndarray | None = None) -> xr.Dataset:
    """Response and marginal ROAS of each cell against its spend per period, from 0 to ``max_multiple`` times the
    most it spent in one week, or 10% past ``reach`` (e.g. a plan's spend per cell) if that is further
    (posterior mean and 94% HDI over the model's draws).

    The response is the incremental one of the window (and tail, if the objective counts it) for flat spend
    at that level; cells are independent, so every cell's curve comes from the same evaluations.
    """
    import arviz as az

    from mmmhelpers.constraints import cell_labels

    assert rm.observed_max is not None and rm.observed_min is not None, "a response model of a model's data"
    top = np.where(rm.observed_max > 0, rm.observed_max, 1.0).ravel() * max_multiple
    if reach is not None:
        top = np.maximum(top, 1.1 * np.asarray(reach, float).ravel())
    levels = np.linspace(0.0, 1.0, n_points)[:, None] * top[None]  # (point, cell)
    resp, marg = [], []
    for lv in levels:
        plan = lv.reshape(rm.shape)
        resp.append(rm.split(plan)["cells"])
        marg.append(rm.marginal(plan, weights))
    stacked = {"response": np.stack(resp, 1), "mroas": np.stack(marg, 1)}  # (draw, point, cell)

    def summary(a):
        hdi = az.hdi(a[None], hdi_prob=0.94)  # (point, cell, 2) over the draw axis
        return a.mean(0), hdi[..., 0], hdi[..., 1]

    dims = ("point", "cell")
    out = {"spend_per_period": (dims, levels)}
    for name, arr in stacked.items():
        mean, lo, hi = summary(arr)
        out |= {name: (dims, mean), f"{name}_lo": (dims, lo), f"{name}_hi": (dims, hi)}
    ds = xr.Dataset(out, coords={"cell": cell_labels(rm.channels, rm.panel), "point": np.arange(n_points)})
    ds["observed_min"] = ("cell", rm.observed_min.ravel())
    ds["observed_max"] = ("cell", rm.observed_max.ravel())
    ds.attrs["num_periods"] = rm.num_periods
    return ds
