"""compile.compile_model: nutpie's compiled model with its C callbacks cached on disk.

The key tests are fast (no compiling) and use the MMM. The others compile with numba, marked slow, on a
small model with the same ingredients (``pm.Data``, a bounded and a positive parameter, a deterministic, a
truncated likelihood whose log-CDF needs erfcx): a cold compile of the full MMM takes about three minutes
here (nutpie's and ours), this one about one. The pipeline tests compile the MMM itself and check that it
went through the cache (``diagnostics.json`` ``compile_cache``).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mmmhelpers import compile as mc
from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.model import build_model
from mmmhelpers.simulate import simulate
from mmmhelpers.transforms import NUMPY_MODE

ROOT = Path(__file__).resolve().parent.parent
N_WEEKS = 60


def _mmm(seed: int = 3, spec: ModelSpec | None = None, n_weeks: int = N_WEEKS):
    data, _ = simulate(SimulateSpec(generator="single_market", n_weeks=n_weeks), seed=seed)
    return build_model(spec or ModelSpec(yearly_seasonality=2), data)


def _small(seed: int = 3, n: int = 30):
    """A small PyMC model with the MMM's ingredients, data named as the MMM's (for ``with_data``)."""
    import pymc as pm

    rng = np.random.default_rng(seed)
    with pm.Model(coords={"channel": ["x1", "x2"]}) as model:
        x = pm.Data("channel_data", rng.uniform(0, 1, (n, 2)))
        y = pm.Data("target_scaled", rng.uniform(0.2, 1, n))
        beta = pm.Beta("beta", 2, 2, dims="channel")
        sigma = pm.HalfNormal("y_sigma", 1)
        mu = pm.Deterministic("mu", 0.2 + (x * beta).sum(-1))
        pm.TruncatedNormal("y", mu=mu, sigma=sigma, lower=0, observed=y)
    return model


def _key(mmm) -> str:
    """The key of the model as the fit compiles it (its trace: ``compile.UNCONSTRAINED_ONLY``)."""
    return mc.key_of(mmm.model)


def test_key_ignores_data_values_and_the_periods_but_not_structure_or_other_shapes():
    """A weekly refresh (new numbers, more periods) keeps the key; another model changes it; a trace that stores a
    variable over the periods makes their number part of it."""
    base = _key(_mmm(seed=3))
    assert _key(_mmm(seed=4)) == base  # other simulated data, same shapes
    assert _key(_mmm(seed=3, n_weeks=N_WEEKS + 4)) == base  # four more weeks: the same compiled code
    assert _key(_mmm(seed=3, spec=ModelSpec(yearly_seasonality=3))) != base
    mmm = _mmm(seed=3)
    stored = mc.structure_key(mmm.model, mc.model_graphs(mmm.model, None))[0]  # every deterministic in the trace
    longer = _mmm(seed=3, n_weeks=N_WEEKS + 4)
    assert stored != mc.structure_key(longer.model, mc.model_graphs(longer.model, None))[0]
    g = mc.model_graphs(mmm.model, mc.UNCONSTRAINED_ONLY)  # the fit's trace: the parameter vector, copied
    assert g.all_names == g.joined_names and g.n_expanded == g.n_dim and "adstock_alpha_logodds__" in g.all_names


def test_the_log_density_compiles_without_the_shape_graphs_broadcast_checks():
    """``broadcast_checks_removed``: none of PyTensor's broadcast asserts is left in the log density the callbacks
    compile (their values against PyMC's: ``test_fit``'s callbacks test)."""
    from pytensor.raise_op import Assert

    mmm = _mmm()
    g = mc.model_graphs(mmm.model, mc.UNCONSTRAINED_ONLY)
    logp_fn, _ = mc._functions(mmm.model, g)
    nodes = logp_fn.maker.fgraph.apply_nodes
    assert not [n for n in nodes if isinstance(n.op, Assert) and "broadcast" in n.op.msg] and len(nodes) > 50


def test_the_sampler_skips_the_parameter_checks_of_checked_prior_numbers_only():
    """The priors' numbers are data in the compiled copy of the model; PyMC's checks of them (sigma > 0, ...) passed
    when the model was built, so the log density leaves those checks out and keeps every check of anything else."""
    from pymc.logprob.utils import CheckParameterValue
    from pytensor.graph.traversal import applys_between, graph_inputs

    model = mc.numbers_as_data(_mmm().model)
    assert {"intercept_contribution.sigma", "adstock_alpha.alpha", "y_sigma.sigma"} <= {
        v.name for v in graph_inputs([model.logp()]) if getattr(v.tag, "checked_number", False)}

    def checks(logp):
        return [n for n in applys_between(list(graph_inputs([logp])), [logp]) if isinstance(n.op, CheckParameterValue)]

    before, after = checks(model.logp()), checks(mc._checks_of_numbers_removed(model.logp()))
    assert len(before) >= len(after) + 5 and after
    for node in after:  # what is left checks a parameter, a value or data
        assert not all(mc._checked_numbers_only(c) for c in node.inputs[1:])


def test_key_describes_transforms_and_refuses_what_it_cannot_describe():
    """Transforms are part of the key; objects without a stable description make the model uncacheable."""
    h = mc._Hasher()
    from pymc.distributions.transforms import log, logodds

    assert h.text(log) != h.text(logodds)
    assert h.text(log) == mc._Hasher().text(log)
    from pymc.distributions.transforms import ZeroSumTransform  # __props__ without an op's _props_dict: it raised

    assert h.text(ZeroSumTransform((0,))) != h.text(ZeroSumTransform((1,)))

    class Opaque:
        __slots__ = ()

    with pytest.raises(mc._Uncacheable):
        h.text(Opaque())


def _censored(lower: float = 0.0):
    """A model with PyMC's Censored likelihood: an op defined by a graph (a symbolic random variable)."""
    import pymc as pm

    with pm.Model() as model:
        y = pm.Data("target_scaled", np.linspace(0, 1, 7))
        mu = pm.Normal("mu")
        pm.Censored("y", pm.Normal.dist(mu, pm.HalfNormal("y_sigma")), lower=lower, upper=None, observed=y)
    return model


