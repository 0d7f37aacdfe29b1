"""pytest fixtures over ``l2r_core.testing``, in the style of napari's ``make_napari_viewer``:
``-p l2r_core.testing.plugin`` on the command line or ``pytest_plugins = ["l2r_core.testing.plugin"]``
in a conftest makes them available."""
from __future__ import annotations

from pathlib import Path

import pytest

from . import save_tiny_weights, tiny_cnn, tiny_explainer, tiny_vit, write_images
from ..explainer import Explainer
from ..models.timm_adapter import TimmAdapter


@pytest.fixture(scope="session")
def l2r_tiny_cnn() -> TimmAdapter:
    """A random-weight timm resnet10t, 5 classes, 32x32 inputs."""
    return tiny_cnn()


@pytest.fixture(scope="session")
def l2r_tiny_vit() -> TimmAdapter:
    """A random-weight 2-block ViT, 5 classes, 32x32 inputs, 8-px patches."""
    return tiny_vit()


@pytest.fixture(scope="session")
def l2r_tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """resnet10t weights (.safetensors) with a model card beside them: ``timm:resnet10t``."""
    return save_tiny_weights(tmp_path_factory.mktemp("l2r-weights"))


@pytest.fixture(scope="session")
def l2r_tiny_explainer(l2r_tiny_cnn: TimmAdapter) -> Explainer:
    """A small explainer for ``l2r_tiny_cnn``, trained two steps."""
    return tiny_explainer(l2r_tiny_cnn)


@pytest.fixture
def l2r_images(tmp_path: Path) -> list[Path]:
    """Four random 40x40 PNGs in a fresh folder."""
    return write_images(tmp_path / "l2r-images")
