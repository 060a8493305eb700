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
    """20 and 25 of 250 draws per chain in 10 s: the slowest chain has 230 left at 0.5 s each."""
    spec = SimpleNamespace(tune=150, draws=100)
    assert fit.warmup_estimate(10.0, np.array([20, 25]), spec) == pytest.approx(115.0)


@pytest.mark.slow
def test_the_warmup_estimate_is_said_and_watching_changes_no_draw(monkeypatch):
    params = load_params(TINY)
    data, _ = prepare_data(params)
    mmm = model_for(params, data)
    monkeypatch.setattr(fit, "WATCH_AFTER", (0.05, 0.0))  # tiny warms up in well under a second
    heard: list[str] = []
    watched, _ = fit.sample(mmm, params.fit, seed=params.seed, progress=False, say=heard.append)
    line = next(h for h in heard if h.startswith("warm-up at "))
    assert "leapfrog steps per draw: about" in line and line.endswith("s of sampling left")
    compiled, _ = fit.compile_for(mmm, "nutpie")
    _, cores = fit.sampler_and_cores(params.fit)
    plain = fit.run_nuts(mmm, compiled, params.fit, cores, seed_for(params.seed, "fit"), progress=False)
    assert not [g for g in watched.groups() if g.startswith("warmup")]
    for name in plain.posterior.data_vars:
        np.testing.assert_array_equal(watched.posterior[name].values, plain.posterior[name].values)
