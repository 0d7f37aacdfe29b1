"""What the model sees of one image: the original with the region the model sees outlined, next to
the model's input picture (``Preprocessing.geometry``) at its input size, scaled for display."""
from __future__ import annotations

import math

from PIL import Image
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from l2r_core.errors import L2RError
from l2r_core.models.preprocessing import Placement, Preprocessing

BOX = 220  # px: each picture fits this square on screen
OUTLINE = QColor("#00e5ff")


def _qimage(img: Image.Image) -> QImage:
    rgb = img.convert("RGB")
    data = rgb.tobytes()
    q = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return q.copy()  # own the pixels: ``data`` is freed after return


def display_factor(input_size: tuple[int, int], box: int = BOX) -> float:
    """How much the input picture is scaled on screen: a whole number when enlarging, so every
    input pixel shows as an equal square block."""
    f = box / max(input_size)
    return float(math.floor(f)) if f >= 1 else f


def padding_note(pl: Placement) -> str:
    """'letterboxed: N px of padding ...' for a padded input, '' otherwise."""
    if not pl.padded:
        return ""
    h, w = pl.input_size
    left, top, right, bottom = pl.target
    pad_x, pad_y = w - (right - left), h - (bottom - top)
    if pad_x and pad_y:  # an image smaller than the input is not enlarged: black all round
        return f"letterboxed: {pad_x} px of padding left and right, {pad_y} px top and bottom (black)"
    return f"letterboxed: {pad_x or pad_y} px of padding {'left and right' if pad_x else 'top and bottom'} (black)"


def _values(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.4g}" for v in values)


class InputPreview(QWidget):
    """Call ``set_image`` and ``set_preprocessing``; ``outline`` and ``model_input`` hold what is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original_label = QLabel("No preview image")
        self.input_label = QLabel("")
        for label in (self.original_label, self.input_label):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setMinimumSize(BOX, BOX)
            label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.original_caption = QLabel("Original: the outline is what the model sees")
        self.input_caption = QLabel("")
        self.input_caption.setWordWrap(True)
        self.original_caption.setWordWrap(True)
        self.note = QLabel("")  # where the preprocessing comes from, and any padding
        self.note.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.original_label, 0, 0)
        grid.addWidget(self.input_label, 0, 1)
        grid.addWidget(self.original_caption, 1, 0)
        grid.addWidget(self.input_caption, 1, 1)
        grid.addWidget(self.note, 2, 0, 1, 2)
        self.image: Image.Image | None = None
        self.image_path = ""
        self.preprocessing: Preprocessing | None = None
        self.origin = ""  # where ``preprocessing`` comes from, shown to the user
        self.placement: Placement | None = None
        self.outline: tuple[float, float, float, float] | None = None  # original pixels
        self.model_input: Image.Image | None = None  # at the input size
        self.padding = ""

    # -- inputs ------------------------------------------------------------------------------
    def set_image(self, path: str) -> str:
        """Show ``path``; returns '' or why it cannot be shown (the file and the fix)."""
        from l2r_core.images import load_image

        self.image, self.image_path = None, ""
        if path:
            try:
                self.image = load_image(path).convert("RGB")  # upright RGB, as the pipeline reads it
                self.image_path = str(path)
            except L2RError as exc:  # names the file and the fix
                self._render()
                return str(exc)
            except OSError as exc:
                self._render()
                return f"{path}: cannot be read ({exc.strerror or exc}). Choose another image."
        self._render()
        return ""

    def set_preprocessing(self, pre: Preprocessing | None, origin: str = "") -> None:
        self.preprocessing, self.origin = pre, origin
        self._render()

    def set_problem(self, text: str) -> None:
        """The fields do not make a preprocessing: keep the pictures cleared and say why."""
        self.preprocessing = None
        self._render()
        self.note.setText(text)

    # -- drawing -----------------------------------------------------------------------------
    def _render(self) -> None:
        self.placement = self.outline = self.model_input = None
        self.padding = ""
        pre, img = self.preprocessing, self.image
        self.note.setText(self.origin if pre is not None else "")
        if img is None:
            self.original_label.setPixmap(QPixmap())
            self.original_label.setText("No preview image: choose one above")
            self.input_label.setPixmap(QPixmap())
            self.input_caption.setText("")
            return
        if pre is None:
            self.original_label.setPixmap(self._original_pixmap(img, None))
            self.input_label.setPixmap(QPixmap())
            self.input_caption.setText("")
            return
        self.placement = pre.placement(img.size)
        self.outline = self.placement.source
        picture = pre.geometry(img)
        self.model_input = picture.convert("L") if pre.grayscale else picture
        self.padding = padding_note(self.placement)
        self.original_label.setPixmap(self._original_pixmap(img, self.outline))
        self.input_label.setPixmap(self._input_pixmap(self.model_input))
        h, w = pre.input_size
        how = f"crop {pre.crop_pct * 100:g}%" if pre.resize == "crop" else pre.resize
        c = pre.channels
        self.input_caption.setText(f"Model input: {h}x{w} (height x width), {how}, {pre.interpolation}"
                                   f"{', greyscale' if pre.grayscale else ''}\n"
                                   f"then normalised: mean {_values(pre.mean[:c])}, std {_values(pre.std[:c])}")
        self.note.setText("\n".join(t for t in (self.padding, self.origin) if t))

    def _original_pixmap(self, img: Image.Image, box: tuple[float, float, float, float] | None) -> QPixmap:
        scale = min(BOX / img.width, BOX / img.height)
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        pix = QPixmap.fromImage(_qimage(img)).scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                      Qt.TransformationMode.SmoothTransformation)
        if box is not None:
            painter = QPainter(pix)
            painter.setPen(QPen(OUTLINE, 2))
            left, top, right, bottom = (v * scale for v in box)
            # Inset by a pixel so a box on the image's edge stays visible.
            painter.drawRect(QRectF(left + 1, top + 1, max(1.0, right - left - 2), max(1.0, bottom - top - 2)))
            painter.end()
        return pix

    @staticmethod
    def _input_pixmap(picture: Image.Image) -> QPixmap:
        f = display_factor((picture.height, picture.width))
        mode = Qt.TransformationMode.FastTransformation if f >= 1 else Qt.TransformationMode.SmoothTransformation
        return QPixmap.fromImage(_qimage(picture)).scaled(max(1, round(picture.width * f)),
                                                          max(1, round(picture.height * f)),
                                                          Qt.AspectRatioMode.IgnoreAspectRatio, mode)

    def input_pixmap(self) -> QPixmap:
        return self.input_label.pixmap()
