"""The model card's fields as a form group: input size, resize, crop, mean, std, interpolation,
class names. Shared text-to-card rules live in l2r_desktop/card_fields.py."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit, QPushButton

from l2r_core.models.card import ModelCard
from l2r_core.models.preprocessing import INTERPOLATIONS, RESIZE_MODES

from ..card_fields import fields_of
from .loading_dialog import path_row


class PreprocessingFields(QGroupBox):
    """The model-card settings as fields; empty (or "model default") leaves the model's own."""

    changed = Signal()

    def __init__(self, browse: Callable[[QLineEdit, str], Any]) -> None:
        super().__init__("Preprocessing (empty: the model's default)")
        self.card = QLineEdit()
        self.card.setPlaceholderText("optional model card (.json); its settings fill the fields")
        self.card_browse = QPushButton("Browse...")
        self.save_card = QPushButton("Save model card...")
        self.input_size = QLineEdit()
        self.input_size.setPlaceholderText("e.g. 224 or 32x48 (height x width)")
        self.resize_mode = QComboBox()
        self.resize_mode.addItem("model default", "")
        for mode, text in zip(RESIZE_MODES, ("crop: short side to input / crop %, centre crop",
                                             "squash: stretch the whole image", "pad: letterbox on black")):
            self.resize_mode.addItem(text, mode)
        self.crop_pct = QDoubleSpinBox()
        self.crop_pct.setRange(0.0, 100.0)
        self.crop_pct.setDecimals(2)  # timm crops such as 0.9375
        self.crop_pct.setSuffix(" %")
        self.crop_pct.setSpecialValueText("model default")  # 0 = not set
        self.crop_pct.setToolTip("Part of the resized image kept by the centre crop (resize mode crop).")
        self.mean = QLineEdit()
        self.mean.setPlaceholderText("1 or 3 values, e.g. 0.485, 0.456, 0.406")
        self.std = QLineEdit()
        self.std.setPlaceholderText("1 or 3 values, e.g. 0.229, 0.224, 0.225")
        self.interpolation = QComboBox()
        self.interpolation.addItem("model default", "")
        for name in INTERPOLATIONS:
            self.interpolation.addItem(name, name)
        self.class_names = QLineEdit()
        self.class_names.setPlaceholderText("optional text file, one class name per line")
        names_browse = QPushButton("Browse...")
        names_browse.clicked.connect(lambda: browse(self.class_names, "Class names (*.txt);;All files (*)"))
        card_row = path_row(self.card, self.card_browse)
        card_row.layout().addWidget(self.save_card)
        form = QFormLayout(self)
        form.addRow("Model card", card_row)
        form.addRow("Input size", self.input_size)
        form.addRow("Resize", self.resize_mode)
        form.addRow("Crop", self.crop_pct)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        form.addRow("Interpolation", self.interpolation)
        form.addRow("Class names", path_row(self.class_names, names_browse))
        for edit in (self.input_size, self.mean, self.std, self.class_names, self.card):
            edit.textChanged.connect(self.changed)
        for combo in (self.resize_mode, self.interpolation):
            combo.currentIndexChanged.connect(self.changed)
        self.crop_pct.valueChanged.connect(self.changed)
        self.resize_mode.currentIndexChanged.connect(self._enable_crop)
        self._enable_crop()

    def _enable_crop(self) -> None:
        self.crop_pct.setEnabled(self.resize_mode.currentData() == "crop")

    def values(self) -> dict[str, Any]:
        """Field values by card key (text; crop_pct a fraction or None)."""
        crop = self.crop_pct.value() / 100.0 if self.crop_pct.isEnabled() and self.crop_pct.value() > 0 else None
        return {"input_size": self.input_size.text().strip(), "resize": str(self.resize_mode.currentData()),
                "crop_pct": crop, "mean": self.mean.text().strip(), "std": self.std.text().strip(),
                "interpolation": str(self.interpolation.currentData()),
                "class_names": self.class_names.text().strip()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Set the fields named in ``values`` (others stay)."""
        for key, edit in (("input_size", self.input_size), ("mean", self.mean), ("std", self.std),
                          ("class_names", self.class_names)):
            if key in values:
                edit.setText(str(values[key] or ""))
        for key, combo in (("resize", self.resize_mode), ("interpolation", self.interpolation)):
            if key in values:
                combo.setCurrentIndex(max(0, combo.findData(values[key] or "")))
        if "crop_pct" in values:
            try:
                crop = float(values["crop_pct"] or 0.0)
            except (TypeError, ValueError):
                crop = 0.0
            self.crop_pct.setValue(crop * 100.0)

    def fill(self, card: ModelCard) -> None:
        """The settings ``card`` states; fields it says nothing about stay as they are."""
        values = fields_of(card)
        self.set_values({k: v for k, v in values.items() if v not in ("", None)})


