"""The training engine's levers: --max-time with a fitted schedule, threads, checkpointing, one target."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from l2r_core.errors import ConfigError
from l2r_core.explainer import load_explainer
from l2r_core.progress import CancelToken
from l2r_training.budget import TimeBudget, parse_duration
from l2r_training.cli.train import main
from l2r_training.loop import train
from l2r_training.metrics_log import read_log
from l2r_training.schedule import lr_at
from l2r_training.session import activation_bytes, needs_checkpointing, training_threads

from .conftest import tiny_config


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TickPerStep(CancelToken):
    """Each finished step costs ``seconds`` of the fake clock (the loop reports after every step)."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def step(self, done: int, total: int, message: str = "") -> None:
        super().step(done, total, message)
        if message != "starting":
            self.clock.now += self.seconds


@pytest.mark.parametrize("text, seconds", [("600", 600), ("90s", 90), ("10m", 600), ("2h", 7200),
                                           ("1h30m", 5400), ("1.5h", 5400), (" 20 min ", 1200)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "-5", "0", "10m5"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ConfigError, match="--max-time"):
        parse_duration(text)


def test_budget_fits_steps_and_sets_aside_validation_and_checkpoints() -> None:
    clock = FakeClock()
    b = TimeBudget(100.0, clock)
    assert b.fit(0, 0, 0) is None  # nothing timed yet
    for t in (9.0, 1.0, 1.0, 1.0):  # the first step pays for warm-up and is left out
        b.record_step(t)
    clock.now += 12.0
    assert b.fit(4, 0, 0) == 4 + 88
    b.record_validation(4.0)  # every 10 steps, and once more at the end
    assert b.fit(4, 10, 0) == 4 + int((88 - 4) // 1.4)
    capped = TimeBudget(100.0, clock, cap=20)
    capped.record_step(1.0)
    assert capped.fit(0, 0, 0) == 20
    clock.now += 200
    assert b.fit(4, 10, 0) == 4  # past the deadline: stop now


def test_max_time_stops_within_a_step_of_the_budget_with_an_annealed_schedule(
        tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = tiny_config(image_dir, tmp_path / "run", steps=0, max_time=30.0, val_every=0, checkpoint_every=0)
    start = clock.now
    result = train(cfg, tiny_model, None, TickPerStep(clock, 2.0), clock=clock)
    assert result.status == "done" and result.step == result.total
    assert 30.0 - 2.0 <= clock.now - start <= 30.0 + 2.0  # ended within one step of the budget
    assert result.step in (14, 15)
    steps = [r for r in read_log(tmp_path / "run" / "metrics.jsonl") if r["event"] == "step"]
    last = steps[-1]
    assert last["total"] == result.step
    # The schedule was fitted to the steps that fit: the last step runs at the end of the cosine and of
    # the tau anneal, not at the provisional 1000-step schedule's start.
    assert last["lr"] == pytest.approx(lr_at(result.step - 1, result.step, cfg.lr), rel=1e-6)
    assert last["lr"] < 0.05 * cfg.lr
    assert last["tau"] == pytest.approx(cfg.loss.tau_at(result.step - 1, result.step))
    assert load_explainer(result.explainer_dir, tiny_model).decoder is not None  # a usable explainer


def test_max_time_respects_a_step_cap(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = tiny_config(image_dir, tmp_path / "run", steps=3, max_time=1000.0, val_every=0, checkpoint_every=0)
    result = train(cfg, tiny_model, None, TickPerStep(clock, 1.0), clock=clock)
    assert result.step == 3


@pytest.mark.slow
def test_cli_max_time_leaves_a_usable_explainer(tiny_weights: Path, image_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=0).save(tmp_path / "tiny.json")
    code = main(["train", str(image_dir), "--config", str(cfg), "--weights", str(tiny_weights),
                 "--max-time", "4s", "--val-every", "0", "--quiet"])
    assert code == 0
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    assert log[0]["max_time"] == 4.0 and log[-1]["event"] == "done" and log[-1]["step"] >= 1
    from l2r_core.models.loading import load_model

    assert load_explainer(tmp_path / "run" / "explainer", load_model("timm:resnet10t", weights=tiny_weights))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(image_dir), "--max-time", "soon"])
    assert exit_info.value.code == 2 and "such as 90s, 10m" in capsys.readouterr().err


def test_threads_and_checkpointing_choices(tiny_model: Any) -> None:
    assert training_threads(3) == 3
    assert training_threads(0) >= 1
    per_image = activation_bytes(tiny_model, (1, 3, 32, 32), contextlib.nullcontext)
    assert per_image > 32 * 32 * 3 * 4  # at least the input and the first activations
    free = 10_000_000
    assert needs_checkpointing("auto", 1000, 100, free) is False  # 0.1 MB of 10 MB
    assert needs_checkpointing("auto", 100_000, 100, free) is True  # 10 MB: more than half
    assert needs_checkpointing("auto", 100_000, 100, None) is False
    assert needs_checkpointing("on", 1, 1, free) and not needs_checkpointing("off", 10**9, 10**9, free)


def test_one_target_per_image_and_run_settings_are_logged(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=2, targets="one", threads=1)
    result = train(cfg, tiny_model)
    assert result.status == "done" and result.loss is not None and result.loss == result.loss
    start = read_log(tmp_path / "run" / "metrics.jsonl")[0]
    assert start["threads"] == 1 and start["grad_checkpointing"] is False and start["bf16"] is False
