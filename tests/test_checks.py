"""Pre-fit checks of a case against its data (``mmm-report validate``): one test per rule, with its message."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shipped import shipped_params

from mmmhelpers.checks import check_case, check_warnings
from mmmhelpers.config import load_params

ROOT = Path(__file__).resolve().parent.parent


def sales(n=60, geos=(), seed=0, channels=("x1", "x2", "x3")) -> pd.DataFrame:
    """Independent random spend per channel (and geo), a noisy target: a clean case."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n, freq="7D")
    frames = []
    for g in geos or [None]:
        df = pd.DataFrame({"date": dates.strftime("%Y-%m-%d")})
        if g is not None:
            df["geo"] = g
        for ch in channels:
            df[ch] = rng.gamma(2.0, 500.0, n).round(2)
        df["y"] = (10_000 + rng.normal(0, 500, n)).round(2)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def case(tmp_path, df, extra="", channels=("x1", "x2", "x3"), dims=(), data=""):
    """Write the CSV and a params file naming it (``data``: more keys of its data section); return
    ``check_case``'s answer and the params."""
    df.to_csv(tmp_path / "sales.csv", index=False)
    path = tmp_path / "case.yaml"
    path.write_text(f"case: t\ntitle: T\nseed: 1\ndata: {{path: sales.csv, channel_columns: [{', '.join(channels)}], "
                    f"dims: [{', '.join(dims)}]{data}}}\n" + extra)
    params = load_params(path)
    return (*check_case(params), params)


def test_a_clean_case_has_no_problems_and_no_warnings(tmp_path):
    data, truth, problems, params = case(tmp_path, sales(geos=("geo_a", "geo_b")), dims=("geo",))
    assert problems == [] and truth is None and data.X.shape == (60, 2, 3)
    assert check_warnings(params, data) == []


@pytest.mark.parametrize("path", shipped_params() + [ROOT / "tests/params/tiny.yaml"], ids=lambda p: p.name)
def test_shipped_cases_pass(path):
    """Every shipped case validates (sparse_channels' dark stretches are no error)."""
    params = load_params(path)
    data, _, problems = check_case(params)
    assert problems == []
    warnings = check_warnings(params, data)
    assert warnings == [] or path.name == "budget_allocation.yaml"  # it asks for the extrapolation


def test_data_errors_come_one_by_one_with_file_and_rows(tmp_path):
    df = sales(n=30).astype({"y": object})
    df.loc[1, "x1"] = -500.0
    df.loc[4, "y"] = "n/a"
    data, _, problems, _ = case(tmp_path, df.drop(index=[10, 11]))
    src = tmp_path / "sales.csv"
    assert data is None
    assert problems == [
        f"{src}: column 'y': non-numeric or missing values <missing> on 2024-01-29 (row 6)",
        f"{src}: column 'x1': negative spend -500.0 on 2024-01-08 (row 3)",
        f"{src}: column 'date': dates must be weekly and gap-free: missing weeks between 2024-03-04 and "
        "2024-03-25 (2 weeks)",
    ]


def test_a_csv_with_a_header_and_no_rows(tmp_path):
    data, _, problems, _ = case(tmp_path, sales().iloc[:0])
    assert data is None
    assert problems == [f"{tmp_path / 'sales.csv'}: no data rows (only the header: date, x1, x2, x3, y): add one row "
                        "per date below the header"]


def day_first(df: pd.DataFrame) -> pd.DataFrame:
    """The same dates written day first (16/01/2024), as a spreadsheet set to a European locale saves them."""
    return df.assign(date=pd.to_datetime(df.date).dt.strftime("%d/%m/%Y"))


