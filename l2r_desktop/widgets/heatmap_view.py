"""Heatmap overlays: per shown method one aspect-locked ViewBox holding two ImageItems (the RGB
picture below, the colour-mapped map above with opacity and fixed levels 0..1), all sharing one
ColorBarItem, so maps of different methods are compared on the same colour scale.

The panels are laid out by hand in a grid (rows x columns chosen so the maps come out largest for
the panel's size and the image's aspect ratio), with the colour bar in its own column on the right.
Zoom and pan are mirrored between panels here rather than with pyqtgraph's view links: linked,
aspect-locked views widen each other's range on every resize, which shrank the maps."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QFontMetricsF, QKeySequence, QTextOption
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsSceneResizeEvent, QGraphicsTextItem, QHBoxLayout, QLabel,
                               QToolButton, QVBoxLayout, QWidget)

from l2r_core.render import (DEFAULT_DISPLAY_MODE, DIVERGING, NORMALISATION_LABEL, SIGNED_LABEL, colormap_lut,
                             diverging_anchors, display_map)

from ..viewmodels.state import ImageState, MethodResult

GAP = 6.0  # pixels between panels
BOTTOM = 8.0  # pixels kept free below the maps for the colour bar's lowest tick label
BAR_LABEL = "importance, normalised 0-1"
SIGNED_BAR_LABEL = "signed importance"


def _colormap(name: str) -> pg.ColorMap:
    """The same lookup table the exported PNGs use, so screen and file agree (signed: the diverging map)."""
    if name == DIVERGING:
        pos, colours = diverging_anchors()  # anchors, so 0.5 (a zero value) is exactly the neutral colour
        return pg.ColorMap(pos, colours, name=name)
    return pg.ColorMap(np.linspace(0.0, 1.0, 256), colormap_lut(name), name=name)


def grid_shape(n: int, width: float, height: float, aspect: float = 1.0, title_height: float = 0.0) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels in a ``width`` x ``height`` area that make the maps largest.
    ``aspect`` is the image's width / height; every cell loses ``title_height`` to its title."""
    n = max(1, n)
    aspect = aspect if aspect > 0 else 1.0
    best: tuple[float, int, int] | None = None
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        if (rows - 1) * cols >= n:
            continue  # an empty row: another shape is strictly better
        cw = (width - GAP * (cols - 1)) / cols
        ch = (height - GAP * (rows - 1)) / rows - title_height
        scale = min(cw / aspect, ch)  # the map's height in pixels
        if best is None or scale > best[0] + 1e-6:
            best = (scale, rows, cols)
    assert best is not None
    return best[1], best[2]


VALUE_HINT = "Move the pointer over a map to read its value."

class _Canvas(pg.GraphicsWidget):
    """The scene's root: fills the view and asks for a new layout whenever it is resized."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, ev: QGraphicsSceneResizeEvent) -> None:
        super().resizeEvent(ev)
        self._on_resize()


class _Panel:
    """One method's view: title, picture, overlay."""

    def __init__(self, parent: QGraphicsItem) -> None:
        # a text item, not a LabelItem: a LabelItem's minimum width (its text) would push the grid off screen
        self.title = QGraphicsTextItem(parent)
        self.title.document().setDefaultTextOption(QTextOption(Qt.AlignmentFlag.AlignHCenter))
        self.title.document().setDocumentMargin(2)
        self.title_html = ""
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        # parented afterwards: a parent given to the constructor skips pyqtgraph's scene-change hook,
        # and the view would never apply its zoom
        self.view.setParentItem(parent)
        self.view.disableAutoRange()  # the view shows what fit() or the user chose, never its own guess
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(1)
        self.view.addItem(self.image)
        self.view.addItem(self.overlay)
        self.key = ""
        self.result: MethodResult | None = None
        self.drawn: tuple[int, str] | None = None  # (id of the result's map, mode) the overlay shows

    def set_title(self, html: str) -> None:
        self.title_html = html
        self.title.setHtml(html)

    def remove(self) -> None:
        scene = self.view.scene()
        for item in (self.title, self.view):
            item.setParentItem(None)
            if scene is not None:
                scene.removeItem(item)


