"""Hill saturation over many markets: leapfrog steps per draw, min ESS and recovery under three ways to set the
Hill priors (issue #33: at scale the steps per draw are the cost).

The data (known truth, a shape the model was not tuned to): ``markets`` x ``channels`` x 156 weeks; geometric
adstock and Hill saturation with a slope, half-saturation point and ceiling of their own in every (market, channel)
cell; 12 controls per market with coefficients of their own; a yearly cycle; markets of different size. Every
model has a Beta(1, 3) adstock per cell, a ceiling per cell (HalfNormal(1.5)), and controls, Fourier terms and an
intercept per market. The variants differ in the slope and half-saturation priors:

* ``per cell, defaults``: the components' defaults, HalfNormal(1.5), in every (market, channel) cell;
* ``per cell, slope away from 0``: a slope Gamma(mean 1.5, sd 0.75) and kappa Gamma(mean 0.5, sd 0.4) per cell
  (a flat curve is an intercept; the half-saturation point inside the spend seen);
* ``per channel``: the same priors, one slope and one kappa per channel shared by the markets (the curve's shape
  pooled, its ceiling per market);
* ``per channel, low-rank mass matrix``: the same, with ``fit.mass_matrix: low_rank`` (nutpie's adaptation of the
  posterior's correlations).

Each is fitted once with the default fit settings otherwise (nutpie, 4 chains x 1,000 + 1,000). Prints one row each:
compile and sampling seconds, the estimates said before sampling (a range's top) and early in the warm-up,
leapfrog steps per draw, divergences, max R-hat, min bulk ESS, min-ESS per sampling second, and the median error
of a (market, channel) cell's total contribution against the truth.

    python benchmarks/hill_markets.py                  # 8 markets x 8 channels, every variant
    python benchmarks/hill_markets.py 3 4              # 3 markets x 4 channels
    python benchmarks/hill_markets.py 8 8 "per channel"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "data"))
from make_client_panel import _carry  # noqa: E402  (the truth's adstock: one numpy implementation for the generators)

WEEKS = 156
L_MAX = 8
N_CONTROLS = 12
CHANNEL_NAMES = ["tv", "radio", "search", "social", "display", "video", "print", "ooh"]


def _hill(x: np.ndarray, slope: float, kappa: float) -> np.ndarray:
    """``x**slope / (kappa**slope + x**slope)`` in numpy (0 at x = 0)."""
    xs = np.power(np.maximum(x, 0.0), slope)
    return xs / (kappa**slope + xs)


def make_case(n_markets: int, n_channels: int, folder: Path, seed: int = 7) -> tuple[Path, np.ndarray]:
    """A CSV and params file; the true total contribution of each (market, channel) cell."""
    rng = np.random.default_rng(seed)
    channels = CHANNEL_NAMES[:n_channels] if n_channels <= len(CHANNEL_NAMES) else \
        [f"ch{i}" for i in range(n_channels)]
    controls = [f"control_{k}" for k in range(N_CONTROLS)]
    dates = pd.date_range("2023-01-02", periods=WEEKS, freq="7D")
    size = np.exp(rng.uniform(np.log(0.5), np.log(3.0), n_markets))
    truth = np.zeros((n_markets, n_channels))
    rows = []
    for m in range(n_markets):
        spend = rng.gamma(4.0, 250.0 * size[m], (WEEKS, n_channels)) * (rng.random((WEEKS, n_channels)) < 0.7)
        media = np.zeros(WEEKS)
        for c in range(n_channels):
            alpha, slope, kappa = rng.uniform(0.1, 0.7), rng.uniform(0.8, 2.5), rng.uniform(0.2, 0.7)
            part = rng.uniform(300.0, 1500.0) * size[m] * _hill(_carry(spend[:, c] / spend[:, c].max(), alpha, L_MAX),
                                                                slope, kappa)
            truth[m, c] = part.sum()
            media += part
        z = rng.normal(0.0, 1.0, (WEEKS, N_CONTROLS))
        season = 300.0 * size[m] * np.sin(2 * np.pi * dates.day_of_year / 365.25 + rng.uniform(0, 2 * np.pi))
        sales = 5000.0 * size[m] + season + z @ rng.normal(0.0, 100.0, N_CONTROLS) * size[m] + media \
            + rng.normal(0.0, 200.0 * size[m], WEEKS)
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "market": f"m{m:02d}",
                                  **{ch: np.round(spend[:, c], 2) for c, ch in enumerate(channels)},
                                  **{k: np.round(z[:, i], 4) for i, k in enumerate(controls)},
                                  "sales": np.round(sales, 1)}))
    pd.concat(rows).to_csv(folder / "sales.csv", index=False)
    (folder / "case.yaml").write_text(f"""case: hill_markets_{n_markets}x{n_channels}
