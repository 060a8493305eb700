"""Params files: the validated, frozen spec of one case (see docs/params.md).

``load_params(path)`` returns a :class:`Params` or raises :class:`ParamsError` listing every
problem as ``file: field: value: message``. Unknown keys are errors.
"""

from __future__ import annotations

import difflib
import hashlib
import types
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin, overload

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator, model_validator

from mmmhelpers.registry import (
    ADSTOCK_PARAMS,
    GENERATOR_PANEL_DIMS,
    KNOWLEDGE_PRIOR_KEYS,
    MODEL_PRIOR_NAMES,
    SATURATION_CEILING,
    SATURATION_PARAMS,
    Kind,
    channel_kinds,
    kind_params,
)

__all__ = ["Params", "ParamsError", "load_params", "params_hash", "quick", "json_schema"]

# The kinds a params file may name are the keys of their registries (one source of truth each). A Literal built at
# run time is no type to a type checker: it sees the names as str.
if TYPE_CHECKING:
    AdstockKind = str
    SaturationKind = str
    GeneratorKind = str
else:
    AdstockKind = Literal[tuple(ADSTOCK_PARAMS)]
    SaturationKind = Literal[tuple(SATURATION_PARAMS)]
    GeneratorKind = Literal[tuple(GENERATOR_PANEL_DIMS)]


class ParamsError(ValueError):
    """Every problem of one params file, each naming file, field and value."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(Strict):
    path: Path | None = None  # CSV, relative to the params file
    date_column: str = "date"
    date_format: str | None = None  # strptime format of the dates, e.g. "%d/%m/%Y"; None: pandas infers it
    target_column: str = "y"
    channel_columns: list[str] = Field(default_factory=list)
    # media bought in units: channel (its spend column) -> the column of the units it bought (impressions, GRPs,
    # clicks). The units drive the media effect; the spend gives ROAS, cost per KPI and budgets
    units_columns: dict[str, str] = Field(default_factory=dict)
    control_columns: list[str] = Field(default_factory=list)
    # media without spend (newsletter sends, organic social posts): adstock and saturation, never budgeted
    organic_columns: list[str] = Field(default_factory=list)
    population_column: str | None = None  # each market's size (constant over its dates): per_capita scaling
    # a count KPI's currency value of one unit per period (and market), e.g. revenue per conversion (Meridian's
    # revenue_per_kpi); needs report.kpi_type: count. The ROAS in currency weighs each period's contribution by it
    kpi_value_column: str | None = None
    dims: list[str] = Field(default_factory=list)  # panel dims, e.g. [geo]
    truth: Path | None = None  # optional truth file of a published case (netCDF)
    # truth held in the CSV itself: truth variable -> column, or {channel: column} for a per-channel series
    truth_columns: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    truth_values: dict[str, float | list[float]] = Field(default_factory=dict)  # true parameters (one per channel)
    # the rows dated up to this day only (inclusive): the data as an earlier report saw it (params/refresh_demo/)
    until: date | None = None

    @field_validator("date_format")
    @classmethod
    def _a_strptime_format(cls, v: str | None) -> str | None:
        if v is not None and "%" not in v:
            raise ValueError('a strptime format of the dates, e.g. "%d/%m/%Y" for 16/01/2023 or "%Y-%m-%d"')
        return v


class SimulateSpec(Strict):
    generator: GeneratorKind
    n_weeks: int = Field(104, ge=20, le=2000)
    start_date: date = date(2022, 1, 3)
    true_params: dict[str, Any] = Field(default_factory=dict)


class AdstockSpec(Strict):
    type: AdstockKind = "geometric"
    l_max: int = Field(8, ge=1, le=60)  # weeks the model carries spend over (the truth's own is simulate.true_params.l_max)
    normalize: bool = True
    priors: dict[str, Any] = Field(default_factory=dict)
    # channel -> its own l_max (at most l_max): e.g. {search: 2} while tv carries over l_max periods
    l_max_by_channel: dict[str, int] = Field(default_factory=dict)
    # channel -> its own adstock type: e.g. {tv: weibull_pdf} while the others keep ``type``
    type_by_channel: dict[str, AdstockKind] = Field(default_factory=dict)

    def kinds(self, channels: Sequence[str]) -> Kind:
        """Each channel's adstock type: one name when all agree, else one per channel (``registry.Kind``)."""
        return channel_kinds(self.type, self.type_by_channel, channels)

    @model_validator(mode="after")
    def _lags_within_l_max(self) -> AdstockSpec:
        bad = {ch: n for ch, n in self.l_max_by_channel.items() if not 1 <= n <= self.l_max}
        if bad:
            raise ValueError(f"l_max_by_channel: {bad}: each channel's l_max is between 1 and l_max ({self.l_max})")
        return self


class SaturationSpec(Strict):
    type: SaturationKind = "logistic"
    priors: dict[str, Any] = Field(default_factory=dict)
    # channel -> its own saturation type: e.g. {search: hill} while the others keep ``type``
    type_by_channel: dict[str, SaturationKind] = Field(default_factory=dict)

    def kinds(self, channels: Sequence[str]) -> Kind:
        """Each channel's saturation type: one name when all agree, else one per channel (``registry.Kind``)."""
        return channel_kinds(self.type, self.type_by_channel, channels)

    def all_kinds(self) -> tuple[str, ...]:
        """``type`` and every type of ``type_by_channel``."""
        return tuple(dict.fromkeys([self.type, *self.type_by_channel.values()]))


class HSGPSpec(Strict):
    m: int = Field(50, ge=4, le=500)  # basis functions
    L: float | None = None  # boundary (weeks, centred time); default c * half-range
    c: float = Field(1.5, gt=1.0)
    eta_lam: float = Field(1.0, gt=0)  # rate of the Exponential prior on the GP amplitude
    ls_mu: float = Field(5.0, gt=0)  # length-scale prior mean (weeks)
    ls_sigma: float = Field(10.0, gt=0)  # length-scale prior sd (weeks)
    per_channel: bool = False
    link: Literal["exp", "softplus"] = "exp"  # multiplier exp(f - mean f), or softplus(f) / mean softplus(f)
    # The slowest modes' weights are sampled centred, the rest non-centred (the same prior): None = the modes whose
    # period 4 L / j is a year or longer, which several years of data pin down (see model.HSGPBasis).
    centred_modes: int | None = Field(None, ge=0)


