"""Paired comparison of two methods scored on the same images: is a difference in mean AUC real?

Two methods' mean AUCs over a few dozen photos can differ by less than the image-to-image spread
of that difference. Scoring both on the same images pairs them: the per-image difference removes
what the images have in common (an easy photo is easy for both). Its mean comes with a percentile
bootstrap interval, and the share of images where the method wins is counted.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

CURVES = (("deletion_auc", False), ("insertion_auc", True))  # (score, higher is better)
CONFIDENCE = 0.95
RESAMPLES = 10_000
_DRAWS_AT_ONCE = 2_000_000


@dataclass(frozen=True)
class PairedDifference:
    """method − reference over ``images`` paired images, with a bootstrap interval of the mean."""

    images: int
    mean: float
    low: float  # the interval's lower end
    high: float
    wins: int  # images where the method scored better (ties count for neither)
    higher_is_better: bool

    @property
    def verdict(self) -> str:
        """"better" or "worse" when the interval excludes 0, else "tie"."""
        if self.low > 0 or self.high < 0:
            return "better" if (self.low > 0) == self.higher_is_better else "worse"
        return "tie"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def paired_difference(values: Sequence[float], reference: Sequence[float], *, higher_is_better: bool,
                      confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0
                      ) -> PairedDifference:
    """Mean of ``values - reference`` (same images, same order) and its percentile bootstrap interval.

    The resampling is seeded, so a result file gives the same interval every time."""
    a, b = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores must be two 1-D sequences of one length, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("no paired images to compare")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    diff = a - b
    rng = np.random.default_rng(seed)
    chunk = max(1, _DRAWS_AT_ONCE // diff.size)  # bounded memory for folders of thousands of images
    means = np.concatenate([diff[rng.integers(0, diff.size, size=(min(chunk, resamples - start), diff.size))]
                            .mean(axis=1) for start in range(0, resamples, chunk)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    wins = int((diff > 0).sum() if higher_is_better else (diff < 0).sum())
    return PairedDifference(int(diff.size), float(diff.mean()), float(low), float(high), wins, higher_is_better)


def paired_curves(scores: Mapping[str, tuple[float, float]], reference: Mapping[str, tuple[float, float]]
                  ) -> dict[str, PairedDifference] | None:
    """Both curves' paired differences (keyed as CURVES) on the images the two share; each map is
    image -> (deletion AUC, insertion AUC). None when they share no image."""
    shared = [i for i in scores if i in reference]
    if not shared:
        return None
    return {key: paired_difference([scores[i][k] for i in shared], [reference[i][k] for i in shared],
                                   higher_is_better=higher)
            for k, (key, higher) in enumerate(CURVES)}
