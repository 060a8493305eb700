"""summary: the index page's banner says what the health rests on, and a quick run is never green."""

from __future__ import annotations

from test_artifacts import DIAG, OOS

from mmmhelpers.artifacts import Diagnostics, OutOfSample
from mmmhelpers.config import Params
from mmmhelpers.summary import executive_summary

PARAMS = Params(case="c", title="T", seed=1, simulate={"generator": "single_market"})


def test_green_says_what_was_checked_and_what_was_not(tmp_path):
    Diagnostics.model_validate(DIAG).save(tmp_path)
    s = executive_summary(tmp_path, PARAMS)
    assert s.health == "green"
    assert "sampler converged" in s.banner and "can be quoted" not in s.banner
    assert "Not checked: a holdout forecast; recovery of known parameters" in s.banner
    OutOfSample.model_validate(OOS).save(tmp_path)
    s = executive_summary(tmp_path, PARAMS)
    assert "holdout forecast (scored, 100% of held-out periods in the 94% band)" in s.banner
    assert "a holdout forecast" not in s.banner


def test_a_quick_run_is_never_green(tmp_path):
    Diagnostics.model_validate(DIAG).save(tmp_path)
    s = executive_summary(tmp_path, PARAMS, quick=True)
    assert s.health == "amber"
    assert s.banner_items[0][0] == "--quick run" and "4 chains × 1000 draws" in s.banner_items[0][1]
