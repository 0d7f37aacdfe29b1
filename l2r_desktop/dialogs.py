"""Every modal dialog the application shows goes through these functions.

Callers use ``dialogs.show_error(...)`` (module attribute, not a from-import) so that tests can
monkeypatch one function and answer or record every dialog without a human.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A critical message box: ``message`` says the cause and the fix; ``details`` holds a trace."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def show_info(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.information(parent, title, message)


COPY_PATH = "Copy path"


def show_path(parent: QWidget | None, title: str, message: str, path: str) -> QMessageBox:
    """An information box about a file, with a "Copy path" button that puts ``path`` on the
    clipboard. Runs through ``run_dialog``, so tests answer it like any application dialog."""
    box = QMessageBox(QMessageBox.Icon.Information, title, message, QMessageBox.StandardButton.Close, parent)
    copy = box.addButton(COPY_PATH, QMessageBox.ButtonRole.ActionRole)
    copy.setToolTip(path)
    copy.clicked.connect(lambda: QApplication.clipboard().setText(path))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # the path can be selected too
    run_dialog(box)
    return box


def ask_open_images(parent: QWidget | None, start_dir: str = "") -> list[str]:
    files, _ = QFileDialog.getOpenFileNames(parent, "Open images", start_dir, IMAGE_FILTER)
    return list(files)


def ask_open_folder(parent: QWidget | None, start_dir: str = "", title: str = "Open a folder of images") -> str:
    return QFileDialog.getExistingDirectory(parent, title, start_dir)


def ask_open_file(parent: QWidget | None, title: str, start_dir: str = "", filter: str = "All files (*)") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, start_dir, filter)
    return path


def ask_save_file(parent: QWidget | None, title: str, start: str = "", filter: str = "All files (*)") -> str:
    """A path to write to ('' when cancelled); ``start`` may name a proposed file."""
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filter)
    return path


def run_dialog(dialog: QWidget) -> int:
    """Runs an application dialog (model, explainer, ...) modally; tests replace this."""
    return int(dialog.exec())  # type: ignore[attr-defined]
