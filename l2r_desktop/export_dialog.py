"""Export a folder from the GUI: the CLI's choices, a progress bar, Cancel, and the report.

The export runs as a job on its own ``workers.JobRunner`` (the thread is created there), so the
main window's explanations keep running meanwhile. The job loads its own copy of the model from
the same spec/weights/explainer: a torch module is never shared between two threads (hook-based
methods such as Grad-CAM attach hooks to the module while they run).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import dialogs
from .errors import describe_error
from .export_worker import ExportOutcome, ExportRequest, export_job
from .workers import JobError, JobRunner


def open_in_browser(path: Path) -> bool:
    """Asks the desktop to open ``path`` in the default browser; False when it could not (no
    browser or no desktop: Qt then only prints a line on stderr)."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def open_report_file(path: Path) -> None:
    """Opens the report in the default browser, or says where it is and offers to copy the path
    (tests replace this)."""
    if open_in_browser(path):
        return
    dialogs.show_path(QApplication.activeWindow(), "Report not opened",
                      f"No web browser could be started to show the report. It is here:\n\n{path}\n\n"
                      f"Fix: open that file in a browser yourself (\"{dialogs.COPY_PATH}\" puts the path on "
                      f"the clipboard), or install/set a default browser.", str(path))


class ExportViewModel(QObject):
    """State of one export: running or not, progress, rate, errors so far, the last outcome."""

    runningChanged = Signal(bool)
    progressed = Signal(int, int, str)  # done, total, text (rate and ETA included)
    itemFailed = Signal(str)  # "image (method): reason"
    finished = Signal(object)  # ExportOutcome
    failed = Signal(str, str, str)  # title, message, details
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = JobRunner(self)
        self.running = False
        self.outcome: ExportOutcome | None = None
        self.errors = 0
        self._times: list[tuple[float, int]] = []
        self.runner.progress.connect(self._on_progress)

    def start(self, req: ExportRequest) -> None:
        if self.running:
            return
        self.outcome, self.errors, self._times = None, 0, []
        self._set_running(True)
        self.runner.submit("export", lambda progress: export_job(req, progress), "Exporting", stale_on_new=False,
                           on_partial=self._on_item, on_finished=self._on_finished, on_failed=self._on_failed,
                           on_cancelled=self._on_cancelled)

    def cancel(self) -> None:
        self.runner.cancel("export")

    def shutdown(self) -> None:
        self.runner.shutdown()

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.runningChanged.emit(running)

    def _on_progress(self, _job: int, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        self._times = (self._times + [(now, done)])[-20:]
        (t0, d0), (t1, d1) = self._times[0], self._times[-1]
        rate = (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else 0.0
        eta = f", about {int((total - done) / rate)} s left" if rate > 0 else ""
        text = f"{done}/{total} {message}" + (f" ({rate:.2f} images/s{eta})" if rate > 0 else "")
        self.progressed.emit(done, total, text)

    def _on_item(self, r: Any) -> None:
        if r.status != "ok":
            self.errors += 1
            self.itemFailed.emit(f"{r.image} ({r.method}): {r.status}")

    def _on_finished(self, outcome: ExportOutcome) -> None:
        self.outcome = outcome
        self._set_running(False)
        self.finished.emit(outcome)

    def _on_failed(self, err: JobError) -> None:
        self._set_running(False)
        title, message = describe_error(err.exception, "exporting")
        self.failed.emit(title, message, err.trace)

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.cancelled.emit()


def _method_names() -> list[str]:
    from l2r_core.attribution.registry import list_methods

    return [m.name for m in list_methods()]


class ExportDialog(QDialog):
    """Non-modal: the main window stays usable while the export runs."""

    def __init__(self, defaults: ExportRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export folder")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # closing cancels; reopening starts afresh
        self.vm = ExportViewModel(self)
        self._build(defaults)
        self.vm.runningChanged.connect(self._on_running)
        self.vm.progressed.connect(self._on_progress)
        self.vm.itemFailed.connect(lambda text: self.log.setText(f"{self.vm.errors} errors; last: {text}"))
        self.vm.finished.connect(self._on_finished)
        self.vm.failed.connect(self._on_failed)
        self.vm.cancelled.connect(lambda: self.status.setText("Cancelled. Export again into the same folder to resume."))
        if parent is not None:
            parent.installEventFilter(self)  # the window closing stops the export first

    def _build(self, d: ExportRequest) -> None:
        form = QFormLayout()
        self.images = QLineEdit(d.images_dir)
        self.out = QLineEdit(d.out_dir)
        self.spec, self.weights, self.explainer = QLineEdit(d.spec), QLineEdit(d.weights), QLineEdit(d.explainer)
        form.addRow("Images folder", self._with_browse(self.images, "folder"))
        form.addRow("Output folder", self._with_browse(self.out, "folder"))
        form.addRow("Model", self.spec)
        form.addRow("Weights", self._with_browse(self.weights, "file"))
        form.addRow("Explainer", self._with_browse(self.explainer, "folder"))
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(d.device)
        form.addRow("Device", self.device)
        self.method_boxes: dict[str, QCheckBox] = {}
        grid, wanted = QGridLayout(), set(d.methods or (["l2r"] if d.explainer else ["gradcam"]))
        for k, name in enumerate(_method_names()):
            box = self.method_boxes[name] = QCheckBox(name)
            box.setChecked(name in wanted)
            grid.addWidget(box, k // 4, k % 4)
        methods = QWidget()
        methods.setLayout(grid)
        form.addRow("Methods", methods)
        from l2r_core.metrics.protocols import PROTOCOLS

        self.protocol = QComboBox()
        self.protocol.addItems(sorted(PROTOCOLS))
        self.protocol.setCurrentText(d.protocol)
        form.addRow("Protocol", self.protocol)
        self.refine_steps = QSpinBox()
        self.refine_steps.setRange(1, 200)
        self.refine_steps.setValue(d.refine_steps)
        form.addRow("Refine steps (l2r-refine)", self.refine_steps)
        self.method_options = {m: dict(o) for m, o in d.method_options.items() if o and m != "l2r-refine"}
        self.options_label = QLabel("; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in o.items())
                                              for m, o in self.method_options.items()) or "defaults")
        self.options_label.setWordWrap(True)
        self.options_label.setToolTip("The options set in the main window's method options panel; a method "
                                      "not listed runs with its defaults.")
        form.addRow("Method options", self.options_label)
        self.recursive, self.curves_png, self.force = (QCheckBox(t) for t in (
            "include subfolders", "curves as PNG", "replace results of another model/protocol"))
        for box, value in ((self.recursive, d.recursive), (self.curves_png, d.curves_png), (self.force, d.force)):
            box.setChecked(value)
            form.addRow("", box)
        self.bar, self.status, self.log = QProgressBar(), QLabel("Ready."), QLabel("")
        for label in (self.status, self.log):
            label.setWordWrap(True)
        buttons = QHBoxLayout()
        self.start_button, self.cancel_button, self.report_button, self.close_button = (
            self._button(buttons, text, slot, enabled) for text, slot, enabled in (
                ("Export", self.start, True), ("Cancel", self.vm.cancel, False),
                ("Open report", self.open_report, False), ("Close", self.close, True)))
        box = QVBoxLayout(self)
        box.addLayout(form)
        for w in (self.bar, self.status, self.log):
            box.addWidget(w)
        box.addLayout(buttons)

    @staticmethod
    def _button(row: QHBoxLayout, text: str, slot: Any, enabled: bool) -> QPushButton:
        button = QPushButton(text)
        button.setEnabled(enabled)
        button.clicked.connect(slot)
        row.addWidget(button)
        return button

    def _with_browse(self, edit: QLineEdit, kind: str) -> QWidget:
        row, button = QWidget(), QPushButton("Browse...")
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        lay.addWidget(button)

        def browse() -> None:
            path = (dialogs.ask_open_folder(self, edit.text()) if kind == "folder"
                    else dialogs.ask_open_file(self, "Weights file", edit.text()))
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        return row

    def request(self) -> ExportRequest:
        methods = [n for n, b in self.method_boxes.items() if b.isChecked()]
        return ExportRequest(
            self.images.text().strip(), self.out.text().strip(), self.spec.text().strip(), self.weights.text().strip(),
            self.explainer.text().strip(), self.device.currentText(), methods, self.protocol.currentText(),
            self.refine_steps.value(), self.recursive.isChecked(), self.curves_png.isChecked(), self.force.isChecked(),
            {m: o for m, o in self.method_options.items() if m in methods})  # options of unticked methods are refused

    def start(self) -> None:
        req = self.request()
        if not req.images_dir or not req.out_dir:
            dialogs.show_error(self, "Export", "Choose the images folder and the output folder first.")
            return
        self.log.setText("")
        self.status.setText("Starting...")
        self.vm.start(req)

    def open_report(self) -> None:
        if self.vm.outcome is not None and self.vm.outcome.report.is_file():
            open_report_file(self.vm.outcome.report)

    def _on_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.report_button.setEnabled(False)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.status.setText(text)

    def _on_finished(self, outcome: ExportOutcome) -> None:
        self.report_button.setEnabled(outcome.report.is_file())
        self.status.setText(f"Done: {outcome.computed} computed, {outcome.skipped} already done, "
                            f"{outcome.errors} errors. Report: {outcome.report}")

    def _on_failed(self, title: str, message: str, details: str) -> None:
        self.status.setText(f"{title}: {message.splitlines()[0] if message else ''}")
        dialogs.show_error(self, title, message, details)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Close:
            self.close()  # stops the export and its thread before the window goes
        return False

    def closeEvent(self, event: Any) -> None:
        # Closing cancels a running export (the same export resumes next time) and stops the thread.
        self.vm.shutdown()
        super().closeEvent(event)


def defaults_from_window(win: Any) -> ExportRequest:
    loaded = win.models.loaded
    spec, weights, explainer = "demo-cnn", "", ""
    if loaded is not None:
        spec, explainer = loaded.spec, loaded.explainer_path or ""
        weights = str(loaded.model.source) if spec.startswith("timm:") else ""
    folder = win.images.last_folder()
    out = str(Path(folder).with_name(Path(folder).name + "-export")) if folder else ""
    chosen = win.explain.method_options
    options = {m: chosen.for_method(m) for m in _method_names() if chosen.for_method(m)}
    refine = options.pop("l2r-refine", {})  # its steps have their own field in the dialog
    extra = {"refine_steps": int(refine["steps"])} if "steps" in refine else {}
    return ExportRequest(folder, out, spec, weights, explainer, win.models.device_choice, method_options=options,
                         **extra)


def open_dialog(win: Any) -> ExportDialog:
    """Entry point used by the main window's File > Export folder... action."""
    dlg = win.findChild(ExportDialog)  # one per window; a closed one has been deleted
    if dlg is None:
        dlg = ExportDialog(defaults_from_window(win), win)
    dlg.show()
    dlg.raise_()
    return dlg
