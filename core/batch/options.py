"""What the user asked for, checked before any work: methods, their options, the identity
that the output folder will be tied to."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ..attribution.model_info import is_scripted
from ..attribution.registry import fused_explainer_of, get_method, unavailable_reason
from ..errors import ConfigError
from ..metrics.protocols import DEFAULT_PROTOCOL, get_protocol
from ..models.adapter import ModelAdapter
from ..versions import package_versions
from .state import FORMAT, VERSION


@dataclass
class ExportOptions:
    images_dir: Path
    out_dir: Path
    methods: Sequence[str] | None = None  # None: default_methods(model, explainer)
    protocol: str = DEFAULT_PROTOCOL
    recursive: bool = False
    shard: tuple[int, int] = (0, 1)  # (i, n): this process does images with index % n == i
    force: bool = False  # a folder made with another model/explainer/protocol is wiped, not refused
    curves_png: bool = False
    retry_errors: bool = False  # explain again images that failed, even if unchanged
    refine_steps: int | None = None  # l2r-refine
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. {"rise": {"n_masks": 500}}
    batch_limit: int = 32
    explainer_source: str | None = None  # where the explainer was loaded from, for the manifest
    max_pixels: int | None = None  # images claiming more are refused (None: l2r_core.images default)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_method_registry() -> None:
    """The built-ins register on import; the learned-explainer methods live in l2r_core.explainer."""
    importlib.import_module("l2r_core.attribution")
    try:
        importlib.import_module("l2r_core.explainer.methods")
    except ModuleNotFoundError as exc:
        if exc.name != "l2r_core.explainer.methods":
            raise


def default_methods(model: ModelAdapter, explainer: Any | None) -> list[str]:
    """l2r when an explainer is available, else Grad-CAM, else (no gradients: ONNX) RISE."""
    if explainer is not None or fused_explainer_of(model) is not None:
        return ["l2r"]
    if model.supports_grad and not is_scripted(model):
        return ["gradcam"]
    return ["rise"]


def resolve_methods(model: ModelAdapter, explainer: Any | None, options: ExportOptions) -> list[str]:
    load_method_registry()
    methods = list(options.methods) if options.methods else default_methods(model, explainer)
    if len(set(methods)) != len(methods):
        raise ConfigError(f"--methods {','.join(methods)}: a method is listed twice")
    for name in methods:
        info = get_method(name)  # unknown name: ConfigError listing the known ones
        if "." in name or "/" in name:
            raise ConfigError(f"method name '{name}' cannot be used in file names")
        if info.needs_explainer and explainer is None and fused_explainer_of(model) is None:
            raise ConfigError(f"method '{name}' needs a trained explainer: pass --explainer DIR "
                              f"(or train one with `l2r train`).")
        why = unavailable_reason(info, model, explainer, check_explainer=False)
        if why:
            raise ConfigError(f"method '{name}' cannot run on {model.name}: it {why}.")
    for name in options.method_options:
        if name not in methods:
            raise ConfigError(f"options given for method '{name}', which is not in --methods {','.join(methods)}")
    return methods


def call_options(name: str, explainer: Any | None, options: ExportOptions) -> dict[str, Any]:
    """Keyword options passed to the method (the explainer object included)."""
    opts: dict[str, Any] = dict(options.method_options.get(name, {}))
    if get_method(name).needs_explainer and explainer is not None:
        opts["explainer"] = explainer
    if name == "l2r-refine" and options.refine_steps is not None:
        opts["steps"] = int(options.refine_steps)
    return opts


def recorded_options(name: str, call: dict[str, Any]) -> dict[str, Any]:
    """The settings that change a method's result, as plain JSON (defaults filled in)."""
    merged = {**get_method(name).defaults, **call}
    return {k: v for k, v in sorted(merged.items()) if isinstance(v, (int, float, str, bool)) or v is None}


def explainer_identity(explainer: Any | None, source: str | None, model: ModelAdapter) -> dict[str, Any] | None:
    """Fingerprint, source and config of the explainer (torch, ONNX, or fused into the model)."""
    if explainer is None:
        explainer = fused_explainer_of(model)
        source = source or (f"fused into {model.source}" if explainer is not None else None)
    if explainer is None:
        return None
    from ..explainer import Explainer, explainer_fingerprint

    fingerprint = (explainer_fingerprint(explainer) if isinstance(explainer, Explainer)
                   else str(getattr(explainer, "fingerprint", "")))
    config = getattr(explainer, "config", None)
    return {"fingerprint": fingerprint, "source": source or str(getattr(explainer, "path", "") or "") or None,
            "config": config.to_dict() if hasattr(config, "to_dict") else None}


def build_identity(model: ModelAdapter, explainer: Any | None, options: ExportOptions,
                   methods: list[str]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model.describe(),
        "explainer": explainer_identity(explainer, options.explainer_source, model),
        "protocol": get_protocol(options.protocol).to_dict(),
        "methods": {m: recorded_options(m, call_options(m, explainer, options)) for m in methods},
        "images_dir": str(Path(options.images_dir).resolve()),
        "versions": package_versions(),
        "created": now_iso(),
    }
