"""The incremental response of a plan (``mmmhelpers.response``): window and tail by hand, the history carried in, the
exact jacobian, the media path shared with the model, the last week's multiplier and a subset of the draws.

End-to-end: tests/test_multi_pipeline.py::test_responses_at_the_best_plans_match_numpy_on_the_saved_posteriors checks
a report's responses against numpy on the draws ``response.draw_indices`` picks.
"""

import numpy as np
import pytest
from conftest import BUDGET
from reference import hand_contrib, hand_response

from mmmhelpers.model import build_model
from mmmhelpers.optimize import optimize_budget, problem_for
from mmmhelpers.response import response_model


def test_window_response_matches_hand_computation(fitted):
    mmm, idata, _ = fitted
    rm = response_model(mmm.spec, mmm.data, idata, num_periods=5, n_draws=3, carryover_history=False)
    x = np.array([4000.0, 2500.0])
    np.testing.assert_allclose(rm.draws(x), hand_response(mmm, idata, x, 5), rtol=1e-10)
    split = rm.split(x)
    np.testing.assert_allclose(split["window"] + split["tail"], rm.draws(x), rtol=1e-12)
    assert rm.window.tail_weeks == 7 and rm.window.history_weeks == 0


def test_one_compiled_function_serves_other_draws_periods_and_data(fitted):
    """The draws, scales and history are inputs of the compiled response, the numbers of draws and periods are not
    part of it: models that differ only in them (a stability refit, the next test's window, the truth's one draw)
    share one function, and each gives its own hand-computed response."""
    from mmmhelpers import response

    mmm, idata, _ = fitted
    x = np.array([4000.0, 2500.0])
    before = len(response._COMPILED)
    X = mmm.data.X.copy()
    X[-2:] = X.max(axis=0)  # other data: the last two weeks at the largest spend seen (the channel scales stay)
    other = mmm.data.with_X(X)
    for data, periods, draws in [(mmm.data, 5, 3), (mmm.data, 3, 1), (other, 4, 2)]:
        rm = response_model(mmm.spec, data, idata, num_periods=periods, n_draws=draws, seed=7)
        want = hand_response(mmm, idata, x, periods, history=data.X[-7:])[rm.draw_idx]  # one chain: idx = draws
        np.testing.assert_allclose(rm.draws(x), want, rtol=1e-9)
        np.testing.assert_allclose(rm.split(x)["objective"], want, rtol=1e-9)
    assert len(response._COMPILED) <= before + 1  # one structure (none when an earlier test compiled it)


def test_history_carries_into_the_window_by_hand(fitted):
    """A spike in the last observed week saturates the window: lower incremental response, by the hand amount,
    and the optimizer moves money away from the spiked channel."""
    mmm, idata, _ = fitted
    data = mmm.data
    X = data.X.copy()
    X[-1, 0] = X[:, 0].max()  # a spike to the largest spend seen (the channel scale stays)
    spiked = data.with_X(X)
    x = np.array([4000.0, 2500.0])
    rms = {name: response_model(mmm.spec, d, idata, num_periods=5, n_draws=3) for name, d in
           [("plain", data), ("spiked", spiked)]}
    for name, d in [("plain", data), ("spiked", spiked)]:
        want = hand_response(mmm, idata, x, 5, history=d.X[-7:])
        np.testing.assert_allclose(rms[name].draws(x), want, rtol=1e-9)
    assert rms["spiked"].draws(x).mean() < rms["plain"].draws(x).mean()
    quiet = np.zeros((5, 2))  # the window's response to the history alone rises by the spike's carryover
    carry = {k: hand_contrib(mmm, idata, quiet, d.X[-7:])[:, :5].sum(axis=(1, 2)) for k, d in
             [("plain", data), ("spiked", spiked)]}
    for k in rms:
        np.testing.assert_allclose(rms[k].carryover_in, carry[k], rtol=1e-9)
    assert (carry["spiked"] > carry["plain"]).all()
    plans = {k: optimize_budget(rm, problem_for(rm, BUDGET)).per_period for k, rm in rms.items()}
    assert plans["spiked"][0] < plans["plain"][0] - 100


