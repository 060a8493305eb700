"""Adstock and saturation: hand-computed values; finite values and gradients over the whole domain."""

import functools
import itertools

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import numpy_adstock

from mmmhelpers.priors import create, parse_prior
from mmmhelpers.transforms import (
    ADSTOCKS,
    NUMPY_MODE,
    ONE_OFF_MODE,
    SATURATIONS,
    Component,
    adstock,
    adstock_weights,
    hill_saturation,
    lagged_sum,
    logistic_saturation,
    michaelis_menten,
    saturation,
    shifted_sum,
    tanh_saturation,
)


def impulse(n=8, channels=1):
    x = np.zeros((n, channels))
    x[0] = 1.0
    return x


def test_geometric_adstock_of_unit_impulse_is_alpha_powers():
    out = adstock(impulse(), "geometric", {"alpha": np.array([0.5])}, l_max=4, normalize=False).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(out[:, 0], [1, 0.5, 0.25, 0.125, 0, 0, 0, 0])


def test_geometric_adstock_normalized_sums_to_one():
    out = adstock(impulse(), "geometric", {"alpha": np.array([0.5])}, l_max=4, normalize=True).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(out[:4, 0], np.array([1, 0.5, 0.25, 0.125]) / 1.875)
    assert out.sum() == pytest.approx(1.0)


def test_geometric_adstock_is_linear_and_shift_invariant():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 2))
    alpha = np.array([0.3, 0.7])
    got = adstock(x, "geometric", {"alpha": alpha}, l_max=5, normalize=False).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(got, numpy_adstock(x, alpha[None] ** np.arange(5)[:, None]))


def test_delayed_adstock_peaks_at_theta():
    out = adstock(impulse(), "delayed", {"alpha": np.array([0.5]), "theta": np.array([2.0])}, l_max=5,
                  normalize=False).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(out[:5, 0], [0.5**4, 0.5**1, 1.0, 0.5**1, 0.5**4])


def test_weibull_cdf_kernel_hand_values():
    lam, k = 2.0, 1.0
    out = adstock(impulse(), "weibull_cdf", {"lam": np.array([lam]), "k": np.array([k])}, l_max=3,
                  normalize=False).eval(mode=ONE_OFF_MODE)
    s = np.exp(-np.arange(1, 4) / lam)  # survival at t = 1, 2, 3
    np.testing.assert_allclose(out[:3, 0], np.cumprod(s))


def test_weibull_pdf_kernel_is_min_max_scaled():
    out = adstock(impulse(), "weibull_pdf", {"lam": np.array([3.0]), "k": np.array([2.0])}, l_max=6,
                  normalize=False).eval(mode=ONE_OFF_MODE)
    t = np.arange(1, 7)
    pdf = (2 / 3) * (t / 3) ** 1 * np.exp(-((t / 3) ** 2))
    np.testing.assert_allclose(out[:6, 0], (pdf - pdf.min()) / (pdf.max() - pdf.min()))


def test_adstock_params_broadcast_over_panel():
    x = np.zeros((6, 2, 3))  # date, geo, channel
    x[0] = 1.0
    alpha = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    out = adstock(x, "geometric", {"alpha": alpha}, l_max=3, normalize=False).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(out[1], alpha)
    np.testing.assert_allclose(out[2], alpha**2)


def test_logistic_saturation_hand_values():
    lam, beta = 2.0, 3.0
    assert float(logistic_saturation(0.0, lam, beta).eval(mode=ONE_OFF_MODE)) == 0.0
    # (1 - e^-u) / (1 + e^-u) = 1/2 at u = ln 3
    assert float(logistic_saturation(np.log(3) / lam, lam, beta).eval(mode=ONE_OFF_MODE)) == pytest.approx(beta / 2)
    assert float(logistic_saturation(50.0, lam, beta).eval(mode=ONE_OFF_MODE)) == pytest.approx(beta)