class ScalingSpec(Strict):
    # max: divided by its max over dates (per cell, or pooled over dims); none: left raw; per_capita: divided by
    # the market's population (data.population_column) times one constant (the largest value per head): markets of
    # different size then share one scale per head, so a pooled prior compares like with like
    channel: Literal["max", "none", "per_capita"] = "max"
    target: Literal["max", "none", "per_capita"] = "max"
    dims: list[str] = Field(default_factory=list)  # panel dims pooled into one scale ([geo]: one max over all geos)
    controls: Literal["max_abs", "none"] = "max_abs"  # controls divided by their max |value|, or left raw
    # scales from the periods up to this date only (inclusive): a refresh with new periods keeps the last report's
    # scales (its last date), so every parameter keeps its meaning; None: every period
    until: date | None = None

    def describe(self) -> str:
        """One line for the spec table and ``idata.attrs``."""
        where = f"pooled over {', '.join(self.dims)}" if self.dims else "per panel cell"
        controls = "max |value|" if self.controls == "max_abs" else "raw (not scaled)"
        pairs = [("channels", self.channel), ("target", self.target)]
        divided = [name for name, how in pairs if how == "max"]
        raw = [name for name, how in pairs if how == "none"]
        per_head = [name for name, how in pairs if how == "per_capita"]
        parts = [f"{' and '.join(divided)} divided by their max over dates, {where}"] if divided else []
        parts += [f"{' and '.join(per_head)} divided by each market's population times the largest value per "
                  "head"] if per_head else []
        parts += [f"{' and '.join(raw)} raw (not scaled)"] if raw else []
        until = f"; scales from the periods up to {self.until:%Y-%m-%d}" if self.until else ""
        return f"{'; '.join(parts)}; controls: {controls}{until}"


class ExperimentDesign(Strict):
    """A test to simulate on a simulated case (``model.experiments_from_truth``): its lift is the truth's, measured
    with noise of sd ``lift_se``; the columns of an experiments CSV otherwise."""

    channel: str
    where: dict[str, str] = Field(default_factory=dict)  # panel coordinates, e.g. {geo: geo_a}
    start: date
    end: date
    delta_spend: float  # spend added per period during the test (negative: go dark)
    lift_se: float = Field(..., gt=0)


def _default_likelihood() -> dict:
    return {"distribution": "Normal", "sigma": {"distribution": "HalfNormal", "sigma": 1.0}}


class TrendSpec(Strict):
    """A piecewise-linear trend: a slope, and a change of slope at each of ``changepoints`` points spread evenly over
    the first ``span`` of the observed time (Prophet's default: 25 points in the first 80%)."""

    changepoints: int = Field(0, ge=0, le=50)
    span: float = Field(0.8, gt=0, le=1)


class HolidaySpec(Strict):
    """National holidays from the ``holidays`` package: a feature counting the holiday days in each period (0/1 on
    daily data), computed from the dates, so forecasts know next year's holidays too."""

    country: str  # ISO 3166 code, e.g. US, DE, GB
    subdiv: str | None = None  # a state or region of that country, e.g. CA

    @model_validator(mode="after")
    def _known_country(self) -> HolidaySpec:
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"country {self.country!r} is not one the holidays package knows (e.g. US, DE, GB, FR)")
        if self.subdiv is not None and self.subdiv not in supported[self.country]:
            raise ValueError(f"subdiv {self.subdiv!r} is not a subdivision of {self.country} "
                             f"(it has {', '.join(supported[self.country][:12])}, ...)")
        return self


class PriorCorrelation(Strict):
    """The correlations between priors carried from a posterior: the model's variables (each element in C order) and
    the correlation matrix of their normal scores (``Phi^-1(F(x))``, ``F`` the carried prior's CDF)."""

    variables: list[str]
    matrix: list[list[float]]

    @model_validator(mode="after")
    def _square(self) -> PriorCorrelation:
        m = np.asarray(self.matrix, float)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or not np.allclose(m, m.T) or \
                not np.allclose(np.diag(m), 1.0) or np.linalg.eigvalsh(m).min() <= 0:
            raise ValueError("matrix: a correlation matrix is square, symmetric, positive definite with ones on its "
                             "diagonal")
        return self


