"""Published vs this report (``mmmhelpers.published``): each kind of source resolved to this run's number (a posterior
quantity with its HDI and sd by numpy, a data value, a diagnostic, a plan's number), the verdicts at and around the
tolerance, and the table of a page with its relative difference, z-score and the model each number is compared with."""

from types import SimpleNamespace

import numpy as np
import pytest
from test_artifacts import ALLOC

from mmmhelpers.artifacts import Allocation
from mmmhelpers.config import ReportSpec, VariantSpec
from mmmhelpers.published import published_table, resolve_source


def _published_alloc():
    from mmmhelpers.artifacts import Allocation

    return Allocation.model_validate({
        "budget_per_period": 5.0, "num_periods": 8, "objective": "mean", "cells": ["x1", "x2"],
        "allocation": [{"channel": "x1", "spend_per_period": 2.8}, {"channel": "x2", "spend_per_period": 2.2}],
        "response": {"mean": 10.0, "hdi_94": [8.0, 12.0]},
        "initial": {"allocation": [], "response": {"mean": 9.0, "hdi_94": [7.0, 11.0]}}, "scenarios": [],
        "optimizer": {}})


def test_published_sources_resolve_to_this_reports_numbers(fitted):
    from mmmhelpers.published import resolve_source

    _, idata, _ = fitted
    alloc = _published_alloc()
    assert resolve_source("allocation:x2", idata, alloc)[0] == 2.2
    assert resolve_source("response:historical", idata, alloc)[0] == 9.0
    draws = idata.posterior["saturation_lam"].sel(channel="x1").values.ravel()
    mean, low, high, sd = resolve_source("posterior:saturation_lam[x1]", idata, alloc)
    assert mean == pytest.approx(draws.mean()) and sd == pytest.approx(draws.std())
    assert (low, high) == pytest.approx((draws.min(), draws.max()))  # 3 draws: the 94% HDI spans them all
    idata = idata.copy()
    import xarray as xr

    scales = xr.DataArray([13812.08, 11002.98], dims=["geo"], coords={"geo": ["geo_a", "geo_b"]})
    idata.add_groups(constant_data=xr.Dataset({"target_scale": scales}))
    assert resolve_source("data:target_scale[geo_b]", idata)[0] == 11002.98
    assert resolve_source("diagnostics:divergences", idata, diag=SimpleNamespace(divergences=3))[0] == 3
    with pytest.raises(KeyError, match="unknown cell"):
        resolve_source("allocation:tv", idata, alloc)
    with pytest.raises(KeyError, match="give 1 coordinate"):
        resolve_source("posterior:saturation_lam", idata, alloc)


def test_published_verdicts_and_the_page_each_number_goes_on(fitted):
    from pydantic import ValidationError

    from mmmhelpers.config import ReportSpec
    from mmmhelpers.published import published_table, verdict

    assert verdict(0.475, 0.47, 0.1, 0.9, 0.05) == "agrees (within 5%; inside our 94% HDI)"
    assert verdict(0.8, 0.47, 0.1, 0.9, 0.05) == "inside our 94% HDI, but -41% off: not agreement"
    assert verdict(0.95, 0.47, 0.1, 0.9, 0.05) == "outside our 94% HDI"
    assert verdict(2.80, 2.85, np.nan, np.nan, 0.05) == "agrees (within 5%)"
    assert verdict(2.80, 3.08, np.nan, np.nan, 0.05) == "differs by +10%"
    assert verdict(0, 0, np.nan, np.nan, 0) == "same" and verdict(0, 2, np.nan, np.nan, 0) == "differs"
    _, idata, _ = fitted
    report = ReportSpec(published=[
        {"label": "lam x1", "value": 0.5, "source": "posterior:saturation_lam[x1]"},
        {"label": "x1 spend", "value": 2.8, "source": "allocation:x1"},
        {"label": "missing", "value": 1.0, "source": "posterior:no_such_var"}])
    params = SimpleNamespace(report=report)
    fit = published_table(params, "fit", idata)
    assert list(fit["quantity"]) == ["lam x1", "missing"]
    assert fit["verdict"].iloc[1] == "not found" and "not found" in fit["note"].iloc[1]
    draws = idata.posterior["saturation_lam"].sel(channel="x1").values.ravel()
    assert fit["z-score"].iloc[0] == pytest.approx((draws.mean() - 0.5) / draws.std())
    assert fit["relative difference"].iloc[0] == pytest.approx((draws.mean() - 0.5) / 0.5)
    plans = published_table(params, "optimize", idata, _published_alloc())
    assert list(plans["verdict"]) == ["agrees (within 5%)"]
    with pytest.raises(ValidationError, match="unknown source kind"):
        ReportSpec(published=[{"label": "x", "value": 1, "source": "posteriors:x"}])


