"""timm architectures with local weights."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .adapter import ModelAdapter
from .class_names import default_class_names
from .preprocessing import Preprocessing
from .timm_arch import build_timm_model, check_architecture, infer_model_args
from .weights import load_state_dict, tensor_fingerprint

# Re-exported: callers (demo.py, tests) import these from here.
__all__ = ["TimmAdapter", "build_timm_model", "check_architecture", "infer_model_args", "load_timm"]


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
        self, x: torch.Tensor, indices: Sequence[int] | int = 4, *, head_input: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        final, inter = self._model.forward_intermediates(x, indices=indices)  # type: ignore[operator]
        return self._model.forward_head(final), list(inter) + ([final] if head_input else [])  # type: ignore[operator]

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(arch=self.arch, model_args=self.model_args)
        return d


def load_timm(arch: str, weights: str | Path, model_args: dict[str, Any] | None = None) -> TimmAdapter:
    """A timm architecture with a local weights file. Every architecture argument the weights
    determine is read off them; ``model_args`` (the user's) win over those. Preprocessing is
    timm's default for the architecture at the weights' input size (a model card adjusts it)."""
    wpath = Path(weights)
    check_architecture(arch, str(wpath))
    state = load_state_dict(wpath)
    inferred = infer_model_args(arch, state)
    given = dict(model_args or {})
    args = dict(inferred, **given)
    model = build_timm_model(arch, state, str(wpath), args, inferred=[k for k in inferred if k not in given])
    preprocessing = Preprocessing.from_timm(dict(model.pretrained_cfg, **_data_overrides(model, args)))
    names = default_class_names(int(getattr(model, "num_classes", 0) or 0))
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
