"""report: the notebooks' set-up silences libraries' deprecation notes only; a modeller's warning reaches the page."""

from __future__ import annotations

import warnings
from pathlib import Path

from mmmhelpers.report import setup

TINY = Path(__file__).resolve().parent / "params" / "tiny.yaml"


def test_setup_lets_a_models_warning_through_and_silences_library_deprecations():
    with warnings.catch_warnings(record=True) as caught:
        setup(str(TINY))
        warnings.warn_explicit("divergences after tuning", UserWarning, "sampling.py", 1, module="pymc.sampling")
        warnings.warn_explicit("slow graph", UserWarning, "op.py", 1, module="pytensor.graph")
        warnings.warn_explicit("`foo` is deprecated", FutureWarning, "base.py", 1, module="arviz.data")
        warnings.warn_explicit("spend barely varies", UserWarning, "checks.py", 1, module="mmmhelpers.checks")
    seen = [str(w.message) for w in caught]
    assert seen == ["divergences after tuning", "slow graph", "spend barely varies"]
