"""Params files: defaults load, every problem is reported with file, field and value."""

from pathlib import Path

import pytest
from shipped import shipped_params

from mmmhelpers.config import ParamsError, load_params

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    return path


BASE = """
case: t1
title: T
seed: 1
simulate: {generator: single_market, n_weeks: 52}
"""


@pytest.mark.parametrize("path", shipped_params() + sorted((ROOT / "tests/params").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_params_are_valid(path):
    params = load_params(path)
    assert params.case and params.title


def test_an_untracked_file_in_params_is_not_a_shipped_case(tmp_path):
    """The shipped cases are the params files git tracks: a user's own broken file in params/ does not enter the
    parametrizations above (nor test_checks'), a case being added enters once it is staged."""
    import subprocess

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    folder = tmp_path / "params"
    folder.mkdir()
    for name in ("good.yaml", "added.yaml"):
        (folder / name).write_text(BASE)
    (folder / "notes.txt").write_text("not a case")
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "params/good.yaml", "params/notes.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "cases"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "params/added.yaml"], cwd=tmp_path, check=True)
    (folder / "mine.yaml").write_text("case: [broken\n")  # the user's own, never added
    assert shipped_params(tmp_path) == [folder / "added.yaml", folder / "good.yaml"]
    assert (ROOT / "params" / "default.yaml") in shipped_params()


def test_unknown_key_names_file_field_and_value(tmp_path):
    path = write(tmp_path, BASE + "model: {adstok: {l_max: 4}}\n")
    with pytest.raises(ParamsError) as err:
        load_params(path)
    text = str(err.value)
    assert str(path) in text and "model.adstok" in text and "unknown key" in text and "l_max" in text
    assert "did you mean 'adstock'?" in text


@pytest.mark.parametrize(("extra", "where", "suggestion"), [
    ("optimisation: {budget: 100}\n", "optimisation: value {'budget': 100}", "did you mean 'optimization'?"),
    ("optimization: {budjet: 100, budget: 100}\n", "optimization.budjet: value 100", "did you mean 'budget'?"),
    ("optimization: {budget: 100, constraints: [{type: max_share, chanel: x1, value: 0.5}]}\n",
     "optimization.constraints.0.chanel: value 'x1'", "did you mean 'channel'?"),
    ("optimization: {budget: 100, alternatives: [{name: a, budgt: 50}]}\n",
     "optimization.alternatives.0.budgt: value 50", "did you mean 'budget'?"),
    ("model: {time_varying_media: {etalam: 2}}\n", "model.time_varying_media.etalam: value 2",
     "did you mean 'eta_lam'?"),
    ("model: {scaling: {chanel: max}}\n", "model.scaling.chanel: value 'max'", "did you mean 'channel'?"),
], ids=["top-level", "optimization", "in-a-list", "alternative", "union-member", "nested"])
def test_unknown_key_suggests_the_closest_field(tmp_path, extra, where, suggestion):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, BASE + extra))
    assert err.value.problems == [f"{where}: unknown key; {suggestion}"]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, BASE + "fit: {zzz: 1}\n"))
    assert err.value.problems == ["fit.zzz: value 1: unknown key (allowed here: sampler, chains, tune, draws, "
                                  "target_accept, cores, mass_matrix, fail_on)"]


def test_bad_value_is_reported_with_its_value(tmp_path):
    with pytest.raises(ParamsError, match=r"fit.chains: value 0"):
        load_params(write(tmp_path, BASE + "fit: {chains: 0}\n"))


def test_all_problems_at_once(tmp_path):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, BASE + "fit: {chains: 0, draws: -1}\nreport: {clinet: true}\n"))
    assert len(err.value.problems) == 3


def test_bad_prior_is_reported_with_its_field(tmp_path):
    text = BASE + "model: {saturation: {priors: {lam: {distribution: Gamma, mu: 1, sd: 2}}}}\n"
    with pytest.raises(ParamsError, match=r"model.saturation.priors.lam: unknown parameters \['sd'\]"):
        load_params(write(tmp_path, text))


@pytest.mark.parametrize(("prior", "refused"), [
    ("{distribution: Normal, mu: 0.5, sigma: -0.3}", "sigma > 0"),
    ("{distribution: HalfNormal, sigma: {distribution: HalfNormal, sigma: 0}}", "sigma > 0"),
    ("{distribution: Beta, alpha: [2, -1], beta: 3, dims: [channel]}", "alpha > 0, beta > 0"),
])
def test_a_prior_number_out_of_its_domain_is_reported_with_its_field_and_value(tmp_path, prior, refused):
    """PyMC's own parameter checks, run at load time: a negative sigma is an error naming the field, not a sampler
    that cannot start (the compiled sampler then skips the checks of these numbers)."""
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, BASE + f"model: {{priors: {{intercept: {prior}}}}}\n"))
    assert err.value.problems[0].startswith("model.priors.intercept: ") and f"must satisfy {refused}" in str(err.value)


