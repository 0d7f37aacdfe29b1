"""What kind of network an adapter wraps: needed to pick layers without user code."""
from __future__ import annotations

from ..models.adapter import ModelAdapter


def is_transformer(model: ModelAdapter) -> bool:
    """A timm ViT-style model: has ``blocks`` with ``attn`` modules and a patch embedding."""
    m = model.module
    if m is None:
        return False
    blocks = getattr(m, "blocks", None)
    return hasattr(m, "patch_embed") and blocks is not None and all(hasattr(b, "attn") for b in blocks)
