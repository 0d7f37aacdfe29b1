"""Which model and explainer are loaded, on which device. Loading happens in the worker."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from .. import jobs
from ..errors import describe_error
from ..settings import AppSettings
from ..workers import JobError, JobRunner
from .state import ModelInfo

DEMO_MODEL = "demo-cnn"
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class ModelViewModel(QObject):
    """State: the loaded model bundle (model + optional explainer) and the device choice."""

    modelChanged = Signal(object)  # ModelInfo
    explainerChanged = Signal(str)  # folder of the loaded explainer, "" for none
    loadingChanged = Signal(bool, str)  # busy, what is loading
    loadFailed = Signal(str, str, str, str)  # title, message, details, origin (who asked)
    loadSucceeded = Signal(str)  # origin
    deviceChanged = Signal(str)  # the choice: auto / cpu / cuda
    status = Signal(str)

    def __init__(self, runner: JobRunner, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._settings = settings
        self.loaded: jobs.LoadedModel | None = None
        self.device_choice: str = str(settings.get("device") or "auto")
        if self.device_choice not in DEVICE_CHOICES:
            self.device_choice = "auto"
        self.loading = False

    # -- queries ---------------------------------------------------------------------------
    @property
    def settings(self) -> AppSettings:
        """The store the load dialog remembers the last model in."""
        return self._settings

    @property
    def model(self) -> Any:
        return self.loaded.model if self.loaded else None

    @property
    def explainer(self) -> Any:
        return self.loaded.explainer if self.loaded else None

    def info(self) -> ModelInfo | None:
        if self.loaded is None:
            return None
        m = self.loaded.model
        return ModelInfo(m.name, m.kind, str(m.device), bool(m.supports_grad), m.num_classes,
                         tuple(m.preprocessing.input_size), self.loaded.explainer_path, list(self.loaded.notes))

    @staticmethod
    def cuda_available() -> bool:
        import torch

        return bool(torch.cuda.is_available())

    # -- actions ---------------------------------------------------------------------------
    def load_demo(self, origin: str = "", options: dict[str, Any] | None = None, spec: str = DEMO_MODEL) -> None:
        """A demo model (demo-cnn or demo-vit) with its bundled explainer when that exists (else
        the learned methods fall back), as the CLI does."""
        from l2r_core.models.demo import demo_explainer_dir

        folder = demo_explainer_dir(spec)
        self.load(spec, explainer=str(folder) if folder else None, optional_explainer=True, origin=origin,
                  options=options)

    def load(self, spec: str, weights: str | None = None, explainer: str | None = None,
             optional_explainer: bool = False, origin: str = "", options: dict[str, Any] | None = None) -> None:
        """Load in the worker. ``origin`` tags the request: a dialog that asked shows its own
        failure, so the window does not show a second one. ``options``: ``load_model``'s model-card
        keywords (input_size, resize, mean, ...) and ``card`` (a card file)."""
        fn = partial(jobs.load_model_job, spec, weights, self.device_choice, explainer,
                     optional_explainer=optional_explainer, options=dict(options or {}))
        self._start(f"model {spec}", fn, self._on_loaded, origin)

    def load_explainer(self, path: str, origin: str = "") -> None:
        if self.loaded is None:
            self.loadFailed.emit("No model", "Load a model first, then the explainer trained for it.", "", origin)
            return
        loaded = self.loaded

        def job(progress: Any) -> jobs.LoadedModel:
            explainer = jobs.load_explainer_job(loaded.model, path, progress)
            return jobs.LoadedModel(loaded.model, loaded.spec, explainer, str(path), ())

        self._start(f"explainer {Path(path).name}", job, self._on_loaded, origin)

    def set_device(self, choice: str) -> None:
        if choice not in DEVICE_CHOICES:
            return
        self.device_choice = choice
        self._settings.set("device", choice)
        self.deviceChanged.emit(choice)
        if self.loaded is not None:
            self._start(f"device {choice}", partial(jobs.move_model_job, self.loaded, choice), self._on_loaded)

    def set_loaded(self, loaded: jobs.LoadedModel) -> None:
        """Install an already-built bundle (tests, the self-test); same signals as a load."""
        jobs.warm_imports()
        self._on_loaded(loaded)

    # -- internals -------------------------------------------------------------------------
    def _start(self, what: str, fn: Any, on_done: Any, origin: str = "") -> None:
        self.loading = True
        self.loadingChanged.emit(True, what)
        self.status.emit(f"Loading {what}...")
        self._runner.submit("model", fn, f"Loading {what}", stale_on_new=False,
                            on_finished=lambda loaded: on_done(loaded, origin), on_failed=partial(self._on_failed, what, origin),
                            on_cancelled=self._on_cancelled)

    def _on_loaded(self, loaded: jobs.LoadedModel, origin: str = "") -> None:
        self.loaded = loaded
        self.loading = False
        self.loadingChanged.emit(False, "")
        info = self.info()
        self.modelChanged.emit(info)
        self.explainerChanged.emit(loaded.explainer_path)
        self.status.emit(f"Loaded {info.name if info else 'the model'}.")  # replaces "Loading ..."
        for note in loaded.notes:
            self.status.emit(note)
        self.loadSucceeded.emit(origin)

    def _on_failed(self, what: str, origin: str, err: JobError) -> None:
        self.loading = False
        self.loadingChanged.emit(False, "")
        title, message = describe_error(err.exception, f"loading {what}")
        self.loadFailed.emit(title, message, err.trace, origin)
        if self.loaded is not None:  # the previous model stays: let its view come back
            self.modelChanged.emit(self.info())

    def _on_cancelled(self) -> None:
        self.loading = False
        self.loadingChanged.emit(False, "")
        self.status.emit("Loading cancelled.")
