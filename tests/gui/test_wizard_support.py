"""Shared set-up of the wizard tests (no tests here): a 3-class resnet10t saved as .safetensors, a tiny image folder,
a config file that makes one training step cheap, and page-driving helpers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

NEXT = QWizard.WizardButton.NextButton
BACK = QWizard.WizardButton.BackButton
LONG = 180_000  # ms: child processes import torch + timm (seconds each on a loaded box)


@pytest.fixture(scope="session")
def wizard_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    path = tmp_path_factory.mktemp("wizard_model") / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def make_folder(root: Path, n: int = 8, size: int = 36) -> Path:
    """n random PNGs in two class folders (ImageFolder layout)."""
    rng = np.random.default_rng(1)
    for i in range(n):
        folder = root / ("ants" if i % 2 else "bees")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size + 4 * (i % 2), 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def tiny_config(path: Path) -> Path:
    """Settings the wizard does not show, given as its extra config file: a small decoder and a
    small blur kernel so that a step takes a fraction of a second on one CPU thread."""
    path.write_text(json.dumps({
        "explainer": {"stage_channels": 8, "fusion_channels": 8, "head_channels": 4, "embed_dim": 8},
        "loss": {"blur_size": 5, "blur_sigma": 2.0, "peak_window": 3},
        "loader_threads": 1, "val_max_images": 2, "augment": "none",
    }), encoding="utf-8")
    return path


def click(qtbot: Any, button: Any) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def next_enabled(wiz: Any) -> bool:
    return bool(wiz.button(NEXT).isEnabled() and wiz.currentPage().isComplete())


def fill_model(qtbot: Any, wiz: Any, weights: Path) -> Any:
    page = wiz.currentPage()
    page.kind.setCurrentIndex(page.kind.findData("timm"))
    page.arch.setText("resnet10t")
    page.weights.edit.setText(str(weights))
    click(qtbot, page.check_button)
    qtbot.waitUntil(lambda: next_enabled(wiz), timeout=60_000)
    return page


def fill_data(qtbot: Any, wiz: Any, folder: Path, val_percent: float = 25.0) -> Any:
    page = wiz.currentPage()
    page.val_percent.setValue(val_percent)
    page.folder.edit.setText(str(folder))
    qtbot.waitUntil(lambda: next_enabled(wiz) and len(page.thumbs) > 0, timeout=30_000)
    return page


def fill_settings(wiz: Any, out: Path, config: Path, steps: int, val_every: int) -> Any:
    page = wiz.currentPage()
    page.image_size.setValue(32)
    page.length_unit.setCurrentText("steps")
    page.steps.setValue(steps)
    page.batch_size.setValue(2)
    page.lr.setText("0.001")
    page.device.setCurrentText("cpu")
    page.val_every.setValue(val_every)
    page.out.edit.setText(str(out))
    adv = page.advanced
    adv.set_expanded(True)
    adv.editors["loss.grid_max"].setValue(6)  # grids 3..6 and 5 Sinkhorn iterations: quick steps
    adv.editors["loss.grid_min"].setValue(3)
    adv.editors["loss.n_iters"].setValue(5)
    adv.editors["loss.n_percentiles"].setValue(4)
    adv.extra.edit.setText(str(config))
    return page
