"""Params-file priors -> pymc-extras Prior (and the two extra hierarchical shapes)."""

import re

import numpy as np
import pymc as pm
import pytest
from pymc_extras.prior import Prior
from scipy import stats

from mmmhelpers.priors import LaplaceMixture, LogNormalMeanStd, PriorError, describe_prior, parse_prior, widened
from mmmhelpers.transforms import NUMPY_MODE, ONE_OFF_MODE

ONE_OFF = {"mode": ONE_OFF_MODE}  # draws computed by numpy: no C compiled for a reference


def test_dict_form_becomes_prior():
    p = parse_prior({"distribution": "Gamma", "mu": 0.5, "sigma": 0.25, "dims": ["channel"]})
    assert isinstance(p, Prior)
    assert p.distribution == "Gamma" and p.dims == ("channel",)
    assert p.parameters == {"mu": 0.5, "sigma": 0.25}


def test_to_dict_shape_round_trips():
    original = Prior("Normal", mu=Prior("Normal"), sigma=Prior("HalfNormal"), dims="channel", centered=False)
    p = parse_prior(original.to_dict())
    assert p.to_dict() == original.to_dict()


def test_nested_priors_are_hierarchical():
    p = parse_prior({"distribution": "Normal", "mu": {"distribution": "Normal", "sigma": 2},
                     "sigma": {"distribution": "HalfNormal"}, "dims": ["geo", "channel"], "centered": False})
    assert isinstance(p.parameters["mu"], Prior) and p.centered is False


def test_special_prior_shapes():
    ln = parse_prior({"special_prior": "LogNormalPrior", "kwargs": {"mean": 1.0, "std": 0.5}, "dims": ["geo"]})
    assert isinstance(ln, LogNormalMeanStd) and ln.dims == ("geo",) and ln.centered is False
    lp = parse_prior({"special_prior": "LaplacePrior", "kwargs": {"mu": 0, "b": {"distribution": "HalfNormal",
                                                                                 "sigma": 0.2}}})
    assert isinstance(lp, LaplaceMixture) and isinstance(lp.b, Prior)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"distribution": "Gama", "mu": 1}, "unknown distribution 'Gama'"),
        ({"distribution": "Gamma", "mu": 1, "sd": 1}, "unknown parameters ['sd']"),
        ({"distribution": "Gamma", "mu": 1, "sigma": 1, "centered": False}, "centered"),
        ({"mu": 1}, "needs 'distribution'"),
        ({"dist": "Normal", "kwargs": {}, "shape": 3}, "unknown keys ['shape']"),
    ],
    ids=["typo-in-distribution", "unknown-parameter", "non-centred-gamma", "no-distribution", "unknown-key"],
)
def test_bad_priors_are_clear_errors(spec, message):
    with pytest.raises(PriorError, match=re.escape(message)) as err:
        parse_prior(spec, "model.priors.x")
    assert err.value.where.startswith("model.priors.x")


def test_lognormal_mean_std_has_that_mean_and_std():
    prior = LogNormalMeanStd(2.0, 0.5, dims=("i",))
    with pm.Model(coords={"i": range(20000)}):
        prior.create_variable("b")
        draws = pm.sample_prior_predictive(draws=1, random_seed=1, compile_kwargs=ONE_OFF).prior["b"].values.ravel()
    assert draws.mean() == pytest.approx(2.0, rel=0.02)
    assert draws.std() == pytest.approx(0.5, rel=0.03)


def test_laplace_mixture_has_laplace_marginal():
    b = 0.3
    with pm.Model():  # one element per prior draw: the marginal is Laplace(0, b)
        LaplaceMixture(0.0, b).create_variable("g")
        draws = pm.sample_prior_predictive(draws=20000, random_seed=2, compile_kwargs=ONE_OFF).prior["g"].values.ravel()
    assert draws.var() == pytest.approx(2 * b**2, rel=0.05)
    assert np.median(np.abs(draws)) == pytest.approx(b * np.log(2), rel=0.05)  # Laplace median |x| = b ln 2


def test_laplace_mixture_shares_the_variance_of_a_scalar_b():
    with pm.Model(coords={"i": range(3)}) as m:
        LaplaceMixture(0.0, parse_prior({"distribution": "HalfNormal"}),
                       dims=("i",), offsets=True).create_variable("g")
    assert m["g_sigma"].ndim == 0 and m["g_offset"].ndim == 1


def _mixture_draws(offsets: bool, seed: int) -> np.ndarray:
    with pm.Model(coords={"i": range(3)}) as m:
        LaplaceMixture(0.0, parse_prior({"distribution": "HalfNormal", "sigma": 0.2}), dims=("i",),
                       offsets=offsets).create_variable("g")
    assert ("g_offset" in m.named_vars) == offsets and m["g"] in (m.deterministics if offsets else m.free_RVs)
    with m:
        return pm.sample_prior_predictive(draws=20000, random_seed=seed, compile_kwargs=ONE_OFF).prior["g"].values.reshape(-1, 3)


def test_centred_laplace_mixture_keeps_pymc_marketings_prior():
    """Sampled centred (the default) or through offsets, the joint prior is the same: same spread, same
    Laplace-like tails, and the same dependence between elements that share the mixing variance."""
    from scipy import stats

    centred, offsets = _mixture_draws(False, 3), _mixture_draws(True, 4)
    assert stats.ks_2samp(centred.ravel(), offsets.ravel()).pvalue > 0.01
    for q in (0.5, 0.9, 0.99):
        a, b = np.quantile(np.abs(centred), q), np.quantile(np.abs(offsets), q)
        assert a == pytest.approx(b, rel=0.06), q
    dep = [stats.spearmanr(np.abs(d[:, 0]), np.abs(d[:, 1])).statistic for d in (centred, offsets)]
    assert dep[0] == pytest.approx(dep[1], abs=0.03) and dep[0] > 0.2  # the shared variance ties them
    assert parse_prior({"distribution": "Laplace", "b": 0.2, "centered": False, "offsets": True}).offsets


