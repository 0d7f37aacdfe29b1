"""The ``l2r`` and ``l2r-refine`` attribution methods (registered on import).

Both take the trained explainer as option ``explainer=`` (an ``Explainer``, or the path of a saved
one, loaded for ``model``; an exported ``.onnx`` explainer works too, and a fused ONNX model
needs none). ``l2r`` needs no gradients of the target (one forward pass gives the
prediction and the features), so it also runs for ONNX targets with a timm backbone.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..attribution.registry import OptionSpec, fused_explainer_of, register_method
from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..progress import CancelOnly, Progress
from ..metrics.references import REFERENCE_KINDS
from ..metrics.soft import SoftLossConfig
from .io import load_explainer
from .protocol import ExplainerLike
from .refine import REFINE_REFERENCES, RELAXATIONS, RefineSettings, default_loss_config, refine_map

MIXED_REFERENCES = "mixed"  # each step draws one of black, mean and blur, as in the paper's training


def _explainer_for(explainer: Any, model: ModelAdapter, method: str) -> ExplainerLike:
    """The ``explainer`` option as an explainer for ``model``; a clear error otherwise.

    Accepts an ``Explainer``, anything with the same ``explain``/``model`` interface (the ONNX
    explainers of ``l2r_core.onnx.explainer``), or a path (explainer folder or exported
    ``.onnx``). With none given, a fused ONNX model explains itself.
    """
    if explainer is None:
        explainer = fused_explainer_of(model)
    if explainer is None:
        raise ConfigError(f"{method} needs a trained explainer: load one with --explainer FOLDER "
                          f"(or fine-tune one for this model with `l2r train`).")
    if isinstance(explainer, (str, Path)):
        return load_explainer(explainer, model)
    if not isinstance(explainer, ExplainerLike):
        raise ConfigError(f"{method}: option explainer must be an explainer (ExplainerLike: explain, model, fingerprint, "
                          f"describe, to, eval) or its folder or .onnx file, "
                          f"got {type(explainer).__name__}")
    if explainer.model is not model and explainer.model.fingerprint != model.fingerprint:
        raise ConfigError(f"{method}: the explainer was built for {explainer.model.name} "
                          f"(fingerprint {explainer.model.fingerprint[:8]}) but the model is {model.name} "
                          f"(fingerprint {model.fingerprint[:8]}); load the matching explainer.")
    return explainer


@register_method("l2r", "L2R (learned explainer)", needs_grad=False, needs_explainer=True,
                 description="Learned explainer trained to rank pixels for deletion/insertion: "
                             "one forward pass of the target plus a small decoder.")
def l2r(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
        progress: Progress, explainer: Any = None) -> torch.Tensor:
    ex = _explainer_for(explainer, model, "L2R")
    n, chunk = inputs.shape[0], max(1, int(batch_limit))
    total, out = math.ceil(n / chunk), []
    for k, start in enumerate(range(0, n, chunk)):
        progress.step(k, total, "L2R explainer")
        with torch.no_grad():
            maps, _ = ex.explain(inputs[start:start + chunk], targets[start:start + chunk])
        out.append(maps.float())
    progress.step(total, total, "L2R explainer")
    return torch.cat(out) if out else inputs.new_zeros(0, *inputs.shape[-2:])


class _Offset:
    """Progress of one image's refinement reported as part of the whole batch's."""

    def __init__(self, outer: Progress, offset: int, total: int) -> None:
        self.outer, self.offset, self.total = outer, offset, total

    @property
    def cancelled(self) -> bool:
        return self.outer.cancelled

    def step(self, done: int, total: int, message: str = "") -> None:
        self.outer.step(self.offset + done, self.total, message)


@register_method("l2r-refine", "L2R + test-time refinement", needs_grad=True, needs_explainer=True,
                 description="The learned explainer's map, refined by a few gradient steps on the "
                             "image's own soft deletion/insertion loss.",
                 lr=0.05, seed=0,
                 options=(OptionSpec("steps", "int", 10, 1, 100, label="Refinement steps",
                                     help="Gradient steps on the image's own soft deletion/insertion loss, "
                                          "starting from the learned explainer's map."),
                          OptionSpec("reference", "choice", REFINE_REFERENCES[0], choices=(*REFERENCE_KINDS, MIXED_REFERENCES),
                                     label="Removed pixels become",
                                     help="What the refinement's curves replace removed pixels with: the mean colour "
                                          "(the aha protocol's), black, a blur, or the paper's mix of the three. "
                                          "Match the protocol you evaluate with."),
                          OptionSpec("relaxation", "choice", RELAXATIONS[0], choices=RELAXATIONS,
                                     label="Relaxation",
                                     help="threshold: every pixel's place in the ranking is optimised; sinkhorn: "
                                          "the training loss, which moves whole regions of a coarse grid.")))
def l2r_refine(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
               progress: Progress, explainer: Any = None, steps: int = 10, lr: float = 0.05,
               seed: int = 0, reference: str = REFINE_REFERENCES[0], relaxation: str = RELAXATIONS[0],
               config: SoftLossConfig | None = None, settings: RefineSettings | None = None) -> torch.Tensor:
    """Per image: the explainer's map, then ``steps`` refinement steps (``config`` and ``settings``
    as in ``refine``; ``reference`` and ``relaxation`` override theirs)."""
    ex = _explainer_for(explainer, model, "L2R + refinement")
    if reference != MIXED_REFERENCES and reference not in REFERENCE_KINDS:
        raise ConfigError(f"l2r-refine: reference must be {MIXED_REFERENCES} or one of "
                          f"{', '.join(REFERENCE_KINDS)}, not {reference!r}")
    kinds = REFERENCE_KINDS if reference == MIXED_REFERENCES else (reference,)
    config = replace(config or default_loss_config(), references=kinds)
    settings = replace(settings or RefineSettings(), relaxation=relaxation)
    initial = l2r(model, inputs, targets, batch_limit=batch_limit, progress=CancelOnly(progress), explainer=ex)
    n, steps = inputs.shape[0], int(steps)
    out = []
    for i in range(n):
        sub = _Offset(progress, i * steps, n * steps)
        out.append(refine_map(model, inputs[i:i + 1], int(targets[i]), initial[i], steps=steps, lr=lr,
                              seed=seed + i, progress=sub, batch_limit=batch_limit,
                              config=config, settings=settings))
    return torch.stack(out) if out else initial