def test_michaelis_menten_half_saturation_point():
    assert float(michaelis_menten(4.0, 10.0, 4.0).eval(mode=ONE_OFF_MODE)) == pytest.approx(5.0)
    assert float(michaelis_menten(12.0, 10.0, 4.0).eval(mode=ONE_OFF_MODE)) == pytest.approx(7.5)


def test_hill_saturation_half_at_kappa():
    assert float(hill_saturation(0.5, 2.0, 0.5, 4.0).eval(mode=ONE_OFF_MODE)) == pytest.approx(2.0)
    assert float(hill_saturation(1.0, 2.0, 0.5, 4.0).eval(mode=ONE_OFF_MODE)) == pytest.approx(4.0 * 1 / (0.25 + 1))


def test_tanh_saturation_hand_values():
    b, c = 2.0, 0.5
    assert float(tanh_saturation(0.0, b, c).eval(mode=ONE_OFF_MODE)) == 0.0
    assert float(tanh_saturation(b * c * np.arctanh(0.5), b, c).eval(mode=ONE_OFF_MODE)) == pytest.approx(b / 2)


def test_weibull_pdf_kernel_of_one_lag_is_one():
    out = adstock(impulse(3), "weibull_pdf", {"lam": np.array([2.0]), "k": np.array([2.0])}, l_max=1,
                  normalize=True).eval(mode=ONE_OFF_MODE)
    np.testing.assert_array_equal(out[:, 0], [1.0, 0.0, 0.0])


def test_underflowing_kernels_normalize_to_their_limit():
    x = impulse(4)
    cdf = adstock(x, "weibull_cdf", {"lam": np.array([1e-3]), "k": np.array([5.0])}, l_max=4).eval(mode=ONE_OFF_MODE)
    np.testing.assert_array_equal(cdf[:, 0], [1, 0, 0, 0])  # all mass decays before lag 1
    delayed = adstock(x, "delayed", {"alpha": np.array([1e-4]), "theta": np.array([30.3])}, l_max=4).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(delayed[:, 0], [0, 0, 0, 1], atol=1e-200)  # all mass at the lag nearest theta
    at_zero = adstock(x, "delayed", {"alpha": np.array([0.0]), "theta": np.array([1.5])}, l_max=4).eval(mode=ONE_OFF_MODE)
    np.testing.assert_array_equal(at_zero[:, 0], [0, 0.5, 0.5, 0])  # alpha -> 0: a tie splits


def test_hill_is_zero_at_zero_and_beta_at_huge_spend():
    out = hill_saturation(np.array([0.0, 1e300]), 0.6, 0.5, 4.0).eval(mode=ONE_OFF_MODE)
    np.testing.assert_array_equal(out, [0.0, 4.0])


# --- every transform finite and differentiable over its whole domain -----------------------------------------
#
# The transforms as they were written before they were made zero-safe ("naive"): the values the new ones must
# reproduce. Bit for bit (values and gradients) for the geometric kernel and the logistic saturation, which the
# default case uses; to rtol 1e-12 for the others wherever the naive formula is finite and did not underflow on
# the way (its intermediate powers/pdf/survivals normal floats: where they underflow the naive value is 0, 0/0 or
# a subnormal that lost its digits, and the new, log-space value is the accurate one).

TINY = np.finfo(float).tiny


def _normal(a):
    """Elementwise: a finite float not below the normal range (no underflow)."""
    return pt.ge(a, TINY) & pt.le(a, np.finfo(float).max)


def _naive_lags(l_max, like):
    return pt.arange(l_max, dtype="float64").reshape((l_max,) + (1,) * like.ndim)


def _naive_geometric(alpha, l_max):
    w = pt.power(alpha[None, ...], _naive_lags(l_max, alpha))
    return w, _normal(w)


def _naive_delayed(alpha, theta, l_max):
    w = pt.power(alpha[None, ...], (_naive_lags(l_max, alpha + theta) - theta[None, ...]) ** 2)
    return w, _normal(w)


def _naive_weibull_cdf(lam, k, l_max):
    t = _naive_lags(l_max, lam + k) + 1.0
    w = pt.cumprod(pt.exp(-pt.power(t / lam[None, ...], k[None, ...])), axis=0)
    return w, _normal(w)


