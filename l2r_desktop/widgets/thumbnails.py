"""A horizontal strip of thumbnails of the opened images; clicking one shows it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

THUMB = 60
BATCH = 8  # thumbnails decoded per event-loop turn: a big folder never freezes the window


class ThumbnailStrip(QListWidget):
    indexChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 40, THUMB + 28))
        self.setFixedHeight(THUMB + 40)
        self.setMovement(QListView.Movement.Static)
        self.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys belong to the window's navigation
        self._pending: list[int] = []
        self._paths: list[Path] = []
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._load_some)
        self.itemClicked.connect(lambda item: self.indexChosen.emit(self.row(item)))

    def set_paths(self, paths: list[Path]) -> None:
        self.clear()
        self._paths = list(paths)
        for p in self._paths:
            item = QListWidgetItem(p.name if len(p.name) <= 16 else p.name[:14] + "...")
            item.setToolTip(str(p))
            item.setSizeHint(QSize(THUMB + 36, THUMB + 24))
            self.addItem(item)
        self._pending = list(range(len(self._paths)))
        self._timer.start()

    def set_current(self, index: int) -> None:
        if 0 <= index < self.count():
            self.blockSignals(True)
            self.setCurrentRow(index)
            self.blockSignals(False)
            self.scrollToItem(self.item(index))

    def _load_some(self) -> None:
        for _ in range(min(BATCH, len(self._pending))):
            i = self._pending.pop(0)
            reader = QImageReader(str(self._paths[i]))
            reader.setAutoTransform(True)
            size = reader.size()
            if size.isValid():
                reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
            img = reader.read()
            item = self.item(i)
            if item is not None and not img.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(img)))
            elif item is not None:
                item.setToolTip(f"{self._paths[i]}: cannot be read ({reader.errorString()})")
        if not self._pending:
            self._timer.stop()
