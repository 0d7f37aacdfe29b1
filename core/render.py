"""Heatmap overlays as PIL images, without Qt or matplotlib (CLI, export, reports)."""
from __future__ import annotations

import numpy as np
from PIL import Image

# Anchor colours of perceptually ordered maps; interpolated to 256 entries.
_ANCHORS = {
    "inferno": [(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66), (245, 125, 21),
                (250, 193, 39), (252, 255, 164)],
    "viridis": [(68, 1, 84), (70, 50, 126), (54, 92, 141), (39, 127, 142), (31, 161, 135), (74, 193, 109),
                (160, 218, 57), (253, 231, 37)],
    "jet": [(0, 0, 128), (0, 0, 255), (0, 128, 255), (0, 255, 255), (128, 255, 128), (255, 255, 0),
            (255, 128, 0), (255, 0, 0), (128, 0, 0)],
    "gray": [(0, 0, 0), (255, 255, 255)],
}
COLORMAPS = tuple(_ANCHORS)


def colormap_lut(name: str = "inferno") -> np.ndarray:
    """(256,3) uint8 lookup table."""
    anchors = np.array(_ANCHORS.get(name, _ANCHORS["inferno"]), dtype=np.float64)
    pos = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, pos, anchors[:, c]) for c in range(3)], 1).round().astype(np.uint8)


def normalize_map(m: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Scale a raw map to [0,1] by its own percentile range (robust to a few extreme pixels)."""
    m = np.nan_to_num(np.asarray(m, dtype=np.float64))
    lo, hi = np.percentile(m, [low_pct, high_pct])
    if hi <= lo:
        return np.zeros_like(m)
    return np.clip((m - lo) / (hi - lo), 0, 1)


def colorize(m: np.ndarray, cmap: str = "inferno") -> Image.Image:
    idx = (normalize_map(m) * 255).round().astype(np.uint8)
    return Image.fromarray(colormap_lut(cmap)[idx])


def overlay(image: Image.Image, m: np.ndarray, alpha: float = 0.5, cmap: str = "inferno") -> Image.Image:
    """Colour-mapped map blended over the (geometry-applied) image of the same size."""
    heat = colorize(m, cmap)
    if heat.size != image.size:
        heat = heat.resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(image.convert("RGB"), heat, alpha)
