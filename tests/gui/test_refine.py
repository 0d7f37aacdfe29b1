"""Test-time refinement from the window: live updates, Cancel within one step, responsive loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from l2r_core.metrics.hard import deletion_insertion
from l2r_core.render import normalize_map
from l2r_desktop.viewmodels.state import REFINED

from .conftest import wait_explained
from .test_workers import GapMeter

pytestmark = pytest.mark.gui


def test_refine_updates_heatmap_and_curves_after_every_step(window_factory, qtbot, image_folder, tiny_model):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    controls = win.refine_controls
    assert controls.refine.isEnabled()
    steps_seen: list[int] = []
    maps_seen: list[np.ndarray] = []
    win.explain.refineProgress.connect(lambda s, t, loss: steps_seen.append(s))
    win.explain.resultsChanged.connect(
        lambda rs: [maps_seen.append(r.shown.copy()) for r in rs if r.key == REFINED])
    controls.steps.setValue(3)
    meter = GapMeter()
    qtbot.mouseClick(controls.refine, Qt.MouseButton.LeftButton)
    QApplication.processEvents()  # the click's own repaint (new panel and curves) happens here
    meter.start()  # from then on the loop must keep ticking while the refinement computes
    assert controls.cancel.isEnabled() and not controls.refine.isEnabled()
    np.testing.assert_array_equal(win.heatmap.overlay_item(REFINED).image,
                                  win.heatmap.overlay_item("gradcam").image)  # step 0 = the starting map
    qtbot.waitUntil(lambda: not win.explain.refining, timeout=60000)
    meter.stop()
    assert steps_seen == [0, 1, 2, 3]  # 0 = started, then one update per step
    assert len(maps_seen) == 4  # step 0 (the starting map), then one per step
    assert controls.bar.value() == 3 and controls.bar.maximum() == 3
    refined = win.explain.results[REFINED]
    np.testing.assert_allclose(win.heatmap.overlay_item(REFINED).image, normalize_map(refined.raw), atol=1e-6)
    curves = deletion_insertion(tiny_model, win.explain.x, torch.as_tensor(refined.raw)[None],
                                [win.explain.image.target], protocol=win.explain.protocol)
    np.testing.assert_allclose(win.curves.items["insertion"][REFINED].getData()[1], curves.insertion[0], atol=1e-5)
    assert f"AUC {curves.deletion_auc[0]:.3f}" in win.curves.legend_labels("deletion")[-1]
    slow = [round(g * 1000) for g in meter.gaps if g > 0.05]
    assert meter.max_gap < 0.1, f"the event loop stalled {meter.max_gap * 1000:.0f} ms during refinement ({slow})"
    assert controls.refine.isEnabled() and not controls.cancel.isEnabled()


def test_cancel_stops_refinement_within_one_step(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_1.png")])
    wait_explained(qtbot, win)
    controls = win.refine_controls
    controls.steps.setValue(50)
    steps_seen: list[int] = []
    win.explain.refineProgress.connect(lambda s, t, loss: steps_seen.append(s))
    qtbot.mouseClick(controls.refine, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: max(steps_seen, default=0) >= 1, timeout=30000)
    at_cancel = max(steps_seen)
    qtbot.mouseClick(controls.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.explain.refining, timeout=10000)
    assert max(steps_seen) <= at_cancel + 1 < 50
    assert controls.refine.isEnabled() and not controls.cancel.isEnabled()
    assert REFINED in win.explain.results  # the last finished step stays on screen


def test_explaining_another_image_cancels_a_running_refinement(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    win.refine_controls.steps.setValue(50)
    qtbot.mouseClick(win.refine_controls.refine, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.runner.running is not None and win.runner.running.kind == "refine", timeout=10000)
    win.images.next()  # never two compute jobs: the refinement is cancelled, the new image explained
    qtbot.waitUntil(lambda: not win.explain.refining, timeout=10000)
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_1.png" and REFINED not in win.explain.results
