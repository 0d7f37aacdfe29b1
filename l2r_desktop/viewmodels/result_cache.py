"""The maps of the last few (image, class) pairs, so going back is instant while memory stays bounded
(plain data, no Qt). A map is stored under its method and the options it was computed with: a map
made with other options is never shown for the current ones."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .state import ImageState, MethodResult

# Images (image, class) whose maps stay in memory: browsing a folder for hours keeps at most this
# many sets of maps (each a few MB at 224 px with several methods compared).
RESULT_CACHE_IMAGES = 8
# Maps kept per (image, class) across methods and option variants (trying several options on one
# image keeps the last few; a slider dragged through every value does not fill the memory).
RESULTS_PER_IMAGE = 16

OptionsKey = tuple[tuple[str, Any], ...]
ResultKey = tuple[str, OptionsKey]


def options_key(options: Mapping[str, Any]) -> OptionsKey:
    """A hashable, order-free form of a method's options (values are numbers, strings or None)."""
    return tuple(sorted(options.items()))


def result_key(method: str, options: Mapping[str, Any]) -> ResultKey:
    return method, options_key(options)


@dataclass
class CachedImage:
    """What one (image, class) showed: its state, input tensor, maps (by method and options) and
    the protocol of their curves."""

    image: ImageState
    x: Any
    results: dict[ResultKey, MethodResult]
    protocol: str

    def find(self, method: str, options: Mapping[str, Any]) -> MethodResult | None:
        """The map of ``method`` computed with exactly ``options``, or None."""
        return self.results.get(result_key(method, options))

    def shown(self, options_for: Callable[[str], Mapping[str, Any]], protocol: str) -> dict[str, MethodResult]:
        """By method, the maps made with the options in effect (``options_for(method)``); their
        curves only when they were drawn under ``protocol``."""
        found = {m: self.find(m, options_for(m)) for m, _ in self.results}
        return {m: r if self.protocol == protocol else replace(r, curves=None) for m, r in found.items() if r}


class ResultCache:
    """Least-recently-used store of the last ``capacity`` explained (image, class) pairs of one model."""

    def __init__(self, capacity: int = RESULT_CACHE_IMAGES, per_image: int = RESULTS_PER_IMAGE) -> None:
        self.capacity = max(0, int(capacity))
        self.per_image = max(1, int(per_image))
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

    def remember(self, key: tuple[Path, int | None], image: ImageState, x: Any, results: Iterable[MethodResult],
                 protocol: str) -> None:
        """Add ``results`` to what ``key`` already holds (other options of a method stay, up to
        ``per_image`` maps; curves of another protocol are dropped, their maps kept)."""
        old = self._items.get(key)
        kept: dict[ResultKey, MethodResult] = {}
        if old is not None:
            same = old.protocol == protocol
            kept = {k: r if same else replace(r, curves=None) for k, r in old.results.items()}
        for r in results:
            k = result_key(r.key, r.options)
            kept.pop(k, None)  # re-inserted last: the most recent variant is the last to go
            kept[k] = r
        while len(kept) > self.per_image:
            kept.pop(next(iter(kept)))
        self.put(key, CachedImage(image, x, kept, protocol))

    def clear(self) -> None:
        self._items.clear()