class HeatmapView(QWidget):
    """Shows the current image with one overlay per method; reports the map value under the cursor."""

    hovered = Signal(str)  # human-readable value under the cursor ("" when outside)
    fitted = Signal()  # every panel shows the whole image again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._panels: list[_Panel] = []
        self._grid = (1, 1)
        self._title_h = 0.0  # height of the tallest (wrapped) title at the last layout
        self._title_pt = self.font().pointSizeF() if self.font().pointSizeF() > 0 else 9.0
        self._graphics = pg.GraphicsView(background="w")
        self._canvas = _Canvas(self._relayout)
        self._graphics.setCentralItem(self._canvas)
        self._cmap_name = "inferno"
        self._mode = DEFAULT_DISPLAY_MODE
        self._opacity = 0.55
        self._overlay_visible = True
        self._image: ImageState | None = None
        self._zoomed = False  # the user zoomed or panned: resizing keeps their view instead of re-fitting
        self._colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=_colormap(self._cmap_name),
                                         interactive=False, width=14, label=BAR_LABEL)
        self._colorbar.setParentItem(self._canvas)
        self.value_label = QLabel(VALUE_HINT)
        self.value_label.setObjectName("mapValue")
        self.scale_label = QLabel(NORMALISATION_LABEL)
        self.scale_label.setWordWrap(True)
        self.scale_label.setStyleSheet("color: #555;")
        # Fit: a widget action, so F works while the picture (or a child) has the focus and nowhere else
        self.fit_action = QAction("Fit", self)
        self.fit_action.setShortcut(QKeySequence(Qt.Key.Key_F))
        self.fit_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.fit_action.setToolTip("Fit every map to its panel, undoing zoom and pan (F)")
        self.fit_action.triggered.connect(self.fit)
        self.addAction(self.fit_action)
        self.fit_button = QToolButton()
        self.fit_button.setDefaultAction(self.fit_action)
        self.fit_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.value_label, 1)
        row.addWidget(self.fit_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self._graphics, 1)
        box.addLayout(row)
        box.addWidget(self.scale_label)
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse)
        # the picture takes the keyboard focus, so Left/Right browse images unless a control was clicked
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._graphics.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setFocusProxy(None)
        self._rebuild(1)

    # -- inputs ----------------------------------------------------------------------------
    def clear_value(self) -> None:
        """Forget the value read under the pointer (another image, class or model)."""
        self.value_label.setText(VALUE_HINT)

    def set_image(self, image: ImageState | None) -> None:
        same_size = (image is not None and self._image is not None
                     and image.display.shape[:2] == self._image.display.shape[:2])
        self._image = image
        for p in self._panels:
            if image is None:
                p.image.clear()
            else:
                p.image.setImage(image.display, autoLevels=False, levels=(0, 255))
        if self._panels and not any(p.result for p in self._panels):
            self._panels[0].set_title(self._title(None))
        if not (same_size and self._zoomed):  # a zoom survives the next class or an image of the same size
            self._zoomed = False
            self._relayout()  # the grid depends on the image's aspect ratio; fits every panel

    def set_results(self, results: list[MethodResult]) -> None:
        """One panel per result, updated in place when the count does not change."""
        if max(1, len(results)) != len(self._panels):
            old = len(self._panels)
            self._rebuild(max(1, len(results)))
            if len(self._panels) > old and self._image is not None:
                for p in self._panels[old:]:
                    p.image.setImage(self._image.display, autoLevels=False, levels=(0, 255))
        for i, panel in enumerate(self._panels):
            result = results[i] if i < len(results) else None
            if result is not None and panel.result is result and panel.drawn == (id(result.raw), self._mode):
                continue  # unchanged: no re-render (refinement updates one panel per step)
            panel.result = result
            panel.key = result.key if result else ""
            self._draw(panel)
            panel.set_title(self._title(result))
        if self._titles_height() != self._title_h:  # a longer title ("step 3/10") must not cover its map
            self._relayout()

    def set_colormap(self, name: str) -> None:
        self._cmap_name = name
        if self._mode != "signed":
            self._colorbar.setColorMap(_colormap(name))

    def set_display_mode(self, mode: str) -> None:
        """Which values the overlays show (view_options.DISPLAY_MODES); signed maps get the diverging map."""
        if mode == self._mode:
            return
        self._mode = mode
        signed = mode == "signed"
        self._colorbar.setColorMap(_colormap(DIVERGING if signed else self._cmap_name))
        self._colorbar.axis.setTicks([[(0.0, "-1"), (0.5, "0"), (1.0, "+1")]] if signed else None)
        self._fit_bar_label(self._colorbar.geometry().height())
        self.scale_label.setText(SIGNED_LABEL if signed else NORMALISATION_LABEL)
        for p in self._panels:
            self._draw(p)

    def set_opacity(self, value: float) -> None:
        self._opacity = float(value)
        for p in self._panels:
            p.overlay.setOpacity(self._opacity)

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_visible = bool(visible)
        for p in self._panels:
            p.overlay.setVisible(self._overlay_visible)
        self._colorbar.setVisible(self._overlay_visible)

    def fit(self) -> None:
        """Every panel shows the whole image as large as its cell allows (undoes zoom and pan)."""
        self._zoomed = False
        for p in self._panels:
            p.view.setRange(self._image_rect(), padding=0.0)
        self.fitted.emit()

    # -- queries (tests, screenshot) -------------------------------------------------------
    def panel_keys(self) -> list[str]:
        return [p.key for p in self._panels if p.key]

    def overlay_item(self, key: str) -> pg.ImageItem:
        return next(p.overlay for p in self._panels if p.key == key)

    def image_item(self, index: int = 0) -> pg.ImageItem:
        return self._panels[index].image

    def panel_title(self, key: str) -> str:
        return next(p.title_html for p in self._panels if p.key == key)

    def colorbar(self) -> pg.ColorBarItem:
        return self._colorbar

    def display_mode(self) -> str:
        return self._mode

    def is_zoomed(self) -> bool:
        return self._zoomed

    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the current layout."""
        return self._grid

    def value_at(self, key: str, row: int, col: int) -> str:
        panel = next((p for p in self._panels if p.key == key), None)
        if panel is None or panel.result is None:
            return ""
        raw = panel.result.raw
        shown = panel.overlay.image if panel.overlay.image is not None else panel.result.shown
        if not (0 <= row < raw.shape[0] and 0 <= col < raw.shape[1]):
            return ""
        return (f"{panel.result.title} at x={col}, y={row}: raw value {raw[row, col]:.4g}, "
                f"colour scale {shown[row, col]:.2f}")

    # -- internals -------------------------------------------------------------------------
    def _title(self, result: MethodResult | None) -> str:
        if result is None:
            return "<span style='color:#333'>no map yet</span>"
        target = f" for '{self._image.target_name}'" if self._image else ""
        extra = f" ({result.note})" if result.note else ""
        return f"<b style='color:#222'>{result.title}</b><span style='color:#444'>{target}{extra}</span>"

    def _draw(self, panel: _Panel) -> None:
        result = panel.result
        if result is None:
            panel.overlay.clear()
            panel.drawn = None
            return
        shown = display_map(result.raw, self._mode, result.shown)
        panel.overlay.setImage(shown, autoLevels=False, levels=(0.0, 1.0))
        panel.drawn = (id(result.raw), self._mode)

    def _image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF(0.0, 0.0, 1.0, 1.0)
        h, w = self._image.display.shape[:2]
        return QRectF(0.0, 0.0, float(w), float(h))

    def _rebuild(self, n: int) -> None:
        """Grow or shrink to ``n`` panels, keeping the existing ones (cheap: refinement adds one live)."""
        while len(self._panels) > n:
            self._panels.pop().remove()
        while len(self._panels) < n:
            p = _Panel(self._canvas)
            p.view.sigRangeChangedManually.connect(lambda _mask, v=p.view: self._on_user_range(v))
            # a new panel starts where the others are (zoomed or not)
            zoomed = self._panels and self._zoomed
            p.view.setRange(self._panels[0].view.targetRect() if zoomed else self._image_rect(), padding=0.0)
            self._panels.append(p)
        self._colorbar.setImageItem([p.overlay for p in self._panels])
        self.set_opacity(self._opacity)
        self.set_overlay_visible(self._overlay_visible)
        self._relayout()

    def _relayout(self) -> None:
        """Place titles, views and the colour bar for the canvas' current size: each map as large as
        its grid cell allows, its title just above it, the colour bar beside the maps."""
        if not self._panels or not hasattr(self, "_colorbar"):
            return  # still being built
        size = self._canvas.size()
        width = float(size.width())
        height = max(1.0, float(size.height()) - BOTTOM)
        bar_w = max(70.0, float(self._colorbar.minimumWidth()))
        area_w = max(1.0, width - bar_w - GAP)
        rect = self._image_rect()
        aspect = rect.width() / rect.height()
        n = len(self._panels)
        font = self._panels[0].title.font()
        font.setPointSizeF(self._title_pt)
        line_h = QFontMetricsF(font).lineSpacing() + 4.0  # one title line + margins
        rows, cols = grid_shape(n, area_w, height, aspect, line_h)
        self._grid = (rows, cols)
        cell_w = (area_w - GAP * (cols - 1)) / cols
        cell_h = (height - GAP * (rows - 1)) / rows
        # titles wrap in narrow cells; past two lines they get a smaller font rather than covering the map
        for size_pt in (self._title_pt, self._title_pt - 1.5):
            font.setPointSizeF(size_pt)
            for p in self._panels:
                p.title.setFont(font)
                p.title.setTextWidth(cell_w)
            self._title_h = self._titles_height()
            if self._title_h <= 2 * QFontMetricsF(font).lineSpacing() + 6.0:
                break
        title_h = min(self._title_h, 0.4 * cell_h)
        map_h = max(1.0, min(cell_w / aspect, cell_h - title_h))  # the fitted map's height
        top = (cell_h - title_h - map_h) / 2  # title and map centred in the cell, the title right above the map
        for i, p in enumerate(self._panels):
            r, c = divmod(i, cols)
            in_row = min(cols, n - r * cols)
            x = (cols - in_row) * (cell_w + GAP) / 2 + c * (cell_w + GAP)  # a short last row is centred
            y = r * (cell_h + GAP) + top
            p.title.setPos(x, y)
            p.view.setGeometry(QRectF(x, y + title_h, cell_w, map_h))
        views = [p.view.geometry() for p in self._panels]
        # the bar spans the maps; a few pixels more (BOTTOM below) keep its end labels ("0", "1.0") inside
        bar_top = max(0.0, min(v.top() for v in views) - 6.0)
        bar = QRectF(width - bar_w, bar_top, bar_w, max(v.bottom() for v in views) + 6.0 - bar_top)
        self._colorbar.setGeometry(bar)
        self._fit_bar_label(bar.height())
        if not self._zoomed:
            self.fit()

    def _titles_height(self) -> float:
        return max(p.title.boundingRect().height() for p in self._panels)

    def _fit_bar_label(self, bar_height: float) -> None:
        """The bar's label runs along it: shown only when it fits, so it is never cut off."""
        text = SIGNED_BAR_LABEL if self._mode == "signed" else BAR_LABEL
        axis = self._colorbar.getAxis("left")
        fits = QFontMetricsF(axis.label.font()).horizontalAdvance(text) + 16.0 <= bar_height
        shown = text if fits else ""
        if axis.labelText != shown:
            axis.setLabel(shown)

    def _on_user_range(self, source: pg.ViewBox) -> None:
        """The user zoomed or panned one panel (wheel, drag; setRange never signals this): the others
        follow, and resizing no longer re-fits."""
        self._zoomed = True
        for p in self._panels:
            if p.view is not source:
                p.view.setRange(source.targetRect(), padding=0.0)

    def _on_mouse(self, pos: QPointF) -> None:
        for p in self._panels:
            if p.result is not None and p.view.sceneBoundingRect().contains(pos):
                pt = p.view.mapSceneToView(pos)
                text = self.value_at(p.key, int(np.floor(pt.y())), int(np.floor(pt.x())))
                self.value_label.setText(text or "Outside the image.")
                self.hovered.emit(text)
                return