class ModelSpec(Strict):
    adstock: AdstockSpec = AdstockSpec()
    saturation: SaturationSpec = SaturationSpec()
    yearly_seasonality: int = Field(2, ge=0, le=20)  # Fourier order; 0 = none
    trend: bool | TrendSpec = False  # true: linear; {changepoints: 6}: piecewise linear (trend_delta, Laplace)
    weekday_seasonality: bool = False  # daily data: an effect per day of the week (ZeroSumNormal: they sum to zero)
    holidays: HolidaySpec | None = None  # national holidays by country code (python-holidays), an effect per holiday day
    time_varying_media: bool | HSGPSpec = False
    time_varying_intercept: bool | HSGPSpec = False
    scaling: ScalingSpec = ScalingSpec()
    priors: dict[str, Any] = Field(default_factory=dict)  # intercept, gamma_control, gamma_fourier, ...
    likelihood: dict[str, Any] = Field(default_factory=_default_likelihood)
    lift_tests: Path | None = None  # CSV: channel, *dims, x, delta_x, delta_y, sigma (relative to the params file)
    lift_tests_from_truth: bool = False  # simulated cases: calibrate with lift tests simulated from the truth
    # CSV: channel, *dims, start, end, delta_spend, lift, lift_se (calibration.read_experiments): tests over their dates
    experiments: Path | None = None
    experiments_from_truth: list[ExperimentDesign] = Field(default_factory=list)  # simulated cases: tests to simulate
    # channel -> a prior on its ROAS over the data's weeks (currency per currency), e.g. {distribution: LogNormal,
    # mean: 1.5, std: 0.5}; the saturation's ceiling is then derived from it (model.py, _ceiling_from_knowledge)
    roas_priors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # channel -> a prior on its contribution as a share of the target over the data's weeks (0.1: a tenth of sales)
    share_priors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # channel -> a prior on its marginal ROAS over the data's weeks: the target 1% more spend in every week would
    # have added, per currency of that 1% (Meridian's mROI), e.g. {distribution: LogNormal, mean: 0.8, std: 0.3}
    mroas_priors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # channel -> a prior on its cost per unit of the target over the data's weeks (spend / contribution; for a count
    # KPI such as sign-ups, e.g. {distribution: LogNormal, mean: 40, std: 15}: 40 of currency per sign-up)
    cost_per_kpi_priors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # every media prior (adstock, saturation and the priors above) this many times wider, its centre kept: a
    # prior-sensitivity variant is one line, model_variants: [{name: wider_priors, model: {media_prior_widen: 2}}]
    media_prior_widen: float = Field(1.0, ge=1, le=10)
    # the organic media's adstock and saturation priors by parameter: adstock_alpha, saturation_lam, ... (the bare
    # name, alpha or lam, when one component alone has it), dims [organic]; default: the components' own defaults
    organic_priors: dict[str, Any] = Field(default_factory=dict)
    # the likelihood counts the periods from this date on only (the earlier ones are in the priors already: a refresh
    # from the last report's posterior, refresh.priors: last_report, sets it to the first new period); None: every one
    likelihood_from: date | None = None
    # the carried priors' correlations (a Gaussian copula over their normal scores; refresh.priors: last_report sets
    # it): {variables: [adstock_alpha, ...], matrix: the correlation of their elements, in that order}
    prior_correlation: PriorCorrelation | None = None

    @model_validator(mode="after")
    def _one_experiments_source(self) -> ModelSpec:
        if self.experiments is not None and self.experiments_from_truth:
            raise ValueError("give experiments (a CSV) or experiments_from_truth (simulated tests), not both")
        return self

    @model_validator(mode="after")
    def _roas_priors_need_a_ceiling(self) -> ModelSpec:
        kinds = self.saturation.all_kinds()
        for key in KNOWLEDGE_PRIOR_KEYS:
            if not getattr(self, key):
                continue
            for kind in kinds:
                if kind not in SATURATION_CEILING:
                    raise ValueError(f"{key}: the {kind} saturation has no parameter the response is proportional "
                                     f"to; use one of {sorted(SATURATION_CEILING)}")
            if len({SATURATION_CEILING[k] for k in kinds}) > 1:
                raise ValueError(f"{key}: the saturation types {list(kinds)} scale the response by different "
                                 f"parameters ({ {k: SATURATION_CEILING[k] for k in kinds} }); with a ROAS or share "
                                 "prior, use types that share one (logistic and hill: beta)")
        for i, first in enumerate(KNOWLEDGE_PRIOR_KEYS):
            for second in KNOWLEDGE_PRIOR_KEYS[i + 1:]:
                both = sorted(set(getattr(self, first)) & set(getattr(self, second)))
                if both:
                    raise ValueError(f"{first} and {second} both name {both}: one prior per channel")
        return self

    @property
    def knowledge_priors(self) -> bool:
        """Whether any channel has a prior in business units (ROAS, share, marginal ROAS, cost per KPI)."""
        return any(getattr(self, key) for key in KNOWLEDGE_PRIOR_KEYS)

    @field_validator("priors")
    @classmethod
    def _known_priors(cls, v: dict) -> dict:
        known = set(MODEL_PRIOR_NAMES)
        unknown = set(v) - known
        if unknown:
            raise ValueError(f"unknown prior names {sorted(unknown)} (known: {sorted(known)})")
        return v


class FitSpec(Strict):
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    chains: int = Field(4, ge=1, le=16)
    tune: int = Field(1000, ge=10)
    draws: int = Field(1000, ge=10)
    target_accept: float = Field(0.9, gt=0.5, lt=1.0)
    cores: int | None = Field(None, ge=1)
    mass_matrix: Literal["diag", "low_rank"] = "diag"  # nutpie's adaptation (see benchmarks/sampler_settings.py)

    class FailOn(Strict):
        """Health gates: a fit beyond any of them fails the run (no report is published)."""

        divergences: int | None = Field(None, ge=0)  # most divergent draws allowed
        rhat: float | None = Field(None, ge=1.0)  # largest R-hat allowed
        ess_bulk: float | None = Field(None, ge=0)  # smallest bulk ESS allowed
        bfmi: float | None = Field(None, ge=0)  # smallest E-BFMI allowed

    fail_on: FailOn | None = None


class OutOfSampleSpec(Strict):
    holdout_weeks: int = Field(8, ge=1)
    rolling_origins: int = Field(0, ge=0)
    forecast_weeks: int = Field(0, ge=0, le=104)  # forecast after the last period: spend held at its last level
    # CSV of the periods after the data (relative to the params file): date, *dims, every channel and control column
    # of the data (no target); the forecast of that plan (out_of_sample.read_plan)
    forecast_plan: Path | None = None
    # what-if plans for the same periods (name -> CSV in forecast_plan's layout, e.g. promotions twice as often): each
    # forecast on the same posterior draws, with its paired difference from forecast_plan's expected target
    forecast_scenarios: dict[str, Path] = Field(default_factory=dict)
    # refits without the last 1..k periods (one compiled model, masked periods): how far each ROAS and the plan move
    # (stability.py); 0: none
    stability_refits: int = Field(4, ge=0, le=52)

    @model_validator(mode="after")
    def _one_forecast(self) -> OutOfSampleSpec:
        if self.forecast_plan is not None and self.forecast_weeks:
            raise ValueError("give forecast_weeks (spend held at its last level) or forecast_plan (a CSV of future "
                             "spend), not both: the plan's rows set its length")
        if self.forecast_scenarios and self.forecast_plan is None:
            raise ValueError("forecast_scenarios are what-if versions of forecast_plan: give forecast_plan too")
        return self


