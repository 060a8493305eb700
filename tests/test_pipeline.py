"""Smoke runs of the whole product through the real CLI (papermill + Quarto/nbconvert) on tiny params."""

import base64
import html
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from runs import ROOT, cli, load

from mmmhelpers.pipeline import STAGES, render

TINY = ROOT / "tests" / "params" / "tiny.yaml"
pytestmark = pytest.mark.slow  # real papermill runs with sampling: minutes


@pytest.fixture(scope="session")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "tiny"
    proc = cli("run", str(TINY), "--out", str(out), "--no-progress")
    return out, proc


def in_process(capsys, *args) -> tuple[int, str, str]:
    """``mmm-report ARGS`` in this process (for what fails before any notebook runs): exit code, stdout, stderr."""
    from mmmhelpers.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_prints_progress_per_stage(report):
    _, proc = report
    for i, stage in enumerate(STAGES, 1):
        assert f"[{i}/5] {stage}: done in" in proc.stdout
    assert "report:" in proc.stdout
    assert "KeyboardInterrupt" not in proc.stderr and "Traceback" not in proc.stderr  # no kernel shutdown noise
    said = re.search(r"02_fit: sampling 2 chains × (\d+) steps: ([\d,]+) to ([\d,]+) s expected", proc.stdout)
    assert said, proc.stdout  # the estimate comes before the fit ends
    assert proc.stdout.index(said.group(0)) < proc.stdout.index("02_fit: done")
    diag = load(report[0], "diagnostics.json")
    assert diag["gradient_seconds"] > 0 and diag["steps_per_draw"] >= 1
    assert diag["compile_cache"] in ("hit", "miss")  # the MMM goes through our cached compile, not the fallback
    from mmmhelpers.fit import STARTUP_SECONDS, STEPS_PER_DRAW

    chains_per_core = 2 // min(2, os.cpu_count() or 1)
    assert diag["estimated_sampling_seconds"] == pytest.approx(
        STARTUP_SECONDS + diag["gradient_seconds"] * STEPS_PER_DRAW[1] * int(said.group(1)) * chains_per_core,
        rel=0.01)
    assert not (report[0] / ".progress").exists()


def test_every_page_and_artifact_exists(report):
    out, _ = report
    for name in ["index.html", "manifest.json", *[f"{s}.html" for s in STAGES], *[f"notebooks/{s}.ipynb" for s in STAGES]]:
        assert (out / name).is_file(), name
    for name in ["data.csv", "truth.nc", "idata.nc", "diagnostics.json", "recovery.csv", "out_of_sample.json",
                 "allocation.json", "recovery_replicates.csv"]:
        assert (out / "artifacts" / name).is_file(), name
    index = (out / "index.html").read_text()
    for s in STAGES:
        assert f'href="{s}.html"' in index
    assert not list(out.parent.glob(".tiny.tmp-*")), "staging folder left behind"


def test_the_fit_page_translates_the_priors_and_the_budget_page_ranks_tests(report):
    out, _ = report
    tables = out / "artifacts" / "tables"
    meanings = pd.read_csv(tables / "prior_translation.csv")
    assert set(meanings["quantity"]) == {"ROAS", "share of the fitted target", "half-saturation spend per period",
                                         "mean carryover delay (periods)"}
    roas = pd.read_csv(tables / "roas_prior_posterior.csv").set_index("channel")
    for _, r in meanings[meanings["quantity"] == "ROAS"].iterrows():  # one computation of ROAS for both tables
        assert r["posterior"] == pytest.approx(roas.loc[r["channel"], "posterior ROAS"], rel=1e-9)
    tests = pd.read_csv(tables / "next_test.csv")
    assert sorted(tests["channel"]) == ["x1", "x2"] and (tests["EVSI"] >= 0).all()
    assert (tests["EVSI"] <= tests["EVPI"] + 1e-9).all() and tests["EVSI"].is_monotonic_decreasing
    assert "Which experiment next" in (out / "05_optimize.html").read_text()
    robust = pd.read_csv(tables / "plan_under_variants.csv")
    assert list(robust["model"]) == ["main model", "no seasonality"]
    gain = load(out, "allocation.json")["initial"]["gain"]
    assert robust["gain"].iloc[0] == pytest.approx(gain["mean"]) and robust["P(gain > 0)"].between(0, 1).all()
    assert (robust["gain 3%"] <= robust["gain"]).all() and (robust["gain"] <= robust["gain 97%"]).all()


