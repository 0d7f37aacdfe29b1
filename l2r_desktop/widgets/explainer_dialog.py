"""Model > Load explainer...: an explainer folder or exported .onnx file for the loaded model."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..viewmodels.model import ModelViewModel
from .loading_dialog import LoadingDialog, path_row


class ExplainerDialog(LoadingDialog):
    def __init__(self, vm: ModelViewModel, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(vm, "Load explainer", parent)
        self.start_dir = start_dir
        self.path = QLineEdit()
        self.path.setPlaceholderText("explainer folder (explainer.json + .safetensors) or an exported .onnx explainer")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        model = vm.info()
        about = QLabel(f"An explainer is trained for one model. Current model: "
                       f"<b>{model.name if model else 'none'}</b>.")
        about.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Explainer", path_row(self.path, browse))
        box = QVBoxLayout(self)
        box.addWidget(about)
        box.addLayout(form)
        box.addWidget(self.error_label)
        box.addWidget(self.buttons)
        self.resize(560, 160)

    def _browse(self) -> None:
        from .. import dialogs

        folder = dialogs.ask_open_folder(self, self.start_dir)
        if folder:
            self.path.setText(folder)

    def validate(self) -> str:
        text = self.path.text().strip()
        if self.vm.loaded is None:
            return "Load a model first: an explainer only works with the model it was trained for."
        p = Path(text)
        if not text or not p.exists():
            return "Choose the explainer's folder (it holds explainer.json and explainer.safetensors)."
        if p.is_dir() and not (p / "explainer.json").is_file():
            return f"{p}: no explainer.json in this folder. Choose the folder the training wrote."
        return ""

    def start_load(self) -> None:
        self.vm.load_explainer(self.path.text().strip(), origin=self.origin)
