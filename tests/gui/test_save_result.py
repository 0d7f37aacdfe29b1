"""File > Save current result and Edit > Copy image write exactly what the window shows; the export's
report says where it is when no browser opens; ``--model`` on the command line starts on that model."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from l2r_core.batch.render import curves_image
from l2r_core.render import colorize, normalize_map, overlay
from l2r_desktop import app as app_module
from l2r_desktop import dialogs, export_dialog
from l2r_desktop.export_dialog import ExportDialog, ExportRequest
from l2r_desktop.export_worker import ExportOutcome
from l2r_desktop.viewmodels.model import ModelViewModel

from ..core.test_export_support import tiny_weights  # noqa: F401
from .conftest import CLASSES, wait_explained

pytestmark = pytest.mark.gui
SUFFIXES = ("_map.npy", "_overlay.png", "_map.png", "_curves.csv", "_curves.png", "_result.json")


def qimage_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = img.height(), img.width(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8).reshape(h, stride)[:, : 3 * w].reshape(h, w, 3).copy()


def test_save_current_result_writes_what_the_window_shows(window_factory, qtbot, image_folder, dialog_log,
                                                          tmp_path):
    win = window_factory(paths=[str(image_folder / "img_1.png")])
    wait_explained(qtbot, win)
    assert win.actions.save_result.isEnabled() and win.actions.save_result.text() == "Save current result..."
    win.display_controls.colormap.setCurrentText("viridis")
    win.display_controls.opacity.setValue(40)
    out = tmp_path / "saved"
    dialog_log.open_folder = str(out)
    qtbot.mouseClick(win.heatmap, Qt.MouseButton.LeftButton)
    qtbot.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # File > Save current result...
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"img_1_gradcam{s}" for s in SUFFIXES)  # six files, no temporary leftovers
    assert "Saved 6 files" in win.statusBar().currentMessage()
    shown = win.explain.results["gradcam"]
    image = win.explain.image
    # the raw map is the one on screen
    raw = np.load(out / "img_1_gradcam_map.npy")
    np.testing.assert_array_equal(raw, shown.raw)
    np.testing.assert_allclose(win.heatmap.overlay_item("gradcam").image, normalize_map(raw), atol=1e-6)
    # pictures: the screen's colour map and opacity over the picture the model saw
    display = Image.fromarray(image.display)
    assert np.array_equal(np.asarray(Image.open(out / "img_1_gradcam_overlay.png")),
                          np.asarray(overlay(display, raw, 0.40, "viridis")))
    assert np.array_equal(np.asarray(Image.open(out / "img_1_gradcam_map.png")), np.asarray(colorize(raw, "viridis")))
    assert np.array_equal(np.asarray(Image.open(out / "img_1_gradcam_curves.png")),
                          np.asarray(curves_image(shown.curves.row())))
    # curves: the plotted points
    with open(out / "img_1_gradcam_curves.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    xs, deletion = win.curves.items["deletion"]["gradcam"].getData()
    _, insertion = win.curves.items["insertion"]["gradcam"].getData()
    np.testing.assert_allclose([float(r["fraction"]) for r in rows], xs)
    np.testing.assert_allclose([float(r["deletion"]) for r in rows], deletion)
    np.testing.assert_allclose([float(r["insertion"]) for r in rows], insertion)
    # the summary: model, method, options, class, and the AUCs of the legend
    meta = json.loads((out / "img_1_gradcam_result.json").read_text(encoding="utf-8"))
    assert meta["model"]["spec"] == "test:resnet10t" and meta["method"] == {"name": "gradcam", "title": "Grad-CAM"}
    assert meta["target"] == {"index": image.target, "name": CLASSES[image.target]}
    assert meta["options"]["protocol"] == win.explain.protocol and meta["options"]["colormap"] == "viridis"
    assert meta["options"]["overlay_alpha"] == pytest.approx(0.40)
    assert meta["deletion_auc"] == shown.curves.deletion_auc and meta["insertion_auc"] == shown.curves.insertion_auc
    assert win.curves.legend_labels("deletion") == [f"Grad-CAM: AUC {meta['deletion_auc']:.3f}"]
    assert dialog_log.errors == []


def test_save_into_a_place_that_cannot_be_written_names_it(window_factory, qtbot, image_folder, dialog_log,
                                                           tmp_path):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    dialog_log.open_folder = str(blocker / "inside")
    win.actions.save_result.trigger()
    title, message = dialog_log.errors[0]
    assert title == "Cannot save result" and str(blocker / "inside") in message and "Fix:" in message
    dialog_log.open_folder = ""  # Cancel in the folder dialog: nothing happens
    win.actions.save_result.trigger()
    assert len(dialog_log.errors) == 1


def test_copy_image_puts_the_overlay_on_the_clipboard(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_2.png")])
    assert not win.actions.copy_image.isEnabled()  # nothing to copy before the map is shown
    wait_explained(qtbot, win)
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(win.heatmap, Qt.MouseButton.LeftButton)
    qtbot.keyClick(win, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)  # Edit > Copy image
    copied = QGuiApplication.clipboard().image()
    h, w = win.explain.image.display.shape[:2]
    assert (copied.width(), copied.height()) == (w, h) == win.heatmap.overlay_item("gradcam").image.shape[::-1]
    expected = overlay(Image.fromarray(win.explain.image.display), win.explain.results["gradcam"].raw,
                       win.view.opacity, win.view.colormap)
    np.testing.assert_array_equal(qimage_rgb(copied), np.asarray(expected))


def test_report_without_a_browser_says_where_it_is_and_copies_the_path(qtbot, tmp_path, dialog_log, monkeypatch):
    out = tmp_path / "export"
    out.mkdir()
    (out / "report.html").write_text("<html></html>")
    if QGuiApplication.platformName() != "offscreen":  # offscreen has no browser; elsewhere pretend so
        monkeypatch.setattr(export_dialog, "open_in_browser", lambda path: False)
    seen: list[str] = []

    def copy_path(box) -> int:
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text() == dialogs.COPY_PATH)
        button.click()
        return 0

    dialog_log.run = copy_path
    dlg = ExportDialog(ExportRequest(str(tmp_path), str(out), "demo-cnn", "", "", "cpu", ["gradcam"]))
    dlg.show()
    qtbot.waitExposed(dlg)
    dlg.vm._on_finished(ExportOutcome(out, computed=1))  # as when an export has just finished
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(dlg.report_button, Qt.MouseButton.LeftButton)
    assert len(seen) == 1 and str(out / "report.html") in seen[0] and "browser" in seen[0]
    assert QGuiApplication.clipboard().text() == str(out / "report.html")
    assert dialog_log.errors == []
    dlg.close()


def test_model_on_the_command_line_is_loaded(qtbot, image_folder, tmp_path, capsys, monkeypatch,
                                             tiny_weights):  # noqa: F811
    loaded: list[str] = []
    real = ModelViewModel._on_loaded

    def record(self, bundle, origin=""):
        loaded.append(bundle.spec)
        real(self, bundle, origin)

    monkeypatch.setattr(ModelViewModel, "_on_loaded", record)
    monkeypatch.setattr(ModelViewModel, "load_demo", lambda *a, **k: pytest.fail("the demo model was loaded"))
    code = app_module.main(["--self-test", "--settings", str(tmp_path / "s.ini"), "--model", "timm:resnet10t",
                            "--weights", str(tiny_weights), str(image_folder / "img_0.png")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert loaded == ["timm:resnet10t"] and "self-test ok" in out


def test_model_flags_without_a_model_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        app_module.parse_args(["--weights", "w.safetensors"])
    assert exit_info.value.code == 2 and "add --model SPEC" in capsys.readouterr().err


def test_window_shows_and_saves_exactly_what_the_cli_writes(window_factory, qtbot, tmp_path, dialog_log,
                                                            tiny_weights):  # noqa: F811
    """One model (its card crops), one photo: the map and overlay of the GUI equal `l2r explain`'s."""
    from l2r_core.models.loading import load_model
    from l2r_desktop.jobs import LoadedModel
    from l2r_training.cli import main as cli_main

    from .conftest import write_image

    image = write_image(tmp_path / "photo.png", seed=5, size=(60, 44))
    cli_out = tmp_path / "cli"
    assert cli_main(["explain", str(image), "--model", "timm:resnet10t", "--weights", str(tiny_weights),
                     "--method", "gradcam", "--out", str(cli_out)]) == 0
    loaded = LoadedModel(load_model("timm:resnet10t", weights=tiny_weights), "timm:resnet10t")
    win = window_factory(model=loaded, paths=[str(image)])
    wait_explained(qtbot, win)
    win.display_controls.colormap.setCurrentText("inferno")  # the CLI's overlay: inferno at 0.5
    win.display_controls.opacity.setValue(50)
    cli_map = np.load(cli_out / "photo.npy")
    cli_png = np.asarray(Image.open(cli_out / "photo.png"))
    # on screen: the same picture under the same map
    np.testing.assert_array_equal(win.explain.results["gradcam"].raw, cli_map)
    assert win.explain.image.display.shape == cli_png.shape
    # saved: the same files' content
    dialog_log.open_folder = str(tmp_path / "gui")
    win.actions.save_result.trigger()
    np.testing.assert_array_equal(np.load(tmp_path / "gui" / "photo_gradcam_map.npy"), cli_map)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "gui" / "photo_gradcam_overlay.png")), cli_png)
