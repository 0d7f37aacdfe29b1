"""Menus and toolbar of the main window, and the entries of the tool windows (export, wizard)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QStyle, QToolBar

# Tool windows, imported when first opened (their imports would slow the start-up); each module
# provides ``open_dialog(main_window)``.
TOOLS = {
    "export": ("l2r_desktop.export_dialog", "Export folder...",
               "Batch-export heatmaps, overlays and a metrics table for a whole folder."),
    "wizard": ("l2r_desktop.wizard", "Fine-tune explainer...",
               "Train an explainer for the loaded model on your own image folder."),
}


@dataclass
class Actions:
    open_images: QAction
    open_folder: QAction
    recent_menu: QMenu
    save_result: QAction
    export: QAction
    quit: QAction
    copy_image: QAction
    load_model: QAction
    load_demo: QAction
    load_explainer: QAction
    devices: dict[str, QAction]
    show_overlay: QAction
    previous: QAction
    next: QAction
    refine: QAction
    wizard: QAction
    about: QAction


def _action(win: QMainWindow, text: str, slot: Callable[..., Any], shortcuts: tuple[Any, ...] = (),
            tip: str = "", icon: QStyle.StandardPixmap | None = None) -> QAction:
    act = QAction(text, win)
    if shortcuts:
        act.setShortcuts([QKeySequence(s) for s in shortcuts])
    if tip:
        act.setToolTip(tip)
        act.setStatusTip(tip)
    if icon is not None:
        act.setIcon(win.style().standardIcon(icon))
    act.triggered.connect(lambda *_: slot())
    return act


def tool_action(win: QMainWindow, key: str, open_module: Callable[[str], None]) -> QAction:
    module, text, tip = TOOLS[key]
    return _action(win, text, lambda: open_module(module), tip=tip)


def build_menus(win: Any) -> Actions:
    """``win`` is the MainWindow; its slots are the actions' targets."""
    sp = QStyle.StandardPixmap
    a = Actions(
        open_images=_action(win, "Open images...", win.ask_open_images, (QKeySequence.StandardKey.Open,),
                            "Open one or several images", sp.SP_DialogOpenButton),
        open_folder=_action(win, "Open folder...", win.ask_open_folder, ("Ctrl+Shift+O",),
                            "Open every image in a folder", sp.SP_DirOpenIcon),
        recent_menu=QMenu("Recent folders", win),
        save_result=_action(win, "Save current result...", win.save_current_result, (QKeySequence.StandardKey.Save,),
                            "Save the shown map (.npy, PNGs), its curves (CSV, PNG) and a JSON summary into a folder",
                            sp.SP_DialogSaveButton),
        export=tool_action(win, "export", win.open_tool),
        quit=_action(win, "Quit", win.close, (QKeySequence.StandardKey.Quit,)),
        copy_image=_action(win, "Copy image", win.copy_image, (QKeySequence.StandardKey.Copy,),
                           "Copy the shown overlay (map over the picture) to the clipboard"),
        load_model=_action(win, "Load model...", win.ask_load_model, ("Ctrl+M",),
                           "Load a demo, timm, TorchScript or ONNX model", sp.SP_ComputerIcon),
        load_demo=_action(win, "Load demo model", win.models.load_demo, (), "EfficientNet-Lite0 (ImageNet)"),
        load_explainer=_action(win, "Load explainer...", win.ask_load_explainer, ("Ctrl+E",),
                               "Load a trained L2R explainer for the current model"),
        devices={},
        show_overlay=_action(win, "Show heatmap", lambda: None, ("H",)),
        previous=_action(win, "Previous image", win.images.previous, ("Left", "PgUp"),
                         "Previous image (Left, Page Up)", sp.SP_ArrowBack),
        next=_action(win, "Next image", win.images.next, ("Right", "PgDown"),
                     "Next image (Right, Page Down)", sp.SP_ArrowForward),
        refine=_action(win, "Refine map", win.start_refine, ("Ctrl+R",), "Test-time refinement", sp.SP_MediaPlay),
        wizard=tool_action(win, "wizard", win.open_tool),
        about=_action(win, "About", win.show_about),
    )
    a.show_overlay.setCheckable(True)
    a.show_overlay.triggered.disconnect()
    a.show_overlay.toggled.connect(win.view.set_overlay_visible)
    bar = win.menuBar()
    file = bar.addMenu("&File")
    file.setToolTipsVisible(True)
    for item in (a.open_images, a.open_folder):
        file.addAction(item)
    file.addMenu(a.recent_menu)
    file.addSeparator()
    file.addAction(a.save_result)
    file.addAction(a.export)
    file.addSeparator()
    file.addAction(a.quit)
    edit = bar.addMenu("&Edit")
    edit.setToolTipsVisible(True)
    edit.addAction(a.copy_image)
    for item in (a.save_result, a.copy_image):
        item.setEnabled(False)  # until a map is shown (the window enables them)
    model = bar.addMenu("&Model")
    model.setToolTipsVisible(True)
    for item in (a.load_model, a.load_demo, a.load_explainer):
        model.addAction(item)
    device = bar.addMenu("&Device")
    device.setToolTipsVisible(True)
    group = QActionGroup(win)
    for key, text in (("auto", "Automatic (CUDA if available)"), ("cpu", "CPU"), ("cuda", "CUDA GPU")):
        act = QAction(text, win, checkable=True)
        act.triggered.connect(lambda _=False, k=key: win.models.set_device(k))
        group.addAction(act)
        device.addAction(act)
        a.devices[key] = act
    if not win.models.cuda_available():
        a.devices["cuda"].setEnabled(False)
        a.devices["cuda"].setToolTip("No usable NVIDIA GPU (or a CPU-only PyTorch) on this computer.")
    view = bar.addMenu("&View")
    for item in (a.show_overlay, a.previous, a.next):
        view.addAction(item)
    tools = bar.addMenu("&Tools")
    tools.setToolTipsVisible(True)
    tools.addAction(a.refine)
    tools.addAction(a.wizard)
    bar.addMenu("&Help").addAction(a.about)
    tb = QToolBar("Main", win)
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for item in (a.open_images, a.open_folder, a.previous, a.next, a.load_model, a.refine):
        tb.addAction(item)
    win.addToolBar(tb)
    return a
