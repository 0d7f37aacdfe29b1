"""A horizontal strip of thumbnails of the opened images; clicking one shows it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from l2r_core.errors import ImageLoadError
from l2r_core.images import get_max_pixels, load_image

THUMB = 60
BATCH = 8  # thumbnails decoded per event-loop turn: a big folder never freezes the window
MIN_BAND = 8  # a panorama's thumbnail is at least this tall (its middle part), not a 1-px line


def _scaled(width: int, height: int, size: int) -> tuple[int, int, QRect | None]:
    """Scaled size of a width x height image for a size x size tile, and the centred part to keep
    when the short side would be thinner than MIN_BAND (extreme aspect ratios)."""
    scale = size / max(width, height)
    if min(width, height) * scale < MIN_BAND:
        scale = min(1.0, MIN_BAND / min(width, height))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    if w <= size and h <= size:
        return w, h, None
    cw, ch = min(w, size), min(h, size)
    return w, h, QRect((w - cw) // 2, (h - ch) // 2, cw, ch)


def _letterbox(img: QImage, size: int) -> QImage:
    """``img`` centred on a transparent size x size tile: every thumbnail has the strip's size."""
    tile = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    tile.fill(Qt.GlobalColor.transparent)
    painter = QPainter(tile)
    painter.drawImage((size - img.width()) // 2, (size - img.height()) // 2, img)
    painter.end()
    return tile


def thumbnail_image(path: Path, size: int = THUMB) -> tuple[QImage, str]:
    """The image scaled into a size x size tile (letterboxed), or a null image and why it cannot be
    read. Qt reads ordinary files; giants (over Qt's allocation limit), files over the app's pixel
    limit and files Qt cannot read go through l2r_core's reader, which downscales while decoding
    and refuses what the explanation would refuse, with the same message."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    src = reader.size()
    img = QImage()
    pixels = src.width() * src.height() if src.isValid() else 0
    qt_limit = QImageReader.allocationLimit() << 20  # bytes; 0: no limit
    if 0 < pixels <= get_max_pixels() and (qt_limit == 0 or pixels * 4 <= qt_limit):
        w, h, clip = _scaled(src.width(), src.height(), size)
        reader.setScaledSize(QSize(w, h))
        if clip is not None:
            reader.setScaledClipRect(clip)
        img = reader.read()
    if img.isNull():
        side = max(_scaled(src.width(), src.height(), size)[:2]) if pixels else size
        try:
            pil = load_image(path, max_side=side)
        except ImageLoadError as exc:
            return QImage(), str(exc).removeprefix(f"{path}: ")
        w, h, clip = _scaled(pil.width, pil.height, size)
        pil = pil.resize((w, h)) if (w, h) != pil.size else pil
        if clip is not None:
            pil = pil.crop((clip.x(), clip.y(), clip.x() + clip.width(), clip.y() + clip.height()))
        img = QImage(pil.tobytes(), pil.width, pil.height, 3 * pil.width, QImage.Format.Format_RGB888).copy()
    return _letterbox(img, size), ""


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
            img, reason = thumbnail_image(self._paths[i])
            item = self.item(i)
            if item is not None and not img.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(img)))
            elif item is not None:
                self.mark_unreadable(i, reason)
        if not self._pending:
            self._timer.stop()