def test_case_study_parts_model_variants_forecast_and_published_table(report):
    """The tiny case has one model variant, a 3-week forecast and published numbers of three kinds."""
    import arviz as az

    out, _ = report
    variant = out / "artifacts" / "variants" / "no-seasonality" / "artifacts"
    post = az.from_netcdf(variant / "idata.nc").posterior
    assert "gamma_fourier" not in post and "gamma_fourier" in az.from_netcdf(out / "artifacts" / "idata.nc").posterior
    fit = re.sub(r"<[^>]+>", " ", (out / "02_fit.html").read_text())
    assert "Model variants" in fit and "elpd (LOO)" in fit and "no seasonality" in fit
    assert "Published vs this report" in fit and "A made-up reference" in fit
    published = fit[fit.index("Published vs this report"):]
    divergences = json.loads((variant / "diagnostics.json").read_text())["divergences"]
    assert ("same" if divergences == 0 else "differs") in published  # the variant's own diagnostics
    assert "inside our 94% HDI" in published or "outside our 94% HDI" in published
    assert "Forecast after the last observation" in (out / "04_out_of_sample.html").read_text() or \
        "Forecast" in re.sub(r"<[^>]+>", " ", (out / "04_out_of_sample.html").read_text())
    assert "Every model against the truth" in re.sub(r"<[^>]+>", " ", (out / "03_recovery.html").read_text())
    assert "A made-up reference" in (out / "index.html").read_text()


def test_pages_are_self_contained(report):
    out, _ = report
    for s in STAGES:
        html = (out / f"{s}.html").read_text()
        assert "data:image/png;base64" in html, s  # figures embedded
        assert 'src="' + s in html or "_files/" not in html, s  # no side folder of assets needed
        assert not re.findall(r'(?:src|href)="https?://[^"]*\.(?:js|css)"', html), s  # nothing loaded when opened
    assert "googleapis" not in (out / "02_fit.html").read_text()


def test_pages_show_no_cell_options_warnings_or_tracebacks_and_link_back(report):
    out, _ = report
    for s in STAGES:
        html = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", (out / f"{s}.html").read_text(), flags=re.S)
        text = re.sub(r"<[^>]+>", " ", html)  # what a reader sees (and the code), not the embedded Mermaid library
        assert "#|" not in text, s
        assert "Traceback" not in text and "Warning:" not in text and "warnings.warn" not in text, s
        assert 'href="index.html"' in (out / f"{s}.html").read_text(), s


def test_executive_summary_numbers_equal_the_artifacts(report):
    from mmmhelpers.formatting import as_percent, plain_number

    out, _ = report
    page = (out / "index.html").read_text()
    g = load(out, "allocation.json")["initial"]["gain"]
    assert f"adds an expected {plain_number(g['mean'])} " in page
    assert f"94% HDI {plain_number(g['hdi_94'][0])} to {plain_number(g['hdi_94'][1])}" in page
    import html

    from mmmhelpers.intervals import as_probability

    assert html.escape(f"does better in {as_probability(g['prob_positive'])} of the posterior draws") in page
    oos = load(out, "out_of_sample.json")["summary"]
    assert f"off by {oos['mape']:.1%} on average" in page and f"{oos['coverage_94']:.0%} of the weeks" in page
    for row in pd.read_csv(out / "artifacts" / "tables" / "drivers.csv").to_dict("records"):
        shares = [as_percent(row[k], 0) for k in ("share", "share 3%", "share 97%")]
        if max(abs(row["share 3%"]), abs(row["share 97%"])) < 0.01:  # named among the groups that net to ~0
            assert re.search(rf"{row['component']}[a-z ]* nets? to under 1%", page, re.IGNORECASE), row
        else:
            assert f"{row['component']} {shares[0]} (94% HDI {shares[1]} to {shares[2]})" in page
    flagged = [c["name"] for c in load(out, "review.json")["checks"] if c["verdict"] != "pass"]
    assert ("model review passed every check" in page) == (not flagged)
    assert all(name in page for name in flagged)
    assert (out / "artifacts" / "tables.xlsx").exists()


def test_diagnostics_are_sane(report):
    out, _ = report
    d = load(out, "diagnostics.json")
    assert d["sampler"] == "nutpie" and d["chains"] == 2 and d["draws"] == 100
    assert d["divergences"] <= 5
    assert 1.0 <= d["rhat_max"] < 1.2
    assert d["ess_bulk_min"] > 10
    assert d["health"] in {"green", "amber", "red"}
    assert not d["ess_bulk_min_variable"].endswith("__")


