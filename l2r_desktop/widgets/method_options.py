"""The primary method's options as a form, built from the options the method declares in the
registry (``OptionSpec``): no method has a hand-written panel."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QSpinBox,
                               QVBoxLayout, QWidget)

from l2r_core.attribution.registry import OptionSpec

from ..viewmodels.state import OptionsState

AUTOMATIC = "automatic"  # the layer entry that lets the method choose (value None)


class MethodOptionsPanel(QGroupBox):
    """Call ``set_state``; a user's change is emitted as ``optionChosen(name, value)``."""

    optionChosen = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Method options", parent)
        self.fields: dict[str, QWidget] = {}
        self.state = OptionsState()
        self._form_widget = QWidget()
        self._box = QVBoxLayout(self)
        self._box.addWidget(self._form_widget)
        self.setVisible(False)  # until a method with options is chosen

    def set_state(self, state: OptionsState) -> None:
        shape = (state.method, state.specs, state.layers)
        if shape != (self.state.method, self.state.specs, self.state.layers):
            self._build(state)
        self.state = state
        for spec in state.specs:
            self._show_value(spec, state.values.get(spec.name, spec.default))
        self.setTitle(f"{state.title} options" if state.title else "Method options")
        self.setVisible(bool(state.specs))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Scrolling the side panel past a field must not change it (each change re-explains).
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            return True
        return super().eventFilter(watched, event)

    def layer_names(self) -> list[str]:
        """The entries of the layer list, as shown ("automatic" first)."""
        combo = next((w for w in self.fields.values() if isinstance(w, QComboBox) and w.property("layer")), None)
        return [combo.itemText(i) for i in range(combo.count())] if combo is not None else []

    # -- building --------------------------------------------------------------------------
    def _build(self, state: OptionsState) -> None:
        old = self._form_widget
        self._box.removeWidget(old)
        old.deleteLater()
        self._form_widget = QWidget()
        form = QFormLayout(self._form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        self.fields = {}
        for spec in state.specs:
            field = self._field(spec, state.layers)
            field.setToolTip(spec.help)
            field.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # Left/Right stay with image browsing
            field.installEventFilter(self)
            label = QLabel(spec.title)
            label.setToolTip(spec.help)
            form.addRow(label, field)
            self.fields[spec.name] = field
        self._box.addWidget(self._form_widget)

    def _field(self, spec: OptionSpec, layers: tuple[str, ...]) -> QWidget:
        emit = lambda value, name=spec.name: self.optionChosen.emit(name, value)  # noqa: E731
        if spec.kind in ("int", "float"):
            low = spec.minimum if spec.minimum is not None else -1e9
            high = spec.maximum if spec.maximum is not None else 1e9
            spin: QSpinBox | QDoubleSpinBox
            if spec.kind == "int":
                spin = QSpinBox()
                spin.setRange(int(max(low, -2**31)), int(min(high, 2**31 - 1)))
            else:
                spin = QDoubleSpinBox()
                spin.setRange(float(low), float(high))
            spin.setKeyboardTracking(False)  # typing 128 explains once, not for 1, 12 and 128
            spin.valueChanged.connect(emit)
            return spin
        if spec.kind == "bool":
            box = QCheckBox()
            box.toggled.connect(emit)
            return box
        combo = QComboBox()
        if spec.kind == "layer":
            combo.setProperty("layer", True)
            combo.addItem(AUTOMATIC, None)
            for name in layers:
                combo.addItem(name, name)
            combo.setMaxVisibleItems(20)
            if not layers:
                combo.setToolTip(f"{spec.help}\n(The model's layers are being listed, or it allows none.)")
        else:
            for choice in spec.choices:
                combo.addItem(str(choice), choice)
        combo.currentIndexChanged.connect(lambda i, c=combo: emit(c.itemData(i)))
        return combo

    def _show_value(self, spec: OptionSpec, value: Any) -> None:
        """Show ``value`` without emitting (the view-model already has it)."""
        field = self.fields.get(spec.name)
        if field is None:
            return
        field.blockSignals(True)
        if isinstance(field, (QSpinBox, QDoubleSpinBox)):
            field.setValue(value)
        elif isinstance(field, QCheckBox):
            field.setChecked(bool(value))
        elif isinstance(field, QComboBox):
            i = 0 if value is None else field.findData(value)  # None: the "automatic" entry
            field.setCurrentIndex(max(i, 0))
        field.blockSignals(False)
