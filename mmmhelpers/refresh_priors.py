"""A refresh from the last report's posterior (``refresh.priors: last_report``): each parameter's posterior,
moment-matched to the family of the params' prior for it, becomes its prior, and the likelihood counts only the
periods added since (``model.likelihood_from``), as the earlier ones are in those priors already.

The pipeline derives the priors from the report a refresh replaces, before any stage runs, and keeps them in
``artifacts/refresh_priors.json``: an input of the run like the data (``verify`` re-runs with them). Every stage's
notebook reads them through ``report.setup``, so the fit, the holdout folds, the stability refits and the plan all
use one model. The posterior's correlations are kept by a Gaussian copula over the priors (``model.prior_correlation``);
what is lost is said on the fit page: its curved ridges and its hyperpriors (a hierarchical prior is carried per
cell). Holdout folds and stability refits must end inside the new periods: a fold that ended earlier would test
periods the priors have seen.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from pydantic import Field

from mmmhelpers.artifacts import Record
from mmmhelpers.config import PriorCorrelation
from mmmhelpers.model import COPULA_CLIP
from mmmhelpers.priors import MODEL_PRIORS, family, moment_matched, scipy_distribution
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS

__all__ = ["RefreshPriors", "prior_locations", "derive", "leftover_parameters", "fold_problems",
           "with_refresh_priors", "carried_priors", "carried_sentence"]

SHRINK = 0.05  # the carried correlation matrix, shrunk this much toward the identity
# a params prior's place -> the variable the model names after it (model.py)
_VARIABLE = {"intercept": "intercept_contribution"}


class RefreshPriors(Record):
    """``artifacts/refresh_priors.json``: the priors a refresh carries from the last report's posterior."""

    FILE: ClassVar[str] = "refresh_priors.json"
    INPUT: ClassVar[str] = "file refresh_priors"  # its digest's name among the stage inputs (manifest.json)
    last_report: str  # the report whose posterior they come from: "made 2026-12-05 10:31 (104 weeks to 2025-01-20)"
    likelihood_from: str  # the first new period (YYYY-MM-DD): the likelihood counts it and the periods after
    new_periods: int
    priors: dict[str, dict[str, Any]] = Field(default_factory=dict)  # place (adstock.alpha) -> params prior
    variables: dict[str, str] = Field(default_factory=dict)  # place -> the posterior variable it was matched to
    families: dict[str, str] = Field(default_factory=dict)  # place -> "HalfNormal -> Gamma" (the params' -> carried)
    correlation: PriorCorrelation | None = None  # the posterior's correlations, kept by a Gaussian copula

    def digest(self) -> str:
        """A short hash of the record: the fit's input (the manifest keeps it; ``verify`` checks it)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def sentence(self, period: str = "week") -> str:
        """What the fit's priors are, in words (the fit page, the run's output)."""
        changed = sorted({f for f in self.families.values() if "->" in f})
        families = f"; a family without a second parameter carried as {', '.join(changed)}" if changed else ""
        return (f"Priors from the last report's posterior ({self.last_report}): each of its {len(self.priors)} "
                f"parameters' posterior mean and sd, matched in the family of the params' prior{families}. The "
                f"likelihood counts the {self.new_periods} {period}{'s' if self.new_periods != 1 else ''} from "
                f"{self.likelihood_from} on only: the earlier ones are in these priors. {self._correlation_words()}")

    def _correlation_words(self) -> str:
        if self.correlation is None:
            return "The priors are independent (the posterior's correlations are not carried)."
        r = np.asarray(self.correlation.matrix)
        strongest = float(np.abs(r - np.eye(len(r))).max())
        return (f"The posterior's correlations between its {len(r)} parameter values (the strongest {strongest:.2f}) "
                "are kept by a Gaussian copula over the priors, but not its curved ridges nor a hierarchical prior's "
                "pooling: an update, not a refit. Quantities that combine parameters (a channel's contribution "
                "or ROAS) come out with wider intervals than a full refit's where the data identify the parameters "
                "only together (about twice as wide for the weakest channel in our tests); refresh.priors: params "
                "refits. The prior predictive check draws the priors without their correlations.")

    def apply(self, params):
        """``params`` with these priors in the model section and the likelihood from the first new period."""
        m = params.model
        sections: dict[str, dict] = {"adstock": dict(m.adstock.priors), "saturation": dict(m.saturation.priors),
                                     "priors": dict(m.priors), "likelihood": dict(m.likelihood)}
        for place, prior in self.priors.items():
            section, name = place.split(".", 1)
            sections[section][name] = prior
        model = m.model_copy(update={
            "adstock": m.adstock.model_copy(update={"priors": sections["adstock"]}),
            "saturation": m.saturation.model_copy(update={"priors": sections["saturation"]}),
            "priors": sections["priors"], "likelihood": sections["likelihood"],
            "likelihood_from": date.fromisoformat(self.likelihood_from), "prior_correlation": self.correlation})
        return params.model_copy(update={"model": model})


def prior_locations(spec) -> dict[str, tuple[str, Any]]:
    """Every params prior of a model (``ModelSpec``; one adstock and one saturation type): its place (``adstock.alpha``,
    ``priors.intercept``, ``likelihood.sigma``) -> (the model's variable, the prior: the params' or the default)."""
    out: dict[str, tuple[str, Any]] = {}
    for prefix, component, registry in (("adstock", spec.adstock, ADSTOCKS), ("saturation", spec.saturation,
                                                                               SATURATIONS)):
        comp = registry[component.type]
        for name in comp.params:
            out[f"{prefix}.{name}"] = (f"{prefix}_{name}", component.priors.get(name, comp.defaults[name]))
    for key, default in MODEL_PRIORS.items():
        out[f"priors.{key}"] = (_VARIABLE.get(key, key), spec.priors.get(key, default))
    _, likelihood = family(spec.likelihood, "model.likelihood")
    for name, value in likelihood.items():
        if isinstance(value, dict):
            out[f"likelihood.{name}"] = (f"y_{name}", value)
    return out


def derive(params, posterior: xr.Dataset, last_report: str, likelihood_from: str,
           new_periods: int) -> RefreshPriors:
    """The priors of a refresh: every params prior whose variable the last posterior holds, moment-matched (mean and
    sd over its draws, cell by cell) in that prior's family. A variable of the model the posterior lacks keeps the
    params' prior; :func:`leftover_parameters` names them (the pipeline refuses such a refresh)."""
    priors, variables, families = {}, {}, {}
    for place, (variable, spec) in prior_locations(params.model).items():
        if variable not in posterior or isinstance(spec, int | float):  # a fixed value has no variable
            continue
        draws = posterior[variable]
        dims = tuple(str(d) for d in draws.dims if d not in ("chain", "draw"))
        mean, sd = draws.mean(("chain", "draw")).values, draws.std(("chain", "draw")).values
        priors[place] = moment_matched(spec, mean, sd, dims, f"model.{place}")
        variables[place] = variable
        given = family(spec, f"model.{place}")[0]
        carried = priors[place]["distribution"]
        families[place] = given if given == carried else f"{given} -> {carried}"
    return RefreshPriors(last_report=last_report, likelihood_from=likelihood_from, new_periods=new_periods,
                         priors=priors, variables=variables, families=families,
                         correlation=_correlation(posterior, priors, variables))


