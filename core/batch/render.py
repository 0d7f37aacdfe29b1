"""Pictures for the export: the overlay (shared look with `l2r explain`) and a small
deletion/insertion curves chart drawn with Pillow (no matplotlib dependency)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..render import overlay

OVERLAY_ALPHA = 0.5
DELETION_COLOUR = (214, 39, 40)
INSERTION_COLOUR = (44, 160, 44)


def overlay_image(display: Image.Image, m: np.ndarray, cmap: str = "inferno") -> Image.Image:
    """The map, colour-mapped over its 1-99 percentile range, blended over the cropped image."""
    return overlay(display, m, alpha=OVERLAY_ALPHA, cmap=cmap)


def _polyline(fr: Sequence[float], ys: Sequence[float], box: tuple[int, int, int, int],
              y_range: tuple[float, float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    lo, hi = y_range
    span = hi - lo if hi > lo else 1.0
    pts = []
    for f, y in zip(fr, ys):
        if not np.isfinite(y):
            continue
        pts.append((x0 + f * (x1 - x0), y1 - (float(y) - lo) / span * (y1 - y0)))
    return pts


def curves_image(curves: dict[str, Any], size: tuple[int, int] = (360, 240)) -> Image.Image:
    """Deletion (red) and insertion (green) score against the fraction of pixels, AUCs in the legend."""
    w, h = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    box = (40, 26, w - 12, h - 28)
    fr = list(curves["fractions"])
    dele, ins = list(curves["deletion"]), list(curves["insertion"])
    finite = [v for v in dele + ins if np.isfinite(v)]
    hi = max(1.0, max(finite)) if finite else 1.0
    lo = min(0.0, min(finite)) if finite else 0.0
    draw.rectangle(box, outline=(120, 120, 120))
    for t in (0.0, 0.5, 1.0):
        x = box[0] + t * (box[2] - box[0])
        draw.text((x - 8, box[3] + 4), f"{t:.1f}", fill="black", font=font)
        y = box[3] - t * (box[3] - box[1])
        draw.text((4, y - 6), f"{lo + t * (hi - lo):.2g}", fill="black", font=font)
    draw.text((box[0] + 60, h - 14), "fraction of pixels", fill="black", font=font)
    for ys, colour in ((dele, DELETION_COLOUR), (ins, INSERTION_COLOUR)):
        pts = _polyline(fr, ys, box, (lo, hi))
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
    d_auc, i_auc = curves.get("deletion_auc"), curves.get("insertion_auc")
    draw.text((box[0], 6), f"deletion AUC {d_auc:.3f}", fill=DELETION_COLOUR, font=font)
    draw.text((box[0] + 130, 6), f"insertion AUC {i_auc:.3f}", fill=INSERTION_COLOUR, font=font)
    draw.text((w - 70, 6), str(curves.get("protocol", "")), fill="black", font=font)
    return img