def test_a_censored_likelihood_has_a_key_the_same_in_every_process_with_its_bounds_in_it():
    """Censored has no ``__props__``: the key describes it by its inner graph. It was refused before, and every fit
    of such a model compiled from scratch (13 s per target of the two-target smoke case, in every run)."""
    script = textwrap.dedent("""
        from mmmhelpers import compile as mc
        from tests.test_compile import _censored
        for lower in (0.0, 1.0):
            m = _censored(lower)
            print(mc.structure_key(m, mc.model_graphs(m, mc.UNCONSTRAINED_ONLY))[0])
    """)
    keys = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        keys.append(out.stdout.split()[-2:])
    assert keys[0] == keys[1] and keys[0][0] != keys[0][1]  # the same in every process; the bound is in it
    assert _key_of(_censored(0.0)) == keys[0][0]


def _key_of(model) -> str:
    return mc.structure_key(model, mc.model_graphs(model, mc.UNCONSTRAINED_ONLY))[0]


def _logp(compiled, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_void_p)(compiled.compiled_logp_func.address)
    x = np.ascontiguousarray(x, dtype=float)
    grad, logp = np.zeros(compiled.n_dim), np.zeros(())
    code = fn(compiled.n_dim, x.ctypes.data, grad.ctypes.data, logp.ctypes.data, compiled.user_data.ctypes.data)
    return code, float(logp), grad


def _expand(compiled, x: np.ndarray) -> tuple[int, np.ndarray]:
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_void_p)(compiled.compiled_expand_func.address)
    x = np.ascontiguousarray(x, dtype=float)
    out = np.zeros(compiled.n_expanded)
    code = fn(compiled.n_dim, compiled.n_expanded, x.ctypes.data, out.ctypes.data, compiled.user_data.ctypes.data)
    return code, out


