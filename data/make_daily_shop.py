"""Write ``daily_shop.csv``: an online shop's daily data as it comes, with a known truth.

Two years of daily orders' revenue (2024-01-01 to 2025-12-30) in one market: search (spend every day, effect within
days), social (campaign bursts, a week of carryover) and affiliate (small, steady); a weekly pattern (weekends sell
more, Mondays less), UK bank holidays (the shop is closed-ish: fewer orders), a yearly season, and a sale in the
last week of November (a control column). The true contribution of every channel is kept beside the data
(``*_contribution`` columns), so the recovery page can judge the fit.

Run ``python data/make_daily_shop.py`` to write the file again (same seed, same numbers).
"""

from pathlib import Path

import holidays
import numpy as np
import pandas as pd
from make_client_panel import _carry  # numpy adstock, independent of the model's code (same folder)

HERE = Path(__file__).resolve().parent
DAYS = 730
START = pd.Timestamp("2024-01-01")
# per channel: geometric carryover (per day), l_max (days), logistic saturation lam, ceiling (EUR per day)
TRUTH = {"search": (0.3, 7, 2.0, 2500.0), "social": (0.7, 14, 1.5, 1800.0), "affiliate": (0.2, 7, 3.0, 300.0)}
WEEKDAY = np.array([-600.0, -150.0, 0.0, 50.0, 250.0, 500.0, -50.0])  # Monday .. Sunday, summing to zero


def _response(x: np.ndarray, alpha: float, l_max: int, lam: float, top: float) -> np.ndarray:
    z = _carry(x / x.max(), alpha, l_max)
    return top * (1 - np.exp(-lam * z)) / (1 + np.exp(-lam * z))


def main(seed: int = 31) -> None:
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=DAYS, freq="D")
    t = np.arange(DAYS)
    bursts = ((t % 45) < 10).astype(float)  # a ten-day social campaign every 45 days
    spend = {"search": np.round(rng.gamma(25, 16, DAYS) * (1 + 0.3 * (dates.day_of_week >= 5)), 2),
             "social": np.round(bursts * rng.gamma(12, 60, DAYS), 2),
             "affiliate": np.round(rng.gamma(30, 2.5, DAYS), 2)}
    bank = set(holidays.country_holidays("GB", years=[2024, 2025]))
    holiday = np.array([d.date() in bank for d in dates], float)
    sale = ((dates.month == 11) & (dates.day >= 24)).astype(float)
    season = 700.0 * np.sin(2 * np.pi * dates.day_of_year / 365.25) + 400.0 * np.cos(
        2 * np.pi * dates.day_of_year / 365.25)
    parts = {c: _response(spend[c], *TRUTH[c]) for c in TRUTH}
    revenue = (9000.0 + 4.0 * t + season + WEEKDAY[dates.day_of_week] - 2500.0 * holiday + 3000.0 * sale
               + sum(parts.values()) + rng.normal(0, 350.0, DAYS))
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **spend, "sale": sale,
                          "revenue": np.round(revenue, 2),
                          **{f"{c}_contribution": np.round(v, 3) for c, v in parts.items()}})
    frame.to_csv(HERE / "daily_shop.csv", index=False)
    print(f"wrote {HERE / 'daily_shop.csv'} ({len(frame)} days)")


if __name__ == "__main__":
    main()
