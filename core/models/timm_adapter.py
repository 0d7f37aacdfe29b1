"""timm architectures with local weights."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import ModelLoadError
from .adapter import ModelAdapter
from .class_names import default_class_names
from .preprocessing import Preprocessing
from .weights import load_state_dict, tensor_fingerprint


class TimmAdapter(ModelAdapter):
    kind = "timm"
    supports_grad = True

    def __init__(
        self,
        model: nn.Module,
        arch: str,
        preprocessing: Preprocessing,
        class_names: Sequence[str],
        fingerprint: str,
        source: str = "",
        model_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"timm:{arch}", preprocessing, class_names, fingerprint, source)
        self.arch = arch
        self.model_args = dict(model_args or {})
        self._model = model.eval()
        for p in self._model.parameters():
            p.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        return self._model

    def to(self, device: str | torch.device) -> "TimmAdapter":
        super().to(device)
        self._model.to(self.device)
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._model(x)

    @property
    def supports_features(self) -> bool:
        return hasattr(self._model, "forward_intermediates")

    def logits_and_features(
        self, x: torch.Tensor, indices: Sequence[int] | int = 4
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        final, inter = self._model.forward_intermediates(x, indices=indices)  # type: ignore[operator]
        return self._model.forward_head(final), list(inter)  # type: ignore[operator]

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(arch=self.arch, model_args=self.model_args)
        return d


def _classifier_key(model: nn.Module) -> str | None:
    name = getattr(model, "pretrained_cfg", {}).get("classifier")
    if isinstance(name, (list, tuple)):
        name = name[0]
    return f"{name}.weight" if name else None


def infer_model_args(arch: str, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """num_classes, in_chans and (for ViTs) img_size/patch_size read off the weights' shapes."""
    import timm

    probe = timm.create_model(arch, pretrained=False, num_classes=10)
    args: dict[str, Any] = {}
    key = _classifier_key(probe)
    if key and key in state and state[key].ndim >= 1:
        args["num_classes"] = int(state[key].shape[0])
    first = getattr(probe, "pretrained_cfg", {}).get("first_conv")
    if isinstance(first, str) and f"{first}.weight" in state and state[f"{first}.weight"].ndim == 4:
        args["in_chans"] = int(state[f"{first}.weight"].shape[1])
    if hasattr(probe, "patch_embed") and "patch_embed.proj.weight" in state and "pos_embed" in state:
        patch = int(state["patch_embed.proj.weight"].shape[-1])
        prefix = int(getattr(probe, "num_prefix_tokens", 1))
        if getattr(probe, "no_embed_class", False):
            prefix = 0
        tokens = int(state["pos_embed"].shape[1]) - prefix
        grid = int(math.isqrt(max(tokens, 0)))
        if grid * grid == tokens and grid > 0:
            args["patch_size"] = patch
            args["img_size"] = grid * patch
    return args


def _read_sidecar(weights: Path) -> dict[str, Any]:
    """timm/HF-style config.json next to the weights, or <weights>.json."""
    for cand in (weights.with_suffix(".json"), weights.parent / "config.json"):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ModelLoadError(f"{cand}: invalid JSON ({exc}). Fix or remove the file.") from None
            return data if isinstance(data, dict) else {}
    return {}


def check_architecture(arch: str, source: str) -> None:
    import timm

    if not timm.is_model(arch):
        close = [m for m in timm.list_models() if arch.split("_")[0] in m][:5]
        hint = f" Similar names: {', '.join(close)}." if close else ""
        raise ModelLoadError(f"{source}: unknown timm architecture '{arch}'.{hint} Check the name with timm.list_models().")


def build_timm_model(arch: str, state: dict[str, torch.Tensor], source: str, args: dict[str, Any]) -> nn.Module:
    import timm

    check_architecture(arch, source)
    try:
        model = timm.create_model(arch, pretrained=False, **args)
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise ModelLoadError(
            f"{source}: these weights do not match timm architecture '{arch}' (building it with "
            f"{args} failed: {str(exc).splitlines()[0][:120]}). Pick the architecture the weights were trained with."
        ) from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape differs: " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:3]))
        if missing:
            parts.append("missing: " + ", ".join(missing[:5]))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:5]))
        raise ModelLoadError(
            f"{source}: these weights do not match timm architecture '{arch}' ({'; '.join(parts)}). "
            f"Pick the architecture the weights were trained with."
        )
    model.load_state_dict(state)
    return model


def load_timm(
    arch: str,
    weights: str | Path,
    preprocessing: Preprocessing | None = None,
    class_names: Sequence[str] | None = None,
    model_args: dict[str, Any] | None = None,
) -> TimmAdapter:
    """A timm architecture with a local weights file; classes and sizes come from the weights."""
    wpath = Path(weights)
    check_architecture(arch, str(wpath))
    state = load_state_dict(wpath)
    sidecar = _read_sidecar(wpath)
    args = infer_model_args(arch, state)
    args.update(sidecar.get("model_args", {}))
    args.update(model_args or {})
    model = build_timm_model(arch, state, str(wpath), args)
    if preprocessing is None:
        if "preprocessing" in sidecar:
            preprocessing = Preprocessing.from_dict(sidecar["preprocessing"])
        else:
            preprocessing = Preprocessing.from_timm(dict(model.pretrained_cfg, **_data_overrides(model, args)))
    names = list(class_names or sidecar.get("label_names") or sidecar.get("class_names") or [])
    n = int(getattr(model, "num_classes", len(names)) or len(names))
    if len(names) != n:
        names = default_class_names(n)
    return TimmAdapter(model, arch, preprocessing, names, tensor_fingerprint(state), str(wpath), args)


def _data_overrides(model: nn.Module, args: dict[str, Any]) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if "img_size" in args:
        s = args["img_size"]
        over["input_size"] = (args.get("in_chans", 3), s, s)
        over["crop_pct"] = 1.0
    if args.get("in_chans") == 1:
        cfg = getattr(model, "pretrained_cfg", {})
        over["mean"] = (float(sum(cfg.get("mean", (0.5,))) / len(cfg.get("mean", (0.5,)))),)
        over["std"] = (float(sum(cfg.get("std", (0.5,))) / len(cfg.get("std", (0.5,)))),)
    return over
