"""Media bought in units (impressions, GRPs) with spend beside them: the units drive the effect, the spend gives
ROAS and budgets. Cost per unit, the media the model sees, ROAS and a plan's response are checked by hand."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import idata_from_truth

from mmmhelpers.config import ModelSpec
from mmmhelpers.contributions import roas_draws
from mmmhelpers.data import DataError, data_roles, from_frame, from_roles, read_plan
from mmmhelpers.model import build_model, scales
from mmmhelpers.optimize import response_model
from mmmhelpers.review import sample_prior

N = 30


def frame(geos=("a", "b")) -> pd.DataFrame:
    """Two markets; tv bought in GRPs whose price rises 50% over the data (and differs by market), search in money."""
    rng = np.random.default_rng(0)
    rows = []
    for g, (price, size) in zip(geos, [(100.0, 1.0), (160.0, 0.5)]):
        grps = np.where(np.arange(N) % 5 == 4, 0.0, rng.uniform(20, 60, N) * size)
        cost = price * np.linspace(1.0, 1.5, N)
        rows.append(pd.DataFrame({"date": pd.date_range("2023-01-02", periods=N, freq="W-MON"), "geo": g,
                                  "tv": grps * cost, "tv_grps": grps, "search": rng.uniform(50, 150, N),
                                  "y": rng.uniform(900, 1100, N)}))
    return pd.concat(rows, ignore_index=True)


def load(df=None, **kw):
    return from_frame(frame() if df is None else df, channels=["tv", "search"], dims=["geo"],
                      units={"tv": "tv_grps"}, **kw)


def test_cost_per_unit_and_the_media_the_model_sees_by_hand():
    df, data = frame(), load()
    for j, g in enumerate(["a", "b"]):
        rows = df[df.geo == g]
        cost = rows.tv.sum() / rows.tv_grps.sum()  # the market's average price of a GRP
        assert data.cost_per_unit[j, 0] == pytest.approx(cost) and data.cost_per_unit[j, 1] == 1.0
        np.testing.assert_allclose(data.X[:, j, 0], rows.tv_grps * cost)  # units valued at that price
        np.testing.assert_allclose(data.units[:, j, 0], rows.tv_grps)
        np.testing.assert_allclose(data.spend[:, j, 0], rows.tv)
        np.testing.assert_allclose(data.X[:, j, 1], rows.search)  # a channel without units: its spend
    assert data.total_spend == pytest.approx([df.tv.sum(), df.search.sum()])
    assert data.X[..., 0].sum() == pytest.approx(df.tv.sum())  # over the data, the valued units cost the spend
    back = from_roles(data.to_frame(), data_roles(data))  # data.csv and its roles, as stage 01 writes them
    for a in ("X", "S", "unit_cost", "y"):
        np.testing.assert_allclose(getattr(back, a), getattr(data, a))
    one = data.select({"geo": "b"})
    assert one.cost_per_unit.shape == (2,) and one.spend[:, 0] == pytest.approx(df[df.geo == "b"].tv.to_numpy())


@pytest.mark.parametrize("scaling", [{}, {"dims": ["geo"]}, {"channel": "none"}], ids=["per market", "pooled", "raw"])
def test_the_model_sees_exactly_the_units(scaling):
    """X / channel_scale is the units over their max (per market, or pooled over markets), or the raw units."""
    data = load()
    spec = ModelSpec.model_validate({"scaling": scaling})
    seen = data.X / scales(data, spec.scaling)[0]
    top = data.units.max(axis=0, keepdims=True)
    if scaling.get("dims"):
        top = top.max(axis=1, keepdims=True)
    expected = data.units if scaling.get("channel") == "none" else data.units / top
    np.testing.assert_allclose(seen, expected, rtol=1e-12)


def test_units_and_spend_are_zero_in_the_same_rows():
    df = frame()
    df.loc[3, "tv"] = 0.0  # GRPs bought for nothing
    df.loc[4, "tv"] = 500.0  # spend that bought no GRP (row 4 has none)
    with pytest.raises(DataError) as err:
        load(df)
    text = str(err.value)
    assert "column 'tv_grps' (the units of 'tv', data.units_columns): units but no spend in 'tv' on 2023-01-23" in text
    assert "(row 5)" in text and "spend in 'tv' but no units on 2023-01-30 in geo 'a' (row 6)" in text
    with pytest.raises(DataError, match="data.units_columns: 'radio' is not one of data.channel_columns"):
        from_frame(frame(), channels=["tv", "search"], dims=["geo"], units={"radio": "tv_grps"})
    with pytest.raises(DataError, match=r"missing columns: 'tv_imps' \(data.units_columns"):
        from_frame(frame(), channels=["tv", "search"], dims=["geo"], units={"tv": "tv_imps"})


def _units_as_spend(data):
    """The same data with the GRPs in tv's place: what a model of units alone sees."""
    df = frame().assign(tv=lambda d: d.tv_grps)
    return from_frame(df, channels=["tv", "search"], dims=["geo"])