class ConstraintSpec(Strict):
    """One linear budget constraint, written as data (never evaluated as code).

    ``bounds``: spend per period of the matched cells within [lower, upper]; ``min_share``/``max_share``:
    their share of the total spend; ``max_ratio``/``min_ratio``: their spend vs ``value`` times the spend of
    ``other`` (``x2 <= 0.5 * x1`` is ``{type: max_ratio, channel: x2, other: x1, value: 0.5}``). ``where``
    narrows to panel coordinates, e.g. ``{geo: geo_a}``; no channel means every channel.
    """

    type: Literal["bounds", "min_share", "max_share", "max_ratio", "min_ratio"]
    channel: str | None = None
    where: dict[str, str] = Field(default_factory=dict)
    other: str | None = None  # the reference channel of a ratio
    value: float | None = Field(None, ge=0)  # the share (0-1) or the ratio
    lower: float | None = Field(None, ge=0)
    upper: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> ConstraintSpec:
        if self.type == "bounds":
            if self.lower is None and self.upper is None:
                raise ValueError("a bounds constraint needs lower and/or upper")
            if self.lower is not None and self.upper is not None and self.lower > self.upper:
                raise ValueError(f"lower {self.lower} is above upper {self.upper}")
        elif self.value is None:
            raise ValueError(f"a {self.type} constraint needs a value")
        if self.type.endswith("_share") and self.value is not None and self.value > 1:
            raise ValueError(f"a share is between 0 and 1, got {self.value}")
        if self.type.endswith("_ratio") and (self.other is None or self.channel is None):
            raise ValueError(f"a {self.type} constraint needs channel and other")
        return self


class ObjectiveSpec(Strict):
    """What the optimizer maximizes over the posterior draws of the plan's incremental response."""

    type: Literal["mean", "var", "cvar", "mean_minus_sd"] = "mean"
    alpha: float = Field(0.05, gt=0, lt=1)  # var / cvar: the lower tail probability
    k: float = Field(1.0, ge=0)  # mean_minus_sd: mean - k * sd


class TargetSpec(Strict):
    """Find the budget that reaches a target: the least budget for a response, the largest for a (m)ROAS."""

    type: Literal["response", "roas", "mroas", "cost_per_kpi"]  # cost_per_kpi: the largest budget at or below it
    value: float = Field(..., gt=0)


class AlternativeSpec(Strict):
    """Another plan on the same window: a name and the optimization fields it changes (budget, rules, objective)."""

    name: str
    budget: float | None = Field(None, gt=0)
    bounds: dict[str, tuple[float, float]] | None = None
    constraints: list[ConstraintSpec] | None = None
    budget_use: Literal["exact", "at_most"] | None = None
    objective: ObjectiveSpec | None = None
    allow_extrapolation: bool | None = None
    trust_region: float | None = Field(None, gt=0)


class ResponseFloorSpec(Strict):
    """A target's mean response the plan must reach (``at_least``) or hit (``equal_to``)."""

    target: str
    at_least: float | None = None
    equal_to: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> ResponseFloorSpec:
        if (self.at_least is None) == (self.equal_to is None):
            raise ValueError("give exactly one of at_least or equal_to")
        return self

    @property
    def kind(self) -> str:
        return "at_least" if self.at_least is not None else "equal_to"

    @property
    def value(self) -> float:
        value = self.at_least if self.at_least is not None else self.equal_to
        assert value is not None  # _one_bound: exactly one of them
        return float(value)


class MultiObjectiveSpec(Strict):
    """Several targets, one budget: maximize the sum of some targets' responses subject to another's
    (``constraint``), and trace the trade-off between the two (the Pareto frontier)."""

    # targets whose responses are added up (one name: that target alone; the schema says both forms)
    maximize: Annotated[list[str], WithJsonSchema({"anyOf": [{"type": "string"},
                                                             {"type": "array", "items": {"type": "string"}}]})]
    constraint: ResponseFloorSpec | None = None
    frontier_points: int = Field(20, ge=0, le=200)  # points of the frontier (0: none); needs a constraint
    spend: Literal["auto", "shared", "per_target"] = "auto"  # one spend per channel for all targets, or per target

    @field_validator("maximize", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class NextTestSpec(Strict):
    """The test the budget page values for each channel (``next_test.next_test_table``)."""

    weeks: int = Field(4, ge=1, le=52)  # periods the test runs
    change: float = Field(1.0, ge=-1.0)  # spend change as a share of the channel's historical level (-1: dark)
    se: float | None = Field(None, gt=0)  # the test's standard error (target units); None: the sales noise


class OptimizationSpec(Strict):
    budget: float = Field(..., gt=0)  # total per period, original spend units
    num_periods: int = Field(13, ge=1)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)  # per channel: spend per period of each cell
    # a plan CSV (the layout of out_of_sample.forecast_plan, e.g. the same file): the budget page scores it over its own
    # periods and sets the best plan at the same budget against it (paired gain, held out)
    compare_plan: Path | None = None
    # channels bought in units (data.units_columns): the plan's cost per unit (e.g. next quarter's price of a GRP),
    # one for every market ({tv: 1.2}) or per market of the one panel dim ({tv: {north: 1.2, south: 1.5}}; a market
    # left out keeps its own); default: the data's average spend per unit in each market
    cost_per_unit: dict[str, Annotated[float, Field(gt=0)] | dict[str, Annotated[float, Field(gt=0)]]] = Field(
        default_factory=dict)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    budget_use: Literal["exact", "at_most"] = "exact"  # spend exactly the budget, or at most it
    objective: ObjectiveSpec = ObjectiveSpec()
    objective_window: Literal["window", "window_and_tail"] = "window_and_tail"  # the tail: carryover after the window
    carryover_history: bool = True  # the last l_max-1 observed weeks carry into the window
    allow_extrapolation: bool = False  # let a cell spend above the highest spend per period the data saw
    trust_region: float | None = Field(None, gt=0)  # e.g. 0.3: each cell within +-30% of its historical spend
    # a channel whose ROAS the data do not pin down (no ROAS prior, experiment or lift test either): no_raise (never
    # above its historical spend; cuts allowed), hold (at it) or free. no_raise by default: on
    # benchmarks/truth_decisions.py its plans kept 41% of the true optimum against -6% (free) and 2% (hold)
    uninformed: Literal["free", "no_raise", "hold"] = "no_raise"
    pattern: list[float] | None = None  # weights per period (flighting); default flat
    optimize_over_time: bool = False  # the optimizer picks the spend of every period
    target: TargetSpec | None = None
    noise_level: float = Field(0.0, ge=0, lt=1)  # sd of multiplicative noise on the planned spend (robustness)
    scenarios: list[float] = Field(default_factory=list)  # budget multipliers
    alternatives: list[AlternativeSpec] = Field(default_factory=list)  # named plans with other budgets or rules
    draws: int = Field(400, ge=10)  # posterior draws used for the objective
    multi_objective: MultiObjectiveSpec | None = None  # cases with several targets (see ``targets``)
    next_test: NextTestSpec = NextTestSpec()  # the test per channel the page values (EVSI)

    def alternative(self, alt: AlternativeSpec) -> OptimizationSpec:
        """This section with ``alt``'s fields in place (no scenarios, alternatives or target of its own)."""
        changes = {k: v for k, v in alt.model_dump(exclude={"name"}).items() if v is not None}
        return OptimizationSpec.model_validate({**self.model_dump(), **changes, "scenarios": [], "alternatives": [],
                                                "target": None})

    @field_validator("bounds")
    @classmethod
    def _ordered_bounds(cls, v: dict) -> dict:
        for ch, (lo, hi) in v.items():
            if lo < 0 or hi < lo:
                raise ValueError(f"{ch}: bounds [{lo}, {hi}] must satisfy 0 <= lower <= upper")
        return v

    @model_validator(mode="after")
    def _pattern_fits(self) -> OptimizationSpec:
        if self.pattern is not None:
            if len(self.pattern) != self.num_periods:
                raise ValueError(f"pattern has {len(self.pattern)} weights, num_periods is {self.num_periods}")
            if min(self.pattern) < 0 or sum(self.pattern) <= 0:
                raise ValueError("pattern weights must be >= 0 with a positive sum")
        if self.pattern is not None and self.optimize_over_time:
            raise ValueError("give either pattern or optimize_over_time, not both")
        if any(m <= 0 for m in self.scenarios):
            raise ValueError(f"scenario multipliers must be > 0, got {self.scenarios}")
        for alt in self.alternatives:
            self.alternative(alt)
        if len({a.name for a in self.alternatives}) < len(self.alternatives):
            raise ValueError("alternatives need distinct names")
        return self

    @property
    def weights(self) -> list[float]:
        """Spend weight of each period, mean 1 (flat: all ones)."""
        w = self.pattern or [1.0] * self.num_periods
        return [v * len(w) / sum(w) for v in w]


