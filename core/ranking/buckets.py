"""Rank-bucket soft ranking: N cells transported to K equal-size percentile buckets.

Cuturi et al. (2019) style optimal transport: cheaper than the full N x N soft permutation
(O(N*K) memory and time), so it ranks whole pixel maps (224 x 224 = 50,176 cells). An extension
the design names for evaluation, not the paper's method. Same score conventions as
``gumbel_sinkhorn`` (see that module's note on score scale).
"""
from __future__ import annotations

import torch

from .sinkhorn import DEFAULT_SCORE_CAP, log_sinkhorn, ranking_scores, sample_gumbel


def sinkhorn_buckets(scores: torch.Tensor, n_buckets: int = 32, tau: float = 1.0,
                     n_iters: int = 30, noise: bool = True,
                     generator: torch.Generator | None = None,
                     normalize: str = "softcap", cap: float = DEFAULT_SCORE_CAP) -> torch.Tensor:
    """Transport plan T (B, N, K): T[b, j, k] = share of cell j in bucket k (0 = most important).

    Bucket anchors are linspace(1, 0, K) (bucket centres on the rank axis, matching the full
    form when K = N); log-affinity -(s_j - a_k)^2, optional Gumbel noise, divided by ``tau``.
    Rows (cells) sum to exactly 1; columns (buckets) sum to N / K up to convergence.
    Computed in float32 (float64 stays float64); the result has the input's dtype.
    """
    s = ranking_scores(scores, tau, normalize, cap)
    if not 1 <= n_buckets <= s.shape[-1]:
        raise ValueError(f"n_buckets must be in [1, N={s.shape[-1]}], got {n_buckets}")
    b, n = s.shape
    anchors = torch.linspace(1.0, 0.0, n_buckets, device=s.device, dtype=s.dtype)
    log_k = -(s[:, :, None] - anchors[None, None, :]) ** 2  # (B, cells, buckets)
    if noise:
        log_k = log_k + sample_gumbel((b, n, n_buckets), log_k, generator)
    # Buckets (sums over cells, dim -2) get mass N/K; cells (sums over buckets) get 1, last/exact.
    log_t = log_sinkhorn(log_k / tau, n_iters, last_dim_mass=1.0,
                         first_dim_mass=n / n_buckets, exact="dim-1")
    return log_t.exp().to(scores.dtype)


def hard_buckets(scores: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """Hard limit of ``sinkhorn_buckets`` for N divisible by K: one-hot (B, N, K) by rank."""
    n = scores.shape[-1]
    if n % n_buckets:
        raise ValueError("hard_buckets needs N divisible by n_buckets")
    ranks = scores.argsort(dim=-1, descending=True).argsort(dim=-1)  # rank of each cell
    return torch.nn.functional.one_hot(ranks // (n // n_buckets), n_buckets).to(scores.dtype)
