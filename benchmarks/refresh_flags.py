"""A refresh with four new weeks, judged against a truth: does it flag what changed, and only that; how long it takes.

    .venv/bin/python benchmarks/refresh_flags.py [--weeks 120] [--new 4] [--priors last_report]

A weekly CSV with a known truth (three channels: tv in flights, steady search, social in bursts; geometric adstock,
logistic saturation, 3% noise) is written twice: **stable**, whose new weeks follow the same truth, and **shift**,
whose new weeks double social's effect. Each is run as a client would: a first report on the first ``weeks``
weeks (``mmm-report run``; the stable one on an empty compile cache, as a new machine), then the same params on
the data with ``new`` weeks more, which replaces the report (the data diff, the backtest of the last report's
model on the new weeks, the history with each channel's ROAS and whether it moved beyond the last report's 94%
interval). The table gives the timings, the channels flagged as moved, the backtest's scores and the term of the
model its miss points to (``refresh.shift_causes``: the one term that, scaled, best explains the miss, named when
it is likely, P >= 80%, to be the one that changed). ``--priors last_report``: the refresh carries the first
report's posterior as its priors and counts the new weeks only (both runs keep the first report's scales).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = {"tv": (0.5, 2.0, 0.30), "search": (0.2, 3.0, 0.25), "social": (0.3, 1.5, 0.20)}  # alpha, lam, beta


def weekly_data(weeks: int, new: int, shift: float, seed: int = 11) -> pd.DataFrame:
    """The truth's weekly sales over ``weeks + new`` weeks; social's effect times ``shift`` in the last ``new``."""
    rng = np.random.default_rng(seed)
    n = weeks + new
    spend = {"tv": rng.lognormal(8.3, 0.3, n) * (rng.random(n) < 0.6),
             "search": rng.lognormal(8.0, 0.15, n),
             "social": rng.lognormal(7.6, 0.4, n) * (np.arange(n) % 3 == 0)}
    sales = np.full(n, 5000.0) * (1 + 0.1 * np.sin(2 * np.pi * np.arange(n) / 52.18))
    for ch, (alpha, lam, beta) in CHANNELS.items():
        x = spend[ch] / spend[ch][:weeks].max()
        carried = np.array([sum(alpha ** k * x[t - k] for k in range(min(8, t + 1))) for t in range(n)])
        effect = beta * 10000 * (1 - np.exp(-lam * carried)) / (1 + np.exp(-lam * carried))
        if ch == "social":
            effect[weeks:] *= shift
        sales += effect
    sales *= 1 + 0.03 * rng.standard_normal(n)
    dates = pd.date_range("2023-01-02", periods=n, freq="W-MON")
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **{k: v.round(2) for k, v in spend.items()},
                         "sales": sales.round(0)})


def params(data_path: Path, budget: float, priors: str = "params", until: str | None = None) -> dict:
    """A params file for the CSV: the product's defaults but a short holdout and no stability refits (speed);
    ``priors`` and ``until``: the refresh's priors and the scales' last date."""
    return {"case": "refresh_flags", "title": "Refresh flags", "seed": 5, "refresh": {"priors": priors},
            "data": {"path": str(data_path), "date_column": "date", "target_column": "sales",
                     "channel_columns": list(CHANNELS)},
            "model": {"adstock": {"type": "geometric", "l_max": 8}, "saturation": {"type": "logistic"},
                      "yearly_seasonality": 1, **({"scaling": {"until": until}} if until else {})},
            "fit": {"chains": 4, "tune": 1000, "draws": 1000},
            "out_of_sample": {"holdout_weeks": 4, "rolling_origins": 0, "stability_refits": 0},
            "optimization": {"budget": budget, "num_periods": 8}}


def run(params_file: Path, out: Path, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mmmhelpers.cli", "run", str(params_file), "--out", str(out),
                           "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{params_file.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=120)
    parser.add_argument("--new", type=int, default=4)
    parser.add_argument("--priors", choices=["params", "last_report"], default="params")
    args = parser.parse_args()
    from mmmhelpers.refresh import roas_history

    rows = []
    with tempfile.TemporaryDirectory(prefix="refresh_flags_") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTENSOR_FLAGS": f"base_compiledir={tmp / 'cache'}"}
        for name, shift in (("stable", 1.0), ("shift (social's effect x2 in the new weeks)", 2.0)):
            full = weekly_data(args.weeks, args.new, shift)
            budget = float(full[list(CHANNELS)].iloc[: args.weeks].sum(axis=1).mean())
            out = tmp / f"report_{shift}"
            times = []
            for k, frame in enumerate((full.iloc[: args.weeks], full)):
                csv, yml = tmp / f"data_{shift}_{k}.csv", tmp / f"params_{shift}_{k}.yaml"
                frame.to_csv(csv, index=False)
                until = full["date"].iloc[args.weeks - 1] if args.priors == "last_report" else None
                yml.write_text(yaml.safe_dump(params(csv, budget, args.priors if k else "params", until)))
                times.append(run(yml, out, env))
            history = roas_history(out)
            moved = sorted(history.loc[history["moved"], "channel"]) if history is not None else []
            back = json.loads((out / "artifacts" / "backtest.json").read_text())
            rows.append({"data": name, "first report s": times[0], "refresh s": times[1],
                         "refresh / first": times[1] / times[0], "ROAS flagged as moved": ", ".join(moved) or "none",
                         "backtest CRPS": back["crps"], "backtest MAPE": back["mape"],
                         "backtest 94% coverage": back["coverage_94"],
                         "backtest's miss points to": back.get("shifted") or "none",
                         "why": back.get("shift_reason", "")})
            print(f"  {name}: first {times[0]:.0f} s, refresh {times[1]:.0f} s, moved: {moved}", file=sys.stderr,
                  flush=True)
    print(f"{args.weeks} weekly periods, then {args.new} more; 4 chains x (1000 + 1000); the first stable report on "
          f"an empty compile cache (a new machine), the rest warm; the refresh's priors: {args.priors}.\n")
    cells = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    print("\n".join("| " + " | ".join(c) + " |" for c in cells))


if __name__ == "__main__":
    main()
