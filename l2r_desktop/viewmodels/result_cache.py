"""The maps of the last few (image, class) pairs, so going back is instant while memory stays bounded
(plain data, no Qt)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .state import ImageState, MethodResult

# Images (image, class) whose maps stay in memory: browsing a folder for hours keeps at most this
# many sets of maps (each a few MB at 224 px with several methods compared).
RESULT_CACHE_IMAGES = 8


@dataclass
class CachedImage:
    """What one (image, class) showed: its state, input tensor, maps and the protocol of their curves."""

    image: ImageState
    x: Any
    results: dict[str, MethodResult]
    protocol: str


class ResultCache:
    """Least-recently-used store of the last ``capacity`` explained (image, class) pairs of one model."""

    def __init__(self, capacity: int = RESULT_CACHE_IMAGES) -> None:
        self.capacity = max(0, int(capacity))
        self._items: OrderedDict[tuple[Path, int | None], CachedImage] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[tuple[Path, int | None]]:
        return list(self._items)

    def get(self, key: tuple[Path, int | None]) -> CachedImage | None:
        entry = self._items.get(key)
        if entry is not None:
            self._items.move_to_end(key)
        return entry

    def put(self, key: tuple[Path, int | None], entry: CachedImage) -> None:
        self._items[key] = entry
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
