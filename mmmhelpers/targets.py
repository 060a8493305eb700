"""Several targets in one case: each fitted with its own model over the same channels and dates.

A case lists them under ``targets`` (see docs/params.md): each is a column of the data (two KPIs driven by the
same channels, e.g. new and re-engaged users) or one coordinate of a panel dim (one market modelled alone).
The first target is the main model: the data page shows every target, and the fit, recovery and
out-of-sample pages use the first. The fit page also fits the others, each saved under
``artifacts/targets/<name>/artifacts/`` (its data, truth, posterior and diagnostics); the budget page
optimizes over all of them (``mmmhelpers.multi_objective``).
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from mmmhelpers import artifacts
from mmmhelpers.calibration import model_for
from mmmhelpers.config import Params, TargetModelSpec
from mmmhelpers.data import MMMData, load_csv
from mmmhelpers.health import gate_failures
from mmmhelpers.seeds import seed_for
from mmmhelpers.variants import Fitted, fit_and_save

__all__ = ["target_dir", "target_home", "split_targets", "save_targets", "save_case_data", "fit_targets"]


def target_dir(run_dir: str | Path, name: str) -> Path:
    """Where a target other than the first keeps its ``artifacts/``."""
    return Path(run_dir) / "artifacts" / "targets" / name


def target_home(params: Params, run_dir: str | Path, name: str) -> Path:
    """The folder whose ``artifacts/`` hold target ``name``'s data and fit: the run's own for the first target
    (the main model), ``target_dir`` for the others."""
    return Path(run_dir) if name == params.targets[0].name else target_dir(run_dir, name)


def _one_target(params: Params, t: TargetModelSpec, data: MMMData, truth: xr.Dataset | None
                ) -> tuple[MMMData, xr.Dataset | None]:
    source = str(params.resolve(params.data.path)) if params.data.path else f"simulated data ({t.name})"
    if t.column is not None and t.column != data.target_column:
        assert params.data.path is not None  # Params: a target's column is a column of the CSV
        data = load_csv(params.resolve(params.data.path), params.for_target(t.name).data.model_copy(
            update={"dims": params.data.dims}))
    data = data.select(t.where, source=source)
    if truth is not None:
        truth = truth.sel({d: c for d, c in t.where.items() if d in truth.dims})
    return data, truth


def split_targets(params: Params, data: MMMData, truth: xr.Dataset | None
                  ) -> dict[str, tuple[MMMData, xr.Dataset | None]]:
    """Each target's own data and truth (in the order of ``targets``)."""
    return {t.name: _one_target(params, t, data, truth) for t in params.targets}


def save_targets(params: Params, run_dir: str | Path, parts: dict[str, tuple[MMMData, xr.Dataset | None]]) -> None:
    """The first target's data as the case's ``data.csv`` (the main model's), the others' under their folders."""
    for name, (data, truth) in parts.items():
        artifacts.save_data(target_home(params, run_dir, name), data, truth)


def save_case_data(run_dir: str | Path, params: Params, data: MMMData, truth: xr.Dataset | None) -> None:
    """Stage 01's output: the data (and truth) as one case, or split by target (the first is the main model's)."""
    if params.targets:
        save_targets(params, run_dir, split_targets(params, data, truth))
    else:
        artifacts.save_data(run_dir, data, truth)


def fit_targets(params: Params, run_dir: str | Path, say=None) -> list[Fitted]:
    """Fit every target after the first (each its own seed), save each, return them in order. A sampler error
    or a failed health gate (``fit.fail_on``) of any target stops the run, naming the target."""
    say = say or (lambda _msg: None)
    out = []
    for k, t in enumerate(params.targets[1:], start=1):
        p = params.for_target(t.name)
        where = target_dir(run_dir, t.name)
        say(f"target {t.title!r} ({k + 1}/{len(params.targets)})")
        mmm = model_for(p, artifacts.load_data(where))
        try:
            fitted = fit_and_save(mmm, p.fit, seed_for(params.seed, "target", k), where, t.name, t.title, say)
        except Exception as err:
            raise RuntimeError(f"the fit of target {t.name!r} failed: {err}") from err
        fails = gate_failures(fitted.diag, p.fit.fail_on)
        if fails:
            raise RuntimeError(f"the fit of target {t.name!r} fails fit.fail_on: {'; '.join(fails)}")
        out.append(fitted)
    return out
