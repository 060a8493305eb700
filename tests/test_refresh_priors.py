"""A refresh from the last report's posterior (refresh_priors.py): moment matching, the likelihood over the new
periods only, the carried priors and what a refresh cannot carry."""

from datetime import date

import numpy as np
import pytest
import scipy.stats as st
import xarray as xr

from mmmhelpers.priors import PriorError, moment_matched, parse_prior, scipy_distribution
from mmmhelpers.transforms import NUMPY_MODE, ONE_OFF_MODE

MEAN, SD = np.array([0.3, 0.6]), np.array([0.1, 0.2])


@pytest.mark.parametrize(("given", "carried"), [
    ({"distribution": "Normal", "mu": 0, "sigma": 1}, "Normal"),
    ({"distribution": "ZeroSumNormal", "sigma": 1}, "Normal"),
    ({"distribution": "StudentT", "nu": 3, "mu": 0, "sigma": 1}, "Normal"),
    ({"distribution": "Laplace", "mu": 0, "b": 1}, "Laplace"),
    ({"distribution": "LogNormal", "mean": 1, "std": 0.5}, "LogNormal"),
    ({"special_prior": "LogNormalPrior", "kwargs": {"mean": 1, "std": 0.5}}, "LogNormal"),
    ({"distribution": "Gamma", "mu": 2, "sigma": 1}, "Gamma"),
    ({"distribution": "HalfNormal", "sigma": 1}, "Gamma"),
    ({"distribution": "Exponential", "lam": 1}, "Gamma"),
    ({"distribution": "Beta", "alpha": 2, "beta": 3}, "Beta"),
    ({"distribution": "TruncatedNormal", "mu": 0, "sigma": 1, "lower": 0}, "TruncatedNormal"),
    ({"distribution": "Uniform", "lower": 0.1, "upper": 0.9}, "TruncatedNormal"),
    ({"distribution": "HalfNormal", "sigma": {"distribution": "HalfNormal", "sigma": 1}, "dims": ["geo"]}, "Gamma"),
])
def test_moment_matching_returns_the_stated_mean_and_sd_in_each_family(given, carried):
    """Each family's matched prior has the posterior's mean and sd, cell by cell (scipy's moments of its parameters),
    its bounds kept; PyMC reads the parameters the same way (20,000 draws)."""
    spec = moment_matched(given, MEAN, SD, ("channel",))
    assert spec["distribution"] == carried and spec["dims"] == ["channel"]
    dist = scipy_distribution(spec)
    np.testing.assert_allclose(dist.mean(), MEAN, rtol=1e-6)
    np.testing.assert_allclose(dist.std(), SD, rtol=1e-6)
    if given.get("distribution") == "Uniform":
        assert (spec["lower"], spec["upper"]) == (0.1, 0.9)
    import pymc as pm

    from mmmhelpers.priors import create

    with pm.Model(coords={"channel": ["a", "b"]}):
        draws = pm.draw(create("x", parse_prior(spec), ("channel",)), 20_000, random_seed=1, mode="FAST_COMPILE")
    np.testing.assert_allclose(draws.mean(axis=0), MEAN, rtol=0.02)
    np.testing.assert_allclose(draws.std(axis=0), SD, rtol=0.03)


def test_moment_matching_refuses_what_no_prior_of_the_family_can_be():
    with pytest.raises(PriorError, match="no Beta has mean"):
        moment_matched({"distribution": "Beta", "alpha": 2, "beta": 2}, 0.5, 0.6)
    with pytest.raises(PriorError, match="not positive"):
        moment_matched({"distribution": "Gamma", "mu": 2, "sigma": 1}, -0.1, 0.1)
    with pytest.raises(PriorError, match="a positive sd"):
        moment_matched({"distribution": "Normal", "mu": 0, "sigma": 1}, 0.1, 0.0)
    with pytest.raises(PriorError, match="fixed value"):
        moment_matched(0.5, 0.1, 0.1)
    assert moment_matched({"distribution": "Normal", "mu": 0, "sigma": 1}, 0.1, 0.2) == \
        {"distribution": "Normal", "mu": 0.1, "sigma": 0.2}  # a scalar stays a number


def _tiny(until: date | None = None):
    """The tiny case (its scales from the periods up to ``until``)."""
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params

    params = load_params("tests/params/tiny.yaml")
    if until is not None:
        scaling = params.model.scaling.model_copy(update={"until": until})
        params = params.model_copy(update={"model": params.model.model_copy(update={"scaling": scaling})})
    return params, prepare_data(params)[0]