def _naive_weibull_pdf(lam, k, l_max):
    t = _naive_lags(l_max, lam + k) + 1.0
    ratio = t / lam[None, ...]
    pdf = (k / lam)[None, ...] * pt.power(ratio, k[None, ...] - 1) * pt.exp(-pt.power(ratio, k[None, ...]))
    lo, hi = pt.min(pdf, axis=0, keepdims=True), pt.max(pdf, axis=0, keepdims=True)
    return (pdf - lo) / (hi - lo), _normal(pdf) & _normal(hi)


NAIVE_KERNELS = {"geometric": _naive_geometric, "delayed": _naive_delayed, "weibull_cdf": _naive_weibull_cdf,
                 "weibull_pdf": _naive_weibull_pdf}


def _naive_logistic(x, lam, beta):
    e = pt.exp(-lam * x)
    return beta * (1 - e) / (1 + e), pt.ones_like(e, dtype=bool)


def _naive_hill(x, slope, kappa, beta):
    xs, ks = pt.power(x, slope), pt.power(kappa, slope)
    return beta * xs / (ks + xs), (_normal(xs) | pt.eq(x, 0)) & _normal(ks)


NAIVE_SATURATIONS = {
    "logistic": _naive_logistic,
    "michaelis_menten": lambda x, alpha, lam: (alpha * x / (lam + x), pt.ones_like(x, dtype=bool)),
    "hill": _naive_hill,
    "tanh": lambda x, b, c: (b * pt.tanh(x / (b * c)), pt.ones_like(x, dtype=bool)),
}
BIT_EXACT = {"geometric", "logistic"}
RTOL = 1e-12

L_MAX, N_WEEKS = 8, 20


def _series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    stretches = rng.lognormal(size=N_WEEKS)
    stretches[:4] = stretches[9:14] = 0.0
    spike, big_spike = np.zeros(N_WEEKS), np.zeros(N_WEEKS)
    spike[5], big_spike[2] = 1.0, 1e6
    return {"zeros": np.zeros(N_WEEKS), "zero_stretches": stretches, "spike": spike, "spike_1e6": big_spike,
            "always_1e6": np.full(N_WEEKS, 1e6), "tiny": np.full(N_WEEKS, 1e-300)}


SERIES = _series()
UNIT = [0.0, 1e-4, 0.01, 0.3, 0.7, 0.99, 1 - 1e-4, 1.0]  # Beta: the closure of the support
NONNEGATIVE = [0.0, 1e-4, 0.5, 1.0, 2.5, 7.0, 20.0, 100.0]
POSITIVE = [1e-8, 1e-4, 0.01, 0.3, 1.0, 2.5, 10.0, 100.0, 1e4]


def _values(role: str, name: str) -> list[float]:
    """Grid of a parameter over its prior's support: the adstock's alpha (Beta) and theta, else positive."""
    if role == "adstock" and name in ("alpha", "theta"):
        return UNIT if name == "alpha" else NONNEGATIVE
    return POSITIVE


def _grid(role: str, params) -> dict[str, np.ndarray]:
    combos = list(itertools.product(*(_values(role, p) for p in params)))
    return {p: np.array([c[i] for c in combos]) for i, p in enumerate(params)}


def _component(role: str, kind: str) -> Component:
    return (ADSTOCKS if role == "adstock" else SATURATIONS)[kind]


@functools.cache
def _prior_draws(role: str, kind: str, n: int = 200) -> dict[str, np.ndarray]:
    """``n`` draws of each parameter from the component's default priors."""
    comp = _component(role, kind)
    with pm.Model(coords={"channel": range(n)}):
        rvs = [create(p, parse_prior(comp.defaults[p], p)) for p in comp.params]
    return dict(zip(comp.params, pm.draw(rvs, random_seed=11, mode=ONE_OFF_MODE)))


