"""Differentiable ranking: Gumbel-Sinkhorn soft permutations and rank-bucket transport plans."""
from .buckets import hard_buckets, sinkhorn_buckets
from .sinkhorn import (DEFAULT_SCORE_CAP, NORMALIZE_MODES, gumbel_sinkhorn, hard_permutation, log_sinkhorn,
                       normalize_scores, sample_gumbel)

__all__ = [
    "DEFAULT_SCORE_CAP",
    "NORMALIZE_MODES",
    "gumbel_sinkhorn",
    "hard_buckets",
    "hard_permutation",
    "log_sinkhorn",
    "normalize_scores",
    "sample_gumbel",
    "sinkhorn_buckets",
]
