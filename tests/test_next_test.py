"""Which experiment next: EVSI by quadrature over posterior draws against a brute-force preposterior computation."""

import numpy as np
import pytest
from scipy.stats import norm

from mmmhelpers.next_test import decision_value, next_test_sentence


def _brute_force(mu, sd, k, se, budget, grid):
    """Two channels, ``R(a, b) = b1 sqrt(a1) + b2 sqrt(budget - a1)``, ``b ~ N(mu, sd)`` independent; a test measures
    ``m = k b1 + noise(se)``. The posterior of b1 given m is normal (conjugate), so the best plan after the test and
    its expected response are exact; integrated over m's marginal on a fine grid."""
    f1, f2 = np.sqrt(grid), np.sqrt(budget - grid)
    m = np.linspace(k * mu[0] - 10 * np.hypot(k * sd[0], se), k * mu[0] + 10 * np.hypot(k * sd[0], se), 200_001)
    precision = 1 / sd[0] ** 2 + k**2 / se**2
    b1 = (mu[0] / sd[0] ** 2 + k * m / se**2) / precision  # E[b1 | m]
    best = np.max(b1[:, None] * f1[None, :] + mu[1] * f2[None, :], axis=1)
    pre = np.trapezoid(best * norm.pdf(m, k * mu[0], np.hypot(k * sd[0], se)), m)
    now = int(np.argmax(mu[0] * f1 + mu[1] * f2))
    after = np.argmax(b1[:, None] * f1[None, :] + mu[1] * f2[None, :], axis=1)
    p_change = np.trapezoid((after != now) * norm.pdf(m, k * mu[0], np.hypot(k * sd[0], se)), m)
    return pre - np.max(mu[0] * f1 + mu[1] * f2), p_change


@pytest.mark.parametrize("se", [2.0, 5.0, 20.0])
def test_evsi_matches_a_brute_force_preposterior_computation(se):
    mu, sd, k, budget = np.array([1.0, 1.1]), np.array([0.5, 0.1]), 10.0, 100.0
    grid = np.linspace(0, budget, 21)
    b = np.random.default_rng(1).normal(mu, sd, size=(60_000, 2))
    R = b[:, 0][None, :] * np.sqrt(grid)[:, None] + b[:, 1][None, :] * np.sqrt(budget - grid)[:, None]
    got = decision_value(R, k * b[:, 0], se)
    want, p_change = _brute_force(mu, sd, k, se, budget, grid)
    assert want > 0.01  # a test worth something
    assert got["evsi"] == pytest.approx(want, rel=0.03)
    assert got["p_change"] == pytest.approx(p_change, abs=0.01)
    assert 0 < got["evsi"] <= got["evpi"]


def test_a_test_that_cannot_change_the_plan_is_worth_nothing():
    rng = np.random.default_rng(2)
    R = np.stack([np.full(500, 10.0), rng.normal(5, 1, 500)])  # action 0 wins in every draw
    got = decision_value(R, rng.normal(0, 1, 500), 0.5)
    assert got["evsi"] == pytest.approx(0.0, abs=1e-9) and got["evpi"] == 0.0 and got["p_change"] < 1e-6
    import pandas as pd

    row = {"channel": "tv", "periods": 4, "extra spend per period": 100.0, "EVSI": 0.0, "EVPI": 0.0,
           "share of EVPI": 0.0, "P(changes the plan)": 0.0}
    assert next_test_sentence(pd.DataFrame([row])).startswith("No test of this size would change the plan")


def test_a_likelihood_without_sigma_asks_for_the_tests_se_by_name():
    import arviz as az

    from mmmhelpers.next_test import NoTestNoise, sales_noise

    idata = az.from_dict(posterior={"mu_rate": np.ones((2, 5))}, constant_data={"target_scale": np.array(1.0)})
    with pytest.raises(NoTestNoise, match=r"optimization\.next_test\.se"):
        sales_noise(idata, None)
    idata = az.from_dict(posterior={"y_sigma": np.full((2, 5), 0.5)}, constant_data={"target_scale": np.array(10.0)})

    class Two:  # two markets, one noise each: summed in quadrature
        y = np.zeros((8, 2))

    assert sales_noise(idata, Two()) == pytest.approx(np.sqrt(2) * 5.0)