def test_the_likelihood_from_a_date_takes_the_earlier_periods_out_exactly():
    """With model.likelihood_from the log density is the full model's minus the earlier periods' normal log-likelihood
    (computed by hand from the model's own mean and sigma at that point); in the cross-validation form a fold ending
    before the date has the priors' log density alone."""
    import pytensor

    from mmmhelpers.model import build_model

    params, data = _tiny()
    k = 50
    carried = params.model.model_copy(update={"likelihood_from": data.dates[k].date()})
    full, part = build_model(params.model, data), build_model(carried, data)
    point = full.model.initial_point(random_seed=3)
    m = full.model
    mu = pytensor.function(m.value_vars, m.replace_rvs_by_values([m["mu"]])[0], on_unused_input="ignore",
                           mode=NUMPY_MODE)(
        **{v.name: point[v.name] for v in m.value_vars})
    sigma = float(np.exp(point["y_sigma_log__"]))
    y = data.y / full.target_scale
    earlier = st.norm(mu[:k], sigma).logpdf(y[:k]).sum()
    assert part.model.compile_logp(mode=NUMPY_MODE)(point) == pytest.approx(
        full.model.compile_logp(mode=NUMPY_MODE)(point) - earlier, rel=1e-10)
    cv = build_model(carried, data, observed_weeks=k - 5)  # a fold that ends before the date: the priors only
    priors = cv.model.compile_logp(vars=cv.model.free_RVs, mode=NUMPY_MODE)(point)
    assert cv.model.compile_logp(mode=NUMPY_MODE)(point) == pytest.approx(priors, rel=1e-10)
    assert "likelihood_seen_before" in {p.name for p in part.model.potentials}


def _posterior(params, data, seed: int = 0) -> xr.Dataset:
    """A stand-in last posterior: draws of every parameter of the tiny model around known means."""
    rng = np.random.default_rng(seed)
    ch = {"channel": data.channels}
    return xr.Dataset({
        "adstock_alpha": (("chain", "draw", "channel"), rng.beta(20, 30, (2, 400, 2))),
        "saturation_lam": (("chain", "draw", "channel"), rng.gamma(40, 0.05, (2, 400, 2))),
        "saturation_beta": (("chain", "draw", "channel"), rng.gamma(30, 0.01, (2, 400, 2))),
        "intercept_contribution": (("chain", "draw"), rng.normal(0.4, 0.03, (2, 400))),
        "gamma_fourier": (("chain", "draw", "fourier_mode"), rng.normal(0.05, 0.01, (2, 400, 2))),
        "gamma_control": (("chain", "draw", "control"), rng.normal(-0.1, 0.02, (2, 400, len(data.controls)))),
        "y_sigma": (("chain", "draw"), rng.gamma(50, 0.001, (2, 400))),
    }, coords={**ch, "fourier_mode": ["sin_1", "cos_1"], "control": data.controls})


def test_the_carried_priors_have_the_last_posteriors_moments_and_the_model_uses_them():
    """Every parameter of the tiny model is carried (none left with the params' prior), each with its posterior's
    mean and sd per cell in the params' family (HalfNormal's sigma as a Gamma), and the model built from the applied
    params draws its priors with those moments."""
    import pymc as pm

    from mmmhelpers.calibration import model_for
    from mmmhelpers.refresh_priors import derive, leftover_parameters

    params, data = _tiny(date(2022, 12, 26))
    post = _posterior(params, data)
    carried = derive(params, post, "made 2026-12-01", f"{data.dates[56]:%Y-%m-%d}", 4)
    assert set(carried.priors) == {"adstock.alpha", "saturation.lam", "saturation.beta", "priors.intercept",
                                   "priors.gamma_fourier", "priors.gamma_control", "likelihood.sigma"}
    assert carried.families["likelihood.sigma"] == "HalfNormal -> Gamma" and carried.families["adstock.alpha"] == "Beta"
    applied = carried.apply(params)
    assert applied.model.likelihood_from == data.dates[56].date() and params.model.likelihood_from is None
    mmm = model_for(applied, data)
    assert leftover_parameters(mmm, carried) == []
    prior = pm.sample_prior_predictive(draws=20_000, model=mmm.model, random_seed=2, var_names=list(post),
                                       compile_kwargs={"mode": ONE_OFF_MODE}).prior
    for name in post:
        np.testing.assert_allclose(prior[name].mean(("chain", "draw")), post[name].mean(("chain", "draw")), rtol=0.02)
        np.testing.assert_allclose(prior[name].std(("chain", "draw")), post[name].std(("chain", "draw")), rtol=0.04)
    assert "Priors from the last report's posterior (made 2026-12-01)" in carried.sentence()
    assert "counts the 4 weeks from" in carried.sentence() and "HalfNormal -> Gamma" in carried.sentence()


