"""intervals: the 94% HDI every page reports, against a hand computation."""

import numpy as np
import pytest

from mmmhelpers.intervals import HDI_PROB, hdi, mean_hdi


def test_the_94_hdi_of_a_uniform_grid_is_its_shortest_94_percent_window():
    draws = np.arange(1000.0)  # arviz spans floor(0.94 n) = 940 steps of the sorted draws; all as short: the first
    lo, hi = hdi(draws)
    assert HDI_PROB == 0.94 and (lo, hi) == (0.0, 940.0)
    skewed = np.r_[np.zeros(900), np.linspace(1, 100, 100)]  # 90% of the mass at 0: the HDI starts there
    mean, lo, hi = mean_hdi(skewed)
    assert lo == 0.0 and hi == pytest.approx(np.sort(skewed)[940]) and mean == pytest.approx(skewed.mean())


def test_a_probability_from_draws_is_never_certain_in_words():
    from mmmhelpers.intervals import as_probability

    assert [as_probability(p) for p in (0.0, 0.005, 0.01, 0.42, 0.99, 0.994, 0.9975, 1.0)] == \
        ["<1%", "<1%", "1%", "42%", "99%", ">99%", ">99%", ">99%"]