def test_roas_and_a_plans_response_rest_on_spend_and_units():
    """The fit is the units model's: same contribution. ROAS divides by money; a plan's spend buys units at the data's
    average price, so the units model's response at spend / price is the plan's."""
    data, plain = load(), _units_as_spend(load())
    spec = ModelSpec(yearly_seasonality=0)
    mmm, ref = build_model(spec, data), build_model(spec, plain)
    prior = sample_prior(mmm, 20, seed=1).prior
    contrib_units = prior["channel_contribution_original_scale"].sum(["date", "geo"]).stack(s=("chain", "draw"))
    roas = roas_draws(prior, data)
    np.testing.assert_allclose(roas, contrib_units.transpose("s", "channel").values / data.total_spend, rtol=1e-12)
    names = ["adstock_alpha", "saturation_lam", "saturation_beta"]
    idata = idata_from_truth(prior.isel(chain=0, draw=0), names, n_draws=2)
    plan = np.array([[3000.0, 80.0], [2500.0, 120.0]])  # spend per period, (geo, channel)
    units_plan = plan / data.cost_per_unit
    for history in (False, True):
        got = response_model(spec, data, idata, 4, n_draws=2, carryover_history=history).draws(plan)
        want = response_model(spec, plain, idata, 4, n_draws=2, carryover_history=history).draws(units_plan)
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert ref.channel_scale[..., 1] == pytest.approx(mmm.channel_scale[..., 1])


def test_a_roas_prior_holds_on_spend_over_the_observed_weeks():
    """In the cross-validation form the ROAS over the observed weeks is contribution over spend in those weeks (the
    GRPs' price rises: their value at the average price is not the spend there)."""
    data = load()
    spec = ModelSpec.model_validate({"yearly_seasonality": 0, "roas_priors": {"tv": {"distribution": "LogNormal",
                                                                                   "mean": 1.5, "std": 0.5}}})
    k = 18
    prior = sample_prior(build_model(spec, data, observed_weeks=k), 30, seed=2).prior
    c = prior["channel_contribution_original_scale"].isel(date=slice(0, k)).sel(channel="tv").sum(["date", "geo"])
    drawn = prior["media_roas"].sel(roas_channel="tv")
    np.testing.assert_allclose(c.values / data.spend[:k, :, 0].sum(), drawn.values, rtol=1e-9)
    assert abs(data.X[:k, :, 0].sum() / data.spend[:k, :, 0].sum() - 1) > 0.05  # the test can tell the two apart


def test_a_plan_csv_gives_units_or_buys_them_at_the_datas_price(tmp_path):
    data = load()
    future = pd.date_range(data.dates[-1] + pd.Timedelta(weeks=1), periods=3, freq="W-MON")
    rows = pd.DataFrame([{"date": d, "geo": g, "tv": 4000.0, "search": 100.0} for d in future for g in ("a", "b")])
    rows.to_csv(tmp_path / "plan.csv", index=False)
    plan = read_plan(tmp_path / "plan.csv", data)
    np.testing.assert_allclose(plan.X[..., 0], 4000.0)  # bought at the average price: the spend's own units
    rows.assign(tv_grps=25.0).to_csv(tmp_path / "plan_units.csv", index=False)
    plan = read_plan(tmp_path / "plan_units.csv", data)
    np.testing.assert_allclose(plan.X[..., 0], np.tile(25.0 * data.cost_per_unit[:, 0], (3, 1)))  # the planned GRPs
    np.testing.assert_allclose(plan.spend[..., 0], 4000.0)
    assert replace(data, S=None).spend is replace(data, S=None).X


