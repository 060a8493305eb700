"""fit: the sampling-time estimate from the warm-up, and watching the sampler changes no draw."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from mmmhelpers import compile as mc
from mmmhelpers import fit
from mmmhelpers.calibration import model_for
from mmmhelpers.case_data import prepare_data
from mmmhelpers.config import load_params
from mmmhelpers.seeds import seed_for

TINY = Path(__file__).resolve().parent / "params" / "tiny.yaml"


def test_warmup_estimate_by_hand():
    """20 and 25 of 250 draws per chain in 10 s: 45 draws done, 455 left at 10/45 s each."""
    spec = SimpleNamespace(tune=150, draws=100, chains=2)
    assert fit.warmup_estimate(10.0, np.array([20, 25]), spec) == pytest.approx(455 * 10 / 45)


def test_warmup_estimate_from_a_window_by_hand():
    """250 draws done in 30 s, 45 of them in the first 10 s: 250 of 500 left at 20/205 s each."""
    spec = SimpleNamespace(tune=150, draws=100, chains=2)
    assert fit.warmup_estimate(30.0, np.array([120, 130]), spec, since=(10.0, 45.0)) == pytest.approx(250 * 20 / 205)


class _AdaptingSampler:
    """nutpie's running sampler as the watcher sees it, on a clock of its own: 2 chains x (100 + 100) draws, 5 more
    per chain at each look; the first 15 draws of a chain take 0.1 s and 40 leapfrog steps (a mass matrix still
    adapting), the rest 0.02 s and 8 steps. The chains run side by side: 1.5 + 185 x 0.02 = 5.2 s in all."""

    def __init__(self, step: int = 5, stall: bool = False) -> None:
        self.n, self.now, self.step, self.stall, self.looks = 0, 0.0, step, stall, 0

    def clock(self) -> float:
        return self.now

    @property
    def is_finished(self) -> bool:
        self.looks += 1
        if self.stall and self.looks % 2 == 0:  # every other look: time passes, no new draw is in the trace yet
            self.now += 0.05
            return False
        self.n += self.step
        self.now += self.step * (0.1 if self.n <= 15 else 0.02)
        return self.n >= 200

    def inspect(self):
        steps = np.full((2, 100), np.nan)
        steps[:, :min(self.n, 100)] = [40.0 if d < 15 else 8.0 for d in range(min(self.n, 100))]
        return SimpleNamespace(warmup_sample_stats={"n_steps": xr.DataArray(steps, dims=("chain", "draw"))})


def test_the_estimate_is_revised_halfway_when_the_early_warmup_misled_it(monkeypatch):
    """The early estimate (at 10 draws per chain: 1 s for 20 draws, 380 left) says 19 s left, 3.8x the truth; the
    halfway one, from the pace since then, says what the rest takes within 1.5x and is said because it moved."""
    sampler, heard = _AdaptingSampler(), []
    monkeypatch.setattr(fit.time, "perf_counter", sampler.clock)
    monkeypatch.setattr(fit, "WATCH_AFTER", (0.1, 0.0))
    total = fit._watch_warmup(sampler, SimpleNamespace(tune=100, draws=100, chains=2), heard.append, poll=0.0)
    assert len(heard) == 2 and "about 19 s of sampling left" in heard[0], heard
    assert heard[1].startswith("warm-up half done, now at 12 leapfrog steps per draw")  # (5 x 40 + 35 x 8) / 40
    assert 5.2 / 1.5 < total < 5.2 * 1.5


def test_a_warmup_past_halfway_at_the_first_look_is_estimated_once(monkeypatch):
    """A quick fit already past half its warm-up when first watched: one estimate, from there (CI once printed
    "now at nan leapfrog steps" when the halfway look came one poll after the first, with no draws between)."""
    sampler, heard = _AdaptingSampler(step=60, stall=True), []
    monkeypatch.setattr(fit.time, "perf_counter", sampler.clock)
    monkeypatch.setattr(fit, "WATCH_AFTER", (0.1, 0.0))
    fit._watch_warmup(sampler, SimpleNamespace(tune=100, draws=100, chains=2), heard.append, poll=0.0)
    assert len(heard) == 1 and heard[0].startswith("warm-up at "), heard


def test_chains_waiting_for_a_core_count_as_work_left():
    """4 chains on 2 cores: nutpie's running trace holds 0 steps for the two chains not started yet (measured on
    client_panel: the estimate then said 32 s left of a 64 s fit, as if all four chains ran at once). 100 draws of
    the first two in 4 s: 7,800 of 8,000 draws left at 4/200 s each."""
    steps = np.array([[7.0] * 100 + [np.nan] * 1900, [15.0] * 100 + [np.nan] * 1900, [0.0] * 2000, [0.0] * 2000])
    real = fit.drawn(steps)
    assert real.sum(axis=1).tolist() == [100, 100, 0, 0] and steps[real].mean() == 11.0
    spec = SimpleNamespace(tune=1000, draws=1000, chains=4)
    assert fit.warmup_estimate(4.0, real.sum(axis=1), spec) == pytest.approx(7800 * 4.0 / 200)


@pytest.mark.slow
def test_the_warmup_estimate_is_said_and_watching_changes_no_draw(monkeypatch):
    params = load_params(TINY)
    data, _ = prepare_data(params)
    mmm = model_for(params, data)
    monkeypatch.setattr(fit, "WATCH_AFTER", (0.05, 0.0))  # tiny warms up in well under a second
    heard: list[str] = []
    watched, timings = fit.sample(mmm, params.fit, seed=params.seed, progress=False, say=heard.append)
    line = next(h for h in heard if h.startswith("warm-up at "))
    assert "leapfrog steps per draw: about" in line and line.endswith("s of sampling left")
    left = float(line.split("about ")[1].split(" s")[0].replace(",", ""))
    total = timings["warmup_estimate_seconds"]  # what was left plus what had passed when it was said
    assert left - 0.5 <= total <= left + 0.5 + timings["sampling_seconds"]
    compiled, _ = fit.compile_for(mmm, "nutpie")
    _, cores = fit.sampler_and_cores(params.fit)
    said = next(h for h in heard if h.startswith("sampling "))  # the gradient timed as the chains run: at once
    assert ("timed on 2 cores at once" in said) == (min(cores, params.fit.chains) == 2), said
    assert 0 < fit.time_gradient(compiled, evaluations=20, threads=2) < 0.01
    plain = fit.run_nuts(mmm, compiled, params.fit, cores, seed_for(params.seed, "fit"), progress=False)
    plain = fit.with_deterministics(mmm, plain)
    assert not [g for g in watched.groups() if g.startswith("warmup")]
    assert set(plain.posterior.data_vars) == set(watched.posterior.data_vars)
    for name in plain.posterior.data_vars:
        np.testing.assert_array_equal(watched.posterior[name].values, plain.posterior[name].values)


@pytest.mark.slow
def test_the_callbacks_refuse_data_whose_lengths_disagree():
    """Arrays over the dates that disagree in length, or a target longer than the dates, fail as an error code
    nutpie raises, never a read or write past an array (the compiled log density has no broadcast checks in its
    shape graph, ``compile.broadcast_checks_removed``, and a node that raises stops it: ``jit_compile``). A target
    shorter than the dates is a holdout fold: the fit's callbacks give the log density and gradient of the
    cross-validation form observing those weeks (PyMC's, with the same data)."""
    from mmmhelpers.model import build_model, set_model_data

    params = load_params(TINY)
    data, _ = prepare_data(params)
    mmm = model_for(params, data)
    compiled, _ = fit.compile_for(mmm, "nutpie")
    x0 = compiled.initial_point_func(0)
    for name in ("channel_data", "target_scaled", "fourier_features", "control_data"):
        value = compiled.shared_data[name]
        for rows in (value[:-4], np.concatenate([value, value[:4]])):  # four periods fewer, four more
            if name == "target_scaled" and len(rows) < len(value):
                continue  # a fold: below
            swapped = compiled.with_data(**{name: rows})
            evaluate, x, grad, logp = fit._logp_callback(swapped)
            x[:] = x0
            assert evaluate() != 0, (name, len(rows))
    fold = compiled.with_data(target_scaled=compiled.shared_data["target_scaled"][:-4])
    evaluate, x, grad, logp = fit._logp_callback(fold)
    x[:] = x0
    assert evaluate() == 0
    cv = build_model(params.model, data, observed_weeks=data.n_dates - 4).model
    set_model_data(cv, {n: fold.shared_data[n] for n in fold.shared_data if n in cv.named_vars and n not in cv.coords},
                   coords={"obs": data.dates[:-4]})
    g = mc.model_graphs(cv, mc.UNCONSTRAINED_ONLY)
    point = {name: x0[s].reshape(shape) for name, s, shape in zip(g.joined_names, g.joined_slices, g.joined_shapes)}
    np.testing.assert_allclose(logp[0], cv.compile_logp(mode="FAST_COMPILE")(point), rtol=1e-10)
    np.testing.assert_allclose(grad, cv.compile_dlogp(mode="FAST_COMPILE")(point), rtol=1e-8, atol=1e-10)


@pytest.mark.slow
def test_deterministics_vectorized_over_draws_equal_pymcs_loop_over_draws(monkeypatch):
    """The trace's deterministics are computed for all draws at once (a graph vectorized over the draws, numpy, in
    batches): the values and dims of PyMC's own loop over draws from the constrained parameters
    (``pm.compute_deterministics``), and the same in batches of one draw."""
    import pymc as pm

    params = load_params(TINY)
    data, _ = prepare_data(params)
    mmm = model_for(params, data)
    compiled, _ = fit.compile_for(mmm, "nutpie")
    raw = fit.run_nuts(mmm, compiled, params.fit, 1, seed_for(params.seed, "fit"), progress=False)
    ours = fit.with_deterministics(mmm, raw.copy()).posterior
    with mmm.model:
        ref = pm.compute_deterministics(ours, merge_dataset=False, progressbar=False,
                                        compile_kwargs={"mode": "FAST_COMPILE"})
    assert set(ref.data_vars) == {d.name for d in mmm.model.deterministics} and len(ref.data_vars) >= 5
    for name in ref.data_vars:
        assert ours[name].dims == ref[name].dims
        np.testing.assert_allclose(ours[name].values, ref[name].values, rtol=1e-12, atol=1e-14)
    monkeypatch.setattr(fit, "DETERMINISTICS_CHUNK_BYTES", 1)
    one_by_one = fit.with_deterministics(SimpleNamespace(model=mmm.model, compiled={}), raw.copy()).posterior
    xr.testing.assert_identical(one_by_one, ours)
