"""Reading user images safely: any mode Pillow knows, EXIF orientation, bombs and giants."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Larger images are downscaled on load: the models see 224-ish pixels, and a 50 MP photo
# decoded at full size costs 150 MB per copy.
MAX_SIDE = 4096
# Pillow's own bomb limit (about 179 MP by default) is kept; above it images are refused.


def is_image_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Image files in a folder, sorted by path so that every run sees the same order."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageLoadError(f"{root}: not a folder. Give a folder of images.")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and is_image_file(p))


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        scale = 255.0 / (65535.0 if hi > 255 else max(hi, 1.0))
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        img = Image.fromarray((arr * 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        # Composite transparency over white, as viewers display it.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def load_image(path: str | os.PathLike[str], max_side: int = MAX_SIDE) -> Image.Image:
    """Open an image as upright RGB, or raise ImageLoadError naming the file and the fix."""
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(f"{p}: file not found. Check the path.")
    if p.is_dir():
        raise ImageLoadError(f"{p}: is a folder, not an image. Open it as a folder instead.")
    if p.stat().st_size == 0:
        raise ImageLoadError(f"{p}: the file is empty (0 bytes). Replace it with a valid image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                img.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size
                img = ImageOps.exif_transpose(img)
                if max(img.size) > max_side:
                    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                    warnings.warn(f"{p}: large image downscaled to at most {max_side} px per side")
                return _to_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(
            f"{p}: refused, the image has more pixels than Pillow's safety limit "
            f"(possible decompression bomb). Resize it with another tool if it is genuine."
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{p}: not an image Pillow can read. Convert it to PNG or JPEG.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{p}: the image is damaged or truncated ({exc}). Re-export or replace it.") from None
