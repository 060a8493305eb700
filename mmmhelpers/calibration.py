"""What the analyst knows beyond the sales data, as likelihood terms of the model: lift tests on the saturation curve
(``model.lift_tests``) and experiments over their dates, carryover included (``model.experiments``).

A ROAS prior (``model.roas_priors``) is the third kind of knowledge; it is a reparameterization of the media term and
lives with it in ``model``. :func:`calibrated_channels` names the channels any of the three informs, and
:func:`model_for` builds a case's model with all it names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from mmmhelpers.config import SimulateSpec
from mmmhelpers.data import DataError, MMMData, read_table
from mmmhelpers.model import MMM, build_model, media_contribution
from mmmhelpers.seeds import seed_for
from mmmhelpers.simulate import lift_tests_from_truth, simulate, true_experiment_lifts
from mmmhelpers.transforms import saturation

__all__ = ["LIFT_COLUMNS", "EXPERIMENT_COLUMNS", "add_lift_tests", "read_experiments", "experiment_table",
           "check_experiments", "experiment_windows", "add_experiments", "calibrated_channels", "model_for",
           "simulated_lift_tests"]

LIFT_COLUMNS = ["channel", "x", "delta_x", "delta_y", "sigma"]
EXPERIMENT_COLUMNS = ["channel", "start", "end", "delta_spend", "lift", "lift_se"]


def _cell_index(table: pd.DataFrame, data: MMMData, source: str) -> tuple[np.ndarray, ...]:
    """Each row's ``(*panel, channel)`` index, from its panel columns and ``channel`` (unknown values: an error)."""
    idx = []
    for dim, values in [*data.panel.items(), ("channel", data.channels)]:
        labels = [str(v) for v in values]
        unknown = sorted({str(v) for v in table[dim]} - set(labels))
        if unknown:
            raise DataError(f"{source}: column {dim!r}: unknown values {unknown} (known: {values})")
        idx.append(np.array([labels.index(str(v)) for v in table[dim]]))
    return tuple(idx)


def add_lift_tests(mmm: MMM, lift: pd.DataFrame, source: str = "lift tests") -> None:
    """Calibrate the saturation curves with lift tests (as pymc-marketing's ``add_lift_test_measurements``).

    Each row says: at spend ``x`` (per week, original units) in ``channel`` (and panel coordinate),
    adding ``delta_x`` changed the target by ``delta_y`` with standard error ``sigma``. The model's
    lift ``saturation(x + delta_x) - saturation(x)`` (model scale) enters a Gamma likelihood
    ``|delta_y| ~ Gamma(mu=|lift|, sigma)``. The curve only: no carryover (see :func:`add_experiments`).
    """
    panel = mmm.data.panel
    needed = [*LIFT_COLUMNS, *panel]
    missing = [c for c in needed if c not in lift.columns]
    if missing:
        raise DataError(f"{source}: missing columns {missing} (needs {needed})")
    idx = _cell_index(lift, mmm.data, source)
    if (lift["sigma"] <= 0).any():
        raise DataError(f"{source}: column 'sigma' must be positive")
    ch_scale = mmm.channel_scale[idx]
    y_scale = mmm.target_scale[idx[:-1]] if panel else np.full(len(lift), float(mmm.target_scale))
    shape = (*[len(v) for v in panel.values()], len(mmm.data.channels))
    params = {k: pt.broadcast_to(v, shape)[idx] for k, v in mmm.saturation_params.items()}
    x0 = lift["x"].to_numpy(float) / ch_scale
    x1 = (lift["x"] + lift["delta_x"]).to_numpy(float) / ch_scale
    kind = mmm.spec.saturation.kinds([mmm.data.channels[i] for i in idx[-1]])  # each test's channel's type
    with mmm.model:
        mmm.model.add_coord("lift_test", range(len(lift)))
        model_lift = saturation(x1, kind, params) - saturation(x0, kind, params)
        pm.Gamma("lift_measurements", mu=pt.abs(model_lift) + 1e-9, sigma=lift["sigma"].to_numpy(float) / y_scale,
                 observed=np.abs(lift["delta_y"].to_numpy(float)) / y_scale, dims="lift_test")
    mmm.table.append({"variable": "lift_measurements", "distribution": "Gamma(mu=|model lift|, sigma=lift sigma)",
                      "dims": "lift_test"})


def _row_numbers(mask: np.ndarray, first: int = 2) -> str:
    """Row numbers of the true entries (a CSV's first row under its header is 2), at most three."""
    return ", ".join(str(i + first) for i in np.flatnonzero(mask)[:3])


def read_experiments(path: Path, data: MMMData) -> pd.DataFrame:
    """The experiments CSV, checked against the data (:func:`check_experiments`)."""
    return check_experiments(read_table(path, "model.experiments"), data, f"model.experiments: {path}")