class SBCSpec(Strict):
    """Simulation-based calibration: ``draws`` fits of data simulated from the prior (see mmmhelpers.sbc)."""

    draws: int = Field(0, ge=0)  # SBC draws (fits); 0: none
    ranks: int = Field(99, ge=9, le=999)  # L: posterior draws each truth is ranked among (ranks 0..L)
    fit: dict[str, Any] = Field(default_factory=dict)  # fields of the main fit section it changes (e.g. fewer draws)


class RecoverySpec(Strict):
    replicates: int = Field(0, ge=0)
    sbc: SBCSpec = SBCSpec()


class ExecutionSpec(Strict):
    """Where independent fits (SBC draws, replicates) run: in sequence here (default), or on Dask."""

    workers: int = Field(0, ge=0)  # > 0: a local Dask cluster of this many single-threaded workers
    scheduler: str = ""  # e.g. tcp://host:8786: an existing Dask cluster


class PublishedNumber(Strict):
    """A number a case study published, and where this report's own value is found (see docs/params.md)."""

    label: str
    value: float
    # posterior:<var>[<coord>, ...] | data:<name>[<coord>, ...] | diagnostics:<field> (shown on the fit page);
    # allocation:<cell> | alternative:<name>:<cell> | target_budget | response:<plan> |
    # multi_objective:best[<target>] | multi_objective:constrained[<target>] | multi_objective:binds (budget page)
    source: str
    tolerance: float = Field(0.05, ge=0)  # a point value agrees within this relative difference (0: exactly)
    variant: str | None = None  # the model variant it is compared with (default: the main model)
    note: str = ""

    @field_validator("source")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        kind = v.partition(":")[0]
        kinds = ("posterior", "data", "diagnostics", "allocation", "alternative", "target_budget", "response",
                 "multi_objective")
        if kind not in kinds:
            raise ValueError(f"unknown source kind {kind!r} (known: {', '.join(kinds)})")
        return v

    @property
    def page(self) -> str:
        """The page whose table shows it: the fit page for the model's numbers, the budget page for plans."""
        return "fit" if self.source.partition(":")[0] in ("posterior", "data", "diagnostics") else "optimize"


class ExerciseSpec(Strict):
    """A workshop case: the question the pages open with, the answer they reveal (docs/workshop.md)."""

    question: str = Field(..., min_length=1)  # first on the summary: what to predict before reading on
    answer: str = Field(..., min_length=1)  # in a collapsed callout on the summary, with the truth
    # True: the truth and the answer in collapsed callouts; False: left out of every page (mmm-report run
    # --no-solutions / --solutions override it)
    solutions: bool = True


class ReportSpec(Strict):
    client: bool = False
    exercise: ExerciseSpec | None = None  # a workshop case: predict, then reveal
    published: list[PublishedNumber] = Field(default_factory=list)  # "published vs this report" table
    reference: str = ""  # the published document this case reproduces (named on the index page)
    reference_url: str = ""  # where to read it (linked from its name)
    roas_range: tuple[float, float] | None = None  # plausible ROAS (target units per currency unit) for the review
    currency: str = ""  # e.g. EUR: put before every amount of spend in the summary
    target_label: str = "units of the target"  # what the target counts, e.g. "sales" or "new users"
    period: Literal["day", "week", "month"] | None = None  # what one row of the data is; None: from the data's dates
    # revenue: the target is money (ROAS is revenue per currency unit); count: it counts things (sign-ups,
    # conversions): the pages add the cost per unit of the target, and with kpi_value (the currency value of one
    # unit) the ROAS in currency; without it no page turns the count into money
    kpi_type: Literal["revenue", "count"] = "revenue"
    kpi_value: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _a_value_is_for_a_count(self) -> ReportSpec:
        if self.kpi_value is not None and self.kpi_type != "count":
            raise ValueError("kpi_value is the currency value of one unit of a count KPI: set kpi_type: count")
        return self


class RefreshSpec(Strict):
    """How a refresh (a run on data with periods added since the last report in the same folder) sets its priors."""

    # params: the params' own priors, every period in the likelihood (a full refit); last_report: the last report's
    # posterior, moment-matched to the params' families (refresh_priors.py), and the likelihood over the new periods only
    priors: Literal["params", "last_report"] = "params"


