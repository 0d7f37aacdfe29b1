"""A wall-clock budget for a training run (``--max-time``): how many steps fit, re-estimated as it runs.

The step count sets the schedule (warm-up, cosine, tau annealing), so fitting it to the budget
lets a run end annealed at the deadline instead of being cut off mid-schedule. The estimate
starts from the first steps' timing and is refitted after every step; the cost of periodic
validation and checkpoints, and of the final ones, is set aside from the time left.
"""
from __future__ import annotations

import re
import statistics
from collections import deque
from typing import Callable

from l2r_core.errors import ConfigError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``600``, ``90s``, ``10m``, ``1.5h`` or ``1h30m``; ConfigError otherwise."""
    s = str(text).strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|min|m|s|)", s)
    if not s or "".join(n + u for n, u in parts) != s or (len(parts) > 1 and any(u == "" for _, u in parts)):
        raise ConfigError(f"--max-time {text!r}: give seconds (600) or a duration such as 90s, 10m, 2h or 1h30m.")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"--max-time {text!r}: the budget must be longer than 0 seconds.")
    return seconds


class TimeBudget:
    """Steps that fit before ``deadline``; ``clock`` is injectable (monotonic seconds)."""

    WINDOW = 20  # recent steps whose median is the step time: robust to one slow step

    def __init__(self, seconds: float, clock: Callable[[], float], cap: int | None = None) -> None:
        self.clock = clock
        self.deadline = clock() + seconds
        self.cap = cap  # --steps, when given, bounds the fitted count
        self._steps: deque[float] = deque(maxlen=self.WINDOW)
        self._val_s: float | None = None
        self._checkpoint_s = 0.0

    def record_step(self, seconds: float) -> None:
        self._steps.append(seconds)

    def record_validation(self, seconds: float) -> None:
        self._val_s = seconds

    def record_checkpoint(self, seconds: float) -> None:
        self._checkpoint_s = max(self._checkpoint_s, seconds)

    @property
    def step_seconds(self) -> float | None:
        """Median of the recent steps, leaving out the first (it pays for one-off warm-up)."""
        times = list(self._steps)[1:] if len(self._steps) > 1 else list(self._steps)
        return statistics.median(times) if times else None

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def fit(self, step: int, val_every: int, checkpoint_every: int) -> int | None:
        """The total step count that ends the run (final validation and save included) by the
        deadline; at least ``step`` (stop now). None until a step has taken measurable time."""
        per_step = self.step_seconds
        if per_step is None or per_step <= 0:
            return None
        val = self._val_s or 0.0
        left = self.remaining() - val - 2 * self._checkpoint_s  # the final validation, checkpoint and save
        cost = per_step + (val / val_every if val_every else 0.0)
        cost += self._checkpoint_s / checkpoint_every if checkpoint_every else 0.0
        more = max(int(left // cost), 0) if cost > 0 else 0
        total = step + more
        return min(total, self.cap) if self.cap else total
