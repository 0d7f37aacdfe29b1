"""The method options panel, the one availability check and the Original view, driven as a user would:
the panel is built from the registry's declared options, a changed option shows the map the library
computes with it, and the window says when the model sees only part of an image."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QSpinBox
from torch import nn

from l2r_core.attribution.layers import candidate_layers
from l2r_core.images import load_image
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.models.timm_adapter import TimmAdapter
from l2r_core.pipeline import attribution_map, prepare, top_predictions
from l2r_core.render import normalize_map
from l2r_desktop.jobs import LoadedModel
from l2r_desktop.widgets.input_preview import OUTLINE
from l2r_desktop.widgets.original_view import BOX_H, BOX_W, seen_fraction

from .conftest import CLASSES, SIZE, make_tiny_model, wait_explained, write_image

pytestmark = pytest.mark.gui


def library_map(model, path: Path, method: str, **options) -> np.ndarray:
    x = prepare(model, load_image(path)).x
    target = top_predictions(model, x, 1)[0].index
    return attribution_map(model, x, method, target, **options)


def choose_primary(win, name: str) -> None:
    """What a click on the method selector does."""
    combo = win.method_controls.primary
    i = combo.findData(name)
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def shown(win, key: str) -> np.ndarray:
    return win.heatmap.overlay_item(key).image


def test_ig_options_are_a_spin_box_and_a_combo_and_steps_re_explain(window_factory, qtbot, image_folder,
                                                                      tiny_model):
    path = image_folder / "img_0.png"
    win = window_factory(paths=[str(path)])
    wait_explained(qtbot, win)
    panel = win.method_options
    assert not panel.isHidden() and set(panel.fields) == {"layer"}  # Grad-CAM first
    choose_primary(win, "ig")
    wait_explained(qtbot, win)
    steps, baseline = panel.fields["steps"], panel.fields["baseline"]
    assert isinstance(steps, QSpinBox) and (steps.minimum(), steps.maximum(), steps.value()) == (1, 512, 32)
    assert isinstance(baseline, QComboBox)
    assert [baseline.itemText(i) for i in range(baseline.count())] == ["mean", "black", "blur"]
    assert "Integrated Gradients" in panel.title()
    default_map = win.explain.results["ig"].raw.copy()
    steps.setValue(5)  # the user sets 5 steps
    assert "ig" not in win.explain.results  # the 32-step map is not shown for 5 steps
    wait_explained(qtbot, win)
    want = library_map(tiny_model, path, "ig", steps=5)
    np.testing.assert_allclose(win.explain.results["ig"].raw, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(shown(win, "ig"), normalize_map(want), atol=1e-5)
    assert win.explain.results["ig"].options == {"steps": 5} and not np.array_equal(want, default_map)
    baseline.setCurrentIndex(baseline.findText("black"))
    wait_explained(qtbot, win)
    want = library_map(tiny_model, path, "ig", steps=5, baseline="black")
    np.testing.assert_allclose(win.explain.results["ig"].raw, want, rtol=1e-4, atol=1e-6)
    assert not np.allclose(want, default_map, rtol=0.05, atol=0)
    # back to the defaults: the map of those options again (kept, not the last one shown)
    steps.setValue(32)
    baseline.setCurrentIndex(baseline.findText("mean"))
    wait_explained(qtbot, win)
    np.testing.assert_array_equal(win.explain.results["ig"].raw, default_map)
    assert win.explain.results["ig"].options == {}


def test_gradcam_layer_list_is_the_model_s_and_a_layer_changes_the_map(window_factory, qtbot, image_folder,
                                                                        tiny_model, dialog_log, tmp_path):
    path = image_folder / "img_1.png"
    win = window_factory(paths=[str(path)])
    wait_explained(qtbot, win)
    panel = win.method_options
    qtbot.waitUntil(lambda: len(panel.layer_names()) > 1, timeout=10000)
    assert panel.layer_names() == ["automatic"] + candidate_layers(tiny_model)
    combo = panel.fields["layer"]
    assert combo.currentText() == "automatic"
    automatic = win.explain.results["gradcam"].raw.copy()
    combo.setCurrentIndex(combo.findText("layer2"))  # the user picks an earlier layer
    wait_explained(qtbot, win)
    want = library_map(tiny_model, path, "gradcam", layer="layer2")
    np.testing.assert_allclose(win.explain.results["gradcam"].raw, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(shown(win, "gradcam"), normalize_map(want), atol=1e-5)
    assert not np.allclose(want, automatic)
    # File > Save current result records the options the map was made with
    out = tmp_path / "saved"
    dialog_log.open_folder = str(out)
    win.actions.save_result.trigger()
    meta = json.loads((out / "img_1_gradcam_result.json").read_text())
    assert meta["method_options"] == {"layer": "layer2"}
    # and the export dialog starts with them
    from l2r_desktop.export_dialog import defaults_from_window

    assert defaults_from_window(win).method_options == {"gradcam": {"layer": "layer2"}}


def test_saved_result_records_ig_options_with_defaults(window_factory, qtbot, image_folder, dialog_log, tmp_path):
    win = window_factory(paths=[str(image_folder / "img_2.png")])
    wait_explained(qtbot, win)
    choose_primary(win, "ig")
    wait_explained(qtbot, win)
    win.method_options.fields["steps"].setValue(7)
    wait_explained(qtbot, win)
    out = tmp_path / "saved"
    dialog_log.open_folder = str(out)
    win.actions.save_result.trigger()
    meta = json.loads((out / "img_2_ig_result.json").read_text())
    assert meta["method_options"] == {"steps": 7, "baseline": "mean", "rule": "gausslegendre", "output": "logit"}


def test_torchscript_model_disables_gradcam_up_front_with_the_reason(window_factory, qtbot, tmp_path, dialog_log,
                                                                      image_folder):
    from l2r_core.models.loading import load_model

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 5)).eval()
    path = tmp_path / "scripted.pt"
    torch.jit.script(net).save(str(path))
    model = load_model(str(path), preprocessing=Preprocessing(input_size=(SIZE, SIZE), resize="squash"))
    win = window_factory(model=LoadedModel(model, str(path)))
    # before anything ran: greyed out, with the reason as its tooltip
    gradcam = next(c for c in win.explain.choices if c.name == "gradcam")
    assert not gradcam.enabled and "TorchScript" in gradcam.reason
    combo = win.method_controls.primary
    row = combo.findData("gradcam")
    assert not combo.model().item(row).isEnabled()
    assert "TorchScript" in combo.itemData(row, Qt.ItemDataRole.ToolTipRole)
    assert win.explain.primary == "ig" and set(win.method_options.fields) == {"steps", "baseline"}
    qtbot.waitUntil(lambda: "TorchScript" in win.statusBar().currentMessage(), timeout=5000)
    assert win.statusBar().currentMessage().startswith("Grad-CAM is not possible with this model")
    win.open_paths([str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    assert win.heatmap.panel_keys() == ["ig"] and dialog_log.errors == []


def crop_model() -> TimmAdapter:
    pre = Preprocessing(input_size=(SIZE, SIZE), resize="crop", crop_pct=0.875, interpolation="bilinear")
    return TimmAdapter(make_tiny_model(seed=2).module, "resnet10t", pre, CLASSES, "tiny-crop", "test")


def outline_column_is_drawn(win, x_original: float) -> bool:
    image = win.original_view.picture.pixmap().toImage()
    w, h = win.original_view.placement.image_size
    scale = min(BOX_W / w, BOX_H / h)
    x, y = round(x_original * scale) + 1, image.height() // 2
    return any(QColor(image.pixel(c, y)).rgb() == OUTLINE.rgb() for c in range(max(0, x - 1), x + 2))


def test_original_view_outlines_what_the_model_sees_and_warns_for_a_wide_image(window_factory, qtbot, tmp_path):
    model = crop_model()
    folder = tmp_path / "shapes"
    folder.mkdir()
    wide = write_image(folder / "a_wide.png", 1, size=(200, 40))
    write_image(folder / "b_square.png", 2, size=(40, 40))
    win = window_factory(model=LoadedModel(model, "test:crop"), paths=[str(folder)])
    wait_explained(qtbot, win)
    view, state = win.original_view, win.explain.image
    placement = model.preprocessing.placement((200, 40))
    assert state.path == wide and state.original_size == (200, 40) and state.placement == placement
    assert view.outline == placement.source
    assert outline_column_is_drawn(win, placement.source[0])
    fraction = seen_fraction(placement)
    assert fraction < 0.5
    assert not view.notice.isHidden()
    assert f"The model sees only the outlined {fraction:.0%} of this image" in view.notice.text()
    win.images.next()  # a square image: the outline, no notice
    wait_explained(qtbot, win)
    square = model.preprocessing.placement((40, 40))
    assert win.explain.image.original_size == (40, 40) and view.outline == square.source
    assert view.notice.isHidden() and view.notice.text() == ""
    assert "the model sees the outlined" in view.caption.text()