class VariantSpec(Strict):
    """Another model of the same data, fitted beside the main one and compared with it on the fit page: the
    fields of ``model`` and ``fit`` it changes (merged into the main ones, as written in the main sections)."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    label: str = ""  # as the pages name it (default: the name)
    model: dict[str, Any] = Field(default_factory=dict)
    fit: dict[str, Any] = Field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.label or self.name


class TargetModelSpec(Strict):
    """One of several targets of the case, fitted with its own model: a column of the data (two KPIs of the
    same channels) or one coordinate of a panel dim (one market modelled alone). The first is the main model."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    label: str = ""  # as the pages name it (default: the name)
    column: str | None = None  # the target column (default data.target_column)
    where: dict[str, str] = Field(default_factory=dict)  # panel dim -> the coordinate this target keeps
    model: dict[str, Any] = Field(default_factory=dict)  # fields of the main model section it changes
    fit: dict[str, Any] = Field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.label or self.name


def _distinct(names: list[str], what: str) -> list[str]:
    """``names`` when they are distinct and none is "main" (the main model's own name on the pages)."""
    if len(set(names)) < len(names) or "main" in names:
        raise ValueError(f"{what} need distinct names other than 'main', got {names}")
    return names


class Params(Strict):
    case: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    title: str
    seed: int = Field(..., ge=0)
    description: str = ""
    data: DataSpec = DataSpec()
    simulate: SimulateSpec | None = None
    model: ModelSpec = ModelSpec()
    fit: FitSpec = FitSpec()
    out_of_sample: OutOfSampleSpec = OutOfSampleSpec()
    recovery: RecoverySpec = RecoverySpec()
    optimization: OptimizationSpec | None = None
    report: ReportSpec = ReportSpec()
    model_variants: list[VariantSpec] = Field(default_factory=list)  # other models fitted and compared on page 2
    targets: list[TargetModelSpec] = Field(default_factory=list)  # several targets, one model each (first: main)
    refresh: RefreshSpec = RefreshSpec()  # a refresh's priors: the params' or the last report's posterior
    execution: ExecutionSpec = ExecutionSpec()  # where independent fits run (``--workers``/``--scheduler`` override)
    source: Path | None = Field(None, exclude=True)  # the file it was read from

    @model_validator(mode="after")
    def _one_data_source(self) -> Params:
        if self.data.path is None and self.simulate is None:
            raise ValueError("give either data.path (a CSV) or a simulate section")
        if self.data.path is not None and not self.data.channel_columns:
            raise ValueError("data.channel_columns must list at least one channel for a CSV")
        return self

    @model_validator(mode="after")
    def _a_value_column_is_for_a_count(self) -> Params:
        if self.data.kpi_value_column is not None:
            if self.report.kpi_type != "count":
                raise ValueError("data.kpi_value_column is the currency value of one unit of a count KPI: set "
                                 "report.kpi_type: count")
            if self.report.kpi_value is not None:
                raise ValueError("give the KPI's value once: report.kpi_value (a constant) or data.kpi_value_column "
                                 "(a column), not both")
        return self

    @model_validator(mode="after")
    def _lift_tests_need_a_truth(self) -> Params:
        uses = [self.model.lift_tests_from_truth, *(v.model.get("lift_tests_from_truth", False)
                                                    for v in self.model_variants)]
        if any(uses) and (self.simulate is None or self.data.dims):
            raise ValueError("model.lift_tests_from_truth needs a simulated single-market case (a simulate section)")
        if self.model.experiments_from_truth and (self.simulate is None or self.simulate.generator not in
                                                  ("single_market", "geo_hierarchical")):
            raise ValueError("model.experiments_from_truth needs a simulated case whose generator is single_market or "
                             "geo_hierarchical (their truth has the response the tests measure)")
        return self

    @model_validator(mode="after")
    def _distinct_variants(self) -> Params:
        names = _distinct([v.name for v in self.model_variants], "model_variants")
        for p in self.report.published:
            if p.variant is not None and p.variant not in names:
                raise ValueError(f"report.published {p.label!r}: no model variant named {p.variant!r} "
                                 f"(variants: {names})")
        return self

    @model_validator(mode="after")
    def _known_targets(self) -> Params:
        names = _distinct([t.name for t in self.targets], "targets")
        if self.targets and (self.targets[0].model or self.targets[0].fit):
            raise ValueError(f"targets.0 ({names[0]!r}) is the main model: put its settings in the model and fit "
                             "sections")
        panel = _panel_dims(self)
        for i, t in enumerate(self.targets):
            if set(t.where) - panel:
                raise ValueError(f"targets.{i}.where: {sorted(set(t.where) - panel)} are not panel dims "
                                 f"(the data's: {sorted(panel)})")
            if t.column is not None and self.data.path is None:
                raise ValueError(f"targets.{i}.column: a simulated case names its targets with where (dims "
                                 f"{sorted(panel)})")
        mo = self.optimization.multi_objective if self.optimization else None
        if mo is not None:
            named = [*mo.maximize, *([mo.constraint.target] if mo.constraint else [])]
            unknown = [n for n in named if n not in names]
            if len(names) < 2 or unknown:
                raise ValueError(f"optimization.multi_objective names targets {unknown or named}; the case's "
                                 f"targets are {names} (it needs at least two)")
            if mo.frontier_points and mo.constraint is None:
                raise ValueError("optimization.multi_objective.frontier_points: the frontier is traced against "
                                 "the constraint's target: give a constraint (or frontier_points: 0)")
        return self

    def variant(self, name: str) -> Params:
        """This case with the named model variant's ``model`` and ``fit`` fields in place (and no variants)."""
        v = next(v for v in self.model_variants if v.name == name)
        return self._changed(v.model, v.fit)

    def for_sbc(self) -> Params:
        """This case with ``recovery.sbc.fit``'s changes to the fit (the settings of each SBC fit)."""
        return self._changed({}, self.recovery.sbc.fit)

    def for_target(self, name: str) -> Params:
        """This case as the named target's own model: its ``model``/``fit`` changes in place, its column as
        the target, the dims it selects gone (no variants, targets or published numbers of its own)."""
        t = next(t for t in self.targets if t.name == name)
        data = {"target_column": t.column or self.data.target_column,
                "dims": [d for d in self.data.dims if d not in t.where]}
        return self._changed(t.model, t.fit, data)

    def _changed(self, model: dict, fit: dict, data: dict | None = None) -> Params:
        dumped = self.model_dump(exclude={"source"})
        merged = {**dumped, "model": _deep_merge(dumped["model"], model), "fit": _deep_merge(dumped["fit"], fit),
                  "data": {**dumped["data"], **(data or {})}, "model_variants": [], "targets": [],
                  "report": {**dumped["report"], "published": []}}
        if data is not None and merged["optimization"]:
            merged["optimization"] = {**merged["optimization"], "multi_objective": None}
        return Params.model_validate({**merged, "source": self.source})

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    @overload
    def resolve(self, path: Path) -> Path: ...
    @overload
    def resolve(self, path: Path | None) -> Path | None: ...

    def resolve(self, path: Path | None) -> Path | None:
        """A path of the params file, relative to the file's folder."""
        return None if path is None else (self.base_dir / path).resolve()


