"""The current image's explanation: methods and their options, target class, protocol, maps, curves,
refinement."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from l2r_core.errors import ConfigError, ImageLoadError
from l2r_core.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS

from .. import jobs
from ..errors import describe_error
from ..settings import AppSettings
from ..workers import JobError, JobRunner
from .model import ModelViewModel
from .method_options import MethodOptions, method_choices, pick_primary, refuse
from .result_cache import ResultCache
from .state import REFINED, ImageState, MethodChoice, MethodResult, OptionsState

RECENT_JOBS = 8  # job ids whose progress is still shown (older ones were cancelled or finished)


class ExplainViewModel(QObject):
    methodsChanged = Signal(list)  # [MethodChoice]
    selectionChanged = Signal(str, list)  # primary method, compared methods
    optionsChanged = Signal(object)  # OptionsState of the primary method
    protocolChanged = Signal(str)
    subjectChanged = Signal()  # the image, the class or the model changed: per-image views start afresh
    imageChanged = Signal(object)  # ImageState, or None when nothing is shown
    imageFailed = Signal(object, str)  # Path, the reason it cannot be read (names the file and the fix)
    resultsChanged = Signal(list)  # [MethodResult] in display order
    curvesChanged = Signal(list)  # [MethodResult] (those with curves)
    busyChanged = Signal(bool)
    progress = Signal(int, int, str)
    status = Signal(str)
    explained = Signal(float)  # wall seconds of the last complete explanation
    firstShown = Signal()  # primary map + curves of an image are on screen
    error = Signal(str, str, str)
    refineAvailabilityChanged = Signal(bool, str)  # available, reason when not
    refineRunningChanged = Signal(bool)
    refineProgress = Signal(int, int, float)  # step, total, loss

    def __init__(self, runner: JobRunner, models: ModelViewModel, settings: AppSettings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner, self._models, self._settings = runner, models, settings
        self.choices: list[MethodChoice] = []
        self.primary: str = ""
        self.compare: list[str] = []
        self.protocol: str = str(settings.get("protocol") or DEFAULT_PROTOCOL)
        if self.protocol not in PROTOCOLS:
            self.protocol = DEFAULT_PROTOCOL
        self.path: Path | None = None
        self.image: ImageState | None = None
        self.x: Any = None
        self.results: dict[str, MethodResult] = {}
        self.target: int | None = None  # None: the top-1 class
        self.refine_steps = 10
        self.cache = ResultCache()
        self.method_options = MethodOptions()
        self._model: Any = None  # the model the target class index refers to
        self._jobs: deque[int] = deque(maxlen=RECENT_JOBS)
        self._started = 0.0
        self._first_pending = False
        self.refining = False
        models.modelChanged.connect(self._on_model_changed)
        runner.progress.connect(self._on_progress)

    # -- queries ---------------------------------------------------------------------------
    def shown_methods(self) -> list[str]:
        enabled = {c.name for c in self.choices if c.enabled}
        out = [self.primary] if self.primary in enabled else []
        out += [m for m in self.compare if m in enabled and m not in out]
        return out

    def title(self, name: str) -> str:
        return next((c.display_name for c in self.choices if c.name == name), name)

    def ordered_results(self) -> list[MethodResult]:
        keys = self.shown_methods() + [REFINED]
        return [self.results[k] for k in keys if k in self.results]

    def refine_availability(self) -> tuple[bool, str]:
        model = self._models.model
        if model is None:
            return False, "Load a model first."
        if refusal := jobs.refine_refusal(model):
            return False, refusal
        if self.primary not in self.results or self.x is None:
            return False, "Explain an image first: refinement starts from the shown map."
        return True, "Improve the shown map with a few gradient steps on this image's own deletion/insertion loss."

    def options_state(self) -> OptionsState:
        """The primary method's options as the options panel shows them."""
        return self.method_options.state(self.primary, self.title(self.primary))

    def shown_result(self) -> tuple[ImageState, MethodResult] | None:
        """The image and the primary method's result on screen (None before its map exists)."""
        result = self.results.get(self.primary)
        if self.image is None or result is None or self.image.path != self.path:
            return None
        return self.image, result

    # -- user actions ----------------------------------------------------------------------
    def set_image(self, path: Path | None) -> None:
        self._remember()
        self.path = Path(path) if path is not None else None
        self.target = None
        self._show_subject(keep_image=False)
        self.explain()

    def set_primary(self, name: str) -> None:
        if name == self.primary or name not in {c.name for c in self.choices if c.enabled}:
            return
        self.primary = name
        self._settings.set("method", name)
        self._drop_refined()
        self.selectionChanged.emit(self.primary, list(self.compare))
        self.optionsChanged.emit(self.options_state())
        self.explain()

    def set_option(self, name: str, value: object) -> None:
        """Change one option of the primary method and explain it again with it (a map made with
        other options is kept in the cache, never shown for these)."""
        method, changed = self.primary, False
        try:
            changed = bool(method) and self.method_options.set(method, name, value)
        except ConfigError as exc:
            self.status.emit(str(exc))
        if not changed:
            self.optionsChanged.emit(self.options_state())  # the panel shows what is in effect
            return
        self._remember()  # the map of the previous options stays available for coming back
        self.results.pop(method, None)
        self.results.pop(REFINED, None)  # refined from the previous map
        self.optionsChanged.emit(self.options_state())
        self._emit_results()
        self.explain()

    def set_compare(self, names: list[str]) -> None:
        names = [n for n in names if n != self.primary]
        if names == self.compare:
            return
        self.compare = names
        self._settings.set("compare_methods", ",".join(names))
        self.selectionChanged.emit(self.primary, list(self.compare))
        self.explain()

    def set_protocol(self, name: str) -> None:
        if name not in PROTOCOLS or name == self.protocol:
            return
        self.protocol = name
        self._settings.set("protocol", name)
        self.protocolChanged.emit(name)
        self.explain()  # maps are reused; only the curves change

    def set_target(self, index: int) -> None:
        if self.image is not None and index == self.image.target:
            return
        self._remember()
        self.target = int(index)
        self._show_subject(keep_image=True)
        self.explain()

    def explain(self) -> None:
        """(Re)compute what is missing for the current image; cancels a running explanation."""
        loaded = self._models.loaded
        if loaded is None or self.path is None or self._models.loading:
            return
        if self.image is not None and self.image.path != self.path:
            self.results.clear()
        keys = self.shown_methods()
        if not keys:
            self.status.emit("No attribution method can run on this model.")
            return
        if self.method_options.want_layers(loaded.model, self.choices):
            # once per model, in the worker before the explanation: the probe's hooks never meet another job's
            self._runner.submit("layers", partial(jobs.layers_job, loaded.model), "Listing layers",
                                stale_on_new=False, on_finished=partial(self._on_layers, loaded.model))
        cached = {k: r for k in keys if (r := self._reusable(k)) is not None}
        fn = partial(jobs.explain_job, loaded, self.path, [(k, self.title(k)) for k in keys], self.target,
                     self.protocol, cached=cached, options={k: self.method_options.for_method(k) for k in keys})
        self._started = time.perf_counter()
        self._first_pending = True
        job = self._runner.submit("explain", fn, f"Explaining {self.path.name}", on_partial=self._on_stage,
                                  on_finished=self._on_explained,
                                  on_failed=partial(self._on_explain_failed, self.path),
                                  on_cancelled=self._on_job_end)
        self._jobs.append(job.id)
        self.busyChanged.emit(True)

    def refine(self) -> None:
        ok, reason = self.refine_availability()
        if not ok:
            self.error.emit("Cannot refine", reason, "")
            return
        assert self._models.loaded is not None and self.image is not None
        start = self.results[self.primary]
        # Step 0 is the map refinement starts from: its panel and curves exist before the worker
        # starts, so each step only updates them in place.
        self.results[REFINED] = replace(start, key=REFINED, title=f"{start.title} + refine",
                                        note=f"step 0/{self.refine_steps}")
        self._emit_results()
        fn = partial(jobs.refine_job, self._models.loaded, self.x, self.image.target, start,
                     self.refine_steps, self.protocol)
        job = self._runner.submit("refine", fn, "Refining", on_partial=self._on_refine_step,
                                  on_finished=self._on_refine_end, on_failed=partial(self._on_failed, "refining"),
                                  on_cancelled=self._on_refine_end)
        self._jobs.append(job.id)
        self.refining = True
        self.refineRunningChanged.emit(True)
        self.refineProgress.emit(0, self.refine_steps, float("nan"))

    def cancel_refine(self) -> None:
        self._runner.cancel("refine")

    def preview(self, key: str, kind: str, step: int) -> np.ndarray | None:
        """The perturbed image at one curve point, for the hover preview (cheap: no model call)."""
        result = self.results.get(key)
        model = self._models.model
        if result is None or model is None or self.x is None:
            return None
        return jobs.perturbed_image(model, self.x, result.raw, self.protocol, kind, step)

    # -- job handlers (GUI thread) ---------------------------------------------------------
    def _on_model_changed(self, _info: object) -> None:
        loaded = self._models.loaded
        model = loaded.model if loaded is not None else None
        if model is not self._model:  # class indices mean nothing to another model: back to its top-1
            self._model, self.target = model, None
        self.cache.clear()  # maps and inputs belong to the previous model (or device)
        self.method_options.set_layers((), None)  # until the new model's layers are listed
        self.results = {}
        self.image, self.x = None, None
        self.subjectChanged.emit()
        self.imageChanged.emit(None)
        self.choices = method_choices(loaded.model, loaded.explainer) if loaded else []
        enabled = [c.name for c in self.choices if c.enabled]
        wanted, note = pick_primary(self.choices, str(self._settings.get("method") or ""), getattr(model, "name", ""),
                                    loaded is not None and loaded.explainer is not None)
        if note:  # after the model view-model's own "Loaded ..." line, which would replace it at once
            QTimer.singleShot(0, self, partial(self.status.emit, note))
        self.primary = wanted
        stored = str(self._settings.get("compare_methods") or "")
        self.compare = [m for m in (self.compare or stored.split(",")) if m in enabled and m != wanted]
        self.methodsChanged.emit(list(self.choices))
        self.selectionChanged.emit(self.primary, list(self.compare))
        self.optionsChanged.emit(self.options_state())
        self._emit_results()
        self._emit_refine_state()
        self.explain()

    def _on_stage(self, stage: object) -> None:
        if isinstance(stage, jobs.ImageStage):
            same = self.image is not None and self.image.path == stage.state.path \
                and self.image.target == stage.state.target
            if not same:
                self.results.clear()
            self.image, self.x = stage.state, stage.x
            self.imageChanged.emit(stage.state)
        elif isinstance(stage, jobs.MapStage):
            if stage.result.options != self.method_options.for_method(stage.result.key):
                return  # made with options the user has changed since
            self.results[stage.result.key] = stage.result
            self.resultsChanged.emit(self.ordered_results())
        elif isinstance(stage, jobs.CurveStage) and stage.key in self.results:
            self.results[stage.key].curves = stage.curves
            self.curvesChanged.emit([r for r in self.ordered_results() if r.curves is not None])
            if stage.key == self.primary and self._first_pending:
                self._first_pending = False
                self._emit_refine_state()
                self.firstShown.emit()

    def _on_layers(self, model: object, layers: object) -> None:
        if model is not self._models.model or not isinstance(layers, list):
            return  # listed for a model that has been replaced meanwhile
        self.method_options.set_layers(layers, model)
        self.optionsChanged.emit(self.options_state())

    def _on_explained(self, _result: object) -> None:
        seconds = time.perf_counter() - self._started
        self._on_job_end()
        self.explained.emit(seconds)

    def _on_refine_step(self, update: object) -> None:
        assert isinstance(update, jobs.RefineUpdate)
        self.results[REFINED] = update.result
        self._emit_results()
        self.refineProgress.emit(update.step, update.total, update.loss)

    def _on_refine_end(self, *_: object) -> None:
        self.refining = False
        self.refineRunningChanged.emit(False)
        self._on_job_end()

    def _on_explain_failed(self, path: Path | None, err: JobError) -> None:
        if isinstance(err.exception, ImageLoadError):
            # Browsing a folder must not stop at a modal dialog per bad file: the window shows the
            # reason in place of the map and decides whether the user asked for this file explicitly.
            self._on_job_end()
            if path is None or path != self.path:
                return  # the user has moved on: nothing to say about that file any more
            self.image, self.x, self.results = None, None, {}
            self.imageChanged.emit(None)
            self._emit_results()
            self._emit_refine_state()
            self.imageFailed.emit(path, str(err.exception))
            return
        self._on_failed("explaining", err)

    def _on_failed(self, action: str, err: JobError) -> None:
        if action == "refining":
            self._on_refine_end()
        else:
            self._on_job_end()
        if isinstance(err.exception, jobs.MethodUnavailable):
            # the app's own fallback is information, not an error the user must acknowledge
            self.status.emit(self._disable(err.exception.method, str(err.exception)))
            return
        title, message = describe_error(err.exception, action)
        self.error.emit(title, message, err.trace)

    def _disable(self, method: str, reason: str) -> str:
        """Grey out a method the model refused, fall back to another one; returns a status line."""
        self.choices, self.primary, line = refuse(self.choices, self.primary, method, reason)
        self.compare = [m for m in self.compare if m != method]
        self.results.pop(method, None)
        self.methodsChanged.emit(list(self.choices))
        self.selectionChanged.emit(self.primary, list(self.compare))
        self.optionsChanged.emit(self.options_state())
        self.resultsChanged.emit(self.ordered_results())
        self.explain()
        return line

    def _on_job_end(self, *_: object) -> None:
        if not self._runner.busy:
            self.busyChanged.emit(False)
        self._emit_refine_state()

    def _on_progress(self, job_id: int, done: int, total: int, message: str) -> None:
        if job_id in self._jobs:
            self.progress.emit(done, total, message)

    def _remember(self) -> None:
        """Keep what the current (image, class) shows, so coming back to it is instant."""
        if self.image is None or self.path is None or self.image.path != self.path:
            return
        maps = [r for k, r in self.results.items() if k != REFINED]  # refining is a per-visit action
        if maps:
            self.cache.remember((self.path, self.target), self.image, self.x, maps, self.protocol)

    def _reusable(self, method: str) -> MethodResult | None:
        """A map of ``method`` for this image and class made with the current options, or None."""
        opts = self.method_options.for_method(method)
        result = self.results.get(method)
        if result is not None and result.options == opts:
            return result
        entry = self.cache.get((self.path, self.target)) if self.path is not None else None
        return entry.find(method, opts) if entry is not None else None

    def _show_subject(self, keep_image: bool) -> None:
        """Another image or class: every per-image view starts afresh, from the cache when it has
        this (image, class), else empty (the previous image's maps never show under a new name)."""
        entry = self.cache.get((self.path, self.target)) if self.path is not None else None
        self.subjectChanged.emit()
        if entry is not None:
            self.image, self.x = entry.image, entry.x
            self.results = entry.shown(self.method_options.for_method, self.protocol)
        else:
            self.results = {}
            if keep_image and self.image is not None and self.target is not None:
                # same picture, another class: the marker moves now, the maps follow
                model = self._models.model
                names = getattr(model, "class_names", None) or []
                name = names[self.target] if 0 <= self.target < len(names) else str(self.target)
                self.image = replace(self.image, target=self.target, target_name=name)
            elif not keep_image:
                self.image, self.x = None, None
        self.imageChanged.emit(self.image)
        self._emit_results()
        self._emit_refine_state()

    def _emit_results(self) -> None:
        self.resultsChanged.emit(self.ordered_results())
        self.curvesChanged.emit([r for r in self.ordered_results() if r.curves is not None])

    def _drop_refined(self) -> None:
        if self.results.pop(REFINED, None) is not None:
            self.resultsChanged.emit(self.ordered_results())

    def _emit_refine_state(self) -> None:
        ok, reason = self.refine_availability()
        self.refineAvailabilityChanged.emit(ok, reason)
