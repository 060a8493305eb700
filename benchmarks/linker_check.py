"""Every shipped params file through the fit's linker: the compiled log density and gradient against PyMC's.

    .venv/bin/python benchmarks/linker_check.py [params/...yaml ...]

For each case (default: every params file under params/): the model compiled by ``compile.compile_model`` (in this
process; a cache hit loads it) and its C callback evaluated at the sampler's initial point and two jittered points,
against PyMC's own ``compile_logp`` / ``compile_dlogp`` run by numpy (an independent implementation of every op).
Run it after any change to how the callbacks are built (numba_ops, the linker, the cache format): the tests cover
the structures they build, this covers every case a user is given. Prints a Markdown table; exits 1 on a mismatch.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def check(path: Path) -> tuple[float, bool | None, float, float]:
    """Compile seconds, cache hit, and the largest relative differences of the log density and the gradient."""
    from mmmhelpers import compile as mc
    from mmmhelpers.calibration import model_for
    from mmmhelpers.case_data import prepare_data
    from mmmhelpers.config import load_params
    from mmmhelpers.fit import _logp_callback
    from mmmhelpers.transforms import ONE_OFF_MODE

    params = load_params(path)
    data, _ = prepare_data(params)
    model = model_for(params, data).model
    t0 = time.perf_counter()
    ours = mc.compile_model(model, mc.UNCONSTRAINED_ONLY, in_child=False)
    seconds = time.perf_counter() - t0
    g = mc.model_graphs(model, mc.UNCONSTRAINED_ONLY)
    logp, dlogp = model.compile_logp(mode=ONE_OFF_MODE), model.compile_dlogp(mode=ONE_OFF_MODE)
    evaluate, x, grad, value = _logp_callback(ours)
    rng = np.random.default_rng(1)
    worst_logp = worst_grad = 0.0
    for k in range(3):
        x[:] = ours.initial_point_func(k) + (rng.normal(0.0, 0.2, ours.n_dim) if k else 0.0)
        if evaluate() != 0:
            return seconds, mc.last_info.hit, np.inf, np.inf
        point = {n: x[s].reshape(shape) for n, s, shape in zip(g.joined_names, g.joined_slices, g.joined_shapes)}
        want, want_grad = float(logp(point)), np.asarray(dlogp(point))
        worst_logp = max(worst_logp, abs(value[0] - want) / max(abs(want), 1e-300))
        worst_grad = max(worst_grad, float(np.max(np.abs(grad - want_grad) / (np.abs(want_grad) + 1e-10))))
    return seconds, mc.last_info.hit, worst_logp, worst_grad


def main() -> None:
    warnings.filterwarnings("ignore")
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "params").rglob("*.yaml"))
    print("| case | compile s | cache hit | largest relative difference: log density | gradient | verdict |\n"
          "|---|---|---|---|---|---|")
    failed = False
    for path in paths:
        seconds, hit, d_logp, d_grad = check(path)
        ok = d_logp < 1e-10 and d_grad < 1e-8
        failed |= not ok
        print(f"| {path.relative_to(ROOT / 'params') if path.is_relative_to(ROOT / 'params') else path} | "
              f"{seconds:.1f} | {hit} | {d_logp:.1e} | {d_grad:.1e} | {'same' if ok else 'DIFFERS'} |", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
