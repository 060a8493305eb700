"""A case with two targets through the real CLI: every target fitted, the multi-objective budget page, and a
number a client may quote (a target's response at a plan) checked against numpy on the saved posteriors."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from runs import ROOT, cli

TINY = ROOT / "tests" / "params" / "tiny_multi.yaml"
pytestmark = pytest.mark.slow  # real papermill runs with sampling


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "tiny_multi"
    cli("run", str(TINY), "--out", str(out), "--no-progress")
    return out


def multi(out) -> dict:
    return json.loads((out / "artifacts" / "allocation.json").read_text())["multi_objective"]


def _mm_response(out: Path, target_dir: Path, cells: dict[str, float], periods: int, n_draws: int) -> np.ndarray:
    """numpy: periods x sum_c alpha_c x_c / (lam_c + x_c) for the optimizer's draws of one target's posterior."""
    from mmmhelpers.artifacts import load_idata
    from mmmhelpers.config import load_params
    from mmmhelpers.response import draw_indices
    from mmmhelpers.seeds import seed_for

    idata = load_idata(target_dir)
    idx = draw_indices(idata, n_draws, seed_for(load_params(TINY).seed, "optimize"))
    post = idata.posterior.stack(sample=("chain", "draw")).isel(sample=idx)
    x = np.array([cells[c] for c in post["channel"].values])
    alpha, lam = post["saturation_alpha"].transpose("sample", "channel").values, post["saturation_lam"].transpose(
        "sample", "channel").values
    return periods * (alpha * x / (lam + x)).sum(axis=1)


def test_every_target_is_fitted_and_shown(report):
    for where in (report, report / "artifacts" / "targets" / "reengage"):
        assert (where / "artifacts" / "idata.nc").is_file() and (where / "artifacts" / "diagnostics.json").is_file()
        # the censored likelihood's model goes through the compile cache (it compiled in every run before)
        assert json.loads((where / "artifacts" / "diagnostics.json").read_text())["compile_cache"] in ("hit", "miss")
    fit_page = (report / "02_fit.html").read_text()
    assert "Sampler health of each target" in fit_page and "Parameters: posterior mean (94% HDI) per target" in fit_page
    assert "Pareto frontier" in (report / "05_optimize.html").read_text()


def test_responses_at_the_best_plans_match_numpy_on_the_saved_posteriors(report):
    mo = multi(report)
    dirs = {"new_users": report, "reengage": report / "artifacts" / "targets" / "reengage"}
    for plan in ("new_users", "reengage"):
        cells = {r["channel"]: r["spend_per_period"] for r in mo["best"][plan]["allocation"]}
        assert sum(cells.values()) == pytest.approx(2.0, rel=1e-9)  # the whole budget
        for target, where in dirs.items():
            hand = _mm_response(report, where, cells, periods=5, n_draws=100)
            assert mo["best"][plan]["responses"][target]["mean"] == pytest.approx(hand.mean(), rel=1e-6)  # JSON: 6 digits
    # each target's own best beats the other's plan on that target
    assert mo["best"]["new_users"]["responses"]["new_users"]["mean"] >= mo["best"]["reengage"]["responses"][
        "new_users"]["mean"]


def test_the_constraint_holds_and_the_front_is_a_front(report):
    mo = multi(report)
    c = mo["constrained"]
    z = c["constraint"]["at_least"]
    assert c["responses"]["reengage"]["mean"] >= z - 1e-6 * max(1.0, z)
    assert c["binds"] == (mo["best"]["new_users"]["responses"]["reengage"]["mean"] < z)  # binds iff A's best misses it
    front = mo["frontier"]
    a = np.array([p["new_users_mean"] for p in front])
    b = np.array([p["reengage_mean"] for p in front])
    assert len(front) == 6 and all(p["success"] for p in front)
    assert (np.diff(b) > 0).all() and (np.diff(a) <= 1e-9 * abs(a).max()).all()  # trading one goal for the other


def test_a_failed_target_fit_fails_the_run_and_keeps_the_last_good_report(report, tmp_path):
    text = TINY.read_text().replace("{name: reengage, label: re-engaged users, where: {kpi: reengage}}",
                                    "{name: reengage, label: re-engaged users, where: {kpi: reengage}, "
                                    "fit: {fail_on: {ess_bulk: 1000000}}}")
    bad = tmp_path / "tiny_multi_bad.yaml"
    bad.write_text(text)
    out = tmp_path / "copy"
    shutil.copytree(report, out)
    before = (out / "index.html").read_bytes()
    proc = cli("run", str(bad), "--out", str(out), "--no-progress", check=False)
    assert proc.returncode != 0
    assert "the fit of target 'reengage' fails fit.fail_on: min bulk ESS" in proc.stdout + proc.stderr
    assert (out / "index.html").read_bytes() == before
