"""Atomic file writes: temp file in the same folder, fsync, rename. A kill leaves no half file."""
from __future__ import annotations

import io
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

TEMP_PREFIX = ".tmp-"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True,
                       temp_path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``data`` to a temp file beside ``path``, then rename it into place.

    ``durable`` adds an fsync (power-loss safety; a process kill is survived without it).
    ``temp_path`` lets a caller name the temp file (e.g. with its pid, for stale-file cleanup)."""
    target = Path(path)
    tmp = Path(temp_path) if temp_path else target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}{target.suffix}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


@contextmanager
def atomic_target(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """For libraries that write to a path themselves (safetensors, onnx): yields a temp path beside
    ``path``; renamed onto it if the block succeeds, removed if it raises."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[io.BytesIO], None]) -> Path:
    buf = io.BytesIO()
    write(buf)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    return atomic_write_with(path, lambda f: np.save(f, array))


def atomic_save_png(path: str | os.PathLike[str], image: Image.Image) -> Path:
    return atomic_write_with(path, lambda f: image.save(f, format="PNG"))
