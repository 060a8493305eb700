"""fit: the sampling-time estimate from the warm-up, and watching the sampler changes no draw."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

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
    plain = fit.run_nuts(mmm, compiled, params.fit, cores, seed_for(params.seed, "fit"), progress=False)
    plain = fit.with_deterministics(mmm, plain)
    assert not [g for g in watched.groups() if g.startswith("warmup")]
    assert set(plain.posterior.data_vars) == set(watched.posterior.data_vars)
    for name in plain.posterior.data_vars:
        np.testing.assert_array_equal(watched.posterior[name].values, plain.posterior[name].values)
