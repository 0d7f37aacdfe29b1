"""Page 3: how to train: input size, length, batch, learning rate, device, output folder, an explainer
to start from (fine-tuning), a time estimate (measured once, then recomputed as the settings
change), what to do with an earlier run in the output folder (resume it or start afresh), and the
collapsible "Advanced" section: the method's published settings and the variants of `l2r train`,
pre-filled from TrainConfig's defaults, and an optional JSON config file. An output folder holding
a trained explainer, or the one in use, is never replaced by default: a fresh folder next to it is
proposed instead."""
from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QRadioButton, QScrollArea, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget, QWizard)

from l2r_core.metrics.references import REFERENCE_KINDS

from .common import PathField, ReasonPage
from .estimate import estimate_text
from .options import ADVANCED, CHOICES, DEVICES, default_of, fresh_folder, training_threads
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
        self.out_note = QLabel("")  # the default folder was kept: where this run goes instead
        self.out_note.setWordWrap(True)
        self.out_note.setStyleSheet("color: #0b5394;")
        self.out_note.setVisible(False)
        self.init = PathField("folder", "Explainer folder to start from", lambda t: vm.update(init=t),
                              placeholder="optional: an explainer folder to fine-tune (empty: a new explainer)")
        self.init.setToolTip("Fine-tune an existing explainer (a folder with explainer.json: a run's 'explainer' "
                             "folder or one of its checkpoints) instead of training a new one: l2r train --init.")
        self._note_for = ""  # the output folder the note was written for
        self.advanced = AdvancedSection(vm)
        self._seen_run: tuple[str, bool, bool, str] | None = None
        self._probe_text = ""
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
        form.addRow("Start from explainer", self.init)
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.resume_radio = QRadioButton("Resume it (with the settings it started with)")
        self.fresh_radio = QRadioButton("Start afresh here (its checkpoints are deleted)")
        self.new_folder_button = QPushButton("Use a new folder")
        self.group = QButtonGroup(self)
        self.group.addButton(self.resume_radio)
        self.group.addButton(self.fresh_radio)
        self.run_box = QWidget()
        run_lay = QVBoxLayout(self.run_box)
        run_lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.run_label, self.resume_radio, self.fresh_radio):
            run_lay.addWidget(w)
        run_lay.addWidget(self.new_folder_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.estimate_button = QPushButton("Estimate the time")
        self.estimate_button.setToolTip("Runs a few training steps with these settings in a temporary folder; the "
                                        "estimate then follows the steps, batch size, image size and time limit.")
        self.estimate_label = QLabel("")
        self.estimate_label.setWordWrap(True)
        est = QHBoxLayout()
        est.addWidget(self.estimate_button)
        est.addWidget(self.estimate_label, 1)
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(form)
        inner.addWidget(self.out_note)
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
        self.fresh_radio.clicked.connect(self._on_fresh)  # the user's explicit choice only
        self.new_folder_button.clicked.connect(self.use_new_folder)
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
        self._note_for, note = "", self.vm.avoid_kept_out()  # never replace a kept folder by default
        if note:
            self._note_for = self.vm.opts.out
        self.out_note.setText(note)
        self.out.set_text(o.out)
        self.init.set_text(o.init)
        self._check_radio(self.resume_radio if o.resume_existing else self.fresh_radio)
        self.advanced.load()
        self._on_unit(o.length_unit)
        self.refresh()

    def reason(self) -> str:
        return self.vm.settings_reason()

    def refresh(self) -> None:
        run, kept = self.vm.existing_run(), self.vm.out_kept()
        self.run_box.setVisible(run is not None or bool(kept))
        out = self.vm.opts.out.strip()
        seen, self._seen_run = self._seen_run, (out, run is not None, run is not None and run.finished, kept)
        if seen != self._seen_run:
            # Another folder: an interrupted run resumes by default; a folder worth keeping waits for an
            # explicit choice (or a new folder); any other run is started afresh.
            resumable = run is not None and not run.finished
            self._check_radio(self.resume_radio if resumable else None if kept and self.vm.replace_ok != out
                              else self.fresh_radio)
        self.out_note.setVisible(bool(self._note_for) and out == self._note_for)
        if run is not None or kept:
            state = (f"{'a finished' if run.finished else 'an interrupted'} run (checkpoint at step {run.step} of "
                     f"{run.total or '?'})" if run is not None else "")
            why = kept.removeprefix("holds ") if kept else ""
            self.run_label.setText(f"This folder holds {' and '.join(x for x in (state, why) if x)}.")
        self.resume_radio.setVisible(run is not None and not run.finished)
        self.fresh_radio.setText("Start afresh here (" + ("its explainer is replaced and " if kept else "")
                                 + "its checkpoints are deleted)")
        self.new_folder_button.setText(f"Use a new folder: {fresh_folder(out).name}" if out else "Use a new folder")
        self.estimate_button.setEnabled(not self.reason() and not self.training.active
                                        and not self.training.probing)
        self._show_estimate()
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
        self.training.estimate(self.vm.opts, self._model_size())

    def use_new_folder(self) -> None:
        out = self.vm.opts.out.strip()
        if out:
            self.out.edit.setText(str(fresh_folder(out)))

    def _model_size(self) -> tuple[int, int] | None:
        check = self.vm.model_check
        return tuple(check.input_size) if check is not None else None  # type: ignore[return-value]

    def _show_estimate(self) -> None:
        t = self.training
        text = self._probe_text or estimate_text(t.timing, self.vm.opts, self.vm.n_train(), self._model_size())
        self.estimate_label.setText(text)

    def _check_radio(self, radio: QRadioButton | None) -> None:
        """Check one of the run box's radios, or neither (a folder worth keeping: no default)."""
        self.group.setExclusive(False)
        for r in (self.resume_radio, self.fresh_radio):
            r.setChecked(r is radio)
        self.group.setExclusive(True)

    def _on_fresh(self, on: bool) -> None:
        self.vm.replace_ok = self.vm.opts.out.strip() if on else ""
        self.vm.update(resume_existing=False)

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
        self._probe_text = text  # "" once measured: the estimate follows the settings from then on
        self._show_estimate()
        self.estimate_button.setEnabled(not self.reason() and not self.training.active
                                        and not self.training.probing)


# -- the collapsible "Advanced" section: the published settings, pre-filled from TrainConfig ----
class AdvancedSection(QWidget):
    def __init__(self, vm: WizardViewModel) -> None:
        super().__init__()
        self.vm = vm
        self.toggle = QToolButton()
        self.toggle.setText("Advanced (the method's published settings and its variants)")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.body = QWidget()
        self.body.setVisible(False)
        form = QFormLayout(self.body)
        self.editors: dict[str, Any] = {}
        for key, label in ADVANCED:
            self.editors[key] = editor = self._editor(key)
            form.addRow(label, editor)
        self.extra = PathField("file", "Extra config file", lambda t: vm.update(extra_config=t),
                               "JSON (*.json);;All files (*)", "optional: a JSON file of further settings")
        form.addRow("Config file", self.extra)
        self.reset = QPushButton("Restore the method's defaults")
        form.addRow("", self.reset)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.toggle)
        box.addWidget(self.body)
        self.toggle.toggled.connect(self.set_expanded)
        self.reset.clicked.connect(self.restore_defaults)

    def set_expanded(self, on: bool) -> None:
        self.toggle.setChecked(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    def _editor(self, key: str) -> QWidget:
        default = default_of(key)
        if key == "loss.references":
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            for kind in REFERENCE_KINDS:
                box = QCheckBox(kind)
                box.toggled.connect(lambda _on: self._emit_references())
                lay.addWidget(box)
            return row
        if isinstance(default, bool):
            check = QCheckBox()
            check.toggled.connect(lambda on, k=key: self.vm.set_advanced(k, bool(on)))
            return check
        if key in CHOICES:
            combo = QComboBox()
            combo.addItems(list(CHOICES[key]))
            combo.currentTextChanged.connect(lambda text, k=key: self._on_choice(k, text))
            return combo
        if isinstance(default, int):
            spin: QSpinBox | QDoubleSpinBox = QSpinBox()
            spin.setRange(0 if "every" in key else 1, 10_000_000)
        else:
            spin = QDoubleSpinBox()
            spin.setDecimals(5)
            spin.setRange(0.0, 1000.0)
            spin.setSingleStep(0.1 if default >= 0.1 else default or 0.001)
        spin.valueChanged.connect(lambda v, k=key: self.vm.set_advanced(k, type(default_of(k))(v)))
        return spin

    def _on_choice(self, key: str, text: str) -> None:
        if key == "loss.ranking":  # the temperature only means something to the threshold relaxation
            self.editors["loss.threshold_temperature"].setEnabled(text == "threshold")
        self.vm.set_advanced(key, text)

    def _emit_references(self) -> None:
        boxes = self.editors["loss.references"].findChildren(QCheckBox)
        self.vm.set_advanced("loss.references", [b.text() for b in boxes if b.isChecked()])

    def load(self) -> None:
        """Show the view-model's values."""
        # A copy: each reference box reports the boxes ticked so far as it is set, which would
        # otherwise overwrite the values still to be shown (only the first reference survived).
        adv = dict(self.vm.opts.advanced)
        for key, editor in self.editors.items():
            if key == "loss.references":
                for box in editor.findChildren(QCheckBox):
                    box.setChecked(box.text() in adv[key])
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(adv[key]))
            elif key in CHOICES:
                editor.setCurrentText(adv[key])
            else:
                editor.setValue(adv[key])
        self.editors["loss.threshold_temperature"].setEnabled(adv["loss.ranking"] == "threshold")
        self.extra.set_text(self.vm.opts.extra_config)

    def restore_defaults(self) -> None:
        for key, _ in ADVANCED:
            self.vm.opts.advanced[key] = default_of(key)
        self.load()
        self.vm.changed.emit()
