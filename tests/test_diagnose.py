"""Robust fitting: gradient check before sampling (no sampling), divergences explained on hand-made draws."""

from dataclasses import replace

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from mmmhelpers import transforms
from mmmhelpers.config import ModelSpec
from mmmhelpers.diagnose import GradientCheckError, gradient_check, raise_if_bad
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
