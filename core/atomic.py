"""Atomic file writes: temp file in the same folder, fsync, rename. A kill leaves no half file."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

TEMP_PREFIX = ".tmp-"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=target.suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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
