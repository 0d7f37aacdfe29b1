"""Generates a corpus of odd and hostile image files (nothing binary is committed).

Run `python -m tests.corpus.images OUT_DIR` to write it by hand; tests call ``make_image_corpus``.
Each item says whether a careful reader should accept it (``ok``) or refuse it with a message.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class CorpusItem:
    name: str
    path: Path
    ok: bool
    size: tuple[int, int] | None = None  # expected (width, height) after loading, where known
    note: str = ""


def _photo(w: int = 64, h: int = 48) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1).astype(np.uint8)
    return Image.fromarray(arr)


def _jpeg_bytes(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def make_image_corpus(folder: Path, large: bool = False) -> list[CorpusItem]:
    """Write the corpus into ``folder``. ``large`` adds a ~50 MP photo (slow to write)."""
    folder.mkdir(parents=True, exist_ok=True)
    items: list[CorpusItem] = []

    def add(name: str, ok: bool, data: bytes | None = None, img: Image.Image | None = None,
            size: tuple[int, int] | None = None, note: str = "", **save: object) -> None:
        p = folder / name
        if data is not None:
            p.write_bytes(data)
        elif img is not None:
            img.save(p, **save)
        items.append(CorpusItem(name, p, ok, size, note))

    photo = _photo()
    add("plain.jpg", True, img=photo, size=(64, 48))
    add("truncated.jpg", False, data=_jpeg_bytes(photo)[:300], note="cut mid-stream")
    png = io.BytesIO()
    photo.save(png, format="PNG")
    corrupt = bytearray(png.getvalue())
    corrupt[60:90] = b"\x00" * 30
    add("corrupt.png", False, data=bytes(corrupt), note="damaged IDAT")
    add("empty.png", False, data=b"", note="0 bytes")
    add("text.jpg", False, data=b"this is not an image\n", note="text named .jpg")
    add("text.png", False, data=b"hello", note="text named .png")
    add("deep16.png", True, img=Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16)),
        size=(64, 48), note="16-bit grayscale")
    add("cmyk.jpg", True, img=photo.convert("CMYK"), size=(64, 48))
    add("palette.png", True, img=photo.convert("P", palette=Image.Palette.ADAPTIVE), size=(64, 48))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))))
    add("transparent.png", True, img=rgba, size=(64, 48))
    add("gray.png", True, img=photo.convert("L"), size=(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    add("exif_rotated.jpg", True, data=_jpeg_bytes(photo, exif=exif.tobytes()), size=(48, 64),
        note="EXIF orientation 6: displayed portrait")
    add("tiny_1x1.png", True, img=Image.new("RGB", (1, 1), (200, 10, 10)), size=(1, 1))
    add("bomb.png", False, img=Image.new("1", (20000, 20000)), note="400 MP: over Pillow's bomb limit")
    add("naïve café ünïcode.jpg", True, img=photo, size=(64, 48), note="non-ASCII name")
    add("name with spaces.png", True, img=photo, size=(64, 48))
    if large:
        big = Image.new("RGB", (8200, 6100), (90, 120, 150))
        add("large_50mp.jpg", True, img=big, note="50 MP, downscaled on load", quality=70)
    return items


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for item in make_image_corpus(out, large="--large" in sys.argv):
        print(f"{'ok   ' if item.ok else 'refuse'} {item.path}  {item.note}")
