"""The offline demo CNN: shipped EfficientNet-Lite0 weights remapped onto timm's layout."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from l2r_core.models.demo import DEMO_CNN_PREPROCESSING, lite0_weights_path, load_demo_cnn
from l2r_core.models.loading import load_model
from l2r_core.models.weights import load_state_dict

from .reference_efficientnet_lite import EfficientNetLite0Original


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    return load_demo_cnn()


def test_timm_layout_equals_original_layout_on_random_input(demo) -> None:  # type: ignore[no-untyped-def]
    original = EfficientNetLite0Original().eval()
    original.load_state_dict(load_state_dict(lite0_weights_path()))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = original(x), demo.logits(x)
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (a - b).abs().max()


def test_demo_identity_and_preprocessing(demo) -> None:  # type: ignore[no-untyped-def]
    assert demo.name == "demo-cnn" and demo.num_classes == 1000
    assert demo.class_names[281] == "tabby"
    assert (DEMO_CNN_PREPROCESSING.resize, DEMO_CNN_PREPROCESSING.crop_pct) == ("crop", 0.875) and DEMO_CNN_PREPROCESSING.input_size == (224, 224)
    assert DEMO_CNN_PREPROCESSING.mean == (0.5, 0.5, 0.5)
    assert len(demo.fingerprint) == 16
    assert load_model("demo-cnn").fingerprint == demo.fingerprint


def test_demo_recognises_a_cat(demo) -> None:  # type: ignore[no-untyped-def]
    skdata = pytest.importorskip("skimage.data")
    x = demo.preprocessing(Image.fromarray(skdata.chelsea()))[None]
    top5 = demo.predict(x).topk(5).indices[0].tolist()
    assert set(top5) & {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def test_features_for_the_explainer(demo) -> None:  # type: ignore[no-untyped-def]
    logits, feats = demo.logits_and_features(torch.zeros(1, 3, 224, 224), indices=4)
    assert logits.shape == (1, 1000)
    assert [f.shape[-1] for f in feats] == [56, 28, 14, 7]
    assert np.isfinite(logits.numpy()).all()
