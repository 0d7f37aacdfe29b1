"""How maps and curves are laid out on screen, driven as a user would: the maps fill the heatmap panel
for any number of methods and any window size, Fit undoes a zoom, the display modes of signed maps,
and readable curves (axis that follows a small class, legends off the data, no SI prefixes)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from l2r_desktop.viewmodels.state import REFINED, MethodResult
from l2r_core.render import DIVERGING, diverging_anchors, diverging_lut, signed_normalize
from l2r_desktop.viewmodels.view_options import ViewOptionsViewModel
from l2r_desktop.widgets.curves_view import IntegerAxis
from l2r_desktop.widgets.heatmap_view import grid_shape

from .conftest import wait_explained

pytestmark = pytest.mark.gui
MIN_SHARE = 0.4  # a map's on-screen size, as a share of the heatmap panel's shorter side


# -- measuring what the user sees ---------------------------------------------------------------
def map_on_screen(heatmap, index: int = 0) -> QRectF:
    """The part of panel ``index``'s image that is visible, in panel (scene = widget) pixels."""
    panel = heatmap._panels[index]
    view = panel.view
    h, w = panel.image.image.shape[:2]
    seen = view.viewRect().intersected(QRectF(0, 0, w, h))  # image pixels inside the view
    geo = view.geometry()
    vr = view.viewRect()
    sx, sy = geo.width() / vr.width(), geo.height() / vr.height()
    return QRectF(geo.x() + (seen.x() - vr.x()) * sx, geo.y() + (seen.y() - vr.y()) * sy,
                  seen.width() * sx, seen.height() * sy)


def panel_rect(heatmap) -> QRectF:
    g = heatmap._graphics
    return QRectF(0, 0, g.viewport().width(), g.viewport().height())


def assert_maps_fill(heatmap, n: int) -> None:
    area = panel_rect(heatmap)
    short = min(area.width(), area.height())
    rects = [map_on_screen(heatmap, i) for i in range(n)]
    for i, r in enumerate(rects):
        assert min(r.width(), r.height()) >= MIN_SHARE * short, (
            f"map {i} of {n} is {r.width():.0f}x{r.height():.0f} px in a {area.width():.0f}x{area.height():.0f} panel")
        assert area.adjusted(-1, -1, 1, 1).contains(r)
        assert abs(r.width() / r.height() - 1.0) < 0.02  # the 32x32 images stay square
        for other in rects[i + 1:]:
            assert not r.intersected(other).isValid() or r.intersected(other).isEmpty()
    bar = heatmap.colorbar().geometry()
    assert area.adjusted(-1, -1, 1, 1).contains(bar), f"colour bar {bar} leaves the panel {area}"
    assert all(bar.left() >= heatmap._panels[i].view.geometry().right() - 1 for i in range(n))


def wait_maps_fill(qtbot, heatmap, n: int) -> None:
    """Layout settles over a few event-loop turns after a resize: retry the checks until then."""
    qtbot.waitUntil(lambda: assert_maps_fill(heatmap, n), timeout=3000)


def tick(win, qtbot, names: list[str]) -> None:
    win.explain.method_options.set("rise", "n_masks", 200)  # the layout is under test, not RISE's detail
    for name in names:
        item = win.method_controls.compare_item(name)
        assert item is not None
        item.setCheckState(Qt.CheckState.Checked)  # the user ticks the method in "Compare with"
    # a panel appears with its map (seconds on a busy machine)
    qtbot.waitUntil(lambda: len(win.heatmap.panel_keys()) == 1 + len(names), timeout=60000)
    wait_explained(qtbot, win, timeout=60000)