def test_prior_for_a_parameter_the_component_lacks(tmp_path):
    text = BASE + "model: {adstock: {type: geometric, priors: {theta: {distribution: HalfNormal}}}}\n"
    with pytest.raises(ParamsError, match="model.adstock.priors.theta: not a parameter"):
        load_params(write(tmp_path, text))


def test_unknown_dim_in_prior(tmp_path):
    text = BASE + "model: {priors: {intercept: {distribution: Normal, dims: [region]}}}\n"
    with pytest.raises(ParamsError, match=r"unknown dims \['region'\]"):
        load_params(write(tmp_path, text))


def test_needs_a_data_source(tmp_path):
    with pytest.raises(ParamsError, match="either data.path"):
        load_params(write(tmp_path, "case: t\ntitle: T\nseed: 1\n"))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(write(tmp_path, "case: [unclosed\n"))


def test_quick_shrinks_the_fit_only():
    from mmmhelpers.config import quick

    params = load_params(ROOT / "params" / "geo_hierarchical.yaml")
    q = quick(params)
    assert (q.fit.chains, q.fit.tune, q.fit.draws) == (2, 200, 200)
    assert q.model == params.model and q.fit.target_accept == params.fit.target_accept


def test_docs_list_every_registered_kind():
    """docs/params.md names every adstock, saturation and generator the registries hold (one source of truth)."""
    from mmmhelpers.simulate import GENERATORS
    from mmmhelpers.transforms import ADSTOCKS, SATURATIONS

    text = (ROOT / "docs" / "params.md").read_text()
    for kind in [*ADSTOCKS, *SATURATIONS, *GENERATORS]:
        assert f"`{kind}`" in text, kind
    for registry in (ADSTOCKS, SATURATIONS):
        for comp in registry.values():
            for name in comp.params:
                assert f"`{name}`" in text, name


def test_a_model_variant_is_the_main_case_with_its_fields_changed(tmp_path):
    text = BASE + ("model: {adstock: {l_max: 6}, yearly_seasonality: 2}\nfit: {chains: 2, target_accept: 0.95}\n"
                   "model_variants: [{name: basic, label: Basic, model: {yearly_seasonality: 0}, "
                   "fit: {target_accept: 0.9}}]\n")
    params = load_params(write(tmp_path, text))
    basic = params.variant("basic")
    assert basic.model.yearly_seasonality == 0 and basic.model.adstock.l_max == 6  # the rest is the main model's
    assert basic.fit.target_accept == 0.9 and basic.fit.chains == 2
    assert basic.model_variants == [] and params.model_variants[0].title == "Basic"


def test_model_variant_problems_are_named_under_their_entry(tmp_path):
    text = BASE + ("model_variants:\n  - {name: a, model: {yearly_seasonality: 30}}\n"
                   "  - {name: b, model: {adstok: {l_max: 3}}}\n"
                   "  - {name: c, model: {saturation: {priors: {lam: {distribution: Gamma, mu: 1, sd: 2}}}}}\n")
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, text))
    problems = "\n".join(err.value.problems)
    assert "model_variants.0.model.yearly_seasonality: value 30" in problems
    assert "model_variants.1.model.adstok" in problems and "did you mean 'adstock'" in problems
    assert "model_variants.2.model.saturation.priors.lam: unknown parameters ['sd']" in problems


def test_variant_names_and_published_variants_must_match(tmp_path):
    with pytest.raises(ParamsError, match="distinct names"):
        load_params(write(tmp_path, BASE + "model_variants: [{name: a}, {name: a}]\n"))
    text = BASE + ("model_variants: [{name: a}]\n"
                   "report: {published: [{label: x, value: 1, source: 'diagnostics:divergences', variant: b}]}\n")
    with pytest.raises(ParamsError, match="no model variant named 'b'"):
        load_params(write(tmp_path, text))


MULTI = """
case: t2
title: T
seed: 1
simulate: {generator: multi_objective, n_weeks: 40}
model: {adstock: {type: none, l_max: 1}, saturation: {type: michaelis_menten}, scaling: {channel: none, target: none}}
optimization: {budget: 2, num_periods: 10}
"""


