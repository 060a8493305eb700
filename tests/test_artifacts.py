"""Typed artifacts: each owns its file name, saves the design's JSON keys and loads back what it saved."""

import json

import pytest
from pydantic import ValidationError

from mmmhelpers.artifacts import Allocation, Diagnostics, Manifest, OutOfSample

DIAG = {"sampler": "nutpie", "chains": 4, "draws": 1000, "tune": 1000, "compile_seconds": 20.5,
        "sampling_seconds": 5.25, "divergences": 0, "rhat_max": 1.004, "ess_bulk_min": 812.0, "ess_tail_min": 900.0,
        "bfmi_min": 0.9, "ess_bulk_min_variable": "saturation_lam", "rhat_max_variable": "y_sigma",
        "ess_bulk_per_second": 31.6, "health": "green", "divergence_share": 0.012,
        "divergence_hotspots": [{"parameter": "saturation_slope[x2]", "divergent_mean": 1.0, "other_mean": 0.62,
                                 "score": 1.8}],
        "divergence_suggestion": "raise fit.target_accept to 0.95", "divergence_summary": "48 divergences (1.2%)",
        "target_accept": 0.9, "gradient_seconds": 2.5e-05, "steps_per_draw": 15.3, "estimated_sampling_seconds": 7.1,
        "warmup_estimate_seconds": 9.4,
        "compile_cache": "hit"}
FOLD = {"origin": "2024-05-06", "train_end": "2024-04-29", "test_start": "2024-05-06", "test_end": "2024-06-24",
        "crps": 142.0, "mape": 0.032, "smape": 0.031, "r2": 0.9, "coverage_50": 0.5, "coverage_94": 1.0,
        "divergences": 0, "rhat_max": 1.004, "converged": True}
OOS = {"holdout_weeks": 8, "folds": [FOLD],
       "in_sample": {"crps": 100.0, "mape": 0.02, "r2": 0.95, "coverage_50": 0.52, "coverage_94": 0.94},
       "summary": {"crps": 142.0, "mape": 0.032, "coverage_50": 0.5, "coverage_94": 1.0}}
RESP = {"mean": 1200.0, "hdi_94": [1000.0, 1400.0]}
ALLOC = {"budget_per_period": 8000.0, "num_periods": 13, "objective": "mean_response_in_window",
         "allocation": [{"channel": "x1", "spend_per_period": 5000.0}, {"channel": "x2", "spend_per_period": 3000.0}],
         "response": RESP, "initial": {"allocation": [{"channel": "x1", "spend_per_period": 4000.0}],
                                       "response": {"mean": 1000.0, "hdi_94": [800.0, 1200.0]},
                                       "gain": {"mean": 200.0, "hdi_94": [-50.0, 420.0], "prob_positive": 0.93,
                                                "held_out": True},
                                       "gain_in_sample": {"mean": 260.0, "hdi_94": [0.0, 480.0], "prob_positive": 0.97,
                                                          "held_out": None}},
         "scenarios": [{"multiplier": 0.5, "budget_per_period": 4000.0, "response": RESP, "allocation": [],
                        "solver": "ok"}],
         "optimizer": {"method": "SLSQP", "success": True},
         "window": {"history_weeks": 7, "num_periods": 13, "tail_weeks": 7, "objective_window": "window_and_tail",
                    "multiplier": "none", "description": "13 periods; ..."},
         "response_window": RESP, "response_tail": {"mean": 200.0, "hdi_94": [100.0, 300.0]},
         "carryover_in": RESP,
         "equal": {"allocation": [{"channel": "x1", "spend_per_period": 4000.0}], "response": RESP,
                   "gain": {"mean": 0.0, "hdi_94": [-10.0, 10.0], "prob_positive": 0.5, "held_out": True},
                   "gain_in_sample": None},
         "spend_by_period": None, "budget_use": "exact",
         "constraints": [{"type": "min_share", "channel": "x1", "value": 0.3}],
         "capped": [{"cell": "x2", "observed_max_per_period": 9000.0, "binding": False}], "extrapolation_allowed": None,
         "trust_region": 0.3, "held": ["x2"], "held_mode": "no_raise",
         "target": {"type": "response", "value": 1000.0, "budget_per_period": 5000.0, "achieved": 1000.0,
                    "response": RESP, "allocation": []},
         "alternatives": [{"name": "half", "budget_per_period": 4000.0, "response": RESP,
                           "gain_over_historical": {"mean": 1.0, "hdi_94": [0.0, 2.0], "prob_positive": 0.9,
                                                    "held_out": None},
                           "allocation": [], "solver": "FAILED: Iteration limit reached"}],
         "response_with_noise": None, "cells": ["x1", "x2"],
         "multi_objective": {"targets": ["a", "b"], "spend": "shared", "maximize": "a", "best": {},
                             "objective_best": {"allocation": [], "responses": {}, "success": True},
                             "cross_evaluation": [], "frontier": []}, "compared_plan": None}