def wheel(widget, view, steps: int = 2) -> None:
    """Turn the mouse wheel over the middle of ``view`` (up = zoom in)."""
    vp = widget.viewport()
    local = widget.mapFromScene(view.sceneBoundingRect().center())
    ev = QWheelEvent(QPointF(local), QPointF(vp.mapToGlobal(local)), QPoint(0, 0), QPoint(0, 120 * steps),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def fitted(heatmap, index: int = 0) -> bool:
    h, w = heatmap._panels[index].image.image.shape[:2]
    vr = heatmap._panels[index].view.viewRect()
    return vr.contains(QRectF(0, 0, w, h).adjusted(0.01, 0.01, -0.01, -0.01)) and (
        abs(vr.width() - w) < 0.01 or abs(vr.height() - h) < 0.01)


# -- layout --------------------------------------------------------------------------------------
def test_grid_shape_follows_the_panel_aspect() -> None:
    assert grid_shape(1, 1000, 400) == (1, 1)
    assert grid_shape(2, 1000, 400) == (1, 2)
    assert grid_shape(2, 400, 1000) == (2, 1)
    assert grid_shape(4, 800, 800) == (2, 2)
    assert grid_shape(3, 1000, 400) == (1, 3)
    assert grid_shape(5, 900, 600) == (2, 3)
    assert grid_shape(6, 1200, 700) == (2, 3)


def test_maps_fill_the_panel_for_one_to_five_methods(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    wait_maps_fill(qtbot, win.heatmap, 1)
    tick(win, qtbot, ["ig", "rise"])
    assert win.heatmap.panel_keys() == ["gradcam", "ig", "rise"]
    wait_maps_fill(qtbot, win.heatmap, 3)
    # the reported case: refinement next to two comparisons, four panels
    win.refine_controls.steps.setValue(1)
    qtbot.mouseClick(win.refine_controls.refine, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: REFINED in win.heatmap.panel_keys() and not win.explain.refining, timeout=60000)
    wait_maps_fill(qtbot, win.heatmap, 4)
    # five maps (the tiny CNN has only four): the results the view-model would hand over
    base = win.explain.ordered_results()
    five = [MethodResult(f"m{i}", f"Method {i}", base[i % len(base)].raw, base[i % len(base)].shown, 0.0)
            for i in range(5)]
    win.heatmap.set_results(five)
    qtbot.waitUntil(lambda: len(win.heatmap.panel_keys()) == 5)
    wait_maps_fill(qtbot, win.heatmap, 5)
    for size in ((900, 700), (1600, 1000)):  # a small and a large window
        win.resize(*size)
        qtbot.waitUntil(lambda: win.width() == size[0])
        wait_maps_fill(qtbot, win.heatmap, 5)


def test_resizing_grows_the_maps_and_fit_undoes_a_zoom(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_1.png")])
    wait_explained(qtbot, win)
    tick(win, qtbot, ["ig"])
    win.resize(900, 650)
    qtbot.waitUntil(lambda: win.width() == 900)
    small = map_on_screen(win.heatmap).width()
    win.resize(1600, 1100)
    qtbot.waitUntil(lambda: map_on_screen(win.heatmap).width() > 1.2 * small, timeout=3000)
    wait_maps_fill(qtbot, win.heatmap, 2)
    full = map_on_screen(win.heatmap).width()
    # the wheel over the first map zooms both (linked) maps
    wheel(win.heatmap._graphics, win.heatmap._panels[0].view)
    views = [p.view for p in win.heatmap._panels]
    qtbot.waitUntil(lambda: views[0].viewRect().width() < 0.9 * 32)
    assert win.heatmap.is_zoomed() and not win.heatmap.fit_button.isHidden()
    zoomed = views[0].targetRect()
    assert views[1].targetRect() == zoomed
    # resizing keeps the user's zoom...
    win.resize(1500, 1000)
    qtbot.waitUntil(lambda: win.width() == 1500)
    assert views[0].targetRect() == zoomed and win.heatmap.is_zoomed()
    # ...until Fit
    with qtbot.waitSignal(win.heatmap.fitted, timeout=2000):
        qtbot.mouseClick(win.heatmap.fit_button, Qt.MouseButton.LeftButton)
    assert not win.heatmap.is_zoomed() and fitted(win.heatmap, 0) and fitted(win.heatmap, 1)
    wait_maps_fill(qtbot, win.heatmap, 2)
    assert map_on_screen(win.heatmap).width() >= 0.9 * full * 1500 / 1600 - 2
    # the F key does the same while the picture has the focus
    wheel(win.heatmap._graphics, views[1], steps=3)
    qtbot.waitUntil(lambda: win.heatmap.is_zoomed() and views[0].viewRect().width() < 0.9 * 32)
    qtbot.mouseClick(win.heatmap, Qt.MouseButton.LeftButton)
    qtbot.keyClick(win.heatmap, Qt.Key.Key_F)
    assert not win.heatmap.is_zoomed() and fitted(win.heatmap, 0) and fitted(win.heatmap, 1)


# -- signed maps ---------------------------------------------------------------------------------
def choose_mode(win, mode: str) -> None:
    box = win.display_controls.mode
    box.setCurrentIndex(box.findData(mode))  # the user picks it in Display > Values


def test_signed_positive_and_negative_display_modes(window_factory, qtbot, image_folder, settings):
    win = window_factory(paths=[str(image_folder / "img_1.png")])
    wait_explained(qtbot, win)
    tick(win, qtbot, ["ig"])
    raw = win.explain.results["ig"].raw
    assert (raw < 0).any() and (raw > 0).any()  # Integrated Gradients is signed
    overlay = win.heatmap.overlay_item("ig")
    choose_mode(win, "signed")
    assert win.heatmap.display_mode() == "signed" and settings.get("display_mode") == "signed"
    np.testing.assert_allclose(overlay.image, signed_normalize(raw), atol=1e-6)
    assert tuple(overlay.levels) == (0.0, 1.0)
    bar = win.heatmap.colorbar()
    assert bar.colorMap().name == DIVERGING and not win.display_controls.colormap.isEnabled()
    # zero is the neutral middle colour on screen, not mid-scale of a sequential map
    _, colours = diverging_anchors()
    middle = colours[len(colours) // 2]
    assert signed_normalize(np.array([[0.0, 1.0], [-1.0, 0.0]]))[0, 0] == 0.5
    np.testing.assert_array_equal(bar.colorMap().map(0.5, mode="byte")[:3], middle)
    assert np.abs(diverging_lut()[127:129].astype(int) - middle).max() <= 2
    zero = raw.copy()
    zero[:4, :4] = 0.0  # a zero-valued corner, drawn through the panel's own lookup table
    win.heatmap.set_results([win.explain.results["gradcam"],
                             MethodResult("ig", "Integrated Gradients", zero, win.explain.results["ig"].shown, 0.0)])
    overlay = win.heatmap.overlay_item("ig")
    overlay.render()
    colour = overlay.qimage.pixelColor(1, 1)
    assert np.abs(np.array([colour.red(), colour.green(), colour.blue()]) - middle).max() <= 3
    win.heatmap.set_results(win.explain.ordered_results())
    # positive: the negative parts are zero; negative: the positive parts are
    choose_mode(win, "positive")
    assert (win.heatmap.overlay_item("ig").image[raw < 0] == 0).all()
    assert win.heatmap.overlay_item("ig").image[raw > 0].max() == pytest.approx(1.0)
    choose_mode(win, "negative")
    assert (win.heatmap.overlay_item("ig").image[raw > 0] == 0).all()
    choose_mode(win, "absolute")
    assert win.display_controls.colormap.isEnabled() and bar.colorMap().name == win.view.colormap
    choose_mode(win, "signed")
    # remembered: the next window starts in the signed mode
    win.close()
    again = window_factory(paths=[str(image_folder / "img_1.png")])
    assert again.view.display_mode == "signed" and again.heatmap.display_mode() == "signed"
    assert again.display_controls.mode.currentData() == "signed"


def test_display_mode_setting_defaults_when_missing_or_unknown(settings):
    assert ViewOptionsViewModel(settings).display_mode == "raw"
    settings.set("display_mode", "sideways")
    assert ViewOptionsViewModel(settings).display_mode == "raw"
    settings.set("display_mode", "negative")
    assert ViewOptionsViewModel(settings).display_mode == "negative"


# -- curves --------------------------------------------------------------------------------------
def curve_top(win) -> float:
    return max(float(np.max(item.getData()[1])) for kind in win.curves.items for item in win.curves.items[kind].values())


def test_probability_axis_follows_a_small_class_and_the_unit_toggle(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_2.png")])
    wait_explained(qtbot, win)
    table = win.predictions.table
    last = table.rowCount() - 1
    target = win.explain.image.predictions[last].index
    rect = table.visualItemRect(table.item(last, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # the least likely class
    qtbot.waitUntil(lambda: win.explain.image.target == target, timeout=10000)
    wait_explained(qtbot, win)
    top = curve_top(win)
    for plot in win.curves.plots.values():
        lo, hi = plot.getPlotItem().vb.viewRange()[1]
        assert lo <= 0.0 and top <= hi <= 1.2 * top + 1e-6, (lo, hi, top)
    qtbot.mouseClick(win.curves.unit_axis, Qt.MouseButton.LeftButton)  # "0-1 axis"
    for plot in win.curves.plots.values():
        lo, hi = plot.getPlotItem().vb.viewRange()[1]
        assert -0.05 <= lo <= 0.0 and 1.0 <= hi <= 1.05
    qtbot.mouseClick(win.curves.unit_axis, Qt.MouseButton.LeftButton)
    assert win.curves.plots["deletion"].getPlotItem().vb.viewRange()[1][1] <= 1.2 * top + 1e-6


def test_legends_stay_off_the_curves_and_axes_have_no_si_prefix(window_factory, qtbot, image_folder):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    tick(win, qtbot, ["ig"])
    for kind, plot in win.curves.plots.items():
        legend = win.curves.legends[kind]
        assert legend.isVisible() and len(win.curves.legend_labels(kind)) == 2
        for label in win.curves.legend_labels(kind):
            assert label.replace(" ", "&nbsp;") in legend.text()
        vb = plot.getPlotItem().vb
        data = plot.mapFromScene(vb.sceneBoundingRect()).boundingRect()
        data_in_win = QRectF(plot.mapTo(win, data.topLeft()), data.size().toSizeF())
        legend_in_win = QRectF(legend.mapTo(win, QPoint(0, 0)), legend.size().toSizeF())
        assert not data_in_win.intersects(legend_in_win), (kind, data_in_win, legend_in_win)
    box = win.curves.protocol_box
    box.setCurrentIndex(box.findData("xplique"))  # logit scores
    wait_explained(qtbot, win)
    for plot in win.curves.plots.values():
        axis = plot.getAxis("left")
        assert axis.autoSIPrefix is False and "(x" not in axis.labelString()
        assert plot.getAxis("bottom").autoSIPrefix is False
    assert not win.curves.unit_axis.isEnabled()  # 0-1 means nothing for logits


def test_integer_axis_ticks_only_whole_steps() -> None:
    axis = IntegerAxis("bottom")
    for lo, hi in ((0, 3), (0, 7), (0, 250)):
        for spacing, _offset in axis.tickSpacing(lo, hi, 400):
            assert spacing >= 1 and float(spacing).is_integer()
    assert axis.tickStrings([0.0, 1.0, 2.0], 1.0, 1.0) == ["0", "1", "2"]
