"""The executor (sequential and Dask) and simulation-based calibration."""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers.executor import DaskExecutor, SequentialExecutor, Task, failures, task_seeds
from mmmhelpers.sbc import rank_of, sbc_table, uniformity_p

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_task_seeds_do_not_depend_on_how_many_tasks_follow():
    assert task_seeds(7, 4)[:2] == task_seeds(7, 2)
    assert len(set(task_seeds(7, 50))) == 50 and task_seeds(7, 3) != task_seeds(8, 3)


def _flaky(marker: str, fail_times: int) -> str:
    from pathlib import Path

    p = Path(marker)
    n = int(p.read_text()) if p.exists() else 0
    p.write_text(str(n + 1))
    if n < fail_times:
        raise RuntimeError(f"attempt {n + 1} failed")
    return "ok"


def test_sequential_executor_retries_once_then_reports_by_name(tmp_path):
    tasks = [Task("flaky", _flaky, {"marker": str(tmp_path / "a"), "fail_times": 1}),
             Task("broken", _flaky, {"marker": str(tmp_path / "b"), "fail_times": 5}),
             Task("fine", _flaky, {"marker": str(tmp_path / "c"), "fail_times": 0})]
    out = SequentialExecutor().map(tasks, progress=False)
    assert [o.name for o in out] == ["flaky", "broken", "fine"]
    assert out[0].value == "ok" and out[2].value == "ok" and (tmp_path / "b").read_text() == "2"  # tried twice
    assert failures(out) == ["broken: RuntimeError: attempt 2 failed (at test_executor.py:25)"]


def _conjugate_sbc(n_sims: int, fit_prior_sd: float, L: int = 99, n_obs: int = 5, seed: int = 3) -> pd.DataFrame:
    """SBC of mu ~ N(0, 1), y_i ~ N(mu, 1): the exact posterior N(sum y / (n + 1/s²), 1 / (n + 1/s²)) with the fit's
    prior sd ``s`` (1: the right posterior); posterior draws are exact, so only the rank machinery is tested."""
    rng = np.random.default_rng(seed)
    ranks = []
    for _ in range(n_sims):
        mu = rng.normal(0, 1)
        y = rng.normal(mu, 1, n_obs)
        prec = n_obs + 1 / fit_prior_sd**2
        post = rng.normal(y.sum() / prec, 1 / np.sqrt(prec), size=(1000, 1))
        ranks.append(rank_of(np.array([mu]), post, L)[0])
    return pd.DataFrame({"mu": ranks})


def test_sbc_ranks_are_uniform_for_the_right_posterior_and_not_for_a_wrong_one():
    right = sbc_table(_conjugate_sbc(500, 1.0), 99).iloc[0]
    wrong = sbc_table(_conjugate_sbc(500, 0.5), 99).iloc[0]  # the fit's prior sd halved: too narrow
    assert right["uniform"] and right["p-value"] > 0.01 and right["reading"].startswith("no evidence of miscalibration")
    assert not wrong["uniform"] and wrong["p-value"] < 1e-6
    assert "both ends" in wrong["reading"] and "too narrow" in wrong["reading"]


def test_rank_and_uniformity_by_hand():
    post = np.arange(200.0)[:, None]
    assert rank_of(np.array([50.5]), post, 99)[0] == int((np.linspace(0, 199, 99).round() < 50.5).sum())
    assert uniformity_p(np.tile(np.arange(100), 3), 99) == pytest.approx(1.0)
    assert uniformity_p(np.zeros(300, int), 99) < 1e-12


@pytest.mark.slow
def test_dask_local_cluster_gives_the_sequential_results_bit_for_bit_and_reports_a_failed_task():
    pytest.importorskip("distributed")
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.recovery import replicate_study
    from mmmhelpers.sbc import mmm_sbc_task, run_sbc

    params = load_params(ROOT / "tests" / "params" / "tiny.yaml")
    params = params.model_copy(update={"fit": params.fit.model_copy(update={"tune": 100, "draws": 100})})
    data, _ = prepare_data(params)
    seq, seq_failed = run_sbc(params, data, 4, SequentialExecutor(), L=49, progress=False)
    with DaskExecutor(workers=2) as ex:
        par, par_failed = run_sbc(params, data, 4, ex, L=49, progress=False)
        bad = params.model_dump(mode="json", exclude={"source"}) | {"seed": -1}  # invalid: raises in the task
        good = {"params": params.model_dump(mode="json", exclude={"source"}), "frame": data.to_frame(),
                "roles": {"channel_columns": data.channels, "control_columns": data.controls, "dims": data.dims,
                          "date_column": data.date_column, "target_column": data.target_column}, "seed": 5, "L": 49}
        mixed = ex.map([Task("good", mmm_sbc_task, good), Task("bad", mmm_sbc_task, good | {"params": bad})],
                       progress=False)
        reps_dask = replicate_study(params, 2, progress=False, executor=ex)
    reps_seq = replicate_study(params, 2, progress=False)  # the in-process study: one compiled model, data swapped
    pd.testing.assert_frame_equal(reps_seq, reps_dask)
    assert seq_failed == [] and par_failed == []
    pd.testing.assert_frame_equal(seq, par)  # same seeds, same ranks: the worker count does not matter
    assert mixed[0].ok and mixed[0].value["ranks"] and not mixed[1].ok
    assert failures(mixed)[0].startswith("bad: ValidationError")


def test_asking_for_workers_without_dask_names_the_extra(monkeypatch):
    import sys

    from mmmhelpers.executor import executor_for

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if the extra were not installed
    assert isinstance(executor_for(0, ""), SequentialExecutor)  # the default needs nothing
    with pytest.raises(RuntimeError, match=r"needs the optional extra: pip install 'mmmhelpers\[distributed\]'"):
        executor_for(workers=2)


def test_sbc_flags_are_adjusted_for_the_number_of_parameters_tested():
    """p = 0.0039: evidence against uniformity for one parameter tested alone (< 0.01), none when it is one of five
    tested (Bonferroni: 0.01 / 5 = 0.002): with five tests, one p-value that low is no longer rare."""
    odd = np.r_[np.tile(np.arange(100), 3), np.zeros(26, int)]
    assert uniformity_p(odd, 99) == pytest.approx(0.0039, abs=1e-4)
    alone = sbc_table(pd.DataFrame({"a": odd}), 99).iloc[0]
    assert not alone["uniform"] and alone["adjusted p-value"] == pytest.approx(alone["p-value"])
    flat = np.r_[np.tile(np.arange(100), 3), np.arange(26)]
    five = sbc_table(pd.DataFrame({"a": odd, **{k: flat for k in "bcde"}}), 99).set_index("parameter")
    assert five.loc["a", "uniform"] and five.loc["a", "adjusted p-value"] == pytest.approx(5 * alone["p-value"])
    assert five.loc["a", "reading"].startswith("no evidence of miscalibration")
