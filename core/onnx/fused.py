"""The two graphs that get exported, as nn.Modules around an ``Explainer``.

Both call ``Explainer.explain`` itself, so the exported graph is the same code path the torch
product runs (one target pass for features and logits, then the decoder), not a re-implementation.
The explainer's modules are registered as submodules so the tracer sees their parameters.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError


def _register(owner: nn.Module, explainer: Any) -> None:
    model_module = explainer.model.module
    if model_module is None:
        raise ConfigError(f"{explainer.model.name} ({explainer.model.kind}) is not a torch model, so the explainer "
                          f"cannot be exported with it. Load the torch (timm) model to export.")
    owner.target_model = model_module
    owner.decoder = explainer.decoder
    if explainer.backbone is not None and explainer.backbone.module is not None:
        owner.backbone = explainer.backbone.module


class ExplainerGraph(nn.Module):
    """(image (B,C,H,W), target (B,) int64) -> map (B,H,W): the explainer alone."""

    def __init__(self, explainer: Any) -> None:
        super().__init__()
        _register(self, explainer)
        self._explainer = explainer

    def forward(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        maps, _ = self._explainer.explain(image, target)
        return maps


class FusedGraph(nn.Module):
    """image (B,C,H,W) -> (logits (B,K), map of the top class (B,H,W), top class (B,) int64)."""

    def __init__(self, explainer: Any) -> None:
        super().__init__()
        _register(self, explainer)
        self._explainer = explainer

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        maps, logits = self._explainer.explain(image, None)  # None -> argmax of the same pass's logits
        return logits, maps, logits.argmax(-1)
