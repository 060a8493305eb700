"""A case's data (``mmmhelpers.case_data``): a simulated case is its generator's data at the case's seed stream,
with the truth; a CSV case is its file, with the truth of its truth file and columns (a multiplier normalized by the
model's link); either sets the pages' period word unless ``report.period`` names it."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import Params, load_params
from mmmhelpers.formatting import UNITS, set_units
from mmmhelpers.seeds import seed_for
from mmmhelpers.simulate import simulate


@pytest.fixture(autouse=True)
def default_units():
    set_units()
    yield
    set_units()


def test_a_simulated_case_is_its_generators_data_at_the_cases_seed():
    params = Params(case="c", title="T", seed=11, simulate={"generator": "single_market", "n_weeks": 30})
    data, truth = prepare_data(params)
    want, want_truth = simulate(params.simulate, seed_for(11, "simulate"))
    assert data.n_dates == 30 and data.channels == want.channels
    np.testing.assert_array_equal(data.y, want.y)
    np.testing.assert_array_equal(data.spend, want.spend)
    xr.testing.assert_identical(truth, want_truth)
    other, _ = prepare_data(params.model_copy(update={"seed": 12}))
    assert not np.array_equal(other.y, data.y)  # the seed reaches the generator
    assert UNITS["period"] == "week"


MULT = np.array([1.0, 2.0, 4.0, 8.0, 2.0, 1.0, 0.5, 2.0, 4.0, 2.0, 2.0, 2.0])
"""The CSV's true media multiplier, one per month: sum 30.5, product 2**12 (geometric mean 2)."""


def write_case(tmp_path, model: str = "", report: str = "") -> Params:
    """12 months of two channels; the truth file holds y_sigma, the CSV a multiplier column and the params one
    adstock per channel."""
    dates = pd.date_range("2023-01-31", periods=12, freq="ME")
    pd.DataFrame({"date": dates, "x1": np.arange(1.0, 13.0), "x2": 2.0, "y": 100.0 + np.arange(12.0),
                  "fluct": MULT}).to_csv(tmp_path / "sales.csv", index=False)
    xr.Dataset({"y_sigma": 0.3}).to_netcdf(tmp_path / "truth.nc")
    (tmp_path / "case.yaml").write_text(
        "case: c\ntitle: T\nseed: 1\n"
        "data: {path: sales.csv, channel_columns: [x1, x2], truth: truth.nc,\n"
        "       truth_columns: {media_temporal_latent_multiplier: fluct}, truth_values: {adstock_alpha: [0.5, 0.4]}}\n"
        + (f"model: {model}\n" if model else "") + (f"report: {report}\n" if report else ""))
    return load_params(tmp_path / "case.yaml")


def test_a_csv_case_is_its_file_with_the_truth_of_its_truth_file_and_columns(tmp_path):
    data, truth = prepare_data(write_case(tmp_path))
    np.testing.assert_array_equal(data.y, 100.0 + np.arange(12.0))
    np.testing.assert_array_equal(data.spend[:, 0], np.arange(1.0, 13.0))
    assert sorted(truth.data_vars) == ["adstock_alpha", "media_temporal_latent_multiplier", "y_sigma"]
    assert truth["y_sigma"].item() == 0.3  # from the file
    assert truth["adstock_alpha"].sel(channel="x2").item() == 0.4  # from the params
    np.testing.assert_allclose(truth["media_temporal_latent_multiplier"].values, MULT / 2)  # exp link: geometric mean
    assert UNITS["period"] == "month"  # the data's word for the pages


def test_a_softplus_multiplier_is_normalized_by_its_mean_and_report_period_keeps_its_word(tmp_path):
    params = write_case(tmp_path, model="{time_varying_media: {link: softplus}}", report="{period: week}")
    set_units(period=params.report.period)  # as the notebooks' set-up does
    _, truth = prepare_data(params)
    np.testing.assert_allclose(truth["media_temporal_latent_multiplier"].values, MULT / (30.5 / 12))  # mean
    assert UNITS["period"] == "week"  # report.period: the monthly data do not override it
