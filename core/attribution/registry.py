"""Registry of attribution methods: one calling convention, listed by name for CLI and GUI.

Every method is a function ``fn(model, inputs, targets, *, batch_limit, progress, **options)``
taking a ModelAdapter, a normalised batch (B,C,H,W) on the model's device and a LongTensor of
B target classes, and returning a float tensor (B,H,W) at the model's input resolution.

Method modules register themselves with ``register_method``; importing ``l2r_core`` imports them
all (the baselines from ``l2r_core.attribution``, then ``l2r_core.explainer.methods``), so the
registry itself imports no method.

A method declares the options a user may set (``OptionSpec``: kind, range, choices); the GUI
builds its options panel from them, and their defaults are the method's defaults.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import torch

from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..progress import Progress, ensure_progress
from ..targets import as_targets


class AttributionFn(Protocol):
    def __call__(self, model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *,
                 batch_limit: int, progress: Progress, **options: Any) -> torch.Tensor: ...


OPTION_KINDS = ("int", "float", "choice", "layer", "bool")


@dataclass(frozen=True)
class OptionSpec:
    """One option a user may set, as a form field: ``kind`` is int, float, choice (one of
    ``choices``), layer (a module name of the model, None = chosen automatically) or bool."""

    name: str
    kind: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    label: str = ""
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name}: kind must be one of {', '.join(OPTION_KINDS)}, not {self.kind!r}")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"option {self.name}: default {self.default!r} is not one of its choices")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class MethodInfo:
    name: str
    display_name: str
    needs_grad: bool
    fn: AttributionFn
    transformer_only: bool = False  # needs attention blocks (rollout, gae)
    needs_explainer: bool = False  # l2r, l2r-refine
    needs_hooks: bool = False  # reads inner layers (Grad-CAM): not possible on TorchScript
    defaults: dict[str, Any] = field(default_factory=dict)  # every option's default, declared or not
    description: str = ""
    options: tuple[OptionSpec, ...] = ()  # the options a user may set (GUI panel), in display order

    @property
    def option_names(self) -> tuple[str, ...]:
        """The keyword options the method takes (besides batch_limit and progress)."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind == p.KEYWORD_ONLY and p.name not in ("batch_limit", "progress"))

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(name: str, display_name: str, *, needs_grad: bool, transformer_only: bool = False,
                    needs_explainer: bool = False, needs_hooks: bool = False, description: str = "",
                    options: Sequence[OptionSpec] = (), **defaults: Any) -> Callable[[AttributionFn], AttributionFn]:
    """Register ``fn`` under ``name``. ``options`` are the user-settable options (their defaults join
    ``defaults``, the keyword defaults of options no form shows)."""

    def deco(fn: AttributionFn) -> AttributionFn:
        merged = dict(defaults)
        for spec in options:
            if spec.name in merged and merged[spec.name] != spec.default:
                raise ValueError(f"{name}: option {spec.name} has two defaults, {merged[spec.name]!r} and "
                                 f"{spec.default!r}")
            merged[spec.name] = spec.default
        info = MethodInfo(name, display_name, needs_grad, fn, transformer_only, needs_explainer, needs_hooks,
                          merged, description, tuple(options))
        # a declared option the function does not take would only fail when a user sets it
        missing = [k for k in merged if k not in info.option_names]
        if missing:
            raise ValueError(f"{name}: {', '.join(missing)} is not a keyword option of {fn.__name__}")
        _REGISTRY[name] = info
        return fn

    return deco


def list_methods() -> list[MethodInfo]:
    """Every registered method, the learned explainer's first (it is the product's headline)."""
    return sorted(_REGISTRY.values(), key=lambda m: not m.needs_explainer)


def get_method(name: str) -> MethodInfo:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown attribution method '{name}'. Available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def unavailable_reason(info: MethodInfo, model: ModelAdapter, explainer: Any = None, *,
                       check_explainer: bool = True) -> str:
    """Why ``info`` cannot run on ``model`` (with ``explainer``), or "" when it can: the one check
    behind ``available_methods`` and the GUI's method list. ``check_explainer=False`` skips the
    explainer test for callers that check it themselves."""
    from .model_info import is_scripted, is_transformer

    if info.needs_grad and not model.supports_grad:
        return f"needs gradients, which {model.kind} models cannot give"
    if info.needs_hooks and is_scripted(model):
        return "reads inner layers through hooks, which TorchScript models do not allow"
    if info.transformer_only and not is_transformer(model):
        return "needs a vision transformer (it reads attention blocks)"
    if check_explainer and info.needs_explainer and explainer is None and fused_explainer_of(model) is None:
        return "needs a trained explainer for this model"
    return ""


def fused_explainer_of(model: ModelAdapter) -> Any:
    """The explainer inside a fused ONNX export (it explains itself), else None."""
    try:
        from ..onnx.explainer import fused_explainer
    except ImportError:  # the ONNX extras are optional
        return None
    return fused_explainer(model)


def available_methods(model: ModelAdapter, explainer: Any = None, *, check_explainer: bool = False) -> list[MethodInfo]:
    """Methods that can run on this model (gradients, hooks, attention blocks; with
    ``check_explainer``, a trained explainer for the methods that need one)."""
    return [m for m in list_methods()
            if not unavailable_reason(m, model, explainer, check_explainer=check_explainer)]


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
