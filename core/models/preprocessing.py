"""Preprocessing: how a PIL image becomes the model's input tensor, and back for display."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

_INTERP = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Preprocessing:
    """Resize the short side, centre-crop to ``input_size``, scale to [0,1], normalise.

    ``resize_short=None`` squashes the whole image to ``input_size`` instead (no crop).
    """

    input_size: tuple[int, int] = (224, 224)  # (height, width)
    resize_short: int | None = 256
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"
    grayscale: bool = False  # models trained on 1-channel images (e.g. Fashion-MNIST)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def geometry(self, img: Image.Image) -> Image.Image:
        """Resize and crop only: the picture the map is aligned with."""
        h, w = self.input_size
        interp = _INTERP.get(self.interpolation, Image.Resampling.BICUBIC)
        if self.resize_short is None:
            return img.resize((w, h), interp)
        iw, ih = img.size
        scale = self.resize_short / min(iw, ih)
        nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
        img = img.resize((nw, nh), interp)
        left, top = (nw - w) // 2, (nh - h) // 2
        return img.crop((left, top, left + w, top + h))

    def to_tensor(self, img: Image.Image) -> torch.Tensor:
        """A geometry-applied RGB image -> normalised (C,H,W) float tensor."""
        arr = np.asarray(img.convert("L" if self.grayscale else "RGB"), dtype=np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[:, :, None]
        x = torch.from_numpy(arr.copy()).permute(2, 0, 1)
        c = self.channels
        mean = torch.tensor(self.mean[:c]).view(c, 1, 1)
        std = torch.tensor(self.std[:c]).view(c, 1, 1)
        return (x - mean) / std

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return self.to_tensor(self.geometry(img))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised (...,C,H,W) -> [0,1] values, for display."""
        c = x.shape[-3]
        mean = torch.tensor(self.mean[:c], device=x.device, dtype=x.dtype).view(c, 1, 1)
        std = torch.tensor(self.std[:c], device=x.device, dtype=x.dtype).view(c, 1, 1)
        return (x * std + mean).clamp(0, 1)

    def mean_reference(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The constant dataset-mean image in normalised space is all zeros."""
        h, w = self.input_size
        return torch.zeros(self.channels, h, w, dtype=dtype)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra", None)
        d["input_size"] = list(self.input_size)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(
            input_size=tuple(d.get("input_size", (224, 224))),  # type: ignore[arg-type]
            resize_short=d.get("resize_short", 256),
            mean=tuple(d.get("mean", (0.485, 0.456, 0.406))),  # type: ignore[arg-type]
            std=tuple(d.get("std", (0.229, 0.224, 0.225))),  # type: ignore[arg-type]
            interpolation=d.get("interpolation", "bicubic"),
            grayscale=bool(d.get("grayscale", False)),
        )

    @classmethod
    def from_timm(cls, cfg: dict[str, Any]) -> "Preprocessing":
        """From a timm pretrained/data config (input_size, crop_pct, mean, std, interpolation)."""
        _, h, w = cfg.get("input_size", (3, 224, 224))
        crop_pct = cfg.get("crop_pct", 0.875) or 1.0
        mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
        std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))
        gray = len(mean) == 1
        if gray:
            mean, std = mean * 3, std * 3
        return cls(
            input_size=(h, w),
            resize_short=int(round(min(h, w) / crop_pct)),
            mean=mean,  # type: ignore[arg-type]
            std=std,  # type: ignore[arg-type]
            interpolation=cfg.get("interpolation", "bicubic") or "bicubic",
            grayscale=gray,
        )