def test_every_plan_source_is_the_records_number_and_a_missing_plan_is_named():
    raw = {**ALLOC, "alternatives": [{**ALLOC["alternatives"][0], "allocation": [
        {"channel": "x1", "spend_per_period": 2500.0}, {"channel": "x2", "spend_per_period": 1500.0}]}]}
    alloc = Allocation.model_validate(raw)
    assert resolve_source("allocation:x1", None, alloc).value == 5000.0
    assert resolve_source("alternative:half:x2", None, alloc).value == 1500.0
    assert resolve_source("target_budget", None, alloc).value == 5000.0
    assert [resolve_source(f"response:{p}", None, alloc).value for p in ("optimal", "historical", "equal", "half")] \
        == [1200.0, 1000.0, 1200.0, 1200.0]
    value = resolve_source("response:optimal", None, alloc)
    assert np.isnan(value.low) and np.isnan(value.high) and np.isnan(value.sd)  # a plan's number has no interval
    bare = _published_alloc()  # no equal split, no target, no multi-objective block
    with pytest.raises(KeyError, match="this run has no such plan"):
        resolve_source("response:equal", None, bare)
    with pytest.raises(KeyError, match="unknown source target_budget"):
        resolve_source("target_budget", None, bare)
    with pytest.raises(KeyError, match="no constrained plan"):
        resolve_source("multi_objective:binds", None, alloc)  # the record's block has no constrained plan
    with pytest.raises(KeyError, match="this run has no allocation"):
        resolve_source("allocation:x1", None, None)
    with pytest.raises(KeyError, match="the plan has 0 of 2 cells"):  # a failed alternative's solve left no cells
        resolve_source("alternative:half:x2", None, Allocation.model_validate(ALLOC))


def test_each_number_is_compared_with_its_model_variant():
    report = ReportSpec(published=[
        {"label": "divergences", "value": 0, "source": "diagnostics:divergences", "tolerance": 0},
        {"label": "divergences, no seasonality", "value": 0, "source": "diagnostics:divergences", "tolerance": 0,
         "variant": "no-seas"},
        {"label": "other", "value": 1, "source": "diagnostics:divergences", "variant": "other", "note": "n"}])
    params = SimpleNamespace(report=report, model_variants=[VariantSpec(name="no-seas", label="no seasonality"),
                                                            VariantSpec(name="other")])
    table = published_table(params, "fit", None, diag=SimpleNamespace(divergences=0),
                            variants={"no-seas": (None, SimpleNamespace(divergences=2))})
    assert list(table["model"]) == ["main model", "no seasonality", "other"]
    assert list(table["this report"][:2]) == [0.0, 2.0] and np.isnan(table["this report"].iloc[2])
    assert list(table["verdict"]) == ["same", "differs", "not found"]
    assert table["note"].iloc[2] == "n (not found: \"model variant 'other' was not fitted\")"
    assert table["relative difference"].isna().all()  # published 0, or not found: none
    assert table["z-score"].isna().all() and list(table["94% HDI"]) == ["", "", ""]  # diagnostics: no posterior
