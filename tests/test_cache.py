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


def _leaves(value, prefix: str = "") -> list[tuple[str, object]]:
    """Every leaf of a dumped params mapping as ``(dotted key, value)``."""
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), value)]


def _flipped(value):
    """Another valid-looking value of the same type (None when there is no obvious one)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 0.25
    if isinstance(value, str) and value:
        return value + " changed"
    return None


def _set(dumped: dict, key: str, value) -> dict:
    import copy

    out = copy.deepcopy(dumped)
    *head, last = key.split(".")
    node = out
    for k in head:
        node = node[k]
    node[last] = value
    return out


def test_flipping_each_params_key_reruns_exactly_the_stages_that_list_it(tmp_path):
    """Every leaf of the tiny case's params (and of every section's defaults): changing it alone re-runs the stages
    whose computation reads its section (and the stages after them) or whose page shows it, and no other."""
    import pydantic

    from mmmhelpers.cache import NOT_INPUTS, PAGE, SECTIONS, UPSTREAM
    from mmmhelpers.config import Params

    def covers(section: str, key: str) -> bool:
        return key == section or key.startswith(section + ".")

    def expected(key: str) -> list[str]:
        return [s for s in SECTIONS if any(covers(sec, key) for dep in [*UPSTREAM[s], s] for sec in SECTIONS[dep])
                or any(covers(sec, key) for sec in PAGE[s])]

    params = load_params(TINY)
    dumped = params.model_dump(mode="json", exclude={"source"})
    base = stage_inputs(params, ROOT / "notebooks", None, False)
    checked, skipped = 0, []
    for key, value in _leaves(dumped):
        if any(covers(k, key) for k in NOT_INPUTS):
            continue
        stages = expected(key)
        assert stages, f"{key}: no stage reads it and NOT_INPUTS does not say why"
        new = _flipped(value)
        if new is None:
            skipped.append(key)
            continue
        try:
            changed = Params.model_validate({**_set(dumped, key, new), "source": params.source})
        except (pydantic.ValidationError, ValueError):
            skipped.append(key)
            continue
        assert changed_stages(base, stage_inputs(changed, ROOT / "notebooks", None, False)) == stages, key
        checked += 1
    assert checked >= 45, (checked, sorted(skipped))  # the scalar leaves (lists, None and files have their own tests)
