"""The target on blended images, and the curve points it is evaluated at.

Both relaxations of the deletion/insertion curves (the Gumbel-Sinkhorn ranking in ``soft.py``,
the pixel thresholds in ``threshold.py``) end the same way: soft masks blend each image towards a
reference, the target scores every blend, and a few stratified curve points stand for the whole
curve. Those shared steps live here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from ..models.adapter import ModelAdapter
from .references import gaussian_blur


@dataclass
class SoftCurves:
    """Soft curves over ``percentiles`` (P,), or (B, P) when each row drew its own points.
    Deletion starts at the image's probability and ends at the reference's; insertion the
    reverse. ``deleted_fraction`` has the shape of the curves and holds the mean mask per point:
    it equals p when the plan has converged (a convergence diagnostic). The AUCs are trapezoid
    areas, or their unbiased estimates when the points were sampled (``percentile_samples``)."""

    percentiles: torch.Tensor
    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_auc: torch.Tensor
    insertion_auc: torch.Tensor
    deleted_fraction: torch.Tensor

    def detach(self) -> "SoftCurves":
        return SoftCurves(*(getattr(self, f.name).detach() for f in fields(self)))


def trapezoid_weights(n_points: int) -> torch.Tensor:
    """(P,) weights of the trapezoid rule over P evenly spaced points of [0, 1]."""
    w = torch.full((n_points,), 1.0 / (n_points - 1), dtype=torch.float64)
    w[0] = w[-1] = 0.5 / (n_points - 1)
    return w


def sample_percentiles(n_points: int, k: int, batch: int,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A stratified draw of ``k`` interior percentile indices per row and their AUC weights.

    The P - 2 interior points are cut into ``k`` contiguous strata and one point is drawn
    uniformly from each. Its weight is its trapezoid weight times its stratum's size, so
    ``sum(weight * f(point))`` has the full trapezoid sum over the interior as its expectation:
    an unbiased AUC estimate at k/(P-2) of the cost. Returns ``(indices, weights)``, (B, k) each.
    """
    interior = n_points - 2
    if not 1 <= k <= interior:
        raise ValueError(f"percentile_samples must be in [1, {interior}] for {n_points} percentiles")
    dev = generator.device if generator is not None else torch.device("cpu")
    edges = torch.linspace(0, interior, k + 1, dtype=torch.float64).round().long()
    sizes = (edges[1:] - edges[:-1]).to(dev)
    u = torch.rand((batch, k), generator=generator, device=dev, dtype=torch.float64)
    idx = 1 + edges[:-1].to(dev) + (u * sizes).long().clamp_max(sizes - 1)
    weights = trapezoid_weights(n_points).to(dev)[idx] * sizes
    return idx, weights.float()


def blend_probs(model: ModelAdapter, x: torch.Tensor, reference: torch.Tensor,
                masks: torch.Tensor, targets: torch.Tensor, smooth_sigma: float,
                batch_limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Target softmax probabilities of the deletion and insertion images, (B, P) each.

    ``masks`` (B, P, g, g) are built into images chunk by chunk (``batch_limit`` images per model
    call), so the B*P*2 full-size images never exist at once outside autograd's own needs.
    """
    b, p = masks.shape[:2]
    h, w = x.shape[-2:]
    flat = masks.reshape(b * p, 1, *masks.shape[-2:])
    rows = b * p if batch_limit is None else max(1, batch_limit // 2)
    ksize = 2 * math.ceil(3 * smooth_sigma) + 1  # +-3 sigma: the truncated tail is < 0.3 %
    out_del, out_ins = [], []
    for start in range(0, b * p, rows):
        sl = slice(start, min(start + rows, b * p))
        m = F.interpolate(flat[sl], size=(h, w), mode="nearest")
        if smooth_sigma > 0:
            m = gaussian_blur(m, ksize, smooth_sigma, padding="reflect")
        img_idx = torch.arange(sl.start, sl.stop, device=x.device) // p
        xs, refs, m = x[img_idx], reference[img_idx], m.to(x.dtype)
        diff = refs - xs
        imgs = torch.cat([xs + m * diff, refs - m * diff])  # deletion, then insertion
        probs = model.logits(imgs).float().softmax(-1)
        t = targets.to(probs.device)[img_idx].repeat(2)
        picked = probs.gather(1, t[:, None])[:, 0]
        out_del.append(picked[: len(img_idx)])
        out_ins.append(picked[len(img_idx):])
    return torch.cat(out_del).view(b, p), torch.cat(out_ins).view(b, p)


def endpoint_probs(model: ModelAdapter, x: torch.Tensor, reference: torch.Tensor,
                    targets: torch.Tensor, batch_limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Target probabilities of the image and of the reference, (B,) each: the curves' ends.

    Their masks are all-0 and (once the plan has converged) all-1, so they carry no gradient to
    the map and need no backward pass."""
    b = x.shape[0]
    rows = b if batch_limit is None else max(1, batch_limit // 2)
    out_x, out_ref = [], []
    with torch.no_grad():
        for start in range(0, b, rows):
            sl = slice(start, min(start + rows, b))
            probs = model.logits(torch.cat([x[sl], reference[sl]])).float().softmax(-1)
            t = targets.to(probs.device)[sl].repeat(2)
            picked = probs.gather(1, t[:, None])[:, 0]
            n = sl.stop - sl.start
            out_x.append(picked[:n])
            out_ref.append(picked[n:])
    return torch.cat(out_x), torch.cat(out_ref)


def sampled_curves(points: torch.Tensor, deletion: torch.Tensor, insertion: torch.Tensor,
                   ends: tuple[torch.Tensor, torch.Tensor], weights: torch.Tensor, n_points: int,
                   fraction: torch.Tensor) -> SoftCurves:
    """Curves from ``k`` sampled interior points per image (B, k each) and weights from
    ``sample_percentiles``, closed by the ends (the image's and the reference's probabilities,
    (B,) each). The AUCs are the unbiased estimates of the ``n_points``-point trapezoid areas."""
    p_x, p_ref = (e.to(deletion.device).float() for e in ends)
    end = float(trapezoid_weights(n_points)[0])  # the weight of each end point
    w = weights.to(deletion.device)
    zeros, ones = torch.zeros_like(p_x)[:, None], torch.ones_like(p_x)[:, None]
    # Both curves run between the image and the reference, so their ends add the same area.
    return SoftCurves(torch.cat([zeros, points.to(deletion.dtype), ones], 1),
                      torch.cat([p_x[:, None], deletion, p_ref[:, None]], 1),
                      torch.cat([p_ref[:, None], insertion, p_x[:, None]], 1),
                      end * (p_x + p_ref) + (w * deletion).sum(-1),
                      end * (p_ref + p_x) + (w * insertion).sum(-1),
                      torch.cat([zeros, fraction.to(deletion.dtype), ones], 1))


__all__ = ["SoftCurves", "blend_probs", "endpoint_probs", "sample_percentiles", "sampled_curves", "trapezoid_weights"]
