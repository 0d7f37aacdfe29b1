"""Persistent user settings (QSettings, organisation "L2R", application "Inspector").

Everything the window remembers goes through ``AppSettings`` so that tests and the screenshot
script can point it at a temporary INI file (``AppSettings(path)``) instead of the user's store.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from l2r_core.images import LIMIT_SETTING, MAX_PIXELS, parse_pixel_count

ORGANISATION = "L2R"
APPLICATION = "Inspector"
MAX_RECENT = 8

DEFAULTS: dict[str, Any] = {
    "colormap": "inferno",
    "opacity": 0.55,
    "overlay_visible": True,
    "method": "",
    "device": "auto",
    "protocol": "aha",
    "last_folder": "",
    # The load-model dialog reopens with the last model that loaded ("" / 0: the model's default).
    "model/source": "demo-cnn",
    "model/arch": "",
    "model/weights": "",
    "model/file": "",
    "model/card": "",
    "model/input_size": "",
    "model/resize": "",
    "model/crop_pct": 0.0,
    "model/mean": "",
    "model/std": "",
    "model/interpolation": "",
    "model/class_names": "",
    # Images whose header claims more pixels are refused (l2r_core.images explains the default);
    # the INI file may say 1G or 2e9. `l2r-desktop --max-pixels N` stores it.
    LIMIT_SETTING: MAX_PIXELS,
}


class AppSettings:
    """Typed access to the stored settings; ``path`` selects an INI file (tests, scripts)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self._qs = QSettings(ORGANISATION, APPLICATION)
        else:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def qsettings(self) -> QSettings:
        return self._qs

    def get(self, key: str) -> Any:
        default = DEFAULTS.get(key)
        value = self._qs.value(key, default)
        # INI files give strings back; coerce to the default's type.
        if isinstance(default, bool):
            return value in (True, "true", "1", 1)
        if isinstance(default, int):
            try:
                return parse_pixel_count(value) if key == LIMIT_SETTING else int(value)
            except (TypeError, ValueError):
                return default
        if isinstance(default, float):
            try:
                return float(value)
            except (TypeError, ValueError):
                return default
        return value if value is not None else default

    def set(self, key: str, value: Any) -> None:
        self._qs.setValue(key, value)

    def recent_folders(self) -> list[str]:
        value = self._qs.value("recent_folders", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def add_recent_folder(self, folder: str | Path) -> list[str]:
        folder = str(folder)
        items = [folder] + [f for f in self.recent_folders() if f != folder]
        items = items[:MAX_RECENT]
        self._qs.setValue("recent_folders", items)
        self.set("last_folder", folder)
        return items

    def clear_recent_folders(self) -> None:
        self._qs.setValue("recent_folders", [])

    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, geometry: QByteArray, state: QByteArray | None = None) -> None:
        self._qs.setValue("window/geometry", geometry)
        if state is not None:
            self._qs.setValue("window/state", state)

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def sync(self) -> None:
        self._qs.sync()