def test_a_plan_at_another_cost_per_unit_buys_spend_over_that_price():
    """optimization.cost_per_unit: next quarter's GRP price. The plan's spend buys spend / price GRPs; the extrapolation
    guard is the spend that buys the most GRPs the data saw; the plan's records say the units and the price."""
    from mmmhelpers.config import OptimizationSpec
    from mmmhelpers.optimize import allocation_records, plan_unit_price

    data, plain = load(), _units_as_spend(load())
    spec = ModelSpec(yearly_seasonality=0)
    prior = sample_prior(build_model(spec, data), 5, seed=1).prior
    idata = idata_from_truth(prior.isel(chain=0, draw=0), ["adstock_alpha", "saturation_lam", "saturation_beta"], 2)
    opt = OptimizationSpec(budget=5000, cost_per_unit={"tv": 200.0})
    price = plan_unit_price(opt, data)
    assert price[:, 0] == pytest.approx([200.0, 200.0]) and price[:, 1] == pytest.approx(1.0)
    plan = np.array([[3000.0, 80.0], [2500.0, 120.0]])
    rm = response_model(spec, data, idata, 4, n_draws=2, unit_price=price)
    want = response_model(spec, plain, idata, 4, n_draws=2).draws(plan / np.array([200.0, 1.0]))
    np.testing.assert_allclose(rm.draws(plan), want, rtol=1e-10)
    np.testing.assert_allclose(rm.observed_max[:, 0], data.units[..., 0].max(axis=0) * 200.0)
    recs = allocation_records(rm, plan)
    assert recs[0].units_per_period == pytest.approx(15.0) and recs[0].cost_per_unit == 200.0
    assert "units_per_period" not in recs[1].model_dump()  # search is bought in money
    assert [r.label for r in recs] == ["tv @ a", "search @ a", "tv @ b", "search @ b"]  # numbers name no cell
    assert recs[2].model_dump() == {"channel": "tv", "geo": "b", "spend_per_period": recs[2].spend_per_period,
                                    "cost_per_unit": 200.0, "units_per_period": recs[2].units_per_period}


def test_a_price_per_market_reaches_each_markets_cells_and_a_market_left_out_keeps_its_own():
    from mmmhelpers.config import OptimizationSpec
    from mmmhelpers.optimize import plan_unit_price

    data = load()
    price = plan_unit_price(OptimizationSpec(budget=5000, cost_per_unit={"tv": {"b": 240.0}}), data)
    assert price[1, 0] == 240.0 and price[0, 0] == pytest.approx(data.cost_per_unit[0, 0])  # market a: its own
    both = plan_unit_price(OptimizationSpec(budget=5000, cost_per_unit={"tv": {"a": 150.0, "b": 240.0}}), data)
    assert both[:, 0].tolist() == [150.0, 240.0] and both[:, 1].tolist() == [1.0, 1.0]


def test_validate_names_a_price_for_a_channel_bought_in_money(tmp_path):
    from mmmhelpers.checks import check_case
    from mmmhelpers.config import load_params

    frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "case.yaml").write_text(
        "case: units\ntitle: Units\nseed: 1\n"
        "data: {path: data.csv, channel_columns: [tv, search], units_columns: {tv: tv_grps}, dims: [geo]}\n"
        "optimization: {budget: 5000, cost_per_unit: {search: 2.0}}\n")
    _, _, problems = check_case(load_params(tmp_path / "case.yaml"))
    assert problems == ["optimization.cost_per_unit: ['search'] is not bought in units (data.units_columns names "
                        "['tv']): a channel bought in money has no cost per unit"]
    (tmp_path / "case.yaml").write_text((tmp_path / "case.yaml").read_text().replace(
        "cost_per_unit: {search: 2.0}", "cost_per_unit: {tv: {a: 150, north: 2.0}}"))
    _, _, problems = check_case(load_params(tmp_path / "case.yaml"))
    assert problems == ["optimization.cost_per_unit.tv: unknown geo ['north'] (known: ['a', 'b'])"]
