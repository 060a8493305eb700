"""Fitting: sampler choice (nutpie, pymc fallback), posterior predictive, diagnostics summary."""

from __future__ import annotations

import os
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from mmmhelpers import compile as mc
from mmmhelpers.artifacts import Diagnostics
from mmmhelpers.diagnose import divergence_report, gradient_check, raise_if_bad, scalar_parameters
from mmmhelpers.health import health, refit_converged
from mmmhelpers.model import MMM, set_model_data
from mmmhelpers.priors import parse_likelihood
from mmmhelpers.seeds import seed_for
from mmmhelpers.transforms import NUMPY_MODE, ONE_OFF_MODE

__all__ = ["sample", "sample_many", "diagnostics", "add_original_scale_predictions", "time_gradient",
           "sampling_estimate", "convergence", "deterministics_at", "likelihood_draws", "log_likelihood"]

STEPS_PER_DRAW = (16, 64)
"""The range of leapfrog steps per draw the estimate assumes: the shipped cases' fits took 15 to 106."""
STARTUP_SECONDS = 2.0
"""What a fit costs besides the gradients: starting the chains, storing the draws, building the trace."""
LONG_FIT_SECONDS = 600.0


def _nutpie_available() -> bool:
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


def sampler_and_cores(fit) -> tuple[str, int]:
    """The sampler to use (nutpie when asked for and installed, else PyMC) and the cores for it."""
    sampler = fit.sampler if (fit.sampler != "nutpie" or _nutpie_available()) else "pymc"
    return sampler, fit.cores or min(fit.chains, os.cpu_count() or 1)


def run_nuts(mmm: MMM, compiled, fit, cores: int, seed: int, progress: bool, say=None,
             timings: dict | None = None) -> az.InferenceData:
    """One NUTS run: nutpie on ``compiled`` when given, otherwise PyMC on ``mmm.model``. With ``say``, the
    nutpie run says once, early in the warm-up, how long it will take from the steps the warm-up takes (the total
    goes to ``timings["warmup_estimate_seconds"]``)."""
    if compiled is not None:
        import nutpie

        kwargs = dict(draws=fit.draws, tune=fit.tune, chains=fit.chains, cores=cores, seed=seed,
                      target_accept=fit.target_accept, low_rank_modified_mass_matrix=fit.mass_matrix == "low_rank",
                      progress_bar=progress)
        if say is None:
            return nutpie.sample(compiled, save_warmup=False, **kwargs)
        sampler = nutpie.sample(compiled, save_warmup=True, blocking=False, **kwargs)
        try:
            estimate = _watch_warmup(sampler, fit, say)
            if timings is not None:
                timings["warmup_estimate_seconds"] = estimate
            idata = sampler.wait()
        except BaseException:
            sampler.cancel()
            raise
        for group in [g for g in idata.groups() if g.startswith("warmup_")]:
            delattr(idata, group)
        return idata
    with mmm.model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pm.sample(draws=fit.draws, tune=fit.tune, chains=fit.chains, cores=cores,
                         target_accept=fit.target_accept, random_seed=seed, progressbar=progress,
                         compute_convergence_checks=False)


WATCH_AFTER = (0.1, 3.0)  # the warm-up estimate: after this share of the warm-up draws, and at least these seconds
WATCH_AGAIN = 0.5  # once more at this share of the warm-up, from the pace since the first estimate ...
REVISE = 1.5  # ... said when it moves the total by this factor or more


def warmup_estimate(elapsed: float, done: np.ndarray, fit, since: tuple[float, float] = (0.0, 0.0)) -> float:
    """Seconds of sampling left when ``done`` draws per chain (warm-up included; 0 for a chain still waiting for a
    core) took ``elapsed`` seconds: the draws left over all chains at the pace so far (the steps per draw the warm-up
    really takes, at the gradient's real cost, on every core the chains run on), or at the pace since ``since``
    (seconds, draws finished then). Chains beyond the cores run after the first ones finish: their draws are left
    too."""
    total = fit.chains * (fit.tune + fit.draws)
    finished = float(np.sum(done))
    return (elapsed - since[0]) * (total - finished) / max(finished - since[1], 1.0)


