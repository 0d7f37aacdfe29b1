"""Side-panel controls: method and comparison, display options, refinement."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from l2r_core.render import COLORMAPS, DEFAULT_DISPLAY_MODE, DISPLAY_MODES

from ..viewmodels.state import MethodChoice


class MethodControls(QGroupBox):
    primaryChosen = Signal(str)
    compareChosen = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Attribution method", parent)
        self.primary = QComboBox()
        self.primary.setToolTip("The method whose map is shown first and refined.")
        self.primary.activated.connect(lambda i: self.primaryChosen.emit(str(self.primary.itemData(i))))
        self.compare = QListWidget()
        self.compare.setToolTip("Tick methods to show side by side, on the same colour scale.")
        self.compare.setMaximumHeight(96)
        self.compare.itemChanged.connect(self._on_compare)
        self._updating = False
        for w in (self.primary, self.compare):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # Left/Right stay with image browsing
        form = QVBoxLayout(self)
        form.addWidget(self.primary)
        form.addWidget(QLabel("Compare with:"))
        form.addWidget(self.compare)

    def set_choices(self, choices: list[MethodChoice]) -> None:
        self._updating = True
        self.primary.clear()
        self.compare.clear()
        model = self.primary.model()
        for c in choices:
            self.primary.addItem(c.display_name, c.name)
            row = self.primary.count() - 1
            if isinstance(model, QStandardItemModel):
                model.item(row).setEnabled(c.enabled)
            self.primary.setItemData(row, c.reason or c.display_name, Qt.ItemDataRole.ToolTipRole)
            item = QListWidgetItem(c.display_name)
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            item.setToolTip(c.reason or f"Show {c.display_name} next to the main method.")
            flags = Qt.ItemFlag.ItemIsUserCheckable | (Qt.ItemFlag.ItemIsEnabled if c.enabled else Qt.ItemFlag.NoItemFlags)
            item.setFlags(flags)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.compare.addItem(item)
            item.setHidden(not c.enabled)  # unavailable ones stay listed, greyed, in the main selector
        self._updating = False

    def set_selection(self, primary: str, compare: list[str]) -> None:
        self._updating = True
        i = self.primary.findData(primary)
        if i >= 0:
            self.primary.setCurrentIndex(i)
        for row in range(self.compare.count()):
            item = self.compare.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            item.setCheckState(Qt.CheckState.Checked if name in compare else Qt.CheckState.Unchecked)
            item.setHidden(name == primary or not (item.flags() & Qt.ItemFlag.ItemIsEnabled))
        self._updating = False

    def compare_item(self, name: str) -> QListWidgetItem | None:
        for row in range(self.compare.count()):
            if self.compare.item(row).data(Qt.ItemDataRole.UserRole) == name:
                return self.compare.item(row)
        return None

    def _on_compare(self, _item: QListWidgetItem) -> None:
        if self._updating:
            return
        names = [self.compare.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.compare.count())
                 if self.compare.item(r).checkState() == Qt.CheckState.Checked]
        self.compareChosen.emit(names)


class DisplayControls(QGroupBox):
    colormapChosen = Signal(str)
    modeChosen = Signal(str)  # a DISPLAY_MODES key
    opacityChosen = Signal(float)
    overlayToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.currentTextChanged.connect(self.colormapChosen)
        self.mode = QComboBox()
        for key, label in DISPLAY_MODES.items():
            self.mode.addItem(label, key)
        self.mode.setToolTip("Which values to show. 'As computed': the method's own values, highest first "
                             "(the order the curves use). Absolute/positive/negative: that part of the map. "
                             "Signed: negative blue, zero white, positive red (for signed methods such as "
                             "Integrated Gradients).")
        self.mode.currentIndexChanged.connect(lambda i: self.modeChosen.emit(str(self.mode.itemData(i))))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the heatmap over the picture.")
        self.opacity.valueChanged.connect(lambda v: self.opacityChosen.emit(v / 100.0))
        self.show_overlay = QCheckBox("Show heatmap")
        self.show_overlay.toggled.connect(self.overlayToggled)
        for w in self._inputs():
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        form = QFormLayout(self)
        form.addRow("Values", self.mode)
        form.addRow("Colormap", self.colormap)
        form.addRow("Opacity", self.opacity)
        form.addRow(self.show_overlay)
        self.set_mode(DEFAULT_DISPLAY_MODE)

    def _inputs(self) -> tuple[QWidget, ...]:
        return (self.mode, self.colormap, self.opacity, self.show_overlay)

    def set_values(self, colormap: str, opacity: float, visible: bool, mode: str | None = None) -> None:
        for w in self._inputs():
            w.blockSignals(True)
        self.colormap.setCurrentText(colormap)
        self.opacity.setValue(int(round(opacity * 100)))
        self.show_overlay.setChecked(visible)
        for w in self._inputs():
            w.blockSignals(False)
        if mode is not None:
            self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """Show ``mode`` without emitting; signed maps always use the diverging map, so the colormap
        choice is greyed out meanwhile."""
        i = self.mode.findData(mode)
        if i >= 0:
            self.mode.blockSignals(True)
            self.mode.setCurrentIndex(i)
            self.mode.blockSignals(False)
        signed = mode == "signed"
        self.colormap.setEnabled(not signed)
        self.colormap.setToolTip("Signed maps use the blue-white-red diverging map (zero is white)." if signed
                                 else "Colour map of unsigned maps (shared by all panels and the colour bar).")


class RefineControls(QGroupBox):
    refineClicked = Signal(int)  # steps
    cancelClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Test-time refinement", parent)
        self.steps = QSpinBox()
        self.steps.setRange(1, 50)
        self.steps.setValue(10)
        self.steps.setSuffix(" steps")
        self.refine = QPushButton("Refine")
        self.refine.clicked.connect(lambda: self.refineClicked.emit(self.steps.value()))
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancelClicked)
        self.bar = QProgressBar()
        self.bar.setRange(0, 10)
        self.bar.setValue(0)
        self.bar.setFormat("%v / %m steps")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #555;")
        row = QHBoxLayout()
        row.addWidget(self.steps)
        row.addWidget(self.refine)
        row.addWidget(self.cancel)
        box = QVBoxLayout(self)
        box.addLayout(row)
        box.addWidget(self.bar)
        box.addWidget(self.info)
        self._available = False
        self._running = False

    def set_available(self, ok: bool, reason: str) -> None:
        self._available = ok
        self.refine.setToolTip(reason)
        self.refine.setEnabled(ok and not self._running)
        if not ok and not self._running:
            self.info.setText(reason)
        elif ok and not self._running:
            self.info.setText("")

    def set_running(self, running: bool) -> None:
        self._running = running
        self.cancel.setEnabled(running)
        self.refine.setEnabled(self._available and not running)
        self.steps.setEnabled(not running)

    def set_progress(self, step: int, total: int, loss: float) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(step)
        if step > 0:
            self.info.setText(f"step {step}/{total}, soft loss {loss:.4f}")