def _correlation(posterior: xr.Dataset, priors: dict[str, dict], variables: dict[str, str]) -> PriorCorrelation | None:
    """The correlations of the carried values' normal scores over the posterior's draws (each value's draws through
    its carried prior's CDF, then the standard normal's inverse), shrunk 5% toward none so the matrix stays well
    conditioned; None with fewer than two values."""
    from scipy.stats import norm

    scores = []
    for place, name in variables.items():
        draws = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        u = scipy_distribution(priors[place]).cdf(draws)
        scores.append(norm.ppf(np.clip(u, COPULA_CLIP, 1 - COPULA_CLIP)).reshape(len(draws), -1))
    z = np.concatenate(scores, axis=1) if scores else np.zeros((0, 0))
    if z.shape[1] < 2:
        return None
    r = (1 - SHRINK) * np.corrcoef(z, rowvar=False) + SHRINK * np.eye(z.shape[1])
    return PriorCorrelation(variables=list(variables.values()), matrix=r.tolist())


def leftover_parameters(mmm, carried: RefreshPriors) -> list[str]:
    """The model's free parameters that carry no prior from the last posterior (they would forget what it learned)."""
    kept = set(carried.variables.values())
    return sorted(rv.name for rv in mmm.model.free_RVs if rv.name not in kept)


