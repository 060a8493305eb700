"""Plans judged by the truth: the true response the budget page is scored against, computed independently."""

import numpy as np
from reference import numpy_adstock

from mmmhelpers.config import Params
from mmmhelpers.seeds import seed_for
from mmmhelpers.simulate import simulate
from mmmhelpers.truth import truth_response_model


def test_the_true_response_of_a_plan_matches_numpy():
    params = Params.model_validate({"case": "t", "title": "t", "seed": 2,
                                    "simulate": {"generator": "single_market", "n_weeks": 60},
                                    "optimization": {"budget": 5000, "num_periods": 6}})
    data, truth = simulate(params.simulate, seed_for(params.seed, "simulate"))
    rm = truth_response_model(params, data, truth)
    plan = np.array([3000.0, 2000.0])
    l_max = int(truth.attrs["l_max"])
    hist = data.X[-(l_max - 1):]
    scale = data.X.max(axis=0)
    total = 0.0
    for c in range(2):
        w = truth["adstock_alpha"].values[c] ** np.arange(l_max)
        w = w / w.sum() if truth.attrs["normalize"] else w
        lam, beta = truth["saturation_lam"].values[c], truth["saturation_beta_original_scale"].values[c]

        def resp(s, w=w, lam=lam, beta=beta, c=c):
            a = numpy_adstock(s / scale[c], w)
            return beta * (1 - np.exp(-lam * a)) / (1 + np.exp(-lam * a))

        series = np.concatenate([hist[:, c], np.full(6, plan[c]), np.zeros(l_max - 1)])
        quiet = np.concatenate([hist[:, c], np.zeros(6 + l_max - 1)])
        total += (resp(series) - resp(quiet))[l_max - 1:].sum()  # the window and its tail, history's own removed
    np.testing.assert_allclose(rm.draws(plan)[0], total, rtol=1e-9)
