"""What a run has to do: the sorted image list, this shard's part of it, and where each
(image, method) result lives in the output folder.

Layout of an export folder (OUT)::

    manifest.json  metrics.csv  report.html          rebuilt from the items after every run
    maps/<rel>.<method>.npy                           raw map, float32, model input resolution
    overlays/<rel>.<method>.png                       colour-mapped map over the cropped image
    curves/<rel>.<method>.png                         deletion/insertion curves (--curves-png)
    .state/identity.json                              model/explainer/protocol the folder belongs to
    .state/items/<rel>.<method>.json                  one result per (image, method): the commit mark
    .state/runs/*.json                                one record per run or shard (times, counts)

``<rel>`` is the image's path relative to IMAGES_DIR (extension kept, so a.jpg and a.png never
collide). Method names have no dots, so ``<rel>.<method>`` is unambiguous.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..images import list_images

STATE_DIR = ".state"
ITEMS_DIR = f"{STATE_DIR}/items"
MANAGED_DIRS = ("maps", "overlays", "curves", STATE_DIR)
MANAGED_FILES = ("manifest.json", "metrics.csv", "report.html")


@dataclass(frozen=True)
class ImageEntry:
    rel: str  # posix path relative to IMAGES_DIR
    path: Path
    size: int
    mtime_ns: int

    @property
    def signature(self) -> list[int]:
        """Changes when the file is replaced: a changed image is explained again."""
        return [self.size, self.mtime_ns]


@dataclass(frozen=True)
class ItemPaths:
    """Where one (image, method) result is stored, absolute and relative to OUT."""

    out: Path
    rel: str
    method: str

    def _rel(self, folder: str, suffix: str) -> str:
        return f"{folder}/{self.rel}.{self.method}{suffix}"

    @property
    def map_rel(self) -> str:
        return self._rel("maps", ".npy")

    @property
    def overlay_rel(self) -> str:
        return self._rel("overlays", ".png")

    @property
    def curves_rel(self) -> str:
        return self._rel("curves", ".png")

    @property
    def item(self) -> Path:
        return self.out / self._rel(ITEMS_DIR, ".json")

    def path(self, rel: str) -> Path:
        return self.out / rel


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def list_entries(images_dir: Path, recursive: bool, out_dir: Path | None = None) -> list[ImageEntry]:
    """Image files sorted by relative path. The export's own folders are skipped (OUT may lie
    inside IMAGES_DIR, or be IMAGES_DIR itself), so a rerun never explains its own overlays."""
    own = [out_dir / d for d in MANAGED_DIRS] if out_dir is not None else []
    entries = []
    for p in list_images(images_dir, recursive):
        if any(_inside(p, d) for d in own):
            continue
        st = p.stat()
        entries.append(ImageEntry(p.relative_to(images_dir).as_posix(), p, st.st_size, st.st_mtime_ns))
    entries.sort(key=lambda e: e.rel)
    return entries


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' with 0 <= i < n, e.g. 0/2 and 1/2 for two shards."""
    try:
        i_s, n_s = text.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise ConfigError(f"--shard {text}: expected I/N with integers, e.g. 0/4 (shards count from 0)") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= I < N, e.g. 0/{max(n, 2)} ... {max(n, 2) - 1}/{max(n, 2)}")
    return i, n


def env_shard() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) under torchrun, else (0, 1)."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1
    return (rank, world) if world >= 1 and 0 <= rank < world else (0, 1)


def shard_entries(entries: list[ImageEntry], shard: tuple[int, int]) -> list[ImageEntry]:
    """Index modulo n over the sorted list: balanced, and the same split in every process."""
    i, n = shard
    return [e for k, e in enumerate(entries) if k % n == i]
