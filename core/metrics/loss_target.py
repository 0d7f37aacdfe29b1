"""The frozen target as the soft loss calls it: optional bf16 autocast and gradient checkpointing.

Training and test-time refinement both evaluate the target on many blended images per step, so
both wrap it the same way. bf16 autocast pays off on GPUs and on CPUs with native bf16 (AVX512-BF16
or AMX); the loss and its gradient stay close to float32 (tests/training/test_bf16.py states the
tolerance). Checkpointing trades a second forward pass for memory and is only worth it when the
activations of all blended images would not fit.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager

import torch
import torch.utils.checkpoint

from ..errors import ConfigError
from ..models.adapter import ModelAdapter

AMP_MODES = ("auto", "bf16", "off")


def cpu_supports_bf16() -> bool:
    """Native bf16 on this CPU, as oneDNN sees it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def use_bf16(mode: str, device: torch.device, *, cpu_auto: bool = False) -> bool:
    """Whether to autocast the target to bf16. ``auto``: on CUDA, and on a CPU with native bf16
    only when ``cpu_auto``; ``bf16``: on CUDA and on such CPUs (refused on others); ``off``: never."""
    if mode not in AMP_MODES:
        raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}")
    if mode == "off":
        return False
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    if mode == "auto":
        return cpu_auto and cpu_supports_bf16()
    if not cpu_supports_bf16():
        raise ConfigError("--amp bf16: this CPU has no native bf16 support (oneDNN reports none); "
                          "use --amp off or auto.")
    return True


def autocast_context(device: torch.device, bf16: bool) -> Callable[[], ContextManager[Any]]:
    """A factory of the autocast context for ``device`` (a no-op context when not ``bf16``)."""
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


class TargetForLoss:
    """The target with autocast (float32 logits out) and, with ``checkpoint``, each chunk's
    activations recomputed in the backward pass instead of stored, so memory holds one chunk of
    images rather than all of them."""

    def __init__(self, model: ModelAdapter, ctx: Callable[[], ContextManager[Any]], checkpoint: bool = False,
                 logits: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self._model, self._ctx, self._checkpoint = model, ctx, checkpoint
        self._logits = logits or model.logits  # a compiled forward, when asked for

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        with self._ctx():
            return self._logits(x).float()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self._checkpoint and torch.is_grad_enabled() and x.requires_grad:
            # The TorchScript interpreter rejects the saved-tensor hooks of the non-reentrant form.
            reentrant = getattr(self._model, "kind", "") == "torchscript"
            return torch.utils.checkpoint.checkpoint(self._run, x, use_reentrant=reentrant)
        return self._run(x)
