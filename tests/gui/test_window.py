"""The main window driven as a user would: what it shows equals what the library computes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt

from l2r_core.images import load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.pipeline import prepare, top_predictions
from l2r_core.progress import NullProgress
from l2r_desktop import jobs
from l2r_core.render import NORMALISATION_LABEL, normalize_map
from l2r_desktop.widgets.curves_view import legend_text

from .conftest import CLASSES, wait_explained

pytestmark = pytest.mark.gui


def expected(model, path: Path, method: str, target: int | None = None, protocol: str = "aha"):
    x = prepare(model, load_image(path)).x
    preds = top_predictions(model, x, 5)
    t = preds[0].index if target is None else target
    raw = jobs.compute_map(model, None, method, x, t, NullProgress())
    curves = deletion_insertion(model, x, torch.as_tensor(raw)[None], [t], protocol=protocol)
    return x, preds, t, raw, curves


def test_first_image_heatmap_predictions_and_curves_match_the_library(window_factory, qtbot, image_folder,
                                                                        tiny_model):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    path = image_folder / "img_0.png"
    x, preds, t, raw, curves = expected(tiny_model, path, "gradcam")
    assert win.explain.primary == "gradcam"
    # the RGB layer is the picture the model saw; the overlay is the normalised map
    np.testing.assert_array_equal(win.heatmap.image_item().image, np.asarray(prepare(tiny_model, load_image(path)).display))
    overlay = win.heatmap.overlay_item("gradcam")
    np.testing.assert_allclose(overlay.image, normalize_map(raw), atol=1e-5)
    assert tuple(overlay.levels) == (0.0, 1.0)
    assert win.heatmap.scale_label.text() == NORMALISATION_LABEL
    # predictions: names and probabilities as the model gives them
    rows = win.predictions.rows()
    assert [r[0].lstrip("\u25B6 ") for r in rows] == [p.name for p in preds]
    assert [r[1] for r in rows] == [f"{p.probability:.1%}" for p in preds]
    # curves: exactly the metric's curves, AUC in the legend
    for kind in ("deletion", "insertion"):
        xs, ys = win.curves.items[kind]["gradcam"].getData()
        np.testing.assert_allclose(xs, curves.fractions)
        np.testing.assert_allclose(ys, getattr(curves, kind)[0], atol=1e-5)
        auc = float(getattr(curves, f"{kind}_auc")[0])
        assert win.curves.legend_labels(kind) == [f"Grad-CAM: AUC {auc:.3f}"]
    assert "last explanation:" in win.time_label.text() and "-" not in win.time_label.text().split(":")[1]
    assert "test:resnet10t" in win.model_label.text() or "resnet10t" in win.model_label.text()
    assert "cpu" in win.device_label.text()


def test_clicking_a_prediction_explains_that_class(window_factory, qtbot, image_folder, tiny_model):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    table = win.predictions.table
    second = win.explain.image.predictions[1]
    rect = table.visualItemRect(table.item(1, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.explain.image.target == second.index, timeout=10000)
    wait_explained(qtbot, win)
    _, _, _, raw, curves = expected(tiny_model, image_folder / "img_0.png", "gradcam", second.index)
    np.testing.assert_allclose(win.heatmap.overlay_item("gradcam").image, normalize_map(raw), atol=1e-5)
    np.testing.assert_allclose(win.curves.items["deletion"]["gradcam"].getData()[1], curves.deletion[0], atol=1e-5)
    assert CLASSES[second.index] in win.heatmap.panel_title("gradcam")
    assert win.predictions.rows()[1][0].startswith("\u25B6")  # the explained class is marked


def test_side_by_side_comparison_shares_one_colour_scale(window_factory, qtbot, image_folder, tiny_model):
    win = window_factory(paths=[str(image_folder / "img_1.png")])
    wait_explained(qtbot, win)
    item = win.method_controls.compare_item("ig")
    assert item is not None and item.flags() & Qt.ItemFlag.ItemIsEnabled
    item.setCheckState(Qt.CheckState.Checked)  # the user ticks "Integrated Gradients"
    qtbot.waitUntil(lambda: win.heatmap.panel_keys() == ["gradcam", "ig"], timeout=10000)
    wait_explained(qtbot, win)
    _, _, _, raw_ig, curves_ig = expected(tiny_model, image_folder / "img_1.png", "ig")
    np.testing.assert_allclose(win.heatmap.overlay_item("ig").image, normalize_map(raw_ig), atol=1e-5)
    bar = win.heatmap.colorbar()
    assert {id(ref()) for ref in bar.img_list} == {id(win.heatmap.overlay_item(k)) for k in ("gradcam", "ig")}
    assert all(tuple(win.heatmap.overlay_item(k).levels) == (0.0, 1.0) for k in ("gradcam", "ig"))
    labels = win.curves.legend_labels("insertion")
    assert f"Integrated Gradients: AUC {curves_ig.insertion_auc[0]:.3f}" in labels and len(labels) == 2
    # unticking removes the panel and the curves
    win.method_controls.compare_item("ig").setCheckState(Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: win.heatmap.panel_keys() == ["gradcam"], timeout=10000)
    wait_explained(qtbot, win)
    assert len(win.curves.legend_labels("deletion")) == 1


def test_protocol_preset_changes_the_curves(window_factory, qtbot, image_folder, tiny_model):
    win = window_factory(paths=[str(image_folder / "img_2.png")])
    wait_explained(qtbot, win)
    before = win.heatmap.overlay_item("gradcam").image.copy()
    box = win.curves.protocol_box
    box.setCurrentIndex(box.findData("xplique"))
    qtbot.waitUntil(lambda: len(win.curves.items["deletion"]["gradcam"].getData()[0]) == 11, timeout=10000)
    wait_explained(qtbot, win)
    _, _, _, raw, curves = expected(tiny_model, image_folder / "img_2.png", "gradcam", protocol="xplique")
    np.testing.assert_allclose(win.curves.items["insertion"]["gradcam"].getData()[1], curves.insertion[0], rtol=1e-4)
    assert win.curves.legend_labels("deletion") == [legend_text(win.explain.results["gradcam"], "deletion")]
    np.testing.assert_array_equal(win.heatmap.overlay_item("gradcam").image, before)  # map reused
    assert win.settings.get("protocol") == "xplique"


def test_hovering_a_curve_point_previews_the_perturbed_image(window_factory, qtbot, image_folder, tiny_model):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    plot = win.curves.plots["deletion"]
    item = win.curves.items["deletion"]["gradcam"]
    xs, ys = item.getData()
    step = 10
    scene_pos = plot.getPlotItem().vb.mapViewToScene(QPointF(float(xs[step]), float(ys[step])))
    with qtbot.waitSignal(win.curves.pointHovered, timeout=3000) as sig:
        plot.scene().sigMouseMoved.emit(scene_pos)
    assert sig.args == ["gradcam", "deletion", step]
    pix = win.curves.preview.pixmap()
    assert pix is not None and not pix.isNull()
    shown = win.explain.preview("gradcam", "deletion", step)
    x = win.explain.x
    # half the pixels (step 10 of 20) are replaced by the reference (zero = mean colour)
    n_changed = int((jobs.display_array(tiny_model, x) != shown).any(-1).sum())
    assert abs(n_changed - 0.5 * x.shape[-1] * x.shape[-2]) <= 0.05 * x.shape[-1] * x.shape[-2]
    assert "50% of pixels removed" in win.curves.preview_caption.text()


def test_display_options_opacity_colormap_visibility_and_cursor_value(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    overlay = win.heatmap.overlay_item("gradcam")
    win.display_controls.opacity.setValue(30)
    assert overlay.opacity() == pytest.approx(0.30)
    win.display_controls.colormap.setCurrentText("viridis")
    assert win.heatmap.colorbar().colorMap().name == "viridis"
    win.display_controls.show_overlay.click()
    assert not overlay.isVisible() and not win.actions.show_overlay.isChecked()
    qtbot.keyClick(win, Qt.Key.Key_H)  # the View > Show heatmap shortcut
    assert overlay.isVisible() and win.display_controls.show_overlay.isChecked()
    # the raw map value under the cursor
    view = win.heatmap._panels[0].view
    pos = view.mapViewToScene(QPointF(5.5, 7.5))  # column 5, row 7
    win.heatmap._graphics.scene().sigMouseMoved.emit(pos)
    raw = win.explain.results["gradcam"].raw[7, 5]
    assert f"raw value {raw:.4g}" in win.heatmap.value_label.text()
    assert win.settings.get("opacity") == pytest.approx(0.30) and win.settings.get("colormap") == "viridis"


def test_keyboard_thumbnails_and_navigation(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder)])
    assert win.thumbnails.count() == 3
    qtbot.mouseClick(win.heatmap, Qt.MouseButton.LeftButton)  # the picture has the keyboard focus
    for key, index in ((Qt.Key.Key_Right, 1), (Qt.Key.Key_PageDown, 2), (Qt.Key.Key_Right, 2),
                       (Qt.Key.Key_Left, 1), (Qt.Key.Key_PageUp, 0)):
        qtbot.keyClick(win, key)
        assert win.images.index == index
    rect = win.thumbnails.visualItemRect(win.thumbnails.item(2))
    qtbot.mouseClick(win.thumbnails.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.images.index == 2 and win.thumbnails.currentRow() == 2
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_2.png"
    assert "img_2.png (3/3)" in win.windowTitle()
