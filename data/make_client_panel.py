"""Write ``client_panel.csv`` and ``client_plan.csv``: client data as it comes, with a known truth.

Three markets of very different size (population in thousands), 156 weeks; TV (long carryover) bought in
impressions whose price rises a third over the three years and differs by market (the impressions drive sales,
the spend is what they cost), search (two weeks), social (growing); a newsletter (organic: sends, no spend);
promotions; US national holidays; sales that grow and then level off (a kink in the trend). The true contribution of every channel and of the newsletter is kept beside
the data (``*_contribution`` columns), so the recovery page can judge the fit. ``client_plan.csv`` is next quarter's
plan (13 weeks of spend, sends and promotions) for the forecast; ``client_plan_promo.csv`` the same plan with
promotions twice as often (the what-if).

Run ``python data/make_client_panel.py`` to write both files again (same seed, same numbers).
"""

from pathlib import Path

import holidays
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MARKETS = {"metro": 8000.0, "coast": 2500.0, "rural": 600.0}  # population, thousands
WEEKS, PLAN_WEEKS = 156, 13
START = pd.Timestamp("2023-01-02")
# per channel: geometric carryover, its own l_max, logistic saturation (per head), ceiling (sales per 1k people)
TRUTH = {"tv": (0.6, 8, 1.5, 6.0), "search": (0.2, 2, 2.5, 4.0), "social": (0.4, 4, 2.0, 3.0)}
NEWSLETTER = (0.3, 3, 3.0, 2.0)
CPM_FACTOR = {"metro": 1.15, "coast": 1.0, "rural": 0.85}  # TV's price per 1k impressions differs by market...
CPM_RISE = (0.9, 1.2)  # ...and rises over the data (start, end), continuing into the plan's quarter


def _carry(x: np.ndarray, alpha: float, l_max: int) -> np.ndarray:
    """Normalized geometric adstock along axis 0."""
    w = alpha ** np.arange(l_max)
    w = w / w.sum()
    out = np.zeros_like(x)
    for lag in range(l_max):
        out[lag:] += w[lag] * x[: len(x) - lag]
    return out


def _response(per_head: np.ndarray, top: float, alpha: float, l_max: int, lam: float, beta: float) -> np.ndarray:
    z = _carry(per_head / top, alpha, l_max)
    return beta * (1 - np.exp(-lam * z)) / (1 + np.exp(-lam * z))


def _spend(rng, n: int) -> dict[str, np.ndarray]:
    """Per 1k people per week: TV impressions (thousands) in flights, search and social spend (EUR), newsletter
    sends."""
    t = np.arange(n)
    flights = (np.sin(2 * np.pi * t / 13) > 0.2).astype(float)
    return {"tv": flights * rng.gamma(8, 0.05, n), "search": rng.gamma(20, 0.01, n),
            "social": np.linspace(0.05, 0.25, n) * rng.gamma(10, 0.1, n),
            "newsletter": rng.poisson(2.0, n) * (rng.random(n) < 0.5)}


def main(seed: int = 29) -> None:
    rng = np.random.default_rng(seed)
    n = WEEKS + PLAN_WEEKS
    dates = pd.date_range(START, periods=n, freq="7D")
    days = pd.DatetimeIndex(sorted(holidays.country_holidays("US", years=range(2023, 2027))))
    ends = dates + pd.Timedelta(days=7)
    holiday = (days.searchsorted(ends) - days.searchsorted(dates)).astype(float)
    u = np.arange(n) / (WEEKS - 1)
    trend = 8.0 * u - 10.0 * np.maximum(u - 0.6, 0)
    season = 4.0 * np.sin(2 * np.pi * dates.day_of_year / 365.25) + 2.0 * np.cos(2 * np.pi * dates.day_of_year / 365.25)
    rows = []
    inputs = {m: _spend(rng, n) for m in MARKETS}
    tops = {c: max(inputs[m][c][:WEEKS].max() for m in MARKETS) for c in [*TRUTH, "newsletter"]}
    cpm = np.interp(np.arange(n), [0, WEEKS - 1], CPM_RISE)  # EUR per 1k impressions, before the market's factor
    for market, people in MARKETS.items():
        x = inputs[market]
        tv_cost = cpm * CPM_FACTOR[market]
        promo = (rng.random(n) < 0.1).astype(float)
        parts = {c: _response(x[c], tops[c], a, lm, lam, b) for c, (a, lm, lam, b) in TRUTH.items()}
        parts["newsletter"] = _response(x["newsletter"], tops["newsletter"], *NEWSLETTER)
        per_head = (50.0 + trend + season + 3.0 * holiday + 5.0 * promo + sum(parts.values())
                    + rng.normal(0, 1.0, n))
        k = people / 1000  # the columns are per market: spend in EUR, impressions and sends in thousands, sales
        imps = np.round(x["tv"] * people, 1)
        frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "market": market,
                              "tv": np.round(imps * tv_cost, 2), "tv_impressions": imps,
                              **{c: np.round(x[c] * people, 2) for c in TRUTH if c != "tv"},
                              "newsletter": np.round(x["newsletter"] * k, 3), "promo": promo,
                              "population": people, "sales": np.round(per_head * people, 1),
                              **{f"{c}_contribution": np.round(v * people, 3) for c, v in parts.items()}})
        rows.append(frame)
    df = pd.concat(rows, ignore_index=True)
    history = df[df["date"] < dates[WEEKS].strftime("%Y-%m-%d")]
    history.to_csv(HERE / "client_panel.csv", index=False)
    plan = df[df["date"] >= dates[WEEKS].strftime("%Y-%m-%d")]
    plan = plan[["date", "market", *TRUTH, "tv_impressions", "newsletter", "promo"]]
    plan.to_csv(HERE / "client_plan.csv", index=False)
    more = np.random.default_rng(seed + 1)  # the what-if: promotions twice as often (as many weeks again per market)
    doubled = plan.copy()
    for market, rows in doubled.groupby("market"):
        off = rows.index[rows["promo"] == 0]
        doubled.loc[more.choice(off, size=max(1, int(rows["promo"].sum())), replace=False), "promo"] = 1.0
    doubled.to_csv(HERE / "client_plan_promo.csv", index=False)
    print(f"wrote {HERE / 'client_panel.csv'} ({len(history)} rows), {HERE / 'client_plan.csv'} ({len(plan)} rows) "
          f"and {HERE / 'client_plan_promo.csv'} (promotions in {int(doubled['promo'].sum())} market-weeks, not "
          f"{int(plan['promo'].sum())})")


if __name__ == "__main__":
    main()
