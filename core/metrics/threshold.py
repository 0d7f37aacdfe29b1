"""Soft deletion / insertion curves at pixel resolution, for refining one image's map.

The training loss (``soft.py``) ranks a coarse grid of cells with Gumbel-Sinkhorn, so it cannot
see how pixels are ordered inside a cell, and the hard metrics rank single pixels. Here the map
itself is thresholded: at curve point p the deletion mask is ``sigmoid((s - q_p) / T)``, where
``q_p`` is the score above which a fraction p of the pixels lie. Every pixel near a threshold gets
a gradient of its own, so the map's fine order is optimised directly on the image's curves.
"""
from __future__ import annotations

import torch

from ..models.adapter import ModelAdapter
from .protocols import DEFAULT_PROTOCOL, get_protocol
from .soft import blend_probs, sample_percentiles, trapezoid_weights

CURVE_POINTS = int(get_protocol(DEFAULT_PROTOCOL).n_points or 21)  # aha: 21 points, 5% steps


def quantile_thresholds(scores: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """(P,) scores above which lie exactly the round(p * pixels) highest-scoring pixels of the
    (H, W) map (as many as the hard curve removes at p), for interior fractions p (P,) in (0, 1).
    Each threshold is midway between the last pixel in and the first pixel out."""
    ordered = scores.detach().flatten().sort(descending=True).values
    n = ordered.numel()
    count = (fractions.to(ordered.device) * n).round().long().clamp(1, n - 1)
    return 0.5 * (ordered[count - 1] + ordered[count])


def threshold_masks(scores: torch.Tensor, fractions: torch.Tensor, temperature: float) -> torch.Tensor:
    """(P, H, W) soft deletion masks: about a fraction p of the pixels, the highest-scoring, near 1."""
    q = quantile_thresholds(scores, fractions)
    return torch.sigmoid((scores[None] - q[:, None, None]) / temperature)


def threshold_curve_loss(model: ModelAdapter, x: torch.Tensor, scores: torch.Tensor, target: int,
                         reference: torch.Tensor, ends: tuple[torch.Tensor, torch.Tensor], *,
                         samples: int, temperature: float, generator: torch.Generator | None = None,
                         batch_limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Estimated (deletion AUC - insertion AUC, deletion AUC, insertion AUC) of one image's map.

    ``x`` and ``reference`` are (1, C, H, W), ``scores`` (H, W); ``ends`` are the target's
    probabilities on the image and on the reference (``soft.endpoint_probs``). ``samples``
    interior points of the ``CURVE_POINTS``-point curve are drawn per call (stratified, with
    weights that make both AUC estimates unbiased), each costing one deletion and one insertion
    image through the model.
    """
    idx, weights = sample_percentiles(CURVE_POINTS, samples, 1, generator)
    fractions = idx[0].double() / (CURVE_POINTS - 1)
    masks = threshold_masks(scores, fractions, temperature)
    targets = torch.tensor([int(target)], device=x.device)
    dele, ins = blend_probs(model, x, reference, masks[None], targets, 0.0, batch_limit)
    w = weights.to(dele.device)
    # Both curves run between the image and the reference, so their ends add the same area.
    end_area = float(trapezoid_weights(CURVE_POINTS)[0]) * sum(e.to(dele.device).float()[0] for e in ends)
    deletion = (w * dele).sum() + end_area
    insertion = (w * ins).sum() + end_area
    return deletion - insertion, deletion, insertion


__all__ = ["CURVE_POINTS", "quantile_thresholds", "threshold_curve_loss", "threshold_masks"]