def _check_priors(params: Params) -> list[str]:
    """Parse every prior now so that a bad one is reported at load time with its field (pymc-extras' ``Prior``
    parses them: imported here, so that importing the schema loads no PyMC)."""
    from mmmhelpers.priors import PriorError, describe_prior, number_problem, parse_prior, prior_dims

    problems: list[str] = []
    allowed = {"channel", "control", "fourier_mode", "date", *_panel_dims(params)}
    groups = {
        "model.adstock.priors": params.model.adstock.priors,
        "model.saturation.priors": params.model.saturation.priors,
        "model.priors": params.model.priors,
    }
    specs = [(f"{g}.{k}", v) for g, d in groups.items() for k, v in d.items()]
    specs.append(("model.likelihood", params.model.likelihood))
    for where, spec in specs:
        try:
            prior = parse_prior(spec, where)
        except PriorError as err:
            problems.append(f"{err.where}: {err.message}")
            continue
        except (TypeError, ValueError) as err:  # a shape parse_prior does not name yet: still the field and value
            problems.append(f"{where}: value {spec!r}: not a prior ({type(err).__name__}: {err})")
            continue
        bad = prior_dims(prior) - allowed
        if bad:
            problems.append(f"{where}: unknown dims {sorted(bad)} (allowed: {sorted(allowed)})")
        if refused := number_problem(prior):
            problems.append(f"{where}: {describe_prior(prior)}: its parameters must satisfy {refused} (value {spec!r})")
    ad, sat = params.model.adstock, params.model.saturation
    for where, known, names in [
        ("model.adstock.priors", kind_params(ADSTOCK_PARAMS, (ad.type, *ad.type_by_channel.values())), ad.priors),
        ("model.saturation.priors", kind_params(SATURATION_PARAMS, sat.all_kinds()), sat.priors),
    ]:
        for name in set(names) - set(known):
            problems.append(f"{where}.{name}: not a parameter of this component (has {list(known)})")
    return problems + organic_prior_problems(params.model)


def organic_prior_keys(model: ModelSpec) -> dict[str, tuple[str, str]]:
    """The keys ``model.organic_priors`` accepts -> (component, parameter): ``adstock_<name>`` and
    ``saturation_<name>`` always, the bare ``<name>`` when one component alone has it."""
    parts = {"adstock": ADSTOCK_PARAMS[model.adstock.type], "saturation": SATURATION_PARAMS[model.saturation.type]}
    keys = {f"{kind}_{name}": (kind, name) for kind, names in parts.items() for name in names}
    bare = [name for names in parts.values() for name in names]
    keys |= {name: (kind, name) for kind, names in parts.items() for name in names if bare.count(name) == 1}
    return keys


def organic_prior_problems(model: ModelSpec) -> list[str]:
    """A key of ``model.organic_priors`` that names no parameter, or one both components have (Weibull's and the
    logistic's ``lam``): named with what to write instead."""
    keys, out = organic_prior_keys(model), []
    for key in model.organic_priors:
        if key not in keys:
            both = f"adstock_{key}" in keys and f"saturation_{key}" in keys
            out.append(f"model.organic_priors.{key}: " + (
                f"the {model.adstock.type} adstock and the {model.saturation.type} saturation both have {key}: "
                f"write adstock_{key} or saturation_{key}" if both else
                f"not a parameter of the organic media's adstock or saturation (known: {sorted(keys)})"))
    return out


def _panel_dims(params: Params) -> set[str]:
    if params.data.path is not None:
        return set(params.data.dims)
    return set(GENERATOR_PANEL_DIMS[params.simulate.generator]) if params.simulate else set()


def _check_refresh(params: Params) -> list[str]:
    """What priors from the last report's posterior cannot carry yet (refresh.priors: last_report), each naming its
    field: the scales must be the last report's, and every parameter must have a prior the params can state."""
    if params.refresh.priors != "last_report":
        return []
    m, why = params.model, "with refresh.priors: last_report"
    problems = [] if m.scaling.until is not None else [
        f"model.scaling.until: missing {why}: the last report's posterior is on its scales; set the last report's "
        "last date (every refresh keeps the first report's scales)"]
    unsupported = {"model.time_varying_media": m.time_varying_media, "model.time_varying_intercept":
                   m.time_varying_intercept, "model.trend": m.trend, "model.lift_tests": m.lift_tests,
                   "model.lift_tests_from_truth": m.lift_tests_from_truth, "model.experiments": m.experiments,
                   "model.experiments_from_truth": m.experiments_from_truth, "model.organic_priors": m.organic_priors,
                   "model.adstock.type_by_channel": m.adstock.type_by_channel,
                   "model.saturation.type_by_channel": m.saturation.type_by_channel,
                   "model_variants": params.model_variants, "targets": params.targets,
                   **{f"model.{key}": getattr(m, key) for key in KNOWLEDGE_PRIOR_KEYS}}
    for field_name, value in unsupported.items():
        if value:
            problems.append(f"{field_name}: value {value!r} is not supported {why} yet (its parameters or tests would "
                            "count the last report's periods twice, or have no prior to carry); use refresh.priors: "
                            "params (a full refit)")
    if m.media_prior_widen != 1:
        problems.append(f"model.media_prior_widen: value {m.media_prior_widen} {why}: the carried priors are the last "
                        "posterior's own widths; remove it")
    if m.likelihood_from is not None:
        problems.append(f"model.likelihood_from: value {m.likelihood_from} {why}: the refresh sets it (the first new "
                        "period); remove it")
    if m.prior_correlation is not None:
        problems.append(f"model.prior_correlation: given {why}: the refresh sets it (the last posterior's); remove it")
    return problems