title: {n_markets} markets x {n_channels} channels, Hill saturation
seed: 1
data: {{path: sales.csv, target_column: sales, channel_columns: [{", ".join(channels)}],
       control_columns: [{", ".join(controls)}], dims: [market]}}
model:
  adstock:
    type: geometric
    l_max: {L_MAX}
    priors: {{alpha: {{distribution: Beta, alpha: 1, beta: 3, dims: [market, channel]}}}}
  saturation:
    type: hill
    priors:
      slope: {{distribution: HalfNormal, sigma: 1.5, dims: [market, channel]}}
      kappa: {{distribution: HalfNormal, sigma: 1.5, dims: [market, channel]}}
      beta: {{distribution: HalfNormal, sigma: 1.5, dims: [market, channel]}}
  yearly_seasonality: 2
  priors:
    intercept: {{distribution: Normal, mu: 0.5, sigma: 0.5, dims: [market]}}
    gamma_control: {{distribution: Normal, mu: 0, sigma: 0.5, dims: [market, control]}}
    gamma_fourier: {{distribution: Normal, mu: 0, sigma: 0.5, dims: [market, fourier_mode]}}
""")
    return folder / "case.yaml", truth


def _gamma(mu: float, sigma: float, dims: list[str]) -> dict:
    return {"distribution": "Gamma", "mu": mu, "sigma": sigma, "dims": dims}


_SHAPE_PER_CELL = {"slope": _gamma(1.5, 0.75, ["market", "channel"]), "kappa": _gamma(0.5, 0.4, ["market", "channel"])}
_SHAPE_PER_CHANNEL = {"slope": _gamma(1.5, 0.75, ["channel"]), "kappa": _gamma(0.5, 0.4, ["channel"])}
VARIANTS = {  # name -> (the saturation priors that replace the case's, the fit settings that replace the defaults)
    "per cell, defaults": ({}, {}),
    "per cell, slope away from 0": (_SHAPE_PER_CELL, {}),
    "per channel": (_SHAPE_PER_CHANNEL, {}),
    "per channel, low-rank mass matrix": (_SHAPE_PER_CHANNEL, {"mass_matrix": "low_rank"}),
}


def fit_case(n_markets: int, n_channels: int, variant: str) -> dict:
    """Fit the case with the saturation priors of ``variant`` and the default fit settings."""
    import yaml
    from many_markets import fit_file

    with tempfile.TemporaryDirectory() as tmp:
        path, truth = make_case(n_markets, n_channels, Path(tmp))
        raw = yaml.safe_load(path.read_text())
        priors, fit = VARIANTS[variant]
        raw["model"]["saturation"]["priors"].update(priors)
        raw["fit"] = fit
        path.write_text(yaml.safe_dump(raw))
        idata, timings, diag, wall = fit_file(path)
    est = idata.posterior["channel_contribution_original_scale"].sum("date").mean(("chain", "draw"))
    errors = np.abs(est.transpose("market", "channel").values / truth - 1)
    return {"cells": f"{n_markets} x {n_channels}", "Hill priors": variant,
            "compile s": round(diag.compile_seconds, 1), "sampling s": round(diag.sampling_seconds, 1),
            "estimate s (before)": round(timings["estimated_sampling_seconds"]),
            "estimate s (warm-up)": round(timings.get("warmup_estimate_seconds") or float("nan")),
            "wall s": round(wall, 1), "steps per draw": diag.steps_per_draw, "divergences": diag.divergences,
            "max R-hat": diag.rhat_max, "min ESS": diag.ess_bulk_min,
            "min-ESS/s": round(diag.ess_bulk_min / diag.sampling_seconds, 1),
            "median contribution error": f"{np.median(errors):.1%}"}


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(f"{v:,}" if isinstance(v, int | float) else str(v) for v in row) + " |"
                               for row in table.itertuples(index=False)])


def main(args: list[str]) -> None:
    n_markets, n_channels = (int(a) for a in (args[:2] if len(args) >= 2 else ["8", "8"]))
    rows = []
    for variant in args[2:] or list(VARIANTS):
        rows.append(fit_case(n_markets, n_channels, variant))
        print(f"{variant}: {rows[-1]}", file=sys.stderr, flush=True)  # progress: one fit can take half an hour
    print(_markdown(pd.DataFrame(rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
