"""The one place that creates threads: a single background worker with a small job queue.

Policy (never two compute jobs at once):
- jobs run one at a time, in order, on one QThread;
- submitting a job cancels the running job when that job is ``stale_on_new`` (explanations and
  refinements: their result no longer matters once the user asked for something else) and drops
  queued jobs of the same ``kind`` (only the latest request of a kind is worth doing);
- a model load is not stale: a later job waits behind it.

A job is a plain function ``fn(progress)`` taking a ``l2r_core.progress.CancelToken``. It returns its
result, or is a generator whose yielded items are partial results (emitted as ``partial``) and whose
return value is the final result. Cancellation: ``progress.step`` raises ``Cancelled`` inside the job,
and the runner also checks the token between yielded items, so a job stops within one step.
Results come back to the GUI thread as queued signals; workers never touch widgets.
"""
from __future__ import annotations

import inspect
import itertools
import os
import sys
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from l2r_core.errors import Cancelled
from l2r_core.progress import CancelToken

JobFn = Callable[[CancelToken], Any]
GIL_SWITCH_INTERVAL = 0.001  # seconds
WORKER_NICE = 10  # Linux per-thread niceness of the worker (the GUI thread keeps 0)


@dataclass
class Job:
    kind: str  # "model", "explain", "refine", ... : queued jobs of the same kind replace each other
    fn: JobFn
    label: str = ""
    stale_on_new: bool = True  # cancel this job when another one is submitted
    id: int = 0
    token: CancelToken = field(default_factory=CancelToken)
    # Called in the GUI thread (the runner's slots): the submitter's handlers for this job only.
    on_partial: Callable[[Any], None] | None = None
    on_finished: Callable[[Any], None] | None = None
    on_failed: Callable[["JobError"], None] | None = None
    on_cancelled: Callable[[], None] | None = None


@dataclass
class JobError:
    """What went wrong in a job, carried to the GUI thread (the exception itself, plus its trace)."""

    exception: BaseException
    trace: str


class _Worker(QObject):
    """Lives in the worker thread; runs one job per ``run`` call and reports through signals."""

    progress = Signal(int, int, int, str)  # job id, done, total, message
    partial = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, object)  # JobError
    cancelled = Signal(int)
    done = Signal(int)  # always last, whatever the outcome

    @Slot()
    def lower_priority(self) -> None:
        """Runs first in the worker thread: on a busy CPU the scheduler then prefers the GUI thread."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        except (AttributeError, OSError):  # not Linux, or not permitted: keep the default
            pass

    @Slot(object)
    def run(self, job: Job) -> None:
        token = _ReportingToken(job.token, lambda d, t, m: self.progress.emit(job.id, d, t, m))
        try:
            token.check()
            out = job.fn(token)
            if inspect.isgenerator(out):
                out = self._drain(job, token, out)
            token.check()
            self.finished.emit(job.id, out)
        except Cancelled:
            self.cancelled.emit(job.id)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI as a signal
            self.failed.emit(job.id, JobError(exc, traceback.format_exc()))
        finally:
            self.done.emit(job.id)

    def _drain(self, job: Job, token: "_ReportingToken", gen: Any) -> Any:
        try:
            while True:
                item = next(gen)
                token.check()  # stop within one step even if the job never calls progress.step
                self.partial.emit(job.id, item)
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()


class _ReportingToken(CancelToken):
    """The job's CancelToken, plus a callback on every ``step`` (forwarded as a Qt signal)."""

    def __init__(self, inner: CancelToken, report: Callable[[int, int, str], None]) -> None:
        super().__init__()
        self._event = inner._event  # share the cancel flag with the submitter's token
        self._report = report

    def step(self, done: int, total: int, message: str = "") -> None:
        self.check()
        self.done, self.total, self.message = done, total, message
        self._report(done, total, message)


def _call(handler: Callable[..., None] | None, *args: Any) -> None:
    """Run a submitter's handler; a bug in it is reported (sys.excepthook) but never stalls the queue."""
    if handler is None:
        return
    try:
        handler(*args)
    except Exception:  # noqa: BLE001
        sys.excepthook(*sys.exc_info())


