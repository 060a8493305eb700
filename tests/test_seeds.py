"""One SeedSequence per case: every purpose and repeat gets its own, reproducible stream."""

import numpy as np
import pytest

from mmmhelpers.seeds import PURPOSES, seed_for


def test_seeds_are_reproducible_distinct_and_match_numpy_spawn():
    seeds = [seed_for(8413, p, k) for p in PURPOSES for k in range(3)]
    assert len(set(seeds)) == len(seeds)
    assert seeds == [seed_for(8413, p, k) for p in PURPOSES for k in range(3)]
    # the k-th repeat of purpose i is SeedSequence(seed).spawn(...)[i].spawn(...)[k]
    child = np.random.SeedSequence(8413).spawn(len(PURPOSES))[PURPOSES.index("cv_fit")].spawn(3)[2]
    assert seed_for(8413, "cv_fit", 2) == int(child.generate_state(1)[0])


def test_unknown_purpose_is_an_error():
    with pytest.raises(ValueError, match="unknown seed purpose"):
        seed_for(1, "simulation")