def fold_problems(params, n_dates: int, first_new: int, period: str) -> list[str]:
    """Holdout folds and stability refits that would end before the first new period (index ``first_new``): they
    would test periods the carried priors have seen. Each names its field and the most it may be."""
    from mmmhelpers.stability import refit_step

    oos, new = params.out_of_sample, n_dates - first_new
    problems = []
    held = (oos.rolling_origins + 1) * oos.holdout_weeks
    if held > new:
        problems.append(f"out_of_sample: holdout_weeks {oos.holdout_weeks} x (rolling_origins {oos.rolling_origins} "
                        f"+ 1) = {held} periods held out, more than the {new} new ones (the carried priors saw the "
                        f"rest): at most {new} with refresh.priors: last_report")
    step = refit_step(period)[0]
    if oos.stability_refits * step > new:
        problems.append(f"out_of_sample.stability_refits: value {oos.stability_refits} drops more periods than the "
                        f"{new} new ones (the carried priors saw the rest): at most {new // step} with "
                        "refresh.priors: last_report")
    return problems


def carried_sentence(run_dir: str | Path, period: str = "week") -> str:
    """Where the fit's priors come from when the run carries the last report's posterior (the fit page); else ""."""
    carried = RefreshPriors.load_or_none(run_dir)
    return "" if carried is None else carried.sentence(period)


def with_refresh_priors(params, run_dir: str | Path | None):
    """``params`` with the refresh priors of the run at ``run_dir`` applied (unchanged without any): what every
    stage's notebook fits with (``report.setup``)."""
    if run_dir is None or params.refresh.priors != "last_report":
        return params
    carried = RefreshPriors.load_or_none(run_dir)
    return params if carried is None else carried.apply(params)


def carried_priors(out: Path, params, data, diff, given: RefreshPriors | None = None,
                   say=print) -> RefreshPriors | None:
    """The priors a run of ``params`` carries (None: the params' own): ``given`` (``verify`` re-runs a report with
    its own), else derived from the report at ``out`` that this run refreshes (``diff``: its data against this run's),
    else the last report's when the data add nothing (the run re-renders it). Raises ValueError naming the field
    when a refresh cannot carry them: data with no new period, folds that end before it, a parameter left out."""
    from mmmhelpers.artifacts import Manifest, load_idata
    from mmmhelpers.calibration import model_for

    if params.refresh.priors != "last_report":
        return None
    if given is not None:
        return given
    where = f"{params.source}: refresh.priors: last_report"
    if diff is None:
        say(f"mmm-report: {where}: no report in {out} yet: this first one fits with the params' priors")
        return None
    if not diff.added:
        kept = RefreshPriors.load_or_none(out)
        if kept is None:
            raise ValueError(f"{where}: the data add no period to the last report's ({diff.previous}): the likelihood "
                             "would have nothing its priors have not seen; use refresh.priors: params to refit")
        return kept
    if diff.removed or diff.added[0] <= diff.previous_last:
        raise ValueError(f"{where}: the data add periods inside the last report's span ({diff.changes()}), not only "
                         "after it; use refresh.priors: params to refit on every period")
    first = int(data.dates.get_loc(diff.added[0]))
    problems = fold_problems(params, data.n_dates, first, data.period)
    last = Manifest.load_or_none(out)
    label = f"made {last.created[:10]}, {diff.previous}" if last else diff.previous
    carried = derive(params, load_idata(out)["posterior"], label, diff.added[0], len(diff.added))
    leftover = leftover_parameters(model_for(carried.apply(params), data), carried)
    if leftover:
        problems.append(f"the last report's posterior has no draws of {', '.join(leftover)} (or they have no params "
                        "prior to carry them in: organic media, hyperpriors); use refresh.priors: params")
    if problems:
        raise ValueError(f"{where}:\n" + "\n".join(f"  - {p}" for p in problems))
    if diff.n_revised:
        say(f"warning: {where}: the {diff.n_revised} revised historical value(s) lie in periods the carried priors "
            "come from: this fit does not see the revision (refresh.priors: params refits on them)")
    return carried
