"""Which class each image of a batch is explained for: the one target normaliser every method,
explainer and metric uses."""
from __future__ import annotations

from typing import Sequence

import torch

from .errors import ConfigError

Targets = torch.Tensor | int | Sequence[int] | None


def as_targets(targets: Targets, batch: int, device: torch.device | str = "cpu",
               logits: torch.Tensor | None = None) -> torch.Tensor:
    """A LongTensor of ``batch`` classes on ``device``. ``None`` is the top class of ``logits``;
    an int is the same class for every image."""
    if targets is None:
        if logits is None:
            raise ConfigError("no target class given and no logits to take the top class from")
        return logits.argmax(-1).to(device).long().reshape(-1)
    if isinstance(targets, int):
        targets = [targets] * batch
    t = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    if t.numel() != batch:
        raise ConfigError(f"{t.numel()} target classes for a batch of {batch} images: give one per image")
    return t
