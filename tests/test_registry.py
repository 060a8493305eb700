"""registry: the one list of each name a params file may use; the schema reads it without the compute stack."""

from __future__ import annotations

import subprocess
import sys

from mmmhelpers.priors import MODEL_PRIORS
from mmmhelpers.registry import ADSTOCK_PARAMS, GENERATOR_PANEL_DIMS, MODEL_PRIOR_NAMES, SATURATION_PARAMS
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
