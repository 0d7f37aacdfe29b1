"""Augmentation made for the photo corpus (l2r_training.photo_corpus): ``--augment photo``.

Pure functions of PIL images and a numpy Generator, so a seeded generator gives the same image
every time (resumed runs see identical batches):

- ``augment_photo``: a random resized crop at one of several scales (close-up, mid, whole frame),
  a flip and colour jitter;
- ``composite``: a cut-out (RGBA) pasted onto a scene at a random size and place, alpha-composited.
  It returns the mask of where the cut-out landed: outside it the scene is untouched.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance

# Crop area as a share of the image: a band is drawn first, then an area inside it, so close-ups
# are as common as whole frames (one uniform range would make most crops large).
CROP_SCALES = ((0.08, 0.25), (0.25, 0.6), (0.6, 1.0))
JITTER = 0.3  # brightness, contrast and saturation factors in [1 - JITTER, 1 + JITTER]
HUE = 0.04  # hue shift in turns, in [-HUE, HUE]
# A cut-out's long side as a share of the scene's short side.
CUTOUT_SIZE = (0.3, 0.9)


def crop_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a random crop: area from a random CROP_SCALES band, aspect
    ratio 3/4..4/3 (log-uniform); the largest centred square when no draw fits in 10 tries."""
    low, high = CROP_SCALES[int(rng.integers(len(CROP_SCALES)))]
    for _ in range(10):
        area = width * height * rng.uniform(low, high)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < cw <= width and 0 < ch <= height:
            left, top = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
            return left, top, left + cw, top + ch
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def jitter_colours(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Brightness, contrast, saturation and hue jitter of an RGB image (alpha, if any, kept)."""
    alpha = img.getchannel("A") if img.mode == "RGBA" else None
    out = img.convert("RGB")
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        out = enhance(out).enhance(float(rng.uniform(1 - JITTER, 1 + JITTER)))
    shift = int(round(rng.uniform(-HUE, HUE) * 256))
    if shift:
        hsv = np.asarray(out.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        out = Image.fromarray(hsv, "HSV").convert("RGB")
    if alpha is not None:
        out.putalpha(alpha)
    return out


def augment_photo(img: Image.Image, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A random resized crop (CROP_SCALES) of ``img`` at ``size`` (height, width), flipped half the
    time, colour-jittered. RGB out (RGBA in: RGBA out, for cut-outs)."""
    h, w = size
    box = crop_box(img.width, img.height, rng)
    out = img.resize((w, h), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return jitter_colours(out, rng)


def composite(scene: Image.Image, cutout: Image.Image, rng: np.random.Generator
              ) -> tuple[Image.Image, np.ndarray]:
    """(``scene`` with ``cutout`` pasted on it, RGB; the pasted alpha (H, W) uint8).

    The cut-out is flipped half the time, colour-jittered on its own (its light rarely matches
    the scene's), scaled so its long side is CUTOUT_SIZE of the scene's short side, and placed
    wholly inside the scene at a random position. Where the mask is 0 the scene is unchanged."""
    cut = cutout.convert("RGBA")
    if rng.random() < 0.5:
        cut = cut.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    cut = jitter_colours(cut, rng)
    long_side = rng.uniform(*CUTOUT_SIZE) * min(scene.size)
    scale = long_side / max(cut.size)
    cw = max(1, min(scene.width, round(cut.width * scale)))
    ch = max(1, min(scene.height, round(cut.height * scale)))
    cut = cut.resize((cw, ch), Image.Resampling.BILINEAR)  # Pillow resizes RGBA premultiplied
    x = int(rng.integers(0, scene.width - cw + 1))
    y = int(rng.integers(0, scene.height - ch + 1))
    layer = Image.new("RGBA", scene.size, (0, 0, 0, 0))
    layer.paste(cut, (x, y))
    out = Image.alpha_composite(scene.convert("RGBA"), layer).convert("RGB")
    return out, np.asarray(layer.getchannel("A"))
