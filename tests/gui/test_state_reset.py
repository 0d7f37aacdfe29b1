"""Nothing of the previous image, class or model stays on screen; unreadable files in a folder are
shown in place of the map (no dialog while browsing); the method fallback goes to the status bar;
browsing a long folder keeps a bounded number of results in memory."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from l2r_core.errors import ConfigError
from l2r_desktop import jobs
from l2r_desktop.jobs import LoadedModel
from l2r_desktop.viewmodels.result_cache import RESULT_CACHE_IMAGES

from .conftest import make_tiny_model, wait_explained, write_image

pytestmark = pytest.mark.gui
CHANGES = ("next image", "other class", "model load")


# -- what a user does ------------------------------------------------------------------------
def press(qtbot: Any, win: Any, key: Qt.Key) -> None:
    qtbot.mouseClick(win.heatmap, Qt.MouseButton.LeftButton)  # the picture has the keyboard focus
    qtbot.keyClick(win, key)


def click_class_row(qtbot: Any, win: Any, row: int) -> None:
    table = win.predictions.table
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def hover_curve_point(qtbot: Any, win: Any, step: int = 10) -> None:
    plot = win.curves.plots["deletion"]
    xs, ys = win.curves.items["deletion"][win.explain.primary].getData()
    pos = plot.getPlotItem().vb.mapViewToScene(QPointF(float(xs[step]), float(ys[step])))
    with qtbot.waitSignal(win.curves.pointHovered, timeout=3000):
        plot.scene().sigMouseMoved.emit(pos)


def hover_map(win: Any) -> None:
    view = win.heatmap._panels[0].view
    win.heatmap._graphics.scene().sigMouseMoved.emit(view.mapViewToScene(QPointF(5.5, 7.5)))


def change(qtbot: Any, win: Any, how: str) -> None:
    if how == "next image":
        press(qtbot, win, Qt.Key.Key_Right)
    elif how == "other class":
        click_class_row(qtbot, win, 1)
    else:
        win.models.set_loaded(LoadedModel(make_tiny_model(seed=3), "test:other"))  # same signals as a load


# -- what is on screen -----------------------------------------------------------------------
def preview_shown(win: Any) -> bool:
    pix = win.curves.preview.pixmap()
    return pix is not None and not pix.isNull()


def assert_preview_cleared(win: Any) -> None:
    assert not preview_shown(win)
    assert win.curves.preview_caption.text() == ""
    assert "Hover a curve" in win.curves.preview.text()


def assert_value_cleared(win: Any) -> None:
    assert "raw value" not in win.heatmap.value_label.text()
    assert win.heatmap.value_label.text() == "Move the pointer over a map to read its value."


@pytest.mark.parametrize("how", CHANGES)
def test_hover_preview_and_raw_value_are_cleared(window_factory, qtbot, image_folder, how):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    hover_curve_point(qtbot, win)
    hover_map(win)
    assert preview_shown(win) and "50% of pixels removed" in win.curves.preview_caption.text()
    assert "raw value" in win.heatmap.value_label.text()
    change(qtbot, win, how)
    assert_preview_cleared(win)  # at once, not only when the new result arrives
    assert_value_cleared(win)
    wait_explained(qtbot, win)
    assert_preview_cleared(win)
    assert_value_cleared(win)
    hover_curve_point(qtbot, win)  # and the preview works again on the new result
    assert preview_shown(win)


@pytest.mark.parametrize("how", CHANGES)
def test_refinement_bar_resets(window_factory, qtbot, image_folder, how):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    controls = win.refine_controls
    controls.steps.setValue(2)
    qtbot.mouseClick(controls.refine, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.explain.refining and controls.bar.value() == 2, timeout=60000)
    assert controls.bar.text() == "2 / 2 steps"
    change(qtbot, win, how)
    assert controls.bar.value() == 0 and controls.bar.text() == "0 / 2 steps"
    wait_explained(qtbot, win)
    assert controls.bar.value() == 0 and controls.bar.maximum() == 2
    assert "step" not in controls.info.text() and controls.refine.isEnabled()


@pytest.mark.parametrize("how", ("next image", "model load"))
def test_top5_highlight_follows_the_marker(window_factory, qtbot, image_folder, how):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    preds = win.predictions
    assert preds.highlighted_row() == preds.marked_row() == 0
    click_class_row(qtbot, win, 1)  # class #2
    assert preds.marked_row() == 1  # the marker moves with the click, before the maps
    wait_explained(qtbot, win)
    assert preds.highlighted_row() == preds.marked_row() == 1
    change(qtbot, win, how)
    wait_explained(qtbot, win)
    assert win.explain.image.target == win.explain.image.predictions[0].index  # top-1 again
    assert preds.highlighted_row() == preds.marked_row() == 0


@pytest.mark.parametrize("how", ("next image", "model load"))
def test_previous_maps_curves_and_predictions_go_at_once(window_factory, qtbot, image_folder, how):
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    assert win.heatmap.panel_keys() == ["gradcam"] and win.predictions.rows()
    change(qtbot, win, how)
    assert win.heatmap.panel_keys() == [] and win.curves.legend_labels("deletion") == []
    assert win.predictions.rows() == [] and win.explain.results == {}
    wait_explained(qtbot, win)
    assert win.heatmap.panel_keys() == ["gradcam"] and len(win.curves.legend_labels("deletion")) == 1


def test_a_corrupt_file_in_a_folder_is_shown_in_place_of_the_map(window_factory, qtbot, image_folder,
                                                                  dialog_log):
    (image_folder / "img_1.png").write_bytes(b"this is not a png")
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    press(qtbot, win, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: win.map_area.currentWidget() is win.map_message, timeout=10000)
    text = win.map_message.text()
    assert text.startswith("Cannot read img_1.png: ") and "Convert it to PNG or JPEG" in text
    assert dialog_log.errors == []  # browsing never stops at a modal dialog
    # nothing of img_0 is left under img_1's name
    assert win.heatmap.panel_keys() == [] and win.curves.legend_labels("deletion") == []
    assert win.predictions.rows() == [] and win.explain.results == {}
    assert "img_1.png (2/3)" in win.windowTitle()
    assert not win.actions.save_result.isEnabled() and not win.actions.copy_image.isEnabled()
    # the strip stays usable: the bad file has a placeholder, the others still open
    qtbot.waitUntil(lambda: 1 in win.thumbnails.unreadable, timeout=5000)
    assert not win.thumbnails.item(1).icon().isNull() and "cannot be read" in win.thumbnails.item(1).toolTip()
    assert win.map_message.hasFocus()  # the keyboard stays in the map area ...
    qtbot.keyClick(win.map_message, Qt.Key.Key_Right)  # ... where Right still goes to the next image
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_2.png" and win.map_area.currentWidget() is win.heatmap
    rect = win.thumbnails.visualItemRect(win.thumbnails.item(1))
    qtbot.mouseClick(win.thumbnails.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.map_area.currentWidget() is win.map_message, timeout=10000)
    assert win.heatmap.panel_keys() == [] and dialog_log.errors == []


def test_opening_one_bad_file_from_the_menu_still_explains_in_a_dialog(window_factory, qtbot, tmp_path,
                                                                       dialog_log):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG truncated")
    win = window_factory()
    dialog_log.open_images = [str(bad)]
    win.actions.open_images.trigger()
    qtbot.waitUntil(lambda: bool(dialog_log.errors), timeout=10000)
    title, message = dialog_log.errors[0]
    assert title == "Cannot read image" and "broken.png" in message
    assert "broken.png" in win.map_message.text() and win.map_area.currentWidget() is win.map_message


def test_the_method_fallback_is_a_status_message_not_a_dialog(window_factory, qtbot, image_folder, dialog_log,
                                                              monkeypatch):
    real = jobs.compute_map

    def refuse_gradcam(model, explainer, method, *args, **kwargs):
        if method == "gradcam":
            raise ConfigError("Grad-CAM's hooks cannot attach to this model.")
        return real(model, explainer, method, *args, **kwargs)

    monkeypatch.setattr(jobs, "compute_map", refuse_gradcam)
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    qtbot.waitUntil(lambda: win.explain.primary not in ("", "gradcam"), timeout=20000)
    message = win.statusBar().currentMessage()
    fallback = win.explain.title(win.explain.primary)
    assert message.startswith("Grad-CAM is not possible with this model: Grad-CAM's hooks cannot attach")
    assert f"Showing {fallback} instead." in message
    wait_explained(qtbot, win, timeout=60000)
    assert dialog_log.errors == [] and win.heatmap.panel_keys() == [win.explain.primary]


def test_browsing_30_images_keeps_a_bounded_cache(window_factory, qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        write_image(folder / f"p{i:02d}.png", i)
    win = window_factory(paths=[str(folder)])
    wait_explained(qtbot, win)
    sizes = []
    for _ in range(29):
        press(qtbot, win, Qt.Key.Key_Right)
        wait_explained(qtbot, win)
        sizes.append(len(win.explain.cache))
    assert win.images.index == 29
    assert max(sizes) == RESULT_CACHE_IMAGES  # filled, then bounded
    keys = [path.name for path, _target in win.explain.cache.keys()]
    assert keys == [f"p{i:02d}.png" for i in range(29 - RESULT_CACHE_IMAGES, 29)]  # the most recent ones
    # going back shows the kept maps at once, before any computation
    kept = win.explain.cache.get((folder / "p28.png", None)).find("gradcam", {}).raw.copy()
    press(qtbot, win, Qt.Key.Key_Left)
    assert win.heatmap.panel_keys() == ["gradcam"]
    np.testing.assert_array_equal(win.explain.results["gradcam"].raw, kept)
    wait_explained(qtbot, win)
    assert len(win.explain.cache) <= RESULT_CACHE_IMAGES
    win.models.set_loaded(LoadedModel(make_tiny_model(seed=4), "test:other"))  # other model: nothing kept
    assert len(win.explain.cache) == 0
    wait_explained(qtbot, win)
