"""Tiny models for tests: timm CNNs/ViTs with random weights, hand-built modules behind an adapter,
and ViT surgery that makes attention or token layout known in advance.

Import from tests with ``from .fixtures_models import ...`` (tests/ and tests/core are packages).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from l2r_core import testing
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.class_names import default_class_names
from l2r_core.models.module_adapter import ModuleAdapter
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.models.timm_adapter import TimmAdapter


def module_model(module: nn.Module, input_size: tuple[int, int], num_classes: int, channels: int = 3) -> ModelAdapter:
    """A hand-built test network as a model (the ``l2r_core.wrap`` adapter, without its probe
    pass, so networks built to fail can be tested): whole image squashed, classes "class i"."""
    pre = Preprocessing(input_size=input_size, resize="squash", grayscale=channels == 1)
    return ModuleAdapter(module, pre, default_class_names(num_classes), "test")


def timm_adapter(arch: str, size: int | tuple[int, int] = 32, num_classes: int = 5, **kwargs: Any) -> TimmAdapter:
    """A timm architecture with random weights at a small input size."""
    return testing.tiny_timm(arch, size=size, num_classes=num_classes, **kwargs)


def tiny_cnn(size: int = 64, num_classes: int = 5) -> TimmAdapter:
    """timm resnet10t (final map 2x2 at 64 px)."""
    return testing.tiny_cnn(size, num_classes)


def tiny_vit(size: int | tuple[int, int] = 32, num_classes: int = 5, **kwargs: Any) -> TimmAdapter:
    """timm ViT with 8-px patches, 2 blocks of width 32 (4x4 grid at 32 px)."""
    return testing.tiny_vit(size, num_classes, **kwargs)


def hand_cnn(num_classes: int = 3) -> nn.Sequential:
    """conv -> relu -> global average pool -> linear: Grad-CAM computable by hand."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_classes))


def smooth_cnn(num_classes: int = 3, gain: float = 3.0) -> nn.Sequential:
    """A small network with smooth activations (IG completeness needs no kinks to be exact);
    ``gain`` scales the weights so outputs vary by whole logits, not hundredths."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Softplus(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                        nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(gain)
    return net


class RegionReader(nn.Module):
    """Class 0's logit is ``gain * (mean of the input inside one box - offset)``; class 1's is 0.
    With an all-ones input and masks keeping half the pixels, class 0's probability spans (0, 1)."""

    def __init__(self, box: tuple[int, int, int, int], gain: float = 10.0, offset: float = 0.5) -> None:
        super().__init__()
        self.box, self.gain, self.offset = box, gain, offset
        self.dummy = nn.Conv2d(3, 3, 1)  # so the module has a conv (and ONNX export has a graph)
        with torch.no_grad():
            self.dummy.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.dummy.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0, y1, x0, x1 = self.box
        v = (self.dummy(x)[:, :, y0:y1, x0:x1].mean(dim=(1, 2, 3)) - self.offset) * self.gain
        return torch.stack([v, torch.zeros_like(v)], dim=1)


class ConstQuery(nn.Module):
    """Stands in for ``attn.q_norm``: every query is all ones (still in the autograd graph, so the
    attention probabilities require grad as they do in a real model)."""

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return q * 0 + 1


class OneHotKey(nn.Module):
    """Stands in for ``attn.k_norm``: only token ``index`` has a (large) key, so all queries attend to it."""

    def __init__(self, index: int, value: float = 10.0) -> None:
        super().__init__()
        self.index, self.value = index, value

    def forward(self, k: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(k)
        out[:, :, self.index] = self.value
        return k * 0 + out


def force_attention(vit: nn.Module, token: int) -> None:
    """Every query of every block attends (almost only) to ``token``; values are constant ones and
    the head reads mean(class token) for class 0 and -mean for class 1, so the gradient of class 0
    with respect to every attention weight of the class-token row is positive."""
    with torch.no_grad():
        for blk in vit.blocks:
            blk.attn.q_norm, blk.attn.k_norm = ConstQuery(), OneHotKey(token)
            d = blk.attn.proj.in_features
            blk.attn.qkv.weight[2 * d:].zero_()
            blk.attn.qkv.bias[2 * d:].fill_(1.0)
            blk.attn.proj.weight.copy_(torch.eye(d))
            blk.attn.proj.bias.zero_()
            blk.mlp.fc2.weight.zero_()
            blk.mlp.fc2.bias.zero_()
        vit.norm, vit.fc_norm = nn.Identity(), nn.Identity()
        dim = vit.head.in_features
        vit.head.weight.zero_()
        vit.head.weight[0] = 1.0 / dim
        vit.head.weight[1] = -1.0 / dim
        vit.head.bias.zero_()


def identity_blocks_vit(vit: nn.Module) -> None:
    """Blocks that pass tokens through unchanged, zero position embeddings and a positive patch
    embedding: the last block's patch tokens are a positive linear function of their own patch only."""
    with torch.no_grad():
        for blk in vit.blocks:
            for lin in (blk.attn.proj, blk.mlp.fc2):
                lin.weight.zero_()
                lin.bias.zero_()
        vit.pos_embed.zero_()
        vit.patch_embed.proj.weight.abs_()
        vit.patch_embed.proj.bias.zero_()
        vit.head.weight.fill_(1.0)
        vit.head.bias.zero_()