def test_recovery_table_is_sane(report):
    out, _ = report
    rec = pd.read_csv(out / "artifacts" / "recovery.csv")
    assert list(rec.columns[:6]) == ["parameter", "truth", "mean", "hdi_low", "hdi_high", "covered"]
    assert (rec.hdi_low <= rec.hdi_high).all()
    assert rec.covered.mean() >= 0.5
    alpha = rec.set_index("parameter").loc["adstock_alpha[x1]"]
    assert alpha.truth == pytest.approx(0.6)
    reps = pd.read_csv(out / "artifacts" / "recovery_replicates.csv")
    assert sorted(reps["replicate"].unique()) == [0, 1] and reps["quantile"].between(0, 1).all()
    assert reps["divergences"].ge(0).all() and reps["rhat_max"].gt(0.99).all()  # each replicate's own fit
    ranks = pd.read_csv(out / "artifacts" / "sbc_ranks.csv")  # SBC: 6 draws, ranks 0..19
    assert len(ranks) == 6 and "adstock_alpha[x1]" in ranks and ranks.drop(columns="divergences").stack().between(
        0, 19).all()
    assert "Simulation-based calibration (6 draws)" in (out / "03_recovery.html").read_text()


def test_out_of_sample_scores_are_sane(report):
    out, _ = report
    o = load(out, "out_of_sample.json")
    assert o["holdout_weeks"] == 6 and len(o["folds"]) == 2
    assert o["folds"][1]["test_end"] < o["folds"][0]["test_start"]  # the rolling origin is earlier
    fold = o["folds"][0]
    assert fold["test_start"] > fold["train_end"]
    assert 0 < fold["crps"] < 2000 and 0 <= fold["mape"] < 0.3
    assert 0 <= fold["coverage_94"] <= 1 and o["in_sample"]["coverage_94"] > 0.7
    for f in o["folds"]:  # each fold's refit carries its convergence
        assert f["divergences"] >= 0 and f["rhat_max"] > 0.99
        assert f["converged"] == (f["divergences"] == 0 and round(f["rhat_max"], 2) <= 1.01)  # as the main fit


def test_allocation_spends_the_budget_and_beats_the_initial_split(report):
    out, _ = report
    a = load(out, "allocation.json")
    assert sum(r["spend_per_period"] for r in a["allocation"]) == pytest.approx(8000, rel=1e-6)
    assert a["response"]["mean"] >= a["initial"]["response"]["mean"] - 1e-6
    lo, hi = a["response"]["hdi_94"]
    assert lo <= a["response"]["mean"] <= hi
    assert [s["multiplier"] for s in a["scenarios"]] == [0.5, 1.5]
    assert a["scenarios"][0]["response"]["mean"] < a["response"]["mean"] < a["scenarios"][1]["response"]["mean"]
    x2 = next(r["spend_per_period"] for r in a["allocation"] if r["channel"] == "x2")
    assert x2 >= 0.25 * 8000 * (1 - 1e-6)  # the min_share constraint holds
    cells = sum(r["response"]["mean"] for r in a["allocation"])
    assert cells == pytest.approx(a["response"]["mean"], rel=1e-6)  # per-channel responses add up
    assert a["response_window"]["mean"] + a["response_tail"]["mean"] == pytest.approx(a["response"]["mean"], rel=1e-6)
    assert a["window"]["history_weeks"] == 3 and a["window"]["tail_weeks"] == 3
    for base in ("initial", "equal"):
        gain = a[base]["gain"]
        assert gain["hdi_94"][0] <= gain["mean"] <= gain["hdi_94"][1] and 0 <= gain["prob_positive"] <= 1
        assert gain["held_out"] is True and a[base]["gain_in_sample"]["mean"] >= gain["mean"] - 1e-9 * abs(gain["mean"])
    assert [s["solver"] for s in a["scenarios"]] == ["ok", "ok"] and a["alternatives"][0]["solver"] == "ok"
    assert a["alternatives"][0]["gain_over_historical"]["held_out"] is True
    (alt,) = a["alternatives"]
    assert alt["name"] == "half budget" and sum(r["spend_per_period"] for r in alt["allocation"]) == pytest.approx(4000)
    assert a["response_with_noise"] is not None


