"""Hooks and attribute changes are undone on exit, also when the body or a method raises."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from l2r_core.attribution import attribute
from l2r_core.attribution.hooks import HookSession, record

from .fixtures_models import module_model, hand_cnn, tiny_vit


def _no_hooks(root: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in root.modules())


def test_session_releases_hooks_and_attrs_on_exception() -> None:
    net = hand_cnn()
    seen: list[torch.Tensor] = []
    with pytest.raises(RuntimeError, match="boom"):
        with HookSession() as hs:
            record(hs, net[1], seen)
            hs.forward_pre(net[0], lambda m, a: None)
            hs.backward(net[0], lambda m, gi, go: None)
            net(torch.zeros(1, 3, 8, 8))
            hs.set_attr(net[1], "inplace", True)
            hs.set_attr(net[1], "brand_new", 3)
            assert net[1].inplace and net[0]._backward_hooks and net[1]._forward_hooks
            raise RuntimeError("boom")
    assert len(seen) == 1 and seen[0].shape == (1, 4, 8, 8)
    assert _no_hooks(net)
    assert net[1].inplace is False and not hasattr(net[1], "brand_new")


class _Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("model failed")


def test_gradcam_releases_hooks_when_model_raises() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), _Boom())
    model = module_model(net, (16, 16), 3)
    with pytest.raises(RuntimeError, match="model failed"):
        attribute("gradcam", model, torch.zeros(1, 3, 16, 16), 0, layer="1")
    assert _no_hooks(net)


@pytest.mark.parametrize("method", ["rollout", "gae"])
def test_attention_methods_restore_fused_attn_on_exception(method: str) -> None:
    model = tiny_vit()
    vit = model.module
    before = [b.attn.fused_attn for b in vit.blocks]

    def boom(x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise RuntimeError("head failed")

    vit.forward_head = boom
    with pytest.raises(RuntimeError, match="head failed"):
        attribute(method, model, torch.zeros(1, 3, 32, 32), 0)
    assert [b.attn.fused_attn for b in vit.blocks] == before
    assert _no_hooks(vit)
    del vit.forward_head
    attribute(method, model, torch.zeros(1, 3, 32, 32), 0)  # and works afterwards
    assert [b.attn.fused_attn for b in vit.blocks] == before and _no_hooks(vit)
