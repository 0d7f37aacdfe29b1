"""The settings page's collapsible "Advanced" section: the method's published settings, pre-filled
from TrainConfig's defaults (never copied here), and an optional JSON config file."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from l2r_core.metrics.references import REFERENCE_KINDS

from .common import PathField
from .options import ADVANCED, default_of
from .viewmodel import WizardViewModel


class AdvancedSection(QWidget):
    def __init__(self, vm: WizardViewModel) -> None:
        super().__init__()
        self.vm = vm
        self.toggle = QToolButton()
        self.toggle.setText("Advanced (the method's published settings)")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.body = QWidget()
        self.body.setVisible(False)
        form = QFormLayout(self.body)
        self.editors: dict[str, Any] = {}
        for key, label in ADVANCED:
            self.editors[key] = editor = self._editor(key)
            form.addRow(label, editor)
        self.extra = PathField("file", "Extra config file", lambda t: vm.update(extra_config=t),
                               "JSON (*.json);;All files (*)", "optional: a JSON file of further settings")
        form.addRow("Config file", self.extra)
        self.reset = QPushButton("Restore the method's defaults")
        form.addRow("", self.reset)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.toggle)
        box.addWidget(self.body)
        self.toggle.toggled.connect(self.set_expanded)
        self.reset.clicked.connect(self.restore_defaults)

    def set_expanded(self, on: bool) -> None:
        self.toggle.setChecked(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    def _editor(self, key: str) -> QWidget:
        default = default_of(key)
        if key == "loss.references":
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            for kind in REFERENCE_KINDS:
                box = QCheckBox(kind)
                box.toggled.connect(lambda _on: self._emit_references())
                lay.addWidget(box)
            return row
        if isinstance(default, int):
            spin: QSpinBox | QDoubleSpinBox = QSpinBox()
            spin.setRange(0 if "every" in key else 1, 10_000_000)
        else:
            spin = QDoubleSpinBox()
            spin.setDecimals(5)
            spin.setRange(0.0, 1000.0)
            spin.setSingleStep(0.1 if default >= 0.1 else default or 0.001)
        spin.valueChanged.connect(lambda v, k=key: self.vm.set_advanced(k, type(default_of(k))(v)))
        return spin

    def _emit_references(self) -> None:
        boxes = self.editors["loss.references"].findChildren(QCheckBox)
        self.vm.set_advanced("loss.references", [b.text() for b in boxes if b.isChecked()])

    def load(self) -> None:
        """Show the view-model's values."""
        adv = self.vm.opts.advanced
        for key, editor in self.editors.items():
            if key == "loss.references":
                for box in editor.findChildren(QCheckBox):
                    box.setChecked(box.text() in adv[key])
            else:
                editor.setValue(adv[key])
        self.extra.set_text(self.vm.opts.extra_config)

    def restore_defaults(self) -> None:
        for key, _ in ADVANCED:
            self.vm.opts.advanced[key] = default_of(key)
        self.load()
        self.vm.changed.emit()
