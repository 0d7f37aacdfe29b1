"""Reading user images safely: any mode Pillow knows, EXIF orientation, bombs and giants.

Two limits, both arguments of ``load_image`` (one place for every entry point):

* ``max_side`` (``MAX_SIDE``, 4096 px): larger images are downscaled *while* they are decoded.
  PNG (8-bit, not interlaced) and uncompressed BMP/PPM/TIFF are decoded a strip of rows at a
  time, each strip box-reduced and resampled at once, so memory stays near the size of the
  result (about 70 MB) however large the file; JPEG decodes at 1/2, 1/4 or 1/8 scale (``draft``).
  Other formats are decoded whole, then reduced (memory about 4 bytes per pixel).
* ``max_pixels`` (``MAX_PIXELS``, 300 MP by default; the process-wide default is changed with
  ``set_max_pixels``): a file whose header claims more pixels is refused before any pixel is
  decoded (a decompression bomb claims billions of pixels in a few kB). 300 MP sits above every
  single-shot camera (200 MP phone sensors, 150 MP medium format, 240 MP pixel-shift composites)
  and keeps the formats decoded whole under about 1.2 GB. Stitched panoramas and scans above it
  load once the limit is raised: ``--max-pixels`` on ``l2r`` and ``l2r-desktop``, or the desktop
  setting ``images/max_pixels``.
"""
from __future__ import annotations

import math
import os
import re
import threading
import warnings
import zlib
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Larger images are downscaled on load: the models see 224-ish pixels, and a 50 MP photo
# decoded at full size costs 150 MB per copy.
MAX_SIDE = 4096
MAX_PIXELS = 300_000_000
# Where the user raises the limit; named in every refusal, whichever entry point refused.
LIMIT_FLAG = "--max-pixels"
LIMIT_SETTING = "images/max_pixels"

REDUCING_GAP = 2.0  # as Image.thumbnail: box-reduce first while the result stays >= 2x the target
STRIP_BYTES = 2 << 20  # decoded rows handled at a time when streaming: bounds the peak memory
_LANCZOS_SUPPORT = 3.0

_default_max_pixels = MAX_PIXELS
# The bomb guard is load_image's header check against max_pixels. Pillow's own is a module global
# (89 MP, below our default) that Pillow re-reads in crop() and other calls: changing it per call
# raced with those calls in loader threads (`2 * None` inside Pillow), so it is set once, here.
Image.MAX_IMAGE_PIXELS = None
# One large decode at a time keeps two giants from doubling the peak memory.
_large_decode_lock = threading.Lock()


def is_image_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Image files in a folder, sorted by path so that every run sees the same order."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageLoadError(f"{root}: not a folder. Give a folder of images.")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and is_image_file(p))


