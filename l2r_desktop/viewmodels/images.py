"""The list of opened images, the current one, and the recently opened folders."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from PySide6.QtCore import QObject, Signal

from l2r_core.errors import ImageLoadError
from l2r_core.images import LIMIT_SETTING, get_max_pixels, is_image_file, list_images, set_max_pixels

from ..settings import AppSettings


class ImageListViewModel(QObject):
    listChanged = Signal(list)  # [Path]
    currentChanged = Signal(int, object)  # index, Path (or -1, None)
    recentFoldersChanged = Signal(list)  # [str]
    error = Signal(str, str, str)  # title, message, details

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.paths: list[Path] = []
        self.index = -1
        # Every reader in the app (explanations, previews, thumbnails) uses this process-wide limit.
        set_max_pixels(settings.get(LIMIT_SETTING))

    def max_pixels(self) -> int:
        return int(self._settings.get(LIMIT_SETTING))

    def set_max_pixels(self, limit: int | str) -> None:
        """Raise or lower the largest image the app opens (remembered); a ValueError names the
        accepted forms (300M, 1.5G, 1e9, 12000x12000)."""
        set_max_pixels(limit)
        self._settings.set(LIMIT_SETTING, get_max_pixels())

    @property
    def current(self) -> Path | None:
        return self.paths[self.index] if 0 <= self.index < len(self.paths) else None

    def recent_folders(self) -> list[str]:
        return self._settings.recent_folders()

    def last_folder(self) -> str:
        return str(self._settings.get("last_folder") or "")

    def open(self, items: Iterable[str | Path]) -> bool:
        """Open files and/or folders (folders expand to their images). Returns False and emits
        ``error`` when nothing openable was given."""
        paths: list[Path] = []
        skipped: list[str] = []
        for item in items:
            p = Path(item)
            if p.is_dir():
                try:
                    found = list_images(p)
                except ImageLoadError as exc:
                    self.error.emit("Cannot open folder", str(exc), "")
                    return False
                if not found:
                    skipped.append(f"{p}: no images in this folder")
                paths += found
                self._remember_folder(p)
            elif p.is_file() and is_image_file(p):
                paths.append(p)
                self._settings.set("last_folder", str(p.parent))
            else:
                skipped.append(f"{p}: not an image file (or missing)")
        if not paths:
            detail = "\n".join(skipped) or "nothing was given"
            self.error.emit("Nothing to open",
                            f"No images found.\n{detail}\n\nOpen .jpg, .png, .bmp, .tif or .webp files, "
                            f"or a folder that contains some.", "")
            return False
        self.paths = list(dict.fromkeys(paths))  # keep order, drop duplicates
        self.listChanged.emit(list(self.paths))
        self.select(0, force=True)
        return True

    def open_recent(self, folder: str) -> bool:
        if not Path(folder).is_dir():
            self.error.emit("Folder not found", f"{folder}: this recent folder no longer exists. "
                                                f"It was removed from the list.", "")
            items = [f for f in self.recent_folders() if f != folder]
            self._settings.clear_recent_folders()
            for f in reversed(items):
                self._settings.add_recent_folder(f)
            self.recentFoldersChanged.emit(self.recent_folders())
            return False
        return self.open([folder])

    def select(self, index: int, force: bool = False) -> None:
        if not self.paths:
            return
        index = max(0, min(int(index), len(self.paths) - 1))
        if index == self.index and not force:
            return
        self.index = index
        self.currentChanged.emit(index, self.paths[index])

    def next(self) -> None:
        if self.paths and self.index < len(self.paths) - 1:
            self.select(self.index + 1)

    def previous(self) -> None:
        if self.paths and self.index > 0:
            self.select(self.index - 1)

    def _remember_folder(self, folder: Path) -> None:
        self._settings.add_recent_folder(str(folder.resolve()))
        self.recentFoldersChanged.emit(self.recent_folders())