def experiment_table(params, data: MMMData) -> pd.DataFrame | None:
    """The case's experiments, checked: its CSV, or the tests ``model.experiments_from_truth`` simulates from the
    truth (their lift the true one, measured with noise); None without either."""
    if params.model.experiments is not None:
        return read_experiments(params.resolve(params.model.experiments), data)
    if not params.model.experiments_from_truth:
        return None
    rows = [{**d.where, **d.model_dump(exclude={"where"})} for d in params.model.experiments_from_truth]
    source = "model.experiments_from_truth"
    table = check_experiments(pd.DataFrame(rows).assign(lift=0.0), data, source, first_row=1)
    _, truth = simulate(params.simulate, seed_for(params.seed, "simulate"))
    table["true_lift"] = true_experiment_lifts(table, data, truth)
    noise = np.random.default_rng(seed_for(params.seed, "experiments")).normal(0.0, table["lift_se"].to_numpy())
    table["lift"] = table["true_lift"] + noise
    return table


def check_experiments(table: pd.DataFrame, data: MMMData, source: str, first_row: int = 2) -> pd.DataFrame:
    """Experiments checked against the data: one row per test with ``channel`` (and a column per panel dim),
    ``start`` and ``end`` (dates; the test covers the data's periods dated within them), ``delta_spend`` (spend
    added per period during the test; negative for a go-dark test), ``lift`` (the measured incremental target over
    the test and the weeks after it, carryover included) and ``lift_se`` (its standard error).

    Adds ``first`` and ``last``: the test's first and last period (positions in ``data.dates``). Errors name the
    rows, numbered from ``first_row`` (a list in the params: 1)."""
    table = table.copy()

    def _rows(mask) -> str:
        return _row_numbers(mask, first_row)

    needed = [*EXPERIMENT_COLUMNS, *data.panel]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(f"{source}: missing columns {missing} (needs {needed})")
    if table.empty:
        raise DataError(f"{source}: no rows")
    for col in ["delta_spend", "lift", "lift_se"]:
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().any():
            raise DataError(f"{source}: column {col!r}: non-numeric or missing values (rows {_rows(values.isna())})")
        table[col] = values.astype(float)
    if (table["lift_se"] <= 0).any():
        raise DataError(f"{source}: column 'lift_se' must be positive (rows {_rows(table['lift_se'] <= 0)})")
    for col in ["start", "end"]:
        dates = pd.to_datetime(table[col], errors="coerce")
        if dates.isna().any():
            raise DataError(f"{source}: column {col!r}: not a date (rows {_rows(dates.isna())})")
        table[col] = dates
    table["first"] = data.dates.searchsorted(table["start"], side="left")
    table["last"] = data.dates.searchsorted(table["end"], side="right") - 1
    empty = (table["last"] < table["first"]).to_numpy()
    if empty.any():
        raise DataError(f"{source}: no period of the data ({data.dates[0]:%Y-%m-%d} to {data.dates[-1]:%Y-%m-%d}) "
                        f"falls between start and end (rows {_rows(empty)})")
    idx = _cell_index(table, data, source)
    below = np.array([data.X[(slice(lo, hi + 1), *cell)].min() + d < 0 for lo, hi, d, *cell in
                      zip(table["first"], table["last"], table["delta_spend"], *idx)])
    if below.any():
        raise DataError(f"{source}: column 'delta_spend': the test would spend below zero in some period "
                        f"(rows {_rows(below)})")
    return table


@dataclass(frozen=True)
class ExperimentWindows:
    """Each experiment's stretch of periods, ``(period, experiment)``: the ``l_max - 1`` periods before the test (the
    carryover into it), the test, and the ``l_max - 1`` after it (its carryover out), padded to one length."""

    index: np.ndarray  # position in the data's dates (clipped to the last: spend beyond the data held at its level)
    before_data: np.ndarray  # 1 where the stretch starts before the data (no spend there)
    delta: np.ndarray  # the spend added in each period (the test's periods only)
    cell: tuple[np.ndarray, ...]  # (*panel, channel) index of each experiment


def experiment_windows(table: pd.DataFrame, data: MMMData, l_max: int) -> ExperimentWindows:
    """The stretches of :class:`ExperimentWindows` for a :func:`read_experiments` table."""
    first, last = table["first"].to_numpy(int), table["last"].to_numpy(int)
    length = int((last - first).max()) + 1 + 2 * (l_max - 1)
    pos = first[None, :] - (l_max - 1) + np.arange(length)[:, None]
    delta = np.where((pos >= first) & (pos <= last), table["delta_spend"].to_numpy(float), 0.0)
    return ExperimentWindows(np.clip(pos, 0, data.n_dates - 1), (pos < 0).astype(float), delta,
                             _cell_index(table, data, "experiments"))


