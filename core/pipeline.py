"""The one explanation path: image -> model input, predictions, a method's map, its curves, its
overlay. The Python API (``l2r_core.explain``), the CLI, the batch export and the desktop app all
call these, so a map means the same thing everywhere."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from .attribution.registry import attribute, get_method
from .errors import ConfigError
from .images import load_image
from .metrics.hard import Curves, deletion_insertion
from .metrics.protocols import Protocol
from .models.adapter import ModelAdapter
from .models.preprocessing import Placement
from .progress import Progress
from .render import overlay as blend_overlay


@dataclass
class Prepared:
    """An image ready for the model: the picture the map aligns with, the input, and where that
    input lies on the original (None when the caller gave a tensor)."""

    display: Image.Image  # RGB, model input size, same geometry as the map
    x: torch.Tensor  # (1,C,H,W) normalised, on the model's device
    original: Image.Image | None = None
    placement: Placement | None = None


@dataclass
class Prediction:
    index: int
    name: str
    probability: float


ImageLike = Image.Image | str | os.PathLike[str] | torch.Tensor | Prepared


def input_picture(model: ModelAdapter, x: torch.Tensor) -> Image.Image:
    """A normalised (1,C,H,W) or (C,H,W) input as the RGB picture the model sees (grey shown grey)."""
    img = model.preprocessing.denormalize(x.reshape(-1, *x.shape[-3:])[0].detach().float().cpu())
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return Image.fromarray((img.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))


def prepare(model: ModelAdapter, image: ImageLike) -> Prepared:
    """A PIL image, an image path or a preprocessed (C,H,W)/(1,C,H,W) tensor, ready for ``model``."""
    if isinstance(image, Prepared):
        return image
    if isinstance(image, torch.Tensor):
        x = image if image.ndim == 4 else image[None]
        if x.ndim != 4 or x.shape[0] != 1:
            raise ConfigError(f"a tensor image must be (C,H,W) or (1,C,H,W), not {tuple(image.shape)}.")
        x = x.to(model.device, torch.float32)
        return Prepared(input_picture(model, x), x)
    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    if not isinstance(image, Image.Image):
        raise ConfigError(f"cannot explain a {type(image).__name__}: give a PIL image, an image path or a tensor.")
    rgb = image.convert("RGB")
    display = model.preprocessing.geometry(rgb)
    x = model.preprocessing.to_tensor(display)[None].to(model.device)
    if model.preprocessing.grayscale:  # show what the model sees: a grey picture
        display = display.convert("L").convert("RGB")
    return Prepared(display, x, rgb, model.preprocessing.placement(rgb.size))


@torch.no_grad()
def top_predictions(model: ModelAdapter, x: torch.Tensor, k: int = 5) -> list[Prediction]:
    probs = model.probabilities(x)[0].float().cpu()
    values, idx = probs.topk(min(k, probs.numel()))
    return [Prediction(int(i), model.class_names[int(i)], float(v)) for v, i in zip(values, idx)]


def attribution_map(model: ModelAdapter, x: torch.Tensor, method: str, target: int, *, batch_limit: int = 32,
                    progress: Progress | None = None, **options: Any) -> np.ndarray:
    """One method's raw (H,W) float32 map for the (1,C,H,W) input ``x``."""
    maps = attribute(method, model, x, [target], batch_limit=batch_limit, progress=progress, **options)
    return maps[0].detach().float().cpu().numpy().astype(np.float32)


def map_curves(model: ModelAdapter, x: torch.Tensor, m: np.ndarray, target: int, protocol: str | Protocol = "aha",
               *, batch_limit: int = 64, progress: Progress | None = None) -> Curves:
    """Deletion and insertion curves of the map ``m`` (H,W) for the input ``x`` under ``protocol``."""
    maps = torch.as_tensor(np.asarray(m, dtype=np.float32))[None].to(x.device)
    return deletion_insertion(model, x, maps, [target], protocol=protocol, batch_limit=batch_limit,
                              progress=progress).image(0)


@dataclass
class Explanation:
    """One map for one image and class. ``map`` is (H,W) at the model's input resolution, aligned
    with ``display``; ``probabilities`` are the model's softmax outputs for the image."""

    method: str
    target: int
    map: np.ndarray
    probabilities: np.ndarray
    seconds: float
    model: ModelAdapter = field(repr=False)
    prepared: Prepared = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    _curves: dict[str, Curves] = field(default_factory=dict, repr=False)

    @property
    def target_name(self) -> str:
        return self.model.class_names[self.target]

    @property
    def display(self) -> Image.Image:
        return self.prepared.display

    def curves(self, protocol: str | Protocol = "aha", *, batch_limit: int = 64,
               progress: Progress | None = None) -> Curves:
        """Deletion and insertion curves under ``protocol`` (computed once per protocol)."""
        key = protocol if isinstance(protocol, str) else protocol.name
        if key not in self._curves:
            self._curves[key] = map_curves(self.model, self.prepared.x, self.map, self.target, protocol,
                                           batch_limit=batch_limit, progress=progress)
        return self._curves[key]

    def map_on_original(self) -> np.ndarray:
        """The map at the original image's size, NaN where the model saw nothing of it."""
        if self.prepared.placement is None:
            raise ConfigError("this explanation was made from a tensor: there is no original image to map onto.")
        return self.prepared.placement.map_to_image(self.map)

    def overlay(self, alpha: float = 0.5, cmap: str = "inferno", on: str = "input") -> Image.Image:
        """The map over the picture the model saw (``on="input"``) or over the original image
        (``on="original"``, cropped-away parts left uncoloured)."""
        if on == "original":
            if self.prepared.original is None:
                raise ConfigError("this explanation was made from a tensor: use overlay(on='input').")
            return blend_overlay(self.prepared.original, self.map_on_original(), alpha, cmap)
        if on != "input":
            raise ConfigError(f"overlay(on={on!r}): use 'input' or 'original'.")
        return blend_overlay(self.display, self.map, alpha, cmap)


def explain(model: ModelAdapter, image: ImageLike, method: str = "l2r", target: int | None = None,
            explainer: Any = None, *, batch_limit: int = 32, progress: Progress | None = None,
            **options: Any) -> Explanation:
    """Explain ``model``'s decision for ``image`` (a PIL image, a path or a preprocessed tensor)
    with ``method``; ``target`` defaults to the top class. ``explainer`` is the trained explainer
    the l2r methods need. ``options`` go to the method; unknown names raise with the valid ones."""
    info = get_method(method)
    if info.needs_explainer:
        if explainer is None:
            raise ConfigError(f"method '{method}' needs a trained explainer for {model.name}: pass explainer=..., "
                              f"or train one with `l2r train`.")
        options["explainer"] = explainer
    prep = prepare(model, image)
    with torch.no_grad():
        probs = model.probabilities(prep.x)[0].float().cpu().numpy()
    if target is None:
        target = int(probs.argmax())
    if not 0 <= int(target) < len(probs):
        raise ConfigError(f"target {target} is not a class of {model.name} (0..{len(probs) - 1}).")
    start = time.perf_counter()
    m = attribution_map(model, prep.x, method, int(target), batch_limit=batch_limit, progress=progress, **options)
    seconds = time.perf_counter() - start
    public = {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool))}
    return Explanation(method, int(target), m, probs, seconds, model, prep, public)
