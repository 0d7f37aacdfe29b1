"""A reader of Qt's binary resource bundles (``.rcc``), without Qt: training knows no GUI.

Format (Qt's rcc.cpp / qresource.cpp; all integers big-endian):

- header: ``b"qres"``, version (u32, 1-3), tree offset, data offset, names offset (u32 each);
  version 3 adds the bundle's overall flags (u32).
- tree: fixed-size nodes (14 bytes in version 1, 22 from version 2 on, which adds a u64
  modification time). A node is name offset (u32) and flags (u16), then either child count and
  index of the first child (u32, u32) for a directory (flag 2), or country, language (u16 each)
  and data offset (u32) for a file. Node 0 is the root directory.
- names: u16 length in UTF-16 units, u32 hash, then the UTF-16BE name.
- data: u32 size, then the bytes. Flag 1: ``qCompress`` (u32 uncompressed size + zlib stream);
  flag 4: one zstd frame. zstd needs the optional ``zstandard`` module; without it such entries
  are reported and skipped, never guessed.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator

from l2r_core.errors import L2RError

MAGIC = b"qres"
FLAG_ZLIB, FLAG_DIR, FLAG_ZSTD = 1, 2, 4


class RccError(L2RError):
    """A file is not a readable Qt resource bundle."""


@dataclass(frozen=True)
class RccEntry:
    path: str  # inner path, '/'-separated, no leading slash
    flags: int
    offset: int  # of the entry's size field, relative to the data section

    @property
    def compression(self) -> str:
        return "zstd" if self.flags & FLAG_ZSTD else "zlib" if self.flags & FLAG_ZLIB else "none"


def zstd_available() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


class RccFile:
    """The file tree of one ``.rcc`` bundle, read into memory once (gcompris' are at most a few MB)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._raw = self.path.read_bytes()
        raw = self._raw
        if len(raw) < 20 or raw[:4] != MAGIC:
            raise RccError(f"{self.path}: not a Qt resource bundle (no 'qres' magic at the start).")
        self.version, self._tree, self._data, self._names = struct.unpack_from(">IIII", raw, 4)
        if not 1 <= self.version <= 3:
            raise RccError(f"{self.path}: rcc format version {self.version} is not supported (1-3 are).")
        self._node_size = 14 if self.version == 1 else 22
        for name, off in (("tree", self._tree), ("data", self._data), ("names", self._names)):
            if off > len(raw):
                raise RccError(f"{self.path}: {name} offset {off} lies past the end of the file (truncated?).")
        self.entries: list[RccEntry] = list(self._walk(0, "", 0))

    def _name(self, offset: int) -> str:
        at = self._names + offset
        (length,) = struct.unpack_from(">H", self._raw, at)
        return self._raw[at + 6: at + 6 + 2 * length].decode("utf-16-be")

    def _walk(self, node: int, prefix: str, depth: int) -> Iterator[RccEntry]:
        if depth > 64:  # a cycle in a damaged tree must not recurse forever
            raise RccError(f"{self.path}: resource tree deeper than 64 levels (damaged file?).")
        at = self._tree + node * self._node_size
        try:
            name_off, flags = struct.unpack_from(">IH", self._raw, at)
            name = self._name(name_off) if node else ""
            path = f"{prefix}/{name}" if prefix else name
            if flags & FLAG_DIR:
                count, first = struct.unpack_from(">II", self._raw, at + 6)
                for child in range(first, first + count):
                    yield from self._walk(child, path, depth + 1)
            else:
                (data_off,) = struct.unpack_from(">I", self._raw, at + 10)
                yield RccEntry(path, flags, data_off)
        except struct.error as exc:
            raise RccError(f"{self.path}: resource tree points past the end of the file ({exc}).") from None

    def read(self, entry: RccEntry) -> bytes:
        """The entry's bytes, decompressed. RccError for zstd entries when ``zstandard`` is missing."""
        at = self._data + entry.offset
        (size,) = struct.unpack_from(">I", self._raw, at)
        blob = self._raw[at + 4: at + 4 + size]
        if len(blob) != size:
            raise RccError(f"{self.path}: entry {entry.path} is truncated.")
        if entry.flags & FLAG_ZSTD:
            try:
                import zstandard
            except ImportError:
                raise RccError(f"{self.path}: {entry.path} is zstd-compressed; install the 'zstandard' "
                               "module (pip install zstandard) to read it.") from None
            return zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 28)
        if entry.flags & FLAG_ZLIB:
            # qCompress: 4-byte expected size, then a zlib stream
            return zlib.decompress(blob[4:])
        return blob


def pack_rcc(files: dict[str, bytes], compress: Collection[str] = (), version: int = 3,
             zstd: Collection[str] = ()) -> bytes:
    """A bundle holding ``files`` (inner path -> bytes), with ``compress`` zlib-compressed and
    ``zstd`` flagged as zstd frames (their bytes must already be one: nothing is compressed).

    Writes the same layout Qt's rcc does; used by the tests (and useful for any fixture)."""
    root: dict = {}
    for path, data in files.items():
        node = root
        *dirs, leaf = path.strip("/").split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = data
    names = bytearray()
    name_at: dict[str, int] = {}
    data = bytearray()
    nodes: list[bytes] = []
    node_size = 14 if version == 1 else 22

    def name_offset(name: str) -> int:
        if name not in name_at:
            name_at[name] = len(names)
            enc = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(enc) // 2, 0) + enc)
        return name_at[name]

    # Breadth-first, as Qt does: a directory's children sit at consecutive indices.
    queue: list[tuple[str, str, object]] = [("", "", root)]
    slots: list[tuple[str, str, object]] = [("", "", root)]
    while queue:
        name, path, obj = queue.pop(0)
        if isinstance(obj, dict):
            for child in sorted(obj):
                item = (child, f"{path}/{child}".strip("/"), obj[child])
                slots.append(item)
                queue.append(item)
    index = {path: i for i, (_, path, _) in enumerate(slots)}
    for name, path, obj in slots:
        name_off = name_offset(name) if path else 0
        if isinstance(obj, dict):
            first = index[f"{path}/{sorted(obj)[0]}".strip("/")] if obj else 0
            node = struct.pack(">IHII", name_off, FLAG_DIR, len(obj), first)
        else:
            assert isinstance(obj, bytes)
            flags = FLAG_ZSTD if path in zstd else FLAG_ZLIB if path in compress else 0
            blob = struct.pack(">I", len(obj)) + zlib.compress(obj) if flags == FLAG_ZLIB else obj
            node = struct.pack(">IHHHI", name_off, flags, 0, 0, len(data))
            data.extend(struct.pack(">I", len(blob)) + blob)
        nodes.append(node + (b"\0" * 8 if node_size == 22 else b""))
    header_len = 24 if version >= 3 else 20
    tree_off = header_len
    data_off = tree_off + len(nodes) * node_size
    names_off = data_off + len(data)
    header = MAGIC + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", FLAG_ZLIB if compress else 0)
    return header + b"".join(nodes) + bytes(data) + bytes(names)
