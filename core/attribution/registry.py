"""Registry of attribution methods: one calling convention, listed by name for CLI and GUI.

Every method is a function ``fn(model, inputs, targets, *, batch_limit, progress, **options)``
taking a ModelAdapter, a normalised batch (B,C,H,W) on the model's device and a LongTensor of
B target classes, and returning a float tensor (B,H,W) at the model's input resolution.

Method modules register themselves with ``register_method``; importing ``l2r_core`` imports them
all (the baselines from ``l2r_core.attribution``, then ``l2r_core.explainer.methods``), so the
registry itself imports no method.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch

from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..progress import Progress, ensure_progress
from ..targets import as_targets


class AttributionFn(Protocol):
    def __call__(self, model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *,
                 batch_limit: int, progress: Progress, **options: Any) -> torch.Tensor: ...


@dataclass(frozen=True)
class MethodInfo:
    name: str
    display_name: str
    needs_grad: bool
    fn: AttributionFn
    transformer_only: bool = False  # needs attention blocks (rollout, gae)
    needs_explainer: bool = False  # l2r, l2r-refine
    needs_hooks: bool = False  # reads inner layers (Grad-CAM): not possible on TorchScript
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def option_names(self) -> tuple[str, ...]:
        """The keyword options the method takes (besides batch_limit and progress)."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind == p.KEYWORD_ONLY and p.name not in ("batch_limit", "progress"))


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(name: str, display_name: str, *, needs_grad: bool, transformer_only: bool = False,
                    needs_explainer: bool = False, needs_hooks: bool = False, description: str = "",
                    **defaults: Any) -> Callable[[AttributionFn], AttributionFn]:
    def deco(fn: AttributionFn) -> AttributionFn:
        _REGISTRY[name] = MethodInfo(name, display_name, needs_grad, fn, transformer_only, needs_explainer,
                                     needs_hooks, dict(defaults), description)
        return fn

    return deco


def list_methods() -> list[MethodInfo]:
    """Every registered method, the learned explainer's first (it is the product's headline)."""
    return sorted(_REGISTRY.values(), key=lambda m: not m.needs_explainer)


def get_method(name: str) -> MethodInfo:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown attribution method '{name}'. Available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def available_methods(model: ModelAdapter) -> list[MethodInfo]:
    """Methods that can run on this model (gradients, attention blocks)."""
    from .model_info import is_scripted, is_transformer

    out = []
    for m in list_methods():
        if m.needs_grad and not model.supports_grad:
            continue
        if m.needs_hooks and is_scripted(model):
            continue
        if m.transformer_only and not is_transformer(model):
            continue
        out.append(m)
    return out


def attribute(method: str, model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor | int | list[int],
              *, batch_limit: int = 16, progress: Progress | None = None, **options: Any) -> torch.Tensor:
    """Run a registered method; returns (B,H,W) float32 on the device of ``inputs``."""
    info = get_method(method)
    if info.needs_grad and not model.supports_grad:
        raise ConfigError(f"{info.display_name} needs gradients, which {model.name} ({model.kind}) cannot give. "
                          f"Use a method without gradients (e.g. RISE) or load the torch model.")
    if inputs.ndim == 3:
        inputs = inputs[None]
    t = as_targets(targets, inputs.shape[0], inputs.device)
    unknown = [k for k in options if k not in info.option_names]
    if unknown:
        valid = ", ".join(info.option_names) or "none"
        raise ConfigError(f"{info.display_name} has no option '{unknown[0]}'. Its options: {valid}.")
    opts = dict(info.defaults)
    opts.update(options)
    out = info.fn(model, inputs, t, batch_limit=batch_limit, progress=ensure_progress(progress), **opts)
    return out.detach().float()