def test_the_stability_refits_match_the_report_and_the_summary_names_them(report):
    from mmmhelpers.stability import Stability, stability_sentence

    out, _ = report
    st = Stability.load(out)
    alloc = load(out, "allocation.json")
    assert [r.dropped for r in st.refits] == [1, 2]  # tiny.yaml: stability_refits 2
    data = pd.read_csv(out / "artifacts" / "data.csv")
    assert [r.last_date for r in st.refits] == list(data.iloc[[-2, -3], 0])
    # this report's plan is the budget page's (one function plans both), and its ROAS the fit page's
    np.testing.assert_allclose(st.plan, [r["spend_per_period"] for r in alloc["allocation"]], rtol=1e-9)
    roas = pd.read_csv(out / "artifacts" / "tables" / "roas.csv").set_index("channel")
    np.testing.assert_allclose(st.roas, roas.loc[st.channels, "ROAS"], rtol=1e-9)
    for r in st.refits:
        assert sum(r.plan) == pytest.approx(8000, rel=1e-6) and len(r.roas) == len(st.channels)
    page = html.unescape(re.sub(r"<[^>]+>", "", (out / "index.html").read_text()))
    assert stability_sentence(st).replace("**", "") in page
    assert "How stable are the numbers?" in (out / "05_optimize.html").read_text() and st.unit == "week"


def test_the_plan_is_judged_by_the_truth(report):
    """A simulated case's budget page scores its plan under the true response: no plan beats the true optimum, and
    the claim on the page is the allocation's."""
    out, _ = report
    judged = pd.read_csv(out / "artifacts" / "tables" / "truth_check.csv").iloc[0]
    gain = load(out, "allocation.json")["initial"]["gain"]
    assert judged["claimed gain"] == pytest.approx(gain["mean"]) and judged["claimed P(gain > 0)"] == gain["prob_positive"]
    assert judged["true gain"] <= judged["true optimum gain"] * (1 + 1e-6) + 1e-6
    assert "Judged by the truth" in (out / "05_optimize.html").read_text()


def test_manifest_has_provenance(report):
    out, _ = report
    m = json.loads((out / "manifest.json").read_text())
    assert m["seed"] == 11 and len(m["params_sha256"]) == 64
    assert set(STAGES) <= set(m["timings_seconds"])
    assert m["versions"]["pymc"] and m["renderer"] in {"quarto", "nbconvert"}
    if shutil.which("quarto"):
        assert m["renderer"] == "quarto"
    assert list(m)[-6:] == ["data_file", "data_sha256", "requirements_sha256", "git_dirty", "stage_inputs", "solutions"]
    assert m["solutions"] is None  # not an exercise
    assert list(m["stage_inputs"]) == STAGES and "params.optimization" in m["stage_inputs"]["05_optimize"]
    assert m["data_file"] is None and m["data_sha256"] is None  # simulated: no data file
    assert len(m["requirements_sha256"]) == 64 and m["git_dirty"] in (True, False)