def test_targets_are_the_main_case_with_their_column_or_slice(tmp_path):
    text = MULTI + ("targets:\n  - {name: a, where: {kpi: new_users}}\n"
                    "  - {name: b, label: B, where: {kpi: reengage}, fit: {target_accept: 0.85}}\n")
    params = load_params(write(tmp_path, text))
    b = params.for_target("b")
    assert b.fit.target_accept == 0.85 and b.model.saturation.type == "michaelis_menten"
    assert b.targets == [] and params.targets[1].title == "B"


@pytest.mark.parametrize("targets, message", [
    ("[{name: a, where: {kpi: new_users}}, {name: a, where: {kpi: reengage}}]", "distinct names"),
    ("[{name: a, where: {kpi: new_users}, fit: {draws: 50}}, {name: b}]", "targets.0 ('a') is the main model"),
    ("[{name: a, where: {geo: x}}, {name: b}]", "targets.0.where: ['geo'] are not panel dims"),
    ("[{name: a, column: y2}, {name: b}]", "targets.0.column: a simulated case names its targets with where"),
], ids=["duplicate", "first-has-overrides", "unknown-dim", "column-on-simulated"])
def test_bad_targets_are_named(tmp_path, targets, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_params(write(tmp_path, MULTI + f"targets: {targets}\n"))


def test_multi_objective_names_known_targets_and_needs_a_constraint_for_a_frontier(tmp_path):
    targets = "targets: [{name: a, where: {kpi: new_users}}, {name: b, where: {kpi: reengage}}]\n"
    bad = MULTI.replace("num_periods: 10}", "num_periods: 10, multi_objective: {maximize: c}}")
    with pytest.raises(ParamsError, match=r"names targets \['c'\]"):
        load_params(write(tmp_path, bad + targets))
    no_constraint = MULTI.replace("num_periods: 10}", "num_periods: 10, multi_objective: {maximize: a}}")
    with pytest.raises(ParamsError, match="give a constraint"):
        load_params(write(tmp_path, no_constraint + targets))
    both = MULTI.replace("num_periods: 10}", "num_periods: 10, multi_objective: {maximize: a, constraint: "
                         "{target: b, at_least: 1, equal_to: 2}}}")
    with pytest.raises(ParamsError, match="exactly one of at_least or equal_to"):
        load_params(write(tmp_path, both + targets))


def test_sbc_fit_changes_are_checked_and_applied(tmp_path):
    params = load_params(write(tmp_path, BASE + "recovery: {sbc: {draws: 10, fit: {draws: 50, chains: 2}}}\n"))
    assert params.for_sbc().fit.draws == 50 and params.for_sbc().fit.chains == 2 and params.fit.draws == 1000
    with pytest.raises(ParamsError, match=r"recovery\.sbc\.fit\.chanes"):
        load_params(write(tmp_path, BASE + "recovery: {sbc: {draws: 10, fit: {chanes: 2}}}\n"))


def test_the_json_schema_accepts_every_shipped_params_file_and_rejects_a_misspelled_key():
    import datetime

    import jsonschema
    import yaml
    from shipped import shipped_params

    from mmmhelpers.config import json_schema

    def as_json(v):  # YAML reads dates as dates; an editor's language server sees the text
        if isinstance(v, dict):
            return {k: as_json(x) for k, x in v.items()}
        if isinstance(v, list):
            return [as_json(x) for x in v]
        return v.isoformat() if isinstance(v, datetime.date) else v

    validator = jsonschema.Draft202012Validator(json_schema())
    files = [*shipped_params(), *sorted((Path(__file__).parent / "params").glob("*.yaml"))]
    for path in files:
        errors = [e.message for e in validator.iter_errors(as_json(yaml.safe_load(Path(path).read_text())))]
        assert not errors, f"{path}: {errors[:2]}"
    bad = as_json(yaml.safe_load(Path(files[0]).read_text()))
    bad["model"]["adstok"] = {"type": "geometric"}
    assert any("adstok" in e.message for e in validator.iter_errors(bad))


def test_the_shipped_schema_file_is_current():
    """``params.schema.json`` (for editors, no command needed) is what ``mmm-report schema`` writes today."""
    import json

    from mmmhelpers.config import json_schema

    shipped = json.loads((Path(__file__).resolve().parent.parent / "params.schema.json").read_text())
    assert shipped == json_schema(), "run: mmm-report schema --out params.schema.json"