def add_experiments(mmm: MMM, table: pd.DataFrame) -> None:
    """Calibrate the media with experiments over their window: the model's incremental target of adding
    ``delta_spend`` in the test's periods, summed over the test and the ``l_max - 1`` periods after it (the carryover
    that lands after the test ends), enters ``lift ~ Normal(model lift, lift_se)`` (original units).

    The spend around the test is the data's; the adstock, saturation and time-varying multiplier are the model's, so
    a slow adstock moves lift past the test's end and a saturated channel shows a smaller lift."""
    win = experiment_windows(table, mmm.data, mmm.spec.adstock.l_max)
    model = mmm.model
    X, cs, ts = model["channel_data"], model["channel_scale"], model["target_scale"]
    shape = (*[len(v) for v in mmm.data.panel.values()], len(mmm.data.channels))

    def cell(v):
        return pt.broadcast_to(v, shape)[win.cell]

    at = (win.index, *[c[None, :] for c in win.cell])  # (period, experiment) gathers from (date, *panel, channel)
    spend = X[at] * (1.0 - win.before_data)
    mult = None
    if mmm.media_multiplier is not None:
        mult = pt.broadcast_to(mmm.media_multiplier, X.shape)[at]
    ad = {k: cell(v) for k, v in mmm.adstock_params.items()}
    sat = {k: cell(v) for k, v in mmm.saturation_params.items()}
    tested = [mmm.data.channels[i] for i in win.cell[-1]]  # each experiment's channel: its own l_max and types
    base, more = (media_contribution(x / cell(cs), mmm.spec, ad, sat, mult, channels=tested)
                  for x in (spend, spend + win.delta))
    y_scale = ts[win.cell[:-1]] if mmm.data.panel else ts
    with model:
        model.add_coord("experiment", range(len(table)))
        lift = pm.Deterministic("experiment_model_lift", (more - base).sum(axis=0) * y_scale, dims="experiment")
        pm.Normal("experiment_lift", mu=lift, sigma=table["lift_se"].to_numpy(float),
                  observed=table["lift"].to_numpy(float), dims="experiment")
    mmm.table.append({"variable": "experiment_lift", "distribution": "Normal(mu=model lift over the test and its "
                      f"carryover ({mmm.spec.adstock.l_max - 1} periods after), sigma=lift_se)", "dims": "experiment"})


def calibrated_channels(params, channels: list[str]) -> list[str]:
    """The channels something beyond the sales data informs: a lift test, an experiment or a ROAS prior."""
    found = evidence_sources(params, channels)
    return [ch for ch in channels if found.get(ch)]


def evidence_sources(params, channels: list[str]) -> dict[str, list[str]]:
    """Per channel, what beyond the sales data informs it: "ROAS prior", "share prior", "experiment", "lift test" (a missing
    file is the checks' to report: nothing here)."""
    found: dict[str, list[str]] = {}

    def add(channels, what: str) -> None:
        for ch in dict.fromkeys(map(str, channels)):
            found.setdefault(ch, []).append(what)

    add(params.model.roas_priors, "ROAS prior")
    add(params.model.share_priors, "share prior")
    add(params.model.mroas_priors, "marginal ROAS prior")
    add(params.model.cost_per_kpi_priors, "cost-per-KPI prior")
    if params.model.experiments is not None and params.resolve(params.model.experiments).exists():
        add(pd.read_csv(params.resolve(params.model.experiments))["channel"], "experiment")
    add([d.channel for d in params.model.experiments_from_truth], "experiment")
    if params.model.lift_tests is not None and params.resolve(params.model.lift_tests).exists():
        add(pd.read_csv(params.resolve(params.model.lift_tests))["channel"], "lift test")
    if params.model.lift_tests_from_truth:
        add(channels, "lift test")  # simulated for every channel
    return found


def model_for(params, data: MMMData, observed_weeks: int | None = None) -> MMM:
    """``build_model`` for a params file, calibrated with what it names: lift tests (a CSV, or simulated from the
    truth) and experiments over their window (both above)."""
    lift = None
    if params.model.lift_tests is not None:
        lift = read_table(params.resolve(params.model.lift_tests), "model.lift_tests")
    elif params.model.lift_tests_from_truth:
        lift = simulated_lift_tests(params)
    mmm = build_model(params.model, data, observed_weeks=observed_weeks)
    if lift is not None and len(lift):
        add_lift_tests(mmm, lift)
    experiments = experiment_table(params, data)
    if experiments is not None:
        add_experiments(mmm, experiments)
    return mmm


def simulated_lift_tests(params) -> pd.DataFrame:
    """The lift tests an experiment would have measured on a simulated case (``simulate.lift_tests_from_truth``):
    simulated once per process and case (every model of the case, its folds and refits, reads the same table)."""
    return _lift_tests(params.simulate.model_dump_json(), params.seed).copy()


@functools.lru_cache(maxsize=8)
def _lift_tests(simulate_json: str, seed: int) -> pd.DataFrame:
    data, truth = simulate(SimulateSpec.model_validate_json(simulate_json), seed_for(seed, "simulate"))
    return lift_tests_from_truth(data, truth, seed_for(seed, "lift_tests"))
