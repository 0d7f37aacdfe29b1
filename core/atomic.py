"""Atomic file writes: temp file in the same folder, fsync, rename. A kill leaves no half file."""
from __future__ import annotations

import io
import os
import secrets
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

# Every temp file or folder the product writes is named ".<final name>.<host>-<pid>-<random>.l2rtmp",
# so a later run can tell a dead writer's leftovers (l2r_core.batch.writer.remove_stale_temps).
TEMP_MARK = ".l2rtmp"
HOST = socket.gethostname().replace(".", "_").replace("-", "_") or "host"


def temp_path_for(path: str | os.PathLike[str], suffix: str = "") -> Path:
    """The temp name beside ``path`` that a write of ``path`` goes through."""
    target = Path(path)
    return target.with_name(f".{target.name}.{HOST}-{os.getpid()}-{secrets.token_hex(4)}{TEMP_MARK}{suffix}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to a temp file beside ``path``, then rename it into place.

    ``durable`` adds an fsync (power-loss safety; a process kill is survived without it)."""
    target = Path(path)
    tmp = temp_path_for(target)
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
def atomic_target(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """For libraries that write to a path themselves (safetensors, onnx): yields a temp path beside
    ``path``; renamed onto it if the block succeeds, removed if it raises."""
    target = Path(path)
    tmp = temp_path_for(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[io.BytesIO], None]) -> Path:
    buf = io.BytesIO()
    write(buf)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    return atomic_write_with(path, lambda f: np.save(f, array))


def atomic_save_png(path: str | os.PathLike[str], image: Image.Image) -> Path:
    return atomic_write_with(path, lambda f: image.save(f, format="PNG"))
