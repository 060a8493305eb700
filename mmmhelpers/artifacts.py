"""The files a run writes, one owner each: file names, typed records, ``save`` and ``load``.

Stages pass results to each other (and to the index page) through ``<run_dir>/artifacts/``. The
JSON records are frozen pydantic models whose field names are the file's keys (docs/params.md,
"Outputs of a run"): ``Diagnostics``, ``OutOfSample``, ``Allocation`` and ``Manifest``. Data,
truth, posterior and recovery tables keep their own formats (CSV, netCDF) with the functions below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from mmmhelpers.data import MMMData, data_roles, from_roles
from mmmhelpers.formatting import period_from

__all__ = [
    "DATA_CSV", "DATA_COLUMNS", "TRUTH", "IDATA", "RECOVERY", "REPLICATES", "MANIFEST",
    "Record", "Diagnostics", "Fold", "Scores", "InSample", "OutOfSample", "Response", "Gain", "Baseline", "Scenario",
    "Allocation", "PlanCell", "JointPlanRecord", "ConstrainedPlanRecord", "MultiObjectiveRecord", "cell_label",
    "cell_spend",
    "Manifest", "artifacts_dir", "save_data", "load_data", "load_truth", "save_idata", "load_idata",
    "save_recovery", "load_recovery", "save_replicates",
]

DATA_CSV = "data.csv"  # the model input actually used (long layout)
DATA_COLUMNS = "data_columns.json"  # the column roles of data.csv
TRUTH = "truth.nc"  # true parameters (simulated cases, or a published case's truth file)
IDATA = "idata.nc"  # posterior, posterior predictive, observed data
RECOVERY = "recovery.csv"  # parameter, truth, mean, hdi_low, hdi_high, covered, ...
REPLICATES = "recovery_replicates.csv"  # the replicate study, one row per replicate × parameter
MANIFEST = "manifest.json"  # provenance, beside artifacts/ (not inside)


def artifacts_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir) / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp, np.datetime64)):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# a plan record's numbers; its other keys name the cell
PLAN_FIELDS = ("spend_per_period", "cost_per_unit", "units_per_period", "response", "roas", "mroas")


def cell_label(record: PlanCell | dict[str, Any]) -> str:
    """The cell of a plan record as every page names it: ``x1`` or ``x1 @ geo_a`` (the format of
    ``constraints.cell_labels``); a record read from ``allocation.json`` as a plain dict too."""
    if isinstance(record, PlanCell):
        return record.label
    where = ", ".join(str(v) for k, v in record.items() if k not in ("channel", *PLAN_FIELDS))
    return str(record["channel"]) + (f" @ {where}" if where else "")


def cell_spend(records: list[PlanCell], cells: list[str], cell: str) -> float:
    """The spend per period of the plan record whose cell is ``cell`` (a label of ``cells``)."""
    if cell not in cells:
        raise KeyError(f"unknown cell {cell!r} (cells: {cells})")
    if len(records) != len(cells):  # a plan whose solve failed has no cells
        raise KeyError(f"no spend for {cell!r}: the plan has {len(records)} of {len(cells)} cells")
    return records[cells.index(cell)].spend_per_period


class Part(BaseModel):
    """A piece of a JSON artifact: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Record(Part):
    """A JSON artifact: ``FILE`` names it inside ``artifacts/``."""

    FILE: ClassVar[str]
    IN_ARTIFACTS: ClassVar[bool] = True

    @classmethod
    def path(cls, run_dir: str | Path) -> Path:
        return (artifacts_dir(run_dir) if cls.IN_ARTIFACTS else Path(run_dir)) / cls.FILE

    def save(self, run_dir: str | Path) -> Path:
        path = self.path(run_dir)
        path.write_text(json.dumps(self.model_dump(), indent=2, default=_default) + "\n")
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> Self:
        return cls.model_validate(json.loads(cls.path(run_dir).read_text()))

    @classmethod
    def load_or_none(cls, run_dir: str | Path) -> Self | None:
        """The record of an earlier stage, or None when that stage did not run (or wrote another shape)."""
        try:
            return cls.load(run_dir)
        except (OSError, ValueError):
            return None


