"""Checks of a case against its data, before anything runs (``mmm-report validate`` and the start of ``run``).

Everything that can be known before fitting is reported at once, each problem naming the field and the
value: the data themselves (``data.prepare``), then the optimization section against the data.
"""

from __future__ import annotations

import xarray as xr

from mmmhelpers.artifacts import prepare_data
from mmmhelpers.config import Params
from mmmhelpers.data import MMMData

__all__ = ["check_case"]


def check_case(params: Params) -> tuple[MMMData | None, xr.Dataset | None, list[str]]:
    """Params against their data, before anything runs: the data themselves, then the optimization
    section (unknown channels/geos, bounds and constraints vs the budget and every scenario)."""
    from mmmhelpers.data import DataError
    from mmmhelpers.optimize import plan_problems

    try:
        data, truth = prepare_data(params)
    except (DataError, ValueError, NotImplementedError, OSError) as err:
        return None, None, [str(err)]
    problems = []
    if params.optimization is not None:
        problems += plan_problems(params.optimization, data.channels, data.panel, data.X.max(axis=0))
    return data, truth, problems