def drawn(n_steps: np.ndarray) -> np.ndarray:
    """Which entries of nutpie's running trace of leapfrog steps (chain, draw) are draws: a draw takes at least one
    step, and the trace holds 0 (not NaN) where a chain waiting for a core has drawn nothing yet."""
    return np.isfinite(n_steps) & (n_steps > 0)


def _finished(sampler) -> bool:
    """nutpie's ``is_finished``, which raises TimeoutError (nutpie 0.16) while the sampler is still running."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _warmup_progress(sampler) -> tuple[np.ndarray, np.ndarray] | None:
    """nutpie's running trace of leapfrog steps (chain, draw) and which entries are draws; None before any."""
    try:
        with warnings.catch_warnings():  # arviz warns of a trace with no draws yet
            warnings.simplefilter("ignore", UserWarning)
            steps = sampler.inspect().warmup_sample_stats["n_steps"].values  # (chain, draw), NaN: not drawn yet
    except Exception:  # noqa: BLE001 - nothing drawn yet, or a trace without the stat
        return None
    return steps, drawn(steps)


def _watch_warmup(sampler, fit, say, poll: float = 0.25) -> float | None:
    """Wait for the sampler; say the time left from the steps per draw the warm-up takes: early in the warm-up
    (``WATCH_AFTER``), and again halfway (``WATCH_AGAIN``) from the pace since then when that moves the total by
    ``REVISE`` or more (a mass matrix still adapting early takes more steps per draw than later). Returns the
    sampling seconds the last estimate said in all (None: the sampler finished before it could say)."""
    t0, total, first = time.perf_counter(), None, None  # first: (seconds, draws per chain) at the first estimate
    stages = [WATCH_AFTER[0], WATCH_AGAIN]
    while not _finished(sampler):
        time.sleep(poll)
        elapsed = time.perf_counter() - t0
        if not stages or elapsed < WATCH_AFTER[1] or (progress := _warmup_progress(sampler)) is None:
            continue
        steps, real = progress
        done = real.sum(axis=1)
        if done.max() < stages[0] * fit.tune:  # the running chains' first tenth (then half) of the warm-up
            continue
        if first is None or total is None:
            left = warmup_estimate(elapsed, done, fit)
            say(f"warm-up at {float(steps[real].mean()):,.0f} leapfrog steps per draw: about {left:,.0f} s of "
                "sampling left")
            total, first = elapsed + left, (elapsed, done)
            stages = [s for s in stages[1:] if done.max() < s * fit.tune]  # past halfway already: said from there
            continue
        recent = real & (np.arange(steps.shape[1]) >= first[1][:, None])  # the draws since the first estimate
        if recent.sum() < WATCH_AFTER[0] * fit.tune * fit.chains:  # too few to set a pace yet
            continue
        stages.pop(0)
        left = warmup_estimate(elapsed, done, fit, since=(first[0], float(first[1].sum())))
        if not 1 / REVISE < (elapsed + left) / total < REVISE:
            say(f"warm-up half done, now at {float(steps[recent].mean()):,.0f} leapfrog steps per draw: about "
                f"{left:,.0f} s of sampling left")
            total = elapsed + left
    return total


DETERMINISTICS_CHUNK_BYTES = 256 * 2**20
"""The most memory the deterministics of one batch of draws take (:func:`with_deterministics`)."""


def with_deterministics(mmm: MMM, idata: az.InferenceData) -> az.InferenceData:
    """The trace as the report reads it: the free parameters' constrained values and the model's deterministics that
    the sampler did not store (nutpie stores the unconstrained values only: ``compile.UNCONSTRAINED_ONLY``),
    computed from the draws with the model's current data; the sampler's unconstrained copies dropped.

    The graph is vectorized over the draws and evaluated by numpy (``transforms.ONE_OFF_MODE``) in batches of
    draws: no C code to compile (PyMC's loop over draws compiled ~18 s of C for a new model structure) and
    one call per batch rather than one per draw."""
    model = mmm.model
    post = idata["posterior"]
    wanted = {rv.name for rv in [*model.free_RVs, *model.deterministics]} - set(post.data_vars)
    if wanted:
        values = [model.rvs_to_values[rv] for rv in model.free_RVs]
        outs = [v for v in model.unobserved_value_vars if v.name in wanted]
        idata.posterior = post.merge(_over_draws(mmm, post, values, outs))  # type: ignore[attr-defined]
    return _without_unconstrained(idata)


