"""Plain data the view-models hand to the widgets (no Qt, no widgets)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l2r_core.metrics.hard import Curves
from l2r_core.pipeline import Prediction
from l2r_core.render import normalize_map

REFINED = "refined"  # result key of the test-time refined map


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
    shown: np.ndarray  # normalize_map(raw): what the overlay displays
    seconds: float
    curves: Curves | None = None
    note: str = ""

    @classmethod
    def from_map(cls, key: str, title: str, raw: np.ndarray, seconds: float, note: str = "") -> "MethodResult":
        raw = np.asarray(raw, dtype=np.float32)
        return cls(key, title, raw, normalize_map(raw), seconds, None, note)


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
