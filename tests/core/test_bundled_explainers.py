"""The bundled demo explainers: they load for their model, fit the size budget, and the demo-vit
one ranks pixels better than an untrained decoder and than Grad-CAM on the sample images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from l2r_core.attribution import attribute
from l2r_core.explainer import ExplainerConfig, build_explainer, load_explainer
from l2r_core.images import list_images, load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.models.demo import demo_explainer_dir
from l2r_core.models.loading import load_model
from l2r_core.pipeline import prepare
from l2r_resources import resource_path


def test_bundled_weights_stay_within_the_20_mb_budget() -> None:
    folders = ["demo_vit", "demo_vit_explainer", "demo_cnn_explainer"]
    total = sum(p.stat().st_size for f in folders for p in resource_path(f).rglob("*") if p.is_file())
    assert total < 20 * 2**20


@pytest.mark.parametrize("name", ["demo-vit", "demo-cnn"])
def test_bundled_explainer_loads_and_explains_its_model(name: str) -> None:
    model = load_model(name)
    folder = demo_explainer_dir(name)
    assert folder is not None and Path(folder, "explainer.safetensors").is_file()
    explainer = load_explainer(folder, model)
    h, w = model.preprocessing.input_size
    x = torch.randn(1, model.preprocessing.channels, h, w)
    with torch.no_grad():
        maps, _ = explainer.explain(x)
    assert maps.shape == (1, h, w) and torch.isfinite(maps).all() and float(maps.std()) > 0


def _fashion_samples(model) -> torch.Tensor:  # type: ignore[no-untyped-def]
    paths = list_images(resource_path("samples_fashion"))
    return torch.cat([prepare(model, load_image(p)).x for p in paths])


def _gap(model, x: torch.Tensor, maps: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    """Mean insertion AUC minus deletion AUC under 'aha' (higher is better)."""
    r = deletion_insertion(model, x, maps, protocol="aha")
    return float(np.mean(r.insertion_auc - r.deletion_auc))


def test_demo_vit_explainer_beats_an_untrained_decoder_and_gradcam() -> None:
    model = load_model("demo-vit")
    x = _fashion_samples(model)
    targets = model.logits(x).argmax(-1)
    trained = load_explainer(demo_explainer_dir("demo-vit"), model)
    torch.manual_seed(0)
    untrained = build_explainer(model, ExplainerConfig.from_dict(trained.config.to_dict()))
    with torch.no_grad():
        gap_trained = _gap(model, x, trained.explain(x, targets)[0])
        gap_untrained = _gap(model, x, untrained.explain(x, targets)[0])
    gap_gradcam = _gap(model, x, attribute("gradcam", model, x, targets))
    assert gap_trained > gap_untrained + 0.2, (gap_trained, gap_untrained)
    assert gap_trained > gap_gradcam + 0.1, (gap_trained, gap_gradcam)
