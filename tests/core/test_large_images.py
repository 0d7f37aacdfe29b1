"""Large genuine images load downscaled with bounded memory; files whose header claims an absurd
size are refused with one message (the file, the limit, how to raise it) at every entry point:
load_image here, `l2r explain`, `evaluate` and `export` below, the desktop app in
tests/gui/test_large_images_gui.py."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

import l2r_core
from l2r_core import images
from l2r_core.batch.state import read_all_items
from l2r_core.errors import ImageLoadError
from l2r_core.images import MAX_PIXELS, fit_size, load_image, parse_pixel_count, set_max_pixels
from l2r_training.cli import main

RED, BLUE, WHITE = (200, 30, 30), (30, 30, 200), (250, 250, 250)


# -- writing large PNGs without holding them in memory ---------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(w: int, h: int, color_type: int = 2, depth: int = 8, interlace: int = 0) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace))


def write_png(path: Path, w: int, h: int, row: Callable[[int], bytes]) -> Path:
    """An 8-bit RGB PNG whose row y is ``row(y)`` (unfiltered), compressed as it is written: a
    144 MP image of a few distinct rows takes about a second and half a megabyte."""
    deflate = zlib.compressobj(6)
    with open(path, "wb") as f:
        f.write(png_header(w, h))
        rows: list[bytes] = []
        for y in range(h):
            rows.append(b"\x00" + row(y))
            if len(rows) == 256 or y == h - 1:
                data = deflate.compress(b"".join(rows)) + (deflate.flush() if y == h - 1 else b"")
                rows = []
                if data:
                    f.write(_chunk(b"IDAT", data))
        f.write(_chunk(b"IEND", b""))
    return path


def striped_png(path: Path, w: int, h: int, band: int = 1000) -> Path:
    """Left half red, right half blue, with white bands of ``band`` rows every other band."""
    colour = bytes(RED) * (w // 2) + bytes(BLUE) * (w - w // 2)
    white = bytes(WHITE) * w
    return write_png(path, w, h, lambda y: colour if (y // band) % 2 == 0 else white)


def bomb_png(path: Path, w: int = 100_000, h: int = 100_000) -> Path:
    """A 60-byte file whose header claims w x h pixels (the data holds one row at most)."""
    path.write_bytes(png_header(w, h) + _chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12000 x 12000 (144 MP), about 0.5 MB on disk."""
    return striped_png(tmp_path_factory.mktemp("large") / "big_144mp.png", 12000, 12000)


@pytest.fixture
def restore_limit() -> None:
    yield
    set_max_pixels(None)


# -- the limit ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [("300000000", 300_000_000), ("200M", 200_000_000), ("1e9", 10**9),
                                         ("1.5G", 1_500_000_000), ("200MP", 200_000_000), ("12000x12000", 144_000_000),
                                         ("40k", 40_000), (5000, 5000)])
def test_pixel_counts_are_read_as_people_write_them(text: str | int, value: int) -> None:
    assert parse_pixel_count(text) == value


@pytest.mark.parametrize("text", ["abc", "0", "-5", "1T", "", "nan"])
def test_a_bad_pixel_count_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="300M"):
        parse_pixel_count(text)


def test_a_header_claiming_an_absurd_size_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    with pytest.raises(ImageLoadError) as e:
        load_image(bomb)
    msg = str(e.value)
    assert msg.startswith(f"{bomb}: refused") and "\n" not in msg
    assert "100000x100000" in msg and "10000 MP" in msg and "300 MP" in msg and "decompression bomb" in msg
    assert "--max-pixels 10000M" in msg and "images/max_pixels" in msg


def test_max_pixels_lowers_and_raises_the_limit(tmp_path: Path, restore_limit: None) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), RED).save(path)  # 60000 pixels
    with pytest.raises(ImageLoadError, match=r"over the limit of 50000 pixels per image .* --max-pixels 1M"):
        load_image(path, max_pixels=50_000)
    assert load_image(path, max_pixels="1M").size == (300, 200)
    set_max_pixels("50k")  # the process default (the desktop app sets it from its setting)
    with pytest.raises(ImageLoadError, match="refused"):
        load_image(path)
    assert load_image(path, max_pixels=60_000).size == (300, 200)  # an explicit limit wins
    set_max_pixels(None)
    assert images.get_max_pixels() == MAX_PIXELS and load_image(path).size == (300, 200)