def test_a_refresh_with_carried_priors_refuses_what_it_cannot_carry(tmp_path):
    """Each refusal names its field: scales that are not the last report's, a trend, variants; folds that reach
    before the new periods."""
    from mmmhelpers.config import ParamsError, load_params
    from mmmhelpers.refresh_priors import fold_problems

    text = open("tests/params/tiny.yaml").read()
    case = tmp_path / "case.yaml"
    case.write_text(text.replace("case: tiny", "case: tiny\nrefresh: {priors: last_report}")
                    .replace("  yearly_seasonality: 1", "  yearly_seasonality: 1\n  trend: true"))
    with pytest.raises(ParamsError) as err:
        load_params(case)
    said = str(err.value)
    assert "model.scaling.until: missing with refresh.priors: last_report" in said
    assert "model.trend: value True is not supported with refresh.priors: last_report" in said
    assert "model_variants:" in said
    params, data = _tiny()
    problems = fold_problems(params, data.n_dates, data.n_dates - 4, "week")  # holdout 6 x 2, 2 refits: 4 new
    assert problems == ["out_of_sample: holdout_weeks 6 x (rolling_origins 1 + 1) = 12 periods held out, more than "
                        "the 4 new ones (the carried priors saw the rest): at most 4 with refresh.priors: last_report"]
    assert "out_of_sample.stability_refits: value 2" in fold_problems(params, 60, 59, "week")[1]


@pytest.mark.slow
def test_a_refresh_from_the_last_posterior_lands_near_a_full_refit():
    """The tiny case fitted on all but its last eight weeks; its posterior carried as priors into a fit that counts
    the eight new weeks only; a full refit on every week. The carried fit's means lie within half a posterior sd of
    the full refit's for every scalar parameter (the correlations the moment matching drops cost a little), and it
    is more certain than the priors it started from."""
    from mmmhelpers.calibration import model_for
    from mmmhelpers.fit import sample
    from mmmhelpers.refresh_priors import derive

    params, data = _tiny(date(2022, 12, 26))
    params = params.model_copy(update={"fit": params.fit.model_copy(update={"draws": 2000, "tune": 300})})
    n = data.n_dates - 8
    last, _ = sample(model_for(params, data.slice(0, n)), params.fit, seed=1, progress=False)
    carried = derive(params, last.posterior, "the first", f"{data.dates[n]:%Y-%m-%d}", 8)
    refresh, _ = sample(model_for(carried.apply(params), data), params.fit, seed=2, progress=False)
    full, _ = sample(model_for(params, data), params.fit, seed=3, progress=False)
    for name in ("adstock_alpha", "saturation_lam", "saturation_beta", "intercept_contribution", "y_sigma"):
        a, b = refresh.posterior[name], full.posterior[name]
        gap = np.abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw"))) / b.std(("chain", "draw"))
        assert (gap < 0.5).all(), (name, gap.values)
        assert (a.std(("chain", "draw")) <= last.posterior[name].std(("chain", "draw")) * 1.05).all(), name


def test_verify_checks_the_carried_priors_it_reruns_with(tmp_path):
    """The carried priors are an input a report keeps (the last posterior is not kept): verify finds them unchanged,
    changed or missing against the hash the manifest recorded for the fit."""
    from mmmhelpers.artifacts import Manifest
    from mmmhelpers.refresh_priors import RefreshPriors
    from mmmhelpers.verify import _carried_priors

    (tmp_path / "artifacts").mkdir()
    carried = RefreshPriors(last_report="made 2026-12-01", likelihood_from="2024-01-01", new_periods=4,
                            priors={"priors.intercept": {"distribution": "Normal", "mu": 0.4, "sigma": 0.03}})
    carried.save(tmp_path)
    manifest = Manifest(case="c", title="T", params_file="p.yaml", params_sha256="x", seed=1, quick=False, client=False,
                        stages_run=[], renderer="none", git_commit="x", created="now", timings_seconds={},
                        total_seconds=1.0, versions={}, stage_inputs={"02_fit": {"file refresh_priors": carried.digest()}})
    assert [r["status"] for r in _carried_priors(tmp_path, manifest)] == ["ok"]
    carried.model_copy(update={"new_periods": 5}).save(tmp_path)
    assert [r["status"] for r in _carried_priors(tmp_path, manifest)] == ["changed"]
    RefreshPriors.path(tmp_path).unlink()
    assert [r["status"] for r in _carried_priors(tmp_path, manifest)] == ["missing"]
    assert _carried_priors(tmp_path, manifest.model_copy(update={"stage_inputs": {}})) == []  # not a carried refresh


