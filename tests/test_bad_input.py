"""Every class of bad input stops `mmm-report run` before any notebook: exit 1, a message naming the file,
field, value or rows, and the last good report byte for byte unchanged."""

import pytest
from test_checks import sales

from mmmhelpers.cli import main

PARAMS = ("case: t\ntitle: T\nseed: 1\ndata: {path: sales.csv, channel_columns: [x1, x2, x3]}\n"
          "optimization: {budget: 2000, scenarios: [0.5, 1.5]}\n")


def _negative(df):
    df.loc[1, "x1"] = -500.0
    return df


def _gap(df):
    return df.drop(index=[10, 11]).reset_index(drop=True)


CLASSES = {
    "negative-spend": (_negative, PARAMS, "column 'x1': negative spend -500.0 on 2024-01-08 (row 3)"),
    "missing-weeks": (_gap, PARAMS, "missing weeks between 2024-03-04 and 2024-03-25 (2 weeks)"),
    "all-zero-channel": (lambda df: df.assign(x3=0.0), PARAMS, "channel 'x3' never spends (all 60 weeks are 0)"),
    "constant-target": (lambda df: df.assign(y=5.0), PARAMS, "target 'y' is constant"),
    "holdout-too-long": (None, PARAMS + "out_of_sample: {holdout_weeks: 30}\n", "out_of_sample: holdout_weeks 30"),
    "typo-key": (None, PARAMS.replace("optimization:", "optimisation:"), "did you mean 'optimization'?"),
    "unreachable-scenario": (None, PARAMS.replace("[0.5, 1.5]", "[0.5, 40.0]"),
                             "optimization.scenarios (40x): budget 80,000 per period is more than the bounds allow"),
    "missing-column": (lambda df: df.drop(columns=["x2"]), PARAMS, "missing columns: 'x2' (data.channel_columns)"),
    "header-only": (lambda df: df.iloc[:0], PARAMS, "sales.csv: no data rows"),
}


@pytest.mark.parametrize("name", list(CLASSES))
def test_bad_input_stops_the_run_and_keeps_the_last_good_report(tmp_path, capsys, name):
    change, params, message = CLASSES[name]
    df = sales()
    (change(df) if change else df).to_csv(tmp_path / "sales.csv", index=False)
    (tmp_path / "case.yaml").write_text(params)
    out = tmp_path / "reports" / "t"
    (out / "artifacts").mkdir(parents=True)
    (out / "index.html").write_text("<p>the last good report</p>\n")
    before = {p: p.read_bytes() for p in sorted(out.parent.rglob("*")) if p.is_file()}
    code = main(["run", str(tmp_path / "case.yaml"), "--out", str(out), "--no-progress"])
    std = capsys.readouterr()
    assert code == 1, std.err
    assert message in std.err and str(tmp_path) in std.err, std.err
    assert "Traceback" not in std.err and "running" not in std.out
    assert {p: p.read_bytes() for p in sorted(out.parent.rglob("*")) if p.is_file()} == before