class Diagnostics(Record):
    """``diagnostics.json``: how the sampler did (thresholds in ``health``)."""

    FILE: ClassVar[str] = "diagnostics.json"
    sampler: str
    chains: int
    draws: int
    tune: int
    compile_seconds: float
    sampling_seconds: float
    divergences: int
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    bfmi_min: float
    ess_bulk_min_variable: str
    rhat_max_variable: str
    ess_bulk_per_second: float
    health: str
    divergence_share: float = 0.0  # divergent draws / all draws
    divergence_hotspots: list[dict[str, Any]] = []  # parameters whose divergent draws sit apart (over 0.5%)
    divergence_suggestion: str = ""  # what to try: reparameterize, tighten a prior, raise target_accept
    divergence_summary: str = ""  # one line for the banner and the CLI
    target_accept: float | None = None  # the fit's setting (the review's advice starts from it)
    gradient_seconds: float | None = None  # one log-density + gradient evaluation, timed before sampling
    steps_per_draw: float | None = None  # mean leapfrog steps per draw (tuning included)
    estimated_sampling_seconds: float | None = None  # the forecast shown before sampling
    warmup_estimate_seconds: float | None = None  # the last forecast said in the warm-up (early; revised halfway)
    # "hit" (loaded in seconds), "miss" (compiled, now cached), "uncached" (compiled, no key), "nutpie" (fallback)
    compile_cache: str | None = None


class Fold(Part):
    """One origin of the out-of-sample check (original scale)."""

    origin: str
    train_end: str
    test_start: str
    test_end: str
    crps: float
    mape: float
    smape: float
    r2: float
    coverage_50: float
    coverage_94: float
    divergences: int | None = None  # of this fold's refit
    rhat_max: float | None = None
    converged: bool | None = None  # False: the scores come from a fit that did not converge (the page marks them)


class Scores(Part):
    """Average scores over the folds (original scale)."""

    crps: float
    mape: float
    coverage_50: float
    coverage_94: float


class InSample(Part):
    """Scores of the first fold's training weeks (how well the model fits what it saw)."""

    crps: float
    mape: float
    r2: float
    coverage_50: float
    coverage_94: float


class OutOfSample(Record):
    """``out_of_sample.json``: the plain holdout first, rolling origins after; ``summary`` averages them."""

    FILE: ClassVar[str] = "out_of_sample.json"
    holdout_weeks: int
    folds: list[Fold]
    in_sample: InSample
    summary: Scores


class Response(Part):
    """Posterior mean and 94% HDI of a response (original target units)."""

    mean: float
    hdi_94: list[float]


class PlanCell(BaseModel):
    """One cell of a plan in ``allocation.json``: its channel and panel coordinates (the extra keys, e.g. ``geo``),
    its spend per period and, where computed, the cost per unit and the units it buys, its response (mean, 94% HDI),
    ROAS and mROAS over the plan. It dumps flat, channel and coordinates first, with only the fields it was given
    (the interface's layout: ``{"channel": "x1", "geo": "geo_a", "spend_per_period": 23000.0}``)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    channel: str
    spend_per_period: float
    cost_per_unit: float | None = None
    units_per_period: float | None = None
    response: Response | None = None
    roas: float | None = None  # None with a response: the plan spends (next to) nothing there
    mroas: float | None = None

    @property
    def coords(self) -> dict[str, Any]:
        """The cell's panel coordinates, e.g. ``{"geo": "geo_a"}`` (empty for one market)."""
        return dict(self.model_extra or {})

    @property
    def label(self) -> str:
        """``x1`` or ``x1 @ geo_a``: the cell as every page names it (``constraints.cell_labels``' format)."""
        where = ", ".join(str(v) for v in self.coords.values())
        return self.channel + (f" @ {where}" if where else "")

    @model_serializer(mode="wrap")
    def _flat(self, handler) -> dict[str, Any]:
        dumped = handler(self)
        given = self.model_fields_set | {"channel", "spend_per_period"}
        return {"channel": dumped["channel"], **self.coords,
                **{k: v for k, v in dumped.items() if k in given and k != "channel" and k not in self.coords}}


class Gain(Part):
    """The paired gain of one plan over another, draw by draw (original target units)."""

    mean: float
    hdi_94: list[float]
    prob_positive: float  # share of posterior draws in which the plan beats the baseline
    held_out: bool | None = None  # True: scored on draws not used to choose the plan (cross-fit), not optimistic by construction


class Baseline(Part):
    """The split the optimum is compared with (the historical one)."""

    allocation: list[PlanCell]
    response: Response
    gain: Gain | None = None  # the optimal plan's paired gain over this baseline (held out when gain.held_out)
    gain_in_sample: Gain | None = None  # the same, scored on the draws that chose the plan (optimistic)


class Scenario(Part):
    """The optimal split at ``multiplier`` × the budget."""

    multiplier: float
    budget_per_period: float
    response: Response
    allocation: list[PlanCell]
    solver: str | None = None  # "ok", or why the optimizer failed (the page flags it)


class WindowInfo(Part):
    """How a plan is judged: history carried in, the window, the tail, what is optimized, the multiplier."""

    history_weeks: int
    num_periods: int
    tail_weeks: int
    objective_window: str
    multiplier: str
    description: str


