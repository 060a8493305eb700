"""The fit page's tables (``mmmhelpers.fit_page``): the scales the model divides by against the data's maxima per
market, every scalar parameter's summary (which parameters, worst-mixing first, means and sds by numpy) and the
media contributions with each draw's share of media by hand."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
from test_units import frame, load

from mmmhelpers.config import ModelSpec
from mmmhelpers.data import from_frame
from mmmhelpers.fit_page import contribution_summary, parameter_summary, scales_table
from mmmhelpers.model import build_model


def test_the_scales_are_each_markets_largest_target_and_media_in_their_own_units():
    mmm = build_model(ModelSpec(), load())  # tv bought in GRPs, search in money
    table = scales_table(mmm)
    assert list(table.columns) == ["market", "target", "tv tv_grps", "search spend"]
    assert list(table["market"]) == ["a", "b"]
    largest = frame().groupby("geo")[["y", "tv_grps", "search"]].max()
    np.testing.assert_allclose(table["target"], largest["y"])
    np.testing.assert_allclose(table["tv tv_grps"], largest["tv_grps"])  # GRPs, not money
    np.testing.assert_allclose(table["search spend"], largest["search"])


def test_a_single_markets_scales_are_one_row_named_all():
    dates = pd.date_range("2024-01-01", periods=5, freq="7D")
    df = pd.DataFrame({"date": dates, "x1": [1.0, 4.0, 2.0, 0.0, 3.0], "y": [10.0, -30.0, 20.0, 5.0, 1.0]})
    table = scales_table(build_model(ModelSpec(), from_frame(df, channels=["x1"])))
    assert table.to_dict("records") == [{"market": "all", "target": 30.0, "x1 spend": 4.0}]  # the largest |y|


@pytest.fixture(scope="module")
def posterior():
    """2 chains x 300 draws: ``stuck`` sits at 0 in one chain and 5 in the other, the rest are independent draws;
    a per-date quantity, an original-scale one and a media contribution that the table leaves out."""
    rng = np.random.default_rng(1)
    shape = (2, 300)
    post = {"alpha": rng.normal(0.0, 1.0, shape),
            "stuck": np.stack([rng.normal(0.0, 0.1, 300), rng.normal(5.0, 0.1, 300)]),
            "beta": rng.normal([1.0, 3.0], 0.2, (*shape, 2)),
            "intercept_contribution": rng.normal(2.0, 0.5, shape),
            "media_contribution": rng.normal(0.0, 1.0, shape),
            "mu": rng.normal(0.0, 1.0, (*shape, 4)),
            "y_original_scale": rng.normal(0.0, 1.0, shape)}
    return az.from_dict(posterior=post, dims={"beta": ["channel"], "mu": ["date"]},
                        coords={"channel": ["x1", "x2"], "date": np.arange(4)})


def test_the_parameter_summary_lists_the_scalar_parameters_worst_mixing_first(posterior):
    table = parameter_summary(posterior)
    assert list(table.columns) == ["parameter", "mean", "sd", "HDI 3%", "HDI 97%", "bulk ESS", "R-hat"]
    assert sorted(table["parameter"]) == ["alpha", "beta[x1]", "beta[x2]", "intercept_contribution", "stuck"]
    assert table["parameter"].iloc[0] == "stuck"  # two chains that never meet: the fewest effective draws
    assert list(table["bulk ESS"]) == sorted(table["bulk ESS"])
    rows = table.set_index("parameter")
    assert rows.loc["stuck", "R-hat"] > 1.5 and rows.loc["alpha", "R-hat"] < 1.02
    post = posterior.posterior
    draws = {"alpha": post["alpha"], "stuck": post["stuck"], "intercept_contribution": post["intercept_contribution"],
             "beta[x1]": post["beta"].sel(channel="x1"), "beta[x2]": post["beta"].sel(channel="x2")}
    for name, da in draws.items():
        x = da.values.ravel()
        assert rows.loc[name, "mean"] == pytest.approx(x.mean(), abs=0.006)  # the table rounds to 2 decimals
        assert rows.loc[name, "sd"] == pytest.approx(x.std(ddof=1), abs=0.006)
        assert rows.loc[name, "HDI 3%"] < x.mean() < rows.loc[name, "HDI 97%"]
        assert np.mean((x >= rows.loc[name, "HDI 3%"]) & (x <= rows.loc[name, "HDI 97%"])) == pytest.approx(0.94,
                                                                                                            abs=0.02)


def test_each_channels_contribution_and_its_share_of_media_per_draw():
    """Two draws over 4 weeks and 2 markets: x1 adds 1 and x2 3 in every cell in draw 0, both 1 in draw 1."""
    dates = pd.date_range("2024-01-01", periods=4, freq="7D")
    df = pd.DataFrame([{"date": d, "geo": g, "x1": 10.0 * (i + 1), "x2": 2.0, "y": 5.0}
                       for i, d in enumerate(dates) for g in ("a", "b")])
    data = from_frame(df, channels=["x1", "x2"], dims=["geo"])
    per_cell = np.array([[1.0, 3.0], [1.0, 1.0]])  # (draw, channel)
    c = np.broadcast_to(per_cell[None, :, None, None, :], (1, 2, 4, 2, 2)).copy()
    idata = az.from_dict(posterior={"channel_contribution_original_scale": c},
                         dims={"channel_contribution_original_scale": ["date", "geo", "channel"]},
                         coords={"date": dates, "geo": ["a", "b"], "channel": ["x1", "x2"]})
    table = contribution_summary(idata, data)
    assert list(table.columns) == ["channel", "spend", "contribution", "share of media"]
    np.testing.assert_allclose(table["spend"], [2 * (10 + 20 + 30 + 40), 2 * 4 * 2.0])
    np.testing.assert_allclose(table["contribution"], [(8 + 8) / 2, (24 + 8) / 2])  # 8 cells per draw
    np.testing.assert_allclose(table["share of media"], [(8 / 32 + 8 / 16) / 2, (24 / 32 + 8 / 16) / 2])
