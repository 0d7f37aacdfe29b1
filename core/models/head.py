"""The target's classifier head, read from the module (no user code)."""
from __future__ import annotations

import torch
from torch import nn

from .adapter import ModelAdapter


def classifier_weights(model: ModelAdapter) -> torch.Tensor | None:
    """The (num_classes, D) weight of the target's final Linear layer (timm's ``get_classifier``),
    or None when there is no such torch head (TorchScript, ONNX, custom heads)."""
    m = model.module
    if m is None or isinstance(m, torch.jit.ScriptModule) or not hasattr(m, "get_classifier"):
        return None
    head = m.get_classifier()
    if isinstance(head, nn.Linear) and head.out_features == model.num_classes:
        return head.weight.detach()
    return None


__all__ = ["classifier_weights"]
