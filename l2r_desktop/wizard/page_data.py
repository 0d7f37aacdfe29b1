"""Page 2: the training images: a folder (class subfolders optional), how many were found, a strip
of thumbnails, and the validation split."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QVBoxLayout

from .checks import DataScan, describe
from .common import PathField, ReasonPage
from .viewmodel import WizardViewModel

THUMB = 64
SCAN_DELAY_MS = 300  # typing a path scans once the user pauses


def thumbnail(path: Path, size: int = THUMB) -> QPixmap:
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid():
        reader.setScaledSize(full.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class DataPage(ReasonPage):
    def __init__(self, vm: WizardViewModel) -> None:
        super().__init__(vm, "Images", "A folder of your images (searched recursively). Subfolders named after "
                                       "the model's classes give labels; any other layout works too.")
        self.folder = PathField("folder", "Image folder", self._on_folder)
        self.val_percent = QDoubleSpinBox()
        self.val_percent.setRange(0.0, 50.0)
        self.val_percent.setDecimals(1)
        self.val_percent.setSuffix(" %")
        self.val_percent.setToolTip("Share of the images held out to measure deletion/insertion AUCs.")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.strip = QHBoxLayout()
        self.thumbs: list[QLabel] = []
        form = QFormLayout()
        form.addRow("Image folder", self.folder)
        form.addRow("Validation split", self.val_percent)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.summary)
        box.addLayout(self.strip)
        box.addStretch(1)
        box.addWidget(self.reason_label)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SCAN_DELAY_MS)
        self._timer.timeout.connect(vm.scan_data)
        self.val_percent.valueChanged.connect(lambda v: vm.update(val_percent=float(v)))
        vm.dataScanned.connect(self._on_scanned)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        o = self.vm.opts
        self.val_percent.setValue(o.val_percent)
        self.folder.set_text(o.data)
        if self.vm.scan is None or Path(self.vm.scan.folder) != Path(o.data.strip() or "."):
            self._timer.start(0)
        self.refresh()

    def reason(self) -> str:
        return self.vm.data_reason()

    def refresh(self) -> None:
        scan = self.vm.scan
        if scan is not None and not self.vm.busy["data"] and scan.count:
            self.summary.setText(describe(scan, self.vm.opts.val_percent))
        super().refresh()

    def validatePage(self) -> bool:  # noqa: N802 - Qt override
        """Propose an output folder next to the images when none was chosen yet."""
        o = self.vm.opts
        if not o.out.strip():
            data = Path(o.data.strip())
            self.vm.update(out=str(data.with_name(data.name + "-l2r-explainer")))
        return True

    def _on_folder(self, text: str) -> None:
        self.vm.update(data=text)
        self.summary.setText("")
        self._timer.start()

    def _on_scanned(self, scan: DataScan | None) -> None:
        while self.strip.count():  # the old thumbnails and the stretch after them
            item = self.strip.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.thumbs = []
        if scan is None or not scan.count:
            self.summary.setText("")
            return
        for path in scan.samples:
            label = QLabel()
            label.setPixmap(thumbnail(path))
            label.setToolTip(str(path))
            label.setFixedSize(THUMB + 4, THUMB + 4)
            self.strip.addWidget(label)
            self.thumbs.append(label)
        self.strip.addStretch(1)
        self.refresh()
