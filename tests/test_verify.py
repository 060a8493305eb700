"""``mmm-report verify``: the comparison of two reports' numbers, and inputs that cannot be recovered."""

import json

import pandas as pd

from mmmhelpers.artifacts import Manifest
from mmmhelpers.verify import compare_reports, inputs_of


def _report(root, roas=1.5, seconds=3.0):
    art = root / "artifacts"
    (art / "tables").mkdir(parents=True)
    pd.DataFrame({"channel": ["tv", "search"], "ROAS": [roas, 0.8]}).to_csv(art / "tables" / "roas.csv", index=False)
    (art / "diagnostics.json").write_text(json.dumps({"divergences": 0, "rhat_max": 1.004, "sampling_seconds": seconds,
                                                      "compile_cache": "hit", "per_cell": [{"x": 1.0}, {"x": 2.0}]}))
    return root


def test_every_number_is_compared_and_a_changed_one_is_named(tmp_path):
    a = _report(tmp_path / "a")
    n, diffs = compare_reports(a, _report(tmp_path / "b", seconds=99.0))  # times are not results
    assert n == 4 + 4 and diffs == []
    n, diffs = compare_reports(a, _report(tmp_path / "c", roas=1.5 * (1 + 1e-6)))
    assert [(d.file, d.where, d.report) for d in diffs] == [("tables/roas.csv", "row 2, ROAS", 1.5)]
    assert compare_reports(a, _report(tmp_path / "d", roas=1.5 * (1 + 1e-6)), rtol=1e-5)[1] == []
    (tmp_path / "d" / "artifacts" / "extra.json").write_text("{}")
    assert [d.note for d in compare_reports(a, tmp_path / "d", rtol=1e-5)[1]] == ["only in one of them"]
    (a / "artifacts" / "data_diff.json").write_text("{}")  # a refresh's comparison with the report it replaced
    assert [d.file for d in compare_reports(a, tmp_path / "d", rtol=1e-5)[1]] == ["extra.json"]  # not a result


def test_an_input_that_changed_since_the_report_is_named(tmp_path):
    params = tmp_path / "case.yaml"
    params.write_text("case: c\n")
    import hashlib

    sha = hashlib.sha256(params.read_bytes()).hexdigest()
    manifest = Manifest(case="c", title="C", params_file=str(params), params_sha256=sha, seed=1, quick=False,
                        client=False, stages_run=[], renderer="quarto", git_commit="abc", created="now",
                        timings_seconds={}, total_seconds=0.0, versions={}, data_file=str(tmp_path / "gone.csv"),
                        data_sha256="0" * 64)
    rows = {r["what"]: r for r in inputs_of(manifest)}
    assert rows["params file"]["status"] == "ok" and rows["data file"]["status"] == "missing"
    params.write_text("case: d\n")
    assert inputs_of(manifest)[0]["status"] == "changed" and "its bytes differ" in inputs_of(manifest)[0]["detail"]
