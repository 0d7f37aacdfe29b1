"""Crash-safe writes for the export folder.

Every file is written to a temporary name in its own folder and then ``os.replace``'d onto
its final name, so a kill (even SIGKILL) at any moment leaves either the old file, the new
file, or a stray temporary file, never half a file. Temporary names carry the host and
process id, so the next run can delete the strays of dead processes without touching the
files that a live shard (another process on the same shared folder) is writing right now.
"""
from __future__ import annotations

import errno
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..atomic import HOST, TEMP_MARK, atomic_write_bytes
from ..errors import L2RError

# Temp files of a process on another host cannot be checked for liveness; after this long
# they are surely abandoned.
FOREIGN_TEMP_AGE_S = 3600.0


class ExportWriteError(L2RError):
    """The output folder cannot be written (missing, read-only, full disk)."""


def write_failure(path: Path, exc: OSError, folder: Path | None = None) -> ExportWriteError:
    """One clear sentence naming the output folder, the reason and the fix."""
    where = folder or path.parent
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "Free some space or choose another --out folder; rerun the same command to resume"
        why = "the disk is full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix, why = "Choose a folder you can write to with --out", "permission denied / read-only"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix, why = "Choose another --out folder", "a file stands where a folder is needed"
    else:
        fix, why = "Check the folder and choose another --out if needed", exc.strerror or str(exc)
    return ExportWriteError(f"cannot write the export folder {where}: {why} ({path.name}). {fix}.")


def write_bytes(path: Path, data: bytes, *, durable: bool = False, folder: Path | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (l2r_core.atomic), under a temp name carrying host and
    pid so stale temps of dead processes can be told apart; OSErrors become one clear message."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_bytes(path, data, durable=durable)
    except OSError as exc:
        raise write_failure(path, exc, folder) from None


def write_text(path: Path, text: str, **kw: Any) -> Path:
    return write_bytes(path, text.encode("utf-8"), **kw)


def write_json(path: Path, data: Any, **kw: Any) -> Path:
    return write_text(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=True) + "\n", **kw)


def _encoded(fill: Callable[[io.BytesIO], None]) -> bytes:
    buf = io.BytesIO()
    fill(buf)
    return buf.getvalue()


def write_npy(path: Path, array: np.ndarray, **kw: Any) -> Path:
    return write_bytes(path, _encoded(lambda f: np.save(f, array, allow_pickle=False)), **kw)


def write_png(path: Path, image: Image.Image, **kw: Any) -> Path:
    # compress_level 1: these are previews; level 6 costs 3-4x the time for ~10% smaller files
    return write_bytes(path, _encoded(lambda f: image.save(f, format="PNG", compress_level=1)), **kw)


def _silent_unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def is_stale_temp(p: Path, now: float | None = None) -> bool:
    """A temp file whose writer is gone: same host and dead pid, or another host and old."""
    name = p.name
    if not (name.startswith(".") and name.endswith(TEMP_MARK)):
        return False
    owner = name[: -len(TEMP_MARK)].rsplit(".", 1)[-1]  # host-pid-rand
    parts = owner.rsplit("-", 2)
    if len(parts) == 3 and parts[0] == HOST and parts[1].isdigit():
        return int(parts[1]) != os.getpid() and not _pid_alive(int(parts[1]))
    try:
        age = (now or time.time()) - p.stat().st_mtime
    except OSError:
        return False
    return age > FOREIGN_TEMP_AGE_S


def remove_stale_temps(root: Path) -> int:
    """Delete abandoned temp files under ``root`` (left by a killed run); returns how many."""
    removed = 0
    if not root.is_dir():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(TEMP_MARK):
                p = Path(dirpath) / name
                if is_stale_temp(p):
                    _silent_unlink(p)
                    removed += 1
    return removed


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written there, or raise ExportWriteError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(folder, exc, folder) from None
    probe = folder / ".l2r-write-probe"
    write_bytes(probe, b"ok", folder=folder)
    _silent_unlink(probe)
