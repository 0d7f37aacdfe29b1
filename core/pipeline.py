"""The few steps every front end repeats: image -> input, predictions, one explanation, its curves.

The CLI, the batch export and the GUI view-models all call these, so an explanation means the
same thing everywhere.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from .attribution.registry import attribute, get_method
from .metrics.hard import CurveResult, deletion_insertion
from .metrics.protocols import Protocol
from .models.adapter import ModelAdapter
from .progress import Progress


@dataclass
class Prepared:
    """An image ready for the model: the cropped picture the map aligns with, and the input."""

    display: Image.Image  # RGB, model input size, same geometry as the map
    x: torch.Tensor  # (1,C,H,W) normalised, on the model's device


@dataclass
class Prediction:
    index: int
    name: str
    probability: float


@dataclass
class Explanation:
    method: str
    target: int
    map: np.ndarray  # (H,W) float32 at the model's input resolution
    seconds: float
    curves: CurveResult | None = None
    options: dict[str, Any] = field(default_factory=dict)


def prepare(model: ModelAdapter, image: Image.Image) -> Prepared:
    display = model.preprocessing.geometry(image.convert("RGB"))
    x = model.preprocessing.to_tensor(display)[None].to(model.device)
    return Prepared(display, x)


@torch.no_grad()
def top_predictions(model: ModelAdapter, x: torch.Tensor, k: int = 5) -> list[Prediction]:
    probs = model.probabilities(x)[0].float().cpu()
    values, idx = probs.topk(min(k, probs.numel()))
    return [Prediction(int(i), model.class_names[int(i)], float(v)) for v, i in zip(values, idx)]


def explain(
    model: ModelAdapter,
    x: torch.Tensor,
    method: str,
    target: int | None = None,
    *,
    protocol: str | Protocol | None = "aha",
    batch_limit: int = 32,
    progress: Progress | None = None,
    **options: Any,
) -> Explanation:
    """One map for one image (x is (1,C,H,W)), plus its hard curves unless ``protocol`` is None."""
    if target is None:
        with torch.no_grad():
            target = int(model.logits(x).argmax(-1)[0])
    get_method(method)  # fail early with the list of names
    start = time.perf_counter()
    maps = attribute(method, model, x, [target], batch_limit=batch_limit, progress=progress, **options)
    seconds = time.perf_counter() - start
    curves = None
    if protocol is not None:
        curves = deletion_insertion(model, x, maps, [target], protocol=protocol, batch_limit=batch_limit * 2)
    public = {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool))}
    return Explanation(method, target, maps[0].cpu().numpy().astype(np.float32), seconds, curves, public)
