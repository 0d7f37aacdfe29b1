"""State of the wizard's training run (no widgets): the child process, its live curves, progress,
Pause/Cancel/Resume, and the one-step time estimate.

States: idle -> starting -> running -> (stopping ->) done | paused | cancelled | failed.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from l2r_training.metrics_log import format_eta

from .options import WizardOptions, existing_run, resume_args, total_steps, train_args
from .process import RunOutcome, TrainingProcess

ACTIVE = ("starting", "running", "stopping")


class TrainingViewModel(QObject):
    stateChanged = Signal(str)
    progressChanged = Signal(int, int, str)  # step, total, text (loss, ETA)
    lossChanged = Signal(list, list)  # steps, losses
    valChanged = Signal(list, list, list)  # steps, deletion AUCs, insertion AUCs
    message = Signal(str)  # what happened, for the status line
    failed = Signal(str, str)  # cause, details (stderr tail)
    estimated = Signal(float, str)  # seconds per step (nan when the probe failed), text

    def __init__(self, parent: QObject | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.env = env  # extra environment for the child processes (tests: thread counts)
        self.state = "idle"
        self.out: Path | None = None
        self.device = "auto"
        self.explainer_dir: Path | None = None
        self.final: dict[str, Any] = {}  # the "done" record
        self.outcome: RunOutcome | None = None
        self.step = self.total = 0
        self.loss_steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.dels: list[float] = []
        self.inss: list[float] = []
        self._intent = ""  # "pause" | "cancel" while stopping
        self.process = TrainingProcess(self)
        self.process.record.connect(self._on_record)
        self.process.finished.connect(self._on_finished)
        self._probe = TrainingProcess(self)
        self._probe.record.connect(self._on_probe_record)
        self._probe.finished.connect(self._on_probe_finished)
        self._probe_dir: Path | None = None
        self._probe_steps = 0
        self._probe_start = 0.0

    # -- queries ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def can_resume(self) -> bool:
        return (not self.active and self.out is not None and self.state in ("paused", "cancelled", "failed")
                and existing_run(self.out) is not None)

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
        self._stop("cancel")

    def shutdown(self, wait_ms: int = 30000) -> None:
        """Closing: the run checkpoints and stops (blocking up to ``wait_ms``); the probe is killed."""
        self._probe.kill(wait_ms=5000)
        if self.active:
            self._intent = self._intent or "cancel"
        self.process.shutdown(wait_ms)
        self._drop_probe_dir()

    def estimate(self, opts: WizardOptions, n_train: int) -> None:
        """Run ONE training step into a temporary folder and report the seconds it took."""
        if self._probe.running():
            return
        self._drop_probe_dir()
        self._probe_dir = Path(tempfile.mkdtemp(prefix="l2r-estimate-"))
        self._probe_steps, self._probe_start = total_steps(opts, n_train), 0.0
        args = train_args(opts, out=str(self._probe_dir), steps=1, val_every=0)
        self.estimated.emit(math.nan, "Measuring one step (the model loads first)...")
        self._probe.start(args, self._probe_dir / "metrics.jsonl", fresh=True, env=self.env)

    # -- internals -------------------------------------------------------------------------
    def _launch(self, args: list[str], fresh: bool) -> None:
        assert self.out is not None
        self._clear_curves()
        self.explainer_dir, self.final, self.outcome, self._intent = None, {}, None, ""
        self._set_state("starting")
        self.message.emit("Starting the training process (loading the model)...")
        self.process.start(args, self.out / "metrics.jsonl", fresh=fresh, env=self.env)

    def _stop(self, intent: str) -> None:
        if self.state in ("starting", "running"):
            self._intent = intent
            self._set_state("stopping")
            self.message.emit("Stopping: the current step finishes and a checkpoint is saved...")
            self.process.stop()

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def _clear_curves(self) -> None:
        for values in (self.loss_steps, self.losses, self.val_steps, self.dels, self.inss):
            values.clear()
        self.step = self.total = 0
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
            text = f"step {step}/{self.total}  loss {rec['loss']:.4f}  ETA {format_eta(rec.get('eta_s'))}"
            self.progressChanged.emit(step, self.total, text)
        elif event == "val" and rec.get("del_auc") is not None:
            self._trim(self.val_steps, step, self.dels, self.inss)
            self.val_steps.append(step)
            self.dels.append(float(rec["del_auc"]))
            self.inss.append(float(rec.get("ins_auc") or math.nan))
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
        elif intent and (outcome.status == "interrupted" or outcome.stop_requested):
            saved = existing_run(self.out) if self.out else None
            where = (f"checkpoint at step {saved.step} of {saved.total or '?'} kept"
                     if saved else "no checkpoint yet (it stopped before training began)")
            self.message.emit(("Paused" if intent == "pause" else "Cancelled") + f": {where}. "
                              + ("Resume continues from it." if saved else ""))
            self._set_state("paused" if intent == "pause" else "cancelled")
        else:
            self.message.emit(f"Training failed: {outcome.cause}")
            self._set_state("failed")
            self.failed.emit(outcome.cause, outcome.tail)

    def _on_probe_record(self, rec: dict) -> None:
        if rec.get("event") == "start":
            self._probe_start = float(rec.get("time") or 0.0)
        elif rec.get("event") == "step" and self._probe_start:
            seconds = max(float(rec.get("time") or 0.0) - self._probe_start, 1e-3)
            total = seconds * self._probe_steps
            self.estimated.emit(seconds, f"{seconds:.2f} s per step (first step, measured): about "
                                         f"{format_eta(total)} for {self._probe_steps} steps, plus validation.")
            self._probe_start = 0.0
            self._probe.kill()  # the measurement is taken; its checkpoint and explainer are not needed

    def _on_probe_finished(self, outcome: RunOutcome) -> None:
        self._drop_probe_dir()
        if outcome.status == "failed" and not outcome.stop_requested:
            self.estimated.emit(math.nan, f"The test step failed: {outcome.cause}")

    def _drop_probe_dir(self) -> None:
        if self._probe_dir is not None and not self._probe.running():
            shutil.rmtree(self._probe_dir, ignore_errors=True)
            self._probe_dir = None