@functools.cache
def _compiled(role: str, kind: str):
    """One function per kind; x is (week, column), each parameter one value per column. Per variant (an adstock
    raw and normalized): the new value and its gradients wrt x and every parameter; the new and naive values that
    are compared (the kernel for an adstock) and where the naive one is clean; for the bit-exact kinds, also the
    naive output and its gradients."""
    comp = _component(role, kind)
    x = pt.matrix("x")
    ps = {p: pt.vector(p) for p in comp.params}
    wrt = [x, *ps.values()]
    outs: dict[str, pt.TensorVariable] = {}
    for variant in ("raw", "normalized") if role == "adstock" else ("",):
        if role == "adstock":
            normalize = variant == "normalized"
            w = adstock_weights(kind, ps, L_MAX, normalize)
            naive_w, clean = NAIVE_KERNELS[kind](*ps.values(), L_MAX)
            if normalize:
                naive_w = naive_w / naive_w.sum(axis=0, keepdims=True)
            new, naive = lagged_sum(x, w), lagged_sum(x, naive_w)
            outs |= {_key(variant, "compared"): w, _key(variant, "naive compared"): naive_w}
        else:
            new = saturation(x, kind, ps)
            naive, clean = NAIVE_SATURATIONS[kind](x, *ps.values())
            outs |= {"compared": new, "naive compared": naive}
        outs[_key(variant, "clean")] = clean
        for name, g in zip(["value", "d/dx", *(f"d/d{p}" for p in comp.params)], [new, *pt.grad(new.sum(), wrt)]):
            outs[_key(variant, name)] = g
        if kind in BIT_EXACT:
            for name, g in zip(["value", "d/dx", *(f"d/d{p}" for p in comp.params)], [naive, *pt.grad(naive.sum(), wrt)]):
                outs[_key(variant, f"naive {name}")] = g
    fn = pytensor.function(wrt, list(outs.values()), mode=NUMPY_MODE)
    return lambda *args: dict(zip(outs, fn(*args)))


def _key(variant: str, name: str) -> str:
    return f"{variant} {name}" if variant else name


def _where(bad: np.ndarray, params: dict) -> str:
    """The parameter columns where ``bad`` (week/lag, column) holds anywhere."""
    cols = np.flatnonzero(bad.reshape(-1, bad.shape[-1]).any(axis=0))
    return f"{len(cols)} columns, e.g. " + "; ".join(
        ", ".join(f"{n}={v[c]:g}" for n, v in params.items()) for c in cols[:4])


def _check(role: str, kind: str, x: np.ndarray, params: dict):
    comp = _component(role, kind)
    res = _compiled(role, kind)(x, *(params[p] for p in comp.params))
    for variant in ("raw", "normalized") if role == "adstock" else ("",):
        at = f"{kind} {variant}".rstrip()
        for name in ["value", "d/dx", *(f"d/d{p}" for p in comp.params)]:
            got = res[_key(variant, name)]
            assert np.isfinite(got).all(), f"{at}: {name} not finite at {_where(~np.isfinite(got), params)}"
            if kind in BIT_EXACT:
                old = res[_key(variant, f"naive {name}")]
                same = (got == old) | ~np.isfinite(old)
                assert same.all(), f"{at}: {name} not bit-identical to the naive formula's at {_where(~same, params)}"
        new, naive = res[_key(variant, "compared")], res[_key(variant, "naive compared")]
        if kind in BIT_EXACT:
            assert np.array_equal(new, naive), f"{at}: not bit-identical to the naive formula"
        clean = np.broadcast_to(res[_key(variant, "clean")], naive.shape) & np.isfinite(naive)
        close = np.isclose(new, naive, rtol=RTOL, atol=0) | ~clean
        assert close.all(), f"{at}: differs from the naive formula at {_where(~close, params)}"


def _columns(params: dict, series: dict) -> tuple[np.ndarray, dict]:
    """Every series against every parameter column: x (week, series x column), parameters tiled."""
    n = len(next(iter(params.values())))
    x = np.concatenate([np.repeat(s[:, None], n, axis=1) for s in series.values()], axis=1)
    return x, {p: np.tile(v, len(series)) for p, v in params.items()}


