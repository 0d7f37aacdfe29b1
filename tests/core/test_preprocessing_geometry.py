"""Resize modes: where the original lands in the model's input, and how a map goes back onto it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from l2r_core.models.preprocessing import Preprocessing


def square_image(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """Black RGB image of ``size`` (w,h) with a white box (left, top, right, bottom)."""
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    l, t, r, b = box
    arr[t:b, l:r] = 255
    return Image.fromarray(arr)


def bright_box(img: Image.Image) -> tuple[int, int, int, int]:
    a = np.asarray(img.convert("L")) > 127
    ys, xs = np.nonzero(a)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_crop_keeps_the_centre_at_crop_pct() -> None:
    pre = Preprocessing(input_size=(32, 32), resize="crop", crop_pct=0.5, interpolation="nearest")
    pl = pre.placement((128, 64))
    # short side 64 -> 32 / 0.5 = 64: no scaling, then a 32x32 centre crop of a 128x64 image
    assert pl.resized == (128, 64)
    assert pl.source == (48.0, 16.0, 80.0, 48.0) and pl.target == (0, 0, 32, 32)
    assert pl.cropped and not pl.padded
    img = square_image((128, 64), (60, 28, 68, 36))  # 8x8 box at the centre
    assert bright_box(pre.geometry(img)) == (12, 12, 20, 20)


def test_crop_on_a_non_square_input_covers_both_sides() -> None:
    pre = Preprocessing(input_size=(32, 64), resize="crop", crop_pct=1.0)
    pl = pre.placement((100, 100))
    assert pl.resized == (64, 64) and pre.geometry(Image.new("RGB", (100, 100))).size == (64, 32)
    assert pl.source == pytest.approx((0.0, 25.0, 100.0, 75.0))


def test_squash_stretches_the_whole_image() -> None:
    pre = Preprocessing(input_size=(32, 32), resize="squash", interpolation="nearest")
    pl = pre.placement((64, 128))
    assert pl.source == (0.0, 0.0, 64.0, 128.0) and pl.target == (0, 0, 32, 32) and not pl.cropped
    img = square_image((64, 128), (0, 0, 32, 64))  # the top-left quarter
    assert bright_box(pre.geometry(img)) == (0, 0, 16, 16)


def test_pad_centres_a_small_image_on_raw_zeros_without_scaling() -> None:
    pre = Preprocessing(input_size=(32, 32), resize="pad", mean=(0.286,), std=(0.353,), grayscale=True)
    img = Image.fromarray(np.full((28, 28, 3), 255, np.uint8))
    pl = pre.placement(img.size)
    assert pl.resized == (28, 28) and pl.target == (2, 2, 30, 30) and pl.padded and not pl.cropped
    x = pre(img)
    assert x.shape == (1, 32, 32)
    border = torch.cat([x[0, :2].flatten(), x[0, -2:].flatten(), x[0, :, :2].flatten(), x[0, :, -2:].flatten()])
    assert torch.allclose(border, torch.tensor((0.0 - 0.286) / 0.353))  # raw zero, then normalised
    assert torch.allclose(x[0, 2:30, 2:30], torch.tensor((1.0 - 0.286) / 0.353))


def test_pad_scales_a_large_image_down_keeping_its_aspect() -> None:
    pre = Preprocessing(input_size=(32, 32), resize="pad", interpolation="nearest")
    pl = pre.placement((128, 64))
    assert pl.resized == (32, 16) and pl.target == (0, 8, 32, 24)
    img = square_image((128, 64), (0, 0, 128, 64))
    assert bright_box(pre.geometry(img)) == (0, 8, 32, 24)


@pytest.mark.parametrize("resize", ["crop", "squash", "pad"])
def test_a_map_drawn_back_lands_on_the_same_object(resize: str) -> None:
    """A map that marks where the object is in the input, drawn back onto the original, marks the
    object there: the map and the original stay aligned in every mode."""
    pre = Preprocessing(input_size=(32, 32), resize=resize, crop_pct=0.8, interpolation="nearest")
    box = (70, 30, 90, 50)
    img = square_image((160, 80), box)
    seen = np.asarray(pre.geometry(img).convert("L"), dtype=np.float32) / 255.0
    back = pre.placement(img.size).map_to_image(seen, fill=np.nan)
    assert back.shape == (80, 160)
    hot = np.nan_to_num(back) > 0.5
    ys, xs = np.nonzero(hot)
    l, t, r, b = box
    tol = 160 / 32 + 1  # one input pixel, in original pixels
    assert abs(xs.min() - l) <= tol and abs(xs.max() + 1 - r) <= tol
    assert abs(ys.min() - t) <= tol and abs(ys.max() + 1 - b) <= tol
    if resize == "crop":  # the model never saw the sides: no value there
        assert np.isnan(back[:, 0]).all() and np.isnan(back[:, -1]).all()
    else:
        assert np.isfinite(back).all()


def test_files_written_before_resize_modes_still_load() -> None:
    old = Preprocessing.from_dict({"input_size": [224, 224], "resize_short": 256})
    assert (old.resize, old.crop_pct) == ("crop", 0.875)
    assert Preprocessing.from_dict({"input_size": [28, 28], "resize_short": None}).resize == "squash"
    pre = Preprocessing(input_size=(32, 48), resize="pad", mean=(0.5,), std=(0.25,))
    assert Preprocessing.from_dict(pre.to_dict()) == pre
