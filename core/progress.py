"""Progress and cancellation for long jobs, without Qt.

Long functions in l2r_core and l2r_training take a ``Progress`` and call ``progress.step(...)``
between units of work; a GUI worker or a CLI progress bar supplies the implementation.
"""
from __future__ import annotations

import threading
from typing import Protocol

from .errors import Cancelled


class Progress(Protocol):
    def step(self, done: int, total: int, message: str = "") -> None:
        """Report progress; raises ``Cancelled`` if the job should stop."""

    @property
    def cancelled(self) -> bool: ...


class CancelToken:
    """Thread-safe progress sink that records the last report and can be cancelled."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.done = 0
        self.total = 0
        self.message = ""

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def step(self, done: int, total: int, message: str = "") -> None:
        self.done, self.total, self.message = done, total, message
        self.check()


class NullProgress(CancelToken):
    """Progress that is never cancelled and reports nowhere."""


def ensure_progress(progress: Progress | None) -> Progress:
    return progress if progress is not None else NullProgress()


class CancelOnly:
    """Forwards only cancellation from ``outer``: a sub-task's own steps must not move the
    caller's progress bar, but a cancel must still stop it."""

    def __init__(self, outer: Progress) -> None:
        self._outer = outer

    @property
    def cancelled(self) -> bool:
        return bool(self._outer.cancelled)

    def step(self, done: int, total: int, message: str = "") -> None:
        if self._outer.cancelled:
            raise Cancelled()
