"""Hard deletion/insertion curves and AUCs of any attribution map, for any model adapter."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..models.adapter import ModelAdapter
from ..progress import Progress, ensure_progress
from ..targets import as_targets
from .protocols import Protocol, get_protocol
from .references import gaussian_blur, make_reference


@dataclass
class Curves:
    """One image's deletion and insertion curves at ``fractions`` and their areas."""

    protocol: str
    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float
    target: int
    warnings: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "target": self.target, "deletion_auc": self.deletion_auc,
                "insertion_auc": self.insertion_auc, "fractions": self.fractions.tolist(),
                "deletion": self.deletion.tolist(), "insertion": self.insertion.tolist()}


@dataclass
class CurveResult:
    """Per-image curves (B,S) at ``fractions`` (S,), their AUCs (B,), and the protocol's name."""

    protocol: str
    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: np.ndarray
    insertion_auc: np.ndarray
    targets: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def image(self, i: int = 0) -> "Curves":
        """One image's curves, with scalar AUCs."""
        return Curves(self.protocol, self.fractions, self.deletion[i], self.insertion[i],
                      float(self.deletion_auc[i]), float(self.insertion_auc[i]), int(self.targets[i]),
                      list(self.warnings))

    def row(self, i: int) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "target": int(self.targets[i]),
            "deletion_auc": float(self.deletion_auc[i]),
            "insertion_auc": float(self.insertion_auc[i]),
            "fractions": self.fractions.tolist(),
            "deletion": self.deletion[i].tolist(),
            "insertion": self.insertion[i].tolist(),
        }


def area(curve: np.ndarray, fractions: np.ndarray, how: str = "trapezoid") -> np.ndarray:
    """Trapezoid area over fractions in [0,1] (last axis), or the plain sum."""
    if how == "sum":
        return curve.sum(-1)
    dx = np.diff(fractions)
    return ((curve[..., 1:] + curve[..., :-1]) * 0.5 * dx).sum(-1)


def substrate(kind: str, x: torch.Tensor, model: ModelAdapter, protocol: Protocol) -> torch.Tensor:
    """What removed pixels become (deletion) or what insertion starts from, for a protocol."""
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "blur":
        return gaussian_blur(x, protocol.blur_size, protocol.blur_sigma)
    return make_reference(kind, x, model.preprocessing)


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """(B,H,W) map -> (B,H*W) rank of each pixel, 0 = most important; ties broken by position."""
    b = maps.shape[0]
    order = torch.argsort(-maps.reshape(b, -1).float(), dim=1, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=maps.device).expand(b, -1))
    return ranks


def perturbed_batch(x: torch.Tensor, ranks: torch.Tensor, counts: list[int], substrate: torch.Tensor,
                    insertion: bool) -> torch.Tensor:
    """(C,H,W) image, (HW,) ranks -> (S,C,H,W): top-`count` pixels replaced (deletion) or revealed
    over the substrate (insertion)."""
    c, h, w = x.shape
    top = ranks.view(1, h * w) < torch.tensor(counts, device=x.device).view(-1, 1)  # (S, HW)
    top = top.view(-1, 1, h, w)
    if insertion:
        return torch.where(top, x.unsqueeze(0), substrate.unsqueeze(0))
    return torch.where(top, substrate.unsqueeze(0), x.unsqueeze(0))


def _scores(model: ModelAdapter, batch: torch.Tensor, target: int, how: str) -> torch.Tensor:
    logits = model.logits(batch).float()
    if how == "logit":
        return logits[:, target]
    return logits.softmax(-1)[:, target]


@torch.no_grad()
def deletion_insertion(
    model: ModelAdapter,
    x: torch.Tensor,
    maps: torch.Tensor,
    targets: torch.Tensor | list[int] | None = None,
    protocol: str | Protocol = "aha",
    batch_limit: int = 64,
    progress: Progress | None = None,
) -> CurveResult:
    """Deletion and insertion curves of ``maps`` (B,H,W) for normalised images ``x`` (B,C,H,W).

    Targets default to the predicted class. At most ``batch_limit`` perturbed images go through
    the model at once, which caps memory.
    """
    proto = get_protocol(protocol)
    progress = ensure_progress(progress)
    if x.ndim == 3:
        x, maps = x[None], maps[None] if maps.ndim == 2 else maps
    b, _, h, w = x.shape
    maps = maps.to(x.device).float()
    if maps.shape[-2:] != (h, w):
        maps = F.interpolate(maps[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    tgt = as_targets(targets, x.shape[0], x.device, model.logits(x) if targets is None else None)
    counts = proto.fractions_count(h * w)
    fractions = np.array(counts, dtype=np.float64) / (h * w)
    ranks = pixel_ranks(maps)
    curves = {"deletion": np.zeros((b, len(counts))), "insertion": np.zeros((b, len(counts)))}
    subs = {"deletion": substrate(proto.deletion_reference, x, model, proto),
            "insertion": substrate(proto.insertion_start, x, model, proto)}
    total, done = b * 2 * math.ceil(len(counts) / batch_limit), 0
    for i in range(b):
        for kind in ("deletion", "insertion"):
            for s in range(0, len(counts), batch_limit):
                chunk = counts[s : s + batch_limit]
                imgs = perturbed_batch(x[i], ranks[i], chunk, subs[kind][i], kind == "insertion")
                curves[kind][i, s : s + len(chunk)] = _scores(model, imgs, int(tgt[i]), proto.score).cpu().numpy()
                done += 1
                progress.step(done, total, "deletion/insertion")
    warnings = []
    bad = ~np.isfinite(curves["deletion"]).all(1) | ~np.isfinite(curves["insertion"]).all(1)
    for i in np.flatnonzero(bad):
        warnings.append(f"image {i}: the model returned NaN or inf on perturbed inputs; AUC is NaN")
    return CurveResult(
        proto.name, fractions, curves["deletion"], curves["insertion"],
        area(curves["deletion"], fractions, proto.auc), area(curves["insertion"], fractions, proto.auc),
        tgt.cpu().numpy(), warnings)


def perturbed_at(model: ModelAdapter, x: torch.Tensor, saliency: torch.Tensor, protocol: str | Protocol,
                 kind: str, step: int) -> torch.Tensor:
    """The (C,H,W) image the model sees at curve point ``step`` of ``kind`` (deletion|insertion)
    for one normalised image x (1,C,H,W) and its (H,W) map."""
    proto = get_protocol(protocol)
    _, _, h, w = x.shape
    counts = proto.fractions_count(h * w)
    step = max(0, min(int(step), len(counts) - 1))
    ranks = pixel_ranks(saliency.to(x.device).float().reshape(1, h, w))[0]
    sub = substrate(proto.deletion_reference if kind == "deletion" else proto.insertion_start, x, model, proto)
    with torch.no_grad():
        return perturbed_batch(x[0], ranks, [counts[step]], sub[0], kind == "insertion")[0]
