"""The one test on the real offline demo: EfficientNet-Lite0 + bundled photos, first map and curves."""
from __future__ import annotations

import time

import numpy as np
import pytest

from l2r_core.render import normalize_map

pytestmark = [pytest.mark.gui, pytest.mark.slow]

# The product target is 10 s on an idle 2-core CPU (see the report / README); CI machines are
# shared and slower, so the test allows more and prints the measured time.
LIMIT_S = 120.0


def test_demo_shows_the_first_photo_with_heatmap_and_curves(window_factory, qtbot, record_property):
    win = window_factory(model=None)
    start = time.perf_counter()
    with qtbot.waitSignal(win.explain.firstShown, timeout=int(LIMIT_S * 1000)):
        win.start_demo()
    seconds = time.perf_counter() - start
    record_property("demo_first_explanation_s", round(seconds, 2))
    print(f"\ndemo: first photo with heatmap and curves after {seconds:.2f} s")
    assert win.models.model.name == "demo-cnn"
    assert win.explain.image.path.name == "01_chelsea_cat.jpg"
    key = win.explain.primary
    assert key in ("l2r", "gradcam")
    result = win.explain.results[key]
    np.testing.assert_allclose(win.heatmap.overlay_item(key).image, normalize_map(result.raw), atol=1e-6)
    assert win.heatmap.image_item().image.shape == (224, 224, 3)
    xs, ys = win.curves.items["deletion"][key].getData()
    np.testing.assert_allclose(ys, result.curves.deletion)
    assert len(xs) == 21  # the "aha" protocol
    names = [r[0] for r in win.predictions.rows()]
    assert any("cat" in n for n in names[:3]), names
    if key == "gradcam":  # no bundled explainer yet: the status bar says so
        assert "No trained explainer" in win.statusBar().currentMessage()
    assert "Loading" not in win.statusBar().currentMessage()  # once stuck at "Loading model ..."
    assert seconds < LIMIT_S
