"""The inspection window: lays out the widgets and connects them to the view-models.

Widgets only display view-model state and forward user actions; all work runs in the one
JobRunner (workers.py); every dialog goes through dialogs.py.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QApplication, QFrame, QLabel, QMainWindow, QProgressBar, QScrollArea, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from . import dialogs, save_result
from .actions import build_menus
from .settings import AppSettings
from .viewmodels.explain import ExplainViewModel
from .viewmodels.images import ImageListViewModel
from .viewmodels.model import ModelViewModel
from .viewmodels.state import ImageState, ModelInfo
from .viewmodels.view_options import ViewOptionsViewModel
from .widgets.controls import DisplayControls, MethodControls, RefineControls
from .widgets.curves_view import CurvesView, to_qimage
from .widgets.heatmap_view import HeatmapView
from .widgets.method_options import MethodOptionsPanel
from .widgets.original_view import OriginalView
from .widgets.explainer_dialog import ExplainerDialog
from .widgets.model_dialog import ModelDialog
from .widgets.predictions import PredictionsView
from .widgets.thumbnails import ThumbnailStrip
from .workers import JobRunner


def sample_folder() -> Path:
    from l2r_resources import resource_path

    return resource_path("samples")


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings, runner: JobRunner | None = None) -> None:
        super().__init__()
        self.setWindowTitle("L2R Inspector")
        self.settings = settings
        self.runner = runner or JobRunner(self)
        self.models = ModelViewModel(self.runner, settings, self)
        self.images = ImageListViewModel(settings, self)
        self.explain = ExplainViewModel(self.runner, self.models, settings, self)
        self.view = ViewOptionsViewModel(settings, self)
        self._explicit_image: Path | None = None  # a single file the user opened (its failure gets a dialog)
        self._build_widgets()
        self.actions = build_menus(self)
        self._build_status_bar()
        self._connect()
        self._apply_view_options()
        self._refresh_recent()
        self.setAcceptDrops(True)
        self.resize(QSize(1360, 900))
        if (geometry := settings.geometry()) is not None:
            self.restoreGeometry(geometry)
        self.heatmap.setFocus()

    # -- construction ----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.heatmap = HeatmapView()
        self.predictions = PredictionsView()
        self.original_view = OriginalView()
        self.method_controls = MethodControls()
        self.method_options = MethodOptionsPanel()
        self.display_controls = DisplayControls()
        self.refine_controls = RefineControls()
        self.curves = CurvesView()
        self.thumbnails = ThumbnailStrip()
        # the widgets' own "nothing yet" texts, shown again whenever the image, class or model changes
        self.map_message = QLabel()  # replaces the map when the image cannot be read
        self.map_message.setObjectName("mapMessage")
        self.map_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.map_message.setWordWrap(True)
        self.map_message.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Left/Right keep browsing
        self.map_message.setStyleSheet("color: #8a1c1c; background: #fff; font-size: 11pt; padding: 24px;")
        self.map_area = QStackedWidget()
        self.map_area.addWidget(self.heatmap)
        self.map_area.addWidget(self.map_message)
        side = QWidget()
        side_box = QVBoxLayout(side)
        side_box.setContentsMargins(6, 0, 0, 0)
        side_box.addWidget(self.predictions)
        side_box.addWidget(self.original_view)
        side_box.addWidget(self.method_controls)
        side_box.addWidget(self.method_options)
        side_box.addWidget(self.display_controls)
        side_box.addWidget(self.refine_controls)
        side_box.addStretch(1)
        scroll = QScrollArea()  # small screens: the side panel scrolls instead of growing the window
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(330)
        scroll.setMaximumWidth(430)
        left = QSplitter(Qt.Orientation.Vertical)  # the picture big, its curves below it
        left.addWidget(self.map_area)
        left.addWidget(self.curves)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setSizes([540, 340])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(scroll)  # predictions and controls on the right, full height
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(self.splitter, 1)
        box.addWidget(self.thumbnails)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel("model: loading...")
        self.device_label = QLabel("device: -")
        self.time_label = QLabel("last explanation: -")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        for w in (self.progress, self.model_label, self.device_label, self.time_label):
            bar.addPermanentWidget(w)

    def _connect(self) -> None:
        m, e, i, v = self.models, self.explain, self.images, self.view
        m.modelChanged.connect(self._on_model)
        m.loadFailed.connect(self._on_load_failed)
        m.status.connect(self.show_status)
        m.loadingChanged.connect(lambda busy, what: busy and self.model_label.setText(f"model: loading {what}..."))
        m.deviceChanged.connect(self._on_device_choice)
        i.listChanged.connect(self.thumbnails.set_paths)
        i.currentChanged.connect(self._on_current_image)
        i.recentFoldersChanged.connect(lambda _: self._refresh_recent())
        i.error.connect(self.show_error)
        self.thumbnails.indexChosen.connect(i.select)
        e.methodsChanged.connect(self.method_controls.set_choices)
        e.selectionChanged.connect(self.method_controls.set_selection)
        e.optionsChanged.connect(self.method_options.set_state)
        e.subjectChanged.connect(self._reset_per_image_views)
        e.imageChanged.connect(self._on_image_state)
        e.imageFailed.connect(self._on_image_failed)
        e.resultsChanged.connect(self.heatmap.set_results)
        e.resultsChanged.connect(self.curves.set_results)
        e.curvesChanged.connect(self.curves.set_results)
        e.resultsChanged.connect(lambda _: self._update_result_actions())
        e.curvesChanged.connect(lambda _: self._update_result_actions())
        e.protocolChanged.connect(self.curves.set_protocol)
        e.status.connect(self.show_status)
        e.error.connect(self.show_error)
        e.progress.connect(self._on_progress)
        e.busyChanged.connect(lambda busy: self.progress.setVisible(busy))
        e.explained.connect(lambda s: self.time_label.setText(f"last explanation: {s:.2f} s"))
        e.refineAvailabilityChanged.connect(self._on_refine_available)
        e.refineRunningChanged.connect(self.refine_controls.set_running)
        e.refineRunningChanged.connect(lambda running: self.actions.refine.setEnabled(
            not running and self.explain.refine_availability()[0]))
        e.refineProgress.connect(self.refine_controls.set_progress)
        self.method_controls.primaryChosen.connect(e.set_primary)
        self.method_controls.compareChosen.connect(e.set_compare)
        self.method_options.optionChosen.connect(e.set_option)
        self.predictions.classClicked.connect(e.set_target)
        self.curves.protocolChosen.connect(e.set_protocol)
        self.curves.pointHovered.connect(self._on_curve_hover)
        self.refine_controls.refineClicked.connect(self._on_refine_clicked)
        self.refine_controls.cancelClicked.connect(e.cancel_refine)
        self.display_controls.colormapChosen.connect(v.set_colormap)
        self.display_controls.modeChosen.connect(v.set_display_mode)
        self.display_controls.opacityChosen.connect(v.set_opacity)
        self.display_controls.overlayToggled.connect(v.set_overlay_visible)
        v.colormapChanged.connect(lambda _: self._apply_view_options())
        v.displayModeChanged.connect(lambda _: self._apply_view_options())
        v.opacityChanged.connect(lambda _: self._apply_view_options())
        v.overlayVisibleChanged.connect(lambda _: self._apply_view_options())
        self.heatmap.hovered.connect(lambda text: text and self.statusBar().showMessage(text, 4000))

    def _apply_view_options(self) -> None:
        v = self.view
        self.heatmap.set_colormap(v.colormap)
        self.heatmap.set_display_mode(v.display_mode)
        self.heatmap.set_opacity(v.opacity)
        self.heatmap.set_overlay_visible(v.overlay_visible)
        self.display_controls.set_values(v.colormap, v.opacity, v.overlay_visible, v.display_mode)
        act = getattr(self, "actions", None)
        if act is not None and act.show_overlay.isChecked() != v.overlay_visible:
            act.show_overlay.blockSignals(True)
            act.show_overlay.setChecked(v.overlay_visible)
            act.show_overlay.blockSignals(False)
        self.curves.set_protocol(self.explain.protocol)
        self._on_device_choice(self.models.device_choice)

    # -- starting points -------------------------------------------------------------------
    def start_demo(self, paths: list[str] | None = None) -> None:
        """The offline demo: demo-cnn (+ its explainer when bundled) on the sample photos."""
        self.models.load_demo()
        self.images.open(paths or [str(sample_folder())])

    def open_paths(self, paths: list[str]) -> bool:
        """Paths from the command line, a drop or a test; one file on its own counts as asked for."""
        return self._open(paths, explicit=True)

    # -- user actions (menus, toolbar) -----------------------------------------------------
    def ask_open_images(self) -> None:
        files = dialogs.ask_open_images(self, self.images.last_folder())
        if files:
            self._open(files, explicit=True)

    def ask_open_folder(self) -> None:
        folder = dialogs.ask_open_folder(self, self.images.last_folder())
        if folder:
            self._open([folder], explicit=False)

    def save_current_result(self) -> None:
        """File > Save current result...: six files for the shown image and main method."""
        record = self.shown_record()
        if record is None or record.curves is None:
            self.show_error("Nothing to save yet", "Open an image and wait until its map and curves are shown, "
                                                   "then use File > Save current result... again.")
            return
        folder = dialogs.ask_open_folder(self, self.images.last_folder(), "Save current result into folder")
        if not folder:
            return
        try:
            written = save_result.save_result(record, folder)
        except save_result.SaveError as exc:
            self.show_error("Cannot save result", str(exc))
            return
        self.statusBar().showMessage(f"Saved {len(written)} files for {record.image_path.name} "
                                     f"({record.method_title}) to {folder}", 10000)

    def copy_image(self) -> None:
        """Edit > Copy image: the overlay as saved (model-input size, screen colour map and opacity)."""
        record = self.shown_record()
        if record is None:
            self.statusBar().showMessage("Nothing to copy yet: open an image and wait for its map.", 6000)
            return
        QApplication.clipboard().setImage(to_qimage(np.asarray(save_result.overlay_picture(record))))
        self.statusBar().showMessage(f"Copied the {record.method_title} overlay of {record.image_path.name}.", 6000)

    def shown_record(self) -> save_result.ResultRecord | None:
        """What the window shows for the main method, as plain data (None before its map exists)."""
        shown, loaded = self.explain.shown_result(), self.models.loaded
        if shown is None or loaded is None:
            return None
        return save_result.record_for(shown[0], shown[1], loaded, self.explain.protocol, self.view.colormap,
                                      self.view.opacity)

    def ask_load_model(self) -> None:
        current = self.images.current  # previews the model's input on the image being looked at
        dialogs.run_dialog(ModelDialog(self.models, self, self.images.last_folder(),
                                       preview_image=str(current) if current else None))

    def ask_load_explainer(self) -> None:
        dialogs.run_dialog(ExplainerDialog(self.models, self, self.images.last_folder()))

    def start_refine(self) -> None:
        self.explain.refine()

    def open_tool(self, module: str) -> None:
        """A tool window (export, wizard), imported on first use."""
        try:
            mod = importlib.import_module(module)
            mod.open_dialog(self)
        except Exception as exc:  # noqa: BLE001 - a failing tool must not take the window down
            self.show_error("Cannot open", f"{module} could not be opened: {exc}", "")

    def show_about(self) -> None:
        dialogs.show_info(self, "About L2R Inspector",
                          "L2R Inspector: pixel attribution maps, deletion/insertion curves and a learned "
                          "'learn to rank' explainer (arXiv 2604.05819) for image classifiers.")

    def show_error(self, title: str, message: str, details: str = "") -> None:
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 10000)
        dialogs.show_error(self, title, message, details)

    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    # -- view-model updates ----------------------------------------------------------------
    def _open(self, paths: list[str], explicit: bool) -> bool:
        items = [Path(p) for p in paths]
        single = explicit and len(items) == 1 and items[0].is_file()
        self._explicit_image = items[0] if single else None
        return self.images.open(paths)

    def _reset_per_image_views(self) -> None:
        """Another image, class or model: nothing of the previous one may stay on screen."""
        if self.map_message.hasFocus():
            self.heatmap.setFocus()
        self.map_area.setCurrentWidget(self.heatmap)
        self.map_message.clear()
        self.curves.show_preview(None, "")
        self.heatmap.clear_value()
        self.refine_controls.set_progress(0, self.refine_controls.steps.value(), float("nan"))
        self._update_result_actions()

    def _on_image_failed(self, path: Path, message: str) -> None:
        prefix = f"{path}: "
        reason = message[len(prefix):] if message.startswith(prefix) else message
        self.map_message.setText(f"Cannot read {path.name}: {reason}")
        focus = QApplication.focusWidget()
        had_focus = focus is not None and (focus is self.heatmap or self.heatmap.isAncestorOf(focus))
        self.map_area.setCurrentWidget(self.map_message)
        if had_focus:  # the keyboard stays in the map area, where Left/Right browse
            self.map_message.setFocus()
        if path in self.images.paths:
            self.thumbnails.mark_unreadable(self.images.paths.index(path), reason)
        self.statusBar().showMessage(f"Cannot read {path.name}", 10000)
        if self._explicit_image is not None and path == self._explicit_image:
            self.show_error("Cannot read image", message)  # the user asked for this one file

    def _update_result_actions(self) -> None:
        record = self.shown_record()
        self.actions.copy_image.setEnabled(record is not None)
        self.actions.save_result.setEnabled(record is not None and record.curves is not None)

    def _on_model(self, info: ModelInfo | None) -> None:
        if info is None:
            return
        expl = f" + explainer {Path(info.explainer).name}" if info.explainer else ""
        self.model_label.setText(f"model: {info.name}{expl}")
        self.device_label.setText(f"device: {info.device} ({self.models.device_choice})")

    def _on_device_choice(self, choice: str) -> None:
        for key, act in self.actions.devices.items():
            act.setChecked(key == choice)

    def _on_load_failed(self, title: str, message: str, details: str, origin: str) -> None:
        info = self.models.info()
        self.model_label.setText(f"model: {info.name}" if info else "model: none")
        if not origin:  # a dialog that asked shows its own refusal
            self.show_error(title, message, details)

    def _on_current_image(self, index: int, path: Path | None) -> None:
        self.thumbnails.set_current(index)
        self.setWindowTitle(f"L2R Inspector - {path.name} ({index + 1}/{len(self.images.paths)})"
                            if path else "L2R Inspector")
        self.explain.set_image(path)

    def _on_image_state(self, state: ImageState) -> None:
        self.heatmap.set_image(state)
        self.predictions.set_image(state)
        self.original_view.set_image(state)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(message[:28] or "%p%")

    def _on_refine_available(self, ok: bool, reason: str) -> None:
        self.refine_controls.set_available(ok, reason)
        self.actions.refine.setEnabled(ok)
        self.actions.refine.setToolTip(reason)

    def _on_refine_clicked(self, steps: int) -> None:
        self.explain.refine_steps = steps
        self.explain.refine()

    def _on_curve_hover(self, key: str, kind: str, step: int) -> None:
        self.curves.show_preview(self.explain.preview(key, kind, step), self.curves.caption(key, kind, step))

    def _refresh_recent(self) -> None:
        menu = self.actions.recent_menu
        menu.clear()
        folders = self.images.recent_folders()
        for folder in folders:
            menu.addAction(folder, lambda f=folder: self.images.open_recent(f))
        menu.setEnabled(bool(folders))

    # -- Qt events -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self._open(paths, explicit=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.set_geometry(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.runner.shutdown()
        super().closeEvent(event)
