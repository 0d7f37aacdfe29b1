"""Page 1: the model to explain: a timm architecture + weights, a TorchScript file, or a demo model.
"Load and check" loads it in the background and shows its classes and a test prediction."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from l2r_core.models.preprocessing import RESIZE_MODES

from .checks import ModelCheck
from .common import PathField, ReasonPage
from .options import model_input_reason
from .viewmodel import WizardViewModel

KIND_LABELS = {
    "timm": "timm architecture + weights file",
    "torchscript": "TorchScript file",
    "demo-cnn": "demo-cnn (bundled demo model)",
    "demo-vit": "demo-vit (bundled demo model)",
}
WEIGHTS_FILTER = "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)"
SCRIPT_FILTER = "TorchScript (*.pt *.pth *.ts *.torchscript);;All files (*)"
CARD_FILTER = "Model card (*.json);;All files (*)"


def _row(*widgets: QWidget) -> QWidget:
    """Two small fields on one form row (the page stays compact)."""
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        row.addWidget(widget, 1)
    return w


class ModelPage(ReasonPage):
    def __init__(self, vm: WizardViewModel) -> None:
        super().__init__(vm, "Model", "The classifier the explainer will explain. Nothing is downloaded: "
                                      "give local weights.")
        self.kind = QComboBox()
        for key, label in KIND_LABELS.items():
            self.kind.addItem(label, key)
        self.arch = QLineEdit()
        self.arch.setPlaceholderText("for example resnet50, vit_base_patch16_224")
        self.weights = PathField("file", "Weights file", lambda t: vm.update(weights=t), WEIGHTS_FILTER)
        self.script = PathField("file", "TorchScript file", lambda t: vm.update(script=t), SCRIPT_FILTER)
        self.class_names = PathField("file", "Class names file", lambda t: vm.update(class_names=t),
                                     "Class names (*.txt *.json);;All files (*)", "optional: one name per line")
        self.model_card = PathField("file", "Model card", lambda t: vm.update(model_card=t), CARD_FILTER,
                                    "optional: input size, normalisation, class names (see l2r model-card)")
        self.input_size = QLineEdit()
        self.input_size.setPlaceholderText("input size: model's, or e.g. 224, 32x48")
        self.resize_mode = QComboBox()
        self.resize_mode.addItem("resize: model's", "")
        for mode in RESIZE_MODES:
            self.resize_mode.addItem(mode, mode)
        self.mean = QLineEdit()
        self.mean.setPlaceholderText("mean: model's, or 1 or 3 values")
        self.std = QLineEdit()
        self.std.setPlaceholderText("std: model's, or 1 or 3 values")
        self.backbone = QLineEdit()
        self.backbone.setPlaceholderText("optional; needed for TorchScript models: a timm architecture")
        self.backbone_weights = PathField("file", "Backbone weights", lambda t: vm.update(backbone_weights=t),
                                          WEIGHTS_FILTER)
        self.check_button = QPushButton("Load and check")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.form = QFormLayout()
        self.form.addRow("Model", self.kind)
        self.form.addRow("Architecture", self.arch)
        self.form.addRow("Weights", self.weights)
        self.form.addRow("TorchScript file", self.script)
        self.form.addRow("Class names", self.class_names)
        self.form.addRow("Model card", self.model_card)
        self.form.addRow("Input", _row(self.input_size, self.resize_mode))
        self.form.addRow("Normalise", _row(self.mean, self.std))
        self.form.addRow("Backbone", self.backbone)
        self.form.addRow("Backbone weights", self.backbone_weights)
        box = QVBoxLayout(self)
        box.addLayout(self.form)
        box.addWidget(self.check_button)
        box.addWidget(self.result)
        box.addStretch(1)
        box.addWidget(self.reason_label)
        self.kind.currentIndexChanged.connect(lambda _i: self._on_kind())
        self.arch.textChanged.connect(lambda t: vm.update(arch=t))
        self.backbone.textChanged.connect(lambda t: vm.update(backbone=t))
        self.input_size.textChanged.connect(lambda t: vm.update(input_size=t))
        self.resize_mode.currentIndexChanged.connect(lambda _i: vm.update(resize=str(self.resize_mode.currentData())))
        self.mean.textChanged.connect(lambda t: vm.update(mean=t))
        self.std.textChanged.connect(lambda t: vm.update(std=t))
        self.check_button.clicked.connect(vm.check_model)
        for field in (self.weights, self.script, self.backbone_weights, self.model_card):
            field.button.clicked.connect(self._check_if_ready)  # a browsed file: check at once
        vm.modelChecked.connect(self._on_checked)
        vm.modelCheckFailed.connect(lambda msg: self.result.setText(""))

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        o = self.vm.opts
        self.kind.setCurrentIndex(max(0, self.kind.findData(o.model_kind)))
        self.arch.setText(o.arch)
        self.weights.set_text(o.weights)
        self.script.set_text(o.script)
        self.class_names.set_text(o.class_names)
        self.model_card.set_text(o.model_card)
        self.input_size.setText(o.input_size)
        self.resize_mode.setCurrentIndex(max(0, self.resize_mode.findData(o.resize)))
        self.mean.setText(o.mean)
        self.std.setText(o.std)
        self.backbone.setText(o.backbone)
        self.backbone_weights.set_text(o.backbone_weights)
        self._on_kind()
        check = self.vm.model_check
        if check is not None and check.key == o.model_key():
            self._on_checked(check)
        else:
            self._check_if_ready()
        self.refresh()

    def reason(self) -> str:
        return self.vm.model_reason()

    def refresh(self) -> None:
        self.check_button.setEnabled(not self.vm.busy["model"] and not model_input_reason(self.vm.opts))
        check = self.vm.model_check
        if check is None or check.key != self.vm.opts.model_key():
            self.result.setText("")
        super().refresh()

    def _on_kind(self) -> None:
        kind = str(self.kind.currentData())
        for widget, shown in ((self.arch, kind == "timm"), (self.weights, kind == "timm"),
                              (self.script, kind == "torchscript")):
            self.form.setRowVisible(widget, shown)
        if kind != self.vm.opts.model_kind:
            self.vm.update(model_kind=kind)
        if kind.startswith("demo-"):
            self._check_if_ready()

    def _check_if_ready(self) -> None:
        check = self.vm.model_check
        fresh = check is not None and check.key == self.vm.opts.model_key()
        if not model_input_reason(self.vm.opts) and not fresh and not self.vm.busy["model"]:
            self.vm.check_model()

    def _on_checked(self, check: ModelCheck) -> None:
        self.result.setText(check.summary())
