"""The one job runner: partial results, cancellation within a step, queue/cancel policy, errors,
and a GUI event loop that keeps ticking while a job computes."""
from __future__ import annotations

import gc
import threading
import time
from typing import Any

import pytest
import torch
from PySide6.QtCore import QTimer

from l2r_desktop.workers import JobRunner

pytestmark = pytest.mark.gui


class GapMeter:
    """Ticks every 10 ms on the GUI thread and records the largest gap between ticks."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.max_gap = 0.0
        self.ticks = 0
        self.gaps: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self.last)
        self.gaps.append(now - self.last)
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        # As the application does after start-up (app.py): objects that live for the whole session
        # are kept out of the cyclic collector, whose full passes over a test session's heap of
        # torch and Qt objects would otherwise be measured as stalls.
        gc.collect()
        gc.freeze()
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        gc.unfreeze()


def compute_steps(n: int, seconds_per_step: float, threads: list[str]):
    """A fake long job: n steps of torch work, checking for cancellation at each step."""

    def job(progress: Any):
        threads.append(threading.current_thread().name)
        a = torch.randn(96, 96)
        for i in range(n):
            end = time.perf_counter() + seconds_per_step
            while time.perf_counter() < end:
                a = torch.tanh(a @ a.T / 96.0)
            progress.step(i + 1, n, f"step {i + 1}")
            yield i + 1
        return "complete"

    return job


@pytest.fixture
def runner(qtbot: Any):
    r = JobRunner()
    yield r
    assert r.shutdown(), "worker thread did not stop"
    assert not r.thread_running()


def test_partial_results_arrive_in_order_in_the_gui_thread(qtbot, runner):
    threads: list[str] = []
    partials: list[int] = []
    gui = threading.current_thread().name
    seen_in: list[str] = []

    def on_partial(item: int) -> None:
        partials.append(item)
        seen_in.append(threading.current_thread().name)

    with qtbot.waitSignal(runner.finished, timeout=10000) as done:
        runner.submit("explain", compute_steps(4, 0.01, threads), on_partial=on_partial)
    assert done.args[1] == "complete"
    assert partials == [1, 2, 3, 4]
    assert set(seen_in) == {gui} and threads[0] != gui  # work in the worker, results on the GUI thread


def test_cancel_stops_within_one_step_and_the_loop_never_stalls(qtbot, runner):
    threads: list[str] = []
    partials: list[int] = []
    meter = GapMeter()
    meter.start()
    runner.submit("refine", compute_steps(200, 0.02, threads), on_partial=partials.append)
    qtbot.waitUntil(lambda: len(partials) >= 20, timeout=20000)  # run ~0.4 s under the meter
    t0 = time.perf_counter()
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel("refine")
    stop_latency = time.perf_counter() - t0
    meter.stop()
    assert 20 <= len(partials) < 200
    assert stop_latency < 0.5, f"cancel took {stop_latency:.3f} s (one step is 0.02 s)"
    assert meter.ticks > 10
    slow = [round(g * 1000) for g in meter.gaps if g > 0.05]
    assert meter.max_gap < 0.1, f"the event loop stalled {meter.max_gap * 1000:.0f} ms ({slow})"


def test_new_job_cancels_a_stale_one_and_replaces_queued_jobs_of_its_kind(qtbot, runner):
    threads: list[str] = []
    finished: list[str] = []
    cancelled: list[str] = []

    def submit(name: str, steps: int, kind: str = "explain", stale: bool = True) -> None:
        runner.submit(kind, compute_steps(steps, 0.01, threads), name, stale_on_new=stale,
                      on_finished=lambda _r, n=name: finished.append(n),
                      on_cancelled=lambda n=name: cancelled.append(n))

    submit("load", 10, kind="model", stale=False)  # a model load is never cancelled by later jobs
    submit("explain-1", 50)  # queued behind the load ...
    submit("explain-2", 50)  # ... and replaced by this one (same kind)
    submit("explain-3", 3)
    qtbot.waitUntil(lambda: not runner.busy, timeout=15000)
    assert finished == ["load", "explain-3"]
    assert cancelled == ["explain-1", "explain-2"]


def test_running_stale_job_is_cancelled_by_a_new_submission(qtbot, runner):
    threads: list[str] = []
    partials: list[int] = []
    outcome: list[str] = []
    runner.submit("refine", compute_steps(500, 0.01, threads), on_partial=partials.append,
                  on_cancelled=lambda: outcome.append("refine cancelled"))
    qtbot.waitUntil(lambda: len(partials) >= 2, timeout=10000)
    runner.submit("explain", compute_steps(2, 0.01, threads), on_finished=lambda r: outcome.append(f"explain {r}"))
    qtbot.waitUntil(lambda: not runner.busy, timeout=10000)
    assert outcome == ["refine cancelled", "explain complete"]
    assert len(partials) < 500


def test_failures_come_back_as_a_signal_with_the_exception(qtbot, runner):
    def boom(progress: Any) -> None:
        raise MemoryError("no room")

    errors: list[Any] = []
    with qtbot.waitSignal(runner.failed, timeout=5000):
        runner.submit("explain", boom, on_failed=errors.append)
    assert isinstance(errors[0].exception, MemoryError) and "no room" in errors[0].trace
    # the runner keeps working after a failure
    with qtbot.waitSignal(runner.finished, timeout=5000) as ok:
        runner.submit("explain", lambda progress: 42)
    assert ok.args[1] == 42
