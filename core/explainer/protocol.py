"""What every explainer offers, torch or ONNX: the methods, the CLI and the GUI use only this."""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import torch

from ..models.adapter import ModelAdapter


@runtime_checkable
class ExplainerLike(Protocol):
    """A trained explainer bound to its target ``model``."""

    model: ModelAdapter

    @property
    def fingerprint(self) -> str:
        """Identifies the explainer's weights (recorded with every result it makes)."""

    @property
    def config(self) -> Any: ...

    def explain(self, x: torch.Tensor, targets: torch.Tensor | int | Sequence[int] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(maps (B,H,W) at x's resolution, the target's logits (B,K)); targets None: the top class."""

    def describe(self) -> dict[str, object]:
        """Identity for manifests and result files."""

    def to(self, device: str | torch.device) -> Any: ...

    def eval(self) -> Any: ...
