"""``mmm-report new``: columns, markets and frequency detected from a CSV; the params validate without edits."""

import numpy as np
import pandas as pd
import pytest
import yaml

from mmmhelpers.checks import check_case
from mmmhelpers.config import load_params
from mmmhelpers.new_case import detect_columns, write_new_case


def _sales(freq: str, n: int, markets=(), seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for m in markets or [None]:
        df = pd.DataFrame({"Week Start": pd.date_range("2023-01-02", periods=n, freq=freq).strftime("%Y-%m-%d"),
                           "TV Spend": rng.uniform(0, 5000, n), "search_cost": rng.uniform(500, 3000, n),
                           "promo": rng.integers(0, 2, n), "price": rng.normal(10, 1, n),
                           "revenue": rng.normal(20000, 2000, n), "t": np.arange(n)})
        if m is not None:
            df.insert(1, "region", m)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("freq, n, markets, period", [("W-MON", 104, (), "week"), ("D", 400, (), "day"),
                                                       ("W-MON", 60, ("north", "south", "east"), "week"),
                                                       ("MS", 48, (), "month"), ("ME", 36, ("north", "south"), "month")])
def test_new_detects_the_columns_and_the_params_validate_without_edits(tmp_path, freq, n, markets, period):
    csv = tmp_path / "data" / "client.csv"
    csv.parent.mkdir()
    _sales(freq, n, markets).to_csv(csv, index=False)
    path, d = write_new_case("client", csv, tmp_path / "params")
    assert (d.date_column, d.target, d.period, d.n_dates) == ("Week Start", "revenue", period, n)
    assert d.channels == ["TV Spend", "search_cost"] and d.controls == ["promo", "price"] and d.ignored == ["t"]
    assert d.dims == (["region"] if markets else []) and d.markets == max(1, len(markets))
    text = path.read_text()
    assert "guessed: price: not named like spend" in text and "description" not in text
    raw = yaml.safe_load(text)
    assert raw["data"]["channel_columns"] == ["TV Spend", "search_cost"]
    if markets:  # priors fit several markets: per-market intercept and a pooled channel effect
        assert raw["model"]["priors"]["intercept"]["dims"] == ["region"]
        assert raw["model"]["saturation"]["priors"]["beta"]["dims"] == ["region", "channel"]
    else:
        assert "dims" not in raw["model"]["priors"]["intercept"]
    assert raw["model"].get("weekday_seasonality", False) == (period == "day")
    params = load_params(path)
    data, _, problems = check_case(params)
    assert problems == [] and data.channels == ["TV Spend", "search_cost"]
    with pytest.raises(FileExistsError):
        write_new_case("client", csv, tmp_path / "params")


def test_new_marks_what_it_could_not_decide():
    df = _sales("W-MON", 60).rename(columns={"TV Spend": "alpha", "search_cost": "beta", "revenue": "kpi_total"})
    d = detect_columns(df.drop(columns=["price"]))
    assert d.target == "kpi_total" and d.channels == ["alpha", "beta"] and "channel_columns" in d.guesses
    with pytest.raises(Exception, match="no column of dates"):
        detect_columns(df.drop(columns=["Week Start"]))


def test_new_reads_units_organic_media_population_and_leaves_truth_columns_out(tmp_path):
    """TV bought in impressions beside its spend, a newsletter without spend, each market's population, and a
    simulated truth kept in the CSV: each in its role, and the params validate without edits."""
    frames = []
    rng = np.random.default_rng(1)
    for m, people in [("north", 8000), ("south", 600)]:
        imps = rng.uniform(0, 3000, 60) * people / 1000
        frames.append(pd.DataFrame({"week": pd.date_range("2023-01-02", periods=60, freq="W-MON"), "market": m,
                                    "tv_spend": imps * 1.1, "tv_impressions": imps, "search_spend": rng.uniform(1, 9, 60),
                                    "newsletter_sends": rng.poisson(3, 60), "population": people,
                                    "tv_contribution": imps * 0.1, "sales": rng.normal(9000, 500, 60)}))
    csv = tmp_path / "client.csv"
    pd.concat(frames).to_csv(csv, index=False)
    path, d = write_new_case("client", csv, tmp_path / "params")
    assert d.channels == ["tv_spend", "search_spend"] and d.units == {"tv_spend": "tv_impressions"}
    assert d.organic == ["newsletter_sends"] and d.population == "population" and d.ignored == ["tv_contribution"]
    raw = yaml.safe_load(path.read_text())
    assert raw["data"]["units_columns"] == {"tv_spend": "tv_impressions"}
    assert raw["model"]["scaling"] == {"target": "per_capita", "channel": "per_capita"}
    data, _, problems = check_case(load_params(path))
    assert problems == [] and data.units_columns == {"tv_spend": "tv_impressions"}
    assert d.budget == pytest.approx(pd.concat(frames).groupby("week")[["tv_spend", "search_spend"]].sum().sum(1).mean())
