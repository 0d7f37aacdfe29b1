"""Which results a reviewer should look at first, and why.

Rules (each gives a short flag name shown in the report and the CSV):

- ``low-confidence``: the predicted class has softmax probability < 0.5.
- ``border``: more than half of the map's mass lies in the border band (the outer 10% of the
  width on the left and right, 10% of the height at top and bottom; 36% of the area). The map's
  "mass" is its part above its own median, ``relu(map - median(map))``, which makes the rule
  independent of the map's offset and scale (Grad-CAM is >= 0, IG is signed, L2R scores are
  raw). A uniform map puts 36% there, so > 50% means the map prefers the border: the model may
  look at a frame, a watermark or the background.
- ``poor-curves``: deletion AUC >= insertion AUC (removing the "most important" pixels first
  hurts no more than removing the least important ones: the ranking is no better than its
  reverse), or insertion - deletion in the worst 10% of that method's results in this export
  (only when the method has at least 10 results).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

LOW_CONFIDENCE = 0.5
BORDER_WIDTH = 0.10
BORDER_MASS = 0.5
WORST_FRACTION = 0.10
MIN_FOR_DECILE = 10


def border_fraction(m: np.ndarray, width: float = BORDER_WIDTH) -> float:
    """Share of ``relu(map - median)`` inside the border band; NaN for a flat map."""
    a = np.nan_to_num(np.asarray(m, dtype=np.float64))
    mass = np.maximum(a - np.median(a), 0.0)
    total = float(mass.sum())
    if total <= 0 or not math.isfinite(total):
        return float("nan")
    h, w = a.shape
    bh, bw = max(1, round(h * width)), max(1, round(w * width))
    inner = float(mass[bh : h - bh, bw : w - bw].sum())
    return (total - inner) / total


def _margin(item: dict[str, Any]) -> float:
    d, i = item.get("deletion_auc"), item.get("insertion_auc")
    if d is None or i is None:
        return float("nan")
    return float(i) - float(d)


def worst_cutoffs(items: list[dict[str, Any]]) -> dict[str, float]:
    """Per method, the insertion-minus-deletion value at the worst decile (methods with >= 10)."""
    by_method: dict[str, list[float]] = {}
    for it in items:
        if it.get("status") == "ok" and math.isfinite(_margin(it)):
            by_method.setdefault(it["method"], []).append(_margin(it))
    return {m: float(np.quantile(v, WORST_FRACTION)) for m, v in by_method.items() if len(v) >= MIN_FOR_DECILE}


def flags_for(item: dict[str, Any], cutoffs: dict[str, float]) -> list[str]:
    if item.get("status") != "ok":
        return ["error"]
    out = []
    prob = item.get("probability")
    if prob is not None and float(prob) < LOW_CONFIDENCE:
        out.append("low-confidence")
    bf = item.get("border_fraction")
    if bf is not None and math.isfinite(float(bf)) and float(bf) > BORDER_MASS:
        out.append("border")
    margin = _margin(item)
    cut = cutoffs.get(item["method"])
    if math.isfinite(margin) and (margin <= 0 or (cut is not None and margin <= cut)):
        out.append("poor-curves")
    return out
