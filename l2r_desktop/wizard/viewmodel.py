"""The wizard's state (no widgets): the options, the model check and data scan run in the
background, each page's completeness reason, and the settings remembered in QSettings group
"wizard".

The checks run on the wizard's own ``workers.JobRunner`` (the thread is created there): the main
window's runner cancels its running explanation whenever a job is submitted (``stale_on_new``), and
a long explanation would hold the check up behind it.
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..errors import describe_error
from ..settings import AppSettings
from ..workers import JobError, JobRunner
from .checks import DataScan, ModelCheck, check_model, data_reason, scan_data
from .options import (RunInfo, WizardOptions, existing_run, fresh_folder, model_input_reason, out_in_use,
                      settings_reason, total_steps)

GROUP = "wizard"
ORIGIN = "wizard"  # tags the main window's load requests made by the wizard


def _same_file(a: str, b: str) -> bool:
    try:
        return bool(a) and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _explainer_of(models: Any) -> str:
    loaded = getattr(models, "loaded", None)
    return str(getattr(loaded, "explainer_path", "") or "") if loaded is not None else ""


def load_options(settings: AppSettings | None) -> WizardOptions:
    """The last settings (group "wizard", one JSON value per option); defaults without any."""
    data: dict[str, Any] = {}
    if settings is not None:
        qs = settings.qsettings
        qs.beginGroup(GROUP)
        for key in qs.childKeys():
            try:
                data[key] = json.loads(str(qs.value(key)))
            except ValueError:
                continue
        qs.endGroup()
    return WizardOptions.from_dict(data)


class WizardViewModel(QObject):
    changed = Signal()  # any option changed: pages re-check completeness
    modelChecked = Signal(object)  # ModelCheck, or None when the check failed or is stale
    modelCheckFailed = Signal(str)  # message
    dataScanned = Signal(object)  # DataScan, or None
    busyChanged = Signal(str, bool)  # "model" | "data", running

    def __init__(self, settings: AppSettings | None, test_image: str = "",
                 parent: QObject | None = None, models: Any = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.models = models  # the main window's ModelViewModel (None: no main window)
        self.opened_with = _explainer_of(models)  # the explainer in use when the wizard opened
        self.replace_ok = ""  # an output folder the user chose to start afresh in, explicitly
        self.test_image = test_image  # the image of the model page's test prediction
        self.opts = load_options(settings)
        self._runner: JobRunner | None = None  # made on the first check: its thread must be shut down
        self.model_check: ModelCheck | None = None
        self.model_error = ""
        self.scan: DataScan | None = None
        self.busy: dict[str, bool] = {"model": False, "data": False}
        self._generation: dict[str, int] = {"model": 0, "data": 0}

    # -- options ---------------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        for key, value in changes.items():
            if not hasattr(self.opts, key):
                raise AttributeError(f"unknown wizard option {key}")
            setattr(self.opts, key, value)
        self.changed.emit()

    def set_advanced(self, key: str, value: Any) -> None:
        self.opts.advanced[key] = value
        self.changed.emit()

    def save(self) -> None:
        if self._settings is None:
            return
        qs = self._settings.qsettings
        qs.beginGroup(GROUP)
        for key, value in self.opts.to_dict().items():
            qs.setValue(key, json.dumps(value))
        qs.endGroup()
        qs.sync()

    # -- page 1: model ---------------------------------------------------------------------
    def check_model(self) -> None:
        """Load the model in the background and predict the test image."""
        if model_input_reason(self.opts):
            return
        key = self.opts.model_key()
        self.model_check, self.model_error = None, ""
        job = partial(check_model, key, self.test_image or None, options=self.opts.load_options())
        self._submit("model", job, self._on_model_checked, self._on_model_failed)

    def model_reason(self) -> str:
        if reason := model_input_reason(self.opts):
            return reason
        if self.busy["model"]:
            return "Loading the model..."
        if self.model_error:
            return self.model_error
        check = self.model_check
        if check is None or check.key != self.opts.model_key():
            return "Press 'Load and check' to load the model."
        return check.trainable_reason(bool(self.opts.backbone.strip()))

    def _on_model_checked(self, check: ModelCheck) -> None:
        self.model_check = check
        self._busy("model", False)
        self.modelChecked.emit(check)

    def _on_model_failed(self, err: JobError) -> None:
        title, message = describe_error(err.exception, "loading the model")
        self.model_error = f"{title}: {message}"
        self._busy("model", False)
        self.modelCheckFailed.emit(self.model_error)

    # -- page 2: data ----------------------------------------------------------------------
    def scan_data(self) -> None:
        folder = self.opts.data.strip()
        self.scan = None
        if not folder:
            self.dataScanned.emit(None)
            return
        self._submit("data", partial(scan_data, folder), self._on_scanned, lambda _err: self._on_scanned(None))

    def data_reason(self) -> str:
        return data_reason(self.scan, self.opts.data, self.opts.val_percent, self.busy["data"])

    def n_train(self) -> int:
        return self.scan.split(self.opts.val_percent)[0] if self.scan is not None else 0

    def _on_scanned(self, scan: DataScan | None) -> None:
        self.scan = scan
        self._busy("data", False)
        self.dataScanned.emit(scan)

    # -- page 3: settings ------------------------------------------------------------------
    def settings_reason(self) -> str:
        return settings_reason(self.opts) or self.out_reason()

    def explainers_in_use(self) -> tuple[str, ...]:
        """The main window's explainer now and when the wizard opened (a run must not replace them)."""
        return tuple(p for p in (_explainer_of(self.models), self.opened_with) if p)

    def out_kept(self) -> str:
        """Why the output folder should be kept ("" = nothing to keep there)."""
        return out_in_use(self.opts.out, self.explainers_in_use())

    def out_reason(self) -> str:
        """A folder worth keeping needs an explicit 'Start afresh' (resuming its run keeps it)."""
        out, why = self.opts.out.strip(), self.out_kept()
        run = self.existing_run()
        if not why or self.replace_ok == out or run is not None and not run.finished and self.opts.resume_existing:
            return ""
        return (f"{out} {why}. Choose another folder ('Use a new folder' proposes one), or tick "
                f"'Start afresh here' to replace it.")

    def avoid_kept_out(self) -> str:
        """A default output folder worth keeping is swapped for a fresh name next to it (unless the user
        chose to replace it); returns the note saying so ("" = unchanged)."""
        out, why = self.opts.out.strip(), self.out_kept()
        if not why or self.replace_ok == out:
            return ""
        new = str(fresh_folder(out))
        self.update(out=new)
        return (f"{out} {why}, so this run writes to {new} instead. To replace it, choose {out} again and "
                f"tick 'Start afresh here'.")

    def existing_run(self) -> RunInfo | None:
        return existing_run(self.opts.out.strip()) if self.opts.out.strip() else None

    def total_steps(self) -> int:
        return total_steps(self.opts, self.n_train())

    # -- page 5: done ----------------------------------------------------------------------
    def use_in(self, models: Any, explainer_dir: str) -> str:
        """Load the new explainer into the main window (its ModelViewModel ``models``), with the model
        it was trained for unless that model is already loaded. Returns "explainer" or "model"."""
        spec, weights = self.opts.spec(), self.opts.model_weights()
        loaded = models.loaded
        same = loaded is not None and loaded.spec == spec and (
            not weights or _same_file(str(getattr(loaded.model, "source", "")), weights))
        if same:
            models.load_explainer(explainer_dir, origin=ORIGIN)
            return "explainer"
        models.load(spec, weights or None, explainer=explainer_dir, origin=ORIGIN)
        return "model"

    # -- lifetime --------------------------------------------------------------------------
    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            self._runner = JobRunner(self)
        return self._runner

    def shutdown(self) -> None:
        if self._runner is not None:
            self._runner.shutdown()

    def _submit(self, what: str, fn: Any, on_finished: Any, on_failed: Any) -> None:
        """Run a check; only the latest request of each kind reports (an older one is stale)."""
        self._generation[what] += 1
        gen = self._generation[what]

        def current(handler: Any) -> Any:
            return lambda *a: handler(*a) if gen == self._generation[what] else None

        self._busy(what, True)
        self.runner.submit(what, fn, f"wizard {what} check", on_finished=current(on_finished),
                           on_failed=current(on_failed), on_cancelled=current(lambda: self._busy(what, False)))

    def _busy(self, what: str, running: bool) -> None:
        self.busy[what] = running
        self.busyChanged.emit(what, running)
        self.changed.emit()