def injected(run: Path, stage: str) -> str:
    """The source of the parameters cell papermill injected into ``stage``'s executed notebook in ``run``."""
    nb = nbformat.read(run / "notebooks" / f"{stage}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))


def test_executed_notebooks_keep_outputs_and_params(report):
    out, _ = report
    nb = nbformat.read(out / "notebooks" / "02_fit.ipynb", as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "folds_ahead = True" in injected(out, "02_fit")  # pages 04 and 05 run: their model compiles ahead in 02


def test_nbconvert_fallback_renders_the_same_pages(report, tmp_path, monkeypatch):
    out, _ = report
    run = tmp_path / "run"
    shutil.copytree(out / "notebooks", run / "notebooks")
    monkeypatch.setenv("MMM_RENDERER", "nbconvert")
    assert render(run, STAGES, client=True) == "nbconvert"
    html = (run / "02_fit.html").read_text()
    assert "data:image/png;base64" in html and "Sampler health" in html
    assert "build_model(params.model" not in html  # client mode hides code


@pytest.mark.skipif(shutil.which("quarto") is None, reason="quarto not installed")
def test_quarto_client_mode_hides_code(report, tmp_path):
    out, _ = report
    run = tmp_path / "run"
    shutil.copytree(out / "notebooks", run / "notebooks")
    assert render(run, ["02_fit"], client=True) == "quarto"
    html = (run / "02_fit.html").read_text()
    assert "build_model" not in html and "data:image/png;base64" in html


def test_an_unchanged_case_skips_every_stage_and_a_new_budget_reruns_only_the_optimizer(report, tmp_path):
    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    before = {p: p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()}
    proc = cli("run", str(TINY), "--out", str(copy), "--no-progress")
    assert "is up to date: no stage's inputs changed" in proc.stdout and "running" not in proc.stdout
    assert {p: p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()} == before
    cheaper = tmp_path / "cheaper.yaml"
    cheaper.write_text(TINY.read_text().replace("budget: 8000", "budget: 7000"))
    proc = cli("run", str(cheaper), "--out", str(copy), "--no-progress")
    assert "[1/1] 05_optimize: done" in proc.stdout and "02_fit" not in proc.stdout
    assert "rendering 1 page ..." in proc.stdout  # its page only: the others are as their notebooks left them
    assert all((copy / f"{s}.html").read_bytes() == before[copy / f"{s}.html"] for s in STAGES[:-1])
    assert "Optimal plan for 7,000 per period" in (copy / "05_optimize.html").read_text()
    m = json.loads((copy / "manifest.json").read_text())
    assert m["stages_run"] == ["05_optimize"] and "02_fit" in m["timings_seconds"]  # the fit's record is kept
    assert (copy / "artifacts" / "idata.nc").read_bytes() == before[copy / "artifacts" / "idata.nc"]  # and the fit
    assert sum(r["spend_per_period"] for r in load(copy, "allocation.json")["allocation"]) == pytest.approx(7000)
    refits = copy / "artifacts" / "stability_refits.nc"  # the stability refits were reused, not sampled again
    assert refits.read_bytes() == before[refits]
    assert sum(load(copy, "stability.json")["plan"]) == pytest.approx(7000)


def test_a_batch_runs_every_case_reports_each_and_fails_if_one_fails(report, tmp_path):
    out, _ = report
    shutil.copytree(out, tmp_path / "reports" / "tiny")  # up to date: the batch re-renders nothing for it
    bad = tmp_path / "cases" / "broken.yaml"
    bad.parent.mkdir()
    bad.write_text(TINY.read_text().replace("n_weeks: 60", "n_weeks: 5"))
    proc = cli("run", str(TINY), str(bad.parent), "--out", str(tmp_path / "reports"), "--no-progress", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 cases, in sequence, in this process" in proc.stdout
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()
            if line.strip().startswith(("tiny ", "broken "))}
    assert rows["tiny"][1] == "ok" and rows["broken"][1] == "FAILED"
    assert "broken: " in proc.stdout and "simulate.n_weeks" in proc.stdout  # the failed case's own error, by name


def test_only_refuses_to_reuse_a_fit_made_with_other_inputs(report, tmp_path, capsys):
    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    index = (copy / "index.html").read_bytes()
    changed = tmp_path / "changed.yaml"
    changed.write_text(TINY.read_text().replace("yearly_seasonality: 1", "yearly_seasonality: 2"))
    code, _, err = in_process(capsys, "run", str(changed), "--out", str(copy), "--only", "05_optimize", "--no-progress")
    assert code == 1
    assert "02_fit was made with other inputs: params.model changed" in err
    assert (copy / "index.html").read_bytes() == index


def test_failed_run_keeps_the_last_good_report(report, tmp_path):
    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    index = (copy / "index.html").read_text()
    bad = tmp_path / "bad.yaml"  # a target no budget reaches: only the fitted model can tell
    bad.write_text(TINY.read_text().replace("budget: 8000", "budget: 8000, target: {type: response, value: 1.0e+12}"))
    proc = cli("run", str(bad), "--out", str(copy), "--only", "05_optimize", "--no-progress", check=False)
    assert proc.returncode == 1
    assert "05_optimize failed" in proc.stderr and "out of reach" in proc.stderr
    assert (copy / "index.html").read_text() == index
    assert (tmp_path / "tiny.failed" / "notebooks" / "05_optimize.ipynb").exists()


def test_a_fit_beyond_the_health_gates_fails_the_run(report, tmp_path):
    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    before = {p: p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()}
    gated = tmp_path / "gated.yaml"  # no 2 x 100 draws reach a bulk ESS of a million
    gated.write_text(TINY.read_text().replace("mass_matrix: low_rank}", "mass_matrix: low_rank, "
                                              "fail_on: {ess_bulk: 1000000, rhat: 1.5}}"))
    proc = cli("run", str(gated), "--out", str(copy), "--only", "02_fit", "--no-progress", check=False)
    assert proc.returncode == 1
    (line, *rest) = proc.stderr.splitlines()
    assert re.fullmatch(r"mmm-report: fit\.fail_on: min bulk ESS [\d,]+ < 1,000,000 \(.+\)", line), line
    assert "R-hat" not in line  # the gate it passes is not named
    assert f"the last good report is untouched: {copy}" in proc.stderr
    assert "[1/1] 02_fit: done" in proc.stdout and "rendering" not in proc.stdout
    assert {p: p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()} == before
    assert (tmp_path / "tiny.failed" / "artifacts" / "diagnostics.json").exists()


@pytest.mark.parametrize("old, change, message", [
    ("scenarios: [0.5, 1.5]", "bounds: {tv: [0, 1]}", "optimization.bounds.tv: unknown channel 'tv'"),
    ("scenarios: [0.5, 1.5]", "scenarios: [0.5, 9.0]",
     "optimization.scenarios (9x): budget 72,000 per period is more than the bounds allow"),
    ("channel: x2, value: 0.25", "channel: x1, where: {geo: a}, value: 0.2", "unknown dim 'geo'"),
], ids=["unknown-channel", "unreachable-scenario", "unknown-dim"])
def test_optimization_problems_stop_the_run_before_any_notebook(tmp_path, capsys, old, change, message):
    bad = tmp_path / "bad.yaml"
    assert old in TINY.read_text()
    bad.write_text(TINY.read_text().replace(old, change))
    for args in (["validate", str(bad)], ["run", str(bad), "--out", str(tmp_path / "out")]):
        code, out, err = in_process(capsys, *args)
        assert code == 1 and message in err, err
    assert not (tmp_path / "out").exists() and "01_simulate" not in out


def test_bad_params_exit_1_with_file_field_value(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("chains: 2", "chains: 0"))
    for command in ("run", "validate"):
        code, _, err = in_process(capsys, command, str(bad))
        assert code == 1
        assert str(bad) in err and "fit.chains: value 0" in err
    proc = cli("validate", str(bad), check=False)  # the installed command says the same
    assert proc.returncode == 1 and "fit.chains: value 0" in proc.stderr


def test_validate_and_list():
    proc = cli("validate", str(TINY))
    assert "OK" in proc.stdout and "60 weeks" in proc.stdout
    proc = cli("list")
    assert "default" in proc.stdout


def test_validate_reports_bad_csv(tmp_path, capsys):
    csv = tmp_path / "sales.csv"
    csv.write_text("date,x1,y\n2024-01-01,1,10\n2024-01-08,-5,11\n2024-01-15,2,12\n")
    params = tmp_path / "case.yaml"
    params.write_text("case: csv\ntitle: CSV\nseed: 1\ndata: {path: sales.csv, channel_columns: [x1]}\n")
    code, _, err = in_process(capsys, "validate", str(params))
    assert code == 1 and "negative spend" in err and "sales.csv" in err


def test_a_refresh_says_which_weeks_are_new_and_names_revised_history(report, tmp_path):
    """The last report's data (made older here: two weeks fewer, one sales figure different) against this run's:
    the run says it before any stage, and the data page shows it with the revised value as a warning."""
    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    data = pd.read_csv(copy / "artifacts" / "data.csv")
    older = data.iloc[:-2].copy()
    older.loc[3, "y"] += 100.0
    older.to_csv(copy / "artifacts" / "data.csv", index=False)
    fitted = (copy / "artifacts" / "idata.nc").read_bytes()
    proc = cli("run", str(TINY), "--out", str(copy), "--no-progress", "--only", "01_simulate")
    assert "[1/1] 01_simulate: done" in proc.stdout and (copy / "artifacts" / "idata.nc").read_bytes() == fitted
    assert json.loads((copy / "manifest.json").read_text())["stages_run"] == ["01_simulate"]  # --only: the rest kept
    first, last = data["date"].iloc[-2], data["date"].iloc[-1]
    said = f"2 weeks added ({first} to {last}); 1 historical value revised."
    assert said in proc.stdout and f"warning: history revised since the last report (1 value): y on {data['date'][3]}" \
        in proc.stdout
    assert f"to keep the last report's (its parameters' meaning), set model.scaling.until: {data['date'].iloc[-3]}" \
        in proc.stdout
    page = (copy / "01_simulate.html").read_text()
    assert said in page and "history revised since the last report" in page
    assert json.loads((copy / "artifacts" / "data_diff.json").read_text())["n_revised"] == 1
    backtest = json.loads((copy / "artifacts" / "backtest.json").read_text())  # its model on the two new weeks
    assert (backtest["periods"], backtest["values"], backtest["first"]) == (2, 2, first)
    assert backtest["actual_total"] == pytest.approx(data["y"].iloc[-2:].sum()) and backtest["coverage_94"] in (0, .5, 1)
    assert abs(backtest["forecast_total"] / backtest["actual_total"] - 1) < 0.2 and backtest["mape"] < 0.2
    assert f"The last report's forecast of the new weeks (2 weeks, {first} to {last}" in proc.stdout
    index = html.unescape((copy / "index.html").read_text())  # the summary says the refresh too
    assert "Since the last report" in index and f"2 weeks added ({first} to {last})" in index
    kept = sorted((copy / "history").iterdir())  # the report this refresh replaced, without its posterior
    assert len(kept) == 1 and (kept[0] / "artifacts" / "tables" / "roas.csv").read_bytes() == \
        (out / "artifacts" / "tables" / "roas.csv").read_bytes() and not (kept[0] / "artifacts" / "idata.nc").exists()


def test_a_refresh_carries_the_last_posterior_as_priors_and_says_so(report, tmp_path):
    """refresh.priors: last_report on the report made older (its data two weeks fewer): the run derives the priors
    from its posterior (each parameter's mean and sd, by hand here), keeps them in the report as an input of the fit,
    fits with the likelihood over the two new weeks, and the fit page says so; with folds reaching before the new
    weeks it stops before any stage, naming the field."""
    import arviz as az
    import yaml

    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    data = pd.read_csv(copy / "artifacts" / "data.csv")
    data.iloc[:-2].to_csv(copy / "artifacts" / "data.csv", index=False)
    last = az.from_netcdf(copy / "artifacts" / "idata.nc").posterior
    raw = yaml.safe_load(TINY.read_text())
    raw.pop("model_variants")
    raw["report"]["published"] = [p for p in raw["report"]["published"] if "variant" not in p]
    raw["refresh"] = {"priors": "last_report"}
    raw["model"]["scaling"] = {"until": data["date"].iloc[-3]}
    raw["out_of_sample"].update(holdout_weeks=2, rolling_origins=1)
    case = tmp_path / "tiny.yaml"
    case.write_text(yaml.safe_dump(raw))
    proc = cli("run", str(case), "--out", str(copy), "--no-progress", check=False)
    assert proc.returncode == 1 and "out_of_sample: holdout_weeks 2 x (rolling_origins 1 + 1) = 4 periods held out, " \
        "more than the 2 new ones" in proc.stderr and "[1/" not in proc.stdout
    raw["out_of_sample"].update(holdout_weeks=2, rolling_origins=0)
    case.write_text(yaml.safe_dump(raw))
    proc = cli("run", str(case), "--out", str(copy), "--no-progress", "--only", "01_simulate,02_fit")
    carried = json.loads((copy / "artifacts" / "refresh_priors.json").read_text())
    assert carried["likelihood_from"] == data["date"].iloc[-2] and carried["new_periods"] == 2
    alpha = carried["priors"]["adstock.alpha"]  # Beta: mean a / (a + b)
    np.testing.assert_allclose(np.array(alpha["alpha"]) / (np.array(alpha["alpha"]) + alpha["beta"]),
                               last["adstock_alpha"].mean(("chain", "draw")), rtol=1e-9)
    sigma = carried["priors"]["likelihood.sigma"]  # HalfNormal carried as a Gamma: mean alpha / beta
    assert (sigma["distribution"], sigma["alpha"] / sigma["beta"]) == \
        ("Gamma", pytest.approx(float(last["y_sigma"].mean()), rel=1e-9))
    assert "folds_ahead = False" in injected(copy, "02_fit")  # no page of this run samples the folds' model
    said = "Priors from the last report"  # (Quarto curls the apostrophe that follows)
    assert said in proc.stdout and said in html.unescape((copy / "02_fit.html").read_text())
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["stage_inputs"]["02_fit"]["file refresh_priors"] == manifest["stage_inputs"]["05_optimize"][
        "file refresh_priors"]
    post = az.from_netcdf(copy / "artifacts" / "idata.nc").posterior  # a new fit: the two weeks moved it a little
    assert not np.allclose(post["y_sigma"].mean(), last["y_sigma"].mean(), rtol=1e-6)


@pytest.mark.skipif(shutil.which("quarto") is None, reason="the site is rendered with Quarto")
def test_the_site_lists_every_report_and_its_links_resolve(report, tmp_path):
    """mmm-report site: the gallery names each report with its health and headline, every link of the gallery and of
    the navigation resolves inside the site, the docs are pages and the search index holds them."""
    out, _ = report
    reports = tmp_path / "reports"
    shutil.copytree(out, reports / "tiny")
    proc = cli("site", "--reports", str(reports))
    site = reports / "_site"
    assert f"site: {site / 'index.html'} (1 case: tiny)" in proc.stdout
    page = (site / "index.html").read_text()
    title = json.loads((out / "manifest.json").read_text())["title"]
    assert title in page and "reports/tiny/index.html" in page and "thumbs/tiny.png" in page
    from mmmhelpers.config import load_params
    from mmmhelpers.summary import executive_summary

    assert f">{executive_summary(out, load_params(TINY)).health}</span>" in page  # the index page's health
    links = {link.removeprefix("./") for link in re.findall(r'(?:href|src)="([^"#:]+)"', page)}
    missing = [link for link in links if not (site / link).exists()]
    assert missing == [] and {"docs/params.html", "reports/tiny/index.html"} <= links
    assert (site / "reports" / "tiny" / "05_optimize.html").exists() and "Every case" in (site / "search.json").read_text()


@pytest.mark.skipif(shutil.which("quarto") is None, reason="the slides are rendered with Quarto")
def test_a_report_renders_as_a_slide_deck_with_its_figures_and_headline(report, tmp_path):
    """mmm-report slides: a self-contained reveal.js deck with the summary's recommendation and the decomposition,
    ROAS and plan figures of the executed notebooks (the same PNGs)."""
    from mmmhelpers.config import load_params
    from mmmhelpers.slides import FIGURES, figure_png
    from mmmhelpers.summary import executive_summary

    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    proc = cli("slides", str(copy))
    deck = copy / "slides.html"
    assert proc.stdout.strip() == f"slides: {deck}"
    text = deck.read_text()
    assert "reveal" in text and 'src="http' not in text  # reveal.js, self-contained
    figures = [figure_png(out / "notebooks" / f"{stage}.ipynb", label) for stage, label, _ in FIGURES.values()]
    assert all(png is not None for png in figures)
    for png in figures:
        assert base64.b64encode(png).decode()[:200] in text
    recommendation = dict(executive_summary(out, load_params(TINY)).points)["Recommendation"]
    assert text.count("<section") >= 6 and "Recommendation</h2>" in text  # title, points, three figures, health
    assert re.sub(r"[*`]", "", recommendation)[:60] in html.unescape(text)


def test_an_exercise_hides_the_truth_and_the_answer_or_reveals_them_in_collapsed_callouts(report, tmp_path):
    """The tiny case as a workshop exercise: without solutions no page holds its truth or the answer (the true
    parameters' table, the recovery page, the plan judged by the truth); with them, each sits in a collapsed callout
    and the answer in the summary's reveal box. Switching renders the pages again: nothing is fitted again."""
    from mmmhelpers.pages import HIDDEN_NOTE

    out, _ = report
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    answer = "The answer is forty-two, and the curve saturates."
    case = tmp_path / "exercise.yaml"
    case.write_text(TINY.read_text().replace(
        'report:\n', f'report:\n  exercise: {{question: "What will x1 do?", answer: "{answer}"}}\n'))
    proc = cli("run", str(case), "--out", str(copy), "--no-progress", "--no-solutions")
    assert "[1/1] 01_simulate: done" in proc.stdout and "02_fit" not in proc.stdout  # its page only
    pages = {p.name: p.read_text() for p in copy.glob("*.html")}
    assert "What will x1 do?" in pages["index.html"] and answer not in pages["index.html"]
    assert "Judged by the truth" not in pages["index.html"] + pages["05_optimize.html"]
    assert "True parameters" not in pages["01_simulate.html"]
    assert HIDDEN_NOTE.strip("*") in pages["03_recovery.html"] and "hdi_low" not in pages["03_recovery.html"]
    assert json.loads((copy / "manifest.json").read_text())["solutions"] is False

    proc = cli("run", str(case), "--out", str(copy), "--no-progress", "--solutions")
    assert "rendering the pages again" in proc.stdout and "running" not in proc.stdout
    pages = {p.name: p.read_text() for p in copy.glob("*.html")}
    index = pages["index.html"]
    assert index.index("<details>") < index.index(answer) < index.index("</details>")
    assert index.index("<details>") < index.index("Judged by the truth") < index.index("</details>")
    for page, text in [("01_simulate.html", "True parameters"), ("05_optimize.html", "Judged by the truth")]:
        html = pages[page]
        opened = html.rfind('callout-collapse collapse"', 0, html.index(text))
        assert opened != -1, f"{page}: {text!r} is not inside a collapsed callout"
    assert pages["03_recovery.html"].count('callout-collapse collapse"') == 1  # the whole page, collapsed
