"""Checks of a case against its data, before anything runs (``mmm-report validate`` and the start of ``run``).

Everything that can be known before fitting is reported at once, each problem naming the field and the
value: the files the params name, the data themselves (``data.from_frame``: values, dates, panel), what the
model needs of them (enough weeks, channels that vary and can be told apart, a target that varies), then the
optimization section against the data. :func:`check_warnings` lists what is suspicious but valid.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import xarray as xr

from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import Params
from mmmhelpers.data import DAY_FIRST, DataError, MMMData, numeric_date_order, read_plan, read_table

__all__ = ["check_case", "check_warnings", "data_problems", "MIN_WEEKS", "CV_MIN", "CORR_MAX", "SPARSE_SHARE"]

MIN_WEEKS = 20  # the fewest training weeks a fit gets (and at least 2 x model.adstock.l_max)
CV_MIN = 1e-3  # a channel whose spend varies less (sd / mean) is a second intercept
CORR_MAX = 0.98  # two channels whose spend correlates more cannot be told apart
SPARSE_SHARE = 0.05  # a channel spending in fewer weeks than this share gets a warning


def check_case(params: Params) -> tuple[MMMData | None, xr.Dataset | None, list[str]]:
    """Params against their data, before anything runs: the files they name, the data themselves, what the
    model needs of the data (:func:`data_problems`), then the optimization section (unknown channels/geos,
    bounds and constraints vs the budget and every scenario)."""
    from mmmhelpers.optimize import plan_problems, plan_unit_price
    from mmmhelpers.response import media_per_spend

    problems = []
    truth_path = params.resolve(params.data.truth)
    if truth_path is not None and not truth_path.exists():
        problems.append(f"data.truth: file not found: {truth_path}")
        params = params.model_copy(update={"data": params.data.model_copy(update={"truth": None})})
    try:
        data, truth = prepare_data(params)
    except DataError as err:
        return None, None, problems + err.problems
    except (ValueError, NotImplementedError, OSError) as err:
        return None, None, problems + [str(err)]
    problems += data_problems(params, data)
    problems += _lift_test_problems(params, data)
    problems += _experiment_problems(params, data)
    problems += _roas_prior_problems(params, data)
    problems += _plan_problems(params, data)
    if params.optimization is not None:
        unpriced = sorted(set(params.optimization.cost_per_unit) - set(data.units_columns))
        if unpriced:
            return data, truth, problems + [
                f"optimization.cost_per_unit: {unpriced} {'is' if len(unpriced) == 1 else 'are'} not bought in units "
                f"(data.units_columns names {sorted(data.units_columns) or 'none'}): a channel bought in money has no "
                "cost per unit"]
        priced = _market_price_problems(params.optimization.cost_per_unit, data)
        if priced:
            return data, truth, problems + priced
        value = media_per_spend(data, plan_unit_price(params.optimization, data))  # spend buying the units seen
        problems += plan_problems(params.optimization, data.channels, data.panel, data.X.max(axis=0) / value,
                                  data.spend.mean(axis=0))
    return data, truth, problems


def _cells(data: MMMData) -> list[tuple[tuple, str]]:
    """Each panel cell: its index and its words (``""`` for a single market, ``" in geo 'a'"``)."""
    sizes = [len(v) for v in data.panel.values()]
    out = []
    for idx in np.ndindex(*sizes):
        words = ", ".join(f"{d} {data.panel[d][i]!r}" for d, i in zip(data.panel, idx))
        out.append((idx, f" in {words}" if words else ""))
    return out


def _source(params: Params) -> str:
    return "data.path" if params.data.path is not None else "simulate"


def _drop_channel(params: Params) -> str:
    return "remove it from data.channel_columns" if params.data.path is not None else "check simulate.true_params"


def _weeks_problems(params: Params, n: int, unit: str = "week") -> list[str]:
    """Enough periods (``unit``: the data's day, week or month) for the model, and for the earliest out-of-sample
    fold to train on."""
    l_max = params.model.adstock.l_max
    need = max(MIN_WEEKS, 2 * l_max)
    if n < need:
        more = f"data.path: give more {unit}s" if params.data.path is not None else "raise simulate.n_weeks"
        return [f"{_source(params)}: {n} {unit}s are too few for this model: it needs at least {need} "
                f"(max({MIN_WEEKS}, 2 × model.adstock.l_max {l_max})); {more} or lower model.adstock.l_max"]
    oos = params.out_of_sample
    h, r = oos.holdout_weeks, oos.rolling_origins
    from mmmhelpers.stability import refit_step  # here, not at the top: importing checks (every command) loads no arviz

    k, least = oos.stability_refits * refit_step(unit)[0], max(MIN_WEEKS, 2 * l_max)
    if n - k < least:
        return [f"out_of_sample: stability_refits {oos.stability_refits} leaves {n - k} {unit}s to fit the last refit "
                f"on; it needs at "
                f"least {least} (max({MIN_WEEKS}, 2 × model.adstock.l_max {l_max})): lower "
                "out_of_sample.stability_refits (0: none)"]
    need = max(MIN_WEEKS, 2 * l_max, 2 * h)
    train = n - h * (1 + r)
    if train >= need:
        return []
    fits = (n - need) // h - 1  # the most rolling origins that leave enough weeks
    hint = f" (with holdout_weeks {h}, at most rolling_origins {fits} fits)" if fits >= 0 else ""
    return [f"out_of_sample: holdout_weeks {h} × (1 + rolling_origins {r}) = {h * (1 + r)} of the {n} {unit}s "
            f"leaves {train} {unit}s to fit the earliest fold on; it needs at least {need} (max({MIN_WEEKS}, "
            f"2 × model.adstock.l_max {l_max}, 2 × holdout_weeks {h})): lower out_of_sample.holdout_weeks or "
            f"out_of_sample.rolling_origins{hint}"]


def _market_price_problems(prices: dict, data: MMMData) -> list[str]:
    """A per-market ``optimization.cost_per_unit`` needs one panel dim, and names only its markets."""
    out = []
    for ch, value in prices.items():
        if not isinstance(value, dict):
            continue
        if len(data.panel) != 1:
            out.append(f"optimization.cost_per_unit.{ch}: a price per market needs data with one panel dim (these "
                       f"have {list(data.panel) or 'none'}): give one price for every market")
            continue
        (dim, coords), = data.panel.items()
        unknown = sorted(set(map(str, value)) - set(map(str, coords)))
        if unknown:
            out.append(f"optimization.cost_per_unit.{ch}: unknown {dim} {unknown} (known: {[str(c) for c in coords]})")
    return out


def data_problems(params: Params, data: MMMData) -> list[str]:
    """What the model needs of valid data, each problem naming the field, the value and the panel cell:
    enough weeks (for the fit and the out-of-sample folds), channels that spend, vary, and can be told apart,
    a target that varies."""
    problems = _weeks_problems(params, data.n_dates, data.period)
    if params.model.weekday_seasonality and data.period != "day":
        problems.append(f"model.weekday_seasonality: true needs daily data; the data are {data.period}ly "
                        f"({data.calendar.describe(data.dates)}): remove it, or give one row per day")
    n, cells, X = data.n_dates, _cells(data), data.X
    single = not data.panel
    for k, ch in enumerate(data.channels):
        if not X[..., k].any():
            where = "" if single else " of every cell"
            problems.append(f"channel {ch!r} never spends (all {n} {data.period}s{where} are 0): {_drop_channel(params)}")
            continue
        for idx, cell in cells:
            x = X[(slice(None), *idx, k)]
            if not x.any():
                continue  # dark in this cell only (TV bought in some regions): valid, a warning (check_warnings)
            if not _varies(x):
                cv = x.std() / x.mean()
                problems.append(f"channel {ch!r} barely varies{cell} (spend {x.mean():,.6g} on average, coefficient "
                                f"of variation {cv:.1e} < {CV_MIN:g}): its effect cannot be told apart from the "
                                f"intercept; {_drop_channel(params)} or calibrate it (model.experiments, model.roas_priors or "
                                f"model.lift_tests)")
    problems += _collinear(data, cells)
    for idx, cell in cells:
        y = data.y[(slice(None), *idx)]
        if np.ptp(y) == 0:
            problems.append(f"target {data.target_column!r} is constant{cell} ({y[0]:,.6g} in all {n} {data.period}s): "
                            f"there is nothing to explain" +
                            ("; check data.target_column" if params.data.path is not None else ""))
    return problems


def _varies(x: np.ndarray) -> bool:
    return bool(x.any()) and x.std() >= CV_MIN * x.mean()


def _collinear(data: MMMData, cells: list[tuple[tuple, str]]) -> list[str]:
    """Pairs of channels whose spend moves together over time (|correlation| > CORR_MAX), per panel cell."""
    problems = []
    for a, b in combinations(range(len(data.channels)), 2):
        hits = []
        for idx, cell in cells:
            xa, xb = data.X[(slice(None), *idx, a)], data.X[(slice(None), *idx, b)]
            if not (_varies(xa) and _varies(xb)):
                continue  # never spends or barely varies: reported on its own
            r = float(np.corrcoef(xa, xb)[0, 1])
            if abs(r) > CORR_MAX:
                hits.append((cell, r))
        if not hits:
            continue
        ca, cb = data.channels[a], data.channels[b]
        if not data.panel:
            how = f"correlation {hits[0][1]:.3f} over {data.n_dates} {data.period}s"
        else:
            how = f"correlation over {data.n_dates} {data.period}s" + ",".join(f"{cell} {r:.3f}" for cell, r in hits)
        problems.append(f"channels {ca!r} and {cb!r} move together ({how}; above {CORR_MAX:g}): the model cannot "
                        f"split their effects; merge them into one column or calibrate one (model.experiments, "
                        f"model.roas_priors or model.lift_tests)")
    return problems


def _lift_test_problems(params: Params, data: MMMData) -> list[str]:
    """The lift-test CSV the model reads at build time: found, its columns, channels and panel coordinates."""
    if params.model.lift_tests is None:
        return []
    import pandas as pd

    from mmmhelpers.calibration import LIFT_COLUMNS

    path = params.resolve(params.model.lift_tests)
    try:
        lift = read_table(path, "model.lift_tests")
    except DataError as err:
        return [str(err)]
    needed = [*LIFT_COLUMNS, *data.panel]
    missing = [c for c in needed if c not in lift.columns]
    if missing:
        return [f"model.lift_tests: {path}: missing columns {missing} (needs {needed})"]
    problems = []
    for dim, values in [("channel", data.channels), *data.panel.items()]:
        unknown = sorted({str(v) for v in lift[dim]} - {str(v) for v in values})
        if unknown:
            problems.append(f"model.lift_tests: {path}: column {dim!r}: unknown values {unknown} (known: {values})")
    for col in ["x", "delta_x", "delta_y", "sigma"]:
        values = pd.to_numeric(lift[col], errors="coerce")
        if values.isna().any():
            rows = [str(i + 2) for i in np.flatnonzero(values.isna().to_numpy())][:3]
            problems.append(f"model.lift_tests: {path}: column {col!r}: non-numeric or missing values (rows "
                            f"{', '.join(rows)})")
        elif col == "sigma" and (values <= 0).any():
            rows = [str(i + 2) for i in np.flatnonzero((values <= 0).to_numpy())][:3]
            problems.append(f"model.lift_tests: {path}: column 'sigma' must be positive (rows {', '.join(rows)})")
    return problems


def _experiment_problems(params: Params, data: MMMData) -> list[str]:
    """The experiments (``calibration.experiment_table``): found, their columns, values, dates and cells."""
    from mmmhelpers.calibration import experiment_table

    try:
        experiment_table(params, data)
    except DataError as err:
        return [str(err)]
    return []


def _plan_problems(params: Params, data: MMMData) -> list[str]:
    """The forecast plan (``out_of_sample.forecast_plan``) and the plan the budget page compares
    (``optimization.compare_plan``): found, their columns, values, cells and dates."""
    oos = params.out_of_sample
    named = {"out_of_sample.forecast_plan": oos.forecast_plan,
             **{f"out_of_sample.forecast_scenarios.{k}": v for k, v in oos.forecast_scenarios.items()},
             "optimization.compare_plan": params.optimization.compare_plan if params.optimization else None}
    problems, read = [], {}
    for field, path in named.items():
        if path is not None:
            try:
                read[field] = read_plan(params.resolve(path), data, params.data.date_format, field=field)
            except DataError as err:
                problems += err.problems
    plan = read.get("out_of_sample.forecast_plan")
    for field, scenario in read.items():
        if field.startswith("out_of_sample.forecast_scenarios.") and plan is not None \
                and not scenario.dates.equals(plan.dates):
            problems.append(f"{field}: its {scenario.n_dates} periods are not the {plan.n_dates} of "
                            "out_of_sample.forecast_plan: a what-if plan covers the same periods")
    return problems


def _roas_prior_problems(params: Params, data: MMMData) -> list[str]:
    """ROAS and share priors and per-channel l_max name channels of the data; the scales' last date is in it."""
    from mmmhelpers.model import unknown_prior_channels

    out = [f"{where}: {problem}" for where, problem in unknown_prior_channels(params.model, data.channels)]
    until = params.model.scaling.until
    if until is not None and until < data.dates[0].date():
        out.append(f"model.scaling.until: {until:%Y-%m-%d} is before the data's first date ({data.dates[0]:%Y-%m-%d}):"
                   " no period to take the scales from")
    by_channel: list[tuple[str, dict[str, Any]]] = [
        ("adstock.l_max_by_channel", dict(params.model.adstock.l_max_by_channel)),
        ("adstock.type_by_channel", dict(params.model.adstock.type_by_channel)),
        ("saturation.type_by_channel", dict(params.model.saturation.type_by_channel))]
    for field, given in by_channel:
        unknown = sorted(set(given) - set(data.channels))
        if unknown:
            out.append(f"model.{field}: unknown channels {unknown} (known: {data.channels})")
    return out


def check_warnings(params: Params, data: MMMData) -> list[str]:
    """Suspicious but valid, all of it (``validate`` and the start of ``run`` print them): the data's, the model's
    and the plan's warnings, each shown again on the page of the stage it concerns."""
    return data_warnings(params, data) + model_warnings(params, data) + plan_warnings(params, data)


def data_warnings(params: Params, data: MMMData) -> list[str]:
    """The data page's: day-first dates read without ``data.date_format``, a channel dark in some cells, channels
    that spend in under 5% of the weeks (of a cell)."""
    warnings = []
    n = data.n_dates
    for k, ch in enumerate(data.channels):
        for idx, cell in _cells(data):
            weeks = int(np.count_nonzero(data.X[(slice(None), *idx, k)]))
            if weeks == 0 and data.X[..., k].any():
                warnings.append(f"channel {ch!r} never spends{cell} (all {n} {data.period}s are 0): that cell contributes "
                                f"nothing, its effect parameters there (if per cell) stay at their prior, and the plan "
                                f"never spends there")
            if 0 < weeks < SPARSE_SHARE * n:
                warnings.append(f"channel {ch!r} spends in only {weeks} of {n} {data.period}s{cell} ({weeks / n:.1%}): "
                                f"its response curve rests on those few {data.period}s")
    return _date_order_warnings(params) + warnings


def model_warnings(params: Params, data: MMMData) -> list[str]:
    """The fit page's: priors over a panel dim with a single level (a hierarchy over one market), a Hill curve's
    shape per market over many markets."""
    return _single_level_warnings(params, data) + _hill_shape_warnings(params, data)


HILL_SHAPE_MARKETS = 3  # from this many markets on, a Hill slope and kappa per market are worth a warning
HILL_RIDGE = ("8 markets x 8 channels, 156 weeks: 845 leapfrog steps per draw and 226 divergences with slope and kappa "
              "per cell; 100 and 2 with them per channel and a low-rank mass matrix, at a lower contribution error")


def _hill_shape_warnings(params: Params, data: MMMData) -> list[str]:
    """Hill's slope or kappa over a panel dim of several markets: each cell's curve shape then rests on one market's
    data, which rarely pin it down, and the sampler walks the ridges that leaves (``benchmarks/hill_markets.py``)."""
    from mmmhelpers.priors import parse_prior, prior_dims
    from mmmhelpers.transforms import SATURATIONS

    sat = params.model.saturation
    if "hill" not in sat.all_kinds():
        return []
    many = {d: len(v) for d, v in data.panel.items() if len(v) >= HILL_SHAPE_MARKETS}
    shaped = {}
    for name in ("slope", "kappa"):
        where = f"model.saturation.priors.{name}"
        dims = prior_dims(parse_prior(sat.priors.get(name, SATURATIONS["hill"].defaults[name]), where)) & set(many)
        if dims:
            shaped[name] = sorted(dims)
    if not shaped:
        return []
    dim = next(iter(shaped.values()))[0]
    return [f"model.saturation.priors: Hill's {' and '.join(shaped)} per {dim} ({many[dim]} {dim}s): each curve's "
            f"shape rests on one {dim}'s data, which rarely pin it down, and sampling slows to hundreds of leapfrog "
            f"steps per draw along the ridges left (benchmarks/hill_markets.py: {HILL_RIDGE}); give slope and kappa "
            f"dims [channel] (the ceiling beta stays per {dim}), a slope prior away from 0 (a flat curve is an "
            f"intercept), and fit.mass_matrix: low_rank"]


def plan_warnings(params: Params, data: MMMData) -> list[str]:
    """The budget page's: budgets per period above the data's highest total weekly spend when
    ``allow_extrapolation`` lets the plan go there."""
    return _extrapolation_warnings(params, data) if params.optimization is not None else []


def _prior_nodes(prior):
    """A parsed prior and every prior among its parameters, each as ``(node, its parameters that are priors)``."""
    from pymc_extras.prior import Censored, Prior

    from mmmhelpers.priors import LaplaceMixture, LogNormalMeanStd

    if isinstance(prior, Censored):
        yield from _prior_nodes(prior.distribution)
        return
    if not isinstance(prior, (Prior, LogNormalMeanStd, LaplaceMixture)):
        return
    params = prior.parameters if isinstance(prior, Prior) else {k: v for k, v in vars(prior).items() if k != "dims"}
    children = {k: v for k, v in params.items() if isinstance(v, (Prior, Censored, LogNormalMeanStd, LaplaceMixture))}
    yield prior, children
    for child in children.values():
        yield from _prior_nodes(child)


def _single_level_warnings(params: Params, data: MMMData) -> list[str]:
    """Priors over a panel dim that has a single level in the data (one market): a hierarchy across it (a
    hyperprior shared by its levels) has one value to learn from, and a plain prior over it is the same as one
    without it."""
    from mmmhelpers.priors import _as_dims, parse_prior, prior_dims

    single = {d: v[0] for d, v in data.panel.items() if len(v) == 1}
    if not single:
        return []
    model = params.model
    specs = [(f"model.{group}.{k}", v) for group, priors in [("adstock.priors", model.adstock.priors),
                                                             ("saturation.priors", model.saturation.priors),
                                                             ("priors", model.priors)] for k, v in priors.items()]
    warnings = []
    for where, spec in [*specs, ("model.likelihood", model.likelihood)]:
        prior = parse_prior(spec, where)
        for dim in sorted(prior_dims(prior) & set(single)):
            pooled = sorted({name for node, children in _prior_nodes(prior) if dim in _as_dims(node.dims)
                             for name, child in children.items() if dim not in prior_dims(child)})
            if pooled:
                warnings.append(
                    f"{where}: a hierarchical prior over {dim}, but the data have a single {dim} ({single[dim]!r}): "
                    f"its hyperpriors ({', '.join(pooled)}) learn from one value; use a plain prior instead: drop "
                    f"{dim} from its dims and give numbers for {', '.join(pooled)}")
            else:
                warnings.append(
                    f"{where}: dims name {dim}, but the data have a single {dim} ({single[dim]!r}): use a plain "
                    f"prior: drop {dim} from its dims (the same model)")
    return warnings


def _date_order_warnings(params: Params) -> list[str]:
    """Day-first dates read right only because pandas guessed the order from the first date (16/01/2024): a
    file starting on 01/02/2024 would be read month first."""
    if params.data.path is None or params.data.date_format is not None:
        return []
    import pandas as pd

    path, column = params.resolve(params.data.path), params.data.date_column
    try:
        raw = pd.read_csv(path, usecols=[column], dtype=str)[column]
    except Exception:  # pandas raises many kinds; the data checks said what is wrong with the file
        return []
    order = numeric_date_order(raw)
    if order is None or order[0] != DAY_FIRST:
        return []
    return [f"{path}: column {column!r}: dates such as {raw.dropna().iloc[0]!r} are read {order[0]} only because "
            f"pandas guessed the order from the first date; add data.date_format: \"{order[1]}\" to the params file "
            "so that they are always read that way"]


def _extrapolation_warnings(params: Params, data: MMMData) -> list[str]:
    opt = params.optimization
    assert opt is not None  # only called with an optimization section
    most = float(data.X.max(axis=0).sum())  # each cell's highest week, summed over cells
    runs = [("the budget", opt, 1.0)] + [(f"scenario {m:g}x", opt, m) for m in opt.scenarios]
    runs += [(f"alternative {a.name!r}", opt.alternative(a), 1.0) for a in opt.alternatives]
    over = [f"{what} {spec.budget * m:,.6g}" for what, spec, m in runs
            if spec.allow_extrapolation and spec.budget * m > most]
    if not over:
        return []
    return [f"optimization: allow_extrapolation is true and {', '.join(over)} per period "
            f"{'is' if len(over) == 1 else 'are'} above the data's highest total spend per period {most:,.6g} (each "
            f"channel's and cell's highest period, summed): the plan may rest on spend levels the data never saw"]
