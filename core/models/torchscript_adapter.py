"""TorchScript classifiers (a self-contained archive: no Python class needed, no pickle run)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import torch

from ..errors import ModelLoadError
from .adapter import ModelAdapter
from .card import ModelCard
from .class_names import default_class_names
from .preprocessing import Preprocessing
from .weights import file_fingerprint


class TorchScriptAdapter(ModelAdapter):
    kind = "torchscript"
    supports_grad = True

    def __init__(self, module: torch.jit.ScriptModule, path: Path, preprocessing: Preprocessing,
                 class_names: Sequence[str]) -> None:
        super().__init__(f"torchscript:{path.name}", preprocessing, class_names, file_fingerprint(path), str(path))
        self._module = module.eval()

    @property
    def module(self) -> torch.jit.ScriptModule:
        return self._module

    def to(self, device: str | torch.device) -> "TorchScriptAdapter":
        super().to(device)
        self._module.to(self.device)
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self._module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out


def load_torchscript(path: str | Path, preprocessing: Preprocessing | None = None,
                     class_names: Sequence[str] | None = None, card: ModelCard | None = None) -> TorchScriptAdapter:
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: TorchScript file not found. Check the path.")
    try:
        with warnings.catch_warnings():  # torch's TorchScript deprecation notice, on every load
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(p), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelLoadError(
            f"{p}: not a TorchScript archive ({str(exc).splitlines()[0][:160]}). "
            f"Export it with torch.jit.script(model).save(path) or torch.jit.trace."
        ) from None
    pre = preprocessing or Preprocessing()
    if card is not None:
        pre = card.preprocessing(pre)
    h, w = pre.input_size
    try:
        with torch.no_grad():
            out = module.eval()(torch.zeros(1, pre.channels, h, w))
        if isinstance(out, (tuple, list)):
            out = out[0]
    except Exception as exc:  # noqa: BLE001 - any failure of user code becomes one message
        raise ModelLoadError(
            f"{p}: the model fails on a {pre.channels}x{h}x{w} image ({str(exc).splitlines()[0][:160]}). "
            f"Give the input size it expects."
        ) from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ModelLoadError(f"{p}: output is not a (batch, classes) tensor. Give an image classifier.")
    n = int(out.shape[1])
    names = list(class_names) if class_names and len(class_names) == n else default_class_names(n)
    return TorchScriptAdapter(module, p, pre, names)
