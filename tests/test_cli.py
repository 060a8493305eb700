"""``mmm-report list`` and ``validate`` on folders of params files a user keeps: every file listed, none crashes."""

from pathlib import Path

import pytest

from mmmhelpers.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = (ROOT / "params" / "default.yaml").read_text()


def test_list_warns_when_files_write_the_same_report_folder(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text(DEFAULT)
    (tmp_path / "b.yaml").write_text(DEFAULT.replace("title:", "title: Copy of"))  # a copy, renamed but same case
    (tmp_path / "c.yaml").write_text(DEFAULT.replace("case: default", "case: other"))
    assert main(["list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == ("warning: a.yaml and b.yaml have the same case: 'default' and write the same "
                                    "report folder reports/default/ (each run replaces the other's report): give "
                                    "each file its own case")
    assert sum(line.startswith("warning:") for line in out.splitlines()) == 1  # c.yaml is alone in reports/other/


BROKEN = {
    "binary.yaml": b"\xff\xfe\x00 not text",
    "dims.yaml": b"case: d\ntitle: D\nseed: 1\nsimulate: {generator: single_market}\n"
                 b"model: {saturation: {priors: {beta: {distribution: Normal, dims: 5}}}}\n",
    "distribution.yaml": b"case: e\ntitle: E\nseed: 1\nsimulate: {generator: single_market}\n"
                         b"model: {priors: {intercept: {distribution: 5}}}\n",
    "schema.yaml": b"case: s\nseed: one\nsimulate: {generator: single_market}\n",
}
FIRST_PROBLEM = {
    "binary.yaml": "not a text file (UTF-8): invalid start byte at byte 0; save it as UTF-8 text",
    "dims.yaml": "model.saturation.priors.beta: dims: expected a list of dim names such as [channel], got 5",
    "distribution.yaml": "model.priors.intercept: distribution: expected a name such as 'Normal', got 5",
    "schema.yaml": "title: value '<missing>': Field required (and 1 more)",
}


def test_list_marks_invalid_files_and_validate_names_their_problem(tmp_path, capsys):
    (tmp_path / "good.yaml").write_text(DEFAULT)
    for name, text in BROKEN.items():
        (tmp_path / name).write_bytes(text)
    assert main(["list", "--dir", str(tmp_path)]) == 0
    std = capsys.readouterr()
    lines = {line.split()[0]: line for line in std.out.splitlines()}
    assert "Traceback" not in std.err and lines["good.yaml"].split()[1] == "default"
    for name, problem in FIRST_PROBLEM.items():
        assert lines[name].split(None, 1)[1] == f"INVALID: {problem}; see mmm-report validate {tmp_path / name}"
    for name in BROKEN:
        assert main(["validate", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"{tmp_path / name}: ") and FIRST_PROBLEM[name].split(" (and")[0] in err, err


@pytest.mark.slow
def test_warm_compiles_a_case_and_writes_no_report(tmp_path, capsys, monkeypatch):
    from mmmhelpers.calibration import model_for
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.fit import compile_for

    monkeypatch.chdir(tmp_path)
    tiny = ROOT / "tests" / "params" / "tiny_knowledge.yaml"  # no SBC, replicates or variants: a shorter quick run
    assert main(["warm", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert f"warm: compiling the models of {tiny}" in out and f"warm: {tiny} done in" in out
    assert list(tmp_path.iterdir()) == []  # no report, no scratch folder left here
    params = load_params(tiny)
    data, _ = prepare_data(params)
    assert compile_for(model_for(params, data), "nutpie")[1] == "hit"  # the fit's model loads compiled code


def test_warm_names_a_missing_params_file(tmp_path, capsys):
    assert main(["warm", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err
