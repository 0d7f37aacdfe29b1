"""Soft deletion / insertion curves at pixel resolution: the map thresholded at its quantiles.

The Gumbel-Sinkhorn relaxation (``soft.py``) ranks a coarse grid of cells, so it cannot see how
pixels are ordered inside a cell, while the hard metrics rank single pixels. Here the map itself
is thresholded: at curve point p the deletion mask is ``sigmoid((s - q_p) / T)``, where ``q_p`` is
the score above which a fraction p of the pixels lie. Every pixel near a threshold gets a gradient
of its own, so the map's fine order is optimised directly on the curves the hard metric draws.
Test-time refinement uses it on one image; training uses it as ``ranking="threshold"``.
"""
from __future__ import annotations

import torch

from ..models.adapter import ModelAdapter
from .blend import SoftCurves, blend_probs, endpoint_probs, sample_percentiles, sampled_curves
from .protocols import DEFAULT_PROTOCOL, get_protocol

CURVE_POINTS = int(get_protocol(DEFAULT_PROTOCOL).n_points or 21)  # aha: 21 points, 5% steps


def quantile_thresholds(scores: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Scores above which lie exactly the round(p * pixels) highest-scoring pixels of each
    (..., H, W) map (as many as the hard curve removes at p), for interior fractions p (..., P)
    in (0, 1). Returns (..., P); each threshold is midway between the last pixel in and the first
    pixel out."""
    ordered = scores.detach().flatten(-2).sort(dim=-1, descending=True).values
    n = ordered.shape[-1]
    count = (fractions.to(ordered.device) * n).round().long().clamp(1, n - 1)
    return 0.5 * (ordered.gather(-1, count - 1) + ordered.gather(-1, count))


def threshold_masks(scores: torch.Tensor, fractions: torch.Tensor, temperature: float) -> torch.Tensor:
    """(..., P, H, W) soft deletion masks of (..., H, W) maps: about a fraction p of the pixels,
    the highest-scoring, near 1."""
    q = quantile_thresholds(scores, fractions)
    return torch.sigmoid((scores[..., None, :, :] - q[..., None, None]) / temperature)


def threshold_curves(model: ModelAdapter, x: torch.Tensor, scores: torch.Tensor, targets: torch.Tensor,
                     reference: torch.Tensor, *, samples: int, temperature: float,
                     generator: torch.Generator | None = None, batch_limit: int | None = None,
                     ends: tuple[torch.Tensor, torch.Tensor] | None = None) -> SoftCurves:
    """Soft curves of maps ``scores`` (B, H, W) at sampled points, with unbiased AUC estimates.

    ``x`` and ``reference`` are (B, C, H, W), ``targets`` (B,). ``samples`` interior points of
    the ``CURVE_POINTS``-point curve are drawn per image (stratified, weighted so that both AUC
    estimates are unbiased; 0 or at least the interior count: all of them), each costing one
    deletion and one insertion image through the model. ``ends``: the target's probabilities on
    the image and on the reference (``blend.endpoint_probs``), when the caller already has them.
    """
    interior = CURVE_POINTS - 2
    k = interior if samples <= 0 or samples >= interior else samples
    idx, weights = sample_percentiles(CURVE_POINTS, k, x.shape[0], generator)
    fractions = idx.to(scores.device).double() / (CURVE_POINTS - 1)
    masks = threshold_masks(scores, fractions, temperature)
    dele, ins = blend_probs(model, x, reference, masks, targets, 0.0, batch_limit)
    ends = ends if ends is not None else endpoint_probs(model, x, reference, targets, batch_limit)
    return sampled_curves(fractions, dele, ins, ends, weights, CURVE_POINTS, masks.mean((-2, -1)))


def standardized(maps: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each (H, W) map of a (B, H, W) batch shifted and scaled to mean 0, std 1 (differentiably),
    so a fixed threshold temperature means the same for maps of any scale."""
    flat = maps.float().flatten(1)
    mean, std = flat.mean(1), flat.std(1, correction=0).clamp_min(eps)  # a 1x1 map gives 0, not NaN
    return (maps.float() - mean[:, None, None]) / std[:, None, None]


__all__ = ["CURVE_POINTS", "quantile_thresholds", "standardized", "threshold_curves", "threshold_masks"]
