"""State of the wizard's training run (no widgets): the child process, its live curves, progress and
ETA (from the real step times), Pause / Resume / Cancel, and the test steps of the time estimate.

States: idle -> starting -> running -> (stopping ->) done | paused | cancelled | failed.
Pause keeps a resumable checkpoint (Resume continues the same run); Cancel ends the run and offers
its last checkpoint (an explainer folder) as the result (``checkpoint_dir``).
"""
from __future__ import annotations

import math
import shutil
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from l2r_training.metrics_log import format_eta

from .estimate import PROBE_STEPS, RECENT, StepTiming, measure, run_eta
from .options import WizardOptions, existing_run, resume_args, train_args
from .process import RunOutcome, TrainingProcess

ACTIVE = ("starting", "running", "stopping")


def validation_scores(rec: dict[str, Any]) -> tuple[float, float, str]:
    """(deletion, insertion, where) of a val or done record. A run at a reduced image size also
    validates at the model's own size, where the explainer is used: those figures are the ones shown."""
    def number(key: str) -> float:  # a score of 0.0 is a score, not a missing one
        value = rec.get(key)
        return math.nan if value is None else float(value)

    if rec.get("native_del_auc") is not None:
        size = rec.get("native_size") or []
        where = f"at the model's own {size[-1]} px" if size else "at the model's own size"
        return number("native_del_auc"), number("native_ins_auc"), where
    return number("del_auc"), number("ins_auc"), ""


