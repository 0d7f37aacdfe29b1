"""The work the window runs in the background, as plain functions and generators (no Qt).

Each job takes a ``CancelToken``-like progress object and is handed to ``workers.JobRunner``.
Generators yield stages (image, map, curves, refine step) so the window updates progressively.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from l2r_core.attribution.layers import candidate_layers
from l2r_core.attribution.registry import get_method
from l2r_core.errors import ConfigError, ModelLoadError
from l2r_core.images import load_image
from l2r_core.metrics.hard import Curves, perturbed_at
from l2r_core.metrics.protocols import Protocol
from l2r_core.models.adapter import ModelAdapter
from l2r_core.pipeline import (Prediction, Prepared, attribution_map, input_picture, map_curves, prepare,
                               top_predictions)
from l2r_core.progress import Progress

from .viewmodels.state import REFINED, ImageState, MethodResult

L2R = "l2r"  # the learned explainer's method name
ORIGINAL_VIEW = 360  # px: the longest side of the original kept for the side view (not the full file)


def resolve_device(choice: str) -> str:
    """'auto' -> cuda when a GPU is usable, else cpu."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was selected but no usable NVIDIA GPU was found. Choose CPU in the Device menu.")
    return choice


# -- model -----------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    model: ModelAdapter
    spec: str
    explainer: Any = None  # l2r_core.explainer.Explainer
    explainer_path: str = ""
    notes: tuple[str, ...] = ()


def load_model_job(spec: str, weights: str | None, device: str, explainer_path: str | None,
                   progress: Progress, *, optional_explainer: bool = False,
                   options: dict[str, Any] | None = None) -> LoadedModel:
    """Load a model (and an explainer for it) on ``device``. With ``optional_explainer`` a missing
    or refused explainer becomes a note instead of an error (the demo's fallback). ``options`` are
    ``load_model``'s keyword options: the model card's keys, and ``card`` (a card file)."""
    from l2r_core.models.loading import load_model

    progress.step(0, 2, f"loading {spec}")
    model = load_model(spec, weights or None, device=resolve_device(device), **(options or {}))
    progress.step(1, 2, "model loaded")
    loaded = LoadedModel(model, spec)
    if explainer_path:
        try:
            loaded.explainer = load_explainer_job(model, explainer_path, progress)
            loaded.explainer_path = str(explainer_path)
        except (ModelLoadError, ConfigError, FileNotFoundError) as exc:
            if not optional_explainer:
                raise
            loaded.notes = (f"explainer not loaded ({exc})",)
    else:
        from l2r_core.onnx.explainer import fused_explainer

        loaded.explainer = fused_explainer(model)  # a fused ONNX file explains itself
    warm_imports()
    progress.step(2, 2, "ready")
    return loaded


def preload(progress: Progress) -> None:
    """Start-up job: import the model libraries in the worker while the GUI thread builds the
    window (timm alone costs seconds of CPU), so the demo model loads sooner."""
    for name in ("timm", "l2r_core.models.demo", "l2r_core.metrics.hard"):
        importlib.import_module(name)
    progress.step(1, 1, "libraries loaded")


def warm_imports() -> None:
    """Import what later jobs need now, in the worker: a first import during a refinement would
    hold Python's import lock while the GUI thread may need it (a visible stall)."""
    importlib.import_module("l2r_core.explainer.refine")


def load_explainer_job(model: ModelAdapter, path: str | Path, progress: Progress) -> Any:
    from l2r_core.explainer import load_explainer

    progress.step(0, 1, "loading explainer")
    explainer = load_explainer(Path(path), model)  # a folder or an exported .onnx
    explainer.to(model.device)
    explainer.eval()
    return explainer


def move_model_job(loaded: LoadedModel, device: str, progress: Progress) -> LoadedModel:
    progress.step(0, 1, f"moving model to {device}")
    loaded.model.to(resolve_device(device))
    if loaded.explainer is not None:
        loaded.explainer.to(loaded.model.device)
    return loaded


# -- explanation -----------------------------------------------------------------------------
class MethodUnavailable(ConfigError):
    """A method refused this model (e.g. Grad-CAM's hooks on TorchScript): the window disables it."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(message)
        self.method = method


@dataclass
class ImageStage:
    state: ImageState
    x: torch.Tensor  # (1,C,H,W) on the model's device


@dataclass
class MapStage:
    result: MethodResult


@dataclass
class CurveStage:
    key: str
    curves: Curves


def display_array(model: ModelAdapter, x: torch.Tensor) -> np.ndarray:
    """Normalised (1,C,H,W) -> (H,W,3) uint8 as the model sees it (grey models shown grey)."""
    return np.asarray(input_picture(model, x))


def compute_map(model: ModelAdapter, explainer: Any, method: str, x: torch.Tensor, target: int,
                progress: Progress, **options: Any) -> np.ndarray:
    """One method's raw (H,W) map, through the same path as the CLI and the export."""
    if get_method(method).needs_explainer:
        if explainer is None:
            raise ConfigError(f"{method} needs a trained explainer for {model.name}. Load one with "
                              f"Model > Load explainer..., or pick another method.")
        options["explainer"] = explainer
    return attribution_map(model, x, method, target, progress=progress, **options)


