"""Plain data the view-models hand to the widgets (no Qt, no widgets)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l2r_core.metrics.hard import CurveResult
from l2r_core.pipeline import Prediction

# The one colour normalisation every heatmap uses, stated in the window next to the colour bar.
LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.0
NORMALISATION_LABEL = (f"Colour scale shared by all maps: each map is scaled to [0, 1] between its own "
                       f"{LOW_PERCENTILE:g}st and {HIGH_PERCENTILE:g}th percentiles (values outside are clipped).")
REFINED = "refined"  # result key of the test-time refined map


def normalise_map(raw: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE) -> np.ndarray:
    """Scale a map to [0, 1] by its own percentile range, so maps of any method share one scale."""
    m = np.asarray(raw, dtype=np.float32)
    finite = m[np.isfinite(m)]
    if finite.size == 0:
        return np.zeros_like(m)
    lo, hi = np.percentile(finite, [low, high])
    if not hi > lo:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        return np.zeros_like(m)
    out = (np.nan_to_num(m, nan=lo) - lo) / (hi - lo)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class MethodChoice:
    """One entry of the method selector."""

    name: str
    display_name: str
    enabled: bool = True
    reason: str = ""  # tooltip when disabled


@dataclass
class ImageState:
    path: Path
    display: np.ndarray  # (H,W,3) uint8, the picture the maps align with
    predictions: list[Prediction]
    target: int
    target_name: str


@dataclass
class MethodResult:
    key: str  # method name, or REFINED
    title: str
    raw: np.ndarray  # (H,W) float32, the method's own values
    shown: np.ndarray  # normalise_map(raw): what the overlay displays
    seconds: float
    curves: CurveResult | None = None
    note: str = ""

    @classmethod
    def from_map(cls, key: str, title: str, raw: np.ndarray, seconds: float, note: str = "") -> "MethodResult":
        raw = np.asarray(raw, dtype=np.float32)
        return cls(key, title, raw, normalise_map(raw), seconds, None, note)


@dataclass
class ModelInfo:
    name: str
    kind: str
    device: str
    supports_grad: bool
    num_classes: int
    input_size: tuple[int, int]
    explainer: str = ""  # folder of the loaded explainer, if any
    notes: list[str] = field(default_factory=list)
