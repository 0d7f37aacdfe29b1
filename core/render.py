"""Heatmaps for people: the one display normalisation, the one list of colour maps, and overlays
as PIL images (the desktop app, the CLI, the batch export and reports all draw with these)."""
from __future__ import annotations

import numpy as np
from PIL import Image

# 17 evenly spaced samples of each perceptual map (matplotlib's, CC0; turbo: Google, Apache-2.0),
# interpolated to 256 entries.
_ANCHORS = {
    "inferno": [(0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110), (138, 34, 106),
                (163, 44, 97), (188, 55, 84), (208, 69, 69), (227, 89, 51), (241, 113, 31), (249, 140, 10),
                (252, 170, 15), (249, 201, 50), (242, 232, 101), (252, 255, 164)],
    "viridis": [(68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139), (51, 99, 141), (44, 114, 142),
                (38, 130, 142), (33, 145, 140), (31, 159, 136), (39, 173, 129), (61, 188, 116), (92, 200, 99),
                (129, 211, 77), (170, 220, 50), (213, 226, 26), (253, 231, 37)],
    "magma": [(0, 0, 4), (10, 8, 34), (29, 17, 71), (54, 16, 107), (81, 18, 124), (106, 28, 129), (131, 38, 129),
              (156, 46, 127), (183, 55, 121), (207, 64, 112), (229, 80, 100), (244, 105, 92), (251, 135, 97),
              (254, 165, 113), (254, 194, 135), (253, 224, 161), (252, 253, 191)],
    "plasma": [(13, 8, 135), (49, 5, 151), (76, 2, 161), (102, 0, 167), (126, 3, 168), (149, 17, 161), (170, 35, 149),
               (188, 53, 135), (204, 71, 120), (217, 88, 106), (229, 107, 93), (240, 127, 79), (248, 148, 65),
               (253, 171, 51), (253, 195, 40), (249, 221, 37), (240, 249, 33)],
    "turbo": [(48, 18, 59), (64, 64, 162), (70, 107, 227), (66, 148, 255), (40, 188, 235), (24, 221, 194),
              (50, 242, 152), (109, 254, 98), (164, 252, 60), (203, 237, 52), (236, 209, 58), (253, 174, 53),
              (251, 129, 34), (236, 83, 15), (210, 49, 5), (172, 23, 1), (122, 4, 3)],
    "cividis": [(0, 32, 77), (0, 44, 105), (6, 54, 110), (45, 66, 108), (65, 77, 107), (82, 89, 108), (97, 100, 111),
                (111, 112, 115), (125, 124, 120), (139, 135, 121), (155, 148, 119), (172, 161, 116), (188, 175, 111),
                (206, 188, 104), (224, 203, 94), (242, 218, 80), (255, 234, 70)],
    "gray": [(0, 0, 0), (255, 255, 255)],
    "jet": [(0, 0, 128), (0, 0, 255), (0, 128, 255), (0, 255, 255), (128, 255, 128), (255, 255, 0),
            (255, 128, 0), (255, 0, 0), (128, 0, 0)],
}
COLORMAPS = tuple(_ANCHORS)

# Each map is scaled between its own 1st and 99th percentiles, so maps of any method share a scale.
LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.0
NORMALISATION_LABEL = (f"Colour scale shared by all maps: each map is scaled to [0, 1] between its own "
                       f"{LOW_PERCENTILE:g}st and {HIGH_PERCENTILE:g}th percentiles (values outside are clipped).")


def colormap_lut(name: str = "inferno") -> np.ndarray:
    """(256,3) uint8 lookup table."""
    anchors = np.array(_ANCHORS.get(name, _ANCHORS["inferno"]), dtype=np.float64)
    pos = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, pos, anchors[:, c]) for c in range(3)], 1).round().astype(np.uint8)


def normalize_map(raw: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE) -> np.ndarray:
    """Scale a map to [0, 1] by its own percentile range. Non-finite pixels are ignored (and come
    out as 0); a map flat at those percentiles (one bright pixel) falls back to its min-max range."""
    m = np.asarray(raw, dtype=np.float32)
    finite = m[np.isfinite(m)]
    if finite.size == 0:
        return np.zeros(m.shape, dtype=np.float32)
    lo, hi = np.percentile(finite, [low, high])
    if not hi > lo:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        return np.zeros(m.shape, dtype=np.float32)
    out = (np.nan_to_num(m, nan=lo, posinf=hi, neginf=lo) - lo) / (hi - lo)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# -- display modes: which sign of a map is shown (signed maps such as IG's) ----------------------