def test_jacobian_per_draw_matches_finite_differences(rm6):
    x = np.array([4000.0, 2500.0])
    _, jac = rm6.value_and_jac(x)
    flat = jac.sum(axis=1)  # d r_s / d x_c for flat spend
    eps = 1e-2
    fd = np.stack([(rm6.draws(x + eps * e) - rm6.draws(x - eps * e)) / (2 * eps) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(flat, fd, rtol=1e-6)


@pytest.mark.parametrize("saturation", ["logistic", "hill"])
def test_optimizer_and_model_share_one_media_path(single_market, saturation):
    """The optimizer's contribution of the observed spend equals the model's channel_contribution, draw by draw."""
    import pymc as pm

    from mmmhelpers.config import ModelSpec
    from mmmhelpers.optimize import posterior_media
    from mmmhelpers.transforms import NUMPY_MODE, ONE_OFF_MODE

    data, _ = single_market
    spec = ModelSpec.model_validate({"saturation": {"type": saturation}, "yearly_seasonality": 0})
    mmm = build_model(spec, data)
    names = [f"adstock_{p}" for p in ("alpha",)] + [v.name for v in mmm.model.free_RVs
                                                    if v.name.startswith("saturation_")]
    prior = pm.sample_prior_predictive(draws=3, model=mmm.model, var_names=names, random_seed=2,
                                       compile_kwargs={"mode": ONE_OFF_MODE})
    prior.add_groups(posterior=prior.prior)
    got = posterior_media(spec, data, prior, data.X[:, None], np.arange(3)).eval(mode=ONE_OFF_MODE)  # (date, draw, channel)
    fn = mmm.model.compile_fn(mmm.model["channel_contribution_original_scale"], inputs=[mmm.model[n] for n in names],
                              on_unused_input="ignore", mode=NUMPY_MODE)
    for d in range(3):
        want = fn({n: prior.prior[n].values[0, d] for n in names})
        np.testing.assert_allclose(got[:, d], want, rtol=1e-12)


def test_time_varying_media_uses_the_multiplier_of_the_last_observed_week(fitted, rm6):
    mmm, idata, _ = fitted
    tv = idata.copy()
    dates = mmm.data.dates
    mult = np.ones((1, 3, len(dates)))
    mult[..., -1] = [1.5, 2.0, 0.5]  # only the last week's value may matter
    tv.posterior["media_temporal_latent_multiplier"] = (("chain", "draw", "date"), mult)
    tv.posterior = tv.posterior.assign_coords(date=dates)
    rm = response_model(mmm.spec, mmm.data, tv, num_periods=6, n_draws=3, carryover_history=False)
    assert rm.window.multiplier == "last_observed_week" and rm6.window.multiplier == "none"
    x = np.array([4000.0, 2500.0])
    np.testing.assert_allclose(rm.draws(x), rm6.draws(x) * np.array([1.5, 2.0, 0.5]), rtol=1e-10)


def test_draw_subset_answers_for_its_draws_only(rm6):
    from mmmhelpers.response import draw_subset

    x = np.array([4000.0, 2500.0])
    keep = np.array([0, 2])
    sub = draw_subset(rm6, keep)
    assert sub.n_draws == 2
    np.testing.assert_allclose(sub.draws(x), rm6.draws(x)[keep], rtol=1e-12)
    np.testing.assert_allclose(sub.value_and_jac(x)[1], rm6.value_and_jac(x)[1][keep], rtol=1e-12)
    np.testing.assert_allclose(sub.split(x)["objective"], rm6.split(x)["objective"][keep], rtol=1e-12)


def test_a_plan_and_a_traces_deterministics_compile_no_c():
    """The response of plans and the trace's deterministics are computed by numpy (``transforms.NUMPY_MODE``,
    ``ONE_OFF_MODE``): on an empty cache C code for them took ~30 s and ~18 s to compile; the models' comparison's
    log-likelihood ~10 s. In a fresh process, an optimization, the deterministics of a posterior, its posterior
    predictive, its log-likelihood and new data swapped in never load PyTensor's C module cache."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = """
import numpy as np
import pytensor.link.c.cmodule as cmodule
from conftest import MODEL_VARS, idata_from_truth
from mmmhelpers.config import ModelSpec, SimulateSpec
from mmmhelpers.fit import with_deterministics
from mmmhelpers.model import build_model
from mmmhelpers.optimize import optimize_budget, problem_for
from mmmhelpers.response import response_model
from mmmhelpers.simulate import simulate
data, truth = simulate(SimulateSpec(generator="single_market", n_weeks=60), seed=3)
mmm = build_model(ModelSpec(yearly_seasonality=2), data)
idata = idata_from_truth(truth, MODEL_VARS, n_draws=3)
rm = response_model(mmm.spec, mmm.data, idata, num_periods=4, n_draws=3)
assert optimize_budget(rm, problem_for(rm, 8000.0)).success
values = {v.name: np.repeat(np.asarray(mmm.model.initial_point()[v.name])[None, None], 5, axis=1)
          for v in mmm.model.value_vars}
import arviz as az
traced = with_deterministics(mmm, az.from_dict(posterior=values))
assert traced.posterior["channel_contribution"].shape[:2] == (1, 5)
from mmmhelpers.fit import posterior_predictive
from mmmhelpers.variants import Fitted, _with_log_likelihood
posterior_predictive(mmm, traced, seed=1)
assert _with_log_likelihood(Fitted("main", "main", mmm, traced, None)).log_likelihood["y"].shape == (1, 5, 60)
longer, _ = simulate(SimulateSpec(generator="single_market", n_weeks=64), seed=3)
mmm.set_data(longer)  # a forecast's dates: PyMC checks the dims' lengths
assert mmm.model["channel_data"].get_value().shape[0] == 64
assert cmodule._module_cache is None, "C code was compiled"
print("ok")
"""
    tests = Path(__file__).resolve().parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=tests.parent, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": f"{tests.parent}:{tests}"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
