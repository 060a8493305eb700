"""A case's data: the CSV the params name, loaded and validated (with its truth when a file or columns give it), or
a simulation with its known truth (``prepare_data``, stage 01 and every command that needs the data)."""

from __future__ import annotations

import xarray as xr

from mmmhelpers.config import Params
from mmmhelpers.data import MMMData, load_csv, truth_from_csv
from mmmhelpers.formatting import period_from
from mmmhelpers.seeds import seed_for
from mmmhelpers.simulate import simulate

__all__ = ["prepare_data"]


def prepare_data(params: Params) -> tuple[MMMData, xr.Dataset | None]:
    """Simulate (truth known) or load + validate the CSV (truth from ``data.truth`` if given)."""
    if params.data.path is not None:
        path = params.resolve(params.data.path)
        data = load_csv(path, params.data)
        parts = [xr.load_dataset(params.resolve(params.data.truth))] if params.data.truth else []
        if params.data.truth_columns or params.data.truth_values:
            links = {f"{kind}_latent_multiplier": getattr(spec, "link", "exp") for kind, spec in
                     [("media_temporal", params.model.time_varying_media),
                      ("intercept", params.model.time_varying_intercept)]}
            parts.append(truth_from_csv(path, params.data, data, links))
        out = data, (xr.merge(parts) if parts else None)
    else:
        out = simulate(params.simulate, seed_for(params.seed, "simulate"))
    period_from(out[0])  # the pages' period word, unless report.period names it
    return out
