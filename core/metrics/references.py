"""Reference images that deletion/insertion blend towards: black, dataset mean, blur."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.preprocessing import Preprocessing

REFERENCE_KINDS = ("black", "mean", "blur")


def gaussian_kernel1d(size: int, sigma: float, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, size: int, sigma: float, padding: str = "reflect") -> torch.Tensor:
    """Separable Gaussian blur of a (B,C,H,W) batch, same size out. Reflect padding falls back
    to replicate where the image is smaller than the kernel."""
    if size <= 1 or sigma <= 0:
        return x
    b, c, h, w = x.shape
    k = gaussian_kernel1d(size, sigma, x.device, x.dtype)
    pad = size // 2
    mode = padding if (padding != "reflect" or (pad < h and pad < w)) else "replicate"
    y = F.pad(x.reshape(b * c, 1, h, w), (pad, size - 1 - pad, pad, size - 1 - pad), mode=mode)
    y = F.conv2d(y, k.view(1, 1, 1, size))
    y = F.conv2d(y, k.view(1, 1, size, 1))
    return y.reshape(b, c, h, w)


def make_reference(kind: str, x: torch.Tensor, preprocessing: Preprocessing,
                   blur_size: int = 37, blur_sigma: float = 37.0) -> torch.Tensor:
    """Reference batch for normalised images ``x`` (B,C,H,W), in the same normalised space."""
    if kind == "mean":  # the dataset-mean colour is zero after normalisation
        return torch.zeros_like(x)
    if kind == "black":
        c = x.shape[1]
        mean = torch.tensor(preprocessing.mean[:c], device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        std = torch.tensor(preprocessing.std[:c], device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        return ((0 - mean) / std).expand_as(x).clone()
    if kind == "blur":
        return gaussian_blur(x, blur_size, blur_sigma)
    raise ValueError(f"unknown reference '{kind}': choose one of {REFERENCE_KINDS}")
