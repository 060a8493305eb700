"""Optimize budgets on any user ``pm.Model``: the protocol that turns it into a :class:`ResponseModel`.

The protocol (docs/custom_models.md):

- spend per period is a ``pm.Data`` (default ``"channel_data"``) with dims ``("date", "channel")`` or
  ``("date", *panel, "channel")``;
- the response is a deterministic (default ``"contribution"``) whose first dim is ``"date"``; the response
  of a plan is its sum over all dims, per posterior draw;
- ``idata.posterior`` holds the free random variables the response depends on, in constrained space (as
  ``pm.sample`` saves them).

A plan replaces the spend data in the model's own graph, posterior draws replace the free random
variables, and the graph is vectorized over draws and compiled once. The window is the plan's periods
only: spend before the plan (carryover history) and the plan's carryover past its end are not modelled.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors

from mmmhelpers.response import ResponseModel, Window, _Lazy, draw_indices
from mmmhelpers.transforms import NUMPY_MODE, evaluate

__all__ = ["response_model_from_pymc"]


def _dims(model: pm.Model, name: str) -> tuple[str, ...]:
    return tuple(model.named_vars_to_dims.get(name) or ())


def _coords(model: pm.Model, dim: str) -> list:
    values = model.coords.get(dim)
    return list(values) if values is not None else list(range(int(evaluate(model.dim_lengths[dim]))))


def _posterior(model: pm.Model, idata, rv, idx: np.ndarray, shapes: dict) -> np.ndarray:
    """Draws ``idx`` of a free random variable, ``(draw, *shape)`` in the model's dim order and dtype."""
    da = idata.posterior[rv.name]
    dims = _dims(model, rv.name)
    if dims and set(dims) == set(da.dims[2:]):
        da = da.transpose("chain", "draw", *dims)
    values = da.stack(sample=("chain", "draw")).transpose("sample", ...).isel(sample=idx).values
    want = tuple(shapes[rv.name])
    if values.shape[1:] != want:
        raise ValueError(f"idata.posterior[{rv.name!r}] has shape {values.shape[1:]} per draw; the model's "
                         f"{rv.name!r} has shape {want}")
    return values.astype(rv.dtype)


def _checked_parts(model: pm.Model, idata, spend: str, response: str):
    """The spend data, the response, their dims, the response's ancestors and the free variables it depends on, each
    checked (a ``ValueError`` names what is wrong and what the model has instead)."""
    if spend not in model.named_vars or model[spend] not in model.data_vars:
        raise ValueError(f"spend {spend!r} is not a pm.Data of the model (its data: {[v.name for v in model.data_vars]})")
    if response not in model.named_vars:
        raise ValueError(f"response {response!r} is not a variable of the model (its deterministics: "
                         f"{[v.name for v in model.deterministics]}; all variables: {sorted(model.named_vars)})")
    spend_var, out = model[spend], model[response]
    sdims, rdims = _dims(model, spend), _dims(model, response)
    if len(sdims) < 2 or sdims[0] != "date" or sdims[-1] != "channel":
        raise ValueError(f"spend {spend!r} has dims {sdims}: expected ('date', *panel, 'channel')")
    if not rdims or rdims[0] != "date":
        raise ValueError(f"response {response!r} has dims {rdims}: its first dim must be 'date'")
    if not spend_var.dtype.startswith("float"):
        raise ValueError(f"spend {spend!r} has dtype {spend_var.dtype}: it must be a float pm.Data")
    graph = set(ancestors([out]))
    if spend_var not in graph:
        raise ValueError(f"response {response!r} does not depend on the spend {spend!r}")
    rvs = [rv for rv in model.free_RVs if rv in graph]
    other = [rv.name for rv in model.basic_RVs if rv in graph and rv not in rvs]
    if other:
        raise ValueError(f"response {response!r} depends on random variables that are not free: {other}")
    missing = [rv.name for rv in rvs if rv.name not in idata.posterior]
    if missing:
        raise ValueError(f"free random variables of {response!r} missing from idata.posterior: {missing} "
                         f"(posterior has: {list(idata.posterior.data_vars)})")
    return spend_var, out, sdims, rdims, graph, rvs


def response_model_from_pymc(model: pm.Model, idata, num_periods: int, spend: str = "channel_data",
                             response: str = "contribution", n_draws: int = 400, seed: int = 0) -> ResponseModel:
    """The response of plans over ``num_periods`` for ``n_draws`` posterior draws of a user model.

    ``model[spend]`` is the spend ``pm.Data`` (dims ``("date", *panel, "channel")``), ``model[response]``
    a deterministic whose first dim is ``"date"``; a plan's response is its sum over all dims. No history
    carries into the window and no tail is counted. Per-cell contributions (reports, response curves) need
    the response to have the spend's dims; the optimizer only needs the total. Errors are ``ValueError``.
    """
    spend_var, out, sdims, rdims, graph, rvs = _checked_parts(model, idata, spend, response)
    channels = _coords(model, "channel")
    panel = {d: _coords(model, d) for d in sdims[1:-1]}
    shape = (*[len(v) for v in panel.values()], len(channels))
    n_cells = int(np.prod(shape))
    idx = draw_indices(idata, n_draws, seed)
    n = len(idx)

    plan = pt.tensor("plan", dtype=spend_var.dtype, shape=(None,) * spend_var.ndim)
    holders = {rv: rv.type() for rv in rvs}
    core = graph_replace(out, {spend_var: plan, **holders}, strict=True)
    draws = pt.tensor3("spend", dtype=spend_var.dtype)  # (draw, period, cell)
    batch: dict[Variable, Variable] = {plan: draws.reshape((n, draws.shape[1], *shape))}
    shapes = model.eval_rv_shapes()
    batch |= {h: pt.constant(_posterior(model, idata, rv, idx, shapes)) for rv, h in holders.items()}
    observed = spend_var.get_value()
    try:
        # both typed for any graph: a tensor vectorizes to a tensor, one wrt has one gradient
        contrib = cast(pt.TensorVariable, vectorize_graph(core, batch))  # (draw, period, ...)
        per_draw = contrib.sum(axis=tuple(range(1, contrib.ndim)))
        jac = cast(Variable, pt.grad(per_draw.sum(), draws))
        value_and_jac = pytensor.function([draws], [per_draw, jac], allow_input_downcast=True, mode=NUMPY_MODE)
        value_and_jac(np.broadcast_to(observed.mean(0).reshape(1, 1, n_cells), (n, num_periods, n_cells)))
    except Exception as err:
        fixed = [v.name for v in [*model.data_vars, *rvs] if v in graph and v is not spend_var
                 and "date" in _dims(model, v.name)]
        hint = f"; it depends on {fixed}, whose 'date' length is fixed" if fixed else ""
        raise ValueError(f"response {response!r} cannot be evaluated for a plan of {num_periods} periods{hint}: "
                         f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err

    def detail():
        if rdims != sdims:
            raise ValueError(f"per-cell contributions need response {response!r} with the spend's dims {sdims}; "
                             f"it has {rdims}")
        return pytensor.function([draws], contrib.reshape((n, contrib.shape[1], n_cells)), allow_input_downcast=True,
                               mode=NUMPY_MODE)

    window = Window(history_weeks=0, num_periods=num_periods, tail_weeks=0, objective_window="window",
                    multiplier="none")
    return ResponseModel(channels, panel, window, idx, value_and_jac, _Lazy(detail),
                         observed_max=observed.max(axis=0), observed_min=observed.min(axis=0))
