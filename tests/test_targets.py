"""Several targets: each target's own data, from a column of the CSV or one market of a panel."""

from pathlib import Path

import numpy as np
import pandas as pd

from mmmhelpers.artifacts import load_data
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.targets import save_case_data, split_targets, target_dir

ROOT = Path(__file__).resolve().parent.parent


def test_a_csv_splits_by_target_column(tmp_path):
    dates = pd.date_range("2024-01-01", periods=30, freq="7D")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"date": dates, "x1": rng.uniform(0, 5, 30), "x2": rng.uniform(0, 5, 30),
                       "new": rng.uniform(10, 20, 30), "back": rng.uniform(1, 2, 30)})
    df.to_csv(tmp_path / "two.csv", index=False)
    (tmp_path / "case.yaml").write_text(
        "case: two\ntitle: T\nseed: 1\ndata: {path: two.csv, target_column: new, channel_columns: [x1, x2]}\n"
        "targets: [{name: new_users, column: new}, {name: reengage, column: back}]\n")
    params = load_params(tmp_path / "case.yaml")
    data, truth = prepare_data(params)
    parts = split_targets(params, data, truth)
    np.testing.assert_array_equal(parts["new_users"][0].y, df["new"].to_numpy())
    np.testing.assert_array_equal(parts["reengage"][0].y, df["back"].to_numpy())
    np.testing.assert_array_equal(parts["reengage"][0].X, parts["new_users"][0].X)  # the same spend
    save_case_data(tmp_path / "run", params, data, truth)
    assert (load_data(tmp_path / "run").y == df["new"].to_numpy()).all()  # the first target is the main data
    assert (load_data(target_dir(tmp_path / "run", "reengage")).y == df["back"].to_numpy()).all()


def test_markets_split_into_single_market_data():
    params = load_params(ROOT / "params" / "multi_market.yaml")
    data, truth = prepare_data(params)
    parts = split_targets(params, data, truth)
    a, b = parts["geo_a"][0], parts["geo_b"][0]
    assert a.panel == {} and b.panel == {} and a.X.shape == (179, 2)
    np.testing.assert_array_equal(a.y, data.y[:, data.panel["geo"].index("geo_a")])
    np.testing.assert_array_equal(b.C, data.C[:, data.panel["geo"].index("geo_b")])
