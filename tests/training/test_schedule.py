"""LR schedule: lr/25 at step 0, lr at the end of the 6% warm-up, lr/25/1e4 at the end."""
from __future__ import annotations

import pytest
import torch

from l2r_training.schedule import lr_at, make_scheduler, warmup_steps


def test_published_schedule_points() -> None:
    lr, total = 3e-4, 1000
    assert warmup_steps(total) == 60
    assert lr_at(0, total, lr) == pytest.approx(lr / 25)
    assert lr_at(30, total, lr) == pytest.approx(lr / 25 + (lr - lr / 25) * 0.5)
    assert lr_at(60, total, lr) == pytest.approx(lr)
    assert lr_at(total, total, lr) == pytest.approx(lr / 25 / 1e4, rel=1e-9)
    mid = 60 + (total - 60) // 2
    assert lr_at(mid, total, lr) == pytest.approx((lr + lr / 25 / 1e4) / 2, rel=1e-6)
    values = [lr_at(s, total, lr) for s in range(60, total + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone cosine decay


def test_scheduler_follows_the_formula_and_state_is_plain() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=3e-4)
    sched = make_scheduler(opt, 100)
    seen = []
    for _ in range(100):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([lr_at(s, 100, 3e-4) for s in range(100)])
    assert opt.param_groups[0]["lr"] == pytest.approx(3e-4 / 25 / 1e4)
    state = sched.state_dict()
    assert state["last_epoch"] == 100
    assert all(v is None for v in state["lr_lambdas"])  # no function objects to pickle


def test_no_warmup_starts_at_peak() -> None:
    assert lr_at(0, 50, 1e-3, warmup_frac=0.0) == pytest.approx(1e-3)
