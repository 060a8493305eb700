"""summary: the index page's banner says what the health rests on, and a quick run is never green."""

from __future__ import annotations

import pandas as pd
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


def test_rankings_carry_their_probability_and_the_period_word_comes_from_the_data(tmp_path):
    import numpy as np
    import pandas as pd

    from mmmhelpers.data import from_frame
    from mmmhelpers.exports import save_table

    dates = pd.date_range("2024-01-01", periods=40, freq="D")  # daily data
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"date": dates, "y": rng.uniform(90, 110, 40), "tv": rng.uniform(0, 5, 40),
                          "search": rng.uniform(0, 5, 40)})
    from mmmhelpers.artifacts import save_data

    save_data(tmp_path, from_frame(frame, channels=["tv", "search"], controls=[], dims=[], date_column="date",
                                   target_column="y"), None)
    save_table(tmp_path, "contributions", pd.DataFrame([
        {"component": "tv", "kind": "media", "contribution": 500.0, "HDI 3%": 300.0, "HDI 97%": 700.0, "share": 0.12,
         "share 3%": 0.08, "share 97%": 0.16, "P(largest)": 0.71},
        {"component": "search", "kind": "media", "contribution": 400.0, "HDI 3%": 200.0, "HDI 97%": 600.0,
         "share": 0.1, "share 3%": 0.05, "share 97%": 0.15, "P(largest)": 0.29}]))
    save_table(tmp_path, "roas", pd.DataFrame([
        {"channel": "tv", "ROAS": 2.0, "ROAS 3%": 1.0, "ROAS 97%": 3.0, "mROAS": 1.5, "P(highest ROAS)": 0.17},
        {"channel": "search", "ROAS": 3.0, "ROAS 3%": 1.5, "ROAS 97%": 4.5, "mROAS": 2.0, "P(highest ROAS)": 0.83}]))
    points = dict(executive_summary(tmp_path, PARAMS).points)
    assert points["Data"].startswith("40 days,")
    assert "the largest in 71% of the posterior draws" in points["Channels"]
    assert "search returned the most" in points["Channels"] and "the highest in 83% of the posterior draws" in points["Channels"]
    assert "over the data's days" in points["Channels"] and "week" not in points["Channels"]


def test_allowed_extrapolation_is_said_on_the_budget_page_and_in_the_summary(tmp_path):
    from test_artifacts import ALLOC

    from mmmhelpers.artifacts import Allocation
    from mmmhelpers.budget_page import allocation_headline

    Diagnostics.model_validate(DIAG).save(tmp_path)
    Allocation.model_validate(ALLOC).save(tmp_path)
    assert "Extrapolation allowed" not in dict(executive_summary(tmp_path, PARAMS).points)["Recommendation"]
    alloc = Allocation.model_validate({**ALLOC, "extrapolation_allowed": True})
    alloc.save(tmp_path)
    assert "Extrapolation allowed" in dict(executive_summary(tmp_path, PARAMS).points)["Recommendation"]
    assert "Extrapolation allowed" in allocation_headline(alloc)
    assert "it does not keep spend above the least the data saw" in allocation_headline(Allocation.model_validate(
        {**ALLOC, "capped": [{"cell": "x2", "observed_max_per_period": 9000.0, "binding": True}]}))


def test_the_headline_says_when_a_win_rests_on_one_models_assumptions(tmp_path):
    """With model variants, the recommendation claims a win only if every model finds it likely; otherwise it names
    the model under which it is not (the budget page's table of the plan under every model)."""
    from test_artifacts import ALLOC

    from mmmhelpers.artifacts import Allocation
    from mmmhelpers.exports import save_table

    Diagnostics.model_validate(DIAG).save(tmp_path)
    Allocation.model_validate(ALLOC).save(tmp_path)
    assert "robust" not in dict(executive_summary(tmp_path, PARAMS).points)["Recommendation"]  # no variants
    row = {"gain 3%": -1.0, "gain 97%": 9.0}
    save_table(tmp_path, "plan_under_variants", pd.DataFrame([
        {"model": "main model", "gain": 5.0, "P(gain > 0)": 0.93, **row},
        {"model": "media priors twice as wide", "gain": 2.0, "P(gain > 0)": 0.61, **row}]))
    text = dict(executive_summary(tmp_path, PARAMS).points)["Recommendation"]
    assert text.endswith("The win is not robust: under media priors twice as wide (61%) the plan is not likely to beat "
                         "the historical split (P(gain > 0) below 80%); it rests on the assumptions the other models "
                         "make.")


def test_a_roas_that_is_the_priors_is_not_the_headline():
    import pandas as pd

    from mmmhelpers.summary import channels_sentence

    roas = pd.DataFrame({"channel": ["social", "display"], "ROAS": [1.7, 1.8], "ROAS 3%": [1.5, 0.0],
                         "ROAS 97%": [1.9, 4.7], "mROAS": [1.2, 1.6], "P(highest ROAS)": [0.57, 0.43]})
    text = channels_sentence(None, roas, "sales", "EUR", uninformed=["display"])
    assert "social returned the most per EUR spent" in text and "display" not in text
    assert "display returned the most" in channels_sentence(None, roas, "sales", "EUR")