# -- decoding strip by strip -------------------------------------------------------------------
def _sample(mode: str) -> Image.Image:
    h, w = 151, 263
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 3 + yy) % 256, (yy * 5) % 256, ((xx ^ yy) * 7) % 256], -1).astype(np.uint8)
    rgb[60:80] = np.random.default_rng(0).integers(0, 256, (20, w, 3))
    img = Image.fromarray(rgb)
    if mode == "RGBA":
        rgba = np.dstack([rgb, (xx * 255 // w).astype(np.uint8)])
        return Image.fromarray(rgba)
    if mode.startswith("P"):
        return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=int(mode[1:] or 256))
    return img.convert(mode)


@pytest.mark.parametrize("name, mode, save", [
    ("rgb.png", "RGB", {}), ("rgba.png", "RGBA", {}), ("grey.png", "L", {}), ("grey_alpha.png", "LA", {}),
    ("bilevel.png", "1", {}), ("palette.png", "P", {"transparency": 3}), ("palette4.png", "P16", {"bits": 4}),
    ("rgb.bmp", "RGB", {}), ("palette.bmp", "P", {}), ("rgb.ppm", "RGB", {}), ("grey.pgm", "L", {}),
    ("rgb.tif", "RGB", {}),
])
def test_strip_decoding_equals_resizing_the_whole_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        name: str, mode: str, save: dict) -> None:
    monkeypatch.setattr(images, "STRIP_BYTES", 2048)  # dozens of strips even in a small file
    path = tmp_path / name
    _sample(mode).save(path, **save)
    with Image.open(path) as img:
        streams = images._png_blocks(img) if img.format == "PNG" else images._raw_blocks(img)
        assert streams is not None, f"{name} should be read in strips"
        whole = images._to_rgb(img)
    for side in (40, 120):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = load_image(path, max_side=side)
        target = fit_size(whole.size, side)
        want = whole.resize(target, Image.Resampling.LANCZOS, reducing_gap=images.REDUCING_GAP)
        assert got.size == want.size
        assert np.abs(np.asarray(got, np.int16) - np.asarray(want, np.int16)).max() <= 1, (name, side)


def test_an_interlaced_png_is_decoded_whole(tmp_path: Path) -> None:
    # Adam7 on 2x2: pass 1 holds (0,0), pass 6 (1,0), pass 7 the second row
    data = b"\x00" + bytes(RED) + b"\x00" + bytes(BLUE) + b"\x00" + bytes(WHITE) * 2
    path = tmp_path / "interlaced.png"
    path.write_bytes(png_header(2, 2, interlace=1) + _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b""))
    with Image.open(path) as img:
        assert images._png_blocks(img) is None
    assert load_image(path).getpixel((1, 0)) == BLUE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_image(path, max_side=1).size == (1, 1)


def test_a_truncated_large_png_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    _sample("RGB").resize((800, 600)).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    with pytest.raises(ImageLoadError, match=r"cut\.png: the image is damaged or truncated"):
        load_image(path, max_side=100)


