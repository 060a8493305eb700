"""Runs that stop early: health gates (``fit.fail_on``)."""

import pytest

from mmmhelpers.artifacts import Diagnostics
from mmmhelpers.config import FitSpec
from mmmhelpers.pipeline import gate_failures

DIAG = {"sampler": "nutpie", "chains": 2, "draws": 100, "tune": 150, "compile_seconds": 20.0,
        "sampling_seconds": 5.0, "divergences": 3, "rhat_max": 1.0312, "ess_bulk_min": 212.4, "ess_tail_min": 150.0,
        "bfmi_min": 0.25, "ess_bulk_min_variable": "saturation_lam[x1]", "rhat_max_variable": "y_sigma",
        "ess_bulk_per_second": 8.5, "health": "red"}


def test_gates_name_each_failure_and_its_value():
    diag = Diagnostics.model_validate(DIAG)
    gates = FitSpec.FailOn(divergences=0, rhat=1.01, ess_bulk=400, bfmi=0.3)
    assert gate_failures(diag, gates) == [
        "3 divergences > 0", "max R-hat 1.031 > 1.01 (y_sigma)", "min bulk ESS 212 < 400 (saturation_lam[x1])",
        "min E-BFMI 0.25 < 0.3"]
    assert gate_failures(diag, FitSpec.FailOn(divergences=3, rhat=1.05, ess_bulk=200, bfmi=0.2)) == []
    assert gate_failures(diag, None) == []
    assert gate_failures(diag, FitSpec.FailOn(ess_bulk=1e6)) == ["min bulk ESS 212 < 1,000,000 (saturation_lam[x1])"]
    one_chain = Diagnostics.model_validate({**DIAG, "rhat_max": float("nan")})
    assert gate_failures(one_chain, FitSpec.FailOn(rhat=1.01)) == ["max R-hat could not be computed (gate 1.01)"]


def test_gates_are_optional_and_checked():
    assert FitSpec().fail_on is None
    assert FitSpec.model_validate({"fail_on": {"rhat": 1.01}}).fail_on.divergences is None
    with pytest.raises(ValueError, match="ess_bulkk"):
        FitSpec.model_validate({"fail_on": {"ess_bulkk": 400}})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        FitSpec.model_validate({"fail_on": {"rhat": 0.99}})
