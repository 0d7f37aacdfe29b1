"""The original image with the region the model sees outlined, and a plain notice when the model
sees only a small part of it (a wide panorama centre-cropped to a square loses most of itself)."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from l2r_core.models.preprocessing import Placement

from ..viewmodels.state import ImageState
from .curves_view import to_qimage
from .input_preview import OUTLINE, padding_note

BOX_W, BOX_H = 300, 180  # px: the picture fits this box in the side panel
SEEN_WARNING = 0.5  # when the model sees less than this share of the image, the window says so
NOTICE_STYLE = "color: #7a4a00; background: #fff4d6; border: 1px solid #e0b84c; padding: 4px;"


def seen_fraction(pl: Placement) -> float:
    """The share of the original's area inside the region the model sees (1.0 for squash and pad)."""
    w, h = pl.image_size
    left, top, right, bottom = pl.source
    seen = max(0.0, min(right, w) - max(left, 0.0)) * max(0.0, min(bottom, h) - max(top, 0.0))
    return seen / float(w * h) if w and h else 1.0


def describe(pl: Placement) -> tuple[str, str]:
    """(caption, notice): what the outline is, and a warning when most of the image is cut away."""
    w, h = pl.image_size
    ih, iw = pl.input_size
    fraction = seen_fraction(pl)
    if pl.cropped:
        caption = f"Original {w}x{h} px: the model sees the outlined {fraction:.0%}, resized to {iw}x{ih}."
    elif pl.padded:
        caption = f"Original {w}x{h} px: the model sees all of it; {padding_note(pl)}."
    else:
        caption = f"Original {w}x{h} px: the model sees all of it, resized to {iw}x{ih}."
    notice = ""
    if fraction < SEEN_WARNING:
        notice = (f"The model sees only the outlined {fraction:.0%} of this image: what lies outside the "
                  f"outline changes neither its prediction nor the maps.")
    return caption, notice


class OriginalView(QWidget):
    """Call ``set_image``; ``outline`` (original pixels) and ``notice`` hold what is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Original</b> (the outline is what the model sees)")
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.picture.setFixedHeight(0)  # as tall as the picture shown, no taller
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #555;")
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setObjectName("originalNotice")
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.setVisible(False)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        for w in (self.title, self.picture, self.caption, self.notice):
            box.addWidget(w)
        self.outline: tuple[float, float, float, float] | None = None
        self.placement: Placement | None = None

    def set_image(self, state: ImageState | None) -> None:
        original = state.original if state is not None else None
        self.placement = state.placement if state is not None else None
        self.outline = self.placement.source if self.placement is not None else None
        if original is None or self.placement is None:  # nothing shown, or an input given as a tensor
            self.picture.clear()
            self.picture.setFixedHeight(0)
            self.caption.setText("")
            self.notice.setText("")
            self.notice.setVisible(False)
            return
        caption, notice = describe(self.placement)
        pix = self._pixmap(original, self.placement)
        self.picture.setPixmap(pix)
        self.picture.setFixedHeight(pix.height() + 4)
        self.caption.setText(caption)
        self.notice.setText(notice)
        self.notice.setVisible(bool(notice))

    @staticmethod
    def _pixmap(original: object, pl: Placement) -> QPixmap:
        image = to_qimage(original)  # type: ignore[arg-type]
        w, h = pl.image_size
        scale = min(BOX_W / w, BOX_H / h)
        pw, ph = max(1, round(w * scale)), max(1, round(h * scale))
        pix = QPixmap.fromImage(image).scaled(pw, ph, Qt.AspectRatioMode.IgnoreAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation)
        painter = QPainter(pix)
        painter.setPen(QPen(OUTLINE, 2))
        left, top, right, bottom = (v * scale for v in pl.source)
        # inset by a pixel so a box on the image's edge stays visible
        painter.drawRect(QRectF(left + 1, top + 1, max(1.0, right - left - 2), max(1.0, bottom - top - 2)))
        painter.end()
        return pix