# -- the pixel limit ---------------------------------------------------------------------------
_COUNT = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e\d+)?)\s*([kmg]?)(?:p|px|pixels?)?\s*$", re.IGNORECASE)
_WXH = re.compile(r"^\s*(\d+)\s*[x*]\s*(\d+)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_pixel_count(text: str | int | float) -> int:
    """A pixel count as users write it: ``300000000``, ``200M``, ``1.5G``, ``1e9``, ``200MP``,
    ``12000x12000``. Raises ValueError with the accepted forms."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text)
        wxh, count = _WXH.match(s), _COUNT.match(s)
        if wxh:
            value = float(int(wxh.group(1)) * int(wxh.group(2)))
        elif count:
            value = float(count.group(1)) * _SCALE[count.group(2).lower()]
        else:
            raise ValueError(f"'{text}' is not a pixel count: write e.g. 300M, 1.5G, 1e9 or 12000x12000")
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"'{text}' is not a pixel count: give a positive number such as 300M")
    return int(value)


def format_pixels(n: int) -> str:
    """``300 MP``, ``144 MP``, ``1.5 MP``, ``50000 pixels``."""
    if n < 1_000_000:
        return f"{n} pixels"
    mp = n / 1e6
    return f"{round(mp) if mp >= 10 else round(mp, 1):g} MP"


def get_max_pixels() -> int:
    """The limit ``load_image`` uses when it is given none."""
    return _default_max_pixels


def set_max_pixels(limit: int | str | None) -> int:
    """Set the process-wide default limit (``None``: back to ``MAX_PIXELS``); returns the old one.
    The desktop app sets it from its setting, the CLI from ``--max-pixels``."""
    global _default_max_pixels
    old = _default_max_pixels
    _default_max_pixels = MAX_PIXELS if limit is None else parse_pixel_count(limit)
    return old


def refusal_message(path: Path, size: tuple[int, int], limit: int) -> str:
    """The one refusal sentence every entry point shows: the file, the limit, how to raise it."""
    w, h = size
    need = f"{math.ceil(w * h / 1e6)}M"
    return (f"{path}: refused, its header claims {w}x{h} pixels ({format_pixels(w * h)}), over the limit of "
            f"{format_pixels(limit)} per image (a possible decompression bomb). If the image is genuine, raise "
            f"the limit: {LIMIT_FLAG} {need} (l2r, l2r-desktop) or the desktop setting {LIMIT_SETTING}.")


# -- colour ------------------------------------------------------------------------------------
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


# Modes whose conversion to RGB is per pixel: a strip converts exactly as the whole image would
# (16-bit grey and float are scaled by the whole image's range, so they are decoded whole).
_STRIP_MODES = ("1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "YCbCr")


# -- sizes -------------------------------------------------------------------------------------
def fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int] | None:
    """The size ``Image.thumbnail((max_side, max_side))`` gives, or None when it already fits."""
    w, h = size
    if w <= max_side and h <= max_side:
        return None
    aspect = w / h
    x = y = max_side
    if x / y >= aspect:
        x = max(min(math.floor(y * aspect), math.ceil(y * aspect), key=lambda n: abs(aspect - n / y)), 1)
    else:
        y = max(min(math.floor(x / aspect), math.ceil(x / aspect),
                    key=lambda n: 0 if n == 0 else abs(aspect - x / n)), 1)
    return x, y


# -- streaming decoders: full-width RGB row blocks, top to bottom -----------------------------
_PNG_BITS = {"1": 1, "L;2": 2, "L;4": 4, "L": 8, "P;1": 1, "P;2": 2, "P;4": 4, "P": 8,
             "LA": 16, "RGB": 24, "RGBA": 32}
# Pillow's zip decoder undoes the PNG filters; it needs a raw mode with the file's bytes per pixel.
# 8-bit files decode straight into their own mode; below 8 bits the rows are decoded as grey bytes
# (one byte per "pixel", as the filters see them) and unpacked afterwards.
_PNG_DIRECT = ("L", "P", "LA", "RGB", "RGBA")


def _keep_palette(strip: Image.Image, palette: Any, transparency: Any) -> None:
    """A strip cut from a palette or transparent image converts to RGB as the whole image would."""
    if palette is not None:
        strip.palette = palette.copy()
    if transparency is not None:
        strip.info["transparency"] = transparency


def _idat_data(fp: IO[bytes], offset: int) -> Iterator[bytes]:
    """The compressed image data of a PNG, chunk by chunk (1 MB pieces), from the first IDAT."""
    fp.seek(offset - 8)
    while True:
        head = fp.read(8)
        if len(head) < 8 or head[4:] != b"IDAT":
            return
        left = int.from_bytes(head[:4], "big")
        while left > 0:
            piece = fp.read(min(left, 1 << 20))
            if not piece:
                return
            left -= len(piece)
            yield piece
        fp.read(4)  # CRC


def _png_blocks(img: Image.Image) -> Iterator[Image.Image] | None:
    """Row blocks of an 8-bit (or less), non-interlaced PNG; None when it is not one."""
    tile = img.tile[0] if len(img.tile) == 1 else None
    rawmode = tile.args if tile is not None and isinstance(tile.args, str) else None
    fp = getattr(img, "fp", None)
    if (img.format != "PNG" or tile is None or tile.codec_name != "zip" or rawmode not in _PNG_BITS
            or img.info.get("interlace") or fp is None or tuple(tile.extents) != (0, 0, *img.size)
            or getattr(img, "n_frames", 1) != 1):
        return None
    fp.seek(tile.offset - 4)
    if fp.read(4) != b"IDAT":
        return None
    w, h = img.size
    bits = _PNG_BITS[rawmode]
    row_bytes = (w * bits + 7) // 8
    direct = rawmode in _PNG_DIRECT
    cmode, crawmode, cwidth = (img.mode, rawmode, w) if direct else ("L", "L", row_bytes)
    rows_per = max(1, STRIP_BYTES // (row_bytes + 1))
    palette = img.palette.copy() if img.mode == "P" and img.palette is not None else None
    transparency = img.info.get("transparency")

    def blocks() -> Iterator[Image.Image]:
        inflate = zlib.decompressobj()
        data = _idat_data(fp, tile.offset)
        seed = b""  # the previous strip's last row, unfiltered: the filters of the next row use it
        pending = b""
        y = 0
        while y < h:
            n = min(rows_per, h - y)
            # A fresh zlib stream (stored, not compressed) of the seed row and these rows lets
            # Pillow's C decoder undo the filters with the right previous row.
            out = bytearray(b"\x00" + seed if seed else b"")
            first = 1 if seed else 0  # the seed row is decoded again, then dropped
            need = len(out) + n * (row_bytes + 1)
            while len(out) < need:
                if not pending:
                    pending = next(data, b"")
                    if not pending:
                        raise OSError(f"image file is truncated ({y} of {h} rows)")
                out += inflate.decompress(pending, need - len(out))
                pending = inflate.unconsumed_tail
            t = n + first
            carrier = Image.frombytes(cmode, (cwidth, t), zlib.compress(out, 0), "zip", crawmode)
            if direct:
                seed = carrier.crop((0, t - 1, w, t)).tobytes("raw", crawmode)
                strip = carrier.crop((0, first, w, t)) if first else carrier
            else:
                raw = carrier.tobytes("raw", crawmode)[first * row_bytes:]
                seed = raw[-row_bytes:]
                strip = Image.frombytes(img.mode, (w, n), raw, "raw", rawmode)
            _keep_palette(strip, palette, transparency)
            yield strip if strip.mode == "RGB" else _to_rgb(strip)
            y += n

    return blocks()


def _raw_blocks(img: Image.Image) -> Iterator[Image.Image] | None:
    """Row blocks of an uncompressed image (BMP, PPM, plain TIFF): read straight from the file."""
    fp = getattr(img, "fp", None)
    w, h = img.size
    tiles = sorted(img.tile or [], key=lambda t: t.extents[1])
    if (fp is None or not tiles or img.mode not in _STRIP_MODES or getattr(img, "n_frames", 1) != 1
            or any(t.codec_name != "raw" or t.extents[0] != 0 or t.extents[2] != w for t in tiles)
            or [t.extents[1] for t in tiles] != [0] + [t.extents[3] for t in tiles[:-1]] or tiles[-1].extents[3] != h):
        return None
    specs = []
    for t in tiles:
        args = (t.args,) if isinstance(t.args, str) else tuple(t.args)
        rawmode, stride, ystep = (args + (0, 1))[:3]
        if not stride:
            try:  # the packed row length of this raw mode
                stride = len(Image.new(img.mode, (w, 1)).tobytes("raw", rawmode))
            except (ValueError, OSError):
                return None
        if ystep not in (1, -1):
            return None
        specs.append((t, rawmode, stride, ystep))
    palette = img.palette.copy() if img.mode == "P" and img.palette is not None else None
    transparency = img.info.get("transparency")

    def blocks() -> Iterator[Image.Image]:
        for t, rawmode, stride, ystep in specs:
            y0, y1 = t.extents[1], t.extents[3]
            rows_per = max(1, STRIP_BYTES // stride)
            for a in range(y0, y1, rows_per):
                b = min(y1, a + rows_per)
                # bottom-up files (BMP) store the tile's last row first
                start = (a - y0) if ystep == 1 else (y1 - b)
                fp.seek(t.offset + start * stride)
                data = fp.read((b - a) * stride)
                if len(data) < (b - a) * stride:
                    raise OSError(f"image file is truncated ({a} of {h} rows)")
                strip = Image.frombytes(img.mode, (w, b - a), data, "raw", rawmode, stride, ystep)
                _keep_palette(strip, palette, transparency)
                yield _to_rgb(strip)

    return blocks()


def _reduce_stream(blocks: Iterator[Image.Image], kx: int, ky: int) -> Iterator[np.ndarray]:
    """Box-reduce a stream of row blocks by (kx, ky), as ``Image.reduce`` does on the whole image:
    blocks are regrouped to multiples of ky rows, the last partial box averages what is left."""
    if kx == ky == 1:
        yield from (np.asarray(block) for block in blocks)
        return
    carry: np.ndarray | None = None
    for block in blocks:
        arr = np.asarray(block)
        if carry is not None and len(carry):
            arr = np.concatenate([carry, arr])
        whole = len(arr) // ky * ky
        carry = arr[whole:].copy()
        if whole:
            yield np.asarray(Image.fromarray(arr[:whole]).reduce((kx, ky)))
    if carry is not None and len(carry):
        yield np.asarray(Image.fromarray(carry).reduce((kx, ky)))


def _resize_stream(rows: Iterator[np.ndarray], in_size: tuple[int, int], box: tuple[float, float],
                   target: tuple[int, int]) -> Image.Image:
    """Lanczos resize of a stream of full-width rows (``in_size``; ``box``: the source extent, as
    ``Image.resize(box=...)``) to ``target``, band by band. Each band is resized from the rows it
    needs plus the filter's reach on both sides, so the result equals one resize of the whole."""
    w, h = in_size
    tw, th = target
    sy = box[1] / th
    reach = int(math.ceil(_LANCZOS_SUPPORT * max(sy, 1.0))) + 2
    # output rows per band: a strip's worth of source rows, and at least 16x the filter's reach
    # so that the overlap between bands stays a small part of the work
    band = max(1, int(max(STRIP_BYTES // max(1, w * 3), 16 * reach) / max(sy, 1.0)))
    out = Image.new("RGB", target)
    buf = np.empty((0, w, 3), np.uint8)
    top = 0  # source row of buf[0]
    for oy0 in range(0, th, band):
        oy1 = min(th, oy0 + band)
        lo = max(0, int(math.floor(oy0 * sy)) - reach)
        hi = min(h, int(math.ceil(oy1 * sy)) + reach)
        if lo > top:
            buf, top = buf[lo - top:], lo
        while top + len(buf) < hi:
            more = next(rows, None)
            if more is None:
                raise OSError(f"image file is truncated ({top + len(buf)} of {h} rows)")
            buf = np.concatenate([buf, more])
        piece = Image.fromarray(np.ascontiguousarray(buf[:hi - top]))
        out.paste(piece.resize((tw, oy1 - oy0), Image.Resampling.LANCZOS,
                               box=(0, oy0 * sy - lo, box[0], oy1 * sy - lo)), (0, oy0))
    return out


def _stream_downscale(img: Image.Image, target: tuple[int, int]) -> Image.Image | None:
    """Downscale while decoding, strip by strip; None when the format cannot be read in strips."""
    blocks = _png_blocks(img) if img.format == "PNG" else _raw_blocks(img)
    if blocks is None:
        return None
    w, h = img.size
    kx = max(1, int(w / target[0] / REDUCING_GAP))
    ky = max(1, int(h / target[1] / REDUCING_GAP))
    reduced = (math.ceil(w / kx), math.ceil(h / ky))
    return _resize_stream(_reduce_stream(blocks, kx, ky), reduced, (w / kx, h / ky), target)


_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _decode(img: Image.Image, target: tuple[int, int] | None) -> Image.Image:
    """Upright RGB, downscaled to ``target`` (``fit_size``'s answer; None: full size)."""
    if target is None:
        return _to_rgb(ImageOps.exif_transpose(img))
    # PngImageFile.getexif() decodes the whole image to look for an eXIf chunk after the pixels:
    # only one before them (already in info) is honoured for a large PNG.
    orientation = 1 if img.format == "PNG" and "exif" not in img.info else img.getexif().get(0x0112, 1)
    small = _stream_downscale(img, target)
    if small is None:
        drafted = img.draft("RGB", target)  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        # Resampling wants RGB: 16-bit and float have no Lanczos, palettes would get nearest.
        full = img if img.mode == "RGB" else _to_rgb(img)
        small = full.resize(target, Image.Resampling.LANCZOS, box=drafted[1] if drafted else None,
                            reducing_gap=REDUCING_GAP)
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return small.transpose(method) if method is not None else small


def load_image(path: str | os.PathLike[str], max_side: int = MAX_SIDE, max_pixels: int | None = None) -> Image.Image:
    """Open an image as upright RGB, at most ``max_side`` px per side (downscaled while decoding),
    or raise ImageLoadError naming the file and the fix. Files whose header claims more than
    ``max_pixels`` (default: ``get_max_pixels()``) are refused before anything is decoded."""
    p = Path(path)
    limit = get_max_pixels() if max_pixels is None else parse_pixel_count(max_pixels)
    if not p.exists():
        raise ImageLoadError(f"{p}: file not found. Check the path.")
    if p.is_dir():
        raise ImageLoadError(f"{p}: is a folder, not an image. Open it as a folder instead.")
    if p.stat().st_size == 0:
        raise ImageLoadError(f"{p}: the file is empty (0 bytes). Replace it with a valid image.")
    size: tuple[int, int] | None = None
    try:
        with Image.open(p) as img:  # the header only: our limit, our message
            size = img.size
            if size[0] * size[1] > limit:
                raise ImageLoadError(refusal_message(p, size, limit))
            target = fit_size(size, max_side)
            with _large_decode_lock if target is not None else nullcontext():
                out = _decode(img, target)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{p}: not an image Pillow can read. Convert it to PNG or JPEG.") from None
    except MemoryError:
        raise ImageLoadError(f"{p}: not enough memory to decode this {size[0] if size else '?'}x"
                             f"{size[1] if size else '?'} image. Close other programs, or save it as PNG "
                             f"or JPEG, which are read a strip at a time.") from None
    except (OSError, SyntaxError, ValueError, zlib.error) as exc:
        raise ImageLoadError(f"{p}: the image is damaged or truncated ({exc}). Re-export or replace it.") from None
    if target is not None:
        warnings.warn(f"{p}: large image ({size[0]}x{size[1]}) downscaled to {out.size[0]}x{out.size[1]} "
                      f"(at most {max_side} px per side)", stacklevel=2)
    return out
