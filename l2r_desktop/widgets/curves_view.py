"""Deletion and insertion curves of every shown map (updated in place with setData), AUCs in the
legends (a row below each plot, never over the curves), the protocol preset, and a small preview of
the perturbed image under the pointer. The probability axis follows the curves (a 4% class is not a
flat line at the bottom of a 0-1 axis) unless the user asks for 0-1."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QFontMetrics, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from l2r_core.metrics.protocols import PROTOCOLS

from ..viewmodels.state import MethodResult

# Colour-blind-safe (Okabe-Ito) colours, one per shown method, in display order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
KINDS = ("deletion", "insertion")
HOVER_PIXELS = 12  # how close (in screen pixels) the pointer must be to a curve point
Y_MARGIN = 0.05  # head room above the highest curve point when the axis follows the curves


PREVIEW_HINT = "Hover a curve\npoint to see the\nimage the model\nsaw at that step."

class IntegerAxis(pg.AxisItem):
    """An axis that counts (steps, epochs): ticks on whole numbers only, printed without decimals."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        levels = super().tickSpacing(minVal, maxVal, size)
        whole = [(sp, off) for sp, off in levels if sp >= 1.0 and float(sp).is_integer()]
        return whole or [(1.0, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [str(int(round(v * scale))) for v in values]


LegendEntry = tuple[str, str, bool]  # text, colour, dashed


def _sample(dashed: bool) -> str:
    return "\u2505\u25CF\u2505" if dashed else "\u2501\u25CF\u2501"


def legend_html(entries: list[LegendEntry], columns: int = 1) -> str:
    """Legend as a table of ``columns`` entries per row: a line sample in the curve's colour, then its text."""
    cells = []
    for text, colour, dashed in entries:
        label = text.replace("&", "&amp;").replace("<", "&lt;").replace(" ", "&nbsp;")
        cells.append(f"<td><span style='color:{colour}'>{_sample(dashed)}</span>&nbsp;{label}&nbsp;&nbsp;&nbsp;</td>")
    columns = max(1, columns)
    rows = ["<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns)]
    return f"<table cellspacing='0' cellpadding='0'>{''.join(rows)}</table>"


class WrapLabel(QLabel):
    """A word-wrapped label that claims the height its wrapped text needs: splitters and box layouts
    size children by their minimum size, which ignores word wrap, so the plots below got overlapped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._claim()

    def resizeEvent(self, ev: QResizeEvent) -> None:
        super().resizeEvent(ev)
        self._claim()

    def _claim(self) -> None:
        if self.width() > 0:
            needed = self.heightForWidth(self.width())
            if needed > 0 and needed != self.minimumHeight():
                self.setMinimumHeight(needed)


class Legend(QLabel):
    """The curves' legend, under the plot (over it, it hid points): entries flow in as many columns as
    the width allows, without wrapping inside an entry, so its height is always what it needs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        font = self.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.0))
        self.setFont(font)
        self.setStyleSheet("color: #222;")
        # the width comes from the plot above (Ignored); the height from the rows the entries need
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.entries: list[LegendEntry] = []
        self._shown: tuple[int, tuple[str, ...]] | None = None  # (columns, texts) on screen

    def set_entries(self, entries: list[LegendEntry]) -> None:
        if entries != self.entries:
            self.entries = list(entries)
            self._reflow()

    def resizeEvent(self, ev: QResizeEvent) -> None:
        super().resizeEvent(ev)
        self._reflow()

    def _reflow(self) -> None:
        fm = QFontMetrics(self.font())
        pad = fm.horizontalAdvance("    ")
        widths = [fm.horizontalAdvance(f"{_sample(d)} {t}") + pad for t, _, d in self.entries]
        widest = max(widths, default=1)
        columns = max(1, min(len(self.entries), int(self.width() // max(1, widest))))
        full = [t for t, _, _ in self.entries]
        texts = full
        if 0 < self.width() < widest:  # too narrow even for one column: shorten the names, keep the AUCs
            texts = [_elide(fm, t, self.width() - pad - fm.horizontalAdvance(f"{_sample(d)} "))
                     for t, _, d in self.entries]
        shown = (columns, tuple(texts))
        if shown != self._shown:
            self._shown = shown
            entries = [(t, c, d) for t, (_, c, d) in zip(texts, self.entries)]
            self.setText(legend_html(entries, columns) if entries else "")
            self.setToolTip("<br>".join(full) if texts != full else "")  # the names in full when shortened


def _elide(fm: QFontMetrics, text: str, width: int) -> str:
    """``text`` ("<method>: AUC 0.123") fitted to ``width`` pixels by shortening the method's name."""
    name, sep, value = text.rpartition(": ")
    if not sep:
        return fm.elidedText(text, Qt.TextElideMode.ElideRight, max(1, width))
    room = max(fm.horizontalAdvance("\u2026"), width - fm.horizontalAdvance(sep + value))
    return fm.elidedText(name, Qt.TextElideMode.ElideRight, room) + sep + value


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
        self.protocol_label = WrapLabel()
        self.protocol_label.setStyleSheet("color: #555;")
        self.unit_axis = QCheckBox("0-1 axis")
        self.unit_axis.setToolTip("Probability axis from 0 to 1. Unticked, the axis follows the curves, so the "
                                  "curves of a low-probability class are readable.")
        self.unit_axis.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.unit_axis.toggled.connect(lambda _: self._update_y_range())
        self._score = "probability"
        self.plots: dict[str, pg.PlotWidget] = {}
        self.legends: dict[str, Legend] = {}
        self.items: dict[str, dict[str, pg.PlotDataItem]] = {k: {} for k in KINDS}
        self._results: dict[str, MethodResult] = {}
        self._shown: dict[tuple[str, str], object] = {}  # the Curves each item shows
        self.preview = QLabel(PREVIEW_HINT)
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
        head.addWidget(self.unit_axis)
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
            plot.setMinimumHeight(120)  # the legend below must never squeeze the curves away
            for axis in ("left", "bottom"):  # "logit (x0.001)" reads as a different quantity
                plot.getAxis(axis).enableAutoSIPrefix(False)
            plot.scene().sigMouseMoved.connect(lambda pos, k=kind: self._on_mouse(k, pos))
            self.plots[kind] = plot
            # the legend is a row under the plot: inside the plot it hid curve points
            legend = Legend()
            self.legends[kind] = legend
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(plot, 1)
            column.addWidget(legend)
            row.addLayout(column, 1)
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
            self._score = "logit" if proto.score == "logit" else "probability"
            for plot in self.plots.values():
                plot.setLabel("left", self._score)
            self._update_y_range()

    def set_results(self, results: list[MethodResult]) -> None:
        """Curves of every result with curves: existing items updated with setData, others added."""
        shown = [r for r in results if r.curves is not None]
        keys = [r.key for r in shown]
        for kind in KINDS:
            for key in [k for k in self.items[kind] if k not in keys]:
                item = self.items[kind].pop(key)
                self._shown.pop((kind, key), None)
                self.plots[kind].removeItem(item)
        for i, r in enumerate(shown):
            assert r.curves is not None
            for kind in KINDS:
                y = getattr(r.curves, kind)
                item = self.items[kind].get(r.key)
                if item is None:
                    color = PALETTE[i % len(PALETTE)]
                    style = Qt.PenStyle.DashLine if r.key == "refined" else Qt.PenStyle.SolidLine
                    item = self.plots[kind].plot(r.curves.fractions, y,
                                                 pen=pg.mkPen(color, width=2, style=style), symbol="o",
                                                 symbolSize=5, symbolBrush=color, symbolPen=None)
                    self.items[kind][r.key] = item
                elif self._shown.get((kind, r.key)) is not r.curves:  # only changed curves are redrawn
                    item.setData(r.curves.fractions, y)
                self._shown[(kind, r.key)] = r.curves
        self._results = {r.key: r for r in shown}
        for kind in KINDS:
            self.legends[kind].set_entries(
                [(legend_text(r, kind), self._colour(kind, r.key), r.key == "refined") for r in shown])
        self._update_y_range()

    def _colour(self, kind: str, key: str) -> str:
        return self.items[kind][key].opts["pen"].color().name()

    def _update_y_range(self) -> None:
        """Logits: automatic. Probabilities: 0-1 when asked, otherwise 0 to just above the highest point
        (the unperturbed score, as a rule), so a class at a few percent still shows its shape."""
        logit = self._score == "logit"
        self.unit_axis.setEnabled(not logit)
        top = 0.0
        for kind in KINDS:
            for item in self.items[kind].values():
                ys = item.getData()[1]
                if ys is not None and len(ys) and np.isfinite(ys).any():
                    top = max(top, float(np.nanmax(np.where(np.isfinite(ys), ys, np.nan))))
        for plot in self.plots.values():
            if logit:
                plot.enableAutoRange(axis="y")
            elif self.unit_axis.isChecked() or top <= 0.0:
                plot.setYRange(0.0, 1.0, padding=0.03)
            else:
                plot.setYRange(0.0, max(top * (1.0 + Y_MARGIN), 1e-4), padding=0.03)

    def show_preview(self, rgb: np.ndarray | None, caption: str) -> None:
        """The perturbed image at a hovered curve point; None clears it back to the hint."""
        if rgb is None:
            self.preview.clear()
            self.preview.setText(PREVIEW_HINT)
            self.preview_caption.setText("")
            return
        pix = QPixmap.fromImage(to_qimage(rgb)).scaled(
            self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(pix)
        self.preview_caption.setText(caption)

    # -- queries ---------------------------------------------------------------------------
    def legend_labels(self, kind: str) -> list[str]:
        return [text for text, _, _ in self.legends[kind].entries]

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
