"""Paired differences: the mean, the bootstrap interval, the wins and the verdict on known numbers."""
from __future__ import annotations

import numpy as np
import pytest

from l2r_core.metrics.paired import paired_difference


def test_a_constant_shift_has_a_zero_width_interval_and_wins_everywhere() -> None:
    ref = np.linspace(0.1, 0.9, 30)
    d = paired_difference(ref + 0.02, ref, higher_is_better=True)
    assert d.images == 30 and d.wins == 30
    assert d.mean == pytest.approx(0.02) and d.low == pytest.approx(0.02) and d.high == pytest.approx(0.02)
    assert d.verdict == "better"
    # the same shift on a lower-is-better score is a loss on every image
    worse = paired_difference(ref + 0.02, ref, higher_is_better=False)
    assert worse.wins == 0 and worse.verdict == "worse"


def test_a_difference_smaller_than_its_spread_is_a_tie() -> None:
    rng = np.random.default_rng(1)
    ref = rng.uniform(0.2, 0.6, 60)
    noise = rng.normal(0, 0.05, 60)
    d = paired_difference(ref + noise - noise.mean() - 0.004, ref, higher_is_better=True)
    assert d.mean == pytest.approx(-0.004)
    assert d.low < 0 < d.high and d.verdict == "tie"
    # the interval is about the mean's standard error times 1.96 either side
    se = noise.std(ddof=1) / np.sqrt(60)
    assert d.high - d.low == pytest.approx(2 * 1.96 * se, rel=0.15)
    # seeded: the same numbers give the same interval, in chunks or not
    again = paired_difference(ref + noise - noise.mean() - 0.004, ref, higher_is_better=True)
    assert (again.low, again.high) == (d.low, d.high)


def test_lower_is_better_counts_wins_below_the_reference() -> None:
    d = paired_difference([0.1, 0.2, 0.5, 0.4], [0.2, 0.2, 0.3, 0.5], higher_is_better=False)
    assert d.wins == 2  # 0.1 < 0.2 and 0.4 < 0.5; the tie counts for neither
    assert d.mean == pytest.approx(0.0)
    assert d.to_dict()["verdict"] == "tie"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        paired_difference([0.1, 0.2], [0.1], higher_is_better=True)
    with pytest.raises(ValueError, match="no paired images"):
        paired_difference([], [], higher_is_better=True)
