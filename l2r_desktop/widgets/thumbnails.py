"""A horizontal strip of thumbnails of the opened images; clicking one shows it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

THUMB = 60
BATCH = 8  # thumbnails decoded per event-loop turn: a big folder never freezes the window


def unreadable_icon() -> QIcon:
    """A grey tile with a crossed frame: this file could not be read (the tooltip says why)."""
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor("#eeeeee"))
    painter = QPainter(pix)
    painter.setPen(QPen(QColor("#b03030"), 2))
    painter.drawRect(QRect(1, 1, THUMB - 3, THUMB - 3))
    painter.drawLine(8, 8, THUMB - 9, THUMB - 9)
    painter.drawLine(THUMB - 9, 8, 8, THUMB - 9)
    font = QFont()
    font.setPointSize(7)
    painter.setFont(font)
    painter.setPen(QColor("#333333"))
    painter.drawText(QRect(0, THUMB - 16, THUMB, 14), Qt.AlignmentFlag.AlignCenter, "unreadable")
    painter.end()
    return QIcon(pix)


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
        self.unreadable: set[int] = set()  # rows showing the placeholder
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._load_some)
        self.itemClicked.connect(lambda item: self.indexChosen.emit(self.row(item)))

    def set_paths(self, paths: list[Path]) -> None:
        self.clear()
        self.unreadable = set()
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

    def mark_unreadable(self, index: int, reason: str) -> None:
        """Show the placeholder for a file that cannot be read; it stays clickable (the map area
        then says why)."""
        item = self.item(index)
        if item is None:
            return
        if index in self._pending:
            self._pending.remove(index)
        item.setIcon(unreadable_icon())
        item.setToolTip(f"{self._paths[index]}: cannot be read ({reason})")
        self.unreadable.add(index)

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
                self.mark_unreadable(i, reader.errorString())
        if not self._pending:
            self._timer.stop()
