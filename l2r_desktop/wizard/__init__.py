"""Tools > Fine-tune explainer...: a wizard that trains an L2R explainer for the user's model on the
user's own image folder, running ``l2r train`` as a child process and following its metrics log.

Modules: ``options`` (plain choices, reasons, the command line), ``folders`` (an earlier run, an
output folder worth keeping, an explainer to start from), ``estimate`` (time estimates), ``checks``
(model load and folder scan, plain functions), ``viewmodel`` and ``training_vm`` (state, no
widgets), ``process`` (QProcess + log follower), one ``page_*`` module per page, ``dialog`` (the
QWizard).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .dialog import FineTuneWizard
from .options import WizardOptions

__all__ = ["FineTuneWizard", "WizardOptions", "open_dialog", "prefill_from_window"]


def _sample_image() -> str:
    try:
        from l2r_resources import resource_path

        from l2r_core.images import list_images

        images = list_images(resource_path("samples"))
        return str(images[0]) if images else ""
    except Exception:  # noqa: BLE001 - the test prediction is optional
        return ""


def prefill_from_window(opts: WizardOptions, win: Any) -> None:
    """First use (nothing remembered yet): start from the main window's model and folder."""
    loaded = getattr(getattr(win, "models", None), "loaded", None)
    if loaded is not None and not (opts.arch or opts.script) and opts.model_kind == "timm":
        spec = str(loaded.spec)
        if spec.startswith("timm:"):
            opts.arch, opts.weights = spec[len("timm:"):], str(getattr(loaded.model, "source", "") or "")
        elif spec in ("demo-cnn", "demo-vit"):
            opts.model_kind = spec
        elif Path(spec).suffix.lower() in (".pt", ".pth", ".ts", ".torchscript"):
            opts.model_kind, opts.script = "torchscript", spec
    images = getattr(win, "images", None)
    if images is not None and not opts.data:
        opts.data = images.last_folder()


def open_dialog(main_window: Any) -> FineTuneWizard:
    """Entry point of the main window's Tools > Fine-tune explainer... action (one per window)."""
    wizard = main_window.findChild(FineTuneWizard)
    if wizard is None or wizard.closed:  # a closed one waits for its deferred deletion
        current = getattr(getattr(main_window, "images", None), "current", None)
        wizard = FineTuneWizard(main_window.settings, main_window.models, str(current or _sample_image()),
                                main_window)
        prefill_from_window(wizard.vm.opts, main_window)
        wizard.restart()  # the pages show the pre-filled options
    wizard.show()
    wizard.raise_()
    wizard.activateWindow()
    return wizard
