"""Page 5: where the explainer was saved (or, after Cancel, the run's last checkpoint, which is an
explainer too), its validation scores, and "Use it now", which loads it into the main window for
this model."""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout

from .common import ReasonPage
from .training_vm import TrainingViewModel, validation_scores
from .viewmodel import ORIGIN, WizardViewModel


class DonePage(ReasonPage):
    def __init__(self, vm: WizardViewModel, training: TrainingViewModel, models: Any) -> None:
        super().__init__(vm, "Done", "The explainer is trained.")
        self.training, self.models = training, models
        self.where = QLabel("")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(self.where.textInteractionFlags() | _selectable())
        self.scores = QLabel("")
        self.use_button = QPushButton("Use it now")
        self.use_button.setToolTip("Load this explainer into the main window for this model.")
        self.use_status = QLabel("")
        self.use_status.setWordWrap(True)
        box = QVBoxLayout(self)
        for w in (self.where, self.scores, self.use_button, self.use_status):
            box.addWidget(w)
        box.addStretch(1)
        box.addWidget(self.reason_label)
        self.use_button.clicked.connect(self.use_now)
        self.use_button.setEnabled(models is not None)
        if models is not None:
            models.loadSucceeded.connect(self._on_loaded)
            models.loadFailed.connect(self._on_failed)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        t = self.training
        final = t.final
        if t.state == "cancelled" and t.checkpoint_dir is not None:
            step, total = t.cancelled_at
            self.setSubTitle("The run was cancelled; its last checkpoint is the explainer.")
            self.where.setText(f"The run ended at step {step} of {total or '?'}. Its last checkpoint, a usable "
                               f"explainer, is in:\n{t.explainer_dir}\nA resumed or new run in that output folder "
                               f"keeps only its newest checkpoints: copy this folder to keep it for good.")
            self.scores.setText(f"Last validation (step {t.val_steps[-1]}): deletion AUC {t.dels[-1]:.4f} (lower is "
                                f"better), insertion AUC {t.inss[-1]:.4f} (higher is better)." if t.val_steps
                                else "No validation ran before the cancel: no scores were measured.")
        elif final.get("del_auc") is not None:
            self.setSubTitle("The explainer is trained.")
            self.where.setText(f"The explainer was saved in:\n{t.explainer_dir}")
            deletion, insertion, where = validation_scores(final)
            self.scores.setText(f"Validation ({final.get('protocol', 'aha')} protocol, {final.get('n_images', '?')} "
                                f"images{', ' + where if where else ''}): deletion AUC {deletion:.4f} (lower is "
                                f"better), insertion AUC {insertion:.4f} (higher is better).")
        else:
            self.setSubTitle("The explainer is trained.")
            self.where.setText(f"The explainer was saved in:\n{t.explainer_dir}")
            self.scores.setText("No validation images: no scores were measured.")
        self.use_status.setText("")

    def reason(self) -> str:
        return ""

    def use_now(self) -> None:
        if self.models is None or self.training.explainer_dir is None:
            return
        self.use_button.setEnabled(False)
        what = self.vm.use_in(self.models, str(self.training.explainer_dir))
        self.use_status.setText("Loading the explainer into the main window..." if what == "explainer"
                                else "Loading the model and its new explainer into the main window...")

    def _on_loaded(self, origin: str) -> None:
        if origin == ORIGIN:
            self.use_status.setText("Loaded: the main window now explains with this explainer (method l2r).")
            self.use_button.setEnabled(True)

    def _on_failed(self, title: str, message: str, _details: str, origin: str) -> None:
        if origin == ORIGIN:
            self.use_status.setText(f"{title}: {message}")
            self.use_button.setEnabled(True)


def _selectable() -> Any:
    from PySide6.QtCore import Qt

    return Qt.TextInteractionFlag.TextSelectableByMouse