def _copula_posterior(data, r: np.ndarray, seed: int = 0) -> xr.Dataset:
    """Stand-in posterior draws with known correlations: normal scores with correlation ``r`` through the marginals
    Beta(20, 30) x 2 (adstock_alpha), Gamma(40, 1/0.05) x 2 (saturation_lam) and Normal(0.4, 0.03) (the intercept)."""
    z = np.random.default_rng(seed).multivariate_normal(np.zeros(len(r)), r, size=(2, 1000))
    u = st.norm.cdf(z)
    return xr.Dataset({
        "adstock_alpha": (("chain", "draw", "channel"), st.beta(20, 30).ppf(u[..., :2])),
        "saturation_lam": (("chain", "draw", "channel"), st.gamma(40, scale=0.05).ppf(u[..., 2:4])),
        "intercept_contribution": (("chain", "draw"), st.norm(0.4, 0.03).ppf(u[..., 4])),
    }, coords={"channel": data.channels})


R = np.array([[1.0, 0.1, -0.7, 0.0, 0.2], [0.1, 1.0, 0.0, -0.6, 0.0], [-0.7, 0.0, 1.0, 0.1, -0.3],
              [0.0, -0.6, 0.1, 1.0, 0.0], [0.2, 0.0, -0.3, 0.0, 1.0]])


def test_the_carried_priors_keep_the_posteriors_correlations():
    """Draws whose normal scores have correlation R: the record's matrix is R (shrunk 5% toward none) within Monte
    Carlo error, over the variables in the model's order of their elements."""
    from mmmhelpers.refresh_priors import SHRINK, derive

    params, data = _tiny(date(2022, 12, 26))
    carried = derive(params, _copula_posterior(data, R), "made 2026-12-01", "2023-01-30", 4)
    corr = carried.correlation
    assert corr.variables == ["adstock_alpha", "saturation_lam", "intercept_contribution"]
    np.testing.assert_allclose(corr.matrix, (1 - SHRINK) * R + SHRINK * np.eye(5), atol=0.05)
    assert "kept by a Gaussian copula" in carried.sentence() and "the strongest 0.6" in carried.sentence()


def test_next_months_refresh_loads_this_months_compiled_model():
    """A refresh carries other numbers each month (the priors' moments, their correlations, the date the likelihood
    counts from): they are data, so next month's model has this month's structure key and compiles nothing."""
    from mmmhelpers import compile as mc
    from mmmhelpers.calibration import model_for
    from mmmhelpers.refresh_priors import derive

    params, data = _tiny(date(2022, 12, 26))
    keys = []
    for seed, start in ((0, "2023-01-30"), (1, "2023-02-13")):
        carried = derive(params, _copula_posterior(data, R * (1 - 0.2 * seed) + 0.2 * seed * np.eye(5), seed), "last",
                         start, 4)
        model = model_for(carried.apply(params), data).model
        keys.append(mc.key_of(model))
    assert keys[0] == keys[1] != mc.key_of(model_for(params, data).model)


@pytest.mark.slow
def test_a_model_with_carried_correlations_samples_the_copula_it_was_given():
    """The tiny model with the carried priors and no period in its likelihood (all before likelihood_from), sampled
    by nutpie: its draws have the carried marginals (mean and sd of each value) and their normal scores the carried
    correlations (within 0.08): the copula's potential is the prior it says, compiled to numba (betainc, gammainc,
    erfinv)."""
    from mmmhelpers.calibration import model_for
    from mmmhelpers.fit import sample
    from mmmhelpers.refresh_priors import derive

    params, data = _tiny(date(2022, 12, 26))
    post = _copula_posterior(data, R)
    carried = derive(params, post, "made 2026-12-01", "2030-01-07", 0)  # after every period: the priors alone
    fit = params.fit.model_copy(update={"draws": 4000, "tune": 500, "chains": 2})
    idata, _ = sample(model_for(carried.apply(params), data), fit, seed=4, progress=False)
    scores = []
    for name in ("adstock_alpha", "saturation_lam", "intercept_contribution"):
        a, b = idata.posterior[name], post[name]
        np.testing.assert_allclose(a.mean(("chain", "draw")), b.mean(("chain", "draw")), rtol=0.03)
        np.testing.assert_allclose(a.std(("chain", "draw")), b.std(("chain", "draw")), rtol=0.12)
        place = next(p for p, v in carried.variables.items() if v == name)
        draws = a.stack(sample=("chain", "draw")).transpose("sample", ...).values
        scores.append(st.norm.ppf(scipy_distribution(carried.priors[place]).cdf(draws)).reshape(len(draws), -1))
    np.testing.assert_allclose(np.corrcoef(np.concatenate(scores, axis=1), rowvar=False),
                               np.asarray(carried.correlation.matrix), atol=0.08)
