"""registry: the one list of each name a params file may use; the schema reads it without the compute stack."""

from __future__ import annotations

import subprocess
import sys

from mmmhelpers.priors import MODEL_PRIORS
from mmmhelpers.registry import (
    ADSTOCK_PARAMS,
    GENERATOR_PANEL_DIMS,
    MODEL_PRIOR_NAMES,
    SATURATION_PARAMS,
    joined_over_kinds,
)
from mmmhelpers.simulate import GENERATORS
from mmmhelpers.transforms import ADSTOCKS, SATURATIONS


def test_the_implementations_are_keyed_by_the_registry():
    assert {k: c.params for k, c in ADSTOCKS.items()} == ADSTOCK_PARAMS
    assert {k: c.params for k, c in SATURATIONS.items()} == SATURATION_PARAMS
    assert {k: g.panel_dims for k, g in GENERATORS.items()} == GENERATOR_PANEL_DIMS
    assert tuple(MODEL_PRIORS) == MODEL_PRIOR_NAMES


def test_importing_the_schema_loads_no_pymc():
    code = ("import sys, mmmhelpers.config\n"
            "print(sorted(m for m in ('pymc', 'pytensor', 'pymc_extras', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_joined_over_kinds_names_the_media_parameters_sampled_in_parts():
    """A posterior of a geometric + delayed adstock and Hill + logistic saturation: ``adstock_alpha`` is in both
    types' parts, ``adstock_theta`` in the delayed one, ``saturation_beta`` in both; a one-type name is not joined."""
    names = ["adstock_alpha_geometric", "adstock_alpha_delayed", "adstock_theta_delayed", "adstock_alpha",
             "adstock_theta", "saturation_beta_hill", "saturation_beta_logistic", "saturation_lam_logistic",
             "saturation_slope_hill", "saturation_kappa_hill", "y_sigma", "saturation_lam"]
    assert joined_over_kinds(names) == {"adstock_alpha", "adstock_theta", "saturation_beta", "saturation_lam",
                                        "saturation_slope", "saturation_kappa"}
    assert joined_over_kinds(["adstock_alpha", "saturation_lam", "saturation_beta"]) == set()
