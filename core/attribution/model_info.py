"""What kind of network an adapter wraps: needed to pick layers without user code."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..models.adapter import ModelAdapter


def is_transformer(model: ModelAdapter) -> bool:
    """A timm ViT-style model whose attention can be hooked: ``blocks`` with ``attn`` modules and
    a patch embedding. TorchScript ViTs are not (no Python hooks), so attention methods are not offered."""
    m = model.module
    if m is None or is_scripted(model):
        return False
    blocks = getattr(m, "blocks", None)
    return hasattr(m, "patch_embed") and isinstance(blocks, nn.Module) and all(
        hasattr(b, "attn") for b in blocks.children())


def is_scripted(model: ModelAdapter) -> bool:
    """TorchScript modules take no Python hooks, so layer-based methods cannot run on them."""
    return isinstance(model.module, torch.jit.ScriptModule)


def is_cnn(model: ModelAdapter) -> bool:
    """A torch module that is not a ViT and has at least one 2-D convolution."""
    m = model.module
    if m is None or is_transformer(model):
        return False
    return any(isinstance(s, nn.Conv2d) for s in m.modules())


def vit_readout(model: ModelAdapter) -> str:
    """How the head reads the tokens: 'token' (class token) or 'avg' (anything over patch tokens).

    Attention-pooled ('map') and average-pooled heads both depend on every patch token, so they are
    treated alike; only a class-token head reads a single row."""
    m = model.module
    pool = getattr(m, "global_pool", "token")
    has_cls = getattr(m, "cls_token", None) is not None
    return "token" if pool == "token" and has_cls else "avg"


def vit_layout(model: ModelAdapter, input_hw: tuple[int, int] | None = None) -> tuple[int, int, int]:
    """(num_prefix_tokens, grid_h, grid_w) of a timm ViT for an input of ``input_hw`` pixels.

    Prefix tokens (class, distillation, register tokens) come first in timm's token order."""
    m = model.module
    if m is None or not is_transformer(model):
        raise ConfigError(f"{model.name}: not a vision transformer (no patch embedding and attention blocks)")
    pe = m.patch_embed
    prefix = int(getattr(m, "num_prefix_tokens", 1 if getattr(m, "cls_token", None) is not None else 0))
    grid = tuple(getattr(pe, "grid_size", ()) or ())
    img = tuple(getattr(pe, "img_size", ()) or ())
    patch = getattr(pe, "patch_size", None)
    if input_hw is not None and patch is not None and (not grid or tuple(input_hw) != img):
        # dynamic image size: the grid follows the input, as timm's PatchEmbed computes it
        ph, pw = (patch, patch) if isinstance(patch, int) else patch
        if getattr(pe, "dynamic_img_pad", False):
            grid = (-(-input_hw[0] // ph), -(-input_hw[1] // pw))
        else:
            grid = (input_hw[0] // ph, input_hw[1] // pw)
    if len(grid) != 2:
        raise ConfigError(f"{model.name}: cannot tell the patch grid of this transformer")
    return prefix, int(grid[0]), int(grid[1])


def fixed_batch_size(model: ModelAdapter) -> int | None:
    """Images per call an ONNX graph accepts when it was exported without a dynamic batch axis
    (torch.onnx.export's default); None when any batch size works."""
    session = getattr(model, "session", None)
    if session is None:
        return None
    dim = session.get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) and dim > 0 else None
