"""Write ``refresh_demo.csv`` and ``refresh_demo_revised.csv``: one shop's weekly data as three monthly reports saw it.

112 weeks (2023-01-02 to 2025-02-10) in one market: tv in flights, steady search, social every third week, a yearly
season. The first 104 weeks are the first report's data; four more weeks follow the same truth (the second report);
in the four after those social works twice as well as before (a new creative, say). Four weeks, two of them with
social's spend, barely show it: the third report's backtest misses by a margin a calibrated forecast reaches 6% of the
time, and no one term of the model can be singled out (social's effect is estimated at 1.7 times the forecast's,
with P = 12% that it is the term that changed). That is what the refresh should say of so little data.
``refresh_demo_revised.csv`` is the same data as delivered for the third report: the client corrected one
historical value (search's spend in the week of 2024-03-04), which the refresh must name. The true contribution of
every channel is kept beside the data (``*_contribution`` columns).

Run ``python data/make_refresh_demo.py`` to write the files again (same seed, same numbers).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from make_client_panel import _carry  # numpy adstock, independent of the model's code (same folder)

HERE = Path(__file__).resolve().parent
WEEKS, STABLE = 112, 108  # social's effect doubles after week STABLE
TRUTH = {"tv": (0.5, 2.0, 3000.0), "search": (0.2, 3.0, 2500.0), "social": (0.3, 1.5, 2000.0)}  # alpha, lam, ceiling
REVISED = ("2024-03-04", "search", 1.25)  # the week, the column and the correction factor of the revised value


def main(seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(WEEKS)
    spend = {"tv": rng.lognormal(8.3, 0.3, WEEKS) * (rng.random(WEEKS) < 0.6),
             "search": rng.lognormal(8.0, 0.15, WEEKS),
             "social": rng.lognormal(7.6, 0.4, WEEKS) * (t % 3 == 0)}
    spend = {k: np.round(v, 2) for k, v in spend.items()}
    sales = 5000.0 * (1 + 0.1 * np.sin(2 * np.pi * t / 52.18))
    contributions = {}
    for ch, (alpha, lam, top) in TRUTH.items():
        z = _carry(spend[ch] / spend[ch][:104].max(), alpha, 8)
        effect = top * (1 - np.exp(-lam * z)) / (1 + np.exp(-lam * z))
        effect[STABLE:] *= 2.0 if ch == "social" else 1.0
        contributions[f"{ch}_contribution"] = effect
        sales = sales + effect
    noise = 1 + 0.03 * rng.standard_normal(WEEKS)
    frame = pd.DataFrame({"date": pd.date_range("2023-01-02", periods=WEEKS, freq="7D").strftime("%Y-%m-%d"),
                          **spend, "sales": np.round(sales * noise),
                          **{k: np.round(v, 1) for k, v in contributions.items()}})
    frame.to_csv(HERE / "refresh_demo.csv", index=False)
    week, column, factor = REVISED
    frame.loc[frame["date"] == week, column] = np.round(frame.loc[frame["date"] == week, column] * factor, 2)
    frame.to_csv(HERE / "refresh_demo_revised.csv", index=False)


if __name__ == "__main__":
    main()
