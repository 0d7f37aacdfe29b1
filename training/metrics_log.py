"""JSON-lines metrics log: one object per line, flushed at once so a GUI can follow it live.

Events: "start", "step", "val", "checkpoint", "interrupted", "done", "error". Every record has
"event", "step", "total" and "time" (unix seconds); step records add "loss", "lr", "tau", "grid",
"reference", "eta_s"; val records add "del_auc", "ins_auc", "protocol".
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

EVENTS = ("start", "step", "val", "checkpoint", "interrupted", "done", "error")


def json_safe(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every line parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class MetricsLog:
    """Append-only writer. ``enabled=False`` (non-zero DDP ranks) makes every call a no-op."""

    def __init__(self, path: str | Path, enabled: bool = True, append: bool = True) -> None:
        """``append=False`` starts a new log (a fresh run); resumed runs append to theirs."""
        self.path = Path(path)
        self.enabled = enabled
        self._file: TextIO | None = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a" if append else "w", encoding="utf-8")

    def write(self, event: str, step: int, total: int, **fields: Any) -> dict[str, Any]:
        if event not in EVENTS:
            raise ValueError(f"unknown metrics event '{event}'")
        record = {"event": event, "step": int(step), "total": int(total), "time": round(time.time(), 3)}
        record.update(json_safe(fields))
        if self._file is not None:
            self._file.write(json.dumps(record, sort_keys=False) + "\n")
            self._file.flush()
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "MetricsLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All complete records; a half-written last line (a live run) is skipped."""
    return list(iter_log(path))


def iter_log(path: str | Path) -> Iterator[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        return
    with open(p, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


class EtaClock:
    """Seconds left, from the mean time of the steps run in this process (resumes start fresh)."""

    def __init__(self, start_step: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.start_step = start_step
        self.clock = clock
        self.t0 = clock()

    def eta(self, done: int, total: int) -> float:
        ran = done - self.start_step
        if ran <= 0:
            return float("nan")
        return (self.clock() - self.t0) / ran * max(total - done, 0)


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