def test_day_first_dates_get_one_problem_that_names_the_date_format(tmp_path):
    """pandas reads 01/01/2024 month first, then cannot read 15/01/2024: one problem that says what to write,
    and no irregular steps made up from the dates it read wrongly."""
    _, _, problems, _ = case(tmp_path, day_first(sales(n=30)))
    assert problems == [f"{tmp_path / 'sales.csv'}: column 'date': unparseable dates '15/01/2024' (row 4), "
                        "'22/01/2024' (row 5), '29/01/2024' (row 6) and 14 more: they look day-first "
                        "(day/month/year): add data.date_format: \"%d/%m/%Y\" to the params file"]


def test_data_date_format_reads_day_first_dates(tmp_path):
    df = sales(n=30)
    data, _, problems, params = case(tmp_path, day_first(df), data=', date_format: "%d/%m/%Y"')
    assert problems == [] and params.data.date_format == "%d/%m/%Y"
    assert (data.dates == pd.DatetimeIndex(pd.to_datetime(df.date))).all()


def test_day_first_dates_read_by_guess_get_a_warning(tmp_path):
    """16/01/2024 first: pandas guesses day first and reads them right, but a file starting on 01/02 would be read
    month first; a warning says what to write, and pandas' own advice (dayfirst=True) is not printed."""
    import warnings

    df = sales(n=30)
    df["date"] = (pd.to_datetime(df.date) + pd.Timedelta(days=15)).dt.strftime("%d/%m/%Y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data, _, problems, params = case(tmp_path, df)
    assert problems == [] and data.dates[0] == pd.Timestamp("2024-01-16")
    assert check_warnings(params, data) == [
        f"{tmp_path / 'sales.csv'}: column 'date': dates such as '16/01/2024' are read day-first (day/month/year) "
        'only because pandas guessed the order from the first date; add data.date_format: "%d/%m/%Y" to the params '
        "file so that they are always read that way"]


def test_dates_that_do_not_match_data_date_format_name_it(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(n=30), data=', date_format: "%d/%m/%Y"')
    assert len(problems) == 1 and problems[0].startswith(
        f"{tmp_path / 'sales.csv'}: column 'date': unparseable dates '2024-01-01' (row 2), '2024-01-08' (row 3), "
        "'2024-01-15' (row 4) and 27 more: they do not match data.date_format '%d/%m/%Y'")


def test_numbers_with_thousands_separators_get_a_hint(tmp_path):
    df = sales(n=30)
    df["x2"] = (df.x2 * 10).map(lambda v: f"{v:,.2f}")  # 8,630.60: the column is read as text
    _, _, problems, _ = case(tmp_path, df)
    first = df.x2.iloc[0]
    assert len(problems) == 1 and problems[0].startswith(
        f"{tmp_path / 'sales.csv'}: column 'x2': non-numeric or missing values {first!r} on 2024-01-01 (row 2)")
    assert problems[0].endswith(f": it is read as text with thousands separators (e.g. {first!r}): remove the "
                                f"thousands separators (write {first.replace(',', '')}) or save the CSV with "
                                "plain numbers")


def test_a_dim_missing_from_the_csv(tmp_path):
    _, _, problems, _ = case(tmp_path, sales().assign(region="north"), dims=("geo",))
    assert problems == [f"{tmp_path / 'sales.csv'}: missing columns: 'geo' (data.dims); the file has "
                        "['date', 'x1', 'x2', 'x3', 'y', 'region']"]


def test_too_few_weeks_for_the_model(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(n=30), "model: {adstock: {l_max: 20}}\n")
    assert problems == ["data.path: 30 weeks are too few for this model: it needs at least 40 (max(20, "
                        "2 × model.adstock.l_max 20)); data.path: give more weeks or lower model.adstock.l_max"]


def test_holdout_and_rolling_origins_leave_too_few_training_weeks(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(n=40), "out_of_sample: {holdout_weeks: 8, rolling_origins: 2}\n")
    assert problems == ["out_of_sample: holdout_weeks 8 × (1 + rolling_origins 2) = 24 of the 40 weeks leaves 16 "
                        "weeks to fit the earliest fold on; it needs at least 20 (max(20, 2 × model.adstock.l_max 8, "
                        "2 × holdout_weeks 8)): lower out_of_sample.holdout_weeks or out_of_sample.rolling_origins "
                        "(with holdout_weeks 8, at most rolling_origins 1 fits)"]


def test_stability_refits_leave_too_few_weeks(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(n=24), "out_of_sample: {holdout_weeks: 2, stability_refits: 8}\n")
    assert problems == ["out_of_sample: stability_refits 8 leaves 16 weeks to fit the last refit on; it needs at "
                        "least 20 (max(20, 2 × model.adstock.l_max 8)): lower out_of_sample.stability_refits (0: none)"]


def test_a_channel_that_never_spends(tmp_path):
    _, _, problems, _ = case(tmp_path, sales().assign(x3=0.0))
    assert problems == ["channel 'x3' never spends (all 60 weeks are 0): remove it from data.channel_columns"]


def test_a_channel_dark_in_one_geo_is_valid_with_a_warning(tmp_path):
    """TV bought in some regions only is normal client data: no problem, one warning saying what follows."""
    df = sales(geos=("geo_a", "geo_b"))
    df.loc[df.geo == "geo_b", "x2"] = 0.0
    data, _, problems, params = case(tmp_path, df, dims=("geo",))
    assert problems == []
    assert check_warnings(params, data) == [
        "channel 'x2' never spends in geo 'geo_b' (all 60 weeks are 0): that cell contributes nothing, its effect "
        "parameters there (if per cell) stay at their prior, and the plan never spends there"]


def test_a_channel_that_never_spends_anywhere_is_one_problem(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(geos=("geo_a", "geo_b")).assign(x1=0.0), dims=("geo",))
    assert problems == ["channel 'x1' never spends (all 60 weeks of every cell are 0): remove it from "
                        "data.channel_columns"]


def test_a_near_constant_channel(tmp_path):
    df = sales().assign(x2=1000.0)
    df.loc[5, "x2"] = 1000.5
    _, _, problems, _ = case(tmp_path, df)
    assert problems == ["channel 'x2' barely varies (spend 1,000.01 on average, coefficient of variation 6.4e-05 "
                        "< 0.001): its effect cannot be told apart from the intercept; remove it from "
                        "data.channel_columns or calibrate it (model.experiments, model.roas_priors or model.lift_tests)"]


def test_collinear_channels(tmp_path):
    df = sales()
    df["x3"] = (df.x1 * 0.5 + 1.0).round(2)
    _, _, problems, _ = case(tmp_path, df)
    assert problems == ["channels 'x1' and 'x3' move together (correlation 1.000 over 60 weeks; above 0.98): the "
                        "model cannot split their effects; merge them into one column or calibrate one (model.experiments, "
                        "model.roas_priors or model.lift_tests)"]


def test_collinear_channels_in_one_geo_only(tmp_path):
    df = sales(geos=("geo_a", "geo_b"))
    b = df.geo == "geo_b"
    df.loc[b, "x2"] = -df.loc[b, "x1"] + 10_000  # spend moves in opposite directions: as confounded
    _, _, problems, _ = case(tmp_path, df, dims=("geo",))
    assert problems == ["channels 'x1' and 'x2' move together (correlation over 60 weeks in geo 'geo_b' -1.000; "
                        "above 0.98): the model cannot split their effects; merge them into one column or calibrate "
                        "one (model.experiments, model.roas_priors or model.lift_tests)"]


def test_a_constant_target_in_one_geo(tmp_path):
    df = sales(geos=("geo_a", "geo_b"))
    df.loc[df.geo == "geo_a", "y"] = 500.0
    _, _, problems, _ = case(tmp_path, df, dims=("geo",))
    assert problems == ["target 'y' is constant in geo 'geo_a' (500 in all 60 weeks): there is nothing to explain; "
                        "check data.target_column"]


def test_every_rule_at_once(tmp_path):
    df = sales(n=40).assign(x3=0.0, y=1.0)
    _, _, problems, _ = case(tmp_path, df, "out_of_sample: {holdout_weeks: 8, rolling_origins: 2}\n"
                                           "optimization: {budget: 1000, bounds: {tv: [0, 10]}}\n")
    assert [p.split(":")[0] for p in problems] == ["out_of_sample", "channel 'x3' never spends (all 40 weeks are 0)",
                                                   "target 'y' is constant (1 in all 40 weeks)",
                                                   "optimization.bounds.tv"]


def test_a_constraint_on_an_unknown_geo(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(geos=("geo_a", "geo_b")), dims=("geo",), extra=(
        "optimization: {budget: 1000, constraints: [{type: max_share, channel: x1, where: {geo: geo_c}, value: 0.5}]}\n"))
    assert problems == ["optimization.constraints[0].where.geo: unknown value 'geo_c' (values: ['geo_a', 'geo_b'])"]


def test_a_budget_above_the_data_without_extrapolation_is_a_problem(tmp_path):
    df = sales(n=30)
    most = df[["x1", "x2", "x3"]].max().sum()
    _, _, problems, _ = case(tmp_path, df, f"optimization: {{budget: {round(most * 2)}}}\n")
    assert len(problems) == 1 and problems[0].startswith(f"optimization: budget {round(most * 2):,} per period is "
                                                         "more than the bounds allow")
    assert "allow_extrapolation: true lifts this" in problems[0]


def test_a_budget_above_the_data_with_extrapolation_is_a_warning(tmp_path):
    df = sales(n=30)
    most = df[["x1", "x2", "x3"]].max().sum()
    budget = round(most * 2)
    data, _, problems, params = case(tmp_path, df, (
        f"optimization: {{budget: {budget}, allow_extrapolation: true, scenarios: [0.1, 1.5],"
        f" alternatives: [{{name: small, budget: 10}}]}}\n"))
    assert problems == []
    assert check_warnings(params, data) == [
        f"optimization: allow_extrapolation is true and the budget {budget:,}, scenario 1.5x {budget * 1.5:,.6g} per "
        f"period are above the data's highest total spend per period {most:,.6g} (each channel's and cell's highest period,"
        " summed): the plan may rest on spend levels the data never saw"]


def test_a_channel_that_rarely_spends_is_a_warning(tmp_path):
    df = sales(geos=("geo_a", "geo_b"))
    df.loc[(df.geo == "geo_a") & (df.index % 30 != 0), "x3"] = 0.0  # 2 of 60 weeks
    data, _, problems, params = case(tmp_path, df, dims=("geo",))
    assert problems == []
    assert check_warnings(params, data) == ["channel 'x3' spends in only 2 of 60 weeks in geo 'geo_a' (3.3%): its "
                                            "response curve rests on those few weeks"]


HIERARCHICAL = """model:
  saturation:
    priors:
      beta: {distribution: LogNormal, mean: {distribution: Gamma, mu: 0.25, sigma: 0.1, dims: [channel]},
             std: {distribution: Exponential, scale: 0.1}, dims: [geo, channel], centered: false}
  priors:
    intercept: {distribution: Gamma, mu: 0.5, sigma: 0.25, dims: [geo]}
    gamma_fourier: {distribution: Laplace, mu: 0, b: {distribution: HalfNormal, sigma: 0.2}, dims: [fourier_mode]}
"""


def test_a_hierarchy_over_a_single_market_is_a_warning(tmp_path):
    """One geo in the data: the log-normal hierarchy of betas across geos has one value to learn from, and the
    intercept's geo dim is one value; the Laplace hierarchy over Fourier modes is no panel's and stays quiet."""
    data, _, problems, params = case(tmp_path, sales(geos=("geo_a",)), HIERARCHICAL, dims=("geo",))
    assert problems == []
    assert check_warnings(params, data) == [
        "model.saturation.priors.beta: a hierarchical prior over geo, but the data have a single geo ('geo_a'): its "
        "hyperpriors (mean, std) learn from one value; use a plain prior instead: drop geo from its dims and give "
        "numbers for mean, std",
        "model.priors.intercept: dims name geo, but the data have a single geo ('geo_a'): use a plain prior: drop geo "
        "from its dims (the same model)"]
    data, _, problems, params = case(tmp_path, sales(geos=("geo_a", "geo_b")), HIERARCHICAL, dims=("geo",))
    assert problems == [] and check_warnings(params, data) == []


HILL = """model:
  saturation:
    type: hill
    priors:
      slope: {{distribution: Gamma, mu: 1.5, sigma: 0.75, dims: [{dims}]}}
      kappa: {{distribution: Gamma, mu: 0.5, sigma: 0.4, dims: [channel]}}
      beta: {{distribution: HalfNormal, sigma: 1.5, dims: [geo, channel]}}
"""


def test_a_hill_curve_shape_per_market_over_many_markets_is_a_warning(tmp_path):
    """Three markets and a Hill slope per market and channel: one warning naming the fix; the slope per channel (the
    ceiling per market), or two markets, or a logistic curve: none."""
    geos = ("geo_a", "geo_b", "geo_c")
    data, _, problems, params = case(tmp_path, sales(geos=geos), HILL.format(dims="geo, channel"), dims=("geo",))
    assert problems == []
    [warning] = check_warnings(params, data)
    assert warning.startswith("model.saturation.priors: Hill's slope per geo (3 geos): each curve's shape rests on "
                              "one geo's data")
    assert warning.endswith("give slope and kappa dims [channel] (the ceiling beta stays per geo), a slope prior away "
                            "from 0 (a flat curve is an intercept), and fit.mass_matrix: low_rank")
    data, _, _, params = case(tmp_path, sales(geos=geos), HILL.format(dims="channel"), dims=("geo",))
    assert check_warnings(params, data) == []
    data, _, _, params = case(tmp_path, sales(geos=geos[:2]), HILL.format(dims="geo, channel"), dims=("geo",))
    assert check_warnings(params, data) == []
    logistic = "model: {saturation: {priors: {lam: {distribution: Gamma, alpha: 3, beta: 1, dims: [geo, channel]}}}}\n"
    data, _, _, params = case(tmp_path, sales(geos=geos), logistic, dims=("geo",))
    assert check_warnings(params, data) == []
    default = "model: {saturation: {type: hill, priors: {beta: {distribution: HalfNormal, sigma: 1, dims: [geo, channel]}}}}\n"
    data, _, _, params = case(tmp_path, sales(geos=geos), default, dims=("geo",))
    assert check_warnings(params, data) == []  # the defaults are per channel


def test_missing_truth_and_lift_test_files(tmp_path):
    _, _, problems, _ = case(tmp_path, sales(), "model: {lift_tests: lifts.csv}\n")
    assert problems == [f"model.lift_tests: file not found: {tmp_path / 'lifts.csv'}"]
    sales().to_csv(tmp_path / "sales.csv", index=False)
    path = tmp_path / "truth.yaml"
    path.write_text("case: t\ntitle: T\nseed: 1\ndata: {path: sales.csv, channel_columns: [x1], truth: truth.nc}\n")
    data, truth, problems = check_case(load_params(path))
    assert problems == [f"data.truth: file not found: {tmp_path / 'truth.nc'}"] and data is not None


def test_lift_tests_against_the_data(tmp_path):
    (tmp_path / "lifts.csv").write_text("channel,x,delta_x,delta_y,sigma\nx1,100,50,20,5\ntv,100,50,20,0\n"
                                        "x2,abc,50,20,5\n")
    _, _, problems, _ = case(tmp_path, sales(), "model: {lift_tests: lifts.csv}\n")
    src = tmp_path / "lifts.csv"
    assert problems == [
        f"model.lift_tests: {src}: column 'channel': unknown values ['tv'] (known: ['x1', 'x2', 'x3'])",
        f"model.lift_tests: {src}: column 'x': non-numeric or missing values (rows 4)",
        f"model.lift_tests: {src}: column 'sigma' must be positive (rows 3)",
    ]


def test_checking_every_shipped_case_and_drawing_its_prior_compiles_no_c():
    """The CLI checks the case (simulating its data) before the first stage; 01_simulate simulates again and 02_fit
    draws the prior predictive. One-off values are computed by numpy (``transforms.evaluate``): loading PyTensor's
    C module cache alone took about 3 s per process. Run in a fresh process, where nothing has loaded it yet."""
    import subprocess
    import sys

    code = """
import sys
import pytensor.link.c.cmodule as cmodule
from mmmhelpers.checks import check_case
from mmmhelpers.config import load_params
from mmmhelpers.model import build_model
from mmmhelpers.review import sample_prior
for path in sys.argv[1:]:
    params = load_params(path)
    data, _, problems = check_case(params)
    assert not problems, (path, problems)
    if path.endswith("default.yaml"):
        prior = sample_prior(build_model(params.model, data), draws=20, seed=1)
        assert prior.prior_predictive["y"].shape[:2] == (1, 20)
    assert cmodule._module_cache is None, f"{path}: C code was compiled"
print("ok")
"""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code, *map(str, shipped_params())], cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_a_per_channel_l_max_for_an_unknown_channel_is_named(tmp_path):
    from mmmhelpers.checks import check_case
    from mmmhelpers.config import load_params

    path = tmp_path / "case.yaml"
    path.write_text("case: c\ntitle: C\nseed: 1\nsimulate: {generator: single_market, n_weeks: 60}\n"
                    "model: {adstock: {l_max: 4, l_max_by_channel: {radio: 2, x2: 1}}}\n")
    _, _, problems = check_case(load_params(path))
    assert problems == ["model.adstock.l_max_by_channel: unknown channels ['radio'] (known: ['x1', 'x2'])"]


