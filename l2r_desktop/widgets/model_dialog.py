"""Dialogs that load a model or an explainer. They check the fields, then load through the
view-model (in the worker) and close only when the load worked; a refusal is shown inside the dialog."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from l2r_core.errors import ConfigError
from l2r_core.models.card import ModelCard, card_beside, read_card, write_card
from l2r_core.models.preprocessing import Preprocessing

from ..card_fields import TEXT_KEYS, card_from_fields, card_values
from ..viewmodels.model import ModelViewModel
from .input_preview import InputPreview
from .loading_dialog import LoadingDialog, path_row
from .preprocessing_fields import PreprocessingFields

SOURCES = (
    ("demo-cnn", "Demo CNN: EfficientNet-Lite0, ImageNet (bundled)"),
    ("demo-vit", "Demo ViT: small transformer, Fashion-MNIST (bundled)"),
    ("timm", "timm architecture + local weights file"),
    ("torchscript", "TorchScript file (.pt, .pth, .ts)"),
    ("onnx", "ONNX file (.onnx): no gradient methods, no refinement"),
)
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
CARD_FILTER = "Model card (*.json);;All files (*)"
CARD_SOURCE = "Load model dialog"  # names the fields in a ConfigError message
PREVIEW_DELAY_MS = 150


def _setting_text(value: Any) -> str:
    """A stored text setting as text (an INI file may hand back a list for text with commas)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _demo_vit_card() -> ModelCard:
    """demo-vit's settings come from its bundled hub config.json (read without loading it)."""
    from l2r_core.models.card import read_hub_config
    from l2r_core.models.demo import demo_vit_dir

    config = demo_vit_dir() / "config.json"
    return read_hub_config(config) if config.is_file() else ModelCard()