class TargetResult(Part):
    """The budget per period whose optimal plan reaches a target response, ROAS or mROAS."""

    type: str
    value: float
    budget_per_period: float
    achieved: float
    response: Response
    allocation: list[PlanCell]


class AlternativeResult(Part):
    """A named plan with other budget or rules (``optimization.alternatives``), on the same window and draws."""

    name: str
    budget_per_period: float
    response: Response
    gain_over_historical: Gain  # paired, over the historical split at this plan's budget
    allocation: list[PlanCell]
    solver: str | None = None  # "ok", or why the optimizer failed (the page flags it)


class PlanComparison(Part):
    """A plan the params name (``optimization.compare_plan``) against the best plan at its budget, over its periods."""

    source: str
    num_periods: int
    budget_per_period: float
    response: Response
    best_response: Response
    gain: Gain  # the best plan's paired gain over the given one (held out)
    allocation: list[PlanCell]  # the given plan's mean spend per period per cell
    best_allocation: list[PlanCell]
    solver: str | None = None


class JointPlanRecord(Part):
    """A plan over several targets (``multi_objective``): its cells, each target's response and whether it solved."""

    allocation: list[PlanCell]
    responses: dict[str, Response]
    success: bool


class ConstrainedPlanRecord(JointPlanRecord):
    """The plan maximizing one target with a floor (or an equality) on another's mean response."""

    constraint: dict[str, Any]  # {"target": name, "at_least" or "equal_to": value}
    binds: bool
    value: float | None = None
    reachable: float | None = None  # the constrained target's largest mean response with this budget


class MultiObjectiveRecord(Part):
    """The ``multi_objective`` block of ``allocation.json``: several targets over one budget (``multi_objective``);
    a part the run did not make (no constraint, no frontier) is left out of the file, not written as null."""

    targets: list[str]
    spend: Literal["shared", "per_target"]
    maximize: Any  # a target's name, or {target: weight}
    best: dict[str, JointPlanRecord]  # each target's own best plan
    objective_best: JointPlanRecord
    cross_evaluation: list[dict[str, Any]]  # every plan scored on every target
    constrained: ConstrainedPlanRecord | None = None
    frontier: list[dict[str, Any]] | None = None  # the Pareto front's points
    frontier_seconds: float | None = None

    @model_serializer(mode="wrap")
    def _given(self, handler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set or k in _REQUIRED_MO}

    def response(self, plan: str, target: str) -> float:
        """The mean response of ``target`` under ``plan`` ("best[name]", "objective_best" or "constrained")."""
        which, _, name = plan.rstrip("]").partition("[")
        record = self.best[name] if which == "best" else getattr(self, which)
        if record is None:
            raise KeyError(f"multi_objective:{plan}: this run has no such plan")
        return record.responses[target].mean


_REQUIRED_MO = {n for n, f in MultiObjectiveRecord.model_fields.items() if f.is_required()}


class Allocation(Record):
    """``allocation.json``: one record per channel (and panel coordinate) in each ``allocation`` list."""

    FILE: ClassVar[str] = "allocation.json"
    budget_per_period: float
    num_periods: int
    objective: str
    allocation: list[PlanCell]
    response: Response
    initial: Baseline
    scenarios: list[Scenario]
    optimizer: dict[str, Any]
    window: WindowInfo | None = None
    response_window: Response | None = None  # the part of the response inside the window
    response_tail: Response | None = None  # the carryover after it
    carryover_in: Response | None = None  # the window's media response from spend before it (no plan changes it)
    equal: Baseline | None = None  # the equal split over cells, the second baseline
    spend_by_period: list[list[float]] | None = None  # period x cell (see ``cells``), for patterned or timed plans
    budget_use: str = "exact"
    constraints: list[dict[str, Any]] = Field(default_factory=list)
    capped: list[dict[str, Any]] = Field(default_factory=list)  # cells held to the most spend the data saw
    extrapolation_allowed: bool | None = None  # True: optimization.allow_extrapolation lifted those caps
    trust_region: float | None = None  # each cell within +- this share of its historical spend (None: no such rule)
    held: list[str] = Field(default_factory=list)  # channels the data do not pin down, kept at/below history
    held_mode: str | None = None  # how: "hold" (at historical spend) or "no_raise" (at most it)
    target: TargetResult | None = None
    alternatives: list[AlternativeResult] = Field(default_factory=list)
    response_with_noise: Response | None = None  # the plan's response with noise_level on its spend
    cells: list[str] = Field(default_factory=list)  # cell labels in spend_by_period order
    multi_objective: MultiObjectiveRecord | None = None  # several targets: best plans, constrained plan, frontier
    compared_plan: PlanComparison | None = None  # optimization.compare_plan, scored, and the best at its budget

    def plan(self, which: str = "optimal") -> list[PlanCell]:
        """The cells of a plan: ``optimal``, ``historical`` or ``equal``."""
        cells = {"optimal": self.allocation, "historical": self.initial.allocation,
                 "equal": self.equal.allocation if self.equal else None}.get(which)
        if cells is None:
            raise ValueError(f"allocation.json has no {which} plan (optimal, historical or equal)")
        return cells

    def spend(self, which: str = "optimal") -> np.ndarray:
        """Spend per period per cell of a plan (:meth:`plan`), in ``cells`` order (``*panel, channel`` flattened)."""
        return np.array([c.spend_per_period for c in self.plan(which)])

    @property
    def gain(self) -> float:
        """Relative gain of the optimal split over the initial one: the paired gain's mean (held out when it is)
        over the initial split's mean response."""
        base = self.initial.response.mean
        if not base:
            return float("nan")
        g = self.initial.gain
        return g.mean / base if g is not None else self.response.mean / base - 1


