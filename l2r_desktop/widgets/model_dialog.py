"""Dialogs that load a model or an explainer. They check the fields, then load through the
view-model (in the worker) and close only when the load worked; a refusal is shown inside the dialog."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from ..viewmodels.model import ModelViewModel

SOURCES = (
    ("demo-cnn", "Demo CNN: EfficientNet-Lite0, ImageNet (bundled)"),
    ("demo-vit", "Demo ViT: small transformer, Fashion-MNIST (bundled)"),
    ("timm", "timm architecture + local weights file"),
    ("torchscript", "TorchScript file (.pt, .pth, .ts)"),
    ("onnx", "ONNX file (.onnx): no gradient methods, no refinement"),
)
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def _path_row(edit: QLineEdit, browse: QPushButton) -> QWidget:
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return w


class _LoadingDialog(QDialog):
    """Shared behaviour: OK validates, then waits for the view-model's answer for *this* request."""

    def __init__(self, vm: ModelViewModel, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.vm = vm
        self.origin = f"{type(self).__name__}-{id(self)}"
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Load")
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        vm.loadFailed.connect(self._on_failed)
        vm.loadSucceeded.connect(self._on_succeeded)
        self.waiting = False

    def validate(self) -> str:
        """'' when the fields are fine, else what is wrong and how to fix it."""
        raise NotImplementedError

    def start_load(self) -> None:
        raise NotImplementedError

    def try_accept(self) -> None:
        problem = self.validate()
        if problem:
            self.error_label.setText(problem)
            return
        self.error_label.setText("Loading... (the window stays usable)")
        self.waiting = True
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.start_load()

    def _on_failed(self, title: str, message: str, _details: str, origin: str) -> None:
        if origin == self.origin:
            self.waiting = False
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
            self.error_label.setText(f"{title}: {message}")

    def _on_succeeded(self, origin: str) -> None:
        if origin == self.origin:
            self.waiting = False
            self.accept()

    def done(self, result: int) -> None:
        for sig, slot in ((self.vm.loadFailed, self._on_failed), (self.vm.loadSucceeded, self._on_succeeded)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        super().done(result)


class ModelDialog(_LoadingDialog):
    def __init__(self, vm: ModelViewModel, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(vm, "Load model", parent)
        self.start_dir = start_dir
        self.source = QComboBox()
        for key, text in SOURCES:
            self.source.addItem(text, key)
        self.arch = QLineEdit()
        self.arch.setPlaceholderText("timm architecture, e.g. resnet50 or vit_small_patch16_224")
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("weights file (.safetensors or .pth); nothing is downloaded")
        self.file = QLineEdit()
        self.file.setPlaceholderText("model file")
        wb, fb = QPushButton("Browse..."), QPushButton("Browse...")
        wb.clicked.connect(lambda: self._browse(self.weights, "Weights (*.safetensors *.pth *.pt *.bin *.ckpt)"))
        fb.clicked.connect(lambda: self._browse(self.file, self._file_filter()))
        form = QFormLayout()
        form.addRow("Source", self.source)
        form.addRow("Architecture", self.arch)
        form.addRow("Weights", _path_row(self.weights, wb))
        form.addRow("File", _path_row(self.file, fb))
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.error_label)
        box.addWidget(self.buttons)
        self.source.currentIndexChanged.connect(self._update_fields)
        self._update_fields()
        self.resize(560, 220)

    def kind(self) -> str:
        return str(self.source.currentData())

    def set_source(self, key: str) -> None:
        self.source.setCurrentIndex(self.source.findData(key))

    def _file_filter(self) -> str:
        return "ONNX (*.onnx)" if self.kind() == "onnx" else "TorchScript (*.pt *.pth *.ts *.torchscript)"

    def _browse(self, edit: QLineEdit, filt: str) -> None:
        from .. import dialogs

        path = dialogs.ask_open_file(self, "Choose a file", self.start_dir, filt)
        if path:
            edit.setText(path)

    def _update_fields(self) -> None:
        k = self.kind()
        self.arch.setEnabled(k == "timm")
        self.weights.setEnabled(k == "timm")
        self.file.setEnabled(k in ("torchscript", "onnx"))
        self.error_label.setText("")

    def spec(self) -> tuple[str, str | None]:
        k = self.kind()
        if k in ("demo-cnn", "demo-vit"):
            return k, None
        if k == "timm":
            return f"timm:{self.arch.text().strip()}", self.weights.text().strip()
        return self.file.text().strip(), None

    def validate(self) -> str:
        k = self.kind()
        if k == "timm":
            arch, weights = self.arch.text().strip(), self.weights.text().strip()
            if not arch:
                return "Type the timm architecture the weights were trained with (e.g. resnet50)."
            import timm

            if arch not in timm.list_models():
                return f"'{arch}' is not a timm architecture. Check the spelling (timm.list_models())."
            if not weights or not Path(weights).is_file():
                return "Choose the local weights file: nothing is downloaded."
            if Path(weights).suffix.lower() not in WEIGHT_SUFFIXES:
                return f"{Path(weights).name}: weights must be one of {', '.join(WEIGHT_SUFFIXES)}."
        elif k in ("torchscript", "onnx"):
            path = Path(self.file.text().strip())
            if not self.file.text().strip() or not path.is_file():
                return f"Choose the {k.upper() if k == 'onnx' else 'TorchScript'} model file."
            if (k == "onnx") != (path.suffix.lower() == ".onnx"):
                return (f"{path.name} does not look like a{'n ONNX' if k == 'onnx' else ' TorchScript'} file. "
                        f"Pick the matching source above.")
        return ""

    def start_load(self) -> None:
        spec, weights = self.spec()
        if spec == "demo-cnn":
            self.vm.load_demo(origin=self.origin)
        else:
            self.vm.load(spec, weights, origin=self.origin)


class ExplainerDialog(_LoadingDialog):
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
        form.addRow("Explainer", _path_row(self.path, browse))
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
