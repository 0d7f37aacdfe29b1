"""The behaviour every load dialog shares: OK validates the fields, then waits for the view-model's
answer to *this* request; a refusal is shown inside the dialog, which closes only on success."""
from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from ..viewmodels.model import ModelViewModel


def path_row(edit: QLineEdit, browse: QPushButton) -> QWidget:
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return w


class LoadingDialog(QDialog):
    """Shared behaviour: OK validates, then waits for the view-model's answer for *this* request."""

    def __init__(self, vm: ModelViewModel, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.vm = vm
        self.origin = f"{type(self).__name__}-{id(self)}"
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Load")
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        vm.loadFailed.connect(self._on_failed)
        vm.loadSucceeded.connect(self._on_succeeded)
        self.waiting = False

    def validate(self) -> str:
        """'' when the fields are fine, else what is wrong and how to fix it."""
        raise NotImplementedError

    def start_load(self) -> None:
        raise NotImplementedError

    def try_accept(self) -> None:
        problem = self.validate()
        if problem:
            self.error_label.setText(problem)
            return
        self.error_label.setText("Loading... (the window stays usable)")
        self.waiting = True
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.start_load()

    def _on_failed(self, title: str, message: str, _details: str, origin: str) -> None:
        if origin == self.origin:
            self.waiting = False
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
            self.error_label.setText(f"{title}: {message}")

    def _on_succeeded(self, origin: str) -> None:
        if origin == self.origin:
            self.waiting = False
            self.accept()

    def done(self, result: int) -> None:
        for sig, slot in ((self.vm.loadFailed, self._on_failed), (self.vm.loadSucceeded, self._on_succeeded)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        super().done(result)


