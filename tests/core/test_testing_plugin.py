"""l2r_core.testing: the tiny models, weights, explainers and images users can test with."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import l2r_core
from l2r_core.explainer import load_explainer
from l2r_core.testing import save_tiny_weights, tiny_explainer


def test_fixtures_give_working_models_and_a_trained_explainer(l2r_tiny_cnn, l2r_tiny_vit, l2r_tiny_explainer,
                                                              l2r_images: list[Path]) -> None:
    assert len(l2r_images) == 4 and all(p.is_file() for p in l2r_images)
    for model in (l2r_tiny_cnn, l2r_tiny_vit):
        exp = l2r_core.explain(model, l2r_images[0], method="gradcam")
        assert exp.map.shape == (32, 32) and np.isfinite(exp.map).all()
    a = l2r_core.explain(l2r_tiny_cnn, l2r_images[0], "l2r", target=0, explainer=l2r_tiny_explainer).map
    b = l2r_core.explain(l2r_tiny_cnn, l2r_images[0], "l2r", target=1, explainer=l2r_tiny_explainer).map
    assert a.std() > 0 and not np.allclose(a, b)  # class-conditioned, not constant


def test_trained_explainer_differs_from_its_start() -> None:
    from l2r_core.testing import tiny_cnn

    model = tiny_cnn()
    start, trained = tiny_explainer(model, steps=0), tiny_explainer(model, steps=2)
    moved = [not torch.equal(p, q) for p, q in zip(start.trainable_parameters(), trained.trainable_parameters())]
    assert any(moved)


def test_weights_with_their_card_load_without_flags(l2r_tiny_weights: Path, tmp_path: Path) -> None:
    model = l2r_core.load_model("timm:resnet10t", weights=l2r_tiny_weights)
    assert model.preprocessing.input_size == (32, 32) and model.preprocessing.resize == "squash"
    folder = tmp_path / "explainer"
    tiny_explainer(model, folder=folder)
    assert load_explainer(folder, model).model is model
    named = save_tiny_weights(tmp_path / "named", num_classes=3, class_names=["a", "b", "c"])
    assert l2r_core.load_model("timm:resnet10t", weights=named).class_names == ["a", "b", "c"]
