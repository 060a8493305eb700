"""Stage inputs: what changes which stage, and when --only may reuse a stage."""

from pathlib import Path

from mmmhelpers.cache import changed_stages, stage_inputs, stale_reuse
from mmmhelpers.config import load_params

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "params" / "tiny.yaml"


def _inputs(tmp_path, old: str = "", new: str = "", quick: bool = False):
    path = tmp_path / "case.yaml"
    path.write_text(TINY.read_text().replace(old, new) if old else TINY.read_text())
    return stage_inputs(load_params(path), ROOT / "notebooks", None, quick)


def test_a_section_changes_its_stage_and_the_stages_after_it(tmp_path):
    base = _inputs(tmp_path)
    assert changed_stages(base, _inputs(tmp_path)) == []
    assert changed_stages(base, _inputs(tmp_path, "budget: 8000", "budget: 7000")) == ["05_optimize"]
    assert changed_stages(base, _inputs(tmp_path, "holdout_weeks: 6", "holdout_weeks: 5")) == ["04_out_of_sample"]
    assert changed_stages(base, _inputs(tmp_path, "yearly_seasonality: 1", "yearly_seasonality: 2")) == [
        "02_fit", "03_recovery", "04_out_of_sample", "05_optimize"]
    assert changed_stages(base, _inputs(tmp_path, "seed: 11", "seed: 12")) == list(base)
    assert changed_stages(base, _inputs(tmp_path, quick=True)) == list(base)
    assert changed_stages({}, base) == list(base)


def test_only_names_what_changed_in_a_reused_stage(tmp_path):
    base = _inputs(tmp_path)
    new = _inputs(tmp_path, "yearly_seasonality: 1", "yearly_seasonality: 2")
    assert stale_reuse(base, new, ["05_optimize"]) == ["02_fit was made with other inputs: params.model changed"]
    assert stale_reuse(base, new, ["02_fit", "05_optimize"]) == []  # the fit is re-run, not reused
    assert stale_reuse(base, _inputs(tmp_path, "budget: 8000", "budget: 7000"), ["05_optimize"]) == []


def test_every_page_says_the_new_currency_and_every_params_key_is_an_input_or_says_why_not(tmp_path):
    """Changing the currency re-ran no stage (the pages kept the old units while index.html showed the new ones)."""
    from mmmhelpers.cache import NOT_INPUTS, PAGE, SECTIONS
    from mmmhelpers.config import Params, ReportSpec

    base = _inputs(tmp_path)
    for old, new in [("report:\n", "report:\n  currency: USD\n"), ("report:\n", "report:\n  period: day\n"),
                     ("report:\n", "report:\n  target_label: sign-ups\n")]:
        assert changed_stages(base, _inputs(tmp_path, old, new)) == list(base), new
    assert changed_stages(base, _inputs(tmp_path, "title: Tiny smoke-test case", "title: Another")) == ["01_simulate"]
    listed = {k for keys in [*SECTIONS.values(), *PAGE.values()] for k in keys} | set(NOT_INPUTS)
    keys = {f for f in Params.model_fields if f != "report"} | {f"report.{f}" for f in ReportSpec.model_fields}
    covered = {k for k in keys if k in listed or k.split(".")[0] in listed}
    assert covered == keys, f"params keys that are no stage's input and not in NOT_INPUTS: {sorted(keys - covered)}"


def test_the_bytes_of_a_file_the_params_name_are_an_input_of_the_stage_that_reads_it(tmp_path):
    """An experiments CSV edited in place re-ran nothing: only its path was hashed."""
    head = "channel,start,end,delta_spend,lift,lift_se\n"
    (tmp_path / "tests.csv").write_text(head + "x1,2024-01-01,2024-01-28,100,50,10\n")
    (tmp_path / "plan.csv").write_text("date,x1,x2\n2030-01-07,1,1\n")
    files = ("  yearly_seasonality: 1\n", "  yearly_seasonality: 1\n  experiments: tests.csv\n")
    plan = ("forecast_weeks: 3,", "forecast_plan: plan.csv,")

    def inputs():
        path = tmp_path / "case.yaml"
        path.write_text(TINY.read_text().replace(*files).replace(*plan))
        return stage_inputs(load_params(path), ROOT / "notebooks", None, False)

    base = inputs()
    assert base["02_fit"]["file model.experiments"] != "none" and "file model.experiments" not in base["01_simulate"]
    (tmp_path / "tests.csv").write_text(head + "x1,2024-01-01,2024-01-28,100,60,10\n")
    assert changed_stages(base, inputs()) == ["02_fit", "03_recovery", "04_out_of_sample", "05_optimize"]
    base = inputs()
    (tmp_path / "plan.csv").write_text("date,x1,x2\n2030-01-07,2,1\n")
    assert changed_stages(base, inputs()) == ["04_out_of_sample"]
