"""RISE: reproducible masks, localisation on a model that reads one region, ONNX models."""
from __future__ import annotations

import pytest
import torch

from l2r_core.attribution import attribute
from l2r_core.attribution.model_info import fixed_batch_size
from l2r_core.attribution.rise import RiseMasks
from l2r_core.models.adapter import ModelAdapter

from .fixtures_models import module_model, RegionReader

BOX = (4, 12, 18, 28)  # rows 4..11, cols 18..27 of a 32x32 image


@pytest.fixture
def region_model() -> ModelAdapter:
    return module_model(RegionReader(BOX), (32, 32), 2)


def test_masks_follow_the_paper() -> None:
    m = RiseMasks(50, (32, 32), cell_size=4, p=0.5, seed=3)
    masks = m.chunk(0, 50)
    assert masks.shape == (50, 1, 32, 32)
    assert masks.min() >= 0 and masks.max() <= 1 + 1e-6
    assert 0.35 < float(m.grid.mean()) < 0.65  # cells kept with probability p
    assert int(m.dy.max()) < 8 and int(m.dx.max()) < 8  # shift within one cell (32/4 px)
    assert torch.equal(torch.cat([m.chunk(0, 17), m.chunk(17, 50)]), masks)  # chunking-independent
    assert ((masks > 0) & (masks < 1)).float().mean() > 0.2  # bilinear: smooth, not binary


def test_rise_reproducible_with_seed(region_model: ModelAdapter) -> None:
    x = torch.ones(1, 3, 32, 32)
    a = attribute("rise", region_model, x, 0, n_masks=64, seed=5, batch_limit=16)
    b = attribute("rise", region_model, x, 0, n_masks=64, seed=5, batch_limit=50)
    c = attribute("rise", region_model, x, 0, n_masks=64, seed=6, batch_limit=16)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, c, atol=1e-3)


def test_rise_peaks_in_the_region_the_model_reads(region_model: ModelAdapter) -> None:
    x = torch.ones(2, 3, 32, 32)
    sal = attribute("rise", region_model, x, [0, 1], n_masks=400, cell_size=4, batch_limit=100)
    assert sal.shape == (2, 32, 32) and torch.isfinite(sal).all()
    y0, y1, x0, x1 = BOX
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[y0:y1, x0:x1] = True
    r, c = divmod(int(sal[0].argmax()), 32)
    assert inside[r, c]
    assert float(sal[0][inside].mean()) > float(sal[0][~inside].mean()) + 0.1
    # class 1 loses probability where class 0 gains it: its map is lowest in the region
    assert float(sal[1][inside].mean()) < float(sal[1][~inside].mean()) - 0.1


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("dynamic", [True, False])
def test_rise_on_onnx_model_matches_torch(tmp_path, region_model: ModelAdapter, dynamic: bool) -> None:
    from l2r_core.models import load_model

    path = tmp_path / "region.onnx"
    axes = {"image": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    torch.onnx.export(region_model.module, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False,
                      input_names=["image"], output_names=["logits"], dynamic_axes=axes)
    onnx_model = load_model(str(path))
    assert onnx_model.kind == "onnx" and not onnx_model.supports_grad
    assert fixed_batch_size(onnx_model) == (None if dynamic else 1)
    x = torch.ones(1, 3, 32, 32)
    got = attribute("rise", onnx_model, x, 0, n_masks=48, cell_size=4, batch_limit=16)
    want = attribute("rise", region_model, x, 0, n_masks=48, cell_size=4, batch_limit=16)
    assert torch.allclose(got, want, atol=1e-4)
