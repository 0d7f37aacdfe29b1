"""Page 4: the training run: live loss and validation AUC curves (updated in place with setData),
a progress bar with the trainer's ETA, Pause / Resume / Cancel, and the cause of a failure."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout,
                               QWizard)

from ..widgets.curves_view import IntegerAxis
from .common import ReasonPage
from .training_vm import TrainingViewModel
from .viewmodel import WizardViewModel

LOSS_COLOUR, DEL_COLOUR, INS_COLOUR = "#0072B2", "#D55E00", "#009E73"  # Okabe-Ito, as the main curves


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
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel run")
        buttons = QHBoxLayout()
        for b in (self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.auc_plot)
        box = QVBoxLayout(self)
        box.addLayout(plots, 1)
        box.addWidget(self.bar)
        box.addWidget(self.progress_label)
        box.addLayout(buttons)
        box.addWidget(self.status)
        box.addWidget(self.details)
        box.addWidget(self.reason_label)
        self.pause_button.clicked.connect(training.pause)
        self.cancel_button.clicked.connect(training.cancel)
        self.resume_button.clicked.connect(training.resume)
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
        self.training.start(o, resume=run is not None and o.resume_existing, overwrite=run is not None)
        QTimer.singleShot(0, self.refresh)  # once this page is current: Back off while it runs

    def cleanupPage(self) -> None:  # noqa: N802 - Qt override
        """Back while running pauses the run (its checkpoint is kept and offered again)."""
        if self.training.active:
            self.training.pause()

    def reason(self) -> str:
        state = self.training.state
        if state == "done":
            return ""
        if state in ("paused", "cancelled"):
            return "The run is stopped: Resume it to finish (or go Back to change the settings)."
        if state == "failed":
            return "The run failed (see above). Go Back to change the settings, or Resume from its checkpoint."
        return "Training... Next is enabled once the explainer is saved."

    def _on_state(self, state: str) -> None:
        t = self.training
        self.pause_button.setEnabled(state in ("starting", "running"))
        self.cancel_button.setEnabled(state in ("starting", "running"))
        self.resume_button.setEnabled(t.can_resume())
        if state in ("starting", "running"):
            self.details.setVisible(False)
        self.refresh()

    def refresh(self) -> None:
        super().refresh()  # QWizard re-enables its buttons on completeChanged ...
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            # ... so Back is disabled after it: going back would leave a run behind the page.
            wizard.button(QWizard.WizardButton.BackButton).setEnabled(not self.training.active)

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