def test_exif_orientation_survives_downscaling(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    Image.new("RGB", (1200, 300), RED).save(path, exif=exif.tobytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_image(path, max_side=400).size == (100, 400)


def test_an_extreme_aspect_ratio_loads(tmp_path: Path) -> None:
    path = striped_png(tmp_path / "panorama.png", 30000, 200, band=100)
    with pytest.warns(UserWarning, match="downscaled to 4096x27"):
        img = load_image(path)
    assert img.size == (4096, 27)
    assert img.getpixel((100, 3)) == RED and img.getpixel((4000, 3)) == BLUE and img.getpixel((100, 24)) == WHITE


# -- the 144 MP image --------------------------------------------------------------------------
PEAK_SCRIPT = r"""
import sys, types, warnings
warnings.simplefilter("ignore")
# only l2r_core.images and what it imports: the peak is the decode's, not torch's
pkg = types.ModuleType("l2r_core"); pkg.__path__ = [sys.argv[1]]; sys.modules["l2r_core"] = pkg
from l2r_core import images

def peak_mb():
    # VmHWM: this process's peak RSS. (getrusage's ru_maxrss would include the RSS of the parent
    # that forked it, pytest, since Linux carries the forked image's high-water mark over exec.)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))

base = peak_mb()
img = images.load_image(sys.argv[2])
print(img.size[0], img.size[1], base, peak_mb(), *img.getpixel((10, 10)), *img.getpixel((4000, 10)))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from Linux's /proc")
def test_a_144_megapixel_png_loads_downscaled_in_bounded_memory(big_png: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, l2r_core.__path__[0], str(big_png)],
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    w, h, base_mb, peak_mb, *pixels = map(int, out)
    print(f"144 MP PNG: peak RSS {peak_mb} MB ({peak_mb - base_mb} MB over the {base_mb} MB interpreter)")
    assert (w, h) == (4096, 4096) and tuple(pixels[:3]) == RED and tuple(pixels[3:]) == BLUE
    # decoded whole it would take 576 MB (RGBX) plus copies: 1.3 GB measured before strips
    assert peak_mb - base_mb < 300


@pytest.mark.slow
def test_l2r_explain_reads_the_144_megapixel_png_and_max_pixels_refuses_it(
        big_png: Path, l2r_tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(big_png), "--model", "timm:resnet10t", "--weights", str(l2r_tiny_weights),
            "--method", "gradcam", "--out", str(tmp_path / "out")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "big_144mp.npy").is_file() and (tmp_path / "out" / "big_144mp.png").is_file()
    assert main(args + ["--max-pixels", "100M"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"l2r: error: {big_png}: refused, its header claims 12000x12000 pixels (144 MP), over the " \
                  f"limit of 100 MP per image (a possible decompression bomb). If the image is genuine, raise the " \
                  f"limit: --max-pixels 144M (l2r, l2r-desktop) or the desktop setting images/max_pixels."


def test_explain_refuses_a_bomb_with_the_message(tmp_path: Path, l2r_tiny_weights: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    code = main(["explain", str(bomb), "--model", "timm:resnet10t", "--weights", str(l2r_tiny_weights),
                 "--method", "gradcam", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"{bomb}: refused" in err and "--max-pixels 10000M" in err


def test_a_bad_max_pixels_flag_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["explain", "x.png", "--out", str(tmp_path), "--max-pixels", "lots"])
    assert e.value.code == 2
    assert "--max-pixels: 'lots' is not a pixel count: write e.g. 300M" in capsys.readouterr().err


def test_evaluate_and_export_honour_max_pixels(tmp_path: Path, l2r_tiny_weights: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        _sample("RGB").resize((64 + i, 48)).save(folder / f"p{i}.png")  # about 3100 pixels each
    model = ["--model", "timm:resnet10t", "--weights", str(l2r_tiny_weights)]
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(folder), *model, "--methods", "gradcam", "--json", str(out),
                 "--max-pixels", "3k"]) == 0
    rows = json.loads(out.read_text())["results"]
    assert all(r["status"].startswith("error: ") and "--max-pixels 1M" in r["status"] for r in rows)
    export = ["export", str(folder), "--out", str(tmp_path / "export"), *model, "--methods", "gradcam", "--quiet"]
    assert main(export + ["--max-pixels", "3000"]) == 0
    assert "2 computed, 0 already done, 2 errors" in capsys.readouterr().err
    items = read_all_items(tmp_path / "export")
    assert len(items) == 2 and all("refused" in d["status"] and d["max_pixels"] == 3000 for d in items)
    # a rerun under a higher limit tries the refused images again (no --retry-errors needed)
    assert main(export) == 0
    assert "2 computed, 0 already done, 0 errors" in capsys.readouterr().err


def test_loading_while_other_threads_crop_does_not_break_pillow(tmp_path: Path) -> None:
    """Training loads images in some threads while it crops in others; a load must not change what
    Pillow's other calls see (it once set Pillow's limit to None mid-crop: `2 * None`)."""
    import threading

    from l2r_core.images import MAX_SIDE, load_image

    wide = tmp_path / "wide.png"
    Image.new("RGB", (MAX_SIDE * 2, 600), (9, 9, 9)).save(wide)  # downscaled: the slow path
    errors: list[BaseException] = []
    seen: set[object] = set()  # what Pillow's own calls read as their limit meanwhile
    stop = threading.Event()

    def crop_forever() -> None:
        img = Image.new("RGB", (64, 64))
        try:
            while not stop.is_set():
                seen.add(Image.MAX_IMAGE_PIXELS)
                img.crop((1, 1, 40, 40))
        except BaseException as exc:  # noqa: BLE001 - any failure is the test's finding
            errors.append(exc)

    cropper = threading.Thread(target=crop_forever)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a busy loader does
    cropper.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(15):
                assert load_image(wide).size[0] == MAX_SIDE
    finally:
        stop.set()
        cropper.join()
        sys.setswitchinterval(interval)
    assert errors == [] and len(seen) == 1
