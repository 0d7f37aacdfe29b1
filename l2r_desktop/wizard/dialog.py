"""The fine-tuning wizard: model -> images -> settings -> training -> done.

Non-modal, so the main window stays usable while the explainer trains in its child process.
Closing the wizard (or the main window) stops a running training with a checkpoint first.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QWidget, QWizard

from ..settings import AppSettings
from .page_data import DataPage
from .page_done import DonePage
from .page_model import ModelPage
from .page_settings import SettingsPage
from .page_training import TrainingPage
from .training_vm import TrainingViewModel
from .viewmodel import WizardViewModel

PAGE_MODEL, PAGE_DATA, PAGE_SETTINGS, PAGE_TRAINING, PAGE_DONE = range(5)
CLOSE_WAIT_MS = 60000  # closing waits this long for the checkpoint, then kills the trainer


class FineTuneWizard(QWizard):
    def __init__(self, settings: AppSettings | None, models: Any = None, test_image: str = "",
                 parent: QWidget | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune an explainer")
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.vm = WizardViewModel(settings, test_image, self, models)
        self.training = TrainingViewModel(self, env)
        self.pages = {
            PAGE_MODEL: ModelPage(self.vm),
            PAGE_DATA: DataPage(self.vm),
            PAGE_SETTINGS: SettingsPage(self.vm, self.training),
            PAGE_TRAINING: TrainingPage(self.vm, self.training),
            PAGE_DONE: DonePage(self.vm, self.training, models),
        }
        for page_id, page in self.pages.items():
            self.setPage(page_id, page)
        self.resize(820, 640)
        self._closed = False
        if parent is not None:
            parent.installEventFilter(self)  # the main window closing stops the training first

    @property
    def closed(self) -> bool:
        return self._closed

    def done(self, result: int) -> None:
        """Finish, Cancel and closing all end here: stop the child processes and the checks."""
        if not self._closed:
            self._closed = True
            self.vm.save()
            self.training.shutdown(CLOSE_WAIT_MS)
            self.vm.shutdown()
            if self.parent() is not None:
                self.parent().removeEventFilter(self)
        super().done(result)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.parent() and event.type() == QEvent.Type.Close:
            self.close()
        return False
