"""The export dialog: exports a folder in the background, Cancel stops it, the report opens,
and the window that owns it can close while it runs."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from l2r_core.batch import run as export_run
from l2r_desktop import export_dialog
from l2r_desktop.export_dialog import ExportDialog, ExportRequest, open_dialog

from ..core.test_export_support import make_images, tiny_weights  # noqa: F401

pytestmark = pytest.mark.gui


COMMIT = export_run.write_item


def _slow_commits(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every item commit of the export waits ``seconds`` first, so the test can act mid-run."""
    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(seconds)
        return COMMIT(*args, **kwargs)

    monkeypatch.setattr(export_run, "write_item", slow)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _dialog(qtbot, images: Path, out: Path, weights: Path) -> ExportDialog:
    req = ExportRequest(str(images), str(out), "timm:resnet10t", str(weights), "", "cpu", ["gradcam"])
    dlg = ExportDialog(req)
    dlg.show()
    qtbot.waitExposed(dlg)
    return dlg


def _close(dlg: ExportDialog) -> None:
    runner = dlg.vm.runner
    dlg.close()
    assert not runner.thread_running()


def test_dialog_exports_a_folder_and_opens_the_report(qtbot, tmp_path, tiny_weights, monkeypatch):
    images, out = tmp_path / "imgs", tmp_path / "out"
    make_images(images, 3)
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    opened: list[Path] = []
    monkeypatch.setattr(export_dialog, "open_report_file", opened.append)
    dlg = _dialog(qtbot, images, out, tiny_weights)
    assert [n for n, b in dlg.method_boxes.items() if b.isChecked()] == ["gradcam"]
    assert not dlg.report_button.isEnabled()
    with qtbot.waitSignal(dlg.vm.finished, timeout=180000):
        qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
        assert dlg.cancel_button.isEnabled() and not dlg.start_button.isEnabled()
    rows = _rows(out)
    assert [r["status"] for r in rows].count("ok") == 3 and rows[0]["image"] == "broken.png"
    assert rows[0]["status"].startswith("error: ")
    assert dlg.bar.value() == dlg.bar.maximum() == 4
    assert "Done: 4 computed, 0 already done, 1 errors" in dlg.status.text()
    assert "broken.png (gradcam): error" in dlg.log.text()
    qtbot.mouseClick(dlg.report_button, Qt.MouseButton.LeftButton)
    assert opened == [out / "report.html"] and opened[0].is_file()
    _close(dlg)


def test_cancel_stops_the_export_and_a_second_run_resumes(qtbot, tmp_path, tiny_weights, monkeypatch):
    images, out = tmp_path / "imgs", tmp_path / "out"
    make_images(images, 8)
    _slow_commits(monkeypatch, 0.3)
    dlg = _dialog(qtbot, images, out, tiny_weights)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.bar.maximum() == 8 and dlg.bar.value() >= 1, timeout=180000)
    with qtbot.waitSignal(dlg.vm.cancelled, timeout=90000):
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    assert "Cancelled" in dlg.status.text() and dlg.start_button.isEnabled()
    done = len(_rows(out))
    assert 1 <= done < 8  # the outputs were rebuilt from the finished items
    monkeypatch.setattr(export_run, "write_item", COMMIT)
    with qtbot.waitSignal(dlg.vm.finished, timeout=180000):
        dlg.start()
    assert dlg.vm.outcome.skipped == done and dlg.vm.outcome.computed == 8 - done
    assert len(_rows(out)) == 8
    _close(dlg)


def test_open_dialog_from_the_window_and_close_the_window_while_exporting(
        qtbot, window_factory, image_folder, tmp_path, tiny_weights, monkeypatch):
    win = window_factory(paths=[str(image_folder)])
    dlg = open_dialog(win)
    assert open_dialog(win) is dlg  # one per window
    assert dlg.images.text() == str(image_folder) and dlg.out.text() == str(image_folder) + "-export"
    assert dlg.spec.text() == "test:resnet10t"  # the window's model spec
    # a model that cannot be loaded is reported, and the dialog stays usable
    from l2r_desktop import dialogs
    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message, details="": errors.append((title, message)))
    with qtbot.waitSignal(dlg.vm.failed, timeout=90000):
        dlg.start()
    assert errors and "test:resnet10t" in errors[0][1] and dlg.start_button.isEnabled()
    # now a real export; the window closes in the middle of it
    dlg.spec.setText("timm:resnet10t")
    dlg.weights.setText(str(tiny_weights))
    dlg.out.setText(str(tmp_path / "out"))
    _slow_commits(monkeypatch, 0.5)
    dlg.start()
    qtbot.waitUntil(lambda: dlg.bar.maximum() == 3 and dlg.bar.value() >= 1, timeout=180000)
    runner = dlg.vm.runner
    win.close()  # the dialog closes with it: the export is cancelled and its thread stops
    assert not runner.thread_running()
    assert 1 <= len(_rows(tmp_path / "out")) < 3