class ReviewCheck(Part):
    """One check of the model review: verdict (pass / review / fail), the number, the threshold, what to do."""

    name: str
    verdict: str
    value: float | None
    threshold: str
    detail: str = ""
    action: str = ""


class Review(Record):
    """``review.json``: the automated model review (``mmmhelpers.review``); ``verdict`` is the worst check's."""

    FILE: ClassVar[str] = "review.json"
    verdict: str
    checks: list[ReviewCheck]


class Manifest(Record):
    """``manifest.json`` (beside ``artifacts/``): what was run, with what, and how long it took."""

    FILE: ClassVar[str] = MANIFEST
    IN_ARTIFACTS: ClassVar[bool] = False
    case: str
    title: str
    params_file: str
    params_sha256: str
    seed: int
    quick: bool
    client: bool
    stages_run: list[str]
    renderer: str
    git_commit: str
    created: str
    timings_seconds: dict[str, float]
    total_seconds: float
    versions: dict[str, str | None]
    data_file: str | None = None  # the CSV read (data.path resolved against the params file); None when simulated
    data_sha256: str | None = None  # sha256 of that CSV's bytes
    requirements_sha256: str | None = None  # sha256 of requirements.txt (the pinned environment)
    git_dirty: bool | None = None  # uncommitted changes in the repository at run time (None: not a git checkout)
    stage_inputs: dict[str, dict[str, str]] = Field(default_factory=dict)  # per stage: input -> hash (cache.py)
    # an exercise case (report.exercise): rendered with its solutions (True) or without (False); None: no exercise
    solutions: bool | None = None


def save_data(run_dir: str | Path, data: MMMData, truth: xr.Dataset | None) -> None:
    """Write ``data.csv`` (+ its column roles) and ``truth.nc`` when the truth is known."""
    out = artifacts_dir(run_dir)
    data.to_frame().to_csv(out / DATA_CSV, index=False)
    roles = data_roles(data)
    (out / DATA_COLUMNS).write_text(json.dumps(roles, indent=2) + "\n")
    if truth is not None:
        truth.to_netcdf(out / TRUTH, engine="h5netcdf")


def load_data(run_dir: str | Path) -> MMMData:
    """The model input written by stage 01."""
    out = artifacts_dir(run_dir)
    roles = json.loads((out / DATA_COLUMNS).read_text())
    df = pd.read_csv(out / DATA_CSV)
    data = from_roles(df, roles, source=str(out / DATA_CSV))
    period_from(data)  # the pages' period word, unless report.period names it
    return data


def load_truth(run_dir: str | Path) -> xr.Dataset | None:
    path = artifacts_dir(run_dir) / TRUTH
    return xr.load_dataset(path, engine="h5netcdf") if path.exists() else None


def save_idata(run_dir: str | Path, idata: az.InferenceData) -> Path:
    """``idata.nc`` with zlib compression of every variable."""
    path = artifacts_dir(run_dir) / IDATA
    idata.to_netcdf(str(path), compress=True, engine="h5netcdf")
    return path


def load_idata(run_dir: str | Path) -> az.InferenceData:
    return az.from_netcdf(str(artifacts_dir(run_dir) / IDATA), engine="h5netcdf")


def save_recovery(run_dir: str | Path, table: pd.DataFrame) -> Path:
    path = artifacts_dir(run_dir) / RECOVERY
    table.to_csv(path, index=False)
    return path


def load_recovery(run_dir: str | Path) -> pd.DataFrame | None:
    path = Path(run_dir) / "artifacts" / RECOVERY
    return pd.read_csv(path) if path.exists() else None


def save_replicates(run_dir: str | Path, table: pd.DataFrame) -> Path:
    path = artifacts_dir(run_dir) / REPLICATES
    table.to_csv(path, index=False)
    return path
