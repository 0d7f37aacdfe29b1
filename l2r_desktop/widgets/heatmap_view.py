"""Heatmap overlays: per shown method one aspect-locked ViewBox holding two ImageItems (the RGB
picture below, the colour-mapped map above with opacity and fixed levels 0..1), all sharing one
ColorBarItem, so maps of different methods are compared on the same colour scale."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from l2r_core.render import NORMALISATION_LABEL, colormap_lut

from ..viewmodels.state import ImageState, MethodResult



def _colormap(name: str) -> pg.ColorMap:
    """The same lookup table the exported PNGs use, so screen and file agree."""
    return pg.ColorMap(np.linspace(0.0, 1.0, 256), colormap_lut(name), name=name)

class _Panel:
    """One method's view: title, picture, overlay."""

    def __init__(self, layout: pg.GraphicsLayout, col: int) -> None:
        self.title = layout.addLabel("", row=0, col=col)
        self.view = layout.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(1)
        self.view.addItem(self.image)
        self.view.addItem(self.overlay)
        self.key = ""
        self.result: MethodResult | None = None


class HeatmapView(QWidget):
    """Shows the current image with one overlay per method; reports the map value under the cursor."""

    hovered = Signal(str)  # human-readable value under the cursor ("" when outside)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setBackground("w")
        self._layout = self._graphics.ci
        self._panels: list[_Panel] = []
        self._colorbar: pg.ColorBarItem | None = None
        self._cmap_name = "inferno"
        self._opacity = 0.55
        self._overlay_visible = True
        self._image: ImageState | None = None
        self.value_label = QLabel("Move the pointer over a map to read its value.")
        self.value_label.setObjectName("mapValue")
        self.scale_label = QLabel(NORMALISATION_LABEL)
        self.scale_label.setWordWrap(True)
        self.scale_label.setStyleSheet("color: #555;")
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self._graphics, 1)
        box.addWidget(self.value_label)
        box.addWidget(self.scale_label)
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse)
        # the picture takes the keyboard focus, so Left/Right browse images unless a control was clicked
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._graphics.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setFocusProxy(None)
        self._rebuild(1)

    # -- inputs ----------------------------------------------------------------------------
    def set_image(self, image: ImageState | None) -> None:
        self._image = image
        for p in self._panels:
            if image is None:
                p.image.clear()
            else:
                p.image.setImage(image.display, autoLevels=False, levels=(0, 255))
                p.view.autoRange(padding=0.0)
        if self._panels and not any(p.result for p in self._panels):
            self._panels[0].title.setText(self._title(None))

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
            if result is not None and panel.result is result and panel.overlay.image is result.shown:
                continue  # unchanged: no re-render (refinement updates one panel per step)
            panel.result = result
            panel.key = result.key if result else ""
            if result is None:
                panel.overlay.clear()
            else:
                panel.overlay.setImage(result.shown, autoLevels=False, levels=(0.0, 1.0))
            panel.title.setText(self._title(result))

    def set_colormap(self, name: str) -> None:
        self._cmap_name = name
        if self._colorbar is not None:
            self._colorbar.setColorMap(_colormap(name))

    def set_opacity(self, value: float) -> None:
        self._opacity = float(value)
        for p in self._panels:
            p.overlay.setOpacity(self._opacity)

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_visible = bool(visible)
        for p in self._panels:
            p.overlay.setVisible(self._overlay_visible)
        if self._colorbar is not None:
            self._colorbar.setVisible(self._overlay_visible)

    # -- queries (tests, screenshot) -------------------------------------------------------
    def panel_keys(self) -> list[str]:
        return [p.key for p in self._panels if p.key]

    def overlay_item(self, key: str) -> pg.ImageItem:
        return next(p.overlay for p in self._panels if p.key == key)

    def image_item(self, index: int = 0) -> pg.ImageItem:
        return self._panels[index].image

    def panel_title(self, key: str) -> str:
        return str(next(p.title.text for p in self._panels if p.key == key))

    def colorbar(self) -> pg.ColorBarItem | None:
        return self._colorbar

    def value_at(self, key: str, row: int, col: int) -> str:
        panel = next((p for p in self._panels if p.key == key), None)
        if panel is None or panel.result is None:
            return ""
        raw, shown = panel.result.raw, panel.result.shown
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

    def _rebuild(self, n: int) -> None:
        """Grow or shrink to ``n`` panels, keeping the existing ones (cheap: refinement adds one live)."""
        if self._colorbar is not None:
            self._layout.removeItem(self._colorbar)
        while len(self._panels) > n:
            p = self._panels.pop()
            for item in (p.title, p.view):
                self._layout.removeItem(item)
        while len(self._panels) < n:
            p = _Panel(self._layout, len(self._panels))
            if self._panels:
                p.view.setXLink(self._panels[0].view)  # zoom and pan together when comparing
                p.view.setYLink(self._panels[0].view)
            self._panels.append(p)
        if self._colorbar is None:
            self._colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=_colormap(self._cmap_name),
                                             interactive=False, width=14, label="importance, normalised 0-1")
        self._colorbar.setImageItem([p.overlay for p in self._panels])
        self._layout.addItem(self._colorbar, row=1, col=n)
        self.set_opacity(self._opacity)
        self.set_overlay_visible(self._overlay_visible)

    def _on_mouse(self, pos: QPointF) -> None:
        for p in self._panels:
            if p.result is not None and p.view.sceneBoundingRect().contains(pos):
                pt = p.view.mapSceneToView(pos)
                text = self.value_at(p.key, int(np.floor(pt.y())), int(np.floor(pt.x())))
                self.value_label.setText(text or "Outside the image.")
                self.hovered.emit(text)
                return
