"""health: one set of thresholds; the fit's colour, the review's verdicts and a refit's convergence agree."""

from __future__ import annotations

import itertools

import pytest

from mmmhelpers.health import THRESHOLDS, divergence_verdict, ess_verdict, health, refit_converged, rhat_verdict


def test_verdicts_at_their_thresholds_by_hand():
    assert [rhat_verdict(r) for r in (1.0, 1.01, 1.02, 1.05, 1.06)] == ["pass", "pass", "review", "review", "fail"]
    # 4 x 1000 draws: floor min(400, 400) = 400; fail below 100
    assert [ess_verdict(e, 4, 1000) for e in (400, 399, 100, 99)] == ["pass", "review", "review", "fail"]
    assert [ess_verdict(e, 2, 100) for e in (20, 19, 5, 4)] == ["pass", "review", "review", "fail"]  # floor 20
    assert [divergence_verdict(d, 4, 1000) for d in (0, 1, 40, 41)] == ["pass", "review", "review", "fail"]


@pytest.mark.parametrize("div, rhat, ess", itertools.product([0, 5, 100], [1.0, 1.03, 1.2], [500, 200, 50]))
def test_health_is_green_when_every_check_passes_amber_when_none_fails(div, rhat, ess):
    verdicts = [divergence_verdict(div, 4, 1000), rhat_verdict(rhat), ess_verdict(ess, 4, 1000)]
    expected = "red" if "fail" in verdicts else "amber" if "review" in verdicts else "green"
    assert health(div, rhat, ess, 4, 1000) == expected


def test_a_refit_converges_by_the_main_fits_rule():
    assert refit_converged(0, 1.0122)  # 1.01 to two decimals, as az.summary reports the main fit's
    assert not refit_converged(0, 1.016) and not refit_converged(1, 1.0)
    assert THRESHOLDS.rhat_pass == 1.01