class ModelDialog(LoadingDialog):
    """Source and files of the model, its preprocessing (model-card settings) and a preview of the
    input the model sees. Reopens with the last model that loaded."""

    def __init__(self, vm: ModelViewModel, parent: QWidget | None = None, start_dir: str = "",
                 preview_image: str | None = None) -> None:
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
        form.addRow("Weights", path_row(self.weights, wb))
        form.addRow("File", path_row(self.file, fb))
        self.fields = PreprocessingFields(self._browse)
        self.fields.card_browse.clicked.connect(self._browse_card)
        self.fields.card.editingFinished.connect(lambda: self.load_card(self.fields.card.text().strip()))
        self.fields.save_card.clicked.connect(self.save_card)
        self.card_status = QLabel("")
        self.card_status.setWordWrap(True)
        self.preview_path = QLineEdit(preview_image or "")
        self.preview_path.setPlaceholderText("an image to preview the model's input with")
        pb = QPushButton("Browse...")
        pb.clicked.connect(self._browse_preview)
        self.preview = InputPreview()
        preview_box = QGroupBox("What the model sees")
        pv = QVBoxLayout(preview_box)
        pv.addWidget(path_row(self.preview_path, pb))
        pv.addWidget(self.preview)
        pv.addStretch(1)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.fields)
        left.addWidget(self.card_status)
        left.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addWidget(preview_box)
        box = QVBoxLayout(self)
        box.addLayout(columns)
        box.addWidget(self.error_label)
        box.addWidget(self.buttons)
        # Field edits redraw the preview after a short pause, not on every keystroke (big photos).
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.update_preview)
        self._restore()
        self.source.currentIndexChanged.connect(self._update_fields)
        for edit in (self.arch, self.weights, self.file, self.preview_path):
            edit.textChanged.connect(self._schedule_preview)
        self.fields.changed.connect(self._schedule_preview)
        self._update_fields()
        self.update_preview()
        self.resize(1000, 560)

    def kind(self) -> str:
        return str(self.source.currentData())

    def set_source(self, key: str) -> None:
        self.source.setCurrentIndex(self.source.findData(key))

    def _file_filter(self) -> str:
        return "ONNX (*.onnx)" if self.kind() == "onnx" else "TorchScript (*.pt *.pth *.ts *.torchscript)"

    def _browse(self, edit: QLineEdit, filt: str) -> str:
        """Ask for a file and put it in ``edit``; '' when cancelled."""
        from .. import dialogs

        path = dialogs.ask_open_file(self, "Choose a file", self.start_dir, filt)
        if path:
            edit.setText(path)
        return path

    def _browse_card(self) -> None:
        if path := self._browse(self.fields.card, CARD_FILTER):  # cancelled: the fields stay
            self.load_card(path)

    def _browse_preview(self) -> None:
        from .. import dialogs

        self._browse(self.preview_path, dialogs.IMAGE_FILTER)

    def _update_fields(self) -> None:
        k = self.kind()
        self.arch.setEnabled(k == "timm")
        self.weights.setEnabled(k == "timm")
        self.file.setEnabled(k in ("torchscript", "onnx"))
        self.error_label.setText("")
        self._schedule_preview()

    def spec(self) -> tuple[str, str | None]:
        k = self.kind()
        if k in ("demo-cnn", "demo-vit"):
            return k, None
        if k == "timm":
            return f"timm:{self.arch.text().strip()}", self.weights.text().strip()
        return self.file.text().strip(), None

    # -- model card --------------------------------------------------------------------------
    def model_file(self) -> str:
        """The weights or model file a card may sit beside ('' for the demos)."""
        edit = {"timm": self.weights, "torchscript": self.file, "onnx": self.file}.get(self.kind())
        text = edit.text().strip() if edit is not None else ""
        return text if text and Path(text).is_file() else ""

    def field_card(self) -> ModelCard:
        """The fields that are set, validated (ConfigError names the field and the fix)."""
        return card_from_fields(self.fields.values(), CARD_SOURCE)

    def merged_card(self) -> ModelCard:
        """What the load will use, highest first: the fields, the card file, the card beside the
        weights or model file (load_model's order)."""
        card = self.field_card()
        if self.fields.card.text().strip():
            card = card.over(read_card(self.fields.card.text().strip()))
        if self.model_file():
            card = card.over(card_beside(self.model_file()))
        elif self.kind() == "demo-vit":
            card = card.over(_demo_vit_card())
        return card

    def options(self) -> dict[str, Any]:
        """``load_model`` keywords: the fields that are set, and the card file."""
        options = card_values(self.fields.values())
        if self.fields.card.text().strip():
            options["card"] = self.fields.card.text().strip()
        return options

    def load_card(self, path: str) -> bool:
        """Fill the fields with the card's settings (those it states)."""
        if not path:
            return False
        try:
            card = read_card(path)
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            return False
        self.fields.fill(card)
        self.error_label.setText("")
        self.card_status.setText(f"Model card {Path(path).name} loaded into the fields.")
        return True

    def save_card(self) -> None:
        """Write the card of the fields (over the card file and the card beside the weights)."""
        from .. import dialogs

        try:
            card = replace(self.merged_card(), model=self.spec()[0] or None)
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            return
        proposal = (str(Path(self.model_file()).with_suffix(".json")) if self.model_file()
                    else str(Path(self.start_dir or ".") / "model-card.json"))
        path = dialogs.ask_save_file(self, "Save model card", proposal, CARD_FILTER)
        if not path:
            return
        if not path.lower().endswith(".json"):
            path += ".json"
        try:
            write_card(card, path)
        except OSError as exc:
            self.error_label.setText(f"{path}: cannot write the model card ({exc.strerror or exc}). "
                                     f"Choose a folder you can write to.")
            return
        self.error_label.setText("")
        self.card_status.setText(f"Saved the model card to {path}.")

    # -- preview -----------------------------------------------------------------------------
    def _schedule_preview(self) -> None:
        self._preview_timer.start()

    def base_preprocessing(self) -> tuple[Preprocessing, str]:
        """The preprocessing the fields apply to, and where it comes from (shown to the user)."""
        spec, weights = self.spec()
        loaded = self.vm.loaded
        if loaded is not None and loaded.spec == spec and (
                not weights or Path(str(loaded.model.source)) == Path(weights)):
            return loaded.model.preprocessing, "Preprocessing of the loaded model, with the fields applied."
        if spec == "demo-cnn":
            from l2r_core.models.demo import DEMO_CNN_PREPROCESSING

            return DEMO_CNN_PREPROCESSING, "demo-cnn's preprocessing, with the fields applied."
        return Preprocessing(), ("Assumed: the fields over the library defaults (224x224, crop 87.5%, ImageNet "
                                 "mean/std); the model's own defaults are known once it has loaded.")

    def update_preview(self) -> None:
        self._preview_timer.stop()
        path = self.preview_path.text().strip()
        if path != self.preview.image_path:
            problem = self.preview.set_image(path)
            if problem:
                self.preview.set_problem(problem)
                return
        base, origin = self.base_preprocessing()
        try:
            pre = self.merged_card().preprocessing(base)
        except ConfigError as exc:
            self.preview.set_problem(str(exc))
            return
        self.preview.set_preprocessing(pre, origin)

    # -- loading -----------------------------------------------------------------------------
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
        try:
            self.merged_card()  # every field, the card file and the card beside the weights
        except ConfigError as exc:
            return str(exc)
        return ""

    def start_load(self) -> None:
        spec, weights = self.spec()
        if spec in ("demo-cnn", "demo-vit"):
            self.vm.load_demo(origin=self.origin, options=self.options(), spec=spec)
        else:
            self.vm.load(spec, weights, origin=self.origin, options=self.options())

    def _on_succeeded(self, origin: str) -> None:
        if origin == self.origin:
            self._remember()
        super()._on_succeeded(origin)

    # -- the last model ----------------------------------------------------------------------
    def _remember(self) -> None:
        s = self.vm.settings
        s.set("model/source", self.kind())
        for key, edit in (("arch", self.arch), ("weights", self.weights), ("file", self.file),
                          ("card", self.fields.card)):
            s.set(f"model/{key}", edit.text().strip())
        for key, value in self.fields.values().items():
            s.set(f"model/{key}", value if value is not None else 0.0)

    def _restore(self) -> None:
        s = self.vm.settings
        key = str(s.get("model/source") or "demo-cnn")
        self.set_source(key if self.source.findData(key) >= 0 else "demo-cnn")
        for name, edit in (("arch", self.arch), ("weights", self.weights), ("file", self.file),
                           ("card", self.fields.card)):
            edit.setText(_setting_text(s.get(f"model/{name}")))
        self.fields.set_values({k: s.get(f"model/{k}") if k == "crop_pct" else _setting_text(s.get(f"model/{k}"))
                                for k in TEXT_KEYS})
