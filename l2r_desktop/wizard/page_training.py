"""Page 4: the training run: live loss and validation AUC curves (updated in place with setData),
a progress bar with an ETA from the real step times, Pause / Resume (the same run goes on) and
Cancel (the run ends; its last checkpoint is offered as the explainer), and the cause of a failure."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QVBoxLayout, QWizard)

from ..widgets.curves_view import IntegerAxis
from .common import ReasonPage
from .training_vm import TrainingViewModel
from .viewmodel import WizardViewModel

LOSS_COLOUR, DEL_COLOUR, INS_COLOUR = "#0072B2", "#D55E00", "#009E73"  # Okabe-Ito, as the main curves
PAUSE, PAUSING = "Pause (resume later)", "Pausing..."
CANCEL, CANCELLING = "Cancel run (keep last checkpoint)", "Cancelling..."


def _plot(title: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w", axisItems={"bottom": IntegerAxis("bottom")})  # steps are whole
    plot.setTitle(title, color="#333")
    plot.setLabel("bottom", "step")
    plot.setLabel("left", left)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMinimumHeight(150)
    plot.getAxis("left").enableAutoSIPrefix(False)  # AUCs read as 0.42, not "420 (x0.001)"
    return plot


class TrainingPage(ReasonPage):
    def __init__(self, vm: WizardViewModel, training: TrainingViewModel) -> None:
        super().__init__(vm, "Training", "The training runs as a separate process; this window and the main "
                                         "window stay usable.")
        self.training = training
        # The wizard's own Cancel closes the window (a running run stops with a checkpoint first):
        # named Close here, apart from "Cancel run".
        self.setButtonText(QWizard.WizardButton.CancelButton, "Close")
        self.loss_plot = _plot("Training loss", "loss")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(LOSS_COLOUR, width=2))
        self.auc_plot = _plot("Validation (hard metrics, paper protocol)", "AUC")
        self.auc_plot.addLegend(offset=(-10, 10))
        self.del_curve = self.auc_plot.plot([], [], pen=pg.mkPen(DEL_COLOUR, width=2), symbol="o", symbolSize=5,
                                            symbolBrush=DEL_COLOUR, name="deletion (lower is better)")
        self.ins_curve = self.auc_plot.plot([], [], pen=pg.mkPen(INS_COLOUR, width=2), symbol="o", symbolSize=5,
                                            symbolBrush=INS_COLOUR, name="insertion (higher is better)")
        self.bar = QProgressBar()
        self.bar.setFormat("%p%")
        self.progress_label = QLabel("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details.setMaximumHeight(140)
        self.pause_button = QPushButton(PAUSE)
        self.pause_button.setToolTip("Stop after the current step and keep a checkpoint. Resume continues this "
                                     "same run from it.")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the paused run from its checkpoint, with its settings.")
        self.cancel_button = QPushButton(CANCEL)
        self.cancel_button.setToolTip("End the run. Its last checkpoint is saved and offered as a usable "
                                      "explainer (trained for the steps done so far).")
        buttons = QHBoxLayout()
        for b in (self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.offer = QFrame()  # after Cancel: the last checkpoint as the result
        self.offer.setFrameShape(QFrame.Shape.StyledPanel)
        self.offer_label = QLabel("")
        self.offer_label.setWordWrap(True)
        self.offer_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_checkpoint_button = QPushButton("Use this checkpoint")
        offer_box = QVBoxLayout(self.offer)
        offer_box.addWidget(self.offer_label)
        offer_box.addWidget(self.use_checkpoint_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.offer.setVisible(False)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.auc_plot)
        box = QVBoxLayout(self)
        box.addLayout(plots, 1)
        box.addWidget(self.bar)
        box.addWidget(self.progress_label)
        box.addLayout(buttons)
        box.addWidget(self.status)
        box.addWidget(self.offer)
        box.addWidget(self.details)
        box.addWidget(self.reason_label)
        self.pause_button.clicked.connect(training.pause)
        self.cancel_button.clicked.connect(training.cancel)
        self.resume_button.clicked.connect(training.resume)
        self.use_checkpoint_button.clicked.connect(self.use_checkpoint)
        training.stateChanged.connect(self._on_state)
        training.progressChanged.connect(self._on_progress)
        training.lossChanged.connect(self.loss_curve.setData)
        training.valChanged.connect(self._on_val)
        training.message.connect(self.status.setText)
        training.failed.connect(self._on_failed)
        self._on_state(training.state)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        """Entering the page starts the run: resume the folder's run, or a fresh (overwriting) one."""
        o, run = self.vm.opts, self.vm.existing_run()
        self.details.setVisible(False)
        self.bar.setValue(0)
        self.progress_label.setText("")
        resume = run is not None and not run.finished and o.resume_existing
        self.training.start(o, resume=resume, overwrite=run is not None)
        QTimer.singleShot(0, self.refresh)  # once this page is current: Back off while it runs

    def cleanupPage(self) -> None:  # noqa: N802 - Qt override
        """Back while running pauses the run (its checkpoint is kept and offered again); the settings
        page sees the run now in the output folder (and resumes it by default)."""
        if self.training.active:
            self.training.pause()
        self.vm.changed.emit()

    def reason(self) -> str:
        state = self.training.state
        if state == "done":
            return ""
        if state == "paused":
            return "The run is paused: Resume it to finish, or Cancel it to use its last checkpoint."
        if state == "cancelled":
            return "" if self.training.checkpoint_dir is not None else (
                "The run was cancelled before its first step: go Back to start again.")
        if state == "failed":
            return "The run failed (see above). Go Back to change the settings, or Resume from its checkpoint."
        return "Training... Next is enabled once the explainer is saved."

    def _on_state(self, state: str) -> None:
        t = self.training
        intent = t.stopping_for if state == "stopping" else ""
        self.pause_button.setEnabled(state in ("starting", "running"))
        self.pause_button.setText(PAUSING if intent == "pause" else PAUSE)
        self.cancel_button.setEnabled(t.can_cancel())
        self.cancel_button.setText(CANCELLING if intent == "cancel" else CANCEL)
        self.resume_button.setEnabled(t.can_resume())
        if state in ("starting", "running"):
            self.details.setVisible(False)
        ck = t.checkpoint_dir if state == "cancelled" else None
        self.offer.setVisible(ck is not None)
        if ck is not None:
            step, total = t.cancelled_at
            self.offer_label.setText(f"The run ended at step {step} of {total or '?'}. Its last checkpoint is a "
                                     f"usable explainer, trained for {step} step{'s' if step != 1 else ''}:\n{ck}")
            self.use_checkpoint_button.setText("Load this checkpoint into the main window"
                                               if self._done_page_loads() else "Use this checkpoint")
        self.refresh()

    def refresh(self) -> None:
        super().refresh()  # QWizard re-enables its buttons on completeChanged ...
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            # ... so Back is disabled after it: going back would leave a run behind the page.
            wizard.button(QWizard.WizardButton.BackButton).setEnabled(not self.training.active)

    def use_checkpoint(self) -> None:
        """The Done page takes the checkpoint as the result and, with a main window, loads it there."""
        wizard = self.wizard()
        if self.training.checkpoint_dir is None or wizard is None or wizard.currentPage() is not self:
            return
        wizard.next()
        done = wizard.currentPage()
        if self._done_page_loads() and hasattr(done, "use_now"):
            done.use_now()

    def _done_page_loads(self) -> bool:
        return self.vm.models is not None

    def _on_progress(self, step: int, total: int, text: str) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(step)
        self.progress_label.setText(text)

    def _on_val(self, steps: list, dels: list, inss: list) -> None:
        self.del_curve.setData(steps, dels)
        self.ins_curve.setData(steps, inss)

    def _on_failed(self, cause: str, tail: str) -> None:
        self.details.setPlainText(tail or cause)
        self.details.setVisible(True)