@pytest.fixture(scope="module")
def both():
    """The same model compiled by nutpie and by compile_model (cold or warm, whatever the cache holds)."""
    import nutpie

    model = _small()
    return model, nutpie.compile_pymc_model(model), mc.compile_model(model)


def _points(compiled, n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x0 = compiled.initial_point_func(0)
    return [x0] + [x0 + rng.normal(0, 0.3, compiled.n_dim) for _ in range(n - 1)]


@pytest.mark.slow
def test_same_logp_gradient_and_trace_as_nutpie(both):
    _, ref, ours = both
    assert (ours.n_dim, ours.n_expanded, ours.shape_info[0]) == (ref.n_dim, ref.n_expanded, ref.shape_info[0])
    assert set(ref.shared_data) <= set(ours.shared_data)
    for x in _points(ref):
        code_r, logp_r, grad_r = _logp(ref, x)
        code_o, logp_o, grad_o = _logp(ours, x)
        assert code_o == code_r == 0
        np.testing.assert_allclose(logp_o, logp_r, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad_o, grad_r, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(_expand(ours, x)[1], _expand(ref, x)[1], rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_a_censored_model_through_the_cache_has_pymcs_logp_and_gradient():
    """The censored likelihood compiled through the cache: PyMC's own log density and gradient at a few points."""
    model = _censored()  # one observation at the bound: its probability mass enters
    ours = mc.compile_model(model, mc.UNCONSTRAINED_ONLY)
    g = mc.model_graphs(model, mc.UNCONSTRAINED_ONLY)
    logp, dlogp = model.compile_logp(mode=NUMPY_MODE), model.compile_dlogp(mode=NUMPY_MODE)
    for x in _points(ours):
        point = {n: x[sl].reshape(shape) for n, sl, shape in zip(g.joined_names, g.joined_slices, g.joined_shapes)}
        code, value, grad = _logp(ours, x)
        assert code == 0
        np.testing.assert_allclose(value, logp(point), rtol=1e-12)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_with_data_changes_logp_as_nutpie_does(both):
    _, ref, ours = both
    new = {"channel_data": ref.shared_data["channel_data"] * 1.3, "target_scaled": ref.shared_data["target_scaled"][::-1]}
    ref2, ours2 = ref.with_data(**new), ours.with_data(**new)
    x = ref.initial_point_func(1)
    assert _logp(ours2, x)[1] != _logp(ours, x)[1]
    np.testing.assert_allclose(_logp(ours2, x)[1], _logp(ref2, x)[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_logp(ours2, x)[2], _logp(ref2, x)[2], rtol=1e-12, atol=1e-12)
    with pytest.raises(KeyError):
        ours.with_data(no_such_data=np.zeros(3))


@pytest.mark.slow
def test_same_draws_as_nutpie_for_a_seed(both):
    import nutpie

    _, ref, ours = both
    kwargs = dict(chains=2, tune=200, draws=200, seed=11, cores=1, progress_bar=False)
    a, b = nutpie.sample(ours, **kwargs), nutpie.sample(ref, **kwargs)
    assert set(a.posterior.data_vars) == set(b.posterior.data_vars)
    for name in b.posterior.data_vars:
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)


@pytest.mark.slow
def test_the_fits_trace_computed_from_unconstrained_draws_is_nutpies(both):
    """The fit stores only the unconstrained draws (``UNCONSTRAINED_ONLY``: its expand callback copies them) and
    computes the constrained values and deterministics afterwards: the same draws, the same values as nutpie's own
    trace, to the last bits numpy and numba may differ in."""
    from types import SimpleNamespace

    import nutpie

    from mmmhelpers.fit import with_deterministics

    model, ref, _ = both
    ours = mc.compile_model(model, mc.UNCONSTRAINED_ONLY)
    assert ours.n_expanded == ours.n_dim < ref.n_expanded
    kwargs = dict(chains=2, tune=100, draws=100, seed=11, cores=1, progress_bar=False)
    a = with_deterministics(SimpleNamespace(model=model, compiled={}), nutpie.sample(ours, **kwargs))
    b = nutpie.sample(ref, **kwargs)
    expected = {v.name for v in [*model.free_RVs, *model.deterministics]}
    assert set(a.posterior.data_vars) == expected
    for name in expected:
        np.testing.assert_allclose(a.posterior[name].values, b.posterior[name].values, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_a_new_process_loads_the_callbacks(both):
    """Once compiled (by the fixture), the same structure with other data values loads from the cache."""
    script = textwrap.dedent("""
        import time
        from mmmhelpers import compile as mc
        from tests.test_compile import _small
        model = _small(seed=5)  # a "weekly refresh": other values, same shapes
        t0 = time.perf_counter()
        compiled = mc.compile_model(model)
        print(mc.last_info.hit, time.perf_counter() - t0, compiled.n_dim)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    hit, seconds, n_dim = out.stdout.split()[-3:]
    assert hit == "True", out.stdout + out.stderr
    assert float(seconds) < 15  # about 1 s on 2 idle cores; compiling takes a minute
    assert int(n_dim) == both[2].n_dim


@pytest.mark.slow
def test_fast_gradient_check_passes_finite_models_and_hands_the_rest_to_the_full_check(both, monkeypatch):
    """On a cache hit the fit checks logp and gradient through the compiled callback (milliseconds); a
    non-finite value there runs the full check, which names the variable."""
    from types import SimpleNamespace

    from mmmhelpers import fit

    model, _, ours = both
    full = []
    monkeypatch.setattr(fit, "check_gradients", lambda mmm, seed: full.append(seed) or 9.0)
    assert fit.check_compiled(SimpleNamespace(model=model), ours, seed=1) < 1.0 and not full
    bad = ours.with_data(target_scaled=np.full(30, np.nan))
    assert fit.check_compiled(SimpleNamespace(model=model), bad, seed=1) == 9.0 and full == [1]


@pytest.mark.slow
def test_before_compile_runs_on_a_miss_only(both, tmp_path, monkeypatch):
    """The fit's full gradient check rides on this hook: before a long compile, never on a cache hit."""
    calls = []
    mc.compile_model(_small(seed=9), before_compile=lambda: calls.append("hit?"))  # the fixture's structure
    assert mc.last_info.hit and calls == []
    monkeypatch.setattr(mc, "cache_dir", lambda: tmp_path)  # an empty cache: a miss
    mc.compile_model(_small(seed=9), before_compile=lambda: calls.append("miss"), in_child=False)  # (a child
    assert not mc.last_info.hit and calls == ["miss"]  # would not see the patched cache folder)


@pytest.mark.slow
def test_the_compile_in_another_process_forked_or_new_and_why_it_failed(both, monkeypatch, capfd):
    """A new Python process (where no fork: the model pickled) loads a cached structure and exits cleanly; a forked
    child that fails says why, and prints nothing into the parent's output (a kernel's)."""
    model = both[0]
    monkeypatch.setattr(mc, "FORK", False)
    assert mc._compile_in_child(model, None) is None
    monkeypatch.setattr(mc, "FORK", True)
    monkeypatch.setattr(mc, "_loaded", lambda *_: None)  # the fork misses the cache ...

    def no_compiler(*_):
        print("a line the parent must not see")
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(mc, "_functions", no_compiler)  # ... and fails to compile
    assert mc._compile_in_child(model, None) == "RuntimeError: no compiler here"
    assert capfd.readouterr() == ("", "")


@pytest.mark.slow  # three new processes build and rewrite the graphs
def test_every_blockwise_gets_its_core_shape_whatever_the_hash_seed():
    """The rewrites' order depends on ``PYTHONHASHSEED``; with PyTensor's rewrite alone, the HSGP models' adstock
    gradient was left to numba's object mode in about half the processes (which nutpie's callbacks cannot run).
    With ``core_shape_from_inputs`` no plain Blockwise is left, in the fit's model and the holdout refit's."""
    script = textwrap.dedent("""
        import pytensor, pytensor.tensor as pt
        from pytensor.compile.mode import get_mode
        from pytensor.graph.fg import FunctionGraph
        from mmmhelpers import compile as mc
        from mmmhelpers.config import ModelSpec, SimulateSpec
        from mmmhelpers.model import build_model
        from mmmhelpers.simulate import simulate
        data, _ = simulate(SimulateSpec(generator="single_market", n_weeks=40), seed=3)
        spec = ModelSpec(yearly_seasonality=1, time_varying_media={"m": 12, "link": "softplus"})
        for mmm in (build_model(spec, data), build_model(spec, data, observed_weeks=34)):
            g = mc.model_graphs(mmm.model, None)
            logp = pytensor.graph.rewrite_graph(mmm.model.logp(), include=["canonicalize", "stabilize"])
            grad = pt.concatenate([gr.ravel() for gr in pytensor.gradient.grad(logp, g.value_vars)])
            fg = FunctionGraph(outputs=[logp, grad], clone=True)
            get_mode("NUMBA").optimizer.rewrite(fg)
            print(sum(type(n.op).__name__ == "Blockwise" for n in fg.apply_nodes))
    """)
    for seed in ("2", "7"):  # these left one to object mode before (pytensor 2.38.3)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.split() == ["0", "0"], (seed, out.stdout, out.stderr[-2000:])


def test_core_shape_from_inputs_compiles_the_adstock_and_its_gradient_right():
    """With PyTensor's own core-shape rewrite switched off, ours alone gives every Blockwise its core shape: the
    numba adstock of an impulse and its gradient equal the hand-computed values."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import get_mode

    from mmmhelpers.transforms import lagged_sum

    x = pt.matrix("x")
    w = pt.tensor("w", shape=(3, None))
    y = lagged_sum(x, w)
    gw = pytensor.grad((y**2).sum(), w)
    mode = get_mode("NUMBA").excluding("introduce_explicit_core_shape_blockwise")
    f = pytensor.function([x, w], [y, gw], mode=mode)
    assert not [n for n in f.maker.fgraph.apply_nodes if type(n.op).__name__ == "Blockwise"]
    xv = np.zeros((5, 2))
    xv[1] = [1.0, 2.0]  # an impulse in week 1
    wv = np.array([[0.5, 0.6], [0.3, 0.3], [0.2, 0.1]])
    yv, gv = f(xv, wv)
    np.testing.assert_allclose(yv, [[0, 0], [0.5, 1.2], [0.3, 0.6], [0.2, 0.2], [0, 0]])
    # d/dw[l] sum_t y_t^2 = 2 sum_t y_t x_{t-l}: only x_1 is non-zero, so 2 y_{1+l} x_1
    np.testing.assert_allclose(gv, 2 * yv[1:4] * xv[1])


@pytest.mark.slow
def test_hsgp_holdout_refit_through_the_cache():
    """The holdout refit of an HSGP case (a cross-validation model: fewer observed weeks, the basis as data) samples
    through the cached callbacks; before ``core_shape_from_inputs`` it failed at the first draw ("Logp function
    returned error") in processes such as this hash seed's."""
    script = textwrap.dedent("""
        from mmmhelpers import compile as mc
        from mmmhelpers.case_data import prepare_data
        from mmmhelpers.config import load_params
        from mmmhelpers.out_of_sample import run_folds
        params = load_params("tests/params/tiny.yaml", {"model": {"time_varying_media": {"m": 12, "link": "softplus"}},
                                                        "fit": {"tune": 60, "draws": 40}})
        data, _ = prepare_data(params)
        oos, preds = run_folds(params, data, progress=False)
        print(mc.last_info.key is not None, len(oos.folds), *(f.mape for f in oos.folds), oos.in_sample.r2)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "7"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    cached, n_folds, mape0, mape1, r2 = out.stdout.split()[-5:]
    assert cached == "True" and n_folds == "2"
    assert float(mape0) < 0.25 and float(mape1) < 0.25  # 6 test weeks each; about 0.04 and 0.08
    assert float(r2) > 0.5  # in sample, about 0.9


@pytest.mark.slow
def test_a_cold_and_a_warm_process_sample_the_same_draws(tmp_path):
    """The first run on a machine (empty cache: it compiles) and every later run (they load) give identical draws.

    A process that compiled the callbacks itself sampled with code that differs in the last bits from what later
    processes load; on this case (the adstock's convolution, a Blockwise, and a trend) the first run's draws
    differed from every later run's. The compile now runs in a new process and the fit loads its result.
    """
    script = textwrap.dedent("""
        import hashlib
        import numpy as np
        from mmmhelpers.case_data import prepare_data
        from mmmhelpers.config import load_params
        from mmmhelpers.fit import sample
        from mmmhelpers.calibration import model_for
        params = load_params("tests/params/tiny.yaml", {"model": {"trend": True}, "fit": {"tune": 100, "draws": 50}})
        data, _ = prepare_data(params)
        idata, timings = sample(model_for(params, data), params.fit, seed=params.seed, progress=False)
        draws = np.concatenate([idata.posterior[v].values.ravel() for v in sorted(idata.posterior.data_vars)])
        print(timings["compile_cache"], hashlib.sha256(draws.tobytes()).hexdigest())
    """)
    runs = []
    for hash_seed in ("1", "2"):  # the rewrites' order follows the hash seed: two of them
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed,
               "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(out.stdout.split()[-2:])
    assert [how for how, _ in runs] == ["miss", "hit"]  # cold, then warm
    assert runs[0][1] == runs[1][1]


@pytest.mark.slow  # two new processes compile on an empty cache (about a minute)
def test_processes_that_miss_the_same_structure_at_once_compile_it_once(tmp_path):
    """Out-of-sample checks and the stability refits (stages side by side) build the same model: on an empty cache
    one process compiles it, the other waits on its lock and loads it (before: both compiled, twice the CPU)."""
    script = textwrap.dedent("""
        from mmmhelpers import compile as mc
        from tests.test_compile import _small
        mc.compile_model(_small(seed=5, n=31))
        print(mc.last_info.numba_opt, mc.last_info.hit, mc.last_info.reason.replace(" ", "_"))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    results = sorted(out.split()[-3:] for out, _ in outs)
    # both load what the child compiled, and know the LLVM optimization level it compiled at (numba's default)
    assert results == [["3", "False", "compiled_in_a_new_process,_cached_and_loaded"],
                       ["3", "True", "loaded_from_the_cache"]]



def test_a_compile_ahead_that_cannot_start_its_child_lets_go_of_the_lock(tmp_path, monkeypatch):
    """A fork that fails (out of memory, too many processes) raises, and leaves the structure's lock free: held, it
    would make this process's own compile_model wait on itself forever."""
    monkeypatch.setattr(mc, "cache_dir", lambda: tmp_path)

    def no_fork(*_):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(mc, "_start_child", no_fork)
    model = _small(seed=5, n=35)
    with pytest.raises(OSError, match="temporarily unavailable"):
        mc.compile_ahead(model)
    key = mc.structure_key(model, mc.model_graphs(model, None))[0]
    with mc._compile_lock(key, wait=False) as held:
        assert held

@pytest.mark.slow  # a new process compiles on an empty cache (about half a minute)
def test_a_compile_ahead_runs_while_the_caller_works_and_compile_model_loads_it(tmp_path):
    """``compile_ahead`` starts the child compile and returns; a second call while it runs, and a call once it is
    cached, start nothing; ``compile_model`` waits for it and loads it (a miss of this run, said as compiled ahead)."""
    script = textwrap.dedent("""
        import time
        from mmmhelpers import compile as mc
        from tests.test_compile import _small
        t0 = time.perf_counter()
        thread = mc.compile_ahead(_small(seed=5, n=32))
        returned = time.perf_counter() - t0
        again = mc.compile_ahead(_small(seed=5, n=32))
        running = thread.is_alive()
        mc.compile_model(_small(seed=5, n=32))
        info = mc.last_info
        print(returned < 10, again is None, running, thread.is_alive(), info.hit, info.ahead,
              info.reason.startswith("compiled ahead in a new process"), mc.compile_ahead(_small(seed=5, n=32)) is None)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-8:] == ["True", "True", "True", "False", "False", "True", "True", "True"], out.stdout


def _other_prior_numbers(spec: ModelSpec) -> ModelSpec:
    """``spec`` with other numbers in its priors (the same families and dims)."""
    adstock = spec.adstock.model_copy(update={"priors": {
        "alpha": {"distribution": "Beta", "alpha": 5, "beta": 1.5, "dims": ["channel"]}}})
    priors = {**spec.priors, "intercept": {"distribution": "Normal", "mu": -0.2, "sigma": 0.05}}
    likelihood = {**spec.likelihood, "sigma": {"distribution": "HalfNormal", "sigma": 0.05}}
    return spec.model_copy(update={"adstock": adstock, "priors": priors, "likelihood": likelihood})


def test_key_ignores_the_priors_numbers_but_not_their_families():
    """The priors' numbers are data: an analyst trying other numbers (or a refresh carrying the last posterior) keeps
    the compiled model; another family is another model."""
    spec = ModelSpec(yearly_seasonality=2)
    base = _key(_mmm(spec=spec))
    assert _key(_mmm(spec=_other_prior_numbers(spec))) == base
    other = {**spec.priors, "intercept": {"distribution": "StudentT", "nu": 4, "mu": 0.5, "sigma": 0.5}}
    assert _key(_mmm(spec=spec.model_copy(update={"priors": other}))) != base


@pytest.mark.slow
def test_folds_built_with_other_observed_lengths_share_one_compiled_model():
    """The holdout folds and the stability refits build the cross-validation form with other observed lengths, and a
    refresh with more periods: one key, the fit's own; and the callbacks cached for one length give
    the other's log density and gradient exactly (PyMC's, at the same points). So do the callbacks loaded for a model
    with other numbers in its priors (they are data). The tiny case's model: compiled once for the suite (its
    report's fit, its folds and the stability tests share it)."""
    from mmmhelpers.config import load_params

    data, _ = simulate(SimulateSpec(generator="single_market", n_weeks=N_WEEKS), seed=3)
    spec = load_params(ROOT / "tests" / "params" / "tiny.yaml").model
    short = build_model(spec, data, observed_weeks=N_WEEKS - 12)
    long_ = build_model(spec, data, observed_weeks=N_WEEKS - 2)
    assert _key(short) == _key(long_) == _key(build_model(spec, data))
    longer, _ = simulate(SimulateSpec(generator="single_market", n_weeks=N_WEEKS + 4), seed=3)
    assert _key(short) == _key(build_model(spec, longer, observed_weeks=N_WEEKS - 12))  # a refresh's too
    other = build_model(_other_prior_numbers(spec), data, observed_weeks=N_WEEKS - 2)
    assert _key(other) == _key(short)
    mc.compile_model(short.model, mc.UNCONSTRAINED_ONLY)  # cached for one length ...
    for mmm in (long_, other):  # ... loaded for the other, and for other priors
        compiled = mc.compile_model(mmm.model, mc.UNCONSTRAINED_ONLY)
        assert mc.last_info.hit
        g = mc.model_graphs(mmm.model, None)
        logp = mmm.model.compile_logp(mode=NUMPY_MODE)
        dlogp = mmm.model.compile_dlogp(mode=NUMPY_MODE)
        for x in _points(compiled):
            point = {n: x[s].reshape(shape) for n, s, shape in zip(g.joined_names, g.joined_slices, g.joined_shapes)}
            code, value, grad = _logp(compiled, x)
            assert code == 0 and value == pytest.approx(float(logp(point)), rel=1e-9)
            np.testing.assert_allclose(grad, dlogp(point), rtol=1e-7, atol=1e-9)
    assert abs(value - float(long_.model.compile_logp(mode=NUMPY_MODE)(point))) > 0.1  # not the first model's