PARAMETRIC_ADSTOCKS = [k for k, comp in ADSTOCKS.items() if comp.params]  # "none" has nothing to vary


@pytest.mark.parametrize("source", ["grid", "prior_draws"])
@pytest.mark.parametrize("kind", PARAMETRIC_ADSTOCKS)
def test_adstock_finite_with_finite_gradients_and_naive_values(kind, source):
    params = _grid("adstock", ADSTOCKS[kind].params) if source == "grid" else _prior_draws("adstock", kind)
    _check("adstock", kind, *_columns(params, SERIES))


@pytest.mark.parametrize("source", ["grid", "prior_draws"])
@pytest.mark.parametrize("kind", list(SATURATIONS))
def test_saturation_finite_with_finite_gradients_and_naive_values(kind, source):
    params = _grid("saturation", SATURATIONS[kind].params) if source == "grid" else _prior_draws("saturation", kind)
    _check("saturation", kind, *_columns(params, SERIES))


_spend = st.one_of(st.just(0.0), st.sampled_from([1e-300, 1e-3, 1.0, 1e6]), st.floats(0.0, 1e6))
_weeks = st.one_of(
    st.lists(_spend, min_size=N_WEEKS, max_size=N_WEEKS),
    st.tuples(st.integers(0, N_WEEKS - 1), st.sampled_from([1.0, 1e6])).map(  # a single spike
        lambda s: [s[1] if t == s[0] else 0.0 for t in range(N_WEEKS)]),
)


def _param(role: str, name: str, draws: np.ndarray):
    """A grid value, a value anywhere in the support (log-uniform when positive) or a prior draw."""
    grid = _values(role, name)
    if grid is UNIT:
        # Not below 1e-100: d alpha**e / d alpha = e * alpha**(e - 1) is unbounded as alpha -> 0 when e < 1 (the
        # delayed kernel, theta within one lag of a non-integer), and overflows near the subnormal range (a true
        # infinite slope, not a 0 * inf). alpha = 0 itself is in the grid: there the kernel is its limit.
        anywhere = st.one_of(st.floats(1e-100, 1.0), st.floats(-100.0, 0.0).map(lambda e: 10.0**e))
    elif grid is NONNEGATIVE:
        anywhere = st.floats(0.0, 100.0)
    else:
        anywhere = st.floats(-8, 4).map(lambda e: 10.0**e)
    return st.one_of(st.sampled_from(grid), anywhere, st.sampled_from(list(draws)))


def _property(role: str, kind: str):
    comp = _component(role, kind)
    draws = _prior_draws(role, kind)

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(x=_weeks, params=st.fixed_dictionaries({p: _param(role, p, draws[p]) for p in comp.params}))
    def check(x, params):
        _check(role, kind, np.array(x)[:, None], {p: np.array([v]) for p, v in params.items()})

    check()


@pytest.mark.parametrize("kind", PARAMETRIC_ADSTOCKS)
def test_adstock_property(kind):
    _property("adstock", kind)


@pytest.mark.parametrize("l_max", [1, 4])
def test_no_adstock_leaves_spend_as_it_is(l_max):
    x = np.array([[0.0, 2.0], [1.5, 0.0], [0.25, 3.0]])
    for normalize in (True, False):
        np.testing.assert_array_equal(adstock(x, "none", {}, l_max, normalize).eval(mode=ONE_OFF_MODE), x)


@pytest.mark.parametrize("kind", list(SATURATIONS))
def test_saturation_property(kind):
    _property("saturation", kind)


def test_hill_after_adstock_has_finite_gradient_on_zero_weeks():
    """The reported case: zero-spend weeks, slope < 1 (was NaN for alpha and slope: 0 * inf)."""
    x = np.r_[np.zeros(5), 1.0, 0.5, np.zeros(6), 2.0][:, None]
    alpha, slope, kappa, beta = (pt.vector(n) for n in ("alpha", "slope", "kappa", "beta"))
    out = saturation(adstock(x, "geometric", {"alpha": alpha}, L_MAX), "hill",
                     {"slope": slope, "kappa": kappa, "beta": beta})
    grads = pytensor.function([alpha, slope, kappa, beta], pt.grad(out.sum(), [alpha, slope, kappa, beta]),
                            mode=NUMPY_MODE)
    got = grads(*(np.array([v]) for v in (0.4, 0.6, 0.5, 1.0)))
    assert all(np.isfinite(g).all() for g in got), got


