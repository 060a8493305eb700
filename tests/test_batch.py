"""Batches of cases (``mmmhelpers.batch``): the params files a batch runs, a case that fails before it runs as a
failed row with its error, and the summary table that names only the failures' errors.

End-to-end: tests/test_pipeline.py::test_a_batch_runs_every_case_reports_each_and_fails_if_one_fails runs a batch
of the tiny case and a broken one through the CLI (it reuses that file's one pipeline run, so it stays there).
"""

import re

import pandas as pd
import pytest

from mmmhelpers.batch import case_files, run_batch, summary_table
from mmmhelpers.executor import SequentialExecutor


def test_folders_expand_to_their_params_files_sorted_and_a_missing_path_is_named(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("b.yaml", "a.yaml", "notes.txt"):
        (folder / name).write_text("case: x\n")
    single = tmp_path / "z.yaml"
    single.write_text("case: z\n")
    assert case_files([str(single), str(folder)]) == [single, folder / "a.yaml", folder / "b.yaml"]
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing}: no such params file or folder")):
        case_files([str(folder), str(missing)])


def test_a_case_that_fails_before_it_runs_is_a_failed_row_with_its_error(tmp_path):
    """No params file: the task fails before any ``mmm-report run`` starts, the batch goes on and reports it."""
    missing = tmp_path / "missing.yaml"
    (row,) = run_batch([missing], SequentialExecutor(), [], progress=False).to_dict("records")
    assert (row["case"], row["status"], row["health"], row["report"]) == (missing.stem, "FAILED", "–", "")
    assert row["error"].startswith(f"ParamsError: {missing}: ") and "file not found" in row["error"]


def test_the_summary_lists_every_case_and_names_only_the_failures_errors():
    df = pd.DataFrame([
        {"case": "tiny", "status": "ok", "health": "green", "seconds": 12.5, "report": "reports/tiny/index.html",
         "error": ""},
        {"case": "broken", "status": "FAILED", "health": "–", "seconds": 0.4, "report": "",
         "error": "mmm-report: simulate.n_weeks: value 5"}])
    lines = summary_table(df).splitlines()
    assert lines[0].split() == ["case", "status", "health", "seconds", "report"]
    assert [line.split()[:3] for line in lines[1:3]] == [["tiny", "ok", "green"], ["broken", "FAILED", "–"]]
    assert lines[3:] == [f"  broken: {df.loc[1, 'error']}"]
