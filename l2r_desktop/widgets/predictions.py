"""Top-5 predictions with probabilities; clicking a row explains that class."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QProgressBar, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..viewmodels.state import ImageState


BAR_STYLE = ("QProgressBar {border: 1px solid #bbb; border-radius: 3px; text-align: center; color: #000;"
             " background: #fff;} QProgressBar::chunk {background: #9cc7ec;}")


class PredictionsView(QWidget):
    classClicked = Signal(int)  # class index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Top-5 predictions</b> (click a class to explain it)")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["class", "probability"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(1, 110)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keep arrow keys for image navigation
        self.table.cellClicked.connect(self._on_click)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setFixedHeight(26 * 5 + self.table.horizontalHeader().sizeHint().height() + 6)
        self._indices: list[int] = []
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.title)
        box.addWidget(self.table)

    def set_image(self, image: ImageState | None) -> None:
        preds = image.predictions if image else []
        self._indices = [p.index for p in preds]
        self.table.setRowCount(len(preds))
        for row, p in enumerate(preds):
            item = QTableWidgetItem(p.name)
            item.setToolTip(f"class {p.index}: {p.name}. Click to explain this class.")
            if image is not None and p.index == image.target:
                font = QFont()
                font.setBold(True)
                item.setFont(font)
                item.setText(f"\u25B6 {p.name}")  # marks the explained class
            self.table.setItem(row, 0, item)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            finite = math.isfinite(p.probability)  # a broken model can give NaN
            bar.setValue(int(round(p.probability * 1000)) if finite else 0)
            bar.setFormat(f"{p.probability:.1%}" if finite else "NaN")
            bar.setTextVisible(True)
            bar.setStyleSheet(BAR_STYLE)
            self.table.setCellWidget(row, 1, bar)
        # the highlighted row is the explained class (a click's selection must not outlive its image)
        self.table.clearSelection()
        if image is not None and image.target in self._indices:
            self.table.selectRow(self._indices.index(image.target))
        if image is not None and image.target not in self._indices:
            self.title.setText(f"<b>Top-5 predictions</b>; explaining class {image.target} ({image.target_name})")
        else:
            self.title.setText("<b>Top-5 predictions</b> (click a class to explain it)")

    def highlighted_row(self) -> int:
        """The selected row (-1 for none)."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def marked_row(self) -> int:
        """The row marked as the explained class (-1 for none)."""
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.text().startswith("\u25B6"):
                return r
        return -1

    def rows(self) -> list[tuple[str, str]]:
        """(class text, probability text) per row, as displayed."""
        out = []
        for r in range(self.table.rowCount()):
            bar = self.table.cellWidget(r, 1)
            out.append((self.table.item(r, 0).text(), bar.text() if isinstance(bar, QProgressBar) else ""))
        return out

    def _on_click(self, row: int, _col: int) -> None:
        if 0 <= row < len(self._indices):
            self.classClicked.emit(self._indices[row])