def _check_scaling(params: Params) -> list[str]:
    panel = _panel_dims(params)
    bad = set(params.model.scaling.dims) - panel
    if bad:
        return [f"model.scaling.dims: value {params.model.scaling.dims!r}: {sorted(bad)} are not panel dims of this "
                f"case (panel dims: {sorted(panel)})"]
    return []


def _fmt_loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _value_at(raw: Any, loc: tuple) -> Any:
    for key in loc:
        try:
            raw = raw[key]
        except (KeyError, IndexError, TypeError):
            return "<missing>"
    return raw


def _step(tp: Any, key: Any) -> tuple[list, bool]:
    """The types one loc step below ``tp``, and whether ``key`` was a union member's tag (not a raw key)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(key) if isinstance(key, str) else None
        return ([field.annotation] if field else []), False
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        tagged = [a for a in args if getattr(a, "__name__", None) == key]  # pydantic names the member: bool | HSGPSpec
        if tagged:
            return tagged, True
        out = [t for a in args if a is not type(None) for t in _step(a, key)[0]]
        return out, False
    if origin in (list, tuple, set, frozenset) and isinstance(key, int) and args:
        return [args[0]], False
    if origin is dict and len(args) == 2:
        return [args[1]], False
    return [], False


def _models(types_: list) -> list[type[BaseModel]]:
    """The pydantic models among ``types_``, unions opened."""
    out = []
    for tp in types_:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            out.append(tp)
        elif get_origin(tp) in (Union, types.UnionType):
            out += _models(list(get_args(tp)))
    return out


def _walk(loc: tuple) -> tuple[tuple, list[str], bool]:
    """Along an error's ``loc`` from :class:`Params`: the loc without pydantic's union tags (the key path in
    the file), the field names allowed where its last key sits, and whether that last key is a union tag
    (the error says the whole value is not that member, e.g. not a ``bool``)."""
    types_, path, parent, tag = [Params], [], [Params], False
    for key in loc:
        parent, nxt, tag = types_, [], False
        for tp in types_:
            found, is_tag = _step(tp, key)
            nxt += found
            tag = tag or is_tag
        types_ = nxt
        if not tag:
            path.append(key)
    fields = [f for m in _models(parent) for f in m.model_fields if f != "source"]
    return tuple(path), list(dict.fromkeys(fields)), tag


def _problems(err: ValidationError, raw: dict) -> list[str]:
    """One line per error, ``field: value: message``; an unknown key gets the closest allowed name."""
    errors = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not str(p).startswith("function-after"))
        path, allowed, tag = _walk(loc)
        errors.append((e, loc, path, allowed, tag))
    problems = []
    for e, loc, path, allowed, tag in errors:
        # ``bool | HSGPSpec`` given a mapping with a typo: the typo matters, "not a valid boolean" does not
        if tag and any(p[:len(path)] == path and len(p) > len(path) for _, _, p, _, _ in errors):
            continue
        value = e.get("input") if e["type"] != "missing" else "<missing>"
        if e["type"] == "extra_forbidden":
            value = _value_at(raw, path)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            if close:
                msg = f"unknown key; did you mean {close[0]!r}?"
            else:
                msg = f"unknown key (allowed here: {', '.join(allowed)})" if allowed else "unknown key"
        else:
            msg = e["msg"]
        problems.append(f"{_fmt_loc(path) or '<top>'}: value {value!r}: {msg}")
    return problems


def load_params(path: str | Path, overrides: dict | None = None) -> Params:
    """Read, validate and freeze a params file; raise ParamsError naming file, field and value."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(path, ["file not found"])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(path, [f"not valid YAML: {err}"]) from err
    except UnicodeDecodeError as err:
        raise ParamsError(path, [f"not a text file (UTF-8): {err.reason} at byte {err.start}; save it as UTF-8 "
                                 "text"]) from None
    if not isinstance(raw, dict):
        raise ParamsError(path, [f"top level must be a mapping, got {type(raw).__name__}"])
    if overrides:
        raw = _deep_merge(raw, overrides)
    try:
        params = Params.model_validate({**raw, "source": path.resolve()})
    except ValidationError as err:
        problems = _problems(err, raw)
        raise ParamsError(path, problems) from None
    problems = _check_priors(params) + _check_scaling(params) + _check_changed(params, raw) + _check_refresh(params)
    if problems:
        raise ParamsError(path, problems)
    return params


def _check_changed(params: Params, raw: dict) -> list[str]:
    """Each model variant, each target after the first and the SBC fit settings, merged into the main sections, is
    a valid case: problems named under its entry (``model_variants.1.model.adstok: ...``)."""
    entries: list[tuple[str, Callable[..., Params], dict, dict]]  # each called with no argument
    entries = [(f"model_variants.{i}", lambda v=v: params.variant(v.name), v.model, v.fit)
               for i, v in enumerate(params.model_variants)]
    entries += [(f"targets.{i}", lambda t=t: params.for_target(t.name), t.model, t.fit)
                for i, t in enumerate(params.targets) if i > 0]
    entries += [("recovery.sbc", params.for_sbc, {}, params.recovery.sbc.fit)] if params.recovery.sbc.fit else []
    problems = []
    for where, merged_case, model, fit in entries:
        try:
            merged = merged_case()
        except ValidationError as err:
            changed = {**raw, "model": _deep_merge(raw.get("model") or {}, model),
                       "fit": _deep_merge(raw.get("fit") or {}, fit)}
            problems += [f"{where}.{p}" for p in _problems(err, changed)]
            continue
        problems += [f"{where}.{p}" for p in _check_priors(merged)]
    return problems


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def quick(params: Params) -> Params:
    """The same case with few draws: for a fast look (``--quick``)."""
    fit = params.fit.model_copy(update={"chains": 2, "tune": min(params.fit.tune, 200), "draws": min(params.fit.draws, 200)})
    return params.model_copy(update={"fit": fit})


def params_hash(path: str | Path) -> str:
    """sha256 of the params file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def json_schema() -> dict:
    """The params files' JSON Schema (``mmm-report schema``): editors with a YAML language server complete and check
    a params file against it as it is typed. The checks that need the data (channels, dates) stay in ``validate``."""
    schema = Params.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mmm-report params"
    return schema
