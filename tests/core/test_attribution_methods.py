"""Every registered method runs on a tiny timm CNN and ViT and returns finite (B,H,W) maps."""
from __future__ import annotations

from typing import Any

import pytest
import torch

from l2r_core.attribution import attribute, available_methods, list_methods
from l2r_core.errors import Cancelled
from l2r_core.models.adapter import ModelAdapter
from l2r_core.progress import CancelToken

from .fixtures_models import tiny_cnn, tiny_vit

# Small settings so the sweep stays fast; methods not listed run with their defaults.
FAST: dict[str, dict[str, Any]] = {"ig": {"steps": 4}, "rise": {"n_masks": 24}}
METHODS = [m for m in list_methods() if not m.needs_explainer]


@pytest.fixture(scope="module")
def models() -> dict[str, ModelAdapter]:
    torch.manual_seed(0)  # module fixtures are set up before the per-test seed
    return {"cnn": tiny_cnn(64), "vit": tiny_vit(32)}


@pytest.mark.parametrize("kind", ["cnn", "vit"])
@pytest.mark.parametrize("name", [m.name for m in METHODS])
def test_method_runs_and_is_finite(models: dict[str, ModelAdapter], kind: str, name: str) -> None:
    model = models[kind]
    info = next(m for m in METHODS if m.name == name)
    if info.transformer_only and kind == "cnn":
        assert info not in available_methods(model)
        pytest.skip("transformer-only method on a CNN")
    size = model.preprocessing.input_size
    x = torch.randn(3, 3, *size)
    prog = CancelToken()
    out = attribute(name, model, x, [0, 1, 4], batch_limit=2, progress=prog, **FAST.get(name, {}))
    assert out.shape == (3, *size) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.abs().sum() > 0
    assert prog.total > 0 and prog.done == prog.total  # progress reached the end
    assert not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.module.modules())


@pytest.mark.parametrize("name", [m.name for m in METHODS])
def test_method_is_cancellable(models: dict[str, ModelAdapter], name: str) -> None:
    prog = CancelToken()
    prog.cancel()
    with pytest.raises(Cancelled):
        attribute(name, models["vit"], torch.randn(2, 3, 32, 32), 0, batch_limit=1, progress=prog,
                  **FAST.get(name, {}))


def test_available_methods_hide_what_a_model_cannot_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    from l2r_core.attribution.registry import available_methods
    from l2r_core.models.loading import load_model

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    path = tmp_path / "m.pt"
    torch.jit.script(net).save(str(path))
    names = {m.name for m in available_methods(load_model(str(path)))}
    assert "gradcam" not in names and "rollout" not in names and {"ig", "rise"} <= names
