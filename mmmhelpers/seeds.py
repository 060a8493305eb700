"""Every random draw of a run derives from the params seed through one ``numpy.random.SeedSequence``.

Each purpose (and each repeat of it: fold k, replicate r) gets its own child sequence, so streams never
overlap and adding a purpose or a replicate leaves every other stream unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PURPOSES", "seed_for"]

# Append only: a purpose's position is part of its seed.
PURPOSES = ("simulate", "fit", "posterior_predictive", "cv_fit", "cv_predict", "replicate_data", "replicate_fit",
            "optimize", "prior", "forecast", "variant", "lift_tests", "target", "sbc", "experiments", "backtest",
            "stability")


def seed_for(seed: int, purpose: str, index: int = 0) -> int:
    """The seed of ``purpose`` (its ``index``-th repeat) under the case seed ``seed``: a 32-bit integer."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown seed purpose {purpose!r} (known: {PURPOSES})")
    child = np.random.SeedSequence(seed, spawn_key=(PURPOSES.index(purpose), index))
    return int(child.generate_state(1)[0])