def test_describe_prior_reads_like_the_yaml():
    assert describe_prior(parse_prior({"distribution": "Beta", "alpha": 2, "beta": 5})) == "Beta(alpha=2, beta=5)"


def test_a_censored_likelihood_parses_in_both_shapes_and_counts_zeros_as_at_or_below():
    from pymc_extras.prior import Censored
    from scipy import stats

    spec = {"distribution": "Censored", "dist": {"distribution": "Normal", "sigma": 1.0}, "lower": 0}
    lik = parse_prior(spec, "model.likelihood")
    exported = Censored(Prior("Normal", sigma=1.0), lower=0).to_dict()
    assert isinstance(lik, Censored) and lik.lower == 0 and isinstance(parse_prior(exported), Censored)
    assert describe_prior(lik) == "Censored(Normal(sigma=1), lower=0, upper=inf)"
    with pm.Model(coords={"date": range(3)}) as model:
        lik.dims = ("date",)
        lik.create_likelihood_variable("y", mu=-0.5, observed=np.array([0.0, 1.0, 2.0]))
    hand = stats.norm.logcdf(0.5) + stats.norm.logpdf([1.0, 2.0], loc=-0.5).sum()  # P(y <= 0), then densities
    assert float(model.compile_logp(mode=NUMPY_MODE)({})) == pytest.approx(hand, rel=1e-8)
    with pytest.raises(PriorError, match="Censored takes dist"):
        parse_prior({"distribution": "Censored", "lower": 0}, "model.likelihood")


@pytest.mark.parametrize("spec, frozen", [
    ({"distribution": "Beta", "alpha": 20, "beta": 30}, lambda p: stats.beta(p["alpha"], p["beta"])),
    ({"distribution": "Gamma", "alpha": 4, "beta": 2}, lambda p: stats.gamma(p["alpha"], scale=1 / p["beta"])),
    ({"distribution": "Normal", "mu": 1.0, "sigma": 0.3}, lambda p: stats.norm(p["mu"], p["sigma"])),
    ({"distribution": "Uniform", "lower": 0.2, "upper": 0.6}, lambda p: stats.uniform(p["lower"],
                                                                                       p["upper"] - p["lower"])),
], ids=["Beta", "Gamma", "Normal", "Uniform"])
def test_a_widened_prior_keeps_its_mean_and_doubles_its_sd(spec, frozen):
    before, after = frozen(spec), frozen(widened(spec, 2.0))
    assert after.mean() == pytest.approx(before.mean(), rel=1e-12)
    assert after.std() == pytest.approx(2 * before.std(), rel=1e-12)


def test_widening_reaches_hyperpriors_and_stops_where_a_family_must():
    hier = {"distribution": "LogNormal", "mean": {"distribution": "Gamma", "mu": 0.25, "sigma": 0.1},
            "std": {"distribution": "Exponential", "scale": 0.1}, "dims": ["geo", "channel"], "centered": False}
    assert widened(hier, 2.0) == {"distribution": "LogNormal", "mean": {"distribution": "Gamma", "mu": 0.25, "sigma": 0.2},
                                  "std": {"distribution": "Exponential", "scale": 0.2}, "dims": ["geo", "channel"],
                                  "centered": False}
    assert widened({"distribution": "Beta", "alpha": 1, "beta": 3}, 2.0) == {"distribution": "Beta", "alpha": 1,
                                                                             "beta": 3}  # flattest unimodal already
    wide = widened({"distribution": "Beta", "alpha": 2, "beta": 3}, 2.0)  # as far as flat-or-unimodal allows
    assert (wide["alpha"], wide["beta"]) == pytest.approx((1.0, 1.5))
    assert widened(0.5, 2.0) == 0.5 and widened({"distribution": "Gamma", "mu": 1, "sigma": 1}, 1.0) == {
        "distribution": "Gamma", "mu": 1, "sigma": 1}
    with pytest.raises(PriorError, match=r"saturation.lam: cannot widen a Wald prior"):
        widened({"distribution": "Wald", "mu": 1, "lam": 2}, 2.0, "saturation.lam")


def test_a_prior_numbers_check_refuses_only_what_pymc_refuses():
    """PyMC's parameter checks of a prior's numbers: refused numbers are named (sigma > 0), valid ones pass, and a
    refusal that may come from a nested prior's stand-in value (1) is no verdict (the sampler keeps its checks)."""
    from mmmhelpers.priors import number_problem

    assert number_problem(parse_prior({"distribution": "Gamma", "mu": 2, "sigma": -1})) == "alpha > 0, beta > 0"
    assert number_problem(parse_prior({"distribution": "Beta", "alpha": [2, 3], "beta": 3, "dims": ["channel"]})) is None
    assert number_problem(parse_prior({"distribution": "LogNormal", "mean": 1, "std": 0, "centered": False})) == "std > 0"
    nested = {"distribution": "Uniform", "lower": {"distribution": "Normal", "mu": 0, "sigma": 1}, "upper": 0.5}
    assert number_problem(parse_prior(nested)) is None  # lower's stand-in 1 > 0.5: not the number's fault
    nested["lower"]["sigma"] = -2
    assert number_problem(parse_prior(nested)) == "sigma > 0"