@pytest.mark.parametrize("cls, raw, where", [
    (Diagnostics, DIAG, "artifacts/diagnostics.json"),
    (OutOfSample, OOS, "artifacts/out_of_sample.json"),
    (Allocation, ALLOC, "artifacts/allocation.json"),
], ids=["diagnostics", "out-of-sample", "allocation"])
def test_record_round_trips_with_the_design_keys(tmp_path, cls, raw, where):
    record = cls.model_validate(raw)
    path = record.save(tmp_path)
    assert path == tmp_path / where
    assert json.loads(path.read_text()) == raw  # same keys, same order-independent content, no extras
    assert list(json.loads(path.read_text())) == list(raw)  # and the design's key order
    assert cls.load(tmp_path) == record


def test_unknown_keys_are_errors_and_missing_records_are_none(tmp_path):
    with pytest.raises(ValidationError, match="extra"):
        Diagnostics.model_validate({**DIAG, "divergnces": 0})
    assert Allocation.load_or_none(tmp_path) is None


def test_allocation_gain_is_relative_to_the_initial_split():
    assert Allocation.model_validate(ALLOC).gain == pytest.approx(0.2)


MANIFEST_KEYS = ["case", "title", "params_file", "params_sha256", "seed", "quick", "client", "stages_run", "renderer",
                 "git_commit", "created", "timings_seconds", "total_seconds", "versions",
                 "data_file", "data_sha256", "requirements_sha256", "git_dirty", "stage_inputs", "solutions"]


def test_manifest_lives_beside_the_artifacts(tmp_path):
    m = Manifest(case="c", title="t", params_file="p.yaml", params_sha256="0" * 64, seed=1, quick=False, client=False,
                 stages_run=["01_simulate"], renderer="nbconvert", git_commit="abc", created="now",
                 timings_seconds={"01_simulate": 1.5}, total_seconds=2.0, versions={"pymc": "5", "x": None})
    assert m.save(tmp_path) == tmp_path / "manifest.json"
    assert Manifest.load(tmp_path).timings_seconds == {"01_simulate": 1.5}
    assert list(json.loads((tmp_path / "manifest.json").read_text())) == MANIFEST_KEYS  # new keys at the end
    assert m.data_file is None and m.git_dirty is None  # a manifest written before them still loads


def test_manifest_records_the_data_file_the_environment_and_the_checkout(tmp_path):
    import hashlib

    from mmmhelpers.config import load_params
    from mmmhelpers.pipeline import ROOT, run_provenance

    (tmp_path / "data").mkdir()
    csv = tmp_path / "data" / "sales.csv"
    csv.write_text("date,x1,y\n2024-01-01,1,10\n2024-01-08,5,11\n")
    params = tmp_path / "case.yaml"
    params.write_text("case: csv\ntitle: CSV\nseed: 1\ndata: {path: data/sales.csv, channel_columns: [x1]}\n")
    got = run_provenance(load_params(params))
    assert got["data_file"] == str(csv.resolve())
    assert got["data_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert got["requirements_sha256"] == hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    assert got["git_dirty"] in (True, False)
    simulated = run_provenance(load_params(ROOT / "tests" / "params" / "tiny.yaml"))
    assert simulated["data_file"] is None and simulated["data_sha256"] is None


def test_red_fit_warns_on_the_command_line_and_the_banner_says_where(tmp_path, capsys):
    from mmmhelpers.config import Params
    from mmmhelpers.pipeline import warn_if_red, write_index

    red = {**DIAG, "health": "red", "divergences": 48,
           "divergence_summary": "48 divergences (1.2% of 4000 draws): divergences sit at saturation_slope[x2] ≈ 1"}
    Diagnostics.model_validate(red).save(tmp_path)
    warn_if_red(tmp_path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WARNING: sampler health is RED" in err and "saturation_slope[x2]" in err
    params = Params(case="c", title="T", seed=1, simulate={"generator": "single_market"})
    manifest = Manifest(case="c", title="T", params_file="p", params_sha256="0" * 64, seed=1, quick=False,
                        client=False, stages_run=[], renderer="nbconvert", git_commit="abc", created="now",
                        timings_seconds={}, total_seconds=1.0, versions={})
    write_index(tmp_path, params, manifest)
    html = (tmp_path / "index.html").read_text()
    assert "<b>RED</b>" in html and "divergences sit at saturation_slope[x2]" in html


def test_green_fit_prints_nothing(tmp_path, capsys):
    from mmmhelpers.pipeline import warn_if_red

    Diagnostics.model_validate(DIAG).save(tmp_path)
    warn_if_red(tmp_path)
    assert capsys.readouterr().err == ""


def test_a_plan_records_cell_is_named_as_the_constraints_name_it():
    from mmmhelpers.artifacts import cell_label
    from mmmhelpers.constraints import cell_labels

    panel = {"geo": ["north", "south"], "kpi": ["sales"]}
    records = [{"channel": ch, "geo": g, "kpi": "sales", "spend_per_period": 1.0, "roas": None}
               for g in panel["geo"] for ch in ("tv", "search")]
    assert [cell_label(r) for r in records] == cell_labels(["tv", "search"], panel)
    assert cell_label({"channel": "tv", "spend_per_period": 2.0, "response": {}, "mroas": 0.1}) == "tv"