class CheckOnly:
    """Progress that only forwards cancellation (sub-steps must not move the caller's bar)."""

    def __init__(self, inner: Progress) -> None:
        self._inner = inner

    @property
    def cancelled(self) -> bool:
        return bool(self._inner.cancelled)

    def step(self, done: int, total: int, message: str = "") -> None:
        if self._inner.cancelled:
            from l2r_core.errors import Cancelled

            raise Cancelled()


def curves_for(model: ModelAdapter, x: torch.Tensor, raw: np.ndarray, target: int,
               protocol: str | Protocol, progress: Progress) -> Curves:
    return map_curves(model, x, raw, target, protocol, batch_limit=64, progress=CheckOnly(progress))


def original_thumbnail(image: Image.Image) -> np.ndarray:
    """The original, at most ORIGINAL_VIEW px on its longest side, as (h,w,3) uint8."""
    small = image.convert("RGB")
    small.thumbnail((ORIGINAL_VIEW, ORIGINAL_VIEW), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.uint8).copy()


def image_state(model: ModelAdapter, path: Path, prep: Prepared, preds: list[Prediction], target: int) -> ImageState:
    name = model.class_names[target] if 0 <= target < model.num_classes else str(target)
    original = prep.original
    return ImageState(Path(path), np.asarray(prep.display, dtype=np.uint8).copy(), preds, target, name,
                      original_thumbnail(original) if original is not None else None,
                      original.size if original is not None else None, prep.placement)


def explain_job(loaded: LoadedModel, path: Path, methods: Sequence[tuple[str, str]], target: int | None,
                protocol: str, progress: Progress, cached: dict[str, MethodResult] | None = None,
                options: Mapping[str, Mapping[str, Any]] | None = None
                ) -> Iterator[ImageStage | MapStage | CurveStage]:
    """Image -> predictions -> for each (method, title): map, then its curves. ``options`` are each
    method's options (by method name). ``cached`` maps (already computed for this image, model,
    target and options) are reused: only their curves are redone."""
    model, cached, options = loaded.model, cached or {}, options or {}
    total = 1 + 2 * len(methods)
    progress.step(0, total, f"reading {path.name}")
    prep = prepare(model, load_image(path))
    preds = top_predictions(model, prep.x, k=5)
    tgt = int(preds[0].index if target is None else target)
    yield ImageStage(image_state(model, path, prep, preds, tgt), prep.x)
    done = 1
    for method, title in methods:
        progress.step(done, total, f"{title}: map")
        result = cached.get(method)
        if result is None:
            opts = dict(options.get(method, {}))
            start = time.perf_counter()
            try:
                raw = compute_map(model, loaded.explainer, method, prep.x, tgt, CheckOnly(progress), **opts)
            except MethodUnavailable:
                raise
            except ConfigError as exc:
                raise MethodUnavailable(method, str(exc)) from exc
            result = MethodResult.from_map(method, title, raw, time.perf_counter() - start, options=opts)
        yield MapStage(result)
        progress.step(done + 1, total, f"{title}: deletion/insertion curves")
        yield CurveStage(method, curves_for(model, prep.x, result.raw, tgt, protocol, progress))
        done += 2
    progress.step(total, total, "done")


def layers_job(model: ModelAdapter, progress: Progress) -> list[str]:
    """The layers a layer option can name (one small forward pass on a CNN); run in the worker so
    its hooks never meet another job's on the same module."""
    progress.step(0, 1, "listing the model's layers")
    return candidate_layers(model)


# -- refinement ------------------------------------------------------------------------------
@dataclass
class RefineUpdate:
    step: int
    total: int
    loss: float
    result: MethodResult


def refine_refusal(model: ModelAdapter) -> str:
    """Why ``model`` cannot be refined ("" when it can)."""
    if model.supports_grad:
        return ""
    return (f"Refinement needs gradients, which {model.kind.upper()} models cannot give. "
            f"Load the PyTorch (timm or TorchScript) version of this model to refine.")


def refine_job(loaded: LoadedModel, x: torch.Tensor, target: int, initial: MethodResult, steps: int,
               protocol: str, progress: Progress) -> Iterator[RefineUpdate]:
    """Test-time refinement of ``initial``; after every step the refined map and its hard curves."""
    if refusal := refine_refusal(loaded.model):
        raise ConfigError(refusal)
    from l2r_core.explainer.refine import refine

    title = f"{initial.title} + refine"
    start = time.perf_counter()
    init = torch.as_tensor(initial.raw, dtype=torch.float32, device=x.device)
    for st in refine(loaded.model, x, target, init, steps=steps, progress=progress):
        raw = st.map.detach().float().cpu().numpy()
        result = MethodResult.from_map(REFINED, title, raw, time.perf_counter() - start,
                                       note=f"step {st.step}/{st.total}")
        result.curves = curves_for(loaded.model, x, raw, target, protocol, progress)
        yield RefineUpdate(int(st.step), int(st.total), float(st.loss), result)


# -- hover preview ---------------------------------------------------------------------------
def perturbed_image(model: ModelAdapter, x: torch.Tensor, raw: np.ndarray, protocol: str | Protocol,
                    kind: str, step: int) -> np.ndarray:
    """The image the model saw at curve point ``step`` of deletion or insertion, as (H,W,3) uint8."""
    img = perturbed_at(model, x, torch.as_tensor(raw, dtype=torch.float32), protocol, kind, step)[None]
    return display_array(model, img)
