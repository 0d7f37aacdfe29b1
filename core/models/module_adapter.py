"""Any image-classifier ``nn.Module`` as a model: ``l2r_core.wrap(module, input_size=..., ...)``."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..errors import ConfigError, ModelLoadError
from .adapter import ModelAdapter
from .class_names import default_class_names
from .loading import card_from_options
from .preprocessing import Preprocessing
from .weights import tensor_fingerprint


class ModuleAdapter(ModelAdapter):
    """A user's module as it is: no registry entry, no weights file. ``layer`` names the module
    whose output Grad-CAM reads, when the last spatial feature map is not the right one."""

    kind = "module"
    supports_grad = True

    def __init__(self, module: nn.Module, preprocessing: Preprocessing, class_names: Sequence[str],
                 fingerprint: str, layer: str | None = None) -> None:
        super().__init__(type(module).__name__, preprocessing, class_names, fingerprint, "python module")
        self._module = module.eval()
        self.cam_layer = layer

    @property
    def module(self) -> nn.Module:
        return self._module

    def to(self, device: str | torch.device) -> "ModuleAdapter":
        super().to(device)
        self._module.to(self.device)
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self._module(x)
        if isinstance(out, (tuple, list)):  # e.g. (logits, aux)
            out = out[0]
        return out


def input_channels(module: nn.Module) -> int | None:
    """Channels of the first convolution or patch embedding: what the module expects as input."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Conv3d)):
            return int(m.in_channels)
    return None


def wrap(module: nn.Module, *, input_size: int | tuple[int, int] | str, mean: float | Sequence[float],
         std: float | Sequence[float], resize: str = "crop", crop_pct: float = 0.875,
         interpolation: str = "bicubic", class_names: Sequence[str] | str | None = None,
         layer: str | None = None, channels: int | None = None, device: str | torch.device | None = None,
         **unknown: Any) -> ModuleAdapter:
    """A model from any image classifier ``module`` taking (B,C,H,W) and returning (B, classes).

    ``layer`` names the module Grad-CAM reads (default: the last spatial feature map before
    global pooling). ``channels`` is read from the first convolution when not given."""
    if unknown:
        valid = ("input_size", "mean", "std", "resize", "crop_pct", "interpolation", "class_names", "layer",
                 "channels", "device")
        raise ConfigError(f"wrap(): unknown option '{next(iter(unknown))}'. Valid options: {', '.join(valid)}.")
    if not isinstance(module, nn.Module):
        raise ModelLoadError(f"wrap() takes a torch.nn.Module, not {type(module).__name__}.")
    card = card_from_options(dict(input_size=input_size, mean=mean, std=std, resize=resize, crop_pct=crop_pct,
                                  interpolation=interpolation, channels=channels), "wrap()")
    c = card.channels or input_channels(module) or 3
    base = Preprocessing(grayscale=c == 1)
    pre = card.preprocessing(base)
    dev = torch.device(device) if device is not None else next(
        (p.device for p in module.parameters()), torch.device("cpu"))
    h, w = pre.input_size
    try:
        with torch.no_grad():
            out = module.eval().to(dev)(torch.zeros(1, pre.channels, h, w, device=dev))
        if isinstance(out, (tuple, list)):
            out = out[0]
    except Exception as exc:  # noqa: BLE001 - any failure of user code becomes one message
        raise ModelLoadError(f"wrap(): the module fails on a {pre.channels}x{h}x{w} input "
                             f"({str(exc).splitlines()[0][:160]}). Pass the input_size and channels it expects.") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ModelLoadError("wrap(): the module's output is not a (batch, classes) tensor. Give an image classifier.")
    state: dict[str, Any] = {k: v for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}
    adapter = ModuleAdapter(module, pre, default_class_names(int(out.shape[1])), tensor_fingerprint(state), layer)
    if class_names is not None:
        adapter.set_class_names(card_from_options({"class_names": class_names}, "wrap()").class_names, "wrap()")
    return adapter.to(dev)
