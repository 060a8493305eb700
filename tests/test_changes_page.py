"""The "what changed" page of a refreshed report: written from the artifacts, each section's numbers as stored."""

import json

from test_refresh import _data, _fake_report, _frame

from mmmhelpers.changes_page import changes_sections, write_changes
from mmmhelpers.config import Params
from mmmhelpers.refresh import Backtest, data_diff, keep_history
from mmmhelpers.refresh_priors import RefreshPriors

PARAMS = Params.model_validate({"case": "c", "title": "A <case>", "seed": 1, "simulate": {"generator": "single_market"},
                                "report": {"currency": "EUR"}})
BACKTEST = {"periods": 2, "values": 4, "first": "2024-03-11", "last": "2024-03-18", "forecast_total": 410.0,
            "actual_total": 480.0, "crps": 3.0, "mape": 0.15, "coverage_50": 0.0, "coverage_94": 0.25,
            "miss_p": 0.001, "causes": [{"term": "search", "multiplier": 1.9, "z": 4.2, "explained": 0.83},
                                        {"term": "baseline", "multiplier": 1.02, "z": 1.1, "explained": 0.06}],
            "shifted": "search", "shift_reason": "its effect at about 1.9 times the forecast's explains 83% of the miss "
                                                  "(4.2 standard errors from no change)"}


def test_the_page_names_the_data_change_the_shift_and_the_moved_roas(tmp_path):
    old = _fake_report(tmp_path / "old", "2026-01-05 09:00 UTC", [(1.0, 0.8, 1.2), (2.0, 1.5, 2.5)])
    new = _fake_report(tmp_path / "new", "2026-02-02 09:00 UTC", [(1.1, 0.9, 1.3), (3.0, 2.6, 3.4)])
    assert write_changes(new, PARAMS) is None and not (new / "changes.html").exists()  # no data diff: no page
    keep_history(old, new, refreshed=True)
    frame = _frame(12)
    data_diff(_data(frame[frame.date < "2024-03-11"]), _data(frame)).save(new)
    Backtest.model_validate(BACKTEST).save(new)
    titles = [t for t, _, _ in changes_sections(new, PARAMS)]
    assert titles == ["The data", "This report's priors", "The last report's forecast of the new weeks",
                      "Every channel's ROAS, report by report"]
    page = write_changes(new, PARAMS).read_text()
    assert "A full refit: the params&#x27; own priors" in page
    RefreshPriors(last_report="made 2026-01-05", likelihood_from="2024-03-11", new_periods=2,
                  priors={"priors.intercept": {"distribution": "Normal", "mu": 0.4, "sigma": 0.03}}).save(new)
    assert "Priors from the last report&#x27;s posterior (made 2026-01-05)" in write_changes(new, PARAMS).read_text()
    assert "2 weeks added (2024-03-11 to 2024-03-18)" in page and "A &lt;case&gt;" in page
    assert "The miss points to <b>search</b>: its effect at about 1.9 times the forecast&#x27;s explains 83%" in page
    assert "the ROAS of search moved beyond the last report&#x27;s 94% interval" in page
    assert "the miss points to search" in page  # the ROAS history's shift flag
    assert ">83.0%<" in page and ">4.2<" in page  # the causes table, formatted
    data_diff(_data(frame), _data(frame)).save(new)  # a later run on the same data: the stale page goes
    assert write_changes(new, PARAMS) is None and not (new / "changes.html").exists()
    assert json.loads((new / "artifacts" / "backtest.json").read_text())["shifted"] == "search"
