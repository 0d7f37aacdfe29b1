"""Learning-rate schedule of the paper: linear warm-up from lr/25, then cosine down to lr/25/1e4.

These are OneCycle's div_factor=25 and final_div_factor=1e4. The schedule is a pure function of the
step, so a resumed run sets the same learning rate as an uninterrupted one.
"""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(step: int, total: int, warmup_frac: float = 0.06, start_div: float = 25.0,
              final_div: float = 1e4) -> float:
    """Multiplier of the peak lr at ``step`` (0-based) of ``total`` steps; ``step == total`` is the end."""
    total = max(int(total), 1)
    warmup = warmup_steps(total, warmup_frac)
    start = 1.0 / start_div
    if step < warmup:
        return start + (1.0 - start) * step / warmup
    final = start / final_div
    progress = min(max((step - warmup) / max(total - warmup, 1), 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps(total: int, warmup_frac: float = 0.06) -> int:
    """Number of warm-up steps (0 when the fraction is 0)."""
    return int(round(max(warmup_frac, 0.0) * max(int(total), 1)))


def lr_at(step: int, total: int, lr: float, warmup_frac: float = 0.06, start_div: float = 25.0,
          final_div: float = 1e4) -> float:
    return lr * lr_factor(step, total, warmup_frac, start_div, final_div)


class ScheduleLength:
    """The run's step count, shared by the scheduler and the loop so a time budget can refit it."""

    def __init__(self, total: int) -> None:
        self.total = int(total)


def make_scheduler(optimizer: torch.optim.Optimizer, total: int | ScheduleLength, warmup_frac: float = 0.06,
                   start_div: float = 25.0, final_div: float = 1e4) -> LambdaLR:
    """A LambdaLR over ``lr_factor``; its state_dict holds plain numbers only (weights_only safe).
    Given a ``ScheduleLength``, each step reads its current total."""
    length = total if isinstance(total, ScheduleLength) else ScheduleLength(total)

    def factor(step: int) -> float:
        return lr_factor(step, length.total, warmup_frac, start_div, final_div)

    return LambdaLR(optimizer, factor)
