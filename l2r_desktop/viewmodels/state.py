"""Plain data the view-models hand to the widgets (no Qt, no widgets)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l2r_core.attribution.registry import OptionSpec
from l2r_core.metrics.hard import Curves
from l2r_core.models.preprocessing import Placement
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
    original: np.ndarray | None = None  # (h,w,3) uint8: the original image, scaled down for the side view
    original_size: tuple[int, int] | None = None  # (width, height) of the original file
    placement: Placement | None = None  # where the model's input lies on the original


@dataclass
class MethodResult:
    key: str  # method name, or REFINED
    title: str
    raw: np.ndarray  # (H,W) float32, the method's own values
    shown: np.ndarray  # normalize_map(raw): what the overlay displays
    seconds: float
    curves: Curves | None = None
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # the options set by the user (defaults omitted)

    @classmethod
    def from_map(cls, key: str, title: str, raw: np.ndarray, seconds: float, note: str = "",
                 options: dict[str, Any] | None = None) -> "MethodResult":
        raw = np.asarray(raw, dtype=np.float32)
        return cls(key, title, raw, normalize_map(raw), seconds, None, note, dict(options or {}))


@dataclass(frozen=True)
class OptionsState:
    """What the options panel shows: the primary method's declared options and their values."""

    method: str = ""
    title: str = ""
    specs: tuple[OptionSpec, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)  # every declared option's current value
    layers: tuple[str, ...] = ()  # the model's layers, for options of kind "layer"


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
