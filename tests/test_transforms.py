"""Adstock and saturation against hand-computed values."""

import numpy as np
import pytest
from reference import numpy_adstock

from mmmhelpers.transforms import (
    adstock,
    hill_saturation,
    logistic_saturation,
    michaelis_menten,
    tanh_saturation,
)


def impulse(n=8, channels=1):
    x = np.zeros((n, channels))
    x[0] = 1.0
    return x


def test_geometric_adstock_of_unit_impulse_is_alpha_powers():
    out = adstock(impulse(), "geometric", {"alpha": np.array([0.5])}, l_max=4, normalize=False).eval()
    np.testing.assert_allclose(out[:, 0], [1, 0.5, 0.25, 0.125, 0, 0, 0, 0])


def test_geometric_adstock_normalized_sums_to_one():
    out = adstock(impulse(), "geometric", {"alpha": np.array([0.5])}, l_max=4, normalize=True).eval()
    np.testing.assert_allclose(out[:4, 0], np.array([1, 0.5, 0.25, 0.125]) / 1.875)
    assert out.sum() == pytest.approx(1.0)


def test_geometric_adstock_is_linear_and_shift_invariant():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 2))
    alpha = np.array([0.3, 0.7])
    got = adstock(x, "geometric", {"alpha": alpha}, l_max=5, normalize=False).eval()
    np.testing.assert_allclose(got, numpy_adstock(x, alpha[None] ** np.arange(5)[:, None]))


def test_delayed_adstock_peaks_at_theta():
    out = adstock(impulse(), "delayed", {"alpha": np.array([0.5]), "theta": np.array([2.0])}, l_max=5,
                  normalize=False).eval()
    np.testing.assert_allclose(out[:5, 0], [0.5**4, 0.5**1, 1.0, 0.5**1, 0.5**4])


def test_weibull_cdf_kernel_hand_values():
    lam, k = 2.0, 1.0
    out = adstock(impulse(), "weibull_cdf", {"lam": np.array([lam]), "k": np.array([k])}, l_max=3,
                  normalize=False).eval()
    s = np.exp(-np.arange(1, 4) / lam)  # survival at t = 1, 2, 3
    np.testing.assert_allclose(out[:3, 0], np.cumprod(s))


def test_weibull_pdf_kernel_is_min_max_scaled():
    out = adstock(impulse(), "weibull_pdf", {"lam": np.array([3.0]), "k": np.array([2.0])}, l_max=6,
                  normalize=False).eval()
    t = np.arange(1, 7)
    pdf = (2 / 3) * (t / 3) ** 1 * np.exp(-((t / 3) ** 2))
    np.testing.assert_allclose(out[:6, 0], (pdf - pdf.min()) / (pdf.max() - pdf.min()))


def test_adstock_params_broadcast_over_panel():
    x = np.zeros((6, 2, 3))  # date, geo, channel
    x[0] = 1.0
    alpha = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    out = adstock(x, "geometric", {"alpha": alpha}, l_max=3, normalize=False).eval()
    np.testing.assert_allclose(out[1], alpha)
    np.testing.assert_allclose(out[2], alpha**2)


def test_logistic_saturation_hand_values():
    lam, beta = 2.0, 3.0
    assert float(logistic_saturation(0.0, lam, beta).eval()) == 0.0
    # (1 - e^-u) / (1 + e^-u) = 1/2 at u = ln 3
    assert float(logistic_saturation(np.log(3) / lam, lam, beta).eval()) == pytest.approx(beta / 2)
    assert float(logistic_saturation(50.0, lam, beta).eval()) == pytest.approx(beta)


def test_michaelis_menten_half_saturation_point():
    assert float(michaelis_menten(4.0, 10.0, 4.0).eval()) == pytest.approx(5.0)
    assert float(michaelis_menten(12.0, 10.0, 4.0).eval()) == pytest.approx(7.5)


def test_hill_saturation_half_at_kappa():
    assert float(hill_saturation(0.5, 2.0, 0.5, 4.0).eval()) == pytest.approx(2.0)
    assert float(hill_saturation(1.0, 2.0, 0.5, 4.0).eval()) == pytest.approx(4.0 * 1 / (0.25 + 1))


def test_tanh_saturation_hand_values():
    b, c = 2.0, 0.5
    assert float(tanh_saturation(0.0, b, c).eval()) == 0.0
    assert float(tanh_saturation(b * c * np.arctanh(0.5), b, c).eval()) == pytest.approx(b / 2)