def deterministics_at(mmm: MMM, post: xr.Dataset, names: list[str]) -> xr.Dataset:
    """The deterministics ``names`` of every draw of ``post`` (constrained parameters, as the report stores them)
    with the model's current data (``MMM.set_data``: other dates, a plan): numpy over all draws at once."""
    from pytensor.graph.traversal import ancestors

    model = mmm.model
    outs = [model[n] for n in names]
    upstream = set(ancestors(outs, blockers=model.free_RVs))
    return _over_draws(mmm, post, [rv for rv in model.free_RVs if rv in upstream], outs)


def _over_draws(mmm: MMM, post: xr.Dataset, inputs: list, outs: list) -> xr.Dataset:
    """``outs`` for every draw of ``post``, which holds the ``inputs`` by name; the function compiled once per model
    (the folds and refits of one model share it)."""
    from pymc.backends.arviz import coords_and_dims_for_inferencedata, dict_to_dataset

    key = (tuple(v.name for v in inputs), tuple(v.name for v in outs))
    if key not in mmm.compiled:
        mmm.compiled[key] = _draws_function(inputs, outs)
    sample_shape = (post.sizes["chain"], post.sizes["draw"])
    draws = [post[v.name].values.reshape(-1, *post[v.name].shape[2:]) for v in inputs]
    computed = _in_batches(mmm.compiled[key], draws)
    coords, dims = coords_and_dims_for_inferencedata(mmm.model)
    out = {v.name: a.reshape(*sample_shape, *a.shape[1:]) for v, a in zip(outs, computed)}
    ds = dict_to_dataset(out, library=pm, dims=dims, coords=coords, default_dims=["chain", "draw"],
                         skip_event_dims=True)
    return ds.assign_coords(chain=post["chain"], draw=post["draw"])


def _draws_function(values: list, outs: list):
    """``outs`` as a function of ``values`` with a leading draws dimension added to each (numpy, no C)."""
    import pytensor
    from pytensor.graph.replace import vectorize_graph

    batched = [v.type.clone(shape=(None, *v.type.shape))(name=v.name) for v in values]
    vectorized = vectorize_graph(outs, replace=dict(zip(values, batched)))
    return pytensor.function(batched, vectorized, mode=ONE_OFF_MODE, on_unused_input="ignore")


