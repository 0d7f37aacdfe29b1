"""The notebook API on a module the project has never seen: wrap, explain, curves, overlay."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import l2r_core
from l2r_core import ConfigError


class TinyNet(nn.Module):
    """Two conv blocks, global pooling, a linear head: nothing registered anywhere."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("api") / "photo.png"
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
    return path


def test_the_notebook_example(photo: Path) -> None:
    torch.manual_seed(0)
    model = l2r_core.wrap(TinyNet(), input_size=32, mean=0.5, std=0.25, class_names=["a", "b", "c", "d"])
    exp = l2r_core.explain(model, Image.open(photo), method="gradcam")
    curves = exp.curves("aha")
    picture = exp.overlay()

    assert exp.map.shape == (32, 32) and exp.map.dtype == np.float32 and np.isfinite(exp.map).all()
    assert exp.probabilities.shape == (4,) and exp.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert exp.target == int(exp.probabilities.argmax()) and exp.method == "gradcam"
    assert exp.target_name == "abcd"[exp.target]
    assert 0 <= curves.deletion_auc <= 1 and 0 <= curves.insertion_auc <= 1
    assert curves.deletion.shape == curves.insertion.shape == curves.fractions.shape
    assert curves.deletion[0] == pytest.approx(exp.probabilities[exp.target], abs=1e-4)  # unperturbed start
    assert picture.size == (32, 32) and picture.mode == "RGB"
    assert exp.overlay(on="original").size == (60, 40)
    assert exp.curves("aha") is curves  # computed once per protocol


def test_paths_tensors_and_pil_give_the_same_map(photo: Path) -> None:
    torch.manual_seed(1)
    model = l2r_core.wrap(TinyNet(), input_size=32, mean=[0.5, 0.5, 0.5], std=[0.25] * 3, resize="squash")
    by_path = l2r_core.explain(model, photo, method="gradcam", target=2)
    x = model.preprocessing(Image.open(photo).convert("RGB"))
    by_tensor = l2r_core.explain(model, x, method="gradcam", target=2)
    np.testing.assert_allclose(by_path.map, by_tensor.map, atol=1e-6)
    with pytest.raises(ConfigError, match="made from a tensor"):
        by_tensor.overlay(on="original")


def test_layer_names_the_gradcam_layer(photo: Path) -> None:
    torch.manual_seed(2)
    net = TinyNet()
    auto = l2r_core.explain(l2r_core.wrap(net, input_size=32, mean=0.5, std=0.25), photo, "gradcam", target=0)
    first = l2r_core.explain(l2r_core.wrap(net, input_size=32, mean=0.5, std=0.25, layer="features.1"),
                             photo, "gradcam", target=0)
    assert not np.allclose(auto.map, first.map)  # 32x32 first-block map vs 16x16 last-block map


def test_unknown_options_list_the_valid_ones(photo: Path) -> None:
    model = l2r_core.wrap(TinyNet(), input_size=32, mean=0.5, std=0.25)
    with pytest.raises(ConfigError, match="Integrated Gradients has no option 'step'. Its options: steps, baseline"):
        l2r_core.explain(model, photo, method="ig", step=4)
    with pytest.raises(ConfigError, match="unknown option 'crop'. Valid options: input_size, mean, std"):
        l2r_core.wrap(TinyNet(), input_size=32, mean=0.5, std=0.25, crop=0.9)
    with pytest.raises(ConfigError, match="unknown attribution method 'gradcm'"):
        l2r_core.explain(model, photo, method="gradcm")
    with pytest.raises(ConfigError, match="needs a trained explainer"):
        l2r_core.explain(model, photo, method="l2r")


def test_a_module_that_fails_is_refused_with_the_input_it_got() -> None:
    with pytest.raises(l2r_core.ModelLoadError, match="fails on a 3x16x16 input"):
        l2r_core.wrap(nn.Linear(10, 2), input_size=16, mean=0.5, std=0.5)