class TrainingViewModel(QObject):
    stateChanged = Signal(str)
    progressChanged = Signal(int, int, str)  # step, total, text (loss, ETA)
    lossChanged = Signal(list, list)  # steps, losses
    valChanged = Signal(list, list, list)  # steps, deletion AUCs, insertion AUCs
    message = Signal(str)  # what happened, for the status line
    failed = Signal(str, str)  # cause, details (stderr tail)
    estimated = Signal(float, str)  # measured seconds per step (nan while measuring or failed), text

    def __init__(self, parent: QObject | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.env = env  # extra environment for the child processes (tests: thread counts)
        self.state = "idle"
        self.out: Path | None = None
        self.device = "auto"
        self.explainer_dir: Path | None = None  # the result: OUT/explainer, or the offered checkpoint
        self.checkpoint_dir: Path | None = None  # a cancelled run's last checkpoint, offered as its explainer
        self.cancelled_at = (0, 0)  # (step, total) of that checkpoint
        self.final: dict[str, Any] = {}  # the "done" record
        self.outcome: RunOutcome | None = None
        self.step = self.total = 0
        self.loss_steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.dels: list[float] = []
        self.inss: list[float] = []
        self.seconds_per_step = math.nan  # median of the recent real step times
        self.eta_s = math.nan
        self._times: deque[tuple[int, float]] = deque(maxlen=RECENT + 1)  # (step, unix time)
        self._intent = ""  # "pause" | "cancel" while stopping
        self.process = TrainingProcess(self)
        self.process.record.connect(self._on_record)
        self.process.finished.connect(self._on_finished)
        self._probe = TrainingProcess(self)
        self._probe.record.connect(self._on_probe_record)
        self._probe.finished.connect(self._on_probe_finished)
        self._probe_dir: Path | None = None
        self._probe_opts: WizardOptions | None = None
        self._probe_size: tuple[int, int] | None = None
        self._probe_start = 0.0
        self._probe_times: list[tuple[int, float]] = []
        self.timing: StepTiming | None = None  # the last measurement of the test steps
        self.probe_error = ""

    # -- queries ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def probing(self) -> bool:
        return self._probe.running()

    def can_resume(self) -> bool:
        """Paused (or failed) runs resume; a cancelled run has ended (its checkpoint is the result)."""
        return (not self.active and self.out is not None and self.state in ("paused", "failed")
                and existing_run(self.out) is not None)

    @property
    def stopping_for(self) -> str:
        """Why the run is stopping: "pause" or "cancel" ("" when it is not stopping)."""
        return self._intent if self.state == "stopping" else ""

    def can_cancel(self) -> bool:
        return self.state in ("starting", "running", "paused")

    # -- actions ---------------------------------------------------------------------------
    def start(self, opts: WizardOptions, *, resume: bool = False, overwrite: bool = False) -> None:
        """A fresh run (``overwrite`` replaces an earlier run's checkpoints) or ``resume`` the run
        in ``opts.out``."""
        if self.active:
            return
        self.out, self.device = Path(opts.out.strip()), opts.device
        args = resume_args(self.out, opts.device) if resume else train_args(opts, overwrite=overwrite)
        self._launch(args, fresh=not resume)

    def resume(self) -> None:
        if self.out is None or self.active:
            return
        self._launch(resume_args(self.out, self.device), fresh=False)

    def pause(self) -> None:
        self._stop("pause")

    def cancel(self) -> None:
        """End the run: a running one checkpoints and stops; a paused one ends at its checkpoint."""
        if self.state == "paused":
            self._end_cancelled()
        else:
            self._stop("cancel")

    def shutdown(self, wait_ms: int = 30000) -> None:
        """Closing: the run checkpoints and stops (blocking up to ``wait_ms``); the probe is killed."""
        self._probe.kill(wait_ms=5000)
        if self.active:
            self._intent = self._intent or "cancel"
        self.process.shutdown(wait_ms)
        self._drop_probe_dir()

    def estimate(self, opts: WizardOptions, model_size: tuple[int, int] | None = None) -> None:
        """Run a few training steps into a temporary folder and measure them (``timing``): the first
        warms up, the later ones give the time per image. ``model_size``: the model's input (h, w)."""
        if self._probe.running():
            return
        self._drop_probe_dir()
        self._probe_dir = Path(tempfile.mkdtemp(prefix="l2r-estimate-"))
        self._probe_opts, self._probe_size = WizardOptions.from_dict(opts.to_dict()), model_size
        self._probe_start, self._probe_times, self.probe_error, self.timing = 0.0, [], "", None
        # One step more than measured, so the test run never reaches its final validation and save.
        args = train_args(opts, out=str(self._probe_dir), steps=PROBE_STEPS + 1, val_every=0)
        self._probe.start(args, self._probe_dir / "metrics.jsonl", fresh=True, env=self.env)
        if self._probe.running():  # (one that failed to start has said so already)
            self.estimated.emit(math.nan, f"Measuring {PROBE_STEPS} test steps (the model loads first)...")

    # -- internals -------------------------------------------------------------------------
    def _launch(self, args: list[str], fresh: bool) -> None:
        assert self.out is not None
        self._clear_curves()
        self.explainer_dir, self.final, self.outcome, self._intent = None, {}, None, ""
        self.checkpoint_dir, self.cancelled_at = None, (0, 0)
        self._set_state("starting")
        self.message.emit("Starting the training process (loading the model)...")
        self.process.start(args, self.out / "metrics.jsonl", fresh=fresh, env=self.env)

    def _stop(self, intent: str) -> None:
        if self.state in ("starting", "running"):
            self._intent = intent
            self._set_state("stopping")
            self.message.emit(("Pausing" if intent == "pause" else "Cancelling")
                              + ": the current step finishes and a checkpoint is saved...")
            self.process.stop()

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def _clear_curves(self) -> None:
        for values in (self.loss_steps, self.losses, self.val_steps, self.dels, self.inss):
            values.clear()
        self.step = self.total = 0
        self._times.clear()
        self.seconds_per_step = self.eta_s = math.nan
        self.lossChanged.emit([], [])
        self.valChanged.emit([], [], [])

    @staticmethod
    def _trim(steps: list[int], step: int, *values: list[float]) -> None:
        """A resumed run re-does the steps after its checkpoint: drop their old values."""
        while steps and steps[-1] >= step:
            steps.pop()
            for v in values:
                v.pop()

    def _on_record(self, rec: dict) -> None:
        event, step = rec.get("event"), int(rec.get("step") or 0)
        self.total = int(rec.get("total") or self.total)
        if event == "start":
            self._times.clear()  # a resumed run's steps are timed afresh (the pause is no step)
        if event == "start" and self.state == "starting":
            self._set_state("running")
            self.message.emit(f"Training on {rec.get('device', '?')}: {rec.get('n_train')} training images, "
                              f"{rec.get('n_val')} for validation.")
        elif event == "step" and rec.get("loss") is not None:
            self._trim(self.loss_steps, step, self.losses)
            self.loss_steps.append(step)
            self.losses.append(float(rec["loss"]))
            self.lossChanged.emit(list(self.loss_steps), list(self.losses))
            self.step = step
            self._times.append((step, float(rec.get("time") or 0.0)))
            self.seconds_per_step, self.eta_s = run_eta(self._times, step, self.total, rec.get("eta_s"))
            rate = f"  {self.seconds_per_step:.2f} s/step" if math.isfinite(self.seconds_per_step) else ""
            text = f"step {step}/{self.total}  loss {rec['loss']:.4f}{rate}  ETA {format_eta(self.eta_s)}"
            self.progressChanged.emit(step, self.total, text)
        elif event == "val" and rec.get("del_auc") is not None:
            self._trim(self.val_steps, step, self.dels, self.inss)
            self.val_steps.append(step)
            deletion, insertion, _ = validation_scores(rec)
            self.dels.append(deletion)
            self.inss.append(insertion)
            self.valChanged.emit(list(self.val_steps), list(self.dels), list(self.inss))
        elif event == "done":
            self.final = dict(rec)
            self.explainer_dir = Path(str(rec.get("explainer") or (self.out or Path()) / "explainer"))

    def _on_finished(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        intent, self._intent = self._intent, ""
        if outcome.status == "done":
            self.explainer_dir = self.explainer_dir or (self.out / "explainer" if self.out else None)
            self.progressChanged.emit(self.total, self.total, f"done: {self.total} steps")
            self.message.emit(f"Finished. The explainer is in {self.explainer_dir}.")
            self._set_state("done")
        elif intent == "cancel" and (outcome.status == "interrupted" or outcome.stop_requested):
            self._end_cancelled()
        elif intent and (outcome.status == "interrupted" or outcome.stop_requested):
            saved = existing_run(self.out) if self.out else None
            self.message.emit(f"Paused: checkpoint at step {saved.step} of {saved.total or '?'} kept. Resume "
                              f"continues this run from it." if saved else
                              "Paused before training began: nothing was saved yet. Go Back to start again.")
            self.progressChanged.emit(self.step, self.total, f"paused at step {self.step}/{self.total}")
            self._set_state("paused")
        else:
            self.message.emit(f"Training failed: {outcome.cause}")
            self._set_state("failed")
            self.failed.emit(outcome.cause, outcome.tail)

    def _end_cancelled(self) -> None:
        """The run is over: offer its last checkpoint (an explainer folder) when it trained at all."""
        last = self.outcome.last if self.outcome is not None else {}
        step, total = int(last.get("step") or 0), int(last.get("total") or self.total)
        ck = Path(str(last["path"])) if last.get("event") == "interrupted" and last.get("path") else None
        saved = existing_run(self.out) if self.out and ck is None and last.get("event") == "interrupted" else None
        if saved is not None and saved.step == step:  # (a log without the checkpoint's path)
            ck = saved.checkpoint
        if ck is not None and step > 0 and (ck / "explainer.json").is_file():
            self.checkpoint_dir = self.explainer_dir = ck
            self.cancelled_at = (step, total)
            self.message.emit(f"Cancelled at step {step} of {total or '?'}: the run has ended; its last "
                              f"checkpoint was kept and is offered below.")
        else:
            self.checkpoint_dir = None
            self.message.emit("Cancelled before the first step finished: there is no trained checkpoint to use.")
        self.progressChanged.emit(self.step, self.total, f"cancelled at step {self.step}/{self.total}")
        self._set_state("cancelled")

    def _on_probe_record(self, rec: dict) -> None:
        if rec.get("event") == "start":
            self._probe_start = float(rec.get("time") or 0.0)
        elif rec.get("event") == "step" and self._probe_start and self._probe_opts is not None:
            self._probe_times.append((int(rec.get("step") or 0), float(rec.get("time") or 0.0)))
            self.timing = measure(self._probe_start, self._probe_times, self._probe_opts, self._probe_size)
            if self.timing is None:
                return
            per_step = self.timing.seconds_per_image * self.timing.batch
            done = len(self._probe_times) >= PROBE_STEPS
            self.estimated.emit(per_step if done else math.nan, "" if done else
                                f"Measured {len(self._probe_times)} of {PROBE_STEPS} test steps "
                                f"(the first, {self.timing.first_step_s:.2f} s, includes warm-up)...")
            if done:
                self._probe_start = 0.0
                self._probe.kill()  # measured; its checkpoint and explainer are not needed

    def _on_probe_finished(self, outcome: RunOutcome) -> None:
        self._drop_probe_dir()
        self._probe_start = 0.0
        if outcome.status == "failed" and not outcome.stop_requested:
            self.probe_error = outcome.cause
            self.estimated.emit(math.nan, f"The test steps failed: {outcome.cause}")
        elif self.timing is not None:
            self.estimated.emit(self.timing.seconds_per_image * self.timing.batch, "")
        else:
            self.estimated.emit(math.nan, "The test steps stopped before one was measured.")

    def _drop_probe_dir(self) -> None:
        if self._probe_dir is not None and not self._probe.running():
            shutil.rmtree(self._probe_dir, ignore_errors=True)
            self._probe_dir = None
