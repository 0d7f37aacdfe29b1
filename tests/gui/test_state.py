"""Pure helpers behind the window: map normalisation, error messages, settings coercion."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from l2r_core.errors import ImageLoadError, ModelLoadError
from l2r_desktop.errors import describe_error
from l2r_desktop.settings import AppSettings
from l2r_core.render import normalize_map


def test_normalize_map_uses_its_own_1st_and_99th_percentiles() -> None:
    m = np.arange(1000, dtype=np.float32).reshape(25, 40)
    lo, hi = np.percentile(m, [1, 99])
    out = normalize_map(m)
    np.testing.assert_allclose(out, np.clip((m - lo) / (hi - lo), 0, 1), rtol=1e-6)
    assert out.min() == 0.0 and out.max() == 1.0 and out.dtype == np.float32
    # scale-free: any positive affine change of the raw map gives the same picture
    np.testing.assert_allclose(normalize_map(3.0 * m - 7.0), out, atol=1e-6)


def test_normalize_map_edge_cases() -> None:
    assert not normalize_map(np.full((4, 4), 2.5)).any()  # flat map: nothing highlighted
    spiky = np.zeros((10, 10), np.float32)
    spiky[0, 0] = 5.0  # one hot pixel: 99th percentile is 0, fall back to min..max
    assert normalize_map(spiky)[0, 0] == 1.0 and normalize_map(spiky).sum() == 1.0
    with_nan = np.arange(16, dtype=np.float32).reshape(4, 4)
    with_nan[1, 1] = np.nan
    assert np.isfinite(normalize_map(with_nan)).all()


@pytest.mark.parametrize("exc, title, words", [
    (ImageLoadError("a.png: not an image Pillow can read. Convert it."), "Cannot read image", "Convert"),
    (ModelLoadError("explainer x was trained for A but the loaded model is B"), "Cannot load model", "trained for"),
    (MemoryError(), "Out of memory", "switch the device to CPU"),
    (torch.cuda.OutOfMemoryError("CUDA out of memory"), "Out of memory", "Device menu"),
    (RuntimeError("size mismatch for fc.weight"), "Model and input do not match", "preprocessing"),
    (ValueError("odd"), "Unexpected error", "keeps working"),
])
def test_every_failure_gets_a_title_a_cause_and_a_fix(exc, title, words) -> None:
    t, message = describe_error(exc, "explaining")
    assert t == title and words in message


def test_settings_file_round_trip_and_recent_folders(tmp_path) -> None:
    s = AppSettings(tmp_path / "s.ini")
    assert s.get("opacity") == pytest.approx(0.55) and s.get("overlay_visible") is True
    s.set("opacity", 0.3)
    s.set("overlay_visible", False)
    for f in ("/a", "/b", "/a"):
        s.add_recent_folder(f)
    s.sync()
    again = AppSettings(tmp_path / "s.ini")
    assert again.get("opacity") == pytest.approx(0.3) and again.get("overlay_visible") is False
    assert again.recent_folders() == ["/a", "/b"] and again.get("last_folder") == "/a"
