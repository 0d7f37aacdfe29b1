"""Preprocessing: how a PIL image becomes the model's input tensor, and where that input lies on
the original image (so a map can be drawn back onto it)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

INTERPOLATIONS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
# crop: short side to input/crop_pct, centre crop. squash: stretch to the input.
# pad: letterbox, scaled down only if needed, centred on a canvas of raw zeros (black).
RESIZE_MODES = ("crop", "squash", "pad")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Placement:
    """How one original image maps onto the model's input.

    ``source`` is the box (left, top, right, bottom) of the original, in its own pixels, that the
    model sees; ``target`` is the box of the input, in input pixels, where that region lands
    (the whole input except for ``pad``); ``resized`` is the (width, height) the original is
    resized to before cropping or pasting.
    """

    image_size: tuple[int, int]  # (width, height) of the original
    input_size: tuple[int, int]  # (height, width) of the model input
    resized: tuple[int, int]
    source: tuple[float, float, float, float]
    target: tuple[int, int, int, int]

    @property
    def cropped(self) -> bool:
        """True when part of the original is cut away."""
        w, h = self.image_size
        return self.source != (0.0, 0.0, float(w), float(h))

    @property
    def padded(self) -> bool:
        h, w = self.input_size
        return self.target != (0, 0, w, h)

    def map_to_image(self, m: np.ndarray, fill: float = float("nan")) -> np.ndarray:
        """An (H,W) map at input resolution -> (height, width) of the original image, with
        ``fill`` where the model saw nothing of the original (cropped away)."""
        w, h = self.image_size
        tl, tt, tr, tb = self.target
        region = np.asarray(m, dtype=np.float32)[tt:tb, tl:tr]
        sl, st, sr, sb = self.source
        x0, y0 = int(math.floor(sl + 0.5)), int(math.floor(st + 0.5))
        x1, y1 = max(x0 + 1, int(math.floor(sr + 0.5))), max(y0 + 1, int(math.floor(sb + 0.5)))
        scaled = np.asarray(Image.fromarray(region, mode="F").resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR))
        out = np.full((h, w), fill, dtype=np.float32)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        out[cy0:cy1, cx0:cx1] = scaled[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        return out


def _three(values: Sequence[float]) -> tuple[float, float, float]:
    v = tuple(float(x) for x in values)
    return (v[0],) * 3 if len(v) == 1 else v[:3]  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocessing:
    """Resize (``crop``, ``squash`` or ``pad``) to ``input_size``, scale to [0,1], normalise."""

    input_size: tuple[int, int] = (224, 224)  # (height, width)
    resize: str = "crop"
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"
    grayscale: bool = False  # models trained on 1-channel images (e.g. Fashion-MNIST)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", (int(self.input_size[0]), int(self.input_size[1])))
        object.__setattr__(self, "mean", _three(self.mean))
        object.__setattr__(self, "std", _three(self.std))
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, not {self.resize!r}")

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def placement(self, image_size: tuple[int, int]) -> Placement:
        """Where an original of ``image_size`` (width, height) lands in the input."""
        iw, ih = image_size
        h, w = self.input_size
        if self.resize == "squash":
            return Placement((iw, ih), (h, w), (w, h), (0.0, 0.0, float(iw), float(ih)), (0, 0, w, h))
        if self.resize == "pad":
            s = min(1.0, w / iw, h / ih)
            nw, nh = min(w, max(1, round(iw * s))), min(h, max(1, round(ih * s)))
            ox, oy = (w - nw) // 2, (h - nh) // 2
            return Placement((iw, ih), (h, w), (nw, nh), (0.0, 0.0, float(iw), float(ih)),
                             (ox, oy, ox + nw, oy + nh))
        scale = max(h / ih, w / iw) / self.crop_pct
        nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
        left, top = (nw - w) // 2, (nh - h) // 2
        sx, sy = nw / iw, nh / ih
        return Placement((iw, ih), (h, w), (nw, nh), (left / sx, top / sy, (left + w) / sx, (top + h) / sy),
                         (0, 0, w, h))

    def geometry(self, img: Image.Image) -> Image.Image:
        """Resize and crop or pad only: the picture the map is aligned with."""
        pl = self.placement(img.size)
        interp = INTERPOLATIONS.get(self.interpolation, Image.Resampling.BICUBIC)
        resized = img if img.size == pl.resized else img.resize(pl.resized, interp)
        h, w = self.input_size
        if self.resize == "pad":
            canvas = Image.new(img.mode, (w, h), 0)
            canvas.paste(resized, pl.target[:2])
            return canvas
        if self.resize == "crop":
            left, top = (pl.resized[0] - w) // 2, (pl.resized[1] - h) // 2
            return resized.crop((left, top, left + w, top + h))
        return resized

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
        """Also reads files written before resize modes existed (``resize_short``)."""
        size = tuple(d.get("input_size", (224, 224)))
        resize, crop_pct = d.get("resize", "crop"), float(d.get("crop_pct", 0.875))
        if "resize_short" in d and "resize" not in d:
            short = d["resize_short"]
            resize = "squash" if short is None else "crop"
            crop_pct = 0.875 if short is None else min(size) / float(short)
        return cls(
            input_size=size,  # type: ignore[arg-type]
            resize=resize,
            crop_pct=crop_pct,
            mean=tuple(d.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
            std=tuple(d.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
            interpolation=d.get("interpolation", "bicubic"),
            grayscale=bool(d.get("grayscale", False)),
        )

    @classmethod
    def from_timm(cls, cfg: dict[str, Any]) -> "Preprocessing":
        """From a timm pretrained/data config (input_size, crop_pct, mean, std, interpolation)."""
        _, h, w = cfg.get("input_size", (3, 224, 224))
        mean = tuple(cfg.get("mean", IMAGENET_MEAN))
        return cls(
            input_size=(h, w),
            resize="crop",
            crop_pct=float(cfg.get("crop_pct", 0.875) or 1.0),
            mean=mean,  # type: ignore[arg-type]
            std=tuple(cfg.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
            interpolation=cfg.get("interpolation", "bicubic") or "bicubic",
            grayscale=len(mean) == 1,
        )
