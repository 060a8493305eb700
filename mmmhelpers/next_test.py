"""Which experiment next: for each channel, how much a test of its spend would be worth to the budget decision.

The decision is the choice among candidate plans (the recommended plan, the historical split, and plans optimized on
the draws where a channel's test would come out low, middle or high). Before any test the best candidate is the
one with the highest mean response. A test on channel ``c`` measures its lift ``L_c`` (the model's, per posterior
draw) with noise ``se``; after seeing it, the plan with the highest posterior-weighted response is chosen. The
expected value of that sample information (EVSI) is the expected response of the plan chosen after the test minus
that of the plan chosen before it, over the posterior draws as truths and the test's noise:

    EVSI = integral over m of max_a (1/S) sum_s N(m | L_s, se) R[a, s] dm - max_a (1/S) sum_s R[a, s]

computed by quadrature over ``m`` (no Monte-Carlo noise). The expected value of perfect information (EVPI:
``mean_s max_a R[a, s] - max_a mean_s R``) is the decision's whole remaining risk; EVSI / EVPI is the share a test
settles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmmhelpers.config import Params
from mmmhelpers.data import MMMData
from mmmhelpers.intervals import as_probability, mean_hdi

__all__ = ["preposterior_value", "decision_value", "TestDesign", "next_test_table", "next_test_sentence",
           "next_test_section", "NoTestNoise"]

GROUPS = 3  # candidate plans per channel: optimized on the draws whose test lift is low, middle, high


def _after_the_test(R: np.ndarray, lift: np.ndarray, se: float, points: int, now: int):
    """Over a grid of measurements ``m`` (fine against ``se``): the best action's expected response weighted by the
    measurement's density (``(1/S) max_a sum_s N(m | L_s, se) R[a, s]``), whether that action differs from ``now``,
    and the measurement's density ``p(m)``. In blocks of ``m``, so memory stays near four million numbers."""
    lo, hi = lift.min() - 6 * se, lift.max() + 6 * se
    m = np.linspace(lo, hi, int(min(max(points, (hi - lo) / se * 20), 40_001)))
    best, changes, density = (np.empty(len(m)) for _ in range(3))
    block = max(1, 4_000_000 // len(lift))
    for start in range(0, len(m), block):
        part = slice(start, start + block)
        z = (m[part, None] - lift[None, :]) / se
        like = np.exp(-0.5 * z * z) / (se * np.sqrt(2 * np.pi))  # N(m | lift, se), (m, draw): 4x scipy's norm.pdf
        value = like @ R.T / R.shape[1]  # (m, action)
        best[part], changes[part] = value.max(axis=1), np.argmax(value, axis=1) != now
        density[part] = like.mean(axis=1)
    return m, best, changes, density


def preposterior_value(R: np.ndarray, lift: np.ndarray, se: float, points: int = 2001) -> float:
    """The expected response ``(action, draw)`` matrix ``R`` yields when the action is chosen after a test that
    measures ``lift`` (per draw) with normal noise ``se``: the draws are the prior (equal weight), integrated over
    the measurement by the trapezoid rule on a grid fine against ``se``."""
    m, best, _, _ = _after_the_test(R, np.asarray(lift, float), se, points, now=0)
    return float(np.trapezoid(best, m))


def decision_value(R: np.ndarray, lift: np.ndarray, se: float, points: int = 2001) -> dict[str, float]:
    """EVSI, EVPI and the probability that the test changes the chosen action, for responses ``R`` (action, draw)."""
    mean = R.mean(axis=1)
    now = int(np.argmax(mean))
    m, best, changes, density = _after_the_test(R, np.asarray(lift, float), se, points, now)
    evsi = max(float(np.trapezoid(best, m)) - mean[now], 0.0)
    evpi = float(R.max(axis=0).mean() - mean[now])
    return {"evsi": evsi, "evpi": evpi, "p_change": float(np.trapezoid(changes * density, m))}


@dataclass(frozen=True)
class TestDesign:
    """A test: ``channel``'s spend changed by ``change`` (a share of its historical level) in every market for
    ``weeks`` periods, its lift measured over those periods and the carryover after them with standard error
    ``se`` (target units)."""

    channel: str
    weeks: int
    delta_spend: float  # per period, summed over markets
    se: float


class NoTestNoise(ValueError):
    """The model gives no sales noise to size a test's standard error with: the params must state it."""


def sales_noise(idata, data: MMMData) -> float:
    """The sales data's noise per period, summed over markets (target units): the likelihood's sigma."""
    if "y_sigma" not in idata.posterior:
        raise NoTestNoise("The next-test table is not computed: the model's likelihood has no `sigma` to size a "
                          "test's standard error with. Set `optimization.next_test.se` (the test's standard error, "
                          "in target units) in the params.")
    sigma = idata.posterior["y_sigma"].mean(("chain", "draw")) * idata.constant_data["target_scale"]
    return float(np.sqrt(np.sum(np.broadcast_to(sigma.values, data.y.shape[1:]) ** 2)))


def next_test_table(params: Params, data: MMMData, idata, alloc, rm, weeks: int = 4, change: float = 1.0,
                    se: float | None = None) -> pd.DataFrame:
    """Per channel, a test of ``change`` × its historical spend for ``weeks`` periods: its design, the lift the model
    expects (94% HDI), and what it is worth to the decision (EVSI, share of EVPI, P(it changes the plan)), ranked by
    EVSI. ``se`` defaults to the sales noise over the test and its carryover periods (an ideal test: the
    counterfactual known as well as the sales data's own noise allows)."""
    from mmmhelpers.optimize import optimize_budget, plan_problem, plan_response_model, plan_spend
    from mmmhelpers.response import draw_subset

    opt = params.optimization
    assert opt is not None, "the case has no optimization section"
    test_rm = plan_response_model(params, data, idata, num_periods=weeks, objective_window="window_and_tail")
    assert np.array_equal(test_rm.draw_idx, rm.draw_idx), "the test's draws are the plan's"
    hist = data.X.mean(axis=0)  # (*panel, channel): the spend around the test
    base = test_rm.draws(hist)
    budget = alloc.budget_per_period
    problem = plan_problem(opt, rm, budget)  # no hold rule: a tested channel is free to move
    plan = plan_spend(rm, alloc)
    per_period = plan.mean(axis=0)
    actions = [plan, plan_spend(rm, alloc, "historical")]
    lifts, designs = {}, {}
    noise = se if se is not None else sales_noise(idata, data) * np.sqrt(weeks + params.model.adstock.l_max - 1)
    for k, ch in enumerate(data.channels):
        delta = np.zeros_like(hist)
        delta[..., k] = change * hist[..., k]
        if not delta.any():
            continue
        lifts[ch] = test_rm.draws(hist + delta) - base
        designs[ch] = TestDesign(ch, weeks, float(delta.sum()), float(noise))
        for part in np.array_split(np.argsort(lifts[ch]), GROUPS):
            res = optimize_budget(draw_subset(rm, np.sort(part)), problem, opt.objective, x0=per_period)
            if res.success:
                actions.append(res.spend)
    R = np.stack([rm.draws(a) for a in actions])  # (action, draw)
    rows = []
    for ch, lift in lifts.items():
        d = designs[ch]
        value = decision_value(R, lift, d.se)
        m, lo, hi = mean_hdi(lift)
        rows.append({"channel": ch, "periods": d.weeks, "extra spend per period": d.delta_spend,
                     "expected lift": m, "lift 3%": lo, "lift 97%": hi, "test se": d.se, "EVSI": value["evsi"],
                     "share of EVPI": value["evsi"] / value["evpi"] if value["evpi"] > 0 else 0.0,
                     "P(changes the plan)": value["p_change"], "EVPI": value["evpi"]})
    return pd.DataFrame(rows).sort_values("EVSI", ascending=False, ignore_index=True)


def _test_words(row) -> str:
    """How a test changes a channel's spend, in words."""
    extra = row["extra spend per period"]
    return f"about {extra:,.0f} {'more' if extra >= 0 else 'less'} per period"


def next_test_sentence(table: pd.DataFrame, target_label: str = "", period: str = "week") -> str:
    """The ranked table in one sentence: which test settles most of the decision's remaining risk."""
    if table.empty:
        return "No channel spent in the data: there is no test to rank."
    top = table.iloc[0]
    units = f" {target_label}" if target_label else ""
    if top["EVPI"] <= 0 or top["EVSI"] <= 1e-9 * max(top["EVPI"], 1.0):
        return ("No test of this size would change the plan: the draws agree on it, or every test's noise is too "
                "large for its lift.")
    return (f"A {int(top['periods'])}-{period} test on {top['channel']} ({_test_words(top)}) would settle "
            f"{top['share of EVPI']:.0%} of the decision's remaining risk: it is worth "
            f"{top['EVSI']:,.0f}{units} in expected response over the plan, of {top['EVPI']:,.0f}{units} that "
            f"perfect knowledge would be worth, and changes the plan with probability "
            f"{as_probability(top['P(changes the plan)'])}.")


def next_test_section(params: Params, data: MMMData, idata, alloc, rm, period: str = "week"
                      ) -> tuple[pd.DataFrame | None, str]:
    """The budget page's next-test table and its sentence, or None and why there is no table."""
    assert params.optimization is not None, "the case has no optimization section"
    try:
        tests = next_test_table(params, data, idata, alloc, rm, **params.optimization.next_test.model_dump())
    except NoTestNoise as why:
        return None, str(why)
    return tests, next_test_sentence(tests, params.report.target_label, period)
