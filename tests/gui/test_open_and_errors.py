"""Opening images (menu, drag and drop, recent folders) and failures shown as dialogs."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from l2r_desktop import jobs
from l2r_desktop.settings import AppSettings

from .conftest import wait_explained, write_image

pytestmark = pytest.mark.gui


def test_open_images_and_folder_from_the_menu_and_remember_recent_folders(window_factory, qtbot, image_folder,
                                                                           dialog_log, tmp_path):
    win = window_factory()
    dialog_log.open_images = [str(image_folder / "img_2.png"), str(image_folder / "img_0.png")]
    win.actions.open_images.trigger()
    assert [p.name for p in win.images.paths] == ["img_2.png", "img_0.png"]
    assert win.thumbnails.count() == 2
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_2.png"
    dialog_log.open_folder = str(image_folder)
    win.actions.open_folder.trigger()
    assert [p.name for p in win.images.paths] == ["img_0.png", "img_1.png", "img_2.png"]
    recent = [a.text() for a in win.actions.recent_menu.actions()]
    assert recent == [str(image_folder.resolve())]
    # remembered across sessions (same settings file)
    assert AppSettings(tmp_path / "settings.ini").recent_folders() == [str(image_folder.resolve())]
    win.actions.recent_menu.actions()[0].trigger()
    assert len(win.images.paths) == 3


def drop(win, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(win.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(win.rect().center()), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, event)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # QDragEnterEvent has only the QPoint overload
def test_drag_and_drop_a_folder_or_files(window_factory, qtbot, image_folder):
    win = window_factory()
    drop(win, [image_folder])
    assert [p.name for p in win.images.paths] == ["img_0.png", "img_1.png", "img_2.png"]
    drop(win, [image_folder / "img_1.png"])
    assert [p.name for p in win.images.paths] == ["img_1.png"]
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_1.png"


def test_unreadable_image_in_a_folder_is_explained_in_place_and_the_window_survives(window_factory, qtbot,
                                                                                    image_folder, dialog_log):
    (image_folder / "img_1.png").write_bytes(b"this is not a png")
    win = window_factory(paths=[str(image_folder)])
    wait_explained(qtbot, win)
    win.images.next()  # browsing: the reason replaces the map, no modal dialog
    qtbot.waitUntil(lambda: win.map_area.currentWidget() is win.map_message, timeout=10000)
    message = win.map_message.text()
    assert "img_1.png" in message and "Convert it to PNG or JPEG" in message and dialog_log.errors == []
    win.images.next()  # the window keeps working
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_2.png" and dialog_log.errors == []


def test_opening_nothing_useful_explains_why(window_factory, dialog_log, tmp_path):
    win = window_factory()
    (tmp_path / "notes.txt").write_text("hello")
    assert not win.open_paths([str(tmp_path / "notes.txt")])
    assert dialog_log.errors[0][0] == "Nothing to open" and "notes.txt" in dialog_log.errors[0][1]


def test_out_of_memory_is_explained_with_a_fix(window_factory, qtbot, image_folder, dialog_log, monkeypatch):
    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(jobs, "compute_map", oom)
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    qtbot.waitUntil(lambda: bool(dialog_log.errors), timeout=10000)
    title, message = dialog_log.errors[0]
    assert title == "Out of memory" and "switch the device to CPU" in message
    assert win.isVisible() and not win.runner.busy


def test_device_menu_and_status_bar(window_factory, qtbot, image_folder, tmp_path):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    cuda = win.actions.devices["cuda"]
    if not win.models.cuda_available():
        assert not cuda.isEnabled() and "GPU" in cuda.toolTip()
    win.actions.devices["cpu"].trigger()
    qtbot.waitUntil(lambda: "(cpu)" in win.device_label.text(), timeout=10000)
    assert win.actions.devices["cpu"].isChecked()
    assert AppSettings(tmp_path / "settings.ini").get("device") == "cpu"
    wait_explained(qtbot, win)


def test_tools_are_hooked_in_the_menus(window_factory):
    win = window_factory()
    for act in (win.actions.export, win.actions.wizard):
        assert act.isEnabled() and "Not available" not in act.toolTip()  # both tools ship with the app
    assert win.actions.export.text() == "Export folder..." and win.actions.wizard.text() == "Fine-tune explainer..."


def test_settings_persist_across_windows(window_factory, qtbot, image_folder, tmp_path):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    win.display_controls.colormap.setCurrentText("magma")
    win.display_controls.opacity.setValue(80)
    win.method_controls.compare_item("ig").setCheckState(Qt.CheckState.Checked)
    win.resize(760, 560)  # fits the offscreen test screen (800x800)
    wait_explained(qtbot, win)
    win.close()
    again = window_factory(settings_=AppSettings(tmp_path / "settings.ini"))
    assert again.display_controls.colormap.currentText() == "magma"
    assert again.display_controls.opacity.value() == 80
    assert again.explain.compare == ["ig"] and again.explain.primary == "gradcam"
    assert (again.width(), again.height()) == (760, 560)
    assert again.images.last_folder() == str(image_folder)
    assert again.heatmap.panel_keys() == []  # nothing opened yet: no map shown
    write_image(tmp_path / "extra.png", 9)
    again.open_paths([str(tmp_path / "extra.png")])
    wait_explained(qtbot, again)
    assert again.heatmap.panel_keys() == ["gradcam", "ig"]
