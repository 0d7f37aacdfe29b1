"""Time estimates (no Qt): before the run, from a few measured steps, scaled to the chosen batch and
image size and recomputed whenever the settings change; during the run, from the real step times of
its metrics log (remaining steps x the median of the recent step times)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from l2r_training.metrics_log import format_eta

from .options import WizardOptions, total_steps

PROBE_STEPS = 3  # the test run's steps: the first warms up, the others give the steady time
RECENT = 10  # step times the run's ETA looks back on


@dataclass
class StepTiming:
    """What the test steps measured, per image, with the settings it was measured at."""

    seconds_per_image: float
    batch: int
    pixels: int  # input height x width of the test steps (0: unknown)
    first_step_s: float  # the first step, model warm-up included
    steps: int  # steps measured
    key: tuple[Any, ...]  # settings that change the time per image (model, device, threads, ...)


def timing_key(o: WizardOptions) -> tuple[Any, ...]:
    """Settings that make a measurement stale: not batch, image size or length (those are scaled)."""
    return (*o.model_key(), o.backbone.strip(), o.init.strip(), o.device, o.threads,
            tuple(sorted((k, str(v)) for k, v in o.advanced.items())), o.extra_config.strip())


def input_pixels(o: WizardOptions, model_size: tuple[int, int] | None) -> int:
    """Input pixels per image: the chosen square size, else the model's own (0: not known yet)."""
    if o.image_size:
        return o.image_size * o.image_size
    return model_size[0] * model_size[1] if model_size else 0


def step_seconds(times: Sequence[tuple[int, float]]) -> float:
    """Median seconds per step of consecutive (step, unix time) records; nan with fewer than two."""
    per = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(times, times[1:]) if s1 > s0 and t1 >= t0]
    return float(statistics.median(per)) if per else math.nan


def measure(start_time: float, times: Sequence[tuple[int, float]], o: WizardOptions,
            model_size: tuple[int, int] | None) -> StepTiming | None:
    """The test run's timing: the steady step time (the first step's when only one was measured)."""
    if not times or not start_time:
        return None
    first = max(times[0][1] - start_time, 1e-3)
    steady = step_seconds(times)
    per_step = steady if math.isfinite(steady) and steady > 0 else first
    return StepTiming(per_step / max(o.batch_size, 1), o.batch_size, input_pixels(o, model_size), first,
                      len(times), timing_key(o))


def seconds_per_step(t: StepTiming, o: WizardOptions, model_size: tuple[int, int] | None) -> float:
    """The measured time per image scaled by the batch size and the number of input pixels."""
    pixels = input_pixels(o, model_size)
    scale = pixels / t.pixels if pixels and t.pixels else 1.0
    return t.seconds_per_image * max(o.batch_size, 1) * scale


def estimate_text(t: StepTiming | None, o: WizardOptions, n_train: int,
                  model_size: tuple[int, int] | None) -> str:
    """One line for the settings page; "" before anything was measured."""
    if t is None:
        return ""
    if t.key != timing_key(o):
        return "The model, device, threads or method settings changed since the measurement: estimate again."
    per_step = seconds_per_step(t, o, model_size)
    steps = total_steps(o, n_train)
    pixels = input_pixels(o, model_size)
    size = f", {math.isqrt(pixels)} px" if pixels and o.image_size else ""
    basis = (f"{per_step:.2f} s per step at batch {o.batch_size}{size} (measured {t.seconds_per_image:.3f} s "
             f"per image over {t.steps} test step{'s' if t.steps != 1 else ''})")
    limit = 60.0 * o.max_minutes
    if limit and (o.length_unit != "steps" or per_step * steps > limit):
        fit = max(1, int(limit // per_step))
        cap = f" of the {steps} asked for" if o.length_unit == "steps" else ""
        return f"{basis}: the {o.max_minutes} min time limit fits about {fit} steps{cap}."
    return f"{basis}: about {format_eta(per_step * steps)} for {steps} steps, plus validation."


def run_eta(times: Iterable[tuple[int, float]], step: int, total: int, fallback: float | None) -> tuple[float, float]:
    """(seconds per step, ETA) of a running run from its recent step records; the trainer's own
    ``eta_s`` (``fallback``) until two steps were seen."""
    per_step = step_seconds(list(times)[-(RECENT + 1):])
    if math.isfinite(per_step):
        return per_step, max(total - step, 0) * per_step
    return math.nan, (float(fallback) if fallback is not None else math.nan)
