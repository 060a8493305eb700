"""The report, next month: the data diff against the last report's data (periods added, history revised, named)."""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers.data import from_frame
from mmmhelpers.refresh import DataDiff, data_diff, likely_shift, shift_causes


def _frame(weeks: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [pd.DataFrame({"date": pd.date_range("2024-01-01", periods=weeks, freq="7D"), "geo": g,
                          "tv": rng.uniform(0, 9, weeks).round(2), "sales": rng.uniform(90, 110, weeks).round(1)})
            for g in ("a", "b")]
    return pd.concat(rows, ignore_index=True)


def _data(df):
    return from_frame(df, channels=["tv"], dims=["geo"], target_column="sales")


def test_new_weeks_and_revised_history_are_named(tmp_path):
    new = _frame(12)
    old = new[new.date < "2024-03-11"].copy()  # the last report's: the first ten weeks
    new.loc[(new.geo == "b") & (new.date == "2024-01-15"), "sales"] += 5.0  # a revised sales figure
    diff = data_diff(_data(old), _data(new))
    assert diff.added == ["2024-03-11", "2024-03-18"] and diff.removed == [] and diff.n_revised == 1
    before = float(old.loc[(old.geo == "b") & (old.date == "2024-01-15"), "sales"].iloc[0])
    assert diff.revised == [{"date": "2024-01-15", "cell": "geo b", "column": "sales", "before": before,
                             "after": before + 5.0}]
    assert diff.sentence() == ("Since the last report (its data: 10 weeks, 2024-01-01 to 2024-03-04): 2 weeks added "
                               "(2024-03-11 to 2024-03-18); 1 historical value revised.")
    assert diff.warnings()[0].startswith(f"history revised since the last report (1 value): sales on 2024-01-15 in "
                                         f"geo b: {before:,.6g} -> {before + 5:,.6g}.")
    diff.save(tmp_path)
    assert DataDiff.load_or_none(tmp_path) == diff


def test_the_same_data_change_nothing_and_a_dropped_week_is_said():
    df = _frame(10)
    same = data_diff(_data(df), _data(df.copy()))
    assert not same.changed and same.warnings() == [] and "nothing added or revised" in same.sentence()
    later = data_diff(_data(df), _data(df[df.date > "2024-01-01"]))
    assert later.removed == ["2024-01-01"] and "1 week no longer in the data (2024-01-01)" in later.sentence()


def test_scales_until_a_date_are_the_last_reports_whatever_the_new_periods():
    """model.scaling.until: the scales (channels, target, controls, organic media) of the periods up to that date,
    so a refresh's parameters mean what the last report's meant; the model and the folds use them."""
    import pytest

    from mmmhelpers.config import ModelSpec
    from mmmhelpers.model import build_model, organic_scales, scales

    df = _frame(12).assign(news=lambda d: np.arange(len(d), dtype=float) % 7)  # organic: its max changes over time
    df.loc[df.date > "2024-03-04", ["tv", "sales"]] = [20.0, 150.0]  # the new weeks spend and sell more than ever
    new = from_frame(df, channels=["tv"], dims=["geo"], target_column="sales", organic=["news"])
    old = new.slice(0, 10)
    spec = ModelSpec.model_validate({"scaling": {"until": "2024-03-04"}})  # the tenth week
    for a, b in zip(scales(new, spec.scaling), scales(old)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(organic_scales(new, spec.scaling), organic_scales(old))
    assert not np.array_equal(scales(new)[0], scales(old)[0])  # the new weeks would move them
    mmm = build_model(spec, new)
    np.testing.assert_array_equal(mmm.channel_scale, scales(old)[0])
    np.testing.assert_array_equal(mmm.organic_scale, organic_scales(old))
    assert "scales from the periods up to 2024-03-04" in spec.scaling.describe()
    early = ModelSpec.model_validate({"scaling": {"until": "2023-01-01"}})
    with pytest.raises(ValueError, match="model.scaling.until: 2023-01-01 is before the data's first date"):
        scales(new, early.scaling)


def _fake_report(folder, created: str, roas: list[tuple[float, float, float]]):
    """A report folder with what the history reads: its manifest's date and its ROAS and contributions tables."""
    import json

    tables = folder / "artifacts" / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame({"channel": ["tv", "search"], "ROAS": [r[0] for r in roas], "ROAS 3%": [r[1] for r in roas],
                  "ROAS 97%": [r[2] for r in roas]}).to_csv(tables / "roas.csv", index=False)
    pd.DataFrame({"component": ["baseline", "tv", "search"], "contribution": [900.0, 50.0, 30.0]}).to_csv(
        tables / "contributions.csv", index=False)
    (folder / "artifacts" / "diagnostics.json").write_text("{}")
    manifest = {"case": "c", "title": "T", "params_file": "p.yaml", "params_sha256": "x", "seed": 1, "quick": False,
                "client": False, "stages_run": [], "renderer": "quarto", "git_commit": "x", "created": created,
                "timings_seconds": {}, "total_seconds": 1.0, "versions": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_refresh_keeps_the_report_it_replaces_and_the_roas_path_flags_a_move_beyond_its_interval(tmp_path):
    from mmmhelpers.refresh import keep_history, moved_sentence, roas_history

    old = _fake_report(tmp_path / "old", "2026-01-05 09:00 UTC", [(1.0, 0.8, 1.2), (2.0, 1.5, 2.5)])
    new = _fake_report(tmp_path / "new", "2026-02-02 09:00 UTC", [(1.1, 0.9, 1.3), (3.0, 2.6, 3.4)])
    assert keep_history(old, new, refreshed=False) == [] and roas_history(new) is None  # not a refresh: nothing kept
    entries = keep_history(old, new, refreshed=True)
    assert [e.name for e in entries] == ["2026-01-05_0900"]
    assert (entries[0] / "artifacts" / "tables" / "roas.csv").exists() and (entries[0] / "manifest.json").exists()
    assert not (entries[0] / "artifacts" / "idata.nc").exists()
    history = roas_history(new)
    assert history["report"].tolist() == ["2026-01-05 09:00"] * 2 + ["this report"] * 2
    assert history.set_index(["report", "channel"]).loc[("this report", "search"), "moved"]  # 3.0 > 2.5
    assert not history.set_index(["report", "channel"]).loc[("this report", "tv"), "moved"]  # 1.1 in [0.8, 1.2]
    assert history["contribution"].tolist() == [50.0, 30.0, 50.0, 30.0]
    assert "the ROAS of search moved beyond the last report's 94% interval" in moved_sentence(history)
    third = _fake_report(tmp_path / "third", "2026-03-02 09:00 UTC", [(1.1, 0.9, 1.3), (3.0, 2.6, 3.4)])
    assert [e.name for e in keep_history(new, third, refreshed=True)] == ["2026-01-05_0900", "2026-02-02_0900"]
    assert "every channel's ROAS now lies inside" in moved_sentence(roas_history(third))


def test_the_summary_says_what_a_refresh_changed(tmp_path):
    import json

    from mmmhelpers.summary import since_last_report

    new = _frame(12)
    old = new[new.date < "2024-03-11"].copy()
    new.loc[(new.geo == "b") & (new.date == "2024-01-15"), "sales"] += 5.0
    data_diff(_data(old), _data(new)).save(tmp_path)
    assert since_last_report(tmp_path, "week") == ("The last report's data: 10 weeks, 2024-01-01 to 2024-03-04. Now "
                                                    "2 weeks added (2024-03-11 to 2024-03-18); 1 historical value "
                                                    "revised. Revised history is named on the data page.")
    (tmp_path / "artifacts" / "backtest.json").write_text(json.dumps(
        {"periods": 2, "values": 4, "first": "2024-03-11", "last": "2024-03-18", "forecast_total": 410.0,
         "actual_total": 400.0, "crps": 3.0, "mape": 0.05, "coverage_50": 0.5, "coverage_94": 1.0}))
    assert since_last_report(tmp_path, "week").endswith("The last report's forecast of the new weeks expected 410; "
                                                          "400 happened (100% of the new values inside its 94% band).")
    data_diff(_data(new), _data(new)).save(tmp_path)  # a later run on the same data: nothing to say
    assert since_last_report(tmp_path, "week") == ""


def test_the_diff_counts_revisions_per_column_and_names_the_channels_that_spent_in_the_new_weeks():
    from mmmhelpers.refresh import likely_cause

    new = _frame(12)
    old = new[new.date < "2024-03-11"].copy()
    new.loc[new.date == "2024-01-15", "tv"] += 1.0  # both markets' tv revised
    new.loc[new.date > "2024-03-04", "tv"] = [0.0, 0.0, 3.0, 0.0]  # tv spent in one new week, one market
    diff = data_diff(_data(old), _data(new))
    assert diff.revised_columns == {"tv": 2} and diff.spent_in_added == ["tv"]
    assert likely_cause("tv", diff) == "2 revised values of its spend; new weeks with its spend"
    quiet = data_diff(_data(old), _data(new.assign(tv=lambda d: np.where(d.date > "2024-03-04", 0.0, d.tv))))
    assert quiet.spent_in_added == [] and likely_cause("tv", quiet) == "2 revised values of its spend"
    changed = diff.model_copy(update={"settings_changed": ["model"], "revised_columns": {"sales": 1}})
    assert likely_cause("tv", changed) == "new weeks with its spend; revised history in sales; changed settings: model"
    assert likely_cause("tv", None) == ""


def test_settings_changed_names_the_params_sections_whose_hash_differs():
    from mmmhelpers.refresh import settings_changed

    old = {"02_fit": {"params.model": "a", "params.fit": "b", "page params.report.currency": "c", "code": "d"},
           "05_optimize": {"params.optimization": "e"}}
    new = {"02_fit": {"params.model": "A", "params.fit": "b", "page params.report.currency": "C", "code": "D"},
           "05_optimize": {"params.optimization": "E", "params.out_of_sample.stability_refits": "new key"}}
    assert settings_changed(old, new) == ["model", "optimization"]  # a key the last run did not record: not a change
    assert settings_changed(new, new) == []


def _fake_plan(folder, budget: float, plan: list[float], history: list[float], gain: float):
    """An ``allocation.json`` with what the plan history reads (two channels)."""
    import json

    (folder / "artifacts").mkdir(parents=True, exist_ok=True)
    resp = {"mean": 1.0, "hdi_94": [0.0, 2.0]}
    rec = lambda spend: [{"channel": ch, "spend_per_period": v} for ch, v in zip(["tv", "search"], spend)]  # noqa: E731
    alloc = {"budget_per_period": budget, "num_periods": 4, "objective": "mean", "allocation": rec(plan),
             "response": resp, "optimizer": {}, "scenarios": [], "window": {"history_weeks": 0, "num_periods": 4, "tail_weeks": 0,
                                                          "objective_window": "window", "multiplier": "none",
                                                          "description": ""},
             "initial": {"allocation": rec(history), "response": resp,
                         "gain": {"mean": gain, "hdi_94": [gain - 10, gain + 10], "prob_positive": 0.9}}}
    (folder / "artifacts" / "allocation.json").write_text(json.dumps(alloc))


def test_the_plan_history_puts_the_last_plan_beside_this_one_and_flags_a_turn(tmp_path):
    from mmmhelpers.refresh import keep_history, plan_history, plan_history_sentence

    old = _fake_report(tmp_path / "old", "2026-01-05 09:00 UTC", [(1.0, 0.8, 1.2), (2.0, 1.5, 2.5)])
    new = _fake_report(tmp_path / "new", "2026-02-02 09:00 UTC", [(1.1, 0.9, 1.3), (2.1, 1.6, 2.6)])
    _fake_plan(old, 100.0, [70.0, 30.0], [50.0, 50.0], 12.0)  # tv raised, search cut
    _fake_plan(new, 100.0, [40.0, 60.0], [52.0, 48.0], 3.0)  # now tv cut, search raised: both turned
    assert plan_history(new) is None  # nothing kept yet
    keep_history(old, new, refreshed=True)
    frame = plan_history(new)
    assert frame["last report's plan"].tolist() == [70.0, 30.0] and frame["this report's plan"].tolist() == [40.0, 60.0]
    assert frame["turned"].tolist() == [True, True]
    words = plan_history_sentence(new, frame, "EUR")
    assert "claimed a gain of 12 (94% HDI 2 to 22)" in words and "claims 3 (94% HDI -7 to 13)" in words
    assert "It now moves tv, search the other way" in words
    _fake_plan(new, 100.0, [75.0, 25.0], [52.0, 48.0], 3.0)
    assert plan_history(new)["turned"].tolist() == [False, False]


def _forecast(mean: np.ndarray, sd: float) -> np.ndarray:
    """Eight draws with exactly this mean, (population) sd per value and no correlation between values: four
    orthogonal zero-mean columns of a Hadamard matrix."""
    from scipy.linalg import hadamard

    return mean + sd * hadamard(8)[:, 1 : 1 + len(mean)]


def test_the_backtest_miss_points_to_the_term_that_explains_it_by_hand():
    """A channel whose effect doubled in the four new weeks: the least squares by hand (independent values, sd 100)
    give it a multiplier of 2 and z = sqrt(1 + 4 + 0 + 9) = 3.74; the other channel z = 2 / sqrt(8); the miss's
    chi-square is 14 on 4 values."""
    mean = np.array([5000.0, 5200.0, 4900.0, 5100.0])
    a, b = np.array([100.0, 200.0, 0.0, 300.0]), np.array([200.0, 0.0, 200.0, 0.0])
    p, causes = shift_causes(_forecast(mean, 100.0), {"a": a, "b": b}, mean + a)
    assert p == pytest.approx(0.00730, abs=1e-5)  # scipy.stats.chi2.sf(14, 4)
    assert [c.term for c in causes] == ["a", "b"]
    assert causes[0].multiplier == pytest.approx(2.0) and causes[0].z == pytest.approx(np.sqrt(14))
    assert causes[0].explained == pytest.approx(1.0)
    assert causes[1].multiplier == pytest.approx(1 + 2 / 8) and causes[1].z == pytest.approx(2 / np.sqrt(8))
    term, why = likely_shift(p, causes)
    assert term == "a" and "2 times the forecast's explains 100% of the miss (3.7 standard errors" in why
    assert causes[0].probability == pytest.approx(np.exp(7) / (np.exp(7) + np.exp(0.25)))  # exp(z^2 / 2), normalized
    # a level shift (z = 60 / 20 = 3) is 12 times less likely: a is still named, with P = e^7 / (e^7 + e^4.5 + ...)
    p, causes = shift_causes(_forecast(mean, 100.0), {"a": a, "b": b, "baseline": np.full(4, 1000.0)}, mean + a)
    assert causes[1].term == "baseline" and causes[1].z == pytest.approx(3.0)
    assert likely_shift(p, causes)[0] == "a"
    assert causes[0].probability == pytest.approx(np.exp(7) / (np.exp(7) + np.exp(4.5) + np.exp(0.25)))
    # a term shaped almost like a (z 3.727 against 3.742): the four weeks cannot tell them apart
    c = np.array([100.0, 200.0, 0.0, 250.0])
    p, causes = shift_causes(_forecast(mean, 100.0), {"a": a, "b": b, "c": c}, mean + a)
    assert [round(x.probability, 3) for x in causes] == [0.514, 0.486, 0.001]
    assert likely_shift(p, causes) == (None, "the new periods cannot tell which term changed: a (effect about 2 times "
                                             "the forecast's, P = 51%), c (effect about 2.1 times the forecast's, "
                                             "P = 49%)")
    # a forecast whose values move together (a level the parameters leave uncertain): a miss spread evenly over the
    # weeks is what it expects, so it explains less of a miss than a channel's shape does
    level = _forecast(mean, 100.0) + 400.0 * np.array([1, -1, 1, -1, 1, -1, 1, -1])[:, None]  # sd 412, correlation .94
    spread = {"a": a, "baseline": np.full(4, 1000.0)}
    _, alone = shift_causes(_forecast(mean, 100.0), spread, mean + a)
    _, together = shift_causes(level, spread, mean + a)
    assert alone[1].term == "baseline" and together[1].term == "baseline"
    assert alone[1].z ** 2 / alone[0].z ** 2 == pytest.approx(9 / 14)  # as above: about as well
    assert together[1].z ** 2 / together[0].z ** 2 < 0.25
    # a forecast that held: nothing to explain
    p, causes = shift_causes(_forecast(mean, 100.0), {"a": a}, mean + np.array([50.0, -80.0, 30.0, -10.0]))
    assert p > 0.05 and likely_shift(p, causes)[0] is None
    assert likely_shift(0.3, causes)[1] == ("the forecast held: a calibrated forecast misses by this much or more 30% "
                                            "of the time (a miss is below 5%), so no term is named")


def test_the_backtest_scores_the_last_reports_forecast_of_the_new_weeks_by_hand(tmp_path):
    """The tiny case fitted on all but its last two weeks, saved as a report; the refresh's backtest on the full data
    scores that posterior's forecast of the two weeks (the model of 58 weeks is the stability test's): its CRPS
    equals the pairwise form E|X - y| - E|X - X'| / 2 over the same draws, its coverage, error and totals are counted
    by hand, and its shift check ran on them."""
    from dataclasses import replace

    from runs import ROOT

    from mmmhelpers.artifacts import load_idata, save_idata
    from mmmhelpers.calibration import model_for
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.fit import sample
    from mmmhelpers.out_of_sample import forecast
    from mmmhelpers.refresh import backtest
    from mmmhelpers.seeds import seed_for

    params = load_params(ROOT / "tests" / "params" / "tiny.yaml")
    data, _ = prepare_data(params)
    n = data.n_dates - 2
    old = data.slice(0, n)
    idata, _ = sample(model_for(params, old), params.fit, seed=1, progress=False)
    (tmp_path / "artifacts").mkdir()
    save_idata(tmp_path, idata)
    result = backtest(tmp_path, old, params, data, data_diff(old, data))
    new = replace(data.slice(n, None), y=np.full_like(data.y[n:], np.nan))
    _, pred = forecast(model_for(params, old), load_idata(tmp_path), old, 0, seed=seed_for(params.seed, "backtest"),
                       plan=new)
    x = pred["y_original_scale"].isel(date=slice(n, None)).values  # (sample, 2)
    y = data.y[n:]
    pairwise = np.abs(x[:, None, :] - x[None, :, :]).mean(axis=(0, 1))
    crps = (np.abs(x - y).mean(axis=0) - pairwise / 2).mean()
    assert result.crps == pytest.approx(crps, rel=1e-9)
    lo, hi = np.quantile(x, [0.03, 0.97], axis=0)  # the central 94% of each value's draws
    assert result.coverage_94 == pytest.approx(np.mean((lo <= y) & (y <= hi)))
    assert result.mape == pytest.approx(np.mean(np.abs(x.mean(axis=0) - y) / y), rel=1e-9)
    assert result.forecast_total == pytest.approx(x.sum(axis=1).mean(), rel=1e-9)
    assert result.actual_total == pytest.approx(y.sum()) and (result.periods, result.values) == (2, 2)
    assert result.first == f"{data.dates[n]:%Y-%m-%d}" and result.miss_p is not None
    assert {"baseline", "x1"} <= {c.term for c in result.causes} <= {"baseline", *data.channels}  # x2: dark then
    assert sum(c.probability for c in result.causes) == pytest.approx(1.0)