class JobRunner(QObject):
    """Owns the worker thread. Lives in the GUI thread; all its signals arrive there."""

    started = Signal(int, str, str)  # job id, kind, label
    progress = Signal(int, int, int, str)
    partial = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int)
    idle = Signal()
    busyChanged = Signal(bool)
    _submit = Signal(object)

    _ids = itertools.count(1)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # The GUI thread hands the GIL to the worker on every Qt call; by default it may then wait
        # 5 ms to get it back from Python code in the worker, which adds up to visible stalls.
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._thread = QThread()
        self._thread.setObjectName("l2r-worker")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.lower_priority)
        self._submit.connect(self._worker.run)
        w = self._worker
        w.progress.connect(self.progress)
        w.partial.connect(self._on_partial)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.done.connect(self._on_done)
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._outcome: tuple[str, object] = ("cancelled", None)
        self._thread.start()

    # -- public API ------------------------------------------------------------------------
    def submit(self, kind: str, fn: JobFn, label: str = "", *, stale_on_new: bool = True,
               on_partial: Callable[[Any], None] | None = None,
               on_finished: Callable[[Any], None] | None = None,
               on_failed: Callable[[JobError], None] | None = None,
               on_cancelled: Callable[[], None] | None = None) -> Job:
        job = Job(kind, fn, label or kind, stale_on_new, next(self._ids),
                  on_partial=on_partial, on_finished=on_finished, on_failed=on_failed, on_cancelled=on_cancelled)
        if self._running is not None and self._running.stale_on_new:
            self._running.token.cancel()
        for dropped in [j for j in self._queue if j.kind == kind]:
            self._queue.remove(dropped)
            if dropped.on_cancelled:
                dropped.on_cancelled()
        self._queue.append(job)
        self._start_next()
        return job

    def cancel(self, kind: str | None = None) -> None:
        """Cancel the running job (of ``kind``, if given) and drop queued jobs of that kind."""
        if self._running is not None and kind in (None, self._running.kind):
            self._running.token.cancel()
        for dropped in [j for j in self._queue if kind is None or j.kind == kind]:
            self._queue.remove(dropped)
            if dropped.on_cancelled:
                dropped.on_cancelled()

    @property
    def running(self) -> Job | None:
        return self._running

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def is_current(self, job_id: int) -> bool:
        """True when ``job_id`` is running and not cancelled: only such results are shown."""
        r = self._running
        return r is not None and r.id == job_id and not r.token.cancelled

    def shutdown(self, wait_ms: int = 60000) -> bool:
        """Cancel everything and stop the thread; returns False if it did not stop in time."""
        self.cancel()
        self._thread.quit()
        ok = self._thread.wait(wait_ms)
        return bool(ok)

    def thread_running(self) -> bool:
        return self._thread.isRunning()

    # -- internals -------------------------------------------------------------------------
    def _start_next(self) -> None:
        if self._running is not None or not self._queue:
            return
        self._running = self._queue.popleft()
        self._outcome = ("cancelled", None)
        self.busyChanged.emit(True)
        self.started.emit(self._running.id, self._running.kind, self._running.label)
        self._submit.emit(self._running)

    @Slot(int, object)
    def _on_partial(self, job_id: int, item: object) -> None:
        if self.is_current(job_id):  # drop updates from a job that was cancelled meanwhile
            assert self._running is not None
            _call(self._running.on_partial, item)
            self.partial.emit(job_id, item)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        if self.is_current(job_id):
            assert self._running is not None
            self._outcome = ("finished", result)
        # else: cancelled after its last step; reported as cancelled in _on_done

    @Slot(int, object)
    def _on_failed(self, job_id: int, err: object) -> None:
        if self.is_current(job_id):
            self._outcome = ("failed", err)

    @Slot(int)
    def _on_done(self, job_id: int) -> None:
        job = self._running
        if job is None or job.id != job_id:
            return
        outcome, self._outcome = self._outcome, ("cancelled", None)
        self._running = None
        # The job is no longer "running" when its handlers run, so they may submit the next job.
        if outcome[0] == "finished":
            _call(job.on_finished, outcome[1])
            self.finished.emit(job_id, outcome[1])
        elif outcome[0] == "failed":
            _call(job.on_failed, outcome[1])
            self.failed.emit(job_id, outcome[1])
        else:
            _call(job.on_cancelled)
            self.cancelled.emit(job_id)
        self._start_next()
        if self._running is None:
            self.busyChanged.emit(False)
            self.idle.emit()
