"""Deletion and insertion curves of every shown map (updated in place with setData), AUCs in the
legends, the protocol preset, and a small preview of the perturbed image under the pointer."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from l2r_core.metrics.protocols import PROTOCOLS

from ..viewmodels.state import MethodResult

# Colour-blind-safe (Okabe-Ito) colours, one per shown method, in display order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
KINDS = ("deletion", "insertion")
HOVER_PIXELS = 12  # how close (in screen pixels) the pointer must be to a curve point


def legend_text(result: MethodResult, kind: str) -> str:
    auc = getattr(result.curves, f"{kind}_auc") if result.curves is not None else float("nan")
    return f"{result.title}: AUC {auc:.3f}"


def protocol_summary(name: str) -> str:
    """One line saying what the preset does (the full description is the tooltip)."""
    p = PROTOCOLS[name]
    points = f"{p.pixels_per_step} px per step" if p.pixels_per_step else f"{p.n_points} points"
    ref = {"mean": "mean colour", "zero": "zeros", "black": "black", "blur": "blurred image"}
    score = "logit" if p.score == "logit" else "softmax probability"
    return (f"<b>{name}</b>: {points}; deleted pixels become {ref.get(p.deletion_reference, p.deletion_reference)}, "
            f"insertion starts from {ref.get(p.insertion_start, p.insertion_start)}; {score} of the explained "
            f"class; AUC by {p.auc}. Hover for details.")


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class CurvesView(QWidget):
    protocolChosen = Signal(str)
    pointHovered = Signal(str, str, int)  # result key, "deletion"/"insertion", curve step

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.protocol_box = QComboBox()
        for name, proto in PROTOCOLS.items():
            self.protocol_box.addItem(name, name)
            self.protocol_box.setItemData(self.protocol_box.count() - 1, proto.description,
                                          Qt.ItemDataRole.ToolTipRole)
        self.protocol_box.currentIndexChanged.connect(
            lambda i: self.protocolChosen.emit(str(self.protocol_box.itemData(i))))
        self.protocol_label = QLabel()
        self.protocol_label.setWordWrap(True)
        self.protocol_label.setStyleSheet("color: #555;")
        self.plots: dict[str, pg.PlotWidget] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        self.items: dict[str, dict[str, pg.PlotDataItem]] = {k: {} for k in KINDS}
        self._results: dict[str, MethodResult] = {}
        self._shown: dict[tuple[str, str], object] = {}  # the Curves each item shows
        self.preview = QLabel("Hover a curve\npoint to see the\nimage the model\nsaw at that step.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setFixedSize(128, 128)
        self.preview.setStyleSheet("border: 1px solid #bbb; color: #666;")
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setFixedWidth(128)
        self._build_layout()
        self.set_protocol(next(iter(PROTOCOLS)))

    def _build_layout(self) -> None:
        head = QHBoxLayout()
        head.addWidget(QLabel("Protocol:"))
        head.addWidget(self.protocol_box)
        head.addWidget(self.protocol_label, 1)
        row = QHBoxLayout()
        titles = {"deletion": "Deletion (lower AUC is better)", "insertion": "Insertion (higher AUC is better)"}
        tips = {"deletion": "The most important pixels (by the map) are removed first; a good map makes the "
                            "score fall fast.",
                "insertion": "The most important pixels are revealed first, starting from the protocol's "
                             "reference image; a good map makes the score rise fast."}
        for kind in KINDS:
            plot = pg.PlotWidget(background="w")
            plot.setToolTip(tips[kind])
            plot.setTitle(titles[kind], color="#222", size="9pt")
            verb = "removed" if kind == "deletion" else "revealed"
            plot.setLabel("bottom", f"fraction of pixels {verb}, most important first")
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setXRange(0, 1, padding=0.02)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            # where the curves usually are not: deletion falls from the top left, insertion rises to the top right
            self.legends[kind] = plot.addLegend(offset=(-8, 8) if kind == "deletion" else (8, 8),
                                                labelTextColor="#222", brush=(255, 255, 255, 200))
            plot.scene().sigMouseMoved.connect(lambda pos, k=kind: self._on_mouse(k, pos))
            self.plots[kind] = plot
            row.addWidget(plot, 1)
        side = QVBoxLayout()
        side.addWidget(self.preview)
        side.addWidget(self.preview_caption)
        side.addStretch(1)
        row.addLayout(side)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(head)
        box.addLayout(row, 1)

    # -- inputs ----------------------------------------------------------------------------
    def set_protocol(self, name: str) -> None:
        i = self.protocol_box.findData(name)
        if i >= 0 and i != self.protocol_box.currentIndex():
            self.protocol_box.blockSignals(True)
            self.protocol_box.setCurrentIndex(i)
            self.protocol_box.blockSignals(False)
        proto = PROTOCOLS.get(name)
        if proto is not None:
            self.protocol_label.setText(protocol_summary(name))
            self.protocol_label.setToolTip(proto.description)
            for plot in self.plots.values():
                plot.setLabel("left", "logit" if proto.score == "logit" else "probability")
                if proto.score == "logit":
                    plot.enableAutoRange(axis="y")
                else:
                    plot.setYRange(0.0, 1.0, padding=0.03)

    def set_results(self, results: list[MethodResult]) -> None:
        """Curves of every result with curves: existing items updated with setData, others added."""
        shown = [r for r in results if r.curves is not None]
        keys = [r.key for r in shown]
        for kind in KINDS:
            for key in [k for k in self.items[kind] if k not in keys]:
                item = self.items[kind].pop(key)
                self._shown.pop((kind, key), None)
                self.legends[kind].removeItem(item)
                self.plots[kind].removeItem(item)
        for i, r in enumerate(shown):
            assert r.curves is not None
            for kind in KINDS:
                y = getattr(r.curves, kind)
                item = self.items[kind].get(r.key)
                if item is None:
                    color = PALETTE[i % len(PALETTE)]
                    style = Qt.PenStyle.DashLine if r.key == "refined" else Qt.PenStyle.SolidLine
                    item = self.plots[kind].plot(r.curves.fractions, y, name=legend_text(r, kind),
                                                 pen=pg.mkPen(color, width=2, style=style), symbol="o",
                                                 symbolSize=5, symbolBrush=color, symbolPen=None)
                    self.items[kind][r.key] = item
                elif self._shown.get((kind, r.key)) is not r.curves:  # only changed curves are redrawn
                    item.setData(r.curves.fractions, y)
                    label = self.legends[kind].getLabel(item)
                    if label is not None:
                        label.setText(legend_text(r, kind))
                self._shown[(kind, r.key)] = r.curves
        self._results = {r.key: r for r in shown}

    def show_preview(self, rgb: np.ndarray | None, caption: str) -> None:
        if rgb is None:
            return
        pix = QPixmap.fromImage(to_qimage(rgb)).scaled(
            self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(pix)
        self.preview_caption.setText(caption)

    # -- queries ---------------------------------------------------------------------------
    def legend_labels(self, kind: str) -> list[str]:
        return [label.text for _, label in self.legends[kind].items]

    # -- hover -----------------------------------------------------------------------------
    def nearest_point(self, kind: str, pos: QPointF) -> tuple[str, int] | None:
        """(result key, step) of the curve point nearest to scene position ``pos``, if close."""
        vb = self.plots[kind].getPlotItem().vb
        best: tuple[float, str, int] | None = None
        for key, item in self.items[kind].items():
            xs, ys = item.getData()
            if xs is None or len(xs) == 0:
                continue
            pts = [vb.mapViewToScene(QPointF(float(x), float(y))) for x, y in zip(xs, ys)]
            d = np.array([(p.x() - pos.x()) ** 2 + (p.y() - pos.y()) ** 2 for p in pts])
            i = int(d.argmin())
            if best is None or d[i] < best[0]:
                best = (float(d[i]), key, i)
        if best is None or best[0] > HOVER_PIXELS ** 2:
            return None
        return best[1], best[2]

    def _on_mouse(self, kind: str, pos: QPointF) -> None:
        hit = self.nearest_point(kind, pos)
        if hit is not None:
            self.pointHovered.emit(hit[0], kind, hit[1])

    def caption(self, key: str, kind: str, step: int) -> str:
        r = self._results.get(key)
        if r is None or r.curves is None:
            return ""
        frac = float(r.curves.fractions[step])
        score = float(getattr(r.curves, kind)[step])
        verb = "removed" if kind == "deletion" else "revealed"
        return f"{r.title}, {kind}: {frac:.0%} of pixels {verb}, score {score:.3f}"