def test_a_per_channel_type_for_an_unknown_channel_or_of_an_unknown_kind_is_named(tmp_path):
    from mmmhelpers.checks import check_case
    from mmmhelpers.config import ParamsError, load_params

    path = tmp_path / "case.yaml"
    path.write_text("case: c\ntitle: C\nseed: 1\nsimulate: {generator: single_market, n_weeks: 60}\n"
                    "model: {adstock: {type_by_channel: {radio: delayed, x2: weibull_cdf}},\n"
                    "        saturation: {type_by_channel: {tv: hill}}}\n")
    _, _, problems = check_case(load_params(path))
    assert problems == ["model.adstock.type_by_channel: unknown channels ['radio'] (known: ['x1', 'x2'])",
                        "model.saturation.type_by_channel: unknown channels ['tv'] (known: ['x1', 'x2'])"]
    path.write_text("case: c\ntitle: C\nseed: 1\nsimulate: {generator: single_market, n_weeks: 60}\n"
                    "model: {saturation: {type_by_channel: {x1: sigmoid}}}\n")
    with pytest.raises(ParamsError, match=r"model\.saturation\.type_by_channel\.x1.*sigmoid"):
        load_params(path)
    path.write_text("case: c\ntitle: C\nseed: 1\nsimulate: {generator: single_market, n_weeks: 60}\n"
                    "model: {saturation: {type_by_channel: {x1: michaelis_menten}}, roas_priors: "
                    "{x1: {distribution: LogNormal, mu: 0, sigma: 1}}}\n")
    with pytest.raises(ParamsError, match=r"different parameters.*logistic and hill: beta"):
        load_params(path)
