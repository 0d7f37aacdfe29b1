"""The training loop: a plain function with a progress/cancel object, no Qt.

Each step: seeded batch, grid G ~ U[grid_min, grid_max], tau from the linear schedule, a random
reference (black / mean / blur), the soft deletion/insertion loss for two targets per image
(top-1 and runner-up-or-label; or one of them, drawn per image), AdamW with clipping 1.0, warm-up +
cosine learning rate. With a time budget the step count is fitted to it as the run goes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.profiler import record_function

from l2r_core.errors import Cancelled, NonFiniteError
from l2r_core.explainer import Explainer, save_explainer
from l2r_core.models.adapter import ModelAdapter
from l2r_core.progress import Progress, ensure_progress

from . import ddp
from .budget import TimeBudget
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .data import second_targets
from .metrics_log import format_eta
from .session import Session, prepare, validate


@dataclass
class TrainResult:
    status: str  # "done" | "interrupted"
    step: int  # steps completed
    total: int
    out: Path
    explainer_dir: Path | None = None  # the final explainer (status "done")
    checkpoint: Path | None = None  # the last checkpoint written
    loss: float | None = None
    val: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """One 63-bit seed per (run seed, step, rank): resumed runs draw the same numbers."""
    return (seed * 1_000_003 + step * 9_176 + rank * 7_919 + 0x5EED) % (2**63 - 1)


def train_step(s: Session, step: int) -> dict[str, Any]:
    """One optimisation step; returns the numbers to log. Raises NonFiniteError on NaN/inf."""
    cfg, loss_cfg = s.config, s.config.loss
    torch.manual_seed(step_seed(cfg.seed, step, s.dist.rank))  # covers anything on the global RNG
    gen = torch.Generator().manual_seed(step_seed(cfg.seed, step, s.dist.rank))
    grid = int(loss_cfg.sample_grid(gen))  # drawn in both modes so the random stream is the same
    tau = float(loss_cfg.tau_at(step, s.total))
    reference = loss_cfg.sample_reference(gen)
    x, labels = s.loader.get(step)
    x = x.to(s.device, non_blocking=True)
    if loss_cfg.ranking == "buckets":  # rank-bucket form: near pixel-level cells instead of G x G
        grid = min(loss_cfg.bucket_resolution, int(x.shape[-2]), int(x.shape[-1]))
    elif loss_cfg.ranking == "threshold":  # pixel-level thresholds: no grid
        grid = 0
    with record_function("l2r.features"), torch.no_grad(), s.autocast():
        logits, feats = s.explainer.features(x)
    top1, second = second_targets(logits.float(), labels, cfg.second_target, gen)
    if cfg.targets == "one":  # one target per image: top-1 or the second, by a fair coin
        coin = torch.rand(top1.shape, generator=gen).to(top1.device) < 0.5
        targets, xs, feats_t = torch.where(coin, top1, second), x, [f.float() for f in feats]
    else:  # loss averaged over both targets of every image
        targets, xs = torch.cat([top1, second]), torch.cat([x, x])
        feats_t = [torch.cat([f, f]).float() for f in feats]
    with record_function("l2r.decoder"):
        maps = s.decoder(feats_t, targets, (int(x.shape[-2]), int(x.shape[-1])), xs)
    loss = s.loss_fn(xs, maps, targets, grid=grid, reference=reference, tau=tau,
                     seed=step_seed(cfg.seed, step, s.dist.rank))
    if ddp.any_rank(not bool(torch.isfinite(loss)), s.dist, s.device):
        raise NonFiniteError(f"step {step}: the loss became NaN or inf (grid {grid}, reference {reference}). "
                             f"The last good checkpoint is kept; lower --lr or check the model's outputs.")
    s.optimizer.zero_grad(set_to_none=True)
    with record_function("l2r.backward"):
        loss.backward()
    gnorm = float(torch.nn.utils.clip_grad_norm_(s.params, cfg.grad_clip))
    if not math.isfinite(gnorm):  # gradients are already averaged, so every rank sees the same norm
        raise NonFiniteError(f"step {step}: the gradients became NaN or inf. The last good checkpoint is kept; "
                             f"lower --lr.")
    lr = float(s.optimizer.param_groups[0]["lr"])
    with record_function("l2r.optimizer"):
        s.optimizer.step()
    s.scheduler.step()
    return {"loss": ddp.mean_value(float(loss.detach()), s.dist, s.device), "lr": lr, "tau": tau,
            "grid": grid, "reference": reference, "grad_norm": gnorm}


def _check_stop(s: Session, progress: Progress, step: int, message: str) -> None:
    """progress.step may raise Cancelled; under DDP every rank stops at the same step."""
    stop = False
    try:
        progress.step(step, s.total, message)
    except Cancelled:
        stop = True
    if ddp.any_rank(stop, s.dist, s.device):
        raise Cancelled()


def _checkpoint(s: Session, step: int) -> Path | None:
    path = None
    if s.dist.is_main:
        path = save_checkpoint(s.out, s.explainer, s.optimizer, s.scheduler, step, s.total, s.config,
                               keep=s.config.keep_checkpoints)
        s.log.write("checkpoint", step, s.total, path=str(path))
    ddp.barrier(s.dist)
    return path


def _validate_and_log(s: Session, step: int) -> dict[str, Any]:
    val: dict[str, Any] = {}
    if s.dist.is_main and s.val_x.shape[0] > 0:
        val = validate(s.explainer, s.model, s.val_x, s.config)
        if s.val_native_x.shape[0] > 0:
            native = validate(s.explainer, s.model, s.val_native_x, s.config)
            val.update(native_del_auc=native["del_auc"], native_ins_auc=native["ins_auc"],
                       native_size=list(s.val_native_x.shape[-2:]))
        s.log.write("val", step, s.total, **val)
    return val


def _refit(s: Session, budget: TimeBudget | None, step: int) -> None:
    """Fit the step count (and with it the schedule) to the time left."""
    if budget is None:
        return
    fitted = budget.fit(step, s.config.val_every, s.config.checkpoint_every)
    total = ddp.broadcast_int(s.total if fitted is None else fitted, s.dist, s.device)  # one schedule for all ranks
    s.total = total


def _run(s: Session, progress: Progress, budget: TimeBudget | None) -> TrainResult:
    step, result = s.start_step, TrainResult("done", s.start_step, s.total, s.out)
    _check_stop(s, progress, step, "starting")
    if budget is not None and s.config.val_every:  # times validation for the budget; a baseline too
        t0 = budget.clock()
        result.val = _validate_and_log(s, step)
        budget.record_validation(budget.clock() - t0)
    started, overhead = None, 0.0  # the last step's start; validation/checkpoint time since then
    while True:
        now = s.clock.clock()
        if budget is not None and started is not None:  # a step's time runs from one start to the next
            budget.record_step(now - started - overhead)
            _refit(s, budget, step)
        if step >= s.total:
            break
        started, overhead = now, 0.0
        rec = train_step(s, step)
        step += 1
        s.current_step = result.step = step
        result.loss = rec["loss"]
        result.total = s.total
        eta = s.clock.eta(step, s.total) if budget is None else max(budget.remaining(), 0.0)
        s.log.write("step", step, s.total, eta_s=round(eta, 1) if math.isfinite(eta) else None, **rec)
        if s.config.val_every and step % s.config.val_every == 0 and step < s.total:
            t0 = s.clock.clock()
            result.val = _validate_and_log(s, step)
            overhead += s.clock.clock() - t0
            if budget is not None:
                budget.record_validation(s.clock.clock() - t0)
        if s.config.checkpoint_every and step % s.config.checkpoint_every == 0 and step < s.total:
            t0 = s.clock.clock()
            result.checkpoint = _checkpoint(s, step)
            overhead += s.clock.clock() - t0
            if budget is not None:
                budget.record_checkpoint(s.clock.clock() - t0)
        _check_stop(s, progress, step, f"loss {rec['loss']:.4f}  lr {rec['lr']:.2e}  eta {format_eta(eta)}")
    result.total = s.total
    result.val = _validate_and_log(s, step) or result.val
    result.checkpoint = _checkpoint(s, step)
    if s.dist.is_main:
        extra = {"training": s.config.to_dict(), "steps": step, "val": result.val, "data_root": s.config.data}
        result.explainer_dir = save_explainer(s.explainer, s.out / "explainer", extra=extra).parent
        s.log.write("done", step, s.total, explainer=str(result.explainer_dir), loss=result.loss, **result.val)
    result.message = f"trained {step} steps; explainer saved in {s.out / 'explainer'}"
    return result


def train(config: TrainConfig, model: ModelAdapter, explainer: Explainer | None = None,
          progress: Progress | None = None, *, resume: str | Path | None = None,
          overwrite: bool = False, clock: Callable[[], float] = time.monotonic) -> TrainResult:
    """Train (or fine-tune, or resume) an explainer for ``model``.

    ``config.max_time`` bounds the wall-clock time, measured by ``clock`` (monotonic seconds).

    Ctrl-C / SIGTERM (as KeyboardInterrupt) and ``Cancelled`` from ``progress`` write a resumable
    checkpoint and return status "interrupted"; a NaN/inf loss raises NonFiniteError without
    touching the last good checkpoint.
    """
    progress = ensure_progress(progress)
    budget = TimeBudget(config.max_time, clock, config.steps or None) if config.max_time else None
    s = prepare(config, model, explainer, resume, overwrite, clock)
    try:
        return _run_with_interrupts(s, progress, budget)
    except NonFiniteError as exc:
        s.log.write("error", s.current_step, s.total, message=str(exc))
        raise
    except Exception as exc:
        s.log.write("error", s.current_step, s.total, message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        s.close()


def _run_with_interrupts(s: Session, progress: Progress, budget: TimeBudget | None) -> TrainResult:
    try:
        return _run(s, progress, budget)
    except (Cancelled, KeyboardInterrupt):
        step = s.current_step
        t0 = time.perf_counter()
        path = _checkpoint(s, step)
        s.log.write("interrupted", step, s.total, path=str(path) if path else None,
                    save_s=round(time.perf_counter() - t0, 2))
        msg = (f"interrupted after step {step} of {s.total}; checkpoint saved. "
               f"Resume with: l2r train --resume {s.out}")
        return TrainResult("interrupted", step, s.total, s.out, checkpoint=path, message=msg)
