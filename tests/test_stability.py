"""The stability refits (stability.py): which numbers move when the last periods are left out."""

import numpy as np
import pytest

from mmmhelpers.stability import TOLERANCE, Refit, Stability, marked, stability_sentence


def _record(refit_roas, refit_plans, history=(100.0, 100.0), plan=(150.0, 50.0)) -> Stability:
    refits = [Refit(dropped=j + 1, last_date=f"2024-01-{28 - 7 * j:02d}", roas=r, plan=p, divergences=0,
                    rhat_max=1.0, converged=True) for j, (r, p) in enumerate(zip(refit_roas, refit_plans))]
    return Stability(channels=["tv", "search"], roas=[2.0, 1.0], roas_low=[1.5, 0.8], roas_high=[2.5, 1.2],
                     cells=["tv", "search"], history=list(history), plan=list(plan), refits=refits)


def test_a_roas_is_unstable_when_a_refit_leaves_the_interval_and_stable_inside_it():
    st = _record([[2.4, 1.0], [1.6, 1.25]], [[140.0, 60.0], [160.0, 40.0]])
    roas = st.roas_frame().set_index("channel")
    assert list(roas.columns) == ["ROAS", "ROAS 3%", "ROAS 97%", "without 1 week", "without 2 weeks", "unstable"]
    assert not roas.loc["tv", "unstable"]  # 2.4 and 1.6 inside [1.5, 2.5]
    assert roas.loc["search", "unstable"]  # 1.25 > 1.2
    assert st.unstable() == (["search"], [])
    words = stability_sentence(st)
    assert "the ROAS of search left this report's 94% interval" in words and "kept every recommended direction" in words


def test_a_plan_cell_is_unstable_when_a_refit_moves_it_the_other_way_from_history():
    # tv raised 100 -> 150 in this report; a refit that cuts it to 90 flips its direction; one at 104 (within
    # TOLERANCE of history) has no direction and does not
    st = _record([[2.0, 1.0]] * 2, [[100 * (1 + TOLERANCE * 0.8), 96.0], [90.0, 110.0]])
    plan = st.plan_frame().set_index("cell")
    assert plan["unstable"].tolist() == [True, True]
    assert st.unstable() == ([], ["tv", "search"])
    steady = _record([[2.0, 1.0]] * 2, [[100 * (1 + TOLERANCE * 0.8), 96.0], [130.0, 70.0]])
    assert steady.unstable() == ([], [])
    assert marked(plan.reset_index())["unstable"].tolist() == ["unstable", "unstable"]
    assert "moved tv, search the other way" in stability_sentence(st)


def test_without_a_plan_only_the_roas_is_judged():
    st = _record([[2.0, 1.0]], [[]]).model_copy(update={"cells": [], "history": [], "plan": [], "unit": "month"})
    assert st.plan_frame() is None and st.unstable() == ([], [])
    assert stability_sentence(st).startswith("Refitted without the last 1 to 1 months, every channel's ROAS")


def test_a_refit_of_daily_data_leaves_out_a_week_at_a_time():
    from mmmhelpers.stability import refit_step

    assert refit_step("day") == (7, "week") and refit_step("week") == (1, "week") and refit_step("month") == (1, "month")


@pytest.mark.slow
def test_a_refit_never_sees_the_periods_it_leaves_out(tmp_path):
    """The refit without the last period samples the same draws whatever that period's sales and spend were."""
    from dataclasses import replace

    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.stability import refit_posteriors

    params = load_params("tests/params/tiny.yaml")
    data, _ = prepare_data(params)
    y, X = data.y.copy(), data.X.copy()
    y[-1] *= 50
    X[-1] *= 3
    changed = replace(data, y=y, X=X)
    n = data.n_dates
    (a,), (b,) = list(refit_posteriors(params, data, [n - 1])), list(refit_posteriors(params, changed, [n - 1]))
    for name in ("adstock_alpha", "saturation_lam", "y_sigma"):
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
    seen = data.y.copy()
    seen[-2] *= 50  # the control: a period the refit does see changes its draws (same seed)
    (c,) = list(refit_posteriors(params, replace(data, y=seen), [n - 1]))
    assert not np.array_equal(c.posterior["saturation_lam"].values, a.posterior["saturation_lam"].values)


def test_a_refit_equals_a_separate_fit_on_the_truncated_data_within_monte_carlo_error():
    """The refit without the last two periods (one compiled model, the periods masked) and an ordinary fit of the data
    cut before them sample the same posterior: every scalar parameter's mean agrees within four Monte Carlo standard
    errors of the difference."""
    import arviz as az

    from mmmhelpers.calibration import model_for
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.fit import sample
    from mmmhelpers.stability import refit_posteriors

    params = load_params("tests/params/tiny.yaml")
    params = params.model_copy(update={"fit": params.fit.model_copy(update={"draws": 300})})
    data, _ = prepare_data(params)
    n = data.n_dates - 2
    (refit,) = list(refit_posteriors(params, data, [n]))
    separate, _ = sample(model_for(params, data.slice(0, n)), params.fit, seed=3, progress=False)
    for name in ("adstock_alpha", "saturation_lam", "y_sigma", "intercept_contribution"):
        a, b = refit.posterior[name], separate.posterior[name]
        se = np.hypot(az.mcse(a.to_dataset())[name].values, az.mcse(b.to_dataset())[name].values)
        gap = np.abs(a.mean(("chain", "draw")).values - b.mean(("chain", "draw")).values)
        assert (gap < 4 * se).all(), (name, gap, se)
