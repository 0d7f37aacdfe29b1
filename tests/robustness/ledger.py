"""What the robustness tests tried and what happened, for scripts/reliability_counts.py.

Every test records each input it feeds an entry point (``record``) and each output folder it
scans (``record_scan``). With ``L2R_RELIABILITY_LOG`` set, records are appended to that file as
JSON lines (appending survives test failures and xfails); without it, recording is a no-op.

Definitions used by the counts:
- crash: an uncaught exception (a ``Traceback`` on a CLI's stderr, an exit status other than
  0/2/130, a Python exception escaping the core API that is not an ``L2RError``, or a GUI dialog
  titled "Unexpected error");
- file lost or half-written: a temporary file left in an output folder, or an output under its
  final name that is empty or does not load (.npy, .png, .json, .safetensors).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from l2r_core.atomic import TEMP_MARK

LOG_ENV = "L2R_RELIABILITY_LOG"

# Real bugs the corpus found in files this suite does not own. Each has a test marked
# xfail(strict=True) naming the id: it starts passing (and so fails as XPASS) once the bug is fixed;
# then delete the entry and the mark. Crash bugs also appear in the counts as crashes.
KNOWN_BUGS: dict[str, str] = {}  # all seven found by this suite are fixed; add new ones here

CRASHING_ITEMS: dict[str, str] = {}


def known_bug(bug: str) -> pytest.MarkDecorator:
    """The strict xfail mark of a KNOWN_BUGS entry."""
    return pytest.mark.xfail(strict=True, reason=f"known bug {bug}: {KNOWN_BUGS[bug]}")


def _write(record: dict[str, Any]) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")


def record(entry: str, item: str, outcome: str, crash: bool = False, detail: str = "") -> None:
    """One input tried on one entry point (e.g. entry "cli:explain", item "evil_raw_pickle")."""
    _write({"type": "input", "entry": entry, "item": item, "outcome": outcome, "crash": bool(crash),
            "detail": detail[:300]})


def record_scan(where: str, problems: list[str]) -> None:
    """One output folder checked for lost or half-written files."""
    _write({"type": "scan", "where": where, "problems": problems})


def is_temp_name(name: str) -> bool:
    """Temporary names the product writes: one scheme for every file and folder, from
    l2r_core.atomic.temp_path_for (".<name>.<host>-<pid>-<random>.l2rtmp[suffix]")."""
    return name.startswith(".") and TEMP_MARK in name


def _check_file(p: Path) -> str | None:
    """Why ``p`` (under its final name) is not a complete output, or None."""
    if p.stat().st_size == 0 and p.suffix in (".npy", ".png", ".json", ".safetensors", ".csv", ".html"):
        return "empty"
    try:
        if p.suffix == ".npy":
            import numpy as np

            np.load(p, allow_pickle=False)
        elif p.suffix == ".png":
            from PIL import Image

            with Image.open(p) as img:
                img.load()
        elif p.suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))
        elif p.suffix == ".safetensors":
            from safetensors.numpy import load_file

            load_file(str(p))
    except Exception as exc:  # noqa: BLE001 - any failure to read back is the finding
        return f"unloadable ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def scan_outputs(folder: Path, where: str = "") -> list[str]:
    """Temp files and empty/unloadable outputs under ``folder`` (recorded, and returned)."""
    problems: list[str] = []
    root = Path(folder)
    if root.exists():
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if is_temp_name(p.name):
                problems.append(f"{rel}: temporary {'folder' if p.is_dir() else 'file'} left behind")
            elif p.is_file() and p.name != "lock" and (why := _check_file(p)):
                problems.append(f"{rel}: {why}")
    record_scan(where or str(root), problems)
    return problems


def is_crash_output(returncode: int, stderr: str) -> bool:
    """A CLI run crashed: a traceback, or an exit status the CLI never uses on purpose."""
    return "Traceback" in stderr or returncode not in (0, 2, 130)


__all__ = ["CRASHING_ITEMS", "KNOWN_BUGS", "LOG_ENV", "known_bug", "is_crash_output", "is_temp_name", "record",
           "record_scan", "scan_outputs"]
