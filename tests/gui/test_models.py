"""Loading models and explainers through the dialogs: validation, refusals shown in the dialog,
gradient-free (ONNX-like) models, and the learned explainer's map on screen."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from l2r_core.models.adapter import ModelAdapter
from l2r_desktop.jobs import LoadedModel
from l2r_core.render import normalize_map
from l2r_desktop.widgets.explainer_dialog import ExplainerDialog
from l2r_desktop.widgets.model_dialog import ModelDialog

from .conftest import SIZE, make_tiny_model, wait_explained

pytestmark = pytest.mark.gui


def click_ok(dialog: QDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_model_dialog_validates_refuses_and_loads(window_factory, qtbot, dialog_log, tmp_path, tiny_model):
    win = window_factory()
    scripted = tmp_path / "tiny_scripted.pt"
    torch.jit.trace(tiny_model.module, torch.randn(1, 3, SIZE, SIZE)).save(str(scripted))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    seen: list[str] = []

    def answer(dialog: ModelDialog) -> int:
        dialog.set_source("timm")
        click_ok(dialog)
        seen.append(dialog.error_label.text())
        dialog.arch.setText("resnet10t")
        click_ok(dialog)
        seen.append(dialog.error_label.text())
        dialog.set_source("onnx")
        dialog.file.setText(str(scripted))
        click_ok(dialog)
        seen.append(dialog.error_label.text())
        dialog.file.setText(str(broken))
        click_ok(dialog)  # passes the checks, refused by the loader (in the worker)
        qtbot.waitUntil(lambda: not dialog.waiting, timeout=20000)
        seen.append(dialog.error_label.text())
        assert dialog.result() != QDialog.DialogCode.Accepted
        dialog.set_source("torchscript")
        dialog.file.setText(str(scripted))
        click_ok(dialog)
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=20000)
        return dialog.result()

    dialog_log.run = answer
    win.actions.load_model.trigger()
    assert seen[0].startswith("Type the timm architecture")
    assert seen[1].startswith("Choose the local weights file")
    assert "does not look like an ONNX file" in seen[2]
    assert seen[3].startswith("Cannot load model:") and "broken.onnx" in seen[3]
    assert dialog_log.errors == []  # the dialog showed the refusal itself
    qtbot.waitUntil(lambda: "tiny_scripted" in win.model_label.text(), timeout=10000)
    assert win.models.model.kind == "torchscript"


def test_a_method_the_model_refuses_is_disabled_with_the_reason(window_factory, qtbot, dialog_log, tmp_path,
                                                                 tiny_model, image_folder):
    from l2r_core.models.loading import load_model
    from l2r_core.models.preprocessing import Preprocessing

    scripted = tmp_path / "tiny_scripted.pt"
    torch.jit.trace(tiny_model.module, torch.randn(1, 3, SIZE, SIZE)).save(str(scripted))
    model = load_model(str(scripted), preprocessing=Preprocessing(input_size=(SIZE, SIZE), resize="squash"))
    win = window_factory(model=LoadedModel(model, str(scripted)), paths=[str(image_folder / "img_0.png")])
    qtbot.waitUntil(lambda: "instead" in win.statusBar().currentMessage(), timeout=20000)
    message = win.statusBar().currentMessage()  # the app's own fallback: a status line, not a dialog
    assert message.startswith("Grad-CAM is not possible with this model") and "TorchScript" in message
    assert "Showing Integrated Gradients instead." in message and dialog_log.errors == []
    wait_explained(qtbot, win)
    assert win.explain.primary == "ig" and win.heatmap.panel_keys() == ["ig"]
    gradcam = next(c for c in win.explain.choices if c.name == "gradcam")
    assert not gradcam.enabled and "TorchScript" in gradcam.reason
    combo = win.method_controls.primary
    assert not combo.model().item(combo.findData("gradcam")).isEnabled()
    win.images.open([str(image_folder)])  # no dialog for the next images either
    wait_explained(qtbot, win)
    assert dialog_log.errors == []


class NoGradAdapter(ModelAdapter):
    """Stands in for an ONNX model: inference only, no gradients."""

    kind = "onnx"
    supports_grad = False

    def __init__(self, inner: ModelAdapter) -> None:
        super().__init__("tiny.onnx", inner.preprocessing, inner.class_names, "nograd")
        self._inner = inner

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._inner.logits(x)


def test_gradient_free_model_disables_gradient_methods_and_refinement(window_factory, tiny_model):
    win = window_factory(model=LoadedModel(NoGradAdapter(tiny_model), "tiny.onnx"))
    choices = {c.name: c for c in win.explain.choices}
    assert not choices["gradcam"].enabled and "gradients" in choices["gradcam"].reason
    assert choices["rise"].enabled and win.explain.primary == "rise"
    refine = win.refine_controls.refine
    assert not refine.isEnabled() and "needs gradients" in refine.toolTip()
    assert "ONNX" in refine.toolTip() and not win.actions.refine.isEnabled()


def save_tiny_explainer(folder: Path, seed: int) -> Path:
    from l2r_core.explainer import ExplainerConfig, build_explainer, save_explainer

    model = make_tiny_model(seed)
    cfg = ExplainerConfig(stage_channels=16, fusion_channels=8, embed_dim=8, num_classes=model.num_classes,
                          input_size=(SIZE, SIZE))
    torch.manual_seed(1)
    save_explainer(build_explainer(model, cfg), folder)
    return folder


@pytest.fixture(scope="module")
def explainers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("explainers")
    return save_tiny_explainer(root / "matching", 0), save_tiny_explainer(root / "other", 1)


def test_explainer_dialog_refuses_a_mismatch_then_shows_the_learned_map(window_factory, qtbot, dialog_log,
                                                                        image_folder, explainers, tiny_model):
    from l2r_core.explainer import load_explainer

    matching, other = explainers
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    refusal: list[str] = []

    def answer(dialog: ExplainerDialog) -> int:
        dialog.path.setText(str(other))
        click_ok(dialog)
        qtbot.waitUntil(lambda: not dialog.waiting, timeout=20000)
        refusal.append(dialog.error_label.text())
        dialog.path.setText(str(matching))
        click_ok(dialog)
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=20000)
        return dialog.result()

    dialog_log.run = answer
    win.actions.load_explainer.trigger()
    assert refusal[0].startswith("Cannot load model:") and "fingerprint tiny-1" in refusal[0]
    qtbot.waitUntil(lambda: win.explain.primary == "l2r", timeout=10000)
    wait_explained(qtbot, win)
    assert "explainer matching" in win.model_label.text()
    x, target = win.explain.x, win.explain.image.target
    with torch.no_grad():
        maps, _ = load_explainer(matching, tiny_model).explain(x, torch.tensor([target]))
    np.testing.assert_allclose(win.heatmap.overlay_item("l2r").image, normalize_map(maps[0].numpy()), atol=1e-4)
    assert win.curves.legend_labels("deletion")[0].startswith("L2R")
    assert dialog_log.errors == []


def test_demo_vit_from_the_load_dialog_comes_with_its_bundled_explainer(window_factory, qtbot, dialog_log):
    from l2r_core.models.demo import demo_explainer_dir

    win = window_factory()

    def answer(dialog: ModelDialog) -> int:
        dialog.set_source("demo-vit")
        click_ok(dialog)
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=30000)
        return dialog.result()

    dialog_log.run = answer
    win.actions.load_model.trigger()
    qtbot.waitUntil(lambda: win.models.loaded is not None and win.models.loaded.spec == "demo-vit", timeout=30000)
    assert win.models.loaded.explainer is not None
    assert Path(win.models.loaded.explainer_path) == demo_explainer_dir("demo-vit")
    l2r = next(c for c in win.explain.choices if c.name == "l2r")
    assert l2r.enabled, l2r.reason
    combo = win.method_controls.primary
    assert combo.model().item(combo.findData("l2r")).isEnabled()
    assert dialog_log.errors == []
