"""Reading and writing the files under ``<run_dir>/artifacts/`` that stages pass to each other."""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmmhelpers.config import Params
from mmmhelpers.data import MMMData, from_frame, load_csv
from mmmhelpers.simulate import simulate

__all__ = ["artifacts_dir", "prepare_data", "save_data", "load_data", "load_truth", "save_json", "load_json",
           "save_idata", "load_idata"]


def artifacts_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir) / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_data(params: Params) -> tuple[MMMData, xr.Dataset | None]:
    """Simulate (truth known) or load + validate the CSV (truth from ``data.truth`` if given)."""
    if params.data.path is not None:
        data = load_csv(params.resolve(params.data.path), params.data)
        truth = xr.load_dataset(params.resolve(params.data.truth)) if params.data.truth else None
        return data, truth
    return simulate(params.simulate, params.seed)


def save_data(run_dir: str | Path, data: MMMData, truth: xr.Dataset | None) -> None:
    """Write ``data.csv`` (+ its column roles) and ``truth.nc`` when the truth is known."""
    out = artifacts_dir(run_dir)
    data.to_frame().to_csv(out / "data.csv", index=False)
    roles = {"date_column": data.date_column, "target_column": data.target_column, "channel_columns": data.channels,
             "control_columns": data.controls, "dims": data.dims}
    save_json(out / "data_columns.json", roles)
    if truth is not None:
        truth.to_netcdf(out / "truth.nc", engine="h5netcdf")


def load_data(run_dir: str | Path) -> MMMData:
    """The model input written by stage 01."""
    out = artifacts_dir(run_dir)
    roles = load_json(out / "data_columns.json")
    df = pd.read_csv(out / "data.csv")
    return from_frame(df, channels=roles["channel_columns"], controls=roles["control_columns"], dims=roles["dims"],
                      date_column=roles["date_column"], target_column=roles["target_column"], source=str(out / "data.csv"))


def load_truth(run_dir: str | Path) -> xr.Dataset | None:
    path = artifacts_dir(run_dir) / "truth.nc"
    return xr.load_dataset(path, engine="h5netcdf") if path.exists() else None


def _default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp, np.datetime64)):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def save_json(path: str | Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=_default) + "\n")


def load_json(path: str | Path):
    return json.loads(Path(path).read_text())


def save_idata(run_dir: str | Path, idata: az.InferenceData) -> Path:
    """``idata.nc`` with zlib compression of every variable."""
    path = artifacts_dir(run_dir) / "idata.nc"
    idata.to_netcdf(str(path), compress=True, engine="h5netcdf")
    return path


def load_idata(run_dir: str | Path) -> az.InferenceData:
    return az.from_netcdf(str(artifacts_dir(run_dir) / "idata.nc"), engine="h5netcdf")