# --- Components check their parameters against their function --------------------------------------------------


def test_registered_components_have_a_default_prior_per_parameter():
    for comp in [*ADSTOCKS.values(), *SATURATIONS.values()]:
        assert list(comp.defaults) == list(comp.params)


def test_component_with_mismatched_params_raises():
    prior = {"distribution": "HalfNormal", "sigma": 1}
    with pytest.raises(TypeError, match=r"michaelis_menten.*missing \['alpha'\].*not in the signature \['alfa'\]"):
        Component(("alfa", "lam"), michaelis_menten, {"alfa": prior, "lam": prior})
    with pytest.raises(TypeError, match=r"michaelis_menten.*\('alpha', 'lam'\), in this order"):
        Component(("lam", "alpha"), michaelis_menten, {"alpha": prior, "lam": prior})  # passed positionally
    with pytest.raises(TypeError, match=r"delayed_weights: default priors for \['alpha'\]"):
        Component(("alpha", "theta"), ADSTOCKS["delayed"].fn, {"alpha": prior})


@pytest.mark.parametrize("x_shape, w_shape", [((12,), (4,)), ((12, 3), (4, 3)), ((12, 5, 3), (4, 3)), ((3,), (5, 2))],
                         ids=["1d", "per-channel", "batch-broadcast", "series-shorter-than-lags"])
def test_shifted_sum_equals_the_convolution_and_the_loop(x_shape, w_shape):
    rng = np.random.default_rng(0)
    x, w = rng.uniform(0, 1, x_shape), rng.uniform(0, 1, w_shape)
    got = shifted_sum(x, w).eval(mode=ONE_OFF_MODE)
    np.testing.assert_allclose(got, lagged_sum(x, w).eval(mode=ONE_OFF_MODE), rtol=1e-12)
    full = np.broadcast_shapes(x.shape[1:], w.shape[1:])

    def spread(a):  # batch dims aligned right, then broadcast to the full batch shape
        return np.broadcast_to(a.reshape(a.shape[0], *(1,) * (len(full) - a.ndim + 1), *a.shape[1:]), (a.shape[0], *full))

    np.testing.assert_allclose(got, numpy_adstock(spread(x), spread(w)), rtol=1e-12)


def test_one_off_mode_takes_sums_and_products_two_at_a_time():
    """numpy's ufuncs take two inputs; a wider ``add``/``mul`` node (``mul(-1, a, b)``, the canonical form of
    ``-(a * b)``) ran through PyTensor's Python fallback one element at a time. The one-off mode chains two-input
    nodes instead: the same values, and no wider node left in the compiled graph."""
    from pytensor.tensor.elemwise import Elemwise

    a, b, c = pt.matrix("a"), pt.matrix("b"), pt.matrix("c", dtype="float32")
    fn = pytensor.function([a, b, c], [-(a * b) * c, a + b + c + 1.0], mode=ONE_OFF_MODE)
    rng = np.random.default_rng(0)
    x, y, z = rng.normal(size=(3, 40, 30))
    prod, total = fn(x, y, z.astype("float32"))
    np.testing.assert_allclose(prod, -(x * y) * z.astype("float32"), rtol=1e-15)
    np.testing.assert_allclose(total, x + y + z.astype("float32") + 1.0, atol=1e-14)  # summed in another order
    assert prod.dtype == total.dtype == np.float64
    wide = [n for n in fn.maker.fgraph.apply_nodes if isinstance(n.op, Elemwise) and len(n.inputs) > 2
            and type(n.op.scalar_op).__name__ in ("Add", "Mul")]
    assert not wide
