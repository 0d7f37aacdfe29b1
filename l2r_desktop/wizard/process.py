"""``l2r train`` as a child process (QProcess) and a follower of its JSON-lines metrics log.

Training runs in its own process so the window never shares the GIL, memory or a crash with it.
Stopping sends SIGTERM (``QProcess.terminate``): the trainer finishes its current step, writes a
resumable checkpoint, logs "interrupted" and exits with status 130. A QProcess is not a thread;
the log is polled with a QTimer (file watchers miss appends on some file systems).
"""
from __future__ import annotations

import json
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

POLL_MS = 250
TAIL_LINES = 40
ERROR_PREFIX = "l2r: error:"


def train_command(args: list[str]) -> tuple[str, list[str]]:
    """(program, arguments) running the ``l2r`` command line with this Python, or, in the frozen
    desktop build (no ``python -m`` there), through the app's own ``--cli`` entry."""
    if getattr(sys, "frozen", False):
        return sys.executable, ["--cli", *args]
    return sys.executable, ["-m", "l2r_training.cli", *args]


class LogFollower(QObject):
    """Emits each complete new record of a JSON-lines file; survives the file being replaced."""

    record = Signal(dict)

    def __init__(self, parent: QObject | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self._offset = 0
        self._since = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)

    def start(self, path: Path, since: float = 0.0) -> None:
        """Follow ``path`` from its start; records older than ``since`` (unix time) are skipped,
        so a fresh run never shows the lines of the run it replaces."""
        self.path, self._offset, self._since = Path(path), 0, since
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.poll()

    def poll(self) -> None:
        if self.path is None:
            return
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if size < self._offset:  # truncated: a fresh run started a new log
            self._offset = 0
        if size == self._offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next poll
        self._offset += end
        for line in chunk[:end].splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and float(rec.get("time") or 0) >= self._since:
                self.record.emit(rec)


@dataclass
class RunOutcome:
    status: str  # "done" | "interrupted" | "failed"
    exit_code: int
    crashed: bool  # killed by a signal or crashed
    stop_requested: bool
    cause: str = ""  # one line: why it failed
    tail: str = ""  # the last lines of stderr
    last: dict[str, Any] = field(default_factory=dict)  # the last log record


class TrainingProcess(QObject):
    """One ``l2r train`` child at a time. ``record`` carries every metrics-log record live."""

    record = Signal(dict)
    started = Signal()
    finished = Signal(object)  # RunOutcome

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proc: QProcess | None = None
        self.follower = LogFollower(self)
        self.follower.record.connect(self._on_record)
        self._stderr: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = b""
        self._last: dict[str, Any] = {}
        self._stop_requested = False

    def running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def start(self, args: list[str], log_path: str | Path, *, fresh: bool,
              env: dict[str, str] | None = None) -> None:
        """Start ``l2r train ARGS``; ``fresh`` ignores log lines written before now."""
        if self.running():
            raise RuntimeError("a training process is already running")
        self._stderr.clear()
        self._partial, self._last, self._stop_requested = b"", {}, False
        proc = QProcess(self)
        if env:
            penv = QProcessEnvironment.systemEnvironment()
            for k, v in env.items():
                penv.insert(k, v)
            proc.setProcessEnvironment(penv)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.setStandardOutputFile(QProcess.nullDevice())  # the log and stderr say everything
        proc.started.connect(self.started)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        self.follower.start(Path(log_path), since=time.time() - 1.0 if fresh else 0.0)
        program, arguments = train_command(args)
        proc.start(program, arguments)

    def stop(self) -> None:
        """SIGTERM: the trainer checkpoints after the current step and exits (status 130)."""
        if self.running():
            self._stop_requested = True
            assert self._proc is not None
            self._proc.terminate()

    def kill(self, wait_ms: int = 0) -> None:
        """SIGKILL (no checkpoint); ``wait_ms`` > 0 waits for the process to be gone."""
        if self.running():
            self._stop_requested = True
            assert self._proc is not None
            self._proc.kill()
            if wait_ms > 0:
                self._proc.waitForFinished(wait_ms)

    def shutdown(self, wait_ms: int = 30000) -> None:
        """Blocking stop for closing time: SIGTERM, wait for the checkpoint, then SIGKILL."""
        if not self.running():
            return
        assert self._proc is not None
        self.stop()
        if not self._proc.waitForFinished(wait_ms):
            self._proc.kill()
            self._proc.waitForFinished(5000)

    def pid(self) -> int:
        return int(self._proc.processId()) if self._proc is not None else 0

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # -- internals -------------------------------------------------------------------------
    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        data = self._partial + bytes(self._proc.readAllStandardError().data())
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip("\r")
            if text.strip():
                self._stderr.append(text)

    def _on_record(self, rec: dict) -> None:
        self._last = rec
        self.record.emit(rec)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._stderr.append(f"{ERROR_PREFIX} could not start {sys.executable}: "
                                f"{self._proc.errorString() if self._proc else error}")
            self._finish(-1, True)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stderr()
        if self._partial.strip():
            self._stderr.append(self._partial.decode("utf-8", "replace"))
            self._partial = b""
        self._finish(int(exit_code), exit_status == QProcess.ExitStatus.CrashExit)

    def _finish(self, code: int, crashed: bool) -> None:
        self.follower.stop()  # the last records before the outcome
        event = self._last.get("event")
        if code == 0 and event == "done":
            status = "done"
        elif event == "interrupted" or (code == 130 and not crashed):
            status = "interrupted"
        else:
            status = "failed"
        outcome = RunOutcome(status, code, crashed, self._stop_requested, tail=self.stderr_tail(),
                             last=dict(self._last))
        if status == "failed":
            outcome.cause = failure_cause(outcome)
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.deleteLater()
        self.finished.emit(outcome)


def failure_cause(o: RunOutcome) -> str:
    """One line for the user: the CLI's own error line, the log's error record, or the exit."""
    lines = o.tail.splitlines()
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):].strip()
    if o.last.get("event") == "error" and o.last.get("message"):
        return str(o.last["message"])
    if o.stop_requested:
        return "stopped before the first checkpoint (nothing was saved yet)"
    if o.crashed:
        return "the training process was killed or crashed" + (f": {lines[-1]}" if lines else "")
    return f"the training process exited with status {o.exit_code}" + (f": {lines[-1]}" if lines else "")
