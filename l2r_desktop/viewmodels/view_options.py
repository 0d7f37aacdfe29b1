"""How maps are drawn: colormap, display mode (which sign of the map), overlay opacity and visibility
(remembered across sessions), and the per-mode display arrays the overlays show."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from l2r_core.render import COLORMAPS, DEFAULT_DISPLAY_MODE, DISPLAY_MODES

from ..settings import AppSettings

class ViewOptionsViewModel(QObject):
    colormapChanged = Signal(str)
    displayModeChanged = Signal(str)
    opacityChanged = Signal(float)
    overlayVisibleChanged = Signal(bool)

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        cmap = str(settings.get("colormap"))
        self.colormap = cmap if cmap in COLORMAPS else COLORMAPS[0]
        mode = settings.get("display_mode")  # None when never stored (settings.py has no default for it)
        self.display_mode = mode if mode in DISPLAY_MODES else DEFAULT_DISPLAY_MODE
        self.opacity = min(1.0, max(0.0, float(settings.get("opacity"))))
        self.overlay_visible = bool(settings.get("overlay_visible"))

    def set_colormap(self, name: str) -> None:
        if name in COLORMAPS and name != self.colormap:
            self.colormap = name
            self._settings.set("colormap", name)
            self.colormapChanged.emit(name)

    def set_display_mode(self, mode: str) -> None:
        if mode in DISPLAY_MODES and mode != self.display_mode:
            self.display_mode = mode
            self._settings.set("display_mode", mode)
            self.displayModeChanged.emit(mode)

    def set_opacity(self, value: float) -> None:
        value = min(1.0, max(0.0, float(value)))
        if abs(value - self.opacity) > 1e-6:
            self.opacity = value
            self._settings.set("opacity", value)
            self.opacityChanged.emit(value)

    def set_overlay_visible(self, visible: bool) -> None:
        if bool(visible) != self.overlay_visible:
            self.overlay_visible = bool(visible)
            self._settings.set("overlay_visible", self.overlay_visible)
            self.overlayVisibleChanged.emit(self.overlay_visible)
