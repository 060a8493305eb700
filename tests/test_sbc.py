"""Simulation-based calibration (``mmmhelpers.sbc``): ranks and their uniformity by hand, a conjugate model whose
exact posterior gives uniform ranks and a too-narrow one that does not, and flags adjusted for the number of tests.

Elsewhere: ``run_sbc`` and ``mmm_sbc_task`` run in tests/test_executor.py (slow: it samples), in
``test_dask_local_cluster_gives_the_sequential_results_bit_for_bit_and_reports_a_failed_task``; a report's SBC ranks
are checked in tests/test_pipeline.py::test_recovery_table_is_sane (on the session's one pipeline run).
"""

import numpy as np
import pandas as pd
import pytest

from mmmhelpers.sbc import rank_of, sbc_table, uniformity_p


def _conjugate_sbc(n_sims: int, fit_prior_sd: float, L: int = 99, n_obs: int = 5, seed: int = 3) -> pd.DataFrame:
    """SBC of mu ~ N(0, 1), y_i ~ N(mu, 1): the exact posterior N(sum y / (n + 1/s²), 1 / (n + 1/s²)) with the fit's
    prior sd ``s`` (1: the right posterior); posterior draws are exact, so only the rank machinery is tested."""
    rng = np.random.default_rng(seed)
    ranks = []
    for _ in range(n_sims):
        mu = rng.normal(0, 1)
        y = rng.normal(mu, 1, n_obs)
        prec = n_obs + 1 / fit_prior_sd**2
        post = rng.normal(y.sum() / prec, 1 / np.sqrt(prec), size=(1000, 1))
        ranks.append(rank_of(np.array([mu]), post, L)[0])
    return pd.DataFrame({"mu": ranks})


def test_sbc_ranks_are_uniform_for_the_right_posterior_and_not_for_a_wrong_one():
    right = sbc_table(_conjugate_sbc(500, 1.0), 99).iloc[0]
    wrong = sbc_table(_conjugate_sbc(500, 0.5), 99).iloc[0]  # the fit's prior sd halved: too narrow
    assert right["uniform"] and right["p-value"] > 0.01 and right["reading"].startswith("no evidence of miscalibration")
    assert not wrong["uniform"] and wrong["p-value"] < 1e-6
    assert "both ends" in wrong["reading"] and "too narrow" in wrong["reading"]


def test_rank_and_uniformity_by_hand():
    post = np.arange(200.0)[:, None]
    assert rank_of(np.array([50.5]), post, 99)[0] == int((np.linspace(0, 199, 99).round() < 50.5).sum())
    assert uniformity_p(np.tile(np.arange(100), 3), 99) == pytest.approx(1.0)
    assert uniformity_p(np.zeros(300, int), 99) < 1e-12


def test_sbc_flags_are_adjusted_for_the_number_of_parameters_tested():
    """p = 0.0039: evidence against uniformity for one parameter tested alone (< 0.01), none when it is one of five
    tested (Bonferroni: 0.01 / 5 = 0.002): with five tests, one p-value that low is no longer rare."""
    odd = np.r_[np.tile(np.arange(100), 3), np.zeros(26, int)]
    assert uniformity_p(odd, 99) == pytest.approx(0.0039, abs=1e-4)
    alone = sbc_table(pd.DataFrame({"a": odd}), 99).iloc[0]
    assert not alone["uniform"] and alone["adjusted p-value"] == pytest.approx(alone["p-value"])
    flat = np.r_[np.tile(np.arange(100), 3), np.arange(26)]
    five = sbc_table(pd.DataFrame({"a": odd, **{k: flat for k in "bcde"}}), 99).set_index("parameter")
    assert five.loc["a", "uniform"] and five.loc["a", "adjusted p-value"] == pytest.approx(5 * alone["p-value"])
    assert five.loc["a", "reading"].startswith("no evidence of miscalibration")
