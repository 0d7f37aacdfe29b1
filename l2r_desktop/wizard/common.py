"""Pieces every wizard page uses: the base page (a visible reason while Next is disabled) and a
path field with a Browse button (file questions go through ``dialogs`` so tests can answer)."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget, QWizardPage

from .. import dialogs
from .viewmodel import WizardViewModel

REASON_STYLE = "color: #b00020;"


class ReasonPage(QWizardPage):
    """A page whose Next stays disabled, with the reason shown in red, while ``reason()`` is
    not empty. Subclasses implement ``reason`` and call ``refresh`` when anything changes."""

    def __init__(self, vm: WizardViewModel, title: str, subtitle: str = "") -> None:
        super().__init__()
        self.vm = vm
        self.setTitle(title)
        if subtitle:
            self.setSubTitle(subtitle)
        self.reason_label = QLabel()
        self.reason_label.setObjectName("reason")
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet(REASON_STYLE)
        vm.changed.connect(self.refresh)

    def reason(self) -> str:
        raise NotImplementedError

    def refresh(self) -> None:
        text = self.reason()
        self.reason_label.setText(text)
        self.reason_label.setVisible(bool(text))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt override
        return not self.reason()


class PathField(QWidget):
    """A line edit plus Browse...; ``kind`` is "file" or "folder"."""

    def __init__(self, kind: str, title: str, on_change: Callable[[str], Any], file_filter: str = "All files (*)",
                 placeholder: str = "") -> None:
        super().__init__()
        self.kind, self.title, self.file_filter = kind, title, file_filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.button = QPushButton("Browse...")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        self.edit.textChanged.connect(on_change)
        self.button.clicked.connect(self.browse)

    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        if self.edit.text() != text:
            self.edit.setText(text)

    def browse(self) -> None:
        if self.kind == "folder":
            path = dialogs.ask_open_folder(self, self.edit.text(), self.title)
        else:
            path = dialogs.ask_open_file(self, self.title, self.edit.text(), self.file_filter)
        if path:
            self.edit.setText(path)