def _in_batches(fn, draws: list[np.ndarray]) -> list[np.ndarray]:
    """``fn`` over the draws (leading axis) in batches of at most ``DETERMINISTICS_CHUNK_BYTES`` of output."""
    n = draws[0].shape[0]
    first = [np.asarray(a) for a in fn(*(d[:1] for d in draws))]
    step = max(1, int(DETERMINISTICS_CHUNK_BYTES // max(1, sum(a.nbytes for a in first))))
    parts = [first] + [[np.asarray(a) for a in fn(*(d[k:k + step] for d in draws))] for k in range(1, n, step)]
    return [np.concatenate([p[i] for p in parts]) for i in range(len(first))]


@contextmanager
def _data_of(mmm: MMM, values: dict, coords: dict | None):
    """``mmm.model`` with these data (and coords) for a while; its own again after."""
    names = [n for n in values if n in mmm.model.named_vars]
    before = {n: mmm.model[n].get_value() for n in names}
    before_coords = {d: mmm.model.coords[d] for d in (coords or {})}
    set_model_data(mmm.model, {n: values[n] for n in names}, coords=coords)
    try:
        yield
    finally:
        set_model_data(mmm.model, before, coords=before_coords or None)


def _without_unconstrained(idata: az.InferenceData) -> az.InferenceData:
    """Drop the sampler's unconstrained copies (``alpha_logodds__``, ...): every one has its constrained
    variable beside it, and they would double the stored trace of the free parameters."""
    extra = [v for v in idata["posterior"].data_vars if str(v).endswith("__")]
    idata.posterior = idata["posterior"].drop_vars(extra)  # type: ignore[attr-defined]  # arviz declares no groups
    return idata


def _logp_callback(compiled):
    """nutpie's C log-density callback of ``compiled`` bound to buffers: ``(evaluate, x, grad, logp)``.
    ``evaluate()`` reads the point ``x``, fills ``grad`` and ``logp`` and returns nutpie's error code."""
    import ctypes

    call = compiled.compiled_logp_func.ctypes
    n = compiled.n_dim
    x, grad, logp = np.zeros(n), np.empty(n), np.empty(1)
    args = [ctypes.c_uint64(n), *(a.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) for a in (x, grad, logp)),
            ctypes.c_void_p(compiled.user_data.ctypes.data)]
    return (lambda: call(*args)), x, grad, logp


def check_compiled(mmm: MMM, compiled, seed: int, points: int = 4) -> float:
    """The gradient check through the compiled model (milliseconds): logp and gradient at the sampler's
    initial points. Only when one is not finite does the full check run, to name the variable and the cause."""
    t0 = time.perf_counter()
    try:
        evaluate, x, grad, logp = _logp_callback(compiled)
        for k in range(points):
            x[:] = compiled.initial_point_func(seed + k)
            if evaluate() != 0 or not (np.isfinite(logp).all() and np.isfinite(grad).all()):
                return check_gradients(mmm, seed)
    except Exception:  # noqa: BLE001 - an exotic compiled object: the full check instead
        return check_gradients(mmm, seed)
    return time.perf_counter() - t0


def check_gradients(mmm: MMM, seed: int) -> float:
    """Fail within seconds, before any compiling or sampling, when logp or a gradient is not finite.

    Raises ``diagnose.GradientCheckError`` naming the variables, the values and a likely cause; returns
    the seconds the check took.
    """
    report = gradient_check(mmm, seed=seed)
    raise_if_bad(report)
    return report.seconds


def compile_ahead(mmm: MMM, params, data, folds: bool = True) -> None:
    """Start compiling the case's model for nutpie now, and beside it (``folds``) the form every out-of-sample fold
    and stability refit samples (pages 04 and 05, which would otherwise compile it there), each in a new process
    (``compile.compile_ahead``, cached), so that what the fit stage does before sampling runs meanwhile; :func:`sample`
    then loads the first. The two are one structure, compiled once, unless the model's form depends on the observed
    weeks (a time-varying media multiplier: its basis spans them). Nothing for PyMC's sampler. A run without pages 04
    and 05 passes ``folds=False``: their model's compile would take a core from the fit for nothing."""
    from mmmhelpers.calibration import model_for

    if sampler_and_cores(params.fit)[0] == "nutpie":
        mc.compile_ahead(mmm.model, mc.UNCONSTRAINED_ONLY)
        if folds:
            mc.compile_ahead(model_for(params, data, observed_weeks=data.n_dates - 1).model, mc.UNCONSTRAINED_ONLY)


def compile_for(mmm: MMM, sampler: str, before_compile=None) -> tuple[Any | None, str | None]:  # nutpie's (untyped)
    """nutpie's compiled model, its C callbacks cached on disk (``compile.compile_model``: a model
    structure compiled once loads in about a second in later runs); nutpie's own compile if that fails.
    Also returns how: "hit" or "miss" of the cache, "uncached" for a model the cache cannot key (compiled in every
    run), "nutpie" for the fallback (None for PyMC's sampler).
    ``before_compile`` runs before a compile that is not a cache hit (it may run twice on the fallback)."""
    if sampler != "nutpie":
        return None, None
    import nutpie

    try:
        compiled = mc.compile_model(mmm.model, mc.UNCONSTRAINED_ONLY, before_compile=before_compile)
        if mc.last_info.hit:
            return compiled, "hit"
        return compiled, "uncached" if mc.last_info.reason.startswith("not cached") else "miss"
    except mc.ObjectModeError as err:  # nutpie's own compile would fail the same way, at its first draw
        raise RuntimeError(f"nutpie cannot sample this model ({err}); use fit: {{sampler: pymc}}") from err
    except Exception as err:  # noqa: BLE001 - the cache is an optimization: never fail a fit over it
        warnings.warn(f"cached compile failed ({type(err).__name__}: {err}); using nutpie.compile_pymc_model",
                      RuntimeWarning, stacklevel=2)
        if before_compile is not None:
            before_compile()
        return nutpie.compile_pymc_model(mmm.model), "nutpie"


def compile_checked(mmm: MMM, sampler: str, seed: int) -> tuple[Any | None, str | None, float, float]:
    """:func:`compile_for` with the gradient check every fit runs first: in full before a compile (fail in seconds,
    not after a minute), else through the compiled callback (milliseconds; a cache hit or a compile ahead). Returns
    ``(compiled, how, compile seconds, check seconds)``; the compile's seconds leave the check's out."""
    checked: list[float] = []

    def full_check() -> None:
        if not checked:
            checked.append(check_gradients(mmm, seed))

    t0 = time.perf_counter()
    compiled, how = compile_for(mmm, sampler, before_compile=full_check)
    compile_seconds = time.perf_counter() - t0 - sum(checked)
    if not checked:  # a cache hit or a compile ahead, or PyMC's sampler (nothing compiled: the full check)
        fast = how == "hit" or (how == "miss" and mc.last_info.ahead)
        checked.append(check_compiled(mmm, compiled, seed) if fast else check_gradients(mmm, seed))
    return compiled, how, compile_seconds, checked[0]


def time_gradient(compiled, evaluations: int = 200, threads: int = 1) -> float | None:
    """Seconds per log-density + gradient evaluation of a nutpie-compiled model: its C callback, the one
    nutpie calls, through ctypes (a microsecond of overhead); None when it cannot be timed. With ``threads`` > 1,
    that many threads evaluate at once (ctypes lets go of the GIL in the call), as the chains do on their cores:
    the mean of their times, which holds what they share (memory bandwidth, a core's second hardware thread)."""
    try:
        callbacks = [_logp_callback(compiled) for _ in range(threads)]
        for evaluate, x, _, _ in callbacks:
            x[:] = np.random.default_rng(0).normal(0.0, 0.3, x.size)
            evaluate()
    except Exception:  # an exotic compiled object: no estimate rather than no fit
        return None
    start, seconds = threading.Barrier(threads), [0.0] * threads

    def timed(k: int) -> None:
        evaluate = callbacks[k][0]
        start.wait()
        t0 = time.perf_counter()
        for _ in range(evaluations):
            evaluate()
        seconds[k] = (time.perf_counter() - t0) / evaluations

    workers = [threading.Thread(target=timed, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return float(np.mean(seconds))


def sampling_estimate(gradient_seconds: float, fit, cores: int) -> tuple[float, float]:
    """The range of sampling seconds to expect: gradient cost × leapfrog steps per draw (``STEPS_PER_DRAW``)
    × draws per chain × chains per core. How hard the posterior is to walk sets where in the range a fit lands."""
    chains_per_core = -(-fit.chains // max(1, min(cores, fit.chains)))
    low, high = (STARTUP_SECONDS + gradient_seconds * steps * (fit.tune + fit.draws) * chains_per_core
                 for steps in STEPS_PER_DRAW)
    return low, high


def _at_once(fit, cores: int) -> str:
    """How the gradient was timed, when more than one chain runs at a time (:func:`time_gradient`)."""
    threads = min(cores, fit.chains)
    return f", timed on {threads} cores at once" if threads > 1 else ""


def _say_estimate(say, gradient_seconds: float | None, fit, cores: int) -> float | None:
    """Say the expected sampling time before sampling; return the upper end of the range."""
    if gradient_seconds is None:
        return None
    low, est = sampling_estimate(gradient_seconds, fit, cores)
    note = f"sampling {fit.chains} chains × {fit.tune + fit.draws} steps: {low:,.0f} to {est:,.0f} s expected " \
           f"({gradient_seconds * 1e6:,.0f} µs per gradient{_at_once(fit, cores)})"
    if est > LONG_FIT_SECONDS:
        note += " — a long fit: fewer draws (--quick for a first look) or a simpler model make it shorter"
    say(note)
    return est


def sample(mmm: MMM, fit, seed: int, progress: bool = True, say=None) -> tuple[az.InferenceData, dict]:
    """Sample the posterior and the posterior predictive; return ``(idata, timings)``.

    ``seed`` is the case seed: the sampler and the posterior predictive get their own children of it.

    ``fit`` is the params' FitSpec. nutpie is used when asked for and installed (diagonal or
    low-rank mass-matrix adaptation, ``fit.mass_matrix``); otherwise PyMC's NUTS. ``say`` (a callable taking
    one line) hears the progress: compile time and the sampling-time estimate before sampling starts.
    """
    say = say or (lambda _msg: None)
    sampler, cores = sampler_and_cores(fit)
    fit_seed = seed_for(seed, "fit")
    compiled, how, compile_seconds, check_seconds = compile_checked(mmm, sampler, fit_seed)
    timings: dict[str, Any] = {"sampler": sampler, "compile_seconds": compile_seconds,
                               "gradient_check_seconds": check_seconds, "compile_cache": how}
    uncached = f" ({mc.last_info.reason}: it compiles in every run)" if how == "uncached" else ""
    say(f"{sampler} compiled the model in {timings['compile_seconds']:.1f} s{uncached}")
    timings["gradient_seconds"] = time_gradient(compiled, threads=min(cores, fit.chains)) \
        if compiled is not None else None
    timings["estimated_sampling_seconds"] = _say_estimate(say, timings["gradient_seconds"], fit, cores)
    t0 = time.perf_counter()
    idata = with_deterministics(mmm, run_nuts(mmm, compiled, fit, cores, fit_seed, progress, say=say,
                                              timings=timings))
    timings["sampling_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    posterior_predictive(mmm, idata, seed_for(seed, "posterior_predictive"))
    add_original_scale_predictions(idata, mmm)
    spec = mmm.spec
    idata.attrs["scaling"] = spec.scaling.describe()
    idata.attrs["model_structure"] = (
        f"adstock {_kind_text(spec.adstock, mmm.data.channels)} (l_max {spec.adstock.l_max}, normalize "
        f"{spec.adstock.normalize}); saturation {_kind_text(spec.saturation, mmm.data.channels)}; yearly "
        f"seasonality order {spec.yearly_seasonality}; trend {spec.trend}; "
        f"time-varying media {bool(spec.time_varying_media)}; time-varying intercept {bool(spec.time_varying_intercept)}")
    timings["posterior_predictive_seconds"] = time.perf_counter() - t0
    return idata, timings


def posterior_predictive(mmm: MMM, idata: az.InferenceData, seed: int) -> None:
    """Add the in-sample posterior predictive ``y`` to ``idata``: the likelihood drawn once, vectorized over
    every posterior draw, from the traced mean ``mu`` and the likelihood's own parameters (a second rather than
    PyMC's loop over draws, ten or more on a two-market model); PyMC's ``sample_posterior_predictive`` when the
    likelihood cannot be rebuilt that way."""
    try:
        y = likelihood_draws(mmm, idata["posterior"], idata["posterior"]["mu"], seed)
    except Exception:  # noqa: BLE001 - an unusual likelihood: PyMC's loop over draws
        with mmm.model:
            pm.sample_posterior_predictive(idata, extend_inferencedata=True, random_seed=seed, progressbar=False)
        return
    with mmm.model:  # the groups PyMC's sample_posterior_predictive adds: observed and constant data too
        idata.extend(pm.to_inference_data(posterior_predictive={"y": y}, log_likelihood=False))


def _likelihood_per_draw(mmm: MMM, post: xr.Dataset, mu: xr.DataArray):
    """The likelihood as one PyMC distribution over every posterior draw: mean ``mu`` (chain, draw, date, ...), its
    own parameters from ``post``. Raises when the likelihood cannot be rebuilt from its spec this way (a censored
    one)."""
    lik = parse_likelihood(mmm.spec.likelihood)
    kwargs = {}
    for name, value in lik.parameters.items():
        da = post[f"y_{name}"] if hasattr(value, "create_variable") else xr.DataArray(np.asarray(value, float))
        kwargs[name] = xr.broadcast(da, mu)[0].transpose(*mu.dims).values
    return getattr(pm, lik.distribution).dist(mu=mu.values, **kwargs)


def likelihood_draws(mmm: MMM, post: xr.Dataset, mu: xr.DataArray, seed: int) -> np.ndarray:
    """One draw of the likelihood per posterior draw, shaped as ``mu`` (its mean per draw: chain, draw, date, ...),
    with the likelihood's own parameters from ``post``: drawn once by numpy for every draw. Raises when the
    likelihood cannot be rebuilt from its spec this way (callers then use PyMC's ``sample_posterior_predictive``)."""
    dist = _likelihood_per_draw(mmm, post, mu)
    return np.reshape(pm.draw(dist, random_seed=seed, mode=ONE_OFF_MODE), mu.shape)  # TruncatedNormal drops a leading 1


def log_likelihood(mmm: MMM, idata: az.InferenceData) -> xr.DataArray:
    """The observed target's log density per posterior draw and period (chain, draw, date, ...), as PyMC's
    ``compute_log_likelihood`` gives it for ``y``: from the traced mean ``mu`` and the likelihood's own parameters,
    computed once by numpy for every draw (PyMC's loops over draws through compiled C: ~10 s of C to compile on a
    new machine). Raises when the likelihood cannot be rebuilt this way or the posterior has no ``mu``."""
    post = idata["posterior"]
    mu = post["mu"]
    observed = xr.broadcast(idata["observed_data"]["y"], mu)[0].transpose(*mu.dims).values
    logp = pm.logp(_likelihood_per_draw(mmm, post, mu), observed).eval(mode=NUMPY_MODE)
    return xr.DataArray(np.reshape(logp, mu.shape), dims=mu.dims, coords=mu.coords, name="y")


def sample_many(mmm: MMM, values: list[dict], fit, seeds: list[int], coords: list[dict] | None = None):
    """Posteriors of one model under several data sets (one sampler seed each), compiling it once.

    ``values`` holds one ``{pm.Data name: array}`` dict per fit (same ranks as the model's data;
    lengths may differ where no stored variable depends on them, e.g. ``target_scaled``). With
    nutpie the compiled model's data are swapped (``with_data``); with PyMC, ``pm.set_data``.
    Yields one InferenceData (posterior) per dict.
    """
    sampler, cores = sampler_and_cores(fit)
    compiled = compile_checked(mmm, sampler, seeds[0] if seeds else 0)[0]
    names = set(mmm.model.named_vars)
    for k, vals in enumerate(values):
        vals = {n: v for n, v in vals.items() if n in names}
        if compiled is not None:
            used = {n: v for n, v in vals.items() if n in compiled.shared_data}  # data the graph reads
            idata = run_nuts(mmm, compiled.with_data(**used), fit, cores, seeds[k], progress=False)
            with _data_of(mmm, vals, coords[k] if coords else None):  # the deterministics of this fit's data
                idata = with_deterministics(mmm, idata)
            yield idata
        else:
            set_model_data(mmm.model, vals, coords=(coords[k] if coords else None))
            yield run_nuts(mmm, None, fit, cores, seeds[k], progress=False)


def add_original_scale_predictions(idata: az.InferenceData, mmm: MMM, group: str = "posterior_predictive") -> None:
    """Add ``y_original_scale`` (= y × target scale) to ``group``; observed too when present."""
    scale = xr.DataArray(mmm.target_scale, dims=mmm.dims, coords={d: mmm.data.panel[d] for d in mmm.dims})
    ds = idata[group]
    ds["y_original_scale"] = ds["y"] * scale
    if "observed_data" in idata.groups() and "y" in idata["observed_data"]:
        idata["observed_data"]["y_original_scale"] = idata["observed_data"]["y"] * scale


def _kind_text(component, channels: list[str]) -> str:
    """A component's type, or each channel's (``type_by_channel``): ``geometric`` or ``tv weibull_pdf, search
    geometric``."""
    kind = component.kinds(channels)
    return kind if isinstance(kind, str) else ", ".join(f"{ch} {k}" for ch, k in zip(channels, kind))


def convergence(idata: az.InferenceData) -> dict:
    """A refit's divergences and largest R-hat over its scalar parameters, and whether it ``converged``
    (``health.refit_converged``): what a holdout fold or a replicate carries to its page beside its scores."""
    divergences = int(idata["sample_stats"]["diverging"].sum()) if "diverging" in idata["sample_stats"] else 0
    names = scalar_parameters(idata)
    rhat = az.rhat(idata, var_names=names) if idata["posterior"].sizes.get("chain", 1) > 1 else None
    rhat_max = max(float(rhat[n].max()) for n in names) if rhat is not None and names else float("nan")
    return {"divergences": divergences, "rhat_max": round(rhat_max, 4),
            "converged": refit_converged(divergences, rhat_max)}


def diagnostics(idata: az.InferenceData, fit, timings: dict) -> Diagnostics:
    """The ``diagnostics.json`` record (see docs/params.md)."""
    names = scalar_parameters(idata)
    summ = az.summary(idata, var_names=names, kind="diagnostics")
    divergences = int(idata["sample_stats"]["diverging"].sum()) if "diverging" in idata["sample_stats"] else 0
    try:
        bfmi = float(np.min(az.bfmi(idata)))
    except Exception:  # energy missing (some samplers)
        bfmi = float("nan")
    d = {
        "sampler": timings["sampler"],
        "chains": int(idata["posterior"].sizes["chain"]),
        "draws": int(idata["posterior"].sizes["draw"]),
        "tune": int(fit.tune),
        "compile_seconds": round(float(timings.get("compile_seconds", 0.0)), 2),
        "sampling_seconds": round(float(timings.get("sampling_seconds", 0.0)), 2),
        "divergences": divergences,
        "rhat_max": round(float(summ["r_hat"].max()), 4),
        "ess_bulk_min": round(float(summ["ess_bulk"].min()), 1),
        "ess_tail_min": round(float(summ["ess_tail"].min()), 1),
        "bfmi_min": round(bfmi, 3),
        "ess_bulk_min_variable": str(summ["ess_bulk"].idxmin()),
        "rhat_max_variable": str(summ["r_hat"].idxmax()),
    }
    d["ess_bulk_per_second"] = round(d["ess_bulk_min"] / max(d["compile_seconds"] + d["sampling_seconds"], 1e-9), 2)
    d["health"] = health(d["divergences"], d["rhat_max"], d["ess_bulk_min"], d["chains"], d["draws"])
    d["target_accept"] = float(fit.target_accept)
    steps = idata["sample_stats"].get("n_steps")
    d["steps_per_draw"] = round(float(steps.mean()), 1) if steps is not None else None
    for key in ("gradient_seconds", "estimated_sampling_seconds", "warmup_estimate_seconds"):
        d[key] = None if timings.get(key) is None else float(f"{timings[key]:.3g}")
    d["compile_cache"] = timings.get("compile_cache")
    return Diagnostics(**d, **_divergences(idata, fit))


def _divergences(idata: az.InferenceData, fit) -> dict:
    """Where divergences concentrate (when over 0.5% of draws) and what to try, for diagnostics.json."""
    report = divergence_report(idata, target_accept=fit.target_accept)
    return {**report.to_dict(), "divergence_summary": report.summary()}
