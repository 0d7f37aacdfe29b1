"""The one object the product uses for any classifier."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .preprocessing import Preprocessing


class ModelAdapter(ABC):
    """A classifier with its preprocessing and class names.

    ``logits`` takes a normalised batch (B,C,H,W) on ``self.device`` and returns (B, classes).
    For torch-backed adapters gradients flow through it; ONNX adapters are inference-only
    (``supports_grad`` is False).
    """

    kind: str = "abstract"
    supports_grad: bool = False
    cam_layer: str | None = None  # the module Grad-CAM reads, when the automatic choice is not wanted

    def __init__(
        self,
        name: str,
        preprocessing: Preprocessing,
        class_names: Sequence[str],
        fingerprint: str,
        source: str = "",
    ) -> None:
        self.name = name
        self.preprocessing = preprocessing
        self.class_names = list(class_names)
        self.fingerprint = fingerprint
        self.source = source
        self.device = torch.device("cpu")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def set_class_names(self, names: Sequence[str] | None, source: str = "class names") -> None:
        """Name the outputs; refuses a list whose length is not the number of outputs."""
        if not names:
            return
        if len(names) != self.num_classes:
            raise ConfigError(f"{source}: {len(names)} class names for a model with {self.num_classes} outputs. "
                              f"Give one name per output, in the model's order.")
        self.class_names = list(names)

    @property
    def module(self) -> nn.Module | None:
        """The torch module, where there is one (timm, TorchScript)."""
        return None

    @abstractmethod
    def logits(self, x: torch.Tensor) -> torch.Tensor: ...

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).float().softmax(-1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Softmax probabilities in chunks of ``batch_size``, without gradients."""
        out = [self.probabilities(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.num_classes)

    def to(self, device: str | torch.device) -> "ModelAdapter":
        self.device = torch.device(device)
        return self

    @property
    def supports_features(self) -> bool:
        return False

    def logits_and_features(
        self, x: torch.Tensor, indices: Sequence[int] | int = 4, *, head_input: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits plus intermediate NCHW feature maps from one pass (timm models only). With
        ``head_input`` the list ends with the map the classifier head pools (its input)."""
        raise NotImplementedError(f"{self.name}: this model type gives no intermediate features")

    def describe(self) -> dict[str, object]:
        """Identity for manifests and explainer configs."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "num_classes": self.num_classes,
            "preprocessing": self.preprocessing.to_dict(),
        }
