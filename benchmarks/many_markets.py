"""Many markets of different size: fit time, divergences and min ESS from 5 to 40 markets (issue "client data as it
comes", scale goal: 40 markets, 5 channels, an organic channel, a promotion, 156 weeks, default fit settings, 0
divergences, within 15 minutes; time per market no worse than linear).

Each market's sales follow one per-head response to five channels (different carryover and saturation), a
newsletter (organic), promotions and a yearly cycle; populations spread log-uniformly over 50x. Every channel is
bought in units (impressions) with its spend beside them: the units drive sales, and their price differs by market
(0.7x to 1.4x) and rises 20% over the data, so spend and units do not move together. The model pools the
markets per head (``scaling: per_capita``): one effect per channel, an intercept per market. Prints a table:
markets, compile and sampling seconds, seconds per market, divergences, max R-hat, min bulk ESS, leapfrog steps per
draw, and the median error of a channel's total contribution against the truth.

    python benchmarks/many_markets.py            # 5, 10, 20, 40 markets
    python benchmarks/many_markets.py 5 10       # some sizes
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "data"))
from make_client_panel import _carry  # noqa: E402  (the truth's adstock: one numpy implementation for both generators)

CHANNELS = {"tv": (0.6, 1.5, 5.0), "radio": (0.4, 2.0, 2.0), "search": (0.2, 2.5, 4.0), "social": (0.3, 2.0, 3.0),
            "display": (0.2, 3.0, 1.0)}  # geometric alpha, logistic lam, ceiling (sales per 1k people per week)
WEEKS = 156
L_MAX = 6


def _logistic(x: np.ndarray, lam: float) -> np.ndarray:
    return (1 - np.exp(-lam * x)) / (1 + np.exp(-lam * x))


def make_case(n_markets: int, folder: Path, seed: int = 1) -> tuple[Path, dict[str, float]]:
    """A CSV and params file for ``n_markets``; the true total contribution of each channel."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=WEEKS, freq="7D")
    season = 3.0 * np.sin(2 * np.pi * dates.day_of_year / 365.25)
    people = np.exp(rng.uniform(np.log(100.0), np.log(5000.0), n_markets))  # thousands
    per_head = {c: rng.gamma(4, 0.05, (WEEKS, n_markets)) * (rng.random((WEEKS, n_markets)) < 0.7) for c in CHANNELS}
    news = rng.poisson(2.0, (WEEKS, n_markets)) * (rng.random((WEEKS, n_markets)) < 0.5)
    top = {c: x.max() for c, x in per_head.items()}
    price = np.exp(rng.uniform(np.log(0.7), np.log(1.4), (len(CHANNELS), n_markets)))[:, None] \
        * np.linspace(1.0, 1.2, WEEKS)[None, :, None]  # (channel, week, market): per unit of the units column
    truth = dict.fromkeys(CHANNELS, 0.0)
    rows = []
    for m in range(n_markets):
        parts = {c: b * _logistic(_carry(per_head[c][:, m] / top[c], a, L_MAX), lam) for c, (a, lam, b) in CHANNELS.items()}
        organic = 1.5 * _logistic(_carry(news[:, m] / news.max(), 0.3, L_MAX), 3.0)
        promo = (rng.random(WEEKS) < 0.1).astype(float)
        sales = (40.0 + season + 4.0 * promo + organic + sum(parts.values()) + rng.normal(0, 1.0, WEEKS)) * people[m]
        for c in CHANNELS:
            truth[c] += float(parts[c].sum() * people[m])
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "market": f"m{m:02d}",
                                  **{c: np.round(per_head[c][:, m] * people[m] * price[k, :, m], 2)
                                     for k, c in enumerate(CHANNELS)},
                                  **{f"{c}_units": np.round(per_head[c][:, m] * people[m], 2) for c in CHANNELS},
                                  "newsletter": news[:, m] * people[m] / 1000, "promo": promo,
                                  "population": people[m], "sales": np.round(sales, 1)}))
    pd.concat(rows).to_csv(folder / "sales.csv", index=False)
    channels = ", ".join(CHANNELS)
    units = ", ".join(f"{c}: {c}_units" for c in CHANNELS)
    (folder / "case.yaml").write_text(f"""case: markets_{n_markets}
title: {n_markets} markets
seed: 1
data: {{path: sales.csv, target_column: sales, channel_columns: [{channels}], units_columns: {{{units}}},
       organic_columns: [newsletter],
       control_columns: [promo], population_column: population, dims: [market]}}
model:
  adstock: {{type: geometric, l_max: {L_MAX}, priors: {{alpha: {{distribution: Beta, alpha: 2, beta: 3, dims: [channel]}}}}}}
  saturation:
    type: logistic
    priors:
      lam: {{distribution: Gamma, mu: 2.0, sigma: 1.0, dims: [channel]}}
      beta: {{distribution: HalfNormal, sigma: 0.2, dims: [channel]}}
  scaling: {{target: per_capita, channel: per_capita}}
  yearly_seasonality: 1
  priors:
    intercept: {{distribution: Normal, mu: 0.8, sigma: 0.2, dims: [market]}}
    gamma_control: {{distribution: Normal, mu: 0, sigma: 0.2, dims: [control]}}
    gamma_fourier: {{distribution: Laplace, mu: 0, b: 0.05, dims: [fourier_mode]}}
  likelihood: {{distribution: Normal, sigma: {{distribution: HalfNormal, sigma: 0.05}}}}
""")
    return folder / "case.yaml", truth


def fit_file(path: Path):
    """Fit the case of params file ``path`` (seed 1): ``(idata, timings, diagnostics, wall seconds)``."""
    from mmmhelpers.calibration import model_for
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.fit import diagnostics, sample

    params = load_params(path)
    data, _ = prepare_data(params)
    t0 = time.perf_counter()
    idata, timings = sample(model_for(params, data), params.fit, seed=1, progress=False)
    wall = time.perf_counter() - t0
    return idata, timings, diagnostics(idata, params.fit, timings), wall


def fit_case(n_markets: int) -> dict:
    """Fit the case of ``n_markets`` with the default fit settings (4 chains x 1,000 + 1,000, nutpie)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, truth = make_case(n_markets, Path(tmp))
        idata, _, diag, wall = fit_file(path)
    est = idata.posterior["channel_contribution_original_scale"].sum(("date", "market")).mean(("chain", "draw"))
    errors = [abs(float(est.sel(channel=c)) / truth[c] - 1) for c in CHANNELS]
    return {"markets": n_markets, "compile s": round(diag.compile_seconds, 1),
            "sampling s": round(diag.sampling_seconds, 1), "wall s": round(wall, 1),
            "s per market": round(wall / n_markets, 2), "divergences": diag.divergences,
            "max R-hat": diag.rhat_max, "min ESS": diag.ess_bulk_min, "steps per draw": diag.steps_per_draw,
            "median contribution error": f"{np.median(errors):.1%}"}


def main(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        rows.append(fit_case(n))
        print(pd.DataFrame(rows).to_string(index=False), flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [5, 10, 20, 40])
