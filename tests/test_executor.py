"""The executor (sequential and Dask): retries, failures named, per-task seeds, the Dask extra, SBC on a cluster.

The rank tests of ``mmmhelpers.sbc`` are in tests/test_sbc.py. A test quotes the line ``_flaky`` raises on (25)."""

import pandas as pd
import pytest

from mmmhelpers.executor import DaskExecutor, SequentialExecutor, Task, failures, task_seeds

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
    seq, seq_failed = run_sbc(params, data, 2, SequentialExecutor(), L=49, progress=False)  # one draw per worker
    with DaskExecutor(workers=2) as ex:
        par, par_failed = run_sbc(params, data, 2, ex, L=49, progress=False)
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
