"""Robust fitting: gradient check before sampling (no sampling), divergences explained on hand-made draws.

The pair plot of divergent draws is tested in tests/test_plots_diagnose.py."""

from dataclasses import replace

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from conftest import divergent_idata

from mmmhelpers import transforms
from mmmhelpers.config import ModelSpec
from mmmhelpers.diagnose import GradientCheckError, divergence_report, gradient_check, raise_if_bad, rank_parameters
from mmmhelpers.model import build_model

# ----------------------------------------------------------------------------------- gradient check


def power_hill(x, slope, kappa, beta=1.0):
    """Hill saturation written with a bare ``x**slope``: infinite derivative at x = 0 when slope < 1."""
    xs = pt.power(pt.as_tensor_variable(x), slope)
    return beta * xs / (pt.power(kappa, slope) + xs)


def test_hill_on_zero_spend_names_variable_channel_and_weeks(single_market, monkeypatch):
    """Independent of the real hill_saturation (being fixed elsewhere): a bare power on zero spend."""
    monkeypatch.setitem(transforms.SATURATIONS, "hill", replace(transforms.SATURATIONS["hill"], fn=power_hill))
    data, _ = single_market
    X = data.X.copy()
    X[20:29, 0] = 0.0  # channel x1 (always on) dark for 9 weeks
    spec = ModelSpec.model_validate({"adstock": {"l_max": 4}, "saturation": {"type": "hill", "priors": {
        "slope": {"distribution": "Gamma", "mu": 0.5, "sigma": 0.1, "dims": ["channel"]}}}})
    report = gradient_check(build_model(spec, data.with_X(X)), n_prior_draws=2)
    assert report.points_checked == 3
    named = {(p.variable, p.element): p for p in report.problems}
    problem = named[("adstock_alpha", "x1")]
    first, last = data.dates[20].date(), data.dates[28].date()
    assert f"zero spend in channel x1 for 9 weeks ({first} to {last})" in problem.cause
    assert "hill saturation" in problem.cause
    assert problem.at.startswith("saturation_slope=") and "(x1)" in problem.at
    with pytest.raises(GradientCheckError, match=r"non-finite gradient of adstock_alpha\[x1\]") as err:
        raise_if_bad(report)
    assert "logodds__" not in str(err.value) and "_log__" not in str(err.value)


def test_broken_potential_and_impossible_term_are_named(single_market, truth_model_spec):
    data, _ = single_market
    mmm = build_model(truth_model_spec, data)
    with mmm.model:
        mask = pm.Data("mask", np.array([1.0, 0.0]), dims="channel")
        pm.Potential("broken", pt.sqrt(mmm.model["saturation_lam"] * mask).sum())  # sqrt'(0) * 0 = nan for x2
        pm.Potential("impossible", pt.log(mask[1]))  # logp -inf, gradient fine
    report = gradient_check(mmm, n_prior_draws=2)
    assert [(p.kind, p.variable, p.element) for p in report.problems] == [
        ("logp", "impossible", ""), ("gradient", "saturation_lam", "x2")]
    grad = report.problems[1]
    assert grad.where == ("initial point", "prior draw 1", "prior draw 2")
    assert grad.at.startswith("saturation_lam=") and grad.at.endswith("(x2)")
    assert "undefined derivative" in grad.cause
    text = report.message()
    assert "saturation_lam[x2]" in text and "saturation_lam_log__" not in text
    assert text.count("\n") == 2  # header + two problems


def test_healthy_model_passes(single_market, truth_model_spec):
    data, _ = single_market
    report = gradient_check(build_model(truth_model_spec, data), n_prior_draws=2, seed=4)
    assert report.ok and report.points_checked == 3 and report.problems == ()
    assert report.seconds < 60
    raise_if_bad(report)
    assert "finite at 3 points" in report.message()


# ------------------------------------------------------------------------------ divergences explained


def test_divergences_ranked_at_the_planted_parameter():
    idata = divergent_idata(40)
    report = divergence_report(idata)
    assert report.count == 40 and report.share == pytest.approx(0.04)
    assert [h.parameter for h in report.hotspots] == ["saturation_slope[x2]"]  # the rest is noise
    top = report.hotspots[0]
    assert top.parameter == "saturation_slope[x2]"
    assert top.divergent_mean == pytest.approx(1.0, abs=0.01) and top.other_mean == pytest.approx(0.62, abs=0.01)
    assert "divergences sit at saturation_slope[x2] ≈ 1 (others: 0.62" in top.text()
    assert "tighten the prior of saturation_slope" in report.suggestion
    assert "raise fit.target_accept from 0.9 to 0.95" in report.suggestion
    assert "0.95 to 0.99" in divergence_report(idata, target_accept=0.95).suggestion
    d = report.to_dict()
    assert set(d) == {"divergence_share", "divergence_hotspots", "divergence_suggestion"}
    assert d["divergence_hotspots"][0]["parameter"] == "saturation_slope[x2]"
    assert set(d["divergence_hotspots"][0]) == {"parameter", "divergent_mean", "other_mean", "score"}
    assert "\n" not in report.summary() and "saturation_slope[x2]" in report.summary()
    names = {h.variable for h in rank_parameters(idata)}
    assert "channel_contribution" not in names and "total_media_contribution_original_scale" not in names


def test_divergences_at_a_hierarchical_scale_suggest_non_centring():
    report = divergence_report(divergent_idata(40, hierarchical=True))
    assert report.hotspots[0].parameter == "gamma_fourier_b"
    assert "reparameterize gamma_fourier non-centred" in report.suggestion
    assert "y_sigma" not in report.suggestion
    idata = divergent_idata(40, hierarchical=True)
    idata.posterior["gamma_fourier_offset"] = idata.posterior["gamma_fourier"] / idata.posterior["gamma_fourier_b"]
    assert "tighten the prior of gamma_fourier_b (gamma_fourier is already non-centred)" in divergence_report(idata).suggestion


def test_diffuse_divergences_only_suggest_target_accept():
    idata = divergent_idata(40)
    slope = idata.posterior["saturation_slope"].values
    slope[:] = slope[:, ::-1].copy()  # the planted draws away from the divergent ones
    report = divergence_report(idata, target_accept=0.99)
    assert report.hotspots == () and "not concentrated" in report.summary()
    assert report.suggestion == "fit.target_accept is already 0.99: reparameterize rather than raise it"


@pytest.mark.parametrize("n_div", [0, 3], ids=["none", "below-threshold"])
def test_few_divergences_have_no_hotspots(n_div):
    report = divergence_report(divergent_idata(n_div))
    assert report.count == n_div and report.hotspots == () and report.suggestion == ""
    assert report.to_dict()["divergence_hotspots"] == []
    assert ("no divergences" if n_div == 0 else "below the 0.5% threshold") in report.summary()


def test_divergences_with_object_coords_as_a_sampler_writes_them():
    """nutpie/PyMC traces carry channel names as an object array of str (no ``.item()``)."""
    idata = divergent_idata(40)
    idata.posterior = idata.posterior.assign_coords(channel=np.array(["x1", "x2"], dtype=object))
    assert divergence_report(idata).hotspots[0].parameter == "saturation_slope[x2]"