# key -> label. "raw" shows the values as the method gives them (highest = ranked first by the
# deletion/insertion curves), so it is the default and what every method showed before the modes.
DISPLAY_MODES: dict[str, str] = {
    "raw": "As computed",
    "absolute": "Absolute |map|",
    "positive": "Positive only",
    "negative": "Negative only",
    "signed": "Signed (blue - / red +)",
}
DEFAULT_DISPLAY_MODE = "raw"
SIGNED_PERCENTILE = 99.0
SIGNED_LABEL = (f"Signed colour scale shared by all maps: each map is divided by its own {SIGNED_PERCENTILE:g}th "
                f"percentile of |map| (clipped to -1..+1); white is 0, blue negative, red positive.")
DIVERGING = "blue-white-red"
# ColorBrewer RdBu (Apache-2.0), reversed: negative blue, zero the neutral near-white, positive red.
_DIVERGING_ANCHORS = [(5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
                      (247, 247, 247), (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31)]

def diverging_anchors() -> tuple[np.ndarray, np.ndarray]:
    """(positions in [0,1], (N,3) uint8 colours) of the diverging map; the neutral colour sits at 0.5."""
    colours = np.array(_DIVERGING_ANCHORS, dtype=np.uint8)
    return np.linspace(0.0, 1.0, len(colours)), colours


def diverging_lut() -> np.ndarray:
    """(256,3) uint8 blue-white-red lookup table (same shape as ``colormap_lut``)."""
    pos, colours = diverging_anchors()
    t = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(t, pos, colours[:, c].astype(np.float64)) for c in range(3)], 1).round().astype(np.uint8)


def signed_normalize(raw: np.ndarray, percentile: float = SIGNED_PERCENTILE) -> np.ndarray:
    """The one signed display normalisation: divide by the ``percentile`` of |map| (zero stays zero),
    clip to [-1, 1], then map to [0, 1] for the lookup table, so 0 -> 0.5, the neutral middle colour.
    A map whose percentile is 0 (a few non-zero pixels) falls back to max |map|; non-finite pixels are 0."""
    m = np.nan_to_num(np.asarray(raw, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    mag = np.abs(m)
    scale = float(np.percentile(mag, percentile)) if mag.size else 0.0
    if not scale > 0.0:
        scale = float(mag.max()) if mag.size else 0.0
    if not scale > 0.0:
        return np.full(m.shape, 0.5, dtype=np.float32)
    return ((np.clip(m / scale, -1.0, 1.0) + 1.0) * 0.5).astype(np.float32)


def display_map(raw: np.ndarray, mode: str, shown: np.ndarray | None = None) -> np.ndarray:
    """What the overlay shows for ``mode``, in [0, 1]. ``shown`` is the cached ``normalize_map(raw)``."""
    if mode == "signed":
        return signed_normalize(raw)
    if mode == "raw":
        return shown if shown is not None else normalize_map(raw)
    m = np.asarray(raw, dtype=np.float32)
    part = {"absolute": np.abs(m), "positive": np.maximum(m, 0.0), "negative": np.maximum(-m, 0.0)}.get(mode)
    if part is None:
        raise ValueError(f"unknown display mode '{mode}'")
    # non-finite pixels stay non-finite, so normalize_map ignores them as it does for raw maps
    part = np.where(np.isfinite(m), part, np.nan).astype(np.float32)
    return normalize_map(part)



def colorize(m: np.ndarray, cmap: str = "inferno") -> Image.Image:
    idx = (normalize_map(m) * 255).round().astype(np.uint8)
    return Image.fromarray(colormap_lut(cmap)[idx])


def overlay(image: Image.Image, m: np.ndarray, alpha: float = 0.5, cmap: str = "inferno") -> Image.Image:
    """Colour-mapped map blended over the (geometry-applied) image of the same size. Where the map
    is NaN (parts of an original the model never saw) the image shows unblended."""
    m = np.asarray(m, dtype=np.float32)
    heat = colorize(m, cmap)
    if heat.size != image.size:
        heat = heat.resize(image.size, Image.Resampling.BILINEAR)
    blended = Image.blend(image.convert("RGB"), heat, alpha)
    unseen = ~np.isfinite(m)
    if unseen.any():
        mask = Image.fromarray((unseen * 255).astype(np.uint8)).resize(image.size, Image.Resampling.NEAREST)
        blended.paste(image.convert("RGB"), mask=mask)
    return blended
