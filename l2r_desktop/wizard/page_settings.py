"""Page 3: how to train: input size, length, batch, learning rate, device, output folder, the
advanced method settings, a one-step time estimate, and what to do with an earlier run in the
output folder (resume it or start afresh)."""
from __future__ import annotations

import math

from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QRadioButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget,
                               QWizard)

from .advanced import AdvancedSection
from .common import PathField, ReasonPage
from .options import DEVICES, training_threads
from .training_vm import TrainingViewModel
from .viewmodel import WizardViewModel


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class SettingsPage(ReasonPage):
    def __init__(self, vm: WizardViewModel, training: TrainingViewModel) -> None:
        super().__init__(vm, "Training settings", "Defaults are the method's published settings.")
        self.training = training
        self.setButtonText(QWizard.WizardButton.NextButton, "Start training")
        self.image_size = QSpinBox()
        self.image_size.setRange(0, 4096)
        self.length_unit = QComboBox()
        self.length_unit.addItems(["steps", "epochs"])
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000_000)
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.01, 10_000.0)
        self.epochs.setDecimals(2)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 65_536)
        self.lr = QLineEdit()
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        if not _cuda_available():
            self.device.model().item(DEVICES.index("cuda")).setEnabled(False)
        self.val_every = QSpinBox()
        self.val_every.setRange(0, 100_000_000)
        self.val_every.setSpecialValueText("only at the end")
        self.max_minutes = QSpinBox()
        self.max_minutes.setRange(0, 100_000)
        self.max_minutes.setSuffix(" min")
        self.max_minutes.setSpecialValueText("no limit")
        self.max_minutes.setToolTip("Stop at this wall-clock time, with the learning-rate and temperature "
                                    "schedules fitted to the steps that fit. 'Train for' in steps caps it; "
                                    "epochs are then ignored.")
        cores = training_threads(0)
        self.threads = QSpinBox()
        self.threads.setRange(0, max(cores, 1) * 4)
        self.threads.setSpecialValueText(f"all cores ({cores})")
        self.threads_label = QLabel()
        self.out = PathField("folder", "Output folder", lambda t: vm.update(out=t))
        self.advanced = AdvancedSection(vm)
        self._seen_run: tuple[object, bool] | None = None
        self._build_layout()
        self._connect()

    def _build_layout(self) -> None:
        length = QWidget()
        row = QHBoxLayout(length)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.steps, self.epochs, self.length_unit):
            row.addWidget(w)
        form = QFormLayout()
        form.addRow("Image size", self.image_size)
        form.addRow("Train for", length)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr)
        form.addRow("Device", self.device)
        form.addRow("Validate every (steps)", self.val_every)
        form.addRow("Time limit", self.max_minutes)
        threads = QWidget()
        trow = QHBoxLayout(threads)
        trow.setContentsMargins(0, 0, 0, 0)
        trow.addWidget(self.threads)
        trow.addWidget(self.threads_label, 1)
        form.addRow("CPU threads", threads)
        form.addRow("Output folder", self.out)
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.resume_radio = QRadioButton("Resume it")
        self.fresh_radio = QRadioButton("Start afresh (its checkpoints are deleted)")
        group = QButtonGroup(self)
        group.addButton(self.resume_radio)
        group.addButton(self.fresh_radio)
        self.run_box = QWidget()
        run_lay = QVBoxLayout(self.run_box)
        run_lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.run_label, self.resume_radio, self.fresh_radio):
            run_lay.addWidget(w)
        self.estimate_button = QPushButton("Estimate time per step")
        self.estimate_label = QLabel("")
        self.estimate_label.setWordWrap(True)
        est = QHBoxLayout()
        est.addWidget(self.estimate_button)
        est.addWidget(self.estimate_label, 1)
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(form)
        inner.addWidget(self.run_box)
        inner.addLayout(est)
        inner.addWidget(self.advanced)
        inner.addStretch(1)
        scroll = QScrollArea()  # the advanced section scrolls instead of squeezing the form
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        box = QVBoxLayout(self)
        box.addWidget(scroll, 1)
        box.addWidget(self.reason_label)

    def _connect(self) -> None:
        vm = self.vm
        self.image_size.valueChanged.connect(lambda v: vm.update(image_size=int(v)))
        self.length_unit.currentTextChanged.connect(self._on_unit)
        self.steps.valueChanged.connect(lambda v: vm.update(steps=int(v)))
        self.epochs.valueChanged.connect(lambda v: vm.update(epochs=float(v)))
        self.batch_size.valueChanged.connect(lambda v: vm.update(batch_size=int(v)))
        self.lr.textChanged.connect(self._on_lr)
        self.device.currentTextChanged.connect(lambda t: vm.update(device=t))
        self.val_every.valueChanged.connect(lambda v: vm.update(val_every=int(v)))
        self.max_minutes.valueChanged.connect(lambda v: vm.update(max_minutes=int(v)))
        self.threads.valueChanged.connect(lambda v: vm.update(threads=int(v)))
        self.resume_radio.toggled.connect(lambda on: vm.update(resume_existing=bool(on)))
        self.fresh_radio.toggled.connect(lambda on: vm.update(resume_existing=not on))
        self.estimate_button.clicked.connect(self.estimate)
        self.training.estimated.connect(self._on_estimated)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        o = self.vm.opts
        check = self.vm.model_check
        if check is not None:
            h, w = check.input_size
            self.image_size.setSpecialValueText(f"model default ({w}x{h})")
        else:
            self.image_size.setSpecialValueText("model default")
        self.image_size.setValue(o.image_size)
        self.length_unit.setCurrentText(o.length_unit)
        self.steps.setValue(o.steps)
        self.epochs.setValue(o.epochs)
        self.batch_size.setValue(o.batch_size)
        self.lr.setText(f"{o.lr:g}")
        self.device.setCurrentText(o.device if o.device in DEVICES else "auto")
        self.val_every.setValue(o.val_every)
        self.max_minutes.setValue(o.max_minutes)
        self.threads.setValue(o.threads)
        self.out.set_text(o.out)
        self.resume_radio.setChecked(o.resume_existing)
        self.fresh_radio.setChecked(not o.resume_existing)
        self.advanced.load()
        self._on_unit(o.length_unit)
        self.refresh()

    def reason(self) -> str:
        return self.vm.settings_reason()

    def refresh(self) -> None:
        run = self.vm.existing_run()
        self.run_box.setVisible(run is not None)
        seen, self._seen_run = self._seen_run, ((run.folder, run.finished) if run is not None else None)
        if run is not None and seen != self._seen_run:
            # A new folder: resuming is the default for an interrupted run, afresh for a finished one.
            (self.resume_radio if not run.finished else self.fresh_radio).setChecked(True)
        if run is not None:
            state = "a finished run" if run.finished else "an interrupted run"
            self.run_label.setText(f"This folder holds {state} (checkpoint at step {run.step} of "
                                   f"{run.total or '?'}).")
        self.estimate_button.setEnabled(not self.reason() and not self.training.active)
        o = self.vm.opts
        on_gpu = o.device == "cuda" or o.device == "auto" and _cuda_available()
        n = training_threads(o.threads)
        self.threads_label.setText("the GPU does the work" if on_gpu else f"training uses {n} CPU thread"
                                   + ("s" if n != 1 else ""))
        super().refresh()

    def validatePage(self) -> bool:  # noqa: N802 - Qt override
        self.vm.save()
        return True

    def estimate(self) -> None:
        self.vm.save()
        self.training.estimate(self.vm.opts, self.vm.n_train())

    def _on_unit(self, unit: str) -> None:
        self.steps.setVisible(unit == "steps")
        self.epochs.setVisible(unit != "steps")
        if unit != self.vm.opts.length_unit:
            self.vm.update(length_unit=unit)

    def _on_lr(self, text: str) -> None:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        self.vm.update(lr=value)

    def _on_estimated(self, seconds: float, text: str) -> None:
        self.estimate_label.setText(text)
